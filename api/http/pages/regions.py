"""The région pages: ``/regions/{pcode}`` and its map ``/regions/{pcode}/carte``.

Key figures per service and mode, the change under the conflict scenarios, the least
well served cercles and communes, the public providers and the sources; every figure
from the app's shared analysis, printed as the briefings print it.
"""

from __future__ import annotations

from typing import Annotated, Any

import geopandas as gpd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.choices import SERVICE_KEYS
from api.errors import RequestError
from api.http.deps import optional_analysis
from api.http.pages._common import (
    COMMUNES_SHOWN,
    FIGURE_THRESHOLDS_MIN,
    beyond_figures,
    data_sources,
    form_choices,
    modes,
    page_options,
    provider_rows,
    ranking,
    region_units,
    scenarios,
)
from api.http.pages.render import PAGE_CSP_INLINE, label, page_lang, render
from api.http.params import reads_query
from api.services.analysis import Analysis
from api.services.regions import RegionNotFoundError, known_regions, resolve_region
from geo.coverage import coverage_layer
from geo.providers import public_providers
from web.formats import format_people, format_signed_people
from web.maps import build_map, map_html, uncertainty_from_units

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
#: Longest région text looked up (a P-code or a name).
_MAX_REGION_TEXT = 60


def _region(analysis: Analysis, text: str) -> tuple[str, str] | None:
    """(P-code, boundary name) of the région ``text`` names; None when none does."""
    if len(text) > _MAX_REGION_TEXT:
        return None
    try:
        found = resolve_region(analysis.units("adm1"), text)
    except RegionNotFoundError:
        return None
    return found.pcode, found.name


def _figures_by_mode(analysis: Analysis, code: str, lang: str) -> list[dict[str, Any]]:
    """Per built mode: people beyond 1, 2 and 5 h of each service (baseline)."""
    figures: list[dict[str, Any]] = []
    for mode in modes(analysis):
        services: list[dict[str, Any]] = []
        for service in SERVICE_KEYS:
            table = analysis.coverage(level="adm1", service=service, mode=mode).table
            row = table[table["pcode"].astype(str) == code].iloc[0]
            services.append({"service": service, **beyond_figures(row, lang)})
        figures.append({"mode": mode, "services": services})
    return figures


def _scenario_rows(
    analysis: Analysis, code: str, options: dict[str, Any], lang: str
) -> list[dict[str, Any]]:
    """People beyond 2 h under each scenario: the One-Stop Centre and the chosen service."""
    rows = []
    for service in dict.fromkeys(("one_stop_centre", options["service"])):
        cells = []
        base = None
        for scenario in scenarios(analysis):
            table = analysis.coverage(
                level="adm1", service=service, mode=options["mode"], scenario=scenario
            ).table
            row = table[table["pcode"].astype(str) == code].iloc[0]
            beyond = int(row["pop_beyond_120"])
            base = beyond if base is None else base
            cells.append(
                {
                    "scenario": scenario,
                    "people": format_people(beyond, lang),
                    "change": None
                    if scenario == "baseline"
                    else format_signed_people(beyond - base, lang),
                }
            )
        rows.append({"service": service, "cells": cells})
    return rows


def _not_found(request: Request, analysis: Analysis) -> HTMLResponse:
    adm1 = analysis.units("adm1")
    regions = sorted(zip(adm1["pcode"].astype(str), adm1["name"].astype(str), strict=True))
    return render(
        request,
        "region.html",
        status_code=404,
        region=None,
        not_built=False,
        regions=regions,
    )


@router.get("/regions/{pcode}", response_class=HTMLResponse)
@reads_query("service", "mode", "scenario", "threshold_min")
def region_page(
    request: Request,
    pcode: str,
    analysis: Annotated[Analysis | None, Depends(optional_analysis)],
) -> Response:
    """A région: key figures, map, underserved cercles and communes, providers, sources."""
    lang = page_lang(request)
    if analysis is None:
        return render(request, "region.html", status_code=503, region=None, not_built=True)
    found = _region(analysis, pcode)
    if found is None:
        return _not_found(request, analysis)
    code, name = found
    if code != pcode:  # a name, or a lower-case code: one address per région
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/regions/{code}{query}", status_code=307)
    options, error = page_options(request, analysis, lang)
    figures = _figures_by_mode(analysis, code, lang)
    several = len(scenarios(analysis)) > 1
    cercles, communes = region_units(analysis, code)
    ranking_args = {
        "service": options["service"],
        "mode": options["mode"],
        "scenario": options["scenario"],
        "threshold_min": options["threshold_min"],
    }
    cercle_rows, _ = ranking(
        analysis, lang, level="adm2", keep=cercles, with_parent=False, **ranking_args
    )
    commune_rows, n_communes = ranking(
        analysis, lang, level="adm3", keep=communes, limit=COMMUNES_SHOWN, **ranking_args
    )
    meta = analysis.coverage(level="adm1").meta
    listed = provider_rows(request, code, lang)
    dated = [str(p["source_date"]) for p in listed if p["dated"]]
    return render(
        request,
        "region.html",
        status_code=200 if error is None else 422,
        region={
            "pcode": code,
            "name": name,
            "population": figures[0]["services"][0]["population"] if figures else None,
        },
        not_built=False,
        error=error,
        options=options,
        choices=form_choices(analysis),
        label=label(lang),
        figures=figures,
        thresholds=FIGURE_THRESHOLDS_MIN,
        scenarios=scenarios(analysis) if several else [],
        scenario_rows=_scenario_rows(analysis, code, options, lang) if several else [],
        cercles=cercle_rows,
        communes=commune_rows,
        communes_total=n_communes,
        download_query=ranking_args,
        providers=listed,
        # the directory dated by the région's own records, not the newest in Mali
        providers_newest=max(dated) if dated else None,
        data=data_sources(request, analysis, meta),
    )


@router.get("/regions/{pcode}/carte", response_class=HTMLResponse)
@reads_query("service", "mode", "scenario", "threshold_min")
def region_map(
    request: Request,
    pcode: str,
    analysis: Annotated[Analysis | None, Depends(optional_analysis)],
) -> Response:
    """The région's map (a full folium document, embedded by the région page)."""
    lang = page_lang(request)
    found = _region(analysis, pcode) if analysis is not None else None
    if analysis is None or found is None or found[0] != pcode:
        known = known_regions(analysis.units("adm1")) if analysis is not None else "–"
        raise RequestError(404, "region_not_found", parameter="pcode", known=known)
    options, _ = page_options(request, analysis, lang)
    cercles, _ = region_units(analysis, pcode)
    result = analysis.coverage(
        level="adm2", service=options["service"], mode=options["mode"], scenario=options["scenario"]
    )
    inside = result.table["pcode"].astype(str).isin(cercles).to_numpy()
    units = analysis.units("adm2")
    boundaries = units[units["pcode"].astype(str).isin(cercles)]
    providers, uncertainty = _region_providers(request, analysis, pcode)
    m = build_map(
        boundaries=boundaries,
        providers=providers,
        coverage=coverage_layer(result.table[inside], result.units),
        conflict_zones=_region_zones(request, boundaries),
        service=options["service"],
        mode=options["mode"],
        scenario=options["scenario"],
        threshold_min=options["threshold_min"],
        lang=lang,
        uncertainty_m=uncertainty,
        tiles=True,
        collapsed_controls=True,
    )
    west, south, east, north = boundaries.to_crs("EPSG:4326").total_bounds
    m.fit_bounds([[south, west], [north, east]])
    response = HTMLResponse(map_html(m, lang=lang))
    response.headers["Content-Security-Policy"] = PAGE_CSP_INLINE
    return response


def _region_providers(
    request: Request, analysis: Analysis, pcode: str
) -> tuple[gpd.GeoDataFrame | None, Any]:
    """The région's located public providers and their location uncertainty, metres."""
    directory = getattr(request.app.state, "directory", None)
    if directory is None:
        return None, None
    public = public_providers(directory)
    providers = public[public["adm1_pcode"].astype("string").str.upper() == pcode]
    providers = providers[providers.geometry.notna() & ~providers.geometry.is_empty]
    units = {lvl: analysis.units(f"adm{lvl}") for lvl in (1, 2, 3)}
    return providers, uncertainty_from_units(providers, units)


def _region_zones(request: Request, boundaries: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """The build's conflict zones clipped to the région's cercles (None when there are none)."""
    path = request.app.state.settings.build_dir / "conflict" / "zones.parquet"
    if not path.is_file():
        return None
    zones = gpd.read_parquet(path).to_crs("EPSG:4326")
    area = boundaries.to_crs("EPSG:4326").union_all()
    zones = zones[zones.intersects(area)]
    zones = zones.assign(geometry=zones.intersection(area))
    return zones if len(zones) else None
