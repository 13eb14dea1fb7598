"""``GET /api/v1/nearest``: providers ranked by travel time from a point or a settlement.

The busiest address of the API.  A plain query (each parameter once, in the plain form
the pages, the CLI and scripts send) is read directly and answered by :class:`PlainNearest`,
a middleware inside the request guard, without the router; anything else (a token, an
unusual spelling, a value out of range, an unknown or repeated parameter) and every error
go through the route and FastAPI's own validation, so every error, and every answer, is
the one FastAPI gives.  ``tests/api/test_nearest_direct.py`` checks both paths answer
alike.  The answer is encoded with orjson.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from api.build.layers import Layers, answer_nearest
from api.choices import Scenario, Service
from api.errors import RequestError
from api.http.deps import audience, built_layers
from api.http.params import allowed_parameters
from api.http.schemas import NearestAnswer, error_responses
from api.services.audience import Audience
from api.services.hotlines import complete_answer
from api.services.places import resolve_place
from geo.crs import MALI_BBOX

__all__ = ["AnswerResponse", "PlainNearest", "check_plain_parameters", "plain_query", "router"]

PATH = "/api/v1/nearest"


class AnswerResponse(JSONResponse):
    """JSON encoded by orjson: the same document as :class:`JSONResponse` (compact, UTF-8)
    in a tenth of the time.  Plain JSON data only (no NaN: the answers carry None)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


_NUMBER = re.compile(r"-?\d{1,3}(\.\d{1,17})?")
_WORD = re.compile(r"[a-z_]{1,32}")
_BOOLS = {"true": True, "false": False, "1": True, "0": False}
_SERVICES = {s.value: s for s in Service}
_SCENARIOS = {s.value: s for s in Scenario}


def _degrees(low: float, high: float) -> Callable[[str], float | None]:
    def parse(text: str) -> float | None:
        value = float(text) if _NUMBER.fullmatch(text) else None
        return value if value is not None and low <= value <= high else None

    return parse


_COUNT = re.compile(r"[1-9]\d?")


def _k(text: str) -> int | None:
    return int(text) if _COUNT.fullmatch(text) and int(text) <= 20 else None


#: How the direct path reads each parameter of the route (None: leave it to FastAPI).
_PLAIN: dict[str, Callable[[str], Any]] = {
    "lat": _degrees(-90.0, 90.0),
    "lon": _degrees(-180.0, 180.0),
    "place": lambda text: text if 1 <= len(text) <= 100 else None,
    "service": _SERVICES.get,
    "mode": lambda text: text if _WORD.fullmatch(text) else None,
    "scenario": _SCENARIOS.get,
    "k": _k,
    "routes": _BOOLS.get,
    "lang": lambda text: text,  # read by the error messages, not by the endpoint
}


def plain_query(request: Request) -> dict[str, Any] | None:
    """The endpoint's arguments from a plain query, or None when FastAPI must read it:
    a token (the audience), a parameter given twice or unknown, or a value outside the
    plain forms (then FastAPI accepts it the same way, or gives its error)."""
    if "authorization" in request.headers:
        return None
    found: dict[str, Any] = {}
    for name, text in parse_qsl(request.scope["query_string"].decode("latin-1"), True):
        parse = _PLAIN.get(name)
        value = None if parse is None or name in found else parse(text)
        if value is None:
            return None
        found[name] = value
    found.pop("lang", None)
    return found


class PlainNearest:
    """Pure ASGI middleware, inside the request guard (:mod:`api.http.guard`): a plain
    ``GET /api/v1/nearest`` query (:func:`plain_query`) is answered by :func:`nearest`
    directly, without the router, its dependencies and FastAPI's validation: they cost
    a fifth of the request.  Anything else, and every error the endpoint raises, goes
    on to the app (the route below), so every error is the one FastAPI gives."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET":
            request = Request(scope, receive)
            given = plain_query(request)
            lay = request.app.state.layers
            if given is not None and lay is not None:
                try:
                    response = await nearest(request, lay, Audience.public, **given)
                except RequestError:
                    pass  # the app answers it again, with FastAPI's own error
                else:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def check_plain_parameters() -> None:
    """RuntimeError unless :func:`plain_query` reads every parameter of the route."""
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == PATH)
    if set(_PLAIN) != set(allowed_parameters(route)):
        raise RuntimeError("the plain path must read every parameter of /api/v1/nearest")


router = APIRouter(tags=["nearest"], responses=error_responses(404, 422, 503))


def _resolve_place(request: Request, place: str) -> tuple[dict, list[dict]]:
    gaz = request.app.state.gazetteer
    if gaz is None:
        raise RequestError(503, "gazetteer_missing")
    try:
        found, others = resolve_place(gaz, place)
    except (ValueError, TypeError) as exc:
        raise RequestError(422, "no_letters", parameter="place") from exc
    if found is None:
        raise RequestError(404, "place_not_found", parameter="place")
    return dict(found), others


def _check_in_mali(lon: float, lat: float) -> None:
    lon_min, lat_min, lon_max, lat_max = MALI_BBOX
    if not (lon_min <= lon <= lon_max and lat_min <= lat <= lat_max):
        swapped = lon_min <= lat <= lon_max and lat_min <= lon <= lat_max
        outside = "lat" if not lat_min <= lat <= lat_max else "lon"
        raise RequestError(422, "swapped" if swapped else "out_of_mali", parameter=outside)


@router.get(PATH, response_model=NearestAnswer)
# async: the answer is about a millisecond of numpy work; run in the threadpool its GIL
# hand-offs with the event loop cost more than that (benchmarks/RESULTS.md, API load)
async def nearest(
    request: Request,
    lay: Annotated[Layers, Depends(built_layers)],
    who: Annotated[Audience, Depends(audience)],
    lat: Annotated[
        float | None, Query(ge=-90, le=90, description="Latitude, decimal degrees.")
    ] = None,
    lon: Annotated[
        float | None, Query(ge=-180, le=180, description="Longitude, decimal degrees.")
    ] = None,
    place: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Settlement name or P-code instead of lat/lon; a name's answer says "
            "which place it was taken for (query.place) and the others it could mean "
            "(query.place_alternatives).",
        ),
    ] = None,
    service: Annotated[Service | None, Query(description="The service; any if absent.")] = None,
    mode: Annotated[str, Query(description="A built travel mode.")] = "car",
    scenario: Annotated[Scenario, Query(description="A built scenario.")] = Scenario.baseline,
    k: Annotated[int, Query(ge=1, le=20, description="How many providers.")] = 5,
    routes: Annotated[bool, Query(description="Each route as a GeoJSON line.")] = False,
) -> Response:
    """Providers ranked by travel time from a point or a settlement."""
    if mode not in lay.modes:
        raise RequestError(422, "unknown_value", parameter="mode", allowed=lay.modes)
    if scenario.value not in lay.scenarios:
        raise RequestError(422, "unknown_value", parameter="scenario", allowed=lay.scenarios)
    if (mode, scenario.value) not in lay.graphs:
        built = [f"{m}/{s}" for m, s in lay.graphs]
        raise RequestError(422, "not_built_combination", parameter="scenario", allowed=built)
    place_info: dict | None = None
    others: list[dict] = []
    if place is not None:
        place_info, others = _resolve_place(request, place)
        lat, lon = place_info["lat"], place_info["lon"]
    if lat is None or lon is None:
        raise RequestError(422, "point_or_place", parameter="lat" if lat is None else "lon")
    _check_in_mali(lon, lat)
    if k > lay.k:
        raise RequestError(422, "k_above_build", parameter="k", limit=lay.k)
    try:
        answer = answer_nearest(
            lay,
            lon=lon,
            lat=lat,
            service=None if service is None else service.value,
            mode=mode,
            scenario=scenario.value,
            k=k,
            include_confidential=who is Audience.caseworker,
            place=place_info,
            routes=routes,
        )
    except ValueError as exc:
        raise RequestError(422, "invalid_request") from exc
    # which place a name was taken for and what else it names; the national lines, dated
    complete_answer(
        answer, request.app.state.settings.providers, others if place_info is not None else None
    )
    # already plain JSON data: a response skips FastAPI's recursive jsonable_encoder,
    # which cost about as much CPU as the answer itself (0.4 ms)
    return AnswerResponse(answer)
