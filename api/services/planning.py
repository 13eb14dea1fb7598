"""Siting what-ifs over HTTP: ``GET /api/v1/site`` and ``GET /api/v1/whatif``.

- ``/api/v1/site``: greedy choice of N new centres among the candidate sites (the CSRéf
  and hospitals of the WHO/KEMRI list), as ``orienter site`` does;
- ``/api/v1/whatif``: people within the threshold before and after adding one centre
  (``add=lon,lat``) or removing one public provider (``remove=id``), per admin unit, as
  ``orienter site --add/--remove`` does, in about a second and without a rebuild.

What loads once (the shared :class:`api.services.analysis.Analysis`: population on the grid, unit
pieces, surfaces; the candidate sites and their bounded reach) is kept in the app state
on first use, never at import.  The what-if works on the built graph (providers
attached) and the built ``surfaces/all`` surface, the very arrays the coverage figures
come from, so "before" equals the coverage tables.

Privacy: no query coordinate, place name or provider id is ever logged nor repeated in
an error.  A confidential provider cannot be removed in a what-if (the answer would
locate it); an unknown id and a confidential id get the same answer.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request

from api.build.layers import Layers, NotBuiltError, token_is_valid
from api.build.pipeline import SERVICE_KEYS
from api.datasets import find_dataset
from api.services.analysis import Analysis
from api.settings import Settings
from geo.crs import METRIC_CRS
from geo.errors import DataFileError
from geo.facilities import read_who_facilities
from geo.nearest import providers_offering
from geo.siting import CandidateReach, candidate_reach, greedy_sites, what_if_add
from web.i18n import choose_lang, translate

__all__ = [
    "LEVELS",
    "THRESHOLDS_MIN",
    "Planner",
    "plain_text",
    "planner",
    "router",
    "shared_analysis",
]

router = APIRouter()

#: Thresholds a planner may choose, minutes (those of the coverage tables).
THRESHOLDS_MIN: tuple[int, ...] = (30, 60, 120, 300)
LEVELS: tuple[str, ...] = ("adm1", "adm2", "adm3")
#: Facility types of the WHO/KEMRI list offered as candidate sites (as `orienter site`).
SITING_FACILITY_TYPES = ("csref", "hospital", "regional_hospital", "university_hospital")
MAX_SITES = 10
NOTE = (
    "people within the threshold count public providers only, unless includes_confidential "
    "(answers to a caseworker token); existing_providers counts public providers only"
)


# ----------------------------------------------------------------------------- state


@dataclass(eq=False)
class Planner:
    """What the siting endpoints add to the shared :class:`api.services.analysis.Analysis`.

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

    def surface(
        self, service: str, mode: str, scenario: str, *, caseworker: bool = False
    ) -> np.ndarray:
        """Minutes per active cell to the nearest provider of ``service``: public providers,
        or every provider for a caseworker."""
        minutes, _ = self.analysis.surface(service, mode, scenario, caseworker=caseworker)
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
    """An error in the API's one shape (``api.http.errors``), with a planning message."""
    detail: dict = {
        "code": key.removeprefix("err_"),
        "message": _t(request, key, **values),
        "parameter": parameter,
    }
    if allowed is not None:
        detail["allowed"] = allowed
    return HTTPException(status, detail)


#: Services whose providers are all confidential: planning answers about them would let
#: a caller who probes many points learn where those providers are not, hence where they are.
CONFIDENTIAL_SERVICES = ("shelter",)


def _is_caseworker(request: Request, authorization: str | None) -> bool:
    """True when a valid caseworker token comes with the request."""
    token = authorization[7:] if authorization and authorization.startswith("Bearer ") else None
    return token_is_valid(token, request.app.state.settings.caseworker_token_hashes)


def _guard_confidential_service(request: Request, service: str, authorization: str | None) -> None:
    """403 unless a caseworker token comes with a planning question about shelters."""
    if service in CONFIDENTIAL_SERVICES and not _is_caseworker(request, authorization):
        raise _fail(request, 403, "err_confidential_service", parameter="service")


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
    rows: list[dict[str, Any]] = []
    for k in np.flatnonzero(np.round(after - before) != 0):
        rows.append(
            {
                "pcode": str(units["pcode"].iloc[k]),
                "name": str(units["name"].iloc[k]),
                "parent_pcode": plain_text(units["parent_pcode"].iloc[k]),
                "population": round(float(people[k])),
                "within_before": round(float(before[k])),
                "within_after": round(float(after[k])),
                "change": round(float(after[k]) - float(before[k])),
            }
        )
    rows.sort(key=lambda r: (-abs(r["change"]), r["name"]))
    return rows


def plain_text(value: object) -> str | None:
    """A directory or table value as display text; None when missing (lists joined)."""
    if value is None or isinstance(value, list | tuple | np.ndarray):
        return None if value is None else ", ".join(str(v) for v in value) or None
    return None if pd.isna(value) else str(value)


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
    authorization: Annotated[str | None, Header()] = None,
) -> dict:
    """People within the threshold before and after one added centre or one removed provider.

    Give ``add=lon,lat`` (degrees, longitude first, inside Mali) or ``remove=<id>`` (a
    public provider offering ``service``).  Per unit of ``level``, only the units whose
    figure changes; national totals in ``meta``.
    """
    started = time.perf_counter()
    _choice(request, "service", service, SERVICE_KEYS)
    _guard_confidential_service(request, service, authorization)
    _choice(request, "mode", mode, lay.modes)
    _choice(request, "scenario", scenario, lay.scenarios)
    _choice(request, "level", level, LEVELS)
    threshold_min = _threshold(request, threshold_min)
    if (add is None) == (remove is None):
        raise _fail(request, 422, "err_add_or_remove", parameter="add")
    plan = planner(request)
    caseworker = _is_caseworker(request, authorization)
    try:
        before = plan.surface(service, mode, scenario, caseworker=caseworker)
    except DataFileError as exc:
        raise _fail(request, 503, "err_not_built") from exc
    providers = lay.providers  # public providers only
    offering = providers_offering(providers, service)
    if remove is not None:
        ids = providers["id"].astype(str).to_numpy()
        hit = np.flatnonzero((ids == remove) & offering)
        if len(hit) == 0:
            allowed = sorted(ids[offering])
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
        layer = lay.layers[(mode, scenario)]
        without = layer.surface_without(service, j, caseworker=caseworker)
        after = np.asarray(without[: len(before)], dtype=np.float64)
        change: dict[str, Any] = {"remove": remove, "name": str(providers["name"].iloc[j])}
    else:
        lon, lat = _parse_point(request, str(add), plan)
        where = gpd.GeoSeries(gpd.points_from_xy([lon], [lat]), crs="EPSG:4326").to_crs(METRIC_CRS)
        reach = candidate_reach(
            lay.graphs[(mode, scenario)],
            where.x.to_numpy(),
            where.y.to_numpy(),
            threshold_min=threshold_min,
        )
        if not reach.entered[0]:
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
            # public ones only: a count would tell that confidential ones exist
            "existing_providers": int(offering.sum()),
            "includes_confidential": caseworker,
            "note": NOTE,
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
    authorization: Annotated[str | None, Header()] = None,
) -> dict:
    """N new centres chosen greedily among the CSRéf and hospitals (most people first).

    Each step adds the candidate whose covered, not yet covered people are most, given
    the existing providers and the sites chosen before; ``gain_population`` is that gain.
    """
    started = time.perf_counter()
    _choice(request, "service", service, SERVICE_KEYS)
    _guard_confidential_service(request, service, authorization)
    _choice(request, "mode", mode, lay.modes)
    _choice(request, "scenario", scenario, lay.scenarios)
    threshold_min = _threshold(request, threshold_min)
    plan = planner(request)
    if plan.candidates.empty:
        raise _fail(request, 503, "err_no_candidates")
    caseworker = _is_caseworker(request, authorization)
    try:
        before = plan.surface(service, mode, scenario, caseworker=caseworker)
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
                "adm1_pcode": plain_text(c["adm1_pcode"]),
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
            "includes_confidential": caseworker,
            "note": NOTE,
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
