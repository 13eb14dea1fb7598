"""Every figure and answer, computed once, for the command line, the API, the pages and the
notebooks: coverage (:mod:`~api.services.analysis`), planning
(:mod:`~api.services.planning`), briefings (:mod:`~api.services.briefings`)."""
