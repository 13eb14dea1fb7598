"""The FastAPI application: built layers loaded once in the lifespan, never at import.

Privacy: Orienter stores nothing about the people it helps.  The access log is off
(uvicorn's would print every query string), no handler logs query coordinates, place
names or tokens, and an unexpected error is logged by its exception type only.

Errors: every 4xx/5xx answer is JSON ``{"detail": {"code", "message", "parameter",
["allowed"]}}`` in French, or English on ``Accept-Language: en`` (:mod:`api.http.errors`,
``docs/api.md``).  Requests are bounded (:mod:`api.http.guard`): a body above
:data:`MAX_BODY_BYTES` gets 413, a path and query string above :data:`MAX_URL_CHARS` 414.

The app is assembled here from its parts: the routers of the JSON API
(:mod:`api.http.routes`), the pages (:mod:`api.http.pages`), the error handlers, the
request guard and the OpenAPI document (:mod:`api.http.openapi`).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.telemetry import TelemetryConfig

from api.build.layers import Layers, answer_nearest, load_layers
from api.build.manifest import NotBuiltError
from api.choices import LEVELS
from api.http.budget import WorkBudget
from api.http.errors import error_lang, error_response, install_error_handlers
from api.http.guard import RequestGuard
from api.http.openapi import install_openapi
from api.http.pages import install_pages
from api.http.pages.render import parameter_error_page
from api.http.params import install_parameter_check, refuse_unknown_parameters
from api.http.routes import ROUTERS
from api.http.routes.nearest import PlainNearest, check_plain_parameters
from api.services.analysis import Analysis
from api.services.places import find_gazetteer
from api.settings import Settings, get_settings
from geo.providers import read_providers

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_URL_CHARS",
    "create_app",
    "preload_app",
    "warm_nearest",
    "warm_up",
]

log = logging.getLogger(__name__)
#: Largest request body accepted (the API reads none; a page form needs little).
MAX_BODY_BYTES = 16 * 1024
#: Longest path + query string accepted, in bytes.
MAX_URL_CHARS = 2048
DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Orienter API</title>
<link rel="stylesheet" href="/static/vendor/swagger-ui-dist/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui-dist/swagger-ui-bundle.js"></script>
<script src="/static/js/swagger-init.js"></script>
</body></html>
"""
#: Swagger UI sets inline styles and draws SVG icons as data: images; scripts stay 'self'.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
)


def warm_up(analysis: Analysis) -> None:
    """Compute the tables the pages open with (car or the first built mode, baseline): the
    national figures and every service at the three levels.  Runs in a background thread;
    requests that need a table before it is ready compute it themselves (the analysis
    serialises the work, so nothing is computed twice)."""
    started = time.perf_counter()
    try:
        modes = analysis.choices["mode"]
        mode = "car" if "car" in modes else modes[0]
        analysis.national(service="one_stop_centre", mode=mode, scenario="baseline")
        for service in analysis.choices["service"]:
            for level in LEVELS:
                analysis.coverage(level=level, service=service, mode=mode, scenario="baseline")
    except Exception as exc:  # a missing raster: the pages say so when asked
        log.warning("warm-up stopped: %s", type(exc).__name__)
        return
    log.info("warm-up done in %.1f s", time.perf_counter() - started)


def warm_nearest(layers: Layers | None) -> None:
    """Answer one nearest query per built layer (Bamako, with its route), so the compiled
    loops are loaded before the first visitor, and before the workers fork."""
    if layers is None:
        return
    for mode, scenario in layers.graphs:
        try:
            answer_nearest(
                layers,
                lon=-8.0,
                lat=12.65,
                service=None,
                mode=mode,
                scenario=scenario,
                k=1,
                routes=True,
            )
        except Exception as exc:  # a layer that cannot answer says so when asked
            log.warning("nearest warm-up stopped: %s", type(exc).__name__)
            return


def _load_state(app: FastAPI, s: Settings) -> None:
    """Everything the routes share, loaded once (:mod:`api.http.deps` hands it out)."""
    gaz = find_gazetteer(s)
    try:
        app.state.layers = load_layers(s, gazetteer=gaz)
    except NotBuiltError as exc:
        log.warning("%s", exc)
        app.state.layers = None
    try:  # cheap: tables are computed on first use, then kept
        app.state.analysis = Analysis.load(s)
    except NotBuiltError:
        app.state.analysis = None
    app.state.gazetteer = gaz
    app.state.settings = s
    app.state.warm_up = "off"
    app.state.heavy = WorkBudget("heavy", workers=s.heavy_workers, queue=s.heavy_queue)
    app.state.directory = read_providers(s.providers) if s.providers.is_file() else None


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the layers of ``settings.build_dir`` load when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "preloaded", False):  # loaded before the fork (preload_app)
            yield
            return
        s = settings or get_settings()
        _load_state(app, s)
        if s.warm_up:
            layers, analysis = app.state.layers, app.state.analysis

            app.state.warm_up = "running"

            def warm() -> None:
                warm_nearest(layers)
                if analysis is not None:
                    warm_up(analysis)
                app.state.warm_up = "done"

            threading.Thread(target=warm, name="orienter-warm-up", daemon=True).start()
        yield
        # the layers were frozen out of the cyclic collector for the server's lifetime
        # (api.build.layers.load_layers); a process that goes on (tests) gets them back
        for name in ("layers", "analysis", "planner", "gazetteer", "directory", "facilities"):
            setattr(app.state, name, None)
        gc.unfreeze()

    app = FastAPI(
        title="Orienter",
        version="0.1.0",
        lifespan=lifespan,
        description="Where help is for GBV/SEA survivors in Mali, by travel time. "
        "Errors are JSON `{detail: {code, message, parameter}}`, in French or in "
        "English with `Accept-Language: en`. Nothing about a query is logged.",
        docs_url=None,  # FastAPI's own pages load Swagger UI / ReDoc from a CDN
        redoc_url=None,
        # every route refuses a query parameter it does not read (api.http.params)
        dependencies=[Depends(refuse_unknown_parameters)],
        # FastAPI's own OpenTelemetry spans, metrics and logs would carry the request's
        # address, a nearest query's point or place among it, to whatever exporter the
        # environment configures (FASTAPI_OTEL_AUTO_CONFIGURE): never on
        telemetry=NO_TELEMETRY,
    )
    # the plain nearest queries are answered inside the guard, before the router
    app.add_middleware(PlainNearest)
    app.add_middleware(RequestGuard, max_body=MAX_BODY_BYTES, max_url=MAX_URL_CHARS)
    install_error_handlers(app)
    install_parameter_check(
        app, parameter_error_page, lambda request, error: error_response(error, error_lang(request))
    )

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """The OpenAPI documentation, from the vendored Swagger UI (works offline)."""
        return HTMLResponse(DOCS_HTML, headers={"Content-Security-Policy": DOCS_CSP})

    for router in ROUTERS:
        app.include_router(router)
    check_plain_parameters()
    install_pages(app)
    install_openapi(app, settings)
    return app


#: FastAPI's native telemetry, off in every part (see :func:`create_app`).
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


def worker_ended(app: FastAPI, pid: int) -> None:
    """A forked worker of ``app`` ended (:func:`api.http.prefork.serve_forked`): give back
    the heavy-work places it held, which the workers share (:mod:`api.http.budget`)."""
    budget = getattr(app.state, "heavy", None)
    if budget is not None and (freed := budget.recover(pid)):
        log.warning("a worker ended during heavy work; %d place(s) of the budget given back", freed)


def preload_app(settings: Settings | None = None) -> FastAPI:
    """The app with its state loaded now, and the warm-up tables computed now (not in a
    thread), for workers forked from this process (:mod:`api.http.prefork`)."""
    s = settings or get_settings()
    app = create_app(s)
    _load_state(app, s)
    if s.warm_up:
        warm_nearest(app.state.layers)
        if app.state.analysis is not None:
            warm_up(app.state.analysis)
        app.state.warm_up = "done"
    app.state.preloaded = True
    return app
