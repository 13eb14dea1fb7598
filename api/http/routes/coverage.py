"""``GET /api/v1/coverage``: people within 30 min, 1 h, 2 h and 5 h of a service, per unit.

The figures of ``orienter coverage``, the pages and the briefings (the shared
:class:`api.services.analysis.Analysis`), as JSON or as CSV (with the HXL hashtag row).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.choices import ChoiceError, Frame, Level, Scenario, Service
from api.errors import RequestError
from api.http.deps import heavy_work, shared_analysis
from api.http.schemas import CoverageAnswer, error_responses
from api.services.analysis import Analysis, CoverageResult
from api.services.frames import FrameError
from geo.errors import DataFileError

__all__ = ["CoverageFormat", "router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["coverage"], responses=error_responses(422, 503))


class CoverageFormat(StrEnum):
    """JSON, or CSV (with ``hxl=true``: the HXL hashtag row first)."""

    json = "json"
    csv = "csv"


@router.get(
    "/api/v1/coverage",
    response_model=CoverageAnswer,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def coverage(
    request: Request,
    analysis: Annotated[Analysis, Depends(shared_analysis)],
    level: Annotated[Level, Query(description="adm1 (région), adm2 (cercle), adm3.")] = Level.adm1,
    service: Annotated[Service, Query(description="The service.")] = Service.one_stop_centre,
    mode: Annotated[str, Query(description="A built travel mode.")] = "car",
    scenario: Annotated[Scenario, Query(description="A built scenario.")] = Scenario.baseline,
    fmt: Annotated[CoverageFormat, Query(alias="format", description="json or csv.")] = (
        CoverageFormat.json
    ),
    hxl: Annotated[bool, Query(description="CSV: add the HXL hashtag row.")] = False,
    frame: Annotated[
        Frame | None,
        Query(
            description="Régions of 2015 (8 + Bamako) or 2023 (19 + Bamako, from the 2015 "
            "cercles by the sourced crosswalk: approximate where a région splits a cercle); "
            "default: the boundary files' frame."
        ),
    ] = None,
) -> Response:
    """People within 30 min, 1 h, 2 h and 5 h of a service, per administrative unit;
    for medical care also within the clinical windows (PEP 72 h, EC 120 h).

    Public providers only: no figure depends on a confidential record.  The nearest
    provider of a unit is the public one nearest to most of its people.
    """
    query = {"level": level.value, "service": service.value, "mode": mode}
    chosen = None if frame is None else frame.value
    try:
        if analysis.coverage_ready(**query, scenario=scenario.value, frame=chosen):
            result = analysis.coverage(**query, scenario=scenario.value, frame=chosen)  # kept
        else:
            with heavy_work(request):
                result = analysis.coverage(**query, scenario=scenario.value, frame=chosen)
    except ChoiceError as exc:
        raise RequestError(
            422, "unknown_value", parameter=exc.parameter, allowed=exc.allowed
        ) from exc
    except FrameError as exc:
        raise RequestError(422, "frame_unavailable", parameter="frame") from exc
    except (DataFileError, OSError) as exc:
        log.warning("coverage unavailable: %s", type(exc).__name__)
        raise RequestError(503, "coverage_unavailable") from exc
    source = Path(result.meta["population_source"]).name
    if fmt is CoverageFormat.csv:
        return _csv(result, source, hxl=hxl, name=f"{'_'.join(query.values())}_{scenario.value}")
    meta = _coverage_meta(result.meta, analysis.manifest, source)
    body = json.dumps({"meta": meta, "units": result.records()}, ensure_ascii=False)
    return Response(body, media_type="application/json")


def _csv(result: CoverageResult, source: str, *, hxl: bool, name: str) -> Response:
    with_source = replace(result, table=result.table.assign(population_source=source))
    frame = with_source.hxl() if hxl else with_source.table
    filename = re.sub(r"[^a-z0-9_]+", "_", f"coverage_{name}")
    return Response(
        frame.to_csv(index=False),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def _coverage_meta(meta: dict, manifest: dict, source: str) -> dict[str, Any]:
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
