"""Planning: what if one centre were added or one provider removed, and where N new
centres would help most.  One implementation behind ``orienter site``, ``GET
/api/v1/whatif``, ``GET /api/v1/site`` and the ``/planifier`` page.

- :func:`what_if`: people within the threshold before and after adding one centre
  (``add=(lon, lat)``) or removing one public provider (``remove=id``), nationally and
  per admin unit (the units whose figure changes), in about a second, without a rebuild;
- :func:`site`: greedy choice of N new centres among candidate sites (by default the
  CSRéf and hospitals of the WHO/KEMRI list), each with the people it brings within the
  threshold given the providers that exist and the sites chosen before;
- :func:`facility_surface`: minutes to the nearest WHO/KEMRI health facility, for
  ``orienter coverage --providers who-kemri``.

"Before" is the built public surface (the one the coverage tables come from), so it
equals the coverage figures; a caseworker's "before" counts every provider
(``surfaces/all``) and the answer says so (``meta.includes_confidential``).  The added
centre and the candidates are bounded runs on the built graph of the (mode, scenario),
each entering the graph as a provider does; a removed provider's places fall to their
second-nearest label.  These are the calls into the travel-time engine for planning:
:func:`geo.siting.candidate_reach`, :func:`geo.siting.what_if_add`,
:meth:`geo.layers.Layer.surface_without`, :func:`geo.siting.greedy_sites` and, for the
WHO/KEMRI facilities, :func:`geo.labels.nearest_labels`.

Privacy: no coordinate, place name or provider id is ever logged nor repeated in an
error.  Planning for a service whose providers are all confidential needs a caseworker
(:func:`check_audience`); a confidential provider cannot be removed in a what-if (the
answer would locate it), and an unknown id and a confidential id get the same answer.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from api.build.layers import Layers
from api.datasets import find_dataset
from api.errors import RequestError
from api.services.analysis import Analysis, CoverageResult
from api.services.audience import Audience
from api.services.picks import Pick
from api.settings import Settings
from geo.crs import METRIC_CRS
from geo.errors import DataFileError
from geo.facilities import read_who_facilities
from geo.labels import labels_surface, nearest_labels
from geo.nearest import providers_offering
from geo.providers import public_mask
from geo.settlements import read_settlements
from geo.siting import CandidateReach, candidate_reach, greedy_sites, what_if_add
from geo.store import load_graph

__all__ = [
    "CONFIDENTIAL_SERVICES",
    "NOTE",
    "SITING_FACILITY_TYPES",
    "CandidateSites",
    "FacilitySurface",
    "Planner",
    "check_audience",
    "check_point",
    "facility_candidates",
    "facility_coverage",
    "facility_surface",
    "file_candidates",
    "parse_point",
    "plain_text",
    "public_offering",
    "settlement_candidates",
    "site",
    "what_if",
]

#: Facility types of the WHO/KEMRI list offered as candidate sites.
SITING_FACILITY_TYPES = ("csref", "hospital", "regional_hospital", "university_hospital")
#: Services whose providers are all confidential: planning answers about them would let
#: a caller who probes many points learn where those providers are not, hence where they are.
CONFIDENTIAL_SERVICES = ("shelter",)
#: Candidate reach tables kept (each 0.1-0.4 GB for the 1 km grid and 2 h by car).
REACH_CACHE = 2

NOTE = (
    "people within the threshold count public providers only, unless includes_confidential "
    "(answers to a caseworker token); existing_providers counts public providers only"
)


def plain_text(value: object) -> str | None:
    """A directory or table value as display text; None when missing (lists joined)."""
    if value is None or isinstance(value, list | tuple | np.ndarray):
        return None if value is None else ", ".join(str(v) for v in value) or None
    return None if pd.isna(value) else str(value)  # type: ignore[call-overload]


# ----------------------------------------------------------------------------- state


@dataclass(frozen=True)
class CandidateSites:
    """Candidate sites (``name``, ``kind``, ``adm1_pcode``, points in EPSG:4326) and what
    they are, in words (``meta["candidates"]`` of a siting answer)."""

    sites: gpd.GeoDataFrame
    description: str

    @classmethod
    def none(cls) -> CandidateSites:
        """No candidate site (a planner for what-ifs only)."""
        empty = gpd.GeoDataFrame(
            {"name": [], "kind": [], "adm1_pcode": []}, geometry=[], crs="EPSG:4326"
        )
        return cls(empty, "none")


@dataclass(eq=False)
class Planner:
    """What planning adds to an :class:`api.services.analysis.Analysis`: the candidate
    sites and their bounded reach per (mode, scenario, threshold), computed once each.

    The grid, population, admin pieces and surfaces are the analysis's own, so "before"
    figures equal the coverage tables.  Safe to share between threads.
    """

    analysis: Analysis
    candidates: CandidateSites
    _reach: OrderedDict[tuple[str, str, float], CandidateReach] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def population(self) -> np.ndarray:
        """People per active grid cell."""
        return self.analysis.inputs.population

    def surface(
        self, service: str, mode: str, scenario: str, *, caseworker: bool = False
    ) -> np.ndarray:
        """Minutes per active cell to the nearest provider of ``service``: public providers,
        or every provider for a caseworker."""
        try:
            minutes, _ = self.analysis.surface(service, mode, scenario, caseworker=caseworker)
        except DataFileError as exc:
            raise RequestError(503, "not_built") from exc
        return np.asarray(minutes, dtype=np.float64)

    def reach(
        self, layers: Layers, mode: str, scenario: str, threshold_min: float
    ) -> CandidateReach:
        """The candidates' bounded reach on the built graph, kept for the
        :data:`REACH_CACHE` (mode, scenario, threshold) combinations used last."""
        key = (mode, scenario, float(threshold_min))
        with self._lock:  # one computation at a time; the others wait and reuse it
            found = self._reach.get(key)
            if found is None:
                metric = self.candidates.sites.to_crs(METRIC_CRS)
                found = candidate_reach(
                    layers.graphs[(mode, scenario)],
                    metric.geometry.x.to_numpy(),
                    metric.geometry.y.to_numpy(),
                    threshold_min=threshold_min,
                )
                self._reach[key] = found
                while len(self._reach) > REACH_CACHE:
                    self._reach.popitem(last=False)
            self._reach.move_to_end(key)
        return found

    def cache_state(self) -> dict[str, Any]:
        """What the planner keeps: reach tables and their bytes (``/api/v1/health``)."""
        with self._lock:
            nbytes = sum(
                r.minutes.data.nbytes + r.minutes.indices.nbytes + r.minutes.indptr.nbytes
                for r in self._reach.values()
            )
            return {"reach": len(self._reach), "reach_limit": REACH_CACHE, "bytes": nbytes}

    def within_by_unit(self, level: str, minutes: np.ndarray, threshold_min: float) -> np.ndarray:
        """People within ``threshold_min`` per unit of ``level`` (rows of its units)."""
        p = self.analysis.pieces(level)
        inside = minutes[p.cell] <= threshold_min
        n = len(self.analysis.units(level))
        return np.bincount(p.unit, weights=p.population * inside, minlength=n)

    def people_by_unit(self, level: str) -> np.ndarray:
        """People per unit of ``level``."""
        p = self.analysis.pieces(level)
        return np.bincount(p.unit, weights=p.population, minlength=len(self.analysis.units(level)))

    def in_mali(self, lon: float, lat: float) -> bool:
        """True when the point lies inside the country outline."""
        where = gpd.GeoSeries(gpd.points_from_xy([lon], [lat]), crs="EPSG:4326")
        return bool(self.analysis.inputs.country.contains(where.to_crs(METRIC_CRS).iloc[0]))


def facility_candidates(settings: Settings, adm1: gpd.GeoDataFrame | None) -> CandidateSites:
    """The CSRéf and hospitals of the WHO/KEMRI list (public health facilities), with the
    région holding each (``adm1``: the région boundaries, when known)."""
    description = "WHO/KEMRI: " + ", ".join(SITING_FACILITY_TYPES)
    path = find_dataset(settings, "facilities_who")
    if path is None:
        return CandidateSites(CandidateSites.none().sites, description)
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
    return CandidateSites(out, description)


def settlement_candidates(settings: Settings) -> CandidateSites:
    """Every settlement of the gazetteer as a candidate site (``kind``: its place class)."""
    path = find_dataset(settings, "settlements")
    if path is None:
        raise DataFileError(f"no settlements under {settings.data_dir / 'settlements'}")
    places = read_settlements(path)
    out = places[["name", "place_class", "geometry"]].rename(columns={"place_class": "kind"})
    out = out.assign(kind="settlement class " + out["kind"].astype(str), adm1_pcode=None)
    return CandidateSites(out.reset_index(drop=True), "settlements")


def file_candidates(path: Path) -> CandidateSites:
    """Candidate sites from a GeoJSON/GeoPackage of points or a CSV with lon and lat
    columns (``name`` when there is one); :class:`DataFileError` naming the file."""
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".csv":
            df = pd.read_csv(path)
            cols = {c.lower(): c for c in df.columns}
            lon = cols.get("lon") or cols.get("longitude") or cols.get("long")
            lat = cols.get("lat") or cols.get("latitude")
            if lon is None or lat is None:
                raise DataFileError(f"{path}: needs lon and lat columns, has {list(df.columns)}")
            layer = gpd.GeoDataFrame(
                df, geometry=gpd.points_from_xy(df[lon], df[lat]), crs="EPSG:4326"
            )
        else:
            layer = gpd.read_file(path).to_crs("EPSG:4326")
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(f"{path}: cannot be read ({exc})") from exc
    if not (layer.geom_type == "Point").all():
        raise DataFileError(f"{path}: every candidate must be a point")
    name = (
        layer["name"].astype(str)
        if "name" in layer
        else pd.Series([f"site {i + 1}" for i in range(len(layer))], index=layer.index)
    )
    sites = gpd.GeoDataFrame(
        {"name": name.to_numpy(), "kind": "user file", "adm1_pcode": None},
        geometry=layer.geometry.values,
        crs=4326,
    )
    return CandidateSites(sites, path.name)


# ----------------------------------------------------------------------------- checks


def check_audience(service: str, audience: Audience) -> None:
    """403 unless a caseworker asks a planning question about a confidential service."""
    if service in CONFIDENTIAL_SERVICES and audience is not Audience.caseworker:
        raise RequestError(403, "confidential_service", parameter="service")


def parse_point(text: str, plan: Planner, *, parameter: str = "add") -> tuple[float, float]:
    """``"lon,lat"`` (degrees, longitude first) of a point inside Mali."""
    try:
        lon, lat = (float(v) for v in text.split(","))
        if not (np.isfinite(lon) and np.isfinite(lat)):
            raise ValueError
    except ValueError:
        raise RequestError(422, "add_format", parameter=parameter) from None
    return check_point(plan, lon, lat, parameter=parameter)


def check_point(
    plan: Planner, lon: float, lat: float, *, parameter: str = "add"
) -> tuple[float, float]:
    """(lon, lat) when the point lies inside Mali; a :class:`RequestError` saying whether
    it is outside, or looks swapped (lat, lon), otherwise."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90) or not plan.in_mali(lon, lat):
        swapped = -180 <= lat <= 180 and -90 <= lon <= 90 and plan.in_mali(lat, lon)
        raise RequestError(422, "add_swapped" if swapped else "add_outside", parameter=parameter)
    return lon, lat


# ----------------------------------------------------------------------------- what-if


def _unit_rows(plan: Planner, level: str, before: np.ndarray, after: np.ndarray) -> list[dict]:
    """The units whose people within the threshold change, biggest change first."""
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


def public_offering(providers: pd.DataFrame, service: str) -> np.ndarray:
    """The public providers offering ``service``: those counted as existing, and those a
    what-if may remove."""
    return providers_offering(providers, service) & public_mask(providers)


def _removed(
    plan: Planner,
    layers: Layers,
    service: str,
    mode: str,
    scenario: str,
    remove: str,
    caseworker: bool,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Minutes before and after removing the public provider ``remove`` of ``service``:
    where it was the nearest, its places fall to their second-nearest label (exact)."""
    providers = layers.providers  # public providers only
    ids = providers["id"].astype(str).to_numpy()
    hit = np.flatnonzero((ids == remove) & public_offering(providers, service))
    if len(hit) == 0:
        allowed = sorted(ids[public_offering(providers, service)])
        raise RequestError(422, "remove", parameter="remove", allowed=allowed, service=service)
    j = int(hit[0])
    before = plan.surface(service, mode, scenario, caseworker=caseworker)
    without = layers.layers[(mode, scenario)].surface_without(service, j, caseworker=caseworker)
    after = np.asarray(without[: len(before)], dtype=np.float64)
    return before, after, {"remove": remove, "name": str(providers["name"].iloc[j])}


def _added(
    plan: Planner,
    layers: Layers,
    before: np.ndarray,
    point: tuple[float, float],
    mode: str,
    scenario: str,
    threshold_min: float,
    parameter: str = "add",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Minutes after adding a centre at ``point`` (lon, lat): the cell-wise minimum of the
    surface and the centre's own bounded run (exact up to the threshold)."""
    lon, lat = point
    where = gpd.GeoSeries(gpd.points_from_xy([lon], [lat]), crs="EPSG:4326").to_crs(METRIC_CRS)
    reach = candidate_reach(
        layers.graphs[(mode, scenario)],
        where.x.to_numpy(),
        where.y.to_numpy(),
        threshold_min=threshold_min,
    )
    if not reach.entered[0]:
        graph = layers.graphs[(mode, scenario)]
        cell = graph.grid.locate_one(float(where.x.iloc[0]), float(where.y.iloc[0]))
        closed = cell >= 0 and not np.isfinite(graph.cell_pace[cell])
        code = "add_closed" if closed else "add_unreachable"
        raise RequestError(422, code, parameter=parameter)
    return what_if_add(before, reach.times(0)), {"add": [round(lon, 5), round(lat, 5)]}


def what_if(
    plan: Planner,
    layers: Layers,
    *,
    service: str,
    mode: str,
    scenario: str,
    threshold_min: float,
    level: str,
    add: tuple[float, float] | None = None,
    remove: str | None = None,
    at: Pick | None = None,
    caseworker: bool = False,
) -> dict[str, Any]:
    """People within ``threshold_min`` before and after one added centre or one removed
    public provider: national figures in ``meta``, the units of ``level`` that change in
    ``units``.  Give ``add`` (lon, lat inside Mali, see :func:`parse_point`), ``at`` (an
    existing site, :mod:`api.services.picks`: named in ``meta.picked``) or ``remove``.
    Public providers only, unless ``caseworker`` (the answer then says so)."""
    started = time.perf_counter()
    if sum(v is not None for v in (add, remove, at)) != 1:
        raise RequestError(422, "add_or_remove", parameter="add")
    parameter = "add"
    if at is not None:
        add, parameter = at.point, at.parameter
    if add is not None:
        before = plan.surface(service, mode, scenario, caseworker=caseworker)
        after, change = _added(plan, layers, before, add, mode, scenario, threshold_min, parameter)
        if at is not None:
            change["picked"] = at.meta()
    elif remove is not None:
        before, after, change = _removed(plan, layers, service, mode, scenario, remove, caseworker)
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
    providers = layers.providers
    return {
        "meta": {
            "service": service,
            "mode": mode,
            "scenario": scenario,
            "threshold_min": float(threshold_min),
            "level": level,
            **change,
            # public ones only: a count would tell that confidential ones exist
            "existing_providers": int(public_offering(providers, service).sum()),
            "includes_confidential": caseworker,
            "note": NOTE,
            "population_source": Path(plan.analysis.inputs.population_source).name,
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


# ----------------------------------------------------------------------------- siting


def site(
    plan: Planner,
    layers: Layers,
    *,
    service: str,
    mode: str,
    scenario: str,
    threshold_min: float,
    n: int,
    caseworker: bool = False,
) -> dict[str, Any]:
    """``n`` new centres chosen greedily among the planner's candidates, most people first.

    Each step adds the candidate whose covered, not yet covered people are most, given
    the existing providers (the public ones, or every one for a ``caseworker``) and the
    sites chosen before; ``gain_population`` is that gain.
    """
    started = time.perf_counter()
    candidates = plan.candidates.sites
    if candidates.empty:
        raise RequestError(503, "no_candidates")
    before = plan.surface(service, mode, scenario, caseworker=caseworker)
    reach = plan.reach(layers, mode, scenario, threshold_min)
    covered = before <= threshold_min
    chosen = greedy_sites(reach.covers(), plan.population, covered, n=n)
    total = float(plan.population.sum())
    rows = []
    for s in chosen.itertuples():
        c = candidates.iloc[int(s.candidate)]
        rows.append(
            {
                "step": int(s.step),
                "name": str(c["name"]),
                "kind": str(c["kind"]),
                "adm1_pcode": plain_text(c.get("adm1_pcode")),
                "lon": round(float(c.geometry.x), 5),
                "lat": round(float(c.geometry.y), 5),
                "gain_population": round(float(s.gain_population)),
                "covered_population": round(float(s.covered_population)),
                "covered_share": round(float(s.covered_population) / total, 4),
            }
        )
    before_people = float(plan.population[covered].sum())
    providers = layers.providers
    return {
        "meta": {
            "service": service,
            "mode": mode,
            "scenario": scenario,
            "threshold_min": float(threshold_min),
            "existing_providers": int(public_offering(providers, service).sum()),
            "includes_confidential": caseworker,
            "note": NOTE,
            "candidates": plan.candidates.description,
            "n_candidates": len(candidates),
            "population_source": Path(plan.analysis.inputs.population_source).name,
            "population_total": round(total),
            "covered_before": round(before_people),
            "covered_before_share": round(before_people / total, 4) if total else None,
            "seconds": round(time.perf_counter() - started, 2),
        },
        "sites": rows,
    }


# ----------------------------------------------------------------------------- WHO/KEMRI


@dataclass(frozen=True)
class FacilitySurface:
    """Minutes and allocation (row of ``facilities``, float) per active cell to the nearest
    WHO/KEMRI health facility; the facilities on the grid, how many lie outside it, and
    the file they come from."""

    minutes: np.ndarray
    allocation: np.ndarray
    facilities: gpd.GeoDataFrame
    outside: int
    source: Path


def facility_surface(settings: Settings, mode: str, scenario: str) -> FacilitySurface:
    """Minutes to the nearest WHO/KEMRI health facility: one labelled multi-source run on
    the built graph of (``mode``, ``scenario``), each facility entering as a provider does."""
    path = find_dataset(settings, "facilities_who")
    if path is None:
        raise DataFileError(f"no WHO/KEMRI facility list under {settings.data_dir / 'facilities'}")
    graph_path = settings.build_dir / "graphs" / f"{mode}-{scenario}"
    if not (graph_path / "meta.json").is_file():
        raise DataFileError(f"{graph_path} is not built; run `orienter build --mode {mode}`")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fac = read_who_facilities(path)
    fac = fac.rename(columns={"facility_id": "id"})
    metric = fac.to_crs(METRIC_CRS)
    graph = load_graph(graph_path)
    x, y = metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy()
    inside = graph.grid.locate(x, y) >= 0
    minutes, nearest = labels_surface(nearest_labels(graph, x[inside], y[inside], k=1))
    cells = graph.n_cells
    return FacilitySurface(
        np.asarray(minutes[:cells], dtype=np.float64),
        nearest[:cells].astype(float),
        fac[inside].reset_index(drop=True),
        int((~inside).sum()),
        path,
    )


def facility_coverage(
    analysis: Analysis,
    surface: FacilitySurface,
    *,
    level: str,
    mode: str,
    scenario: str,
    threshold_min: float | None,
) -> CoverageResult:
    """Coverage by every WHO/KEMRI facility of ``surface`` (:func:`facility_surface`);
    ranked by the people beyond ``threshold_min`` when it is given."""
    return analysis.surface_coverage(
        level,
        surface.minutes,
        surface.allocation,
        surface.facilities,
        label="health_facility (WHO/KEMRI)",
        mode=mode,
        scenario=scenario,
        threshold_min=threshold_min,
    )
