"""The planning pages: ``/regions/{pcode}`` (with its map) and ``/planifier``.

Every figure comes from the app's shared :class:`api.services.analysis.Analysis` (the tables of
``GET /api/v1/coverage`` and of the briefings) and is printed as the briefings print it.
The what-if of ``/planifier`` runs in the browser (``web/static/js/planifier.js``) on the
JSON endpoints of :mod:`api.services.planning`; :data:`router` serves both, so the app includes
one router.  No confidential provider is ever listed or drawn.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from api.build.pipeline import SERVICE_KEYS
from api.http.pages.overview import PAGE_CSP_INLINE, page_lang, render
from api.services import planning
from api.services.analysis import Analysis, public_mask
from api.services.planning import LEVELS, THRESHOLDS_MIN, plain_text, shared_analysis
from geo.coverage import coverage_layer
from geo.nearest import providers_offering
from geo.providers import public_providers
from web.i18n import catalogue, translate
from web.maps import build_map, map_html, uncertainty_from_units

__all__ = ["pages_router", "router"]

# ----------------------------------------------------------------------------- pages

pages_router = APIRouter(include_in_schema=False)
#: Thresholds of the "people beyond" figures on the région page, minutes.
FIGURE_THRESHOLDS_MIN: tuple[int, ...] = (60, 120, 300)
MODE_ORDER = ("car", "motorbike", "walk")
COMMUNES_SHOWN = 15


def format_people(value: float | None, lang: str) -> str:
    """Whole people, ``1 234 567`` (French, narrow no-break spaces) or ``1,234,567``.

    The same rendering as the printable briefings (``web.briefing``).
    """
    if value is None or not np.isfinite(float(value)):
        return "–"
    text = f"{round(float(value)):,}"
    return text.replace(",", "\u202f") if lang == "fr" else text


def format_share(value: float | None, lang: str) -> str:
    """A 0-1 share as a percentage with one decimal: ``38,2 %`` / ``38.2%``."""
    if value is None or not np.isfinite(float(value)):
        return "–"
    pct = f"{100 * float(value):.1f}"
    return pct.replace(".", ",") + "\u00a0%" if lang == "fr" else pct + "%"


def format_signed_people(value: float, lang: str) -> str:
    """People with a sign: ``+1 234`` / ``−56``; ``0`` unsigned."""
    r = round(float(value))
    return "0" if r == 0 else ("+" if r > 0 else "−") + format_people(abs(r), lang)


def _links(value) -> list[dict]:
    """Source references as (href or None, short text): web links shown by host name."""
    items = [] if value is None else [value] if isinstance(value, str) else list(value)
    out: list[dict[str, str | None]] = []
    for item in items:
        text = str(item)
        if text.startswith(("https://", "http://")):
            host = urlsplit(text).hostname or text
            out.append({"href": text, "text": host.removeprefix("www.")})
        elif text:
            out.append({"href": None, "text": text})
    return out


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def _modes(analysis: Analysis) -> list[str]:
    built = analysis.choices["mode"]
    return [m for m in MODE_ORDER if m in built] + [m for m in built if m not in MODE_ORDER]


def _scenarios(analysis: Analysis) -> list[str]:
    return sorted(analysis.choices["scenario"], key=lambda s: (s != "baseline", s))


def _figures(row: pd.Series, lang: str) -> dict:
    """People beyond 1, 2 and 5 h and their share, from one coverage-table row."""
    beyond_rows: list[dict[str, Any]] = []
    out = {"population": format_people(row["population"], lang), "beyond": beyond_rows}
    for t in FIGURE_THRESHOLDS_MIN:
        beyond = float(row["population"]) - float(row[f"pop_within_{t}"])
        share = row[f"share_within_{t}"]
        beyond_rows.append(
            {
                "minutes": t,
                "people": format_people(beyond, lang),
                "share": None if pd.isna(share) else format_share(1.0 - float(share), lang),
                "value": beyond,
            }
        )
    return out


def _page_options(
    request: Request, analysis: Analysis, lang: str
) -> tuple[dict[str, Any], str | None]:
    """Service, mode, scenario, level and threshold of the page's form (defaults if bad)."""
    modes = _modes(analysis)
    allowed: dict[str, tuple[str, ...]] = {
        "service": tuple(SERVICE_KEYS),
        "mode": tuple(modes),
        "scenario": tuple(_scenarios(analysis)),
        "level": LEVELS,
        "threshold_min": tuple(str(t) for t in THRESHOLDS_MIN),
    }
    chosen: dict[str, Any] = {
        "service": "one_stop_centre",
        "mode": modes[0] if modes else "car",
        "scenario": "baseline",
        "level": "adm2",
        "threshold_min": "120",
    }
    error = None
    for name, values in allowed.items():
        given = request.query_params.get(name)
        if given is None or given == "":
            continue
        if given in values:
            chosen[name] = given
        elif error is None:
            error = translate(
                "planning.err_choice", lang, param=name, allowed_text=", ".join(values)
            )
    chosen["threshold_min"] = int(chosen["threshold_min"])
    return chosen, error


def _ranking(
    analysis: Analysis,
    lang: str,
    *,
    level: str,
    service: str,
    mode: str,
    scenario: str,
    threshold_min: int,
    keep: set[str] | None = None,
    limit: int | None = None,
    with_parent: bool = True,
) -> tuple[list[dict], int]:
    """Underserved units (all, or those in ``keep``), worst first; and how many there are."""
    result = analysis.underserved(
        level=level, service=service, mode=mode, scenario=scenario, threshold_min=threshold_min
    )
    table = result.table
    if keep is not None:
        table = table[table["pcode"].astype(str).isin(keep)]
    parents = result.units.set_index(result.units["pcode"].astype(str))["parent_pcode"]
    names = {
        str(p): str(n)
        for lvl in LEVELS
        if lvl != level
        for p, n in zip(analysis.units(lvl)["pcode"], analysis.units(lvl)["name"], strict=True)
    }
    t = f"{threshold_min:g}"
    rows = []
    for r in table.head(limit).to_dict("records") if limit else table.to_dict("records"):
        parent = parents.get(str(r["pcode"]))
        share = r[f"share_beyond_{t}"]
        rows.append(
            {
                "pcode": r["pcode"],
                "name": r["name"],
                "parent": names.get(str(parent)) if with_parent and parent is not None else None,
                "population": format_people(r["population"], lang),
                "beyond": format_people(r[f"pop_beyond_{t}"], lang),
                "share": None if pd.isna(share) else format_share(float(share), lang),
                "rank_people": int(r["rank_people"]),
                "rank_share": int(r["rank_share"]),
                "max_class": r.get("max_class"),
            }
        )
    return rows, len(table)


def _region_units(analysis: Analysis, pcode: str) -> tuple[set[str], set[str]]:
    """P-codes of the cercles and communes of the région ``pcode``."""
    adm2 = analysis.units("adm2")
    cercles = set(adm2.loc[adm2["parent_pcode"].astype(str) == pcode, "pcode"].astype(str))
    adm3 = analysis.units("adm3")
    communes = set(adm3.loc[adm3["parent_pcode"].astype(str).isin(cercles), "pcode"].astype(str))
    return cercles, communes


def _provider_rows(request: Request, pcode: str, lang: str) -> list[dict]:
    """The région's public providers (never a confidential one)."""
    directory = getattr(request.app.state, "directory", None)
    if directory is None:
        return []
    public = public_providers(directory)
    public = public[public["adm1_pcode"].astype("string").str.upper() == pcode]
    rows = []
    public = public.assign(_osc=public["type"] != "one_stop_centre")
    for r in public.sort_values(["_osc", "type", "name"]).to_dict("records"):
        precision = r.get("location_precision")
        rows.append(
            {
                "name": r["name"],
                "type": r["type"],
                "services": [s for s in (r.get("services") or []) if s],
                "town": plain_text(r.get("town")),
                "phone": plain_text(r.get("phone")),
                "opening_hours": plain_text(r.get("opening_hours")),
                "precision": plain_text(precision),
                "approximate": precision not in ("exact", "facility"),
                "sources": _links(r.get("source")),
                "source_date": plain_text(r.get("source_date")),
                "dated": str(r.get("source_date") or "")[:1].isdigit(),
            }
        )
    return rows


def _resolve_region(analysis: Analysis, text: str) -> tuple[str, str] | None:
    """(pcode, name) of the région named or coded ``text``; None when none matches."""
    adm1 = analysis.units("adm1")
    codes = adm1["pcode"].astype(str)
    hit = adm1[codes.str.upper() == text.strip().upper()]
    if hit.empty:
        hit = adm1[[_fold(n) == _fold(text) for n in adm1["name"]]]
    if hit.empty:
        return None
    return str(hit["pcode"].iloc[0]), str(hit["name"].iloc[0])


@pages_router.get("/regions/{pcode}", response_class=HTMLResponse)
def region_page(request: Request, pcode: str) -> Response:
    """A région: key figures, map, underserved cercles and communes, providers, sources."""
    lang = page_lang(request)
    analysis = _page_analysis(request)
    if analysis is None:
        return render(request, "region.html", status_code=503, region=None, not_built=True)
    found = _resolve_region(analysis, pcode) if len(pcode) <= 60 else None
    if found is None:
        adm1 = analysis.units("adm1")
        regions = sorted(zip(adm1["pcode"].astype(str), adm1["name"].astype(str), strict=True))
        return render(
            request,
            "region.html",
            status_code=404,
            region=None,
            not_built=False,
            asked=pcode[:60],
            regions=regions,
        )
    code, name = found
    if code != pcode:  # a name, or a lower-case code: one address per région
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/regions/{code}{query}", status_code=307)
    options, error = _page_options(request, analysis, lang)
    modes, scenarios = _modes(analysis), _scenarios(analysis)
    figures: list[dict[str, Any]] = []  # per mode: the One-Stop Centre and each service
    for mode in modes:
        services: list[dict[str, Any]] = []
        for service in SERVICE_KEYS:
            table = analysis.coverage(level="adm1", service=service, mode=mode).table
            row = table[table["pcode"].astype(str) == code].iloc[0]
            services.append({"service": service, **_figures(row, lang)})
        figures.append({"mode": mode, "services": services})
    population = figures[0]["services"][0]["population"] if figures else None
    scenario_rows = []
    mode = options["mode"]
    if len(scenarios) > 1:  # the One-Stop Centre, and the service chosen in the form
        for service in dict.fromkeys(("one_stop_centre", options["service"])):
            cells = []
            base = None
            for scenario in scenarios:
                table = analysis.coverage(
                    level="adm1", service=service, mode=mode, scenario=scenario
                ).table
                row = table[table["pcode"].astype(str) == code].iloc[0]
                beyond = float(row["population"]) - float(row["pop_within_120"])
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
            scenario_rows.append({"service": service, "cells": cells})
    cercles, communes = _region_units(analysis, code)
    ranking_args = {
        "service": options["service"],
        "mode": options["mode"],
        "scenario": options["scenario"],
        "threshold_min": options["threshold_min"],
    }
    cercle_rows, _ = _ranking(
        analysis, lang, level="adm2", keep=cercles, with_parent=False, **ranking_args
    )
    commune_rows, n_communes = _ranking(
        analysis, lang, level="adm3", keep=communes, limit=COMMUNES_SHOWN, **ranking_args
    )
    meta = analysis.coverage(level="adm1").meta
    return render(
        request,
        "region.html",
        status_code=200 if error is None else 422,
        region={"pcode": code, "name": name, "population": population},
        not_built=False,
        error=error,
        options=options,
        choices=_form_choices(analysis),
        label=_label(lang),
        figures=figures,
        thresholds=FIGURE_THRESHOLDS_MIN,
        scenarios=scenarios if len(scenarios) > 1 else [],
        scenario_rows=scenario_rows,
        cercles=cercle_rows,
        communes=commune_rows,
        communes_total=n_communes,
        providers=_provider_rows(request, code, lang),
        data=_data_sources(request, analysis, meta),
    )


def _label(lang: str):
    """``label(prefix, value)``: the message ``prefix + value``, or the value itself (a
    mode a user added to the speed table has no message)."""

    def label(prefix: str, value: str) -> str:
        key = f"{prefix}{value}"
        return translate(key, lang) if key in catalogue(lang) else str(value)

    return label


def _form_choices(analysis: Analysis) -> dict:
    return {
        "services": list(SERVICE_KEYS),
        "modes": _modes(analysis),
        "scenarios": _scenarios(analysis),
        "levels": list(LEVELS),
        "thresholds": list(THRESHOLDS_MIN),
    }


def _data_sources(request: Request, analysis: Analysis, meta: dict) -> dict:
    """What the figures rest on: files and dates from the build manifest."""
    manifest = analysis.manifest
    inputs = manifest.get("inputs", {})
    conflict = inputs.get("conflict") or {}
    zones = request.app.state.settings.build_dir / "conflict" / "meta.json"
    window = None
    if zones.is_file():
        try:
            info = json.loads(zones.read_text(encoding="utf-8"))
            if info.get("start") and info.get("end"):
                window = f"{info['start']} – {info['end']}"
        except (OSError, ValueError):
            window = None
    return {
        "population": Path(meta.get("population_source") or "").name or None,
        "roads": meta.get("roads"),
        "built_at": (manifest.get("built_at") or "")[:10] or None,
        "conflict": bool(conflict),
        "conflict_window": window,
        "providers": Path((inputs.get("providers") or {}).get("path") or "").name or None,
    }


def _page_analysis(request: Request) -> Analysis | None:
    if getattr(request.app.state, "layers", None) is None:
        return None
    try:
        return shared_analysis(request)
    except HTTPException:
        return None


@pages_router.get("/planifier", response_class=HTMLResponse)
def plan_page(request: Request) -> Response:
    """Underserved ranking (level, service, mode, scenario, threshold) and what-if siting."""
    lang = page_lang(request)
    analysis = _page_analysis(request)
    if analysis is None:
        return render(request, "planifier.html", status_code=503, not_built=True)
    options, error = _page_options(request, analysis, lang)
    rows, total = _ranking(
        analysis,
        lang,
        level=options["level"],
        service=options["service"],
        mode=options["mode"],
        scenario=options["scenario"],
        threshold_min=options["threshold_min"],
        limit=None if options["level"] == "adm1" else 25,
    )
    national = analysis.national(
        service=options["service"], mode=options["mode"], scenario=options["scenario"]
    )
    t = options["threshold_min"]
    within = national[f"pop_within_{t}"]
    share = national[f"share_within_{t}"]
    layers = request.app.state.layers
    offering = providers_offering(layers.providers, options["service"]) & public_mask(
        layers.providers
    )
    removable = sorted(
        zip(
            layers.providers["id"].astype(str)[offering],
            layers.providers["name"].astype(str)[offering],
            strict=True,
        ),
        key=lambda p: p[1],
    )
    return render(
        request,
        "planifier.html",
        status_code=200 if error is None else 422,
        not_built=False,
        error=error,
        options=options,
        choices=_form_choices(analysis),
        label=_label(lang),
        ranking=rows,
        ranking_total=total,
        national={
            "population": format_people(national["population"], lang),
            "beyond": format_people(national["population"] - within, lang),
            "share_beyond": None if share is None else format_share(1.0 - share, lang),
        },
        removable=removable,
        population_source=Path(national["meta"].get("population_source") or "").name,
        messages=Markup(
            '<script type="application/json" id="planning-messages">{}</script>'
        ).format(
            htmlsafe_json_dumps(
                {k[9:]: v for k, v in catalogue(lang).items() if k.startswith("planning.js_")}
            )
        ),
    )


@pages_router.get("/regions/{pcode}/carte", response_class=HTMLResponse)
def region_map(request: Request, pcode: str) -> Response:
    """The région's map (a full folium document, embedded by the région page)."""
    lang = page_lang(request)
    analysis = _page_analysis(request)
    found = _resolve_region(analysis, pcode) if analysis is not None and len(pcode) <= 60 else None
    if analysis is None or found is None or found[0] != pcode:
        raise HTTPException(404, translate("planning.region_not_found", lang, pcode=pcode[:60]))
    options, _ = _page_options(request, analysis, lang)
    cercles, _ = _region_units(analysis, pcode)
    result = analysis.coverage(
        level="adm2", service=options["service"], mode=options["mode"], scenario=options["scenario"]
    )
    inside = result.table["pcode"].astype(str).isin(cercles).to_numpy()
    layer = coverage_layer(result.table[inside], result.units)
    units = analysis.units("adm2")
    boundaries = units[units["pcode"].astype(str).isin(cercles)]
    directory = getattr(request.app.state, "directory", None)
    providers = None
    uncertainty = None
    if directory is not None:
        public = public_providers(directory)
        providers = public[public["adm1_pcode"].astype("string").str.upper() == pcode]
        providers = providers[providers.geometry.notna() & ~providers.geometry.is_empty]
        uncertainty = uncertainty_from_units(
            providers, {lvl: analysis.units(f"adm{lvl}") for lvl in (1, 2, 3)}
        )
    zones = None
    path = request.app.state.settings.build_dir / "conflict" / "zones.parquet"
    if path.is_file():
        zones = gpd.read_parquet(path).to_crs("EPSG:4326")
        area = boundaries.to_crs("EPSG:4326").union_all()
        zones = zones[zones.intersects(area)]
        zones = zones.assign(geometry=zones.intersection(area))
    m = build_map(
        boundaries=boundaries,
        providers=providers,
        coverage=layer,
        conflict_zones=zones if zones is not None and len(zones) else None,
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


# one router for the app: the siting JSON endpoints and the pages
router = APIRouter()
router.include_router(planning.router)
router.include_router(pages_router)
