"""Every figure and answer, computed once, for the command line, the API, the pages and the
notebooks: coverage (:mod:`~api.services.analysis`), planning
(:mod:`~api.services.planning`), briefings (:mod:`~api.services.briefings`).

This package is also Orienter's Python API for notebooks and scripts
(:mod:`~api.services.python_api`, docs/python-api.md): open a build, then ask it for
coverage, the nearest providers, what-ifs, new sites and conflict zones::

    from api.services import coverage, open_build

    build = open_build("build", data_dir="../shared/data")
    coverage(build, level="adm2").table

The names below are the stable public API; the modules of this package are not.
"""

from api.services.python_api import (
    Build,
    ConflictZones,
    CoverageResult,
    NotBuiltError,
    TravelTimeSurface,
    build_layers,
    conflict_zones,
    coverage,
    national,
    nearest,
    open_build,
    site,
    travel_time_surface,
    underserved,
    what_if,
)
from geo import __version__

__all__ = [
    "Build",
    "ConflictZones",
    "CoverageResult",
    "NotBuiltError",
    "TravelTimeSurface",
    "__version__",
    "build_layers",
    "conflict_zones",
    "coverage",
    "national",
    "nearest",
    "open_build",
    "site",
    "travel_time_surface",
    "underserved",
    "what_if",
]
