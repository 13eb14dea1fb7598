"""The overview ``/``, the caseworker's finder ``/trouver`` and the overview map's layers.

The finder sends its query to ``GET /api/v1/nearest`` from the browser and keeps the
answer in the page only.  The overview's national figures and its coverage choropleth
(``/carte/couverture.geojson``) come from the app's shared analysis; the boundaries
(``/carte/limites/<level>.geojson``) are the map's base layer when tiles fail.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.choices import SERVICE_KEYS, ChoiceError, Scenario, Service
from api.datasets import find_dataset
from api.errors import RequestError
from api.http.deps import optional_analysis, shared_analysis
from api.http.pages.render import page_lang, render
from api.http.params import reads_query
from api.services.analysis import Analysis
from geo.boundaries import read_boundaries
from geo.providers import RESULT_STATUSES, public_providers
from web.formats import format_people, format_share

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
#: Levels of the base-map boundaries and of the overview's choropleth.
BOUNDARY_LEVELS = ("adm0", "adm1", "adm2")
CHOROPLETH_LEVELS = ("adm1", "adm2")


def _choices(request: Request) -> dict[str, list[tuple[str, str]]]:
    """Service, mode and scenario options (value, message key) of the built layers."""
    layers = getattr(request.app.state, "layers", None)
    modes = layers.modes if layers is not None else []
    scenarios = layers.scenarios if layers is not None else []
    scenarios = sorted(scenarios, key=lambda s: (s != "baseline", s))
    return {
        "services": [(s, f"pages.service_{s}") for s in SERVICE_KEYS],
        "modes": [(m, f"pages.mode_{m}") for m in modes],
        "scenarios": [(s, f"pages.scenario_{s}") for s in scenarios],
    }


@router.get("/", response_class=HTMLResponse)
@reads_query("service", "mode", "scenario", "threshold", "threshold_min")
def overview(
    request: Request, analysis: Annotated[Analysis | None, Depends(optional_analysis)]
) -> HTMLResponse:
    """The overview: map of providers and coverage, national figures, sources."""
    return render(
        request,
        "index.html",
        choices=_choices(request),
        figures=_national_figures(request, analysis, page_lang(request)),
    )


@router.get("/trouver", response_class=HTMLResponse)
@reads_query("place", "service", "mode", "scenario")
def finder(request: Request) -> HTMLResponse:
    """The caseworker's finder: nearest providers from a village or a point on the map."""
    return render(request, "trouver.html", choices=_choices(request))


def _national_figures(request: Request, analysis: Analysis | None, lang: str) -> dict[str, Any]:
    """Key national figures computed on the data: people beyond 1, 2 and 5 h of a
    One-Stop Centre (car, baseline) and the number of public providers."""
    figures: dict[str, Any] = {"providers_public": None, "beyond": None}
    directory = getattr(request.app.state, "directory", None)
    if directory is not None:
        public = public_providers(directory)
        figures["providers_public"] = len(public)
        figures["one_stop_centres"] = int((public["type"] == "one_stop_centre").sum())
        # why the briefings and maps show fewer: only located records that operate (or are
        # reported to) enter travel times; hotlines have no place
        located = public.geometry.notna() & ~public.geometry.is_empty
        active = public["status"].isin(RESULT_STATUSES)
        figures["providers_in_results"] = int((located & active).sum())
        figures["providers_unplaced"] = int((~located).sum())
        figures["providers_inactive"] = int((located & ~active).sum())
    if analysis is None:
        return figures
    modes = analysis.choices["mode"]
    mode = "car" if "car" in modes else (modes[0] if modes else None)
    if mode is None or "baseline" not in analysis.choices["scenario"]:
        return figures
    try:
        national = analysis.national(service="one_stop_centre", mode=mode, scenario="baseline")
    except (OSError, ValueError) as exc:  # a missing raster or surface: no figure
        log.warning("national figures unavailable: %s", type(exc).__name__)
        return figures
    total = national["population"]
    rows = []
    for minutes in (60, 120, 300):
        rows.append(
            {
                "hours": minutes // 60,
                "population_text": format_people(national[f"pop_beyond_{minutes}"], lang),
                "share_text": format_share(national[f"share_beyond_{minutes}"], lang),
            }
        )
    figures.update(
        beyond=rows,
        mode=mode,
        scenario="baseline",
        population_total=format_people(total, lang),
        population_source=Path(national["meta"].get("population_source", "")).name,
    )
    return figures


@cache
def _boundaries_geojson(path: Path, level: int) -> str:
    """A boundary level as light GeoJSON (pcode, name; geometry simplified to ~500 m)."""
    units = read_boundaries(path, level=level)
    units = gpd.GeoDataFrame(
        units[["pcode", "name"]],
        geometry=units.geometry.simplify(0.005, preserve_topology=True),
        crs=units.crs,
    )
    return units.to_json(drop_id=True, ensure_ascii=False, to_wgs84=True)


@router.get("/carte/limites/{level}.geojson")
def boundaries(request: Request, level: str) -> Response:
    """Région (adm1) or cercle (adm2) boundaries: the map's base layer when tiles fail."""
    if level not in BOUNDARY_LEVELS:
        raise RequestError(404, "unknown_value", parameter="level", allowed=BOUNDARY_LEVELS)
    path = find_dataset(request.app.state.settings, level)
    if path is None:
        raise RequestError(404, "no_boundaries", parameter="level")
    return Response(
        _boundaries_geojson(path, int(level[-1])),
        media_type="application/geo+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/carte/couverture.geojson")
def coverage_geojson(
    analysis: Annotated[Analysis, Depends(shared_analysis)],
    service: Annotated[Service, Query()] = Service.one_stop_centre,
    mode: str = "car",
    scenario: Annotated[Scenario, Query()] = Scenario.baseline,
    level: str = "adm1",
) -> Response:
    """Coverage per unit with its polygon, for the overview choropleth (public figures:
    shares and people within 1, 2 and 5 h; the nearest provider only if public)."""
    if level not in CHOROPLETH_LEVELS:
        raise RequestError(422, "unknown_value", parameter="level", allowed=CHOROPLETH_LEVELS)
    try:
        result = analysis.coverage(
            level=level, service=service.value, mode=mode, scenario=scenario.value
        )
    except ChoiceError as exc:
        raise RequestError(
            422, "unknown_value", parameter=exc.parameter, allowed=exc.allowed
        ) from exc
    columns = ["pcode", "name", "population"] + [
        f"{kind}_{t}" for t in (60, 120, 300) for kind in ("pop_within", "share_within")
    ]
    table = result.table[[c for c in columns if c in result.table.columns]]
    units = result.units.set_index("pcode").loc[table["pcode"]]
    shapes = gpd.GeoDataFrame(
        table.reset_index(drop=True),
        geometry=units.geometry.simplify(0.005, preserve_topology=True).to_numpy(),
        crs=units.crs,
    )
    return Response(
        shapes.to_json(drop_id=True, ensure_ascii=False, na="null", to_wgs84=True),
        media_type="application/geo+json",
    )
