"""The FastAPI application: built layers loaded once in the lifespan, never at import.

Privacy: Orienter stores nothing about the people it helps.  The access log is off
(uvicorn's would print every query string), no handler logs query coordinates, place
names or tokens, and an unexpected error is logged by its exception type only.

Errors: every 4xx/5xx answer is JSON ``{"detail": {"code", "message", "parameter",
["allowed"]}}`` in French, or English on ``Accept-Language: en`` (``api/messages.py``,
``docs/api.md``).  Requests are bounded: a body above :data:`MAX_BODY_BYTES` gets 413,
a path and query string above :data:`MAX_URL_CHARS` get 414.
"""

from __future__ import annotations

import http
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.build.layers import Layers, NotBuiltError, answer_nearest, load_layers, token_is_valid
from api.build.pipeline import SERVICE_KEYS
from api.datasets import find_dataset
from api.http.errors import ApiError, error_body, lang_of, validation_error_body
from api.http.pages.overview import install_pages
from api.http.pages.regions import router as planning_router
from api.services.analysis import LEVELS, Analysis, ChoiceError
from api.services.briefings import router as briefs_router
from api.settings import Settings, get_settings
from geo.errors import DataFileError
from geo.providers import PROVIDER_TYPES, SERVICES, public_providers, read_providers
from geo.settlements import Gazetteer, read_settlements

__all__ = ["MAX_BODY_BYTES", "MAX_URL_CHARS", "create_app"]

log = logging.getLogger(__name__)
MALI_BBOX = (-12.3, 10.1, 4.3, 25.0)  # lon_min, lat_min, lon_max, lat_max
#: Largest request body accepted (the API reads none; a page form needs little).
MAX_BODY_BYTES = 16 * 1024
#: Longest path + query string accepted, in bytes.
MAX_URL_CHARS = 2048
COVERAGE_FORMATS = ("json", "csv")
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


async def built_layers(request: Request) -> Layers:
    """The layers loaded at start-up; 503 when nothing is built yet.

    ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in its
    threadpool, and that hand-off cost more than the lookup on every nearest request."""
    found = request.app.state.layers
    if found is None:
        raise ApiError(503, "not_built")
    return found


def is_caseworker(request: Request, authorization: str | None) -> bool:
    """True when the ``Authorization: Bearer`` token is a configured caseworker token."""
    token = authorization[7:] if authorization and authorization.startswith("Bearer ") else None
    return token_is_valid(token, request.app.state.settings.caseworker_token_hashes)


def _choice(parameter: str, value: str | None, allowed: tuple[str, ...] | list[str]) -> None:
    if value is not None and value not in allowed:
        raise ApiError(422, "unknown_value", parameter=parameter, allowed=allowed)


def _phrase(status: int) -> str | None:
    """The standard reason phrase of ``status`` (Starlette's default detail), if any."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return None


def _error_response(request: Request, status: int, body: dict) -> JSONResponse:
    lang = lang_of(request.headers.get("accept-language"))
    return JSONResponse(body, status_code=status, headers={"Content-Language": lang})


# ------------------------------------------------------------------ request guard


class RequestGuard:
    """Pure ASGI middleware around the whole app.

    - security headers on every answer, errors included;
    - 414 for a path + query string above ``max_url``, 413 for a body above ``max_body``
      (checked on ``Content-Length`` and on the bytes actually received);
    - an unexpected exception becomes a JSON 500 that repeats nothing of the request,
      and is logged by its type only.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, max_url: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_url = max_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        lang = lang_of(headers.get("accept-language"))
        started = False

        async def send_secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                out = MutableHeaders(scope=message)
                out["X-Content-Type-Options"] = "nosniff"
                out["Referrer-Policy"] = "no-referrer"
                # an answer may depend on the caseworker token: caches key on it, and
                # nothing answered to a request carrying one is kept anywhere
                out.add_vary_header("Authorization")
                if "authorization" in headers:
                    out["Cache-Control"] = "no-store"
                # A page may set a wider policy of its own (map scripts); JSON keeps this one.
                if "content-security-policy" not in out:
                    out["Content-Security-Policy"] = "default-src 'self'"
            await send(message)

        async def refuse(status: int, code: str, limit: int) -> None:
            response = JSONResponse(
                error_body(code, lang, limit=limit),
                status_code=status,
                headers={"Content-Language": lang, "Connection": "close"},
            )
            await response(scope, receive, send_secured)

        target = len(scope.get("raw_path") or scope["path"].encode()) + len(
            scope.get("query_string", b"")
        )
        if target > self.max_url:
            await refuse(414, "url_too_long", self.max_url)
            return
        length = headers.get("content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > self.max_body):
            await refuse(413, "body_too_large", self.max_body)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client gone
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                await refuse(413, "body_too_large", self.max_body)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await self.app(scope, replay, send_secured)
        except Exception as exc:  # last resort; nothing of the request is kept
            log.error("unexpected %s while answering a request", type(exc).__name__)
            if not started:
                response = JSONResponse(
                    error_body("internal", lang),
                    status_code=500,
                    headers={"Content-Language": lang},
                )
                await response(scope, receive, send_secured)


# ------------------------------------------------------------------ the app


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the layers of ``settings.build_dir`` load when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = settings or get_settings()
        gaz = None
        path = find_dataset(s, "settlements")
        if path is not None:
            gaz = Gazetteer.from_settlements(read_settlements(path))
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
        app.state.directory = read_providers(s.providers) if s.providers.is_file() else None
        if s.warm_up and app.state.analysis is not None:
            threading.Thread(
                target=warm_up, args=(app.state.analysis,), name="orienter-warm-up", daemon=True
            ).start()
        yield

    app = FastAPI(
        title="Orienter",
        version="0.1.0",
        lifespan=lifespan,
        description="Where help is for GBV/SEA survivors in Mali, by travel time. "
        "Errors are JSON `{detail: {code, message, parameter}}`, in French or in "
        "English with `Accept-Language: en`. Nothing about a query is logged.",
        docs_url=None,  # FastAPI's own pages load Swagger UI / ReDoc from a CDN
        redoc_url=None,
    )
    app.add_middleware(RequestGuard, max_body=MAX_BODY_BYTES, max_url=MAX_URL_CHARS)

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """The OpenAPI documentation, from the vendored Swagger UI (works offline)."""
        return HTMLResponse(DOCS_HTML, headers={"Content-Security-Policy": DOCS_CSP})

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        lang = lang_of(request.headers.get("accept-language"))
        body = error_body(
            exc.code, lang, parameter=exc.parameter, allowed=exc.allowed, **exc.values
        )
        return _error_response(request, exc.status, body)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = lang_of(request.headers.get("accept-language"))
        return _error_response(request, 422, validation_error_body(exc.errors(), lang))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        lang = lang_of(request.headers.get("accept-language"))
        detail: Any = exc.detail
        if isinstance(detail, dict) and "code" in detail and "message" in detail:
            body = {"detail": detail}
        elif exc.status_code == 404 and detail in (None, "Not Found"):
            body = error_body("not_found", lang)
        elif exc.status_code == 405:
            body = error_body("method_not_allowed", lang)
        elif isinstance(detail, str) and detail and detail != _phrase(exc.status_code):
            # a page's own, already translated, message
            body = {
                "detail": {"code": f"http_{exc.status_code}", "message": detail, "parameter": None}
            }
        else:
            body = error_body("invalid_request", lang)
        response = _error_response(request, exc.status_code, body)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.get("/api/v1/health")
    def health(request: Request) -> dict:
        """Whether layers are built, which modes, and when."""
        found = request.app.state.layers
        return {
            "status": "ok" if found is not None else "not built",
            "modes": found.modes if found else [],
            "scenarios": found.scenarios if found else [],
            "built_at": found.manifest.get("built_at") if found else None,
        }

    @app.get("/api/v1/nearest")
    # async: the answer is about a millisecond of numpy work; run in the threadpool its GIL
    # hand-offs with the event loop cost more than that (benchmarks/RESULTS.md, API load)
    async def nearest(
        request: Request,
        lay: Annotated[Layers, Depends(built_layers)],
        lat: Annotated[
            float | None, Query(ge=-90, le=90, description="Latitude, decimal degrees.")
        ] = None,
        lon: Annotated[
            float | None, Query(ge=-180, le=180, description="Longitude, decimal degrees.")
        ] = None,
        place: Annotated[
            str | None,
            Query(max_length=100, description="Settlement name or P-code instead of lat/lon."),
        ] = None,
        service: Annotated[
            str | None, Query(description=f"One of {', '.join(SERVICE_KEYS)}; any if absent.")
        ] = None,
        mode: Annotated[str, Query(description="A built travel mode (walk, motorbike, car).")] = (
            "car"
        ),
        scenario: Annotated[
            str, Query(description="A built scenario (baseline, slowed, avoid).")
        ] = "baseline",
        k: Annotated[int, Query(ge=1, le=20, description="How many providers.")] = 5,
        routes: Annotated[bool, Query(description="Each route as a GeoJSON line.")] = False,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict:
        """Providers ranked by travel time from a point or a settlement."""
        _choice("service", service, SERVICE_KEYS)
        _choice("mode", mode, lay.modes)
        _choice("scenario", scenario, lay.scenarios)
        if (mode, scenario) not in lay.graphs:
            built = [f"{m}/{s}" for m, s in lay.graphs]
            raise ApiError(422, "not_built_combination", parameter="scenario", allowed=built)
        place_info = None
        if place is not None:
            gaz = request.app.state.gazetteer
            if gaz is None:
                raise ApiError(503, "gazetteer_missing")
            try:
                place_info = gaz.resolve(place)
            except (ValueError, TypeError) as exc:
                raise ApiError(422, "no_letters", parameter="place") from exc
            if place_info is None:
                raise ApiError(404, "place_not_found", parameter="place")
            lat, lon = place_info["lat"], place_info["lon"]
        if lat is None or lon is None:
            raise ApiError(422, "point_or_place", parameter="lat" if lat is None else "lon")
        lon_min, lat_min, lon_max, lat_max = MALI_BBOX
        if not (lon_min <= lon <= lon_max and lat_min <= lat <= lat_max):
            swapped = lon_min <= lat <= lon_max and lat_min <= lon <= lat_max
            outside = "lat" if not lat_min <= lat <= lat_max else "lon"
            raise ApiError(422, "swapped" if swapped else "out_of_mali", parameter=outside)
        if k > lay.k:
            raise ApiError(422, "k_above_build", parameter="k", limit=lay.k)
        caseworker = is_caseworker(request, authorization)
        try:
            answer = answer_nearest(
                lay,
                lon=lon,
                lat=lat,
                service=service,
                mode=mode,
                scenario=scenario,
                k=k,
                include_confidential=caseworker,
                place=place_info,
                routes=routes,
            )
        except ValueError as exc:
            raise ApiError(422, "invalid_request") from exc
        # already plain JSON data: a JSONResponse skips FastAPI's recursive
        # jsonable_encoder, which cost about as much CPU as the answer itself (0.4 ms)
        return JSONResponse(answer)

    @app.get("/api/v1/providers")
    def providers(
        request: Request,
        service: Annotated[str | None, Query(description=f"One of {', '.join(SERVICES)}.")] = None,
        provider_type: Annotated[
            str | None, Query(alias="type", description=f"One of {', '.join(PROVIDER_TYPES)}.")
        ] = None,
        adm1: Annotated[str | None, Query(max_length=8, description="Région P-code.")] = None,
        adm2: Annotated[str | None, Query(max_length=8, description="Cercle P-code.")] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response:
        """The provider directory as GeoJSON; confidential providers only for caseworkers."""
        directory = request.app.state.directory
        if directory is None:
            raise ApiError(503, "directory_missing")
        _choice("service", service, SERVICES)
        _choice("type", provider_type, PROVIDER_TYPES)
        rows = directory if is_caseworker(request, authorization) else public_providers(directory)
        if service is not None:
            rows = rows[[service in (s if s is not None else []) for s in rows["services"]]]
        if provider_type is not None:
            rows = rows[rows["type"] == provider_type]
        for column, value in (("adm1_pcode", adm1), ("adm2_pcode", adm2)):
            if value is not None:
                rows = rows[rows[column].astype("string").str.upper() == value.upper()]
        body = gpd.GeoDataFrame(rows, geometry="geometry", crs=directory.crs).to_json(
            drop_id=True, ensure_ascii=False, na="null"
        )
        return Response(body, media_type="application/geo+json")

    @app.get("/api/v1/coverage")
    def coverage(
        request: Request,
        level: Annotated[str, Query(description="adm1 (région), adm2 (cercle), adm3.")] = "adm1",
        service: Annotated[
            str, Query(description=f"One of {', '.join(SERVICE_KEYS)}.")
        ] = "one_stop_centre",
        mode: Annotated[str, Query(description="A built travel mode.")] = "car",
        scenario: Annotated[str, Query(description="A built scenario.")] = "baseline",
        fmt: Annotated[str, Query(alias="format", description="json or csv.")] = "json",
        hxl: Annotated[bool, Query(description="CSV: add the HXL hashtag row.")] = False,
    ) -> Response:
        """People within 30 min, 1 h, 2 h and 5 h of a service, per administrative unit.

        Public providers only: no figure depends on a confidential record.  The nearest
        provider of a unit is the public one nearest to most of its people.
        """
        analysis: Analysis | None = request.app.state.analysis
        if analysis is None:
            raise ApiError(503, "not_built")
        _choice("format", fmt, COVERAGE_FORMATS)
        _choice("level", level, LEVELS)
        try:
            result = analysis.coverage(level=level, service=service, mode=mode, scenario=scenario)
        except ChoiceError as exc:
            raise ApiError(
                422, "unknown_value", parameter=exc.parameter, allowed=exc.allowed
            ) from exc
        except (DataFileError, OSError) as exc:
            log.warning("coverage unavailable: %s", type(exc).__name__)
            raise ApiError(503, "coverage_unavailable") from exc
        source = Path(result.meta["population_source"]).name
        if fmt == "csv":
            with_source = replace(result, table=result.table.assign(population_source=source))
            frame = with_source.hxl() if hxl else with_source.table
            name = re.sub(r"[^a-z0-9_]+", "_", f"coverage_{level}_{service}_{mode}_{scenario}")
            return Response(
                frame.to_csv(index=False),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
            )
        meta = _coverage_meta(result.meta, analysis.manifest, source)
        body = json.dumps({"meta": meta, "units": result.records()}, ensure_ascii=False)
        return Response(body, media_type="application/json")

    @app.get("/api/v1/places")
    def places(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=100, description="Name typed so far.")],
        limit: Annotated[int, Query(ge=1, le=20)] = 8,
    ) -> dict:
        """Gazetteer autocomplete: settlements matching ``q``, larger places first."""
        gaz = request.app.state.gazetteer
        if gaz is None:
            raise ApiError(503, "gazetteer_missing")
        try:
            found = gaz.search(q, limit=limit)
        except (ValueError, TypeError) as exc:
            raise ApiError(422, "no_letters", parameter="q") from exc
        return {"query": q, "results": found.to_dict("records")}

    @app.get("/api/v1/conflict/zones")
    def conflict_zones(request: Request) -> Response:
        """Conflict-zone polygons (aggregates: class, events, fatalities, area) as GeoJSON."""
        path = request.app.state.settings.build_dir / "conflict" / "zones.parquet"
        if not path.is_file():
            raise ApiError(404, "no_conflict_zones")
        body = gpd.read_parquet(path).to_json(drop_id=True, ensure_ascii=False)
        return Response(body, media_type="application/geo+json")

    install_pages(app)
    app.include_router(briefs_router)
    app.include_router(planning_router)
    return app


def _coverage_meta(meta: dict, manifest: dict, source: str) -> dict:
    """What the API says the figures rest on (file names, not server paths)."""
    inputs = manifest.get("inputs", {})
    hidden = ("population_source", "conflict_source", "providers")  # "providers" counts
    out = {k: v for k, v in meta.items() if k not in hidden}  # confidential ones too
    out["population_source"] = source
    out["population_sha256"] = (inputs.get("population") or {}).get("sha256")
    out["confidential_counted"] = False
    people = (
        "people of the population raster shared among its settlements"
        if meta.get("demand") == "settlements"
        else "people of the population raster spread over the travel-time grid"
    )
    if meta.get("calibrated"):
        people += f", calibrated to {meta.get('population_table')}"
    out["figures"] = (
        f"{people}; minutes from the built travel-time surfaces (nearest provider of the "
        "service, public providers only); nearest_provider_* names the public "
        "provider nearest to most of the unit's people"
    )
    return out
