"""The FastAPI app (:func:`api.http.app.create_app`): the JSON API (:mod:`api.http.routes`)
and the HTML pages (:mod:`api.http.pages`)."""
