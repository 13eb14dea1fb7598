"""``GET /api/v1/coverage``: people within 30 min, 1 h, 2 h and 5 h of a service, per unit.

The figures of ``orienter coverage``, the pages and the briefings (the shared
:class:`api.services.analysis.Analysis`), as JSON or as a planner's file (CSV for Excel,
HXL, XLSX: :mod:`api.services.exports`), for every unit or the units of some régions,
in the régions of 2015 or 2023 (``frame``), for medical care by clinical window.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.choices import THRESHOLDS_MIN, ChoiceError, Frame, Level, Scenario, Service, Window
from api.errors import RequestError
from api.http.deps import heavy_work, shared_analysis
from api.http.errors import error_lang
from api.http.schemas import CoverageAnswer, error_responses
from api.services.analysis import Analysis, CoverageResult
from api.services.exports import (
    RegionNotFoundError,
    export_file,
    export_frame,
    export_name,
    frame_regions,
    in_regions,
    parse_regions,
)
from api.services.frames import FrameError
from api.services.regions import known_regions
from geo.coverage import CLINICAL_WINDOWS_MIN
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
            description="Only the units of these régions of the frame (P-code or name; "
            "repeat it or separate with commas: region=ML05,ML04).",
        ),
    ] = None,
    threshold_min: Annotated[
        int | None,
        Query(
            description="Rank the units by the people beyond it (rank_people, rank_share); "
            "for medical care also a clinical window (4320, 7200)."
        ),
    ] = None,
    lang: Annotated[
        str | None, Query(max_length=5, description="fr or en: the CSV's separators, errors.")
    ] = None,
    frame: Annotated[
        Frame | None,
        Query(
            description="Régions of 2015 (8 + Bamako) or 2023 (19 + Bamako, from the 2015 "
            "cercles by the sourced crosswalk: approximate where a région splits a cercle); "
            "default: the boundary files' frame."
        ),
    ] = None,
    window: Annotated[
        Window | None,
        Query(
            description="A clinical window of medical care after a rape: pep (72 h) or ec "
            "(120 h); the table of medical care, its meta naming the window."
        ),
    ] = None,
) -> Response:
    """People within and beyond 30 min, 1 h, 2 h and 5 h of a service, per unit; for
    medical care also within the clinical windows (PEP 72 h, EC 120 h).

    Public providers only: no figure depends on a confidential record.  The nearest
    provider of a unit is the public one nearest to most of its people.  The files
    (csv, hxl, xlsx) add the région of each unit and give shares in per cent.
    """
    service = _service(request, service, window, threshold_min)
    query = {"level": level.value, "service": service.value, "mode": mode}
    regions = _regions(region)
    chosen = None if frame is None else frame.value
    try:
        if analysis.coverage_ready(**query, scenario=scenario.value, frame=chosen):
            result = analysis.coverage(**query, scenario=scenario.value, frame=chosen)  # kept
        else:
            with heavy_work(request):
                result = analysis.coverage(**query, scenario=scenario.value, frame=chosen)
        ranking = None
        if threshold_min is not None:
            with heavy_work(request):
                ranking = analysis.underserved(
                    **query, scenario=scenario.value, threshold_min=threshold_min, frame=chosen
                )
        full = result
        result, codes = in_regions(result, analysis, regions)
    except ChoiceError as exc:
        raise RequestError(
            422, "unknown_value", parameter=exc.parameter, allowed=exc.allowed
        ) from exc
    except RegionNotFoundError as exc:
        known = known_regions(frame_regions(full, analysis))
        raise RequestError(422, "region_not_found", parameter="region", known=known) from exc
    except FrameError as exc:
        raise RequestError(422, "frame_unavailable", parameter="frame") from exc
    except (DataFileError, OSError) as exc:
        log.warning("coverage unavailable: %s", type(exc).__name__)
        raise RequestError(503, "coverage_unavailable") from exc
    if fmt is CoverageFormat.csv and hxl:
        fmt = CoverageFormat.hxl
    if fmt is not CoverageFormat.json:
        name = export_name(level.value, codes, result.meta, threshold_min)
        done = export_file(
            export_frame(result, analysis, ranking=ranking),
            fmt.value,
            level=level.value,
            lang=error_lang(request),
            name=name,
        )
        return Response(
            done.content,
            media_type=done.media_type,
            headers={"Content-Disposition": f'attachment; filename="{done.filename}"'},
        )
    return _json(result, ranking, analysis, threshold_min, window)


def _json(
    result: CoverageResult,
    ranking: CoverageResult | None,
    analysis: Analysis,
    threshold_min: int | None,
    window: Window | None,
) -> Response:
    """The JSON answer: meta and units (ranked worst first with a ranking)."""
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
    if window is not None:
        meta |= {"window": window.value, "window_min": CLINICAL_WINDOWS_MIN[window.value]}
    body = json.dumps({"meta": meta, "units": units}, ensure_ascii=False)
    return Response(body, media_type="application/json")


def _regions(region: list[str] | None) -> list[str]:
    """The région texts of ``region`` (:func:`parse_regions`), within the limits."""
    regions = parse_regions(region)
    if any(len(text) > _MAX_REGION_TEXT for text in regions):
        raise RequestError(422, "too_long", parameter="region", limit=_MAX_REGION_TEXT)
    if len(regions) > _MAX_REGIONS:
        raise RequestError(422, "too_many_regions", parameter="region", limit=_MAX_REGIONS)
    return regions


def _service(
    request: Request, service: Service, window: Window | None, threshold_min: int | None
) -> Service:
    """The service asked (medical care for a clinical ``window``), its ``threshold_min``
    checked: 30 min to 5 h, and for medical care the clinical windows (72 h, 120 h)."""
    if window is not None:
        if "service" in request.query_params and service is not Service.medical:
            raise RequestError(422, "unknown_value", parameter="service", allowed=["medical"])
        service = Service.medical
    windows = CLINICAL_WINDOWS_MIN.values() if service is Service.medical else ()
    allowed = sorted({*THRESHOLDS_MIN, *windows})
    if threshold_min is not None and threshold_min not in allowed:
        raise RequestError(422, "unknown_value", parameter="threshold_min", allowed=allowed)
    return service


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
