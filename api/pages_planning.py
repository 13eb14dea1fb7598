"""Planning: the pages ``/regions/{pcode}`` and ``/planifier``, and the siting JSON endpoints.

- ``GET /api/v1/site``: greedy choice of N new centres among the candidate sites (the
  CSRéf and hospitals of the WHO/KEMRI list), as ``orienter site`` does;
- ``GET /api/v1/whatif``: people within the threshold before and after adding one centre
  (``add=lon,lat``) or removing one public provider (``remove=id``), per admin unit, as
  ``orienter site --add/--remove`` does, in about a second and without a rebuild.

What loads once (population on the grid, unit pieces, candidate sites, the candidates'
bounded reach) is cached in the app state on first use, never at import.  The what-if
works on the built graph (providers attached) and the built ``surfaces/all`` surface, the
very arrays the coverage figures come from, so "before" equals the coverage tables.

Privacy: no query coordinate, place name or provider id is ever logged.  A confidential
provider cannot be removed in a what-if (the answer would locate it); an unknown id and a
confidential id get the same answer.
"""

from __future__ import annotations

import json
import threading
import time
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from api.analysis import Analysis, public_mask
from api.datasets import find_dataset
from api.layers import Layers, NotBuiltError
from api.pages import PAGE_CSP_INLINE, page_lang, render
from api.pipeline import SERVICE_KEYS
from api.settings import Settings
from geo.coverage import coverage_layer
from geo.crs import METRIC_CRS
from geo.errors import DataFileError
from geo.facilities import read_who_facilities
from geo.nearest import providers_offering
from geo.providers import public_providers
from geo.siting import CandidateReach, candidate_reach, greedy_sites, what_if_add, what_if_remove
from web.i18n import catalogue, choose_lang, translate
from web.maps import build_map, map_html, uncertainty_from_units

__all__ = ["THRESHOLDS_MIN", "Planner", "pages_router", "router"]

router = APIRouter()

#: Thresholds a planner may choose, minutes (those of the coverage tables).
THRESHOLDS_MIN: tuple[int, ...] = (30, 60, 120, 300)
LEVELS: tuple[str, ...] = ("adm1", "adm2", "adm3")
#: Facility types of the WHO/KEMRI list offered as candidate sites (as `orienter site`).
SITING_FACILITY_TYPES = ("csref", "hospital", "regional_hospital", "university_hospital")
MAX_SITES = 10


# ----------------------------------------------------------------------------- state


@dataclass(eq=False)
class Planner:
    """What the siting endpoints add to the shared :class:`api.analysis.Analysis`.

    The grid, population, admin pieces and surfaces are the analysis's own (so "before"
    figures equal the coverage tables); the planner keeps the candidate sites and their
    bounded reach per (mode, scenario, threshold).
    """

    analysis: Analysis
    candidates: gpd.GeoDataFrame  # name, kind, adm1_pcode, geometry (EPSG:4326)
    _reach: dict[tuple[str, str, float], CandidateReach] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def population(self) -> np.ndarray:
        return self.analysis.inputs.population

    def surface(self, service: str, mode: str, scenario: str) -> np.ndarray:
        """Minutes per active cell to the nearest provider of ``service`` (every provider)."""
        minutes, _ = self.analysis.surface(service, mode, scenario)
        return np.asarray(minutes, dtype=np.float64)

    def reach(self, layers: Layers, mode: str, scenario: str, threshold_min: float):
        """The candidates' bounded reach on the built graph (cached per mode, scenario, t)."""
        key = (mode, scenario, float(threshold_min))
        with self._lock:  # one computation at a time; the others wait and reuse it
            found = self._reach.get(key)
            if found is None:
                metric = self.candidates.to_crs(METRIC_CRS)
                found = candidate_reach(
                    layers.graphs[(mode, scenario)],
                    metric.geometry.x.to_numpy(),
                    metric.geometry.y.to_numpy(),
                    threshold_min=threshold_min,
                )
                self._reach[key] = found
        return found

    def within_by_unit(self, level: str, minutes: np.ndarray, threshold_min: float) -> np.ndarray:
        """People within ``threshold_min`` per unit of ``level`` (rows of its units)."""
        p = self.analysis.pieces(level)
        inside = minutes[p.cell] <= threshold_min
        n = len(self.analysis.units(level))
        return np.bincount(p.unit, weights=p.population * inside, minlength=n)

    def people_by_unit(self, level: str) -> np.ndarray:
        p = self.analysis.pieces(level)
        return np.bincount(p.unit, weights=p.population, minlength=len(self.analysis.units(level)))

    def in_mali(self, lon: float, lat: float) -> bool:
        where = gpd.GeoSeries(gpd.points_from_xy([lon], [lat]), crs="EPSG:4326")
        return bool(self.analysis.inputs.country.contains(where.to_crs(METRIC_CRS).iloc[0]))


_LOCK = threading.Lock()


def _candidate_sites(settings: Settings, adm1: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """The CSRéf and hospitals of the WHO/KEMRI list (public health facilities)."""
    path = find_dataset(settings, "facilities_who")
    empty = gpd.GeoDataFrame(
        {"name": [], "kind": [], "adm1_pcode": []}, geometry=[], crs="EPSG:4326"
    )
    if path is None:
        return empty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fac = read_who_facilities(path)
    keep = fac["facility_type"].isin(SITING_FACILITY_TYPES)
    out = fac.loc[keep, ["name", "facility_type", "geometry"]].rename(
        columns={"facility_type": "kind"}
    )
    out = gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=fac.crs)
    out = out.to_crs("EPSG:4326")
    out["adm1_pcode"] = None
    if adm1 is not None and len(out):
        joined = gpd.sjoin(out, adm1[["pcode", "geometry"]].to_crs(out.crs), how="left")
        joined = joined[~joined.index.duplicated()]
        out["adm1_pcode"] = joined["pcode"].reindex(out.index).astype(object)
    return out


def shared_analysis(request: Request) -> Analysis:
    """The app's :class:`Analysis` (``app.state.analysis``), created on first use."""
    state = request.app.state
    found = getattr(state, "analysis", None)
    if found is None:
        with _LOCK:
            found = getattr(state, "analysis", None)
            if found is None:
                try:
                    found = Analysis.load(state.settings)
                except NotBuiltError as exc:
                    raise _fail(request, 503, "err_not_built") from exc
                state.analysis = found
    return found


def planner(request: Request) -> Planner:
    """The app's planner, loaded on first use (503 while the layers are not built)."""
    state = request.app.state
    found = getattr(state, "planner", None)
    if found is not None:
        return found
    if getattr(state, "layers", None) is None:
        raise _fail(request, 503, "err_not_built")
    analysis = shared_analysis(request)
    with _LOCK:
        found = getattr(state, "planner", None)
        if found is None:
            try:
                adm1 = analysis.units("adm1")
                analysis.inputs  # noqa: B018  (load the grid and population now)
            except (DataFileError, OSError) as exc:
                raise _fail(request, 503, "err_not_built") from exc
            found = Planner(analysis, _candidate_sites(state.settings, adm1))
            state.planner = found
    return found


def built_layers(request: Request) -> Layers:
    found = getattr(request.app.state, "layers", None)
    if found is None:
        raise _fail(request, 503, "err_not_built")
    return found


# ----------------------------------------------------------------------------- helpers


def request_lang(request: Request) -> str:
    return choose_lang(request.query_params.get("lang"), request.headers.get("accept-language"))


def _t(request: Request, key: str, **values: object) -> str:
    return translate(f"planning.{key}", request_lang(request), **values)


def _fail(
    request: Request,
    status: int,
    key: str,
    *,
    parameter: str | None = None,
    allowed: list[str] | None = None,
    **values: object,
) -> HTTPException:
    """An error in the API's one shape (``api.messages``), with a planning message."""
    detail: dict = {
        "code": key.removeprefix("err_"),
        "message": _t(request, key, **values),
        "parameter": parameter,
    }
    if allowed is not None:
        detail["allowed"] = allowed
    return HTTPException(status, detail)


def _choice(request: Request, name: str, value, allowed) -> None:
    if value not in allowed:
        allowed = [str(a) for a in allowed]
        raise _fail(
            request,
            422,
            "err_choice",
            parameter=name,
            allowed=allowed,
            param=name,
            allowed_text=", ".join(allowed),
        )


def _threshold(request: Request, value: float) -> float:
    if float(value) not in {float(t) for t in THRESHOLDS_MIN}:
        _choice(request, "threshold_min", f"{value:g}", THRESHOLDS_MIN)
    return float(value)


def _parse_point(request: Request, text: str, plan: Planner) -> tuple[float, float]:
    try:
        lon, lat = (float(v) for v in text.split(","))
        if not (np.isfinite(lon) and np.isfinite(lat)):
            raise ValueError
    except ValueError:
        raise _fail(request, 422, "err_add_format", parameter="add") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90) or not plan.in_mali(lon, lat):
        swapped = -180 <= lat <= 180 and -90 <= lon <= 90 and plan.in_mali(lat, lon)
        raise _fail(
            request, 422, "err_add_swapped" if swapped else "err_add_outside", parameter="add"
        )
    return lon, lat


def _unit_rows(plan: Planner, level: str, before: np.ndarray, after: np.ndarray) -> list[dict]:
    units = plan.analysis.units(level)
    people = plan.people_by_unit(level)
    rows = []
    for k in np.flatnonzero(np.round(after - before) != 0):
        rows.append(
            {
                "pcode": str(units["pcode"].iloc[k]),
                "name": str(units["name"].iloc[k]),
                "parent_pcode": _text(units["parent_pcode"].iloc[k]),
                "population": round(float(people[k])),
                "within_before": round(float(before[k])),
                "within_after": round(float(after[k])),
                "change": round(float(after[k]) - float(before[k])),
            }
        )
    rows.sort(key=lambda r: (-abs(r["change"]), r["name"]))
    return rows


def _text(value) -> str | None:
    if value is None or isinstance(value, list | tuple | np.ndarray):
        return None if value is None else ", ".join(str(v) for v in value) or None
    return None if pd.isna(value) else str(value)


def _links(value) -> list[dict]:
    """Source references as (href or None, short text): web links shown by host name."""
    items = [] if value is None else [value] if isinstance(value, str) else list(value)
    out = []
    for item in items:
        text = str(item)
        if text.startswith(("https://", "http://")):
            host = urlsplit(text).hostname or text
            out.append({"href": text, "text": host.removeprefix("www.")})
        elif text:
            out.append({"href": None, "text": text})
    return out


# ----------------------------------------------------------------------------- JSON


@router.get("/api/v1/whatif", tags=["planning"])
def what_if(
    request: Request,
    lay: Annotated[Layers, Depends(built_layers)],
    service: str = "one_stop_centre",
    mode: str = "car",
    scenario: str = "baseline",
    threshold_min: Annotated[float, Query(ge=1, le=1440)] = 120,
    level: str = "adm2",
    add: Annotated[str | None, Query(max_length=60, description="lon,lat")] = None,
    remove: Annotated[str | None, Query(max_length=100, description="provider id")] = None,
    lang: Annotated[str | None, Query(max_length=5)] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> dict:
    """People within the threshold before and after one added centre or one removed provider.

    Give ``add=lon,lat`` (degrees, longitude first, inside Mali) or ``remove=<id>`` (a
    public provider offering ``service``).  Per unit of ``level``, only the units whose
    figure changes; national totals in ``meta``.
    """
    started = time.perf_counter()
    _choice(request, "service", service, SERVICE_KEYS)
    _choice(request, "mode", mode, lay.modes)
    _choice(request, "scenario", scenario, lay.scenarios)
    _choice(request, "level", level, LEVELS)
    threshold_min = _threshold(request, threshold_min)
    if (add is None) == (remove is None):
        raise _fail(request, 422, "err_add_or_remove", parameter="add")
    plan = planner(request)
    try:
        before = plan.surface(service, mode, scenario)
    except DataFileError as exc:
        raise _fail(request, 503, "err_not_built") from exc
    providers = lay.providers
    offering = providers_offering(providers, service)
    if remove is not None:
        ids = providers["id"].astype(str).to_numpy()
        hit = np.flatnonzero((ids == remove) & public_mask(providers) & offering)
        if len(hit) == 0:
            allowed = sorted(ids[public_mask(providers) & offering])
            raise _fail(
                request,
                422,
                "err_remove",
                parameter="remove",
                allowed=allowed,
                service=service,
                allowed_text=", ".join(allowed) or "–",
            )
        j = int(hit[0])
        cols = np.flatnonzero(offering)
        n_cells = len(before)
        matrix = lay.matrices[(mode, scenario)]
        sub = np.asarray(matrix.minutes[:n_cells][:, cols], dtype=np.float64)
        after = what_if_remove(sub, np.arange(len(cols)), int(np.flatnonzero(cols == j)[0]))
        # the built surface and the matrix agree up to float32; start from the matrix so
        # that a removal can only lower the figure
        before = sub.min(axis=1) if len(cols) else np.full(n_cells, np.inf)
        change = {"remove": remove, "name": str(providers["name"].iloc[j])}
    else:
        lon, lat = _parse_point(request, add, plan)
        where = gpd.GeoSeries(gpd.points_from_xy([lon], [lat]), crs="EPSG:4326").to_crs(METRIC_CRS)
        reach = candidate_reach(
            lay.graphs[(mode, scenario)],
            where.x.to_numpy(),
            where.y.to_numpy(),
            threshold_min=threshold_min,
        )
        if reach.nodes[0] < 0:
            raise _fail(request, 422, "err_add_unreachable", parameter="add")
        after = what_if_add(before, reach.times(0))
        change = {"add": [round(lon, 5), round(lat, 5)]}
    pop = plan.population
    total = float(pop.sum())
    nat_b = float(pop[before <= threshold_min].sum())
    nat_a = float(pop[after <= threshold_min].sum())
    rows = _unit_rows(
        plan,
        level,
        plan.within_by_unit(level, before, threshold_min),
        plan.within_by_unit(level, after, threshold_min),
    )
    return {
        "meta": {
            "service": service,
            "mode": mode,
            "scenario": scenario,
            "threshold_min": threshold_min,
            "level": level,
            **change,
            "existing_providers": int(offering.sum()),
            "population_source": plan.analysis.inputs.population_source,
            "population_total": round(total),
            "within_before": round(nat_b),
            "within_after": round(nat_a),
            "change": round(nat_a - nat_b),
            "share_before": round(nat_b / total, 4) if total else None,
            "share_after": round(nat_a / total, 4) if total else None,
            "seconds": round(time.perf_counter() - started, 2),
        },
        "units": rows,
    }


@router.get("/api/v1/site", tags=["planning"])
def site(
    request: Request,
    lay: Annotated[Layers, Depends(built_layers)],
    service: str = "one_stop_centre",
    n: Annotated[int, Query(ge=1, le=MAX_SITES)] = 3,
    threshold_min: Annotated[float, Query(ge=1, le=1440)] = 120,
    mode: str = "car",
    scenario: str = "baseline",
    lang: Annotated[str | None, Query(max_length=5)] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> dict:
    """N new centres chosen greedily among the CSRéf and hospitals (most people first).

    Each step adds the candidate whose covered, not yet covered people are most, given
    the existing providers and the sites chosen before; ``gain_population`` is that gain.
    """
    started = time.perf_counter()
    _choice(request, "service", service, SERVICE_KEYS)
    _choice(request, "mode", mode, lay.modes)
    _choice(request, "scenario", scenario, lay.scenarios)
    threshold_min = _threshold(request, threshold_min)
    plan = planner(request)
    if plan.candidates.empty:
        raise _fail(request, 503, "err_no_candidates")
    try:
        before = plan.surface(service, mode, scenario)
    except DataFileError as exc:
        raise _fail(request, 503, "err_not_built") from exc
    reach = plan.reach(lay, mode, scenario, threshold_min)
    covered = before <= threshold_min
    sites = greedy_sites(reach.covers(), plan.population, covered, n=n)
    total = float(plan.population.sum())
    rows = []
    for s in sites.itertuples():
        c = plan.candidates.iloc[int(s.candidate)]
        rows.append(
            {
                "step": int(s.step),
                "name": str(c["name"]),
                "kind": str(c["kind"]),
                "adm1_pcode": _text(c["adm1_pcode"]),
                "lon": round(float(c.geometry.x), 5),
                "lat": round(float(c.geometry.y), 5),
                "gain_population": round(float(s.gain_population)),
                "covered_population": round(float(s.covered_population)),
                "covered_share": round(float(s.covered_population) / total, 4),
            }
        )
    before_people = float(plan.population[covered].sum())
    return {
        "meta": {
            "service": service,
            "mode": mode,
            "scenario": scenario,
            "threshold_min": threshold_min,
            "existing_providers": int(providers_offering(lay.providers, service).sum()),
            "candidates": "WHO/KEMRI: " + ", ".join(SITING_FACILITY_TYPES),
            "n_candidates": len(plan.candidates),
            "population_source": plan.analysis.inputs.population_source,
            "population_total": round(total),
            "covered_before": round(before_people),
            "covered_before_share": round(before_people / total, 4) if total else None,
            "seconds": round(time.perf_counter() - started, 2),
        },
        "sites": rows,
    }


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
    out = {"population": format_people(row["population"], lang), "beyond": []}
    for t in FIGURE_THRESHOLDS_MIN:
        beyond = float(row["population"]) - float(row[f"pop_within_{t}"])
        share = row[f"share_within_{t}"]
        out["beyond"].append(
            {
                "minutes": t,
                "people": format_people(beyond, lang),
                "share": None if pd.isna(share) else format_share(1.0 - float(share), lang),
                "value": beyond,
            }
        )
    return out


def _page_options(request: Request, analysis: Analysis, lang: str) -> tuple[dict, str | None]:
    """Service, mode, scenario, level and threshold of the page's form (defaults if bad)."""
    modes = _modes(analysis)
    allowed = {
        "service": tuple(SERVICE_KEYS),
        "mode": tuple(modes),
        "scenario": tuple(_scenarios(analysis)),
        "level": LEVELS,
        "threshold_min": tuple(str(t) for t in THRESHOLDS_MIN),
    }
    chosen = {
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
                "town": _text(r.get("town")),
                "phone": _text(r.get("phone")),
                "opening_hours": _text(r.get("opening_hours")),
                "precision": _text(precision),
                "approximate": precision not in ("exact", "facility"),
                "sources": _links(r.get("source")),
                "source_date": _text(r.get("source_date")),
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
    figures = []  # per mode: the One-Stop Centre and each service
    for mode in modes:
        services = []
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
    if found is None or found[0] != pcode:
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


# one router for the app: the JSON endpoints and the pages
router.include_router(pages_router)
