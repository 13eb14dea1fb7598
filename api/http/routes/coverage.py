"""``GET /api/v1/coverage``: people within 30 min, 1 h, 2 h and 5 h of a service, per unit.

The figures of ``orienter coverage``, the pages and the briefings (the shared
:class:`api.services.analysis.Analysis`), as JSON or as a planner's file (CSV for Excel,
HXL, XLSX: :mod:`api.services.exports`), for every unit or the units of some régions.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.choices import THRESHOLDS_MIN, ChoiceError, Level, Scenario, Service
from api.errors import RequestError
from api.http.deps import heavy_work, shared_analysis
from api.http.errors import error_lang
from api.http.schemas import CoverageAnswer, error_responses
from api.services.analysis import Analysis
from api.services.exports import (
    RegionNotFoundError,
    export_file,
    export_frame,
    export_name,
    in_regions,
    parse_regions,
)
from api.services.regions import known_regions
from geo.errors import DataFileError

__all__ = ["CoverageFormat", "router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["coverage"], responses=error_responses(422, 503))
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Most régions one request may name (there are 9 in the 2015 frame, 20 in the 2023 one).
_MAX_REGIONS = 20
_MAX_REGION_TEXT = 60


class CoverageFormat(StrEnum):
    """JSON; ``csv`` for Excel (UTF-8 with a byte-order mark, ``;`` and a decimal comma in
    French); ``hxl`` (comma CSV with the HXL hashtag row); ``xlsx``."""

    json = "json"
    csv = "csv"
    hxl = "hxl"
    xlsx = "xlsx"


@router.get(
    "/api/v1/coverage",
    response_model=CoverageAnswer,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                _XLSX: {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
def coverage(
    request: Request,
    analysis: Annotated[Analysis, Depends(shared_analysis)],
    level: Annotated[Level, Query(description="adm1 (région), adm2 (cercle), adm3.")] = Level.adm1,
    service: Annotated[Service, Query(description="The service.")] = Service.one_stop_centre,
    mode: Annotated[str, Query(description="A built travel mode.")] = "car",
    scenario: Annotated[Scenario, Query(description="A built scenario.")] = Scenario.baseline,
    fmt: Annotated[
        CoverageFormat, Query(alias="format", description="json, csv (Excel), hxl or xlsx.")
    ] = CoverageFormat.json,
    hxl: Annotated[bool, Query(description="format=csv: the HXL file (as format=hxl).")] = False,
    region: Annotated[
        list[str] | None,
        Query(
            description="Only the units of these régions (P-code or name; repeat it or "
            "separate with commas: region=ML05,ML04).",
        ),
    ] = None,
    threshold_min: Annotated[
        int | None,
        Query(description="Rank the units by the people beyond it (rank_people, rank_share)."),
    ] = None,
    lang: Annotated[
        str | None, Query(max_length=5, description="fr or en: the CSV's separators, errors.")
    ] = None,
) -> Response:
    """People within and beyond 30 min, 1 h, 2 h and 5 h of a service, per unit.

    Public providers only: no figure depends on a confidential record.  The nearest
    provider of a unit is the public one nearest to most of its people.  The files
    (csv, hxl, xlsx) add the région of each unit and give shares in per cent.
    """
    query = {"level": level.value, "service": service.value, "mode": mode}
    if threshold_min is not None and threshold_min not in THRESHOLDS_MIN:
        raise RequestError(422, "unknown_value", parameter="threshold_min", allowed=THRESHOLDS_MIN)
    regions = parse_regions(region)
    if any(len(text) > _MAX_REGION_TEXT for text in regions):
        raise RequestError(422, "too_long", parameter="region", limit=_MAX_REGION_TEXT)
    if len(regions) > _MAX_REGIONS:
        raise RequestError(422, "too_many_regions", parameter="region", limit=_MAX_REGIONS)
    try:
        if analysis.coverage_ready(**query, scenario=scenario.value):
            result = analysis.coverage(**query, scenario=scenario.value)  # kept: no work
        else:
            with heavy_work(request):
                result = analysis.coverage(**query, scenario=scenario.value)
        ranking = None
        if threshold_min is not None:
            with heavy_work(request):
                ranking = analysis.underserved(
                    **query, scenario=scenario.value, threshold_min=threshold_min
                )
        result, codes = in_regions(result, analysis, regions)
    except ChoiceError as exc:
        raise RequestError(
            422, "unknown_value", parameter=exc.parameter, allowed=exc.allowed
        ) from exc
    except RegionNotFoundError as exc:
        raise RequestError(
            422, "region_not_found", parameter="region", known=known_regions(analysis.units("adm1"))
        ) from exc
    except (DataFileError, OSError) as exc:
        log.warning("coverage unavailable: %s", type(exc).__name__)
        raise RequestError(503, "coverage_unavailable") from exc
    if fmt is CoverageFormat.csv and hxl:
        fmt = CoverageFormat.hxl
    if fmt is not CoverageFormat.json:
        frame = export_frame(result, analysis, ranking=ranking)
        done = export_file(
            frame,
            fmt.value,
            level=level.value,
            lang=error_lang(request),
            name=export_name(level.value, codes, result.meta, threshold_min),
        )
        return Response(
            done.content,
            media_type=done.media_type,
            headers={"Content-Disposition": f'attachment; filename="{done.filename}"'},
        )
    source = Path(result.meta["population_source"]).name
    meta = _coverage_meta(result.meta, analysis.manifest, source)
    units = result.records()
    if ranking is not None:
        ranks = ranking.table.set_index(ranking.table["pcode"].astype(str))
        for unit in units:
            unit["rank_people"] = int(ranks.loc[str(unit["pcode"]), "rank_people"])
            unit["rank_share"] = int(ranks.loc[str(unit["pcode"]), "rank_share"])
        units.sort(key=lambda u: (u["rank_people"], u["rank_share"], u["pcode"]))
        meta["threshold_min"] = threshold_min
    body = json.dumps({"meta": meta, "units": units}, ensure_ascii=False)
    return Response(body, media_type="application/json")


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
