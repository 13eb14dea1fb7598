"""``GET /api/v1/whatif`` and ``GET /api/v1/site``: planning new centres; ``GET
/api/v1/facilities``: the health facilities a what-if may add a centre at, by name.

The computation is :mod:`api.services.planning` (the one behind ``orienter site``);
these routes check the parameters, who asks, and run it as heavy work.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.build.layers import Layers
from api.choices import THRESHOLDS_MIN, Level, Scenario, Service
from api.errors import RequestError
from api.http.deps import audience, built_layers, facilities, heavy_work, planner
from api.http.schemas import FacilitiesAnswer, SiteAnswer, WhatIfAnswer, error_responses
from api.services import picks, planning
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
    add_at: Annotated[
        str | None,
        Query(max_length=100, description="A centre at this public provider's site (its id)."),
    ] = None,
    add_facility: Annotated[
        str | None,
        Query(max_length=100, description="A centre at this health facility (WHO/KEMRI id)."),
    ] = None,
    remove: Annotated[str | None, Query(max_length=100, description="provider id")] = None,
    lang: Annotated[str | None, Query(max_length=5, description="fr or en (errors).")] = None,
) -> JSONResponse:
    """People within the threshold before and after one added centre or one removed provider.

    Give exactly one of ``add=lon,lat`` (degrees, longitude first, inside Mali),
    ``add_at=<id>`` (a centre at the site of a public provider of the directory: where it
    is located approximately, at its town's point, ``meta.picked`` says so),
    ``add_facility=<id>`` (a centre at a health facility of the WHO/KEMRI list, ids from
    ``GET /api/v1/facilities``) or ``remove=<id>`` (a public provider offering
    ``service``).  Per unit of ``level``, only the units whose figure changes; national
    totals in ``meta``, and what was picked in ``meta.picked`` (id, name, lon, lat).
    """
    _check(lay, who, service, mode, scenario)
    threshold = _threshold(threshold_min)
    if sum(v is not None for v in (add, add_at, add_facility, remove)) != 1:
        raise RequestError(422, "add_or_remove", parameter="add")
    at = None
    if add_at is not None:
        at = picks.provider_pick(lay.providers, add_at, service=service.value)
    elif add_facility is not None:
        at = picks.facility_pick(facilities(request), add_facility)
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
            at=at,
            caseworker=who is Audience.caseworker,
        )
    return JSONResponse(answer)


@router.get("/api/v1/facilities", response_model=FacilitiesAnswer)
def facilities_named(
    table: Annotated[pd.DataFrame, Depends(facilities)],
    q: Annotated[str, Query(min_length=1, max_length=100, description="Name typed so far.")],
    limit: Annotated[int, Query(ge=1, le=20, description="How many facilities.")] = 8,
    lang: Annotated[str | None, Query(max_length=5, description="fr or en (errors).")] = None,
) -> JSONResponse:
    """Health facilities of the WHO/KEMRI list whose name holds every word of ``q``
    (accents and case ignored), for ``GET /api/v1/whatif?add_facility=<id>``."""
    try:
        found = picks.search_facilities(table, q, limit=limit)
    except ValueError as exc:
        raise RequestError(422, "no_letters", parameter="q") from exc
    return JSONResponse({"query": q, "results": found})


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
