"""``GET /api/v1/route``: the route from a point or settlement to a point, settlement or
the provider a survivor chooses (not only the nearest ones).

The computation is :mod:`api.services.routing`, the one behind ``orienter route``: one
Dijkstra from the origin on the built graph, so it runs as heavy work.  A confidential
provider is a destination for caseworkers only; for anyone else its id gets the same
refusal as an id that does not exist.  Nothing about the query is logged or stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.build.layers import Layers
from api.choices import Scenario
from api.errors import RequestError
from api.http.deps import audience, built_layers, heavy_work
from api.http.errors import error_lang
from api.http.schemas import RouteAnswer, error_responses
from api.services.audience import Audience
from api.services.routing import RouteError, answer_route, parse_endpoint

__all__ = ["router"]

router = APIRouter(tags=["nearest"], responses=error_responses(404, 422, 503))

_NOT_FOUND = {"place_not_found", "route_to_not_found"}


@router.get("/api/v1/route", response_model=RouteAnswer)
def route(
    request: Request,
    lay: Annotated[Layers, Depends(built_layers)],
    who: Annotated[Audience, Depends(audience)],
    origin: Annotated[
        str,
        Query(
            alias="from",
            min_length=1,
            max_length=100,
            description="LON,LAT (degrees, longitude first) or a settlement name or P-code.",
        ),
    ],
    destination: Annotated[
        str,
        Query(
            alias="to",
            min_length=1,
            max_length=100,
            description="LON,LAT, a settlement, or a provider id (GET /api/v1/providers).",
        ),
    ],
    mode: Annotated[str, Query(description="A built travel mode.")] = "car",
    scenario: Annotated[Scenario, Query(description="A built scenario.")] = Scenario.baseline,
) -> JSONResponse:
    """Travel time, distance, off-road legs, conflict km and the line between two ends."""
    if mode not in lay.modes:
        raise RequestError(422, "unknown_value", parameter="mode", allowed=lay.modes)
    if scenario.value not in lay.scenarios:
        raise RequestError(422, "unknown_value", parameter="scenario", allowed=lay.scenarios)
    caseworker = who is Audience.caseworker
    gazetteer = request.app.state.gazetteer
    with heavy_work(request):
        try:
            start = parse_endpoint(
                origin,
                "from",
                layers=lay,
                gazetteer=gazetteer,
                include_confidential=caseworker,
                providers_allowed=False,
            )
            end = parse_endpoint(
                destination,
                "to",
                layers=lay,
                gazetteer=gazetteer,
                include_confidential=caseworker,
                providers_allowed=True,
            )
            answer = answer_route(
                lay, start, end, mode=mode, scenario=scenario.value, lang=error_lang(request)
            )
        except RouteError as exc:
            status = (
                404 if exc.code in _NOT_FOUND else 503 if exc.code == "gazetteer_missing" else 422
            )
            raise RequestError(status, exc.code, parameter=exc.parameter, **exc.values) from None
    return JSONResponse(answer)
