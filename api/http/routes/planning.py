"""``GET /api/v1/whatif`` and ``GET /api/v1/site``: planning new centres.

The computation is :mod:`api.services.planning` (the one behind ``orienter site``);
these routes check the parameters, who asks, and run it as heavy work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.build.layers import Layers
from api.choices import THRESHOLDS_MIN, Level, Scenario, Service
from api.errors import RequestError
from api.http.deps import audience, built_layers, heavy_work, planner
from api.http.schemas import SiteAnswer, WhatIfAnswer, error_responses
from api.services import planning
from api.services.audience import Audience

__all__ = ["MAX_SITES", "router"]

router = APIRouter(tags=["planning"], responses=error_responses(403, 422, 503))

#: Most new centres one siting request may ask for.
MAX_SITES = 10
_THRESHOLD = Query(
    ge=1, le=1440, description=f"Minutes: one of {', '.join(map(str, THRESHOLDS_MIN))}."
)


def _check(lay: Layers, who: Audience, service: Service, mode: str, scenario: Scenario) -> None:
    """The service may be planned by ``who``; mode and scenario are built."""
    planning.check_audience(service.value, who)
    if mode not in lay.modes:
        raise RequestError(422, "unknown_value", parameter="mode", allowed=lay.modes)
    if scenario.value not in lay.scenarios:
        raise RequestError(422, "unknown_value", parameter="scenario", allowed=lay.scenarios)


def _threshold(value: float) -> float:
    if float(value) not in {float(t) for t in THRESHOLDS_MIN}:
        raise RequestError(422, "unknown_value", parameter="threshold_min", allowed=THRESHOLDS_MIN)
    return float(value)


@router.get("/api/v1/whatif", response_model=WhatIfAnswer)
def what_if(
    request: Request,
    lay: Annotated[Layers, Depends(built_layers)],
    who: Annotated[Audience, Depends(audience)],
    service: Annotated[Service, Query(description="The service.")] = Service.one_stop_centre,
    mode: Annotated[str, Query(description="A built travel mode.")] = "car",
    scenario: Annotated[Scenario, Query(description="A built scenario.")] = Scenario.baseline,
    threshold_min: Annotated[float, _THRESHOLD] = 120,
    level: Annotated[Level, Query(description="Units listed (those that change).")] = Level.adm2,
    add: Annotated[str | None, Query(max_length=60, description="lon,lat")] = None,
    remove: Annotated[str | None, Query(max_length=100, description="provider id")] = None,
    lang: Annotated[str | None, Query(max_length=5, description="fr or en (errors).")] = None,
) -> JSONResponse:
    """People within the threshold before and after one added centre or one removed provider.

    Give ``add=lon,lat`` (degrees, longitude first, inside Mali) or ``remove=<id>`` (a
    public provider offering ``service``).  Per unit of ``level``, only the units whose
    figure changes; national totals in ``meta``.
    """
    _check(lay, who, service, mode, scenario)
    threshold = _threshold(threshold_min)
    if (add is None) == (remove is None):
        raise RequestError(422, "add_or_remove", parameter="add")
    plan = planner(request)
    with heavy_work(request):
        point = None if add is None else planning.parse_point(add, plan)
        answer = planning.what_if(
            plan,
            lay,
            service=service.value,
            mode=mode,
            scenario=scenario.value,
            threshold_min=threshold,
            level=level.value,
            add=point,
            remove=remove,
            caseworker=who is Audience.caseworker,
        )
    return JSONResponse(answer)


@router.get("/api/v1/site", response_model=SiteAnswer)
def site(
    request: Request,
    lay: Annotated[Layers, Depends(built_layers)],
    who: Annotated[Audience, Depends(audience)],
    service: Annotated[Service, Query(description="The service.")] = Service.one_stop_centre,
    n: Annotated[int, Query(ge=1, le=MAX_SITES, description="How many new centres.")] = 3,
    threshold_min: Annotated[float, _THRESHOLD] = 120,
    mode: Annotated[str, Query(description="A built travel mode.")] = "car",
    scenario: Annotated[Scenario, Query(description="A built scenario.")] = Scenario.baseline,
    lang: Annotated[str | None, Query(max_length=5, description="fr or en (errors).")] = None,
) -> JSONResponse:
    """N new centres chosen greedily among the CSRéf and hospitals (most people first).

    Each step adds the candidate whose covered, not yet covered people are most, given
    the existing providers and the sites chosen before; ``gain_population`` is that gain.
    """
    _check(lay, who, service, mode, scenario)
    threshold = _threshold(threshold_min)
    plan = planner(request)
    with heavy_work(request):
        answer = planning.site(
            plan,
            lay,
            service=service.value,
            mode=mode,
            scenario=scenario.value,
            threshold_min=threshold,
            n=n,
            caseworker=who is Audience.caseworker,
        )
    return JSONResponse(answer)
