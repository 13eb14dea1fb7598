"""Coverage: how many people live within a travel time of a service, per admin unit.

Split as spopt does, "geometry -> arrays" then "arrays -> statistics", so the arithmetic
is tested on a 3x4 array:

- geometry: :func:`assign_cells` turns grid cells and boundary polygons into *pieces*
  (a cell, its unit, its people); :func:`provider_units` says which unit holds each
  provider; :func:`service_deserts` draws the areas beyond a threshold;
- arithmetic: :func:`coverage_table` (population within each threshold, weighted median
  and 90th percentile of the time, main provider), :func:`underserved` (rankings),
  :func:`capacity_coverage` (providers with a capacity fill up in travel-time order);
- demand points (settlements, :mod:`geo.demand`): :func:`point_coverage_table` reads
  each point's time from the cell holding it and counts it in the unit holding it;
- export: :func:`to_hxl` (CSV with an HXL hashtag row) and :func:`coverage_layer`
  (GeoDataFrame for GeoJSON / GeoPackage).

Times are minutes; ``inf`` means no provider can be reached.  Population is people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio import features
from scipy import ndimage

from geo.crs import GEOGRAPHIC_CRS, check_same_crs
from geo.demand import PointAssignment
from geo.grid import Grid

__all__ = [
    "DEFAULT_THRESHOLDS_MIN",
    "CapacityResult",
    "CellAssignment",
    "assign_cells",
    "capacity_coverage",
    "coverage_layer",
    "coverage_table",
    "point_coverage_table",
    "provider_units",
    "service_deserts",
    "to_hxl",
    "underserved",
    "weighted_quantile",
]

DEFAULT_THRESHOLDS_MIN: tuple[int, ...] = (30, 60, 120, 300)


# ----------------------------------------------------------------------------- validation


def _as_1d(values: object, name: str, *, dtype: type | str = float) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 1-D numeric array, got {type(values).__name__}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}; flatten it (.ravel())")
    return arr


def _check_thresholds(thresholds_min: Sequence[float]) -> list[float]:
    values = [float(t) for t in thresholds_min]
    if not values or any(not np.isfinite(t) or t <= 0 for t in values):
        raise ValueError(
            f"thresholds_min must be positive finite minutes, got {tuple(thresholds_min)!r}"
        )
    if len(set(values)) != len(values):
        raise ValueError(f"thresholds_min has duplicates: {tuple(thresholds_min)!r}")
    return sorted(values)


def _tag(t: float) -> str:
    return f"{t:g}".replace(".", "_")


# ----------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class CellAssignment:
    """Grid cells cut into pieces that each belong to one admin unit.

    Attributes
    ----------
    cell
        Node index of the grid cell of each piece (int64).
    unit
        Row of the boundary layer holding the piece (int64, always >= 0).
    population
        People in the piece.
    rule
        Per piece: ``"centre"`` (the cell centre lies in the unit), ``"nearest"`` (a
        populated cell whose centre lies in no unit, given to the nearest unit) or
        ``"inner point"`` (a unit holding no cell centre, see :func:`assign_cells`).
    """

    cell: np.ndarray
    unit: np.ndarray
    population: np.ndarray
    rule: np.ndarray


def assign_cells(grid: Grid, units: gpd.GeoDataFrame, population: np.ndarray) -> CellAssignment:
    """Give every populated grid cell to one admin unit, and every unit at least one piece.

    Rules, in order:

    1. a cell belongs to the unit holding its centre (rasterisation, no overlap);
    2. a populated cell whose centre lies in no unit (slivers between the country
       outline and the unit layer) goes to the nearest unit;
    3. a unit that holds no cell centre (smaller than a cell, or thin) takes the cell
       holding its inner point (``representative_point``): it gets that cell's travel
       time and a share of its people equal to the unit's share of the cell area; the
       unit that owned the cell keeps the rest.  The population total is unchanged.

    Parameters
    ----------
    grid
        The travel-time grid.
    units
        Boundary layer (``pcode``, ``name``, geometry) in any CRS; reprojected to the
        grid's.
    population
        People per active cell, node order (:func:`geo.demand.population_on_grid`).

    Returns
    -------
    CellAssignment
        Pieces; the sum of ``population`` equals the sum of the input.
    """
    if not isinstance(units, gpd.GeoDataFrame):
        raise TypeError(f"units must be a GeoDataFrame, got {type(units).__name__}")
    if units.crs is None:
        raise ValueError("units has no CRS; set it (boundaries are EPSG:4326)")
    pop = _as_1d(population, "population")
    if len(pop) != grid.n_cells:
        raise ValueError(
            f"population has {len(pop)} values but the grid has {grid.n_cells} active cells"
        )
    metric = units.to_crs(grid.crs).reset_index(drop=True)
    label = (
        features.rasterize(
            ((g, i + 1) for i, g in enumerate(metric.geometry)),
            out_shape=(grid.nrows, grid.ncols),
            transform=grid.transform,
            fill=0,
            dtype="int32",
        )[grid.active].astype(np.int64)
        - 1
    )
    cells = np.arange(grid.n_cells)
    rule = np.full(grid.n_cells, "centre", dtype=object)
    orphan = (label < 0) & (pop > 0)
    if orphan.any():
        cx, cy = grid.cell_centres()
        pts = gpd.GeoDataFrame(
            geometry=shapely.points(cx[orphan], cy[orphan]), crs=grid.crs
        ).reset_index(drop=True)
        near = gpd.sjoin_nearest(pts, metric[["geometry"]], how="left")
        near = near[~near.index.duplicated(keep="first")]
        label[orphan] = near["index_right"].to_numpy(dtype=np.int64)
        rule[orphan] = "nearest"
    keep = label >= 0
    cell, unit, people, rules = cells[keep], label[keep], pop[keep].copy(), rule[keep]
    missing = np.setdiff1d(np.arange(len(metric)), unit)
    if len(missing):
        inner = metric.geometry.iloc[missing].representative_point()
        host = grid.locate(inner.x.to_numpy(), inner.y.to_numpy())
        cell_km2 = grid.cell_m**2
        extra_cell, extra_unit, extra_pop = [], [], []
        for u, c in zip(missing, host, strict=True):
            if c < 0:
                continue  # a unit outside the grid: reported with zero people
            share = min(1.0, float(metric.geometry.iloc[u].area) / cell_km2)
            pos = np.flatnonzero(cell == c)
            taken = 0.0
            if len(pos):
                taken = people[pos[0]] * share
                people[pos[0]] -= taken
            extra_cell.append(c)
            extra_unit.append(u)
            extra_pop.append(taken)
        cell = np.concatenate([cell, np.asarray(extra_cell, dtype=np.int64)])
        unit = np.concatenate([unit, np.asarray(extra_unit, dtype=np.int64)])
        people = np.concatenate([people, np.asarray(extra_pop, dtype=float)])
        rules = np.concatenate([rules, np.full(len(extra_cell), "inner point", dtype=object)])
    return CellAssignment(cell=cell, unit=unit, population=people, rule=rules)


def provider_units(providers: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> np.ndarray:
    """Row of ``units`` holding each provider point (-1 when none), aligned with ``providers``."""
    check_same_crs(providers, units, what="provider_units")
    pts = gpd.GeoDataFrame(geometry=providers.geometry.values, crs=providers.crs)
    joined = gpd.sjoin(
        pts, units[["geometry"]].reset_index(drop=True), how="left", predicate="within"
    )
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["index_right"].fillna(-1).to_numpy(dtype=np.int64)


# ----------------------------------------------------------------------------- arithmetic


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Smallest value below or at which at least ``q`` of the weight lies.

    ``inf`` values count (people who cannot reach): the result is ``inf`` when more than
    ``1 - q`` of the weight is unreachable; NaN when the weights sum to 0.

    Examples
    --------
    >>> weighted_quantile(np.array([10.0, 20.0, np.inf]), np.array([1.0, 1.0, 1.0]), 0.5)
    20.0
    """
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], got {q!r}")
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    if total <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(w[order])
    k = int(np.searchsorted(cum, q * total * (1 - 1e-12)))
    return float(np.asarray(values)[order][min(k, len(order) - 1)])


def coverage_table(
    minutes_per_cell: np.ndarray,
    population_per_cell: np.ndarray,
    unit_label_per_cell: np.ndarray,
    units: pd.DataFrame,
    *,
    thresholds_min: Sequence[float] = DEFAULT_THRESHOLDS_MIN,
    allocation_per_cell: np.ndarray | None = None,
    provider_ids: Sequence[str] | None = None,
    provider_unit: np.ndarray | None = None,
) -> pd.DataFrame:
    """Population within each travel time, per admin unit.

    The three arrays are aligned (one entry per cell, or per piece of
    :func:`assign_cells`); a flat 3x4 array works.

    Parameters
    ----------
    minutes_per_cell
        Minutes to the nearest provider; ``inf`` or NaN = unreachable.
    population_per_cell
        People (>= 0).
    unit_label_per_cell
        Row of ``units`` each cell belongs to; -1 = none (its people are not counted).
    units
        ``pcode`` and ``name`` columns; one output row per row, in the same order.
    thresholds_min
        Minutes; one ``pop_within_<t>`` and ``share_within_<t>`` column each.
    allocation_per_cell
        Column of the nearest provider per cell (-1 none); with ``provider_ids`` gives
        ``nearest_provider_id``: the provider serving most of the unit's people.
    provider_ids
        Provider id per column.
    provider_unit
        Row of ``units`` holding each provider (-1 none): gives ``n_providers``.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``units``: ``pcode``, ``name``, ``population``,
        ``pop_within_<t>``, ``share_within_<t>`` (0-1, NaN for an empty unit),
        ``median_time_min`` and ``p90_time_min`` (population-weighted; ``inf`` when more
        than half, resp. 10 %, of the people cannot reach any provider; NaN for an empty
        unit), then ``nearest_provider_id`` and ``n_providers`` when asked.
    """
    minutes = _as_1d(minutes_per_cell, "minutes_per_cell")
    pop = _as_1d(population_per_cell, "population_per_cell")
    label = _as_1d(unit_label_per_cell, "unit_label_per_cell", dtype=np.int64)
    if not (len(minutes) == len(pop) == len(label)):
        raise ValueError(
            "minutes_per_cell, population_per_cell and unit_label_per_cell must have the "
            f"same length, got {len(minutes)}, {len(pop)}, {len(label)}"
        )
    if not isinstance(units, pd.DataFrame) or not {"pcode", "name"} <= set(units.columns):
        raise TypeError("units must be a DataFrame with 'pcode' and 'name' columns")
    if (~np.isfinite(pop)).any() or (pop < 0).any():
        raise ValueError("population_per_cell must be finite and >= 0; replace NaN with 0")
    n = len(units)
    if (label >= n).any() or (label < -1).any():
        raise ValueError(
            f"unit_label_per_cell holds labels outside -1..{n - 1}: "
            f"{np.unique(label[(label >= n) | (label < -1)])[:5].tolist()}"
        )
    thresholds = _check_thresholds(thresholds_min)
    minutes = np.where(np.isnan(minutes), np.inf, minutes)
    keep = label >= 0
    minutes, pop, label = minutes[keep], pop[keep], label[keep]
    total = np.bincount(label, weights=pop, minlength=n)
    out = pd.DataFrame(
        {
            "pcode": units["pcode"].astype(str).to_numpy(),
            "name": units["name"].astype(str).to_numpy(),
        },
        index=units.index,
    )
    out["population"] = total
    with np.errstate(invalid="ignore", divide="ignore"):
        for t in thresholds:
            within = np.bincount(label, weights=pop * (minutes <= t), minlength=n)
            out[f"pop_within_{_tag(t)}"] = within
        for t in thresholds:
            out[f"share_within_{_tag(t)}"] = np.where(
                total > 0,
                out[f"pop_within_{_tag(t)}"].to_numpy() / np.where(total > 0, total, 1),
                np.nan,
            )
    order = np.lexsort((minutes, label))
    bounds = np.searchsorted(label[order], np.arange(n + 1))
    med, p90 = np.full(n, np.nan), np.full(n, np.nan)
    for u in range(n):
        sl = order[bounds[u] : bounds[u + 1]]
        if len(sl) == 0:
            continue
        med[u] = weighted_quantile(minutes[sl], pop[sl], 0.5)
        p90[u] = weighted_quantile(minutes[sl], pop[sl], 0.9)
    out["median_time_min"] = med
    out["p90_time_min"] = p90
    if allocation_per_cell is not None:
        if provider_ids is None:
            raise ValueError("allocation_per_cell needs provider_ids (one id per column)")
        alloc = _as_1d(allocation_per_cell, "allocation_per_cell", dtype=np.int64)
        if len(alloc) != len(keep):
            raise ValueError(f"allocation_per_cell has {len(alloc)} values, expected {len(keep)}")
        alloc = alloc[keep]
        ids = np.asarray(list(provider_ids), dtype=object)
        frame = pd.DataFrame({"unit": label, "col": alloc, "pop": pop})
        frame = frame[(frame["col"] >= 0) & (frame["pop"] > 0)]
        best = frame.groupby(["unit", "col"], sort=True)["pop"].sum().reset_index()
        best = best.sort_values(["unit", "pop", "col"], ascending=[True, False, True])
        best = best.drop_duplicates("unit")
        nearest = np.full(n, None, dtype=object)
        nearest[best["unit"].to_numpy()] = ids[best["col"].to_numpy()]
        out["nearest_provider_id"] = nearest
    if provider_unit is not None:
        pu = _as_1d(provider_unit, "provider_unit", dtype=np.int64)
        out["n_providers"] = np.bincount(pu[pu >= 0], minlength=n)[:n]
    return out


def point_coverage_table(
    minutes_per_cell: np.ndarray,
    points: PointAssignment,
    units: pd.DataFrame,
    *,
    thresholds_min: Sequence[float] = DEFAULT_THRESHOLDS_MIN,
    allocation_per_cell: np.ndarray | None = None,
    provider_ids: Sequence[str] | None = None,
    provider_unit: np.ndarray | None = None,
) -> pd.DataFrame:
    """:func:`coverage_table` for demand points (:func:`geo.demand.assign_points`).

    Each point takes the minutes (and the nearest provider) of the grid cell holding it;
    a point off the active grid counts as unreachable.  Options as :func:`coverage_table`.
    """
    if not isinstance(points, PointAssignment):
        raise TypeError(
            f"points must be a PointAssignment (geo.demand.assign_points), "
            f"got {type(points).__name__}"
        )
    return coverage_table(
        points.minutes(minutes_per_cell),
        points.population,
        points.unit,
        units,
        thresholds_min=thresholds_min,
        allocation_per_cell=None
        if allocation_per_cell is None
        else points.values(np.asarray(allocation_per_cell, dtype=np.int64), fill=-1),
        provider_ids=provider_ids,
        provider_unit=provider_unit,
    )


def underserved(
    table: pd.DataFrame,
    *,
    threshold_min: float = 120,
    conflict: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Units ranked by the people beyond ``threshold_min``, with their share and conflict class.

    Parameters
    ----------
    table
        Output of :func:`coverage_table` holding ``pop_within_<threshold_min>``.
    threshold_min
        Minutes.
    conflict
        Optional per-unit conflict summary with ``pcode`` and ``max_class``
        (``build/conflict/summary_admN.csv``), joined on ``pcode``.

    Returns
    -------
    pandas.DataFrame
        ``pcode``, ``name``, ``population``, ``pop_beyond_<t>``, ``share_beyond_<t>``,
        ``rank_people`` and ``rank_share`` (1 = worst; ties share the lower rank),
        ``max_class`` (None without ``conflict``), sorted by ``rank_people``.
    """
    col = f"pop_within_{_tag(float(threshold_min))}"
    if col not in table.columns:
        have = [c for c in table.columns if c.startswith("pop_within_")]
        raise ValueError(
            f"threshold_min={threshold_min!r}: the table has no {col}; it holds {have}. "
            "Build the table with this threshold in thresholds_min."
        )
    t = _tag(float(threshold_min))
    out = table[["pcode", "name", "population"]].copy()
    out[f"pop_beyond_{t}"] = table["population"] - table[col]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[f"share_beyond_{t}"] = np.where(
            table["population"] > 0, out[f"pop_beyond_{t}"] / table["population"], np.nan
        )
    out["rank_people"] = out[f"pop_beyond_{t}"].rank(ascending=False, method="min").astype(int)
    out["rank_share"] = (
        out[f"share_beyond_{t}"].rank(ascending=False, method="min", na_option="bottom").astype(int)
    )
    out["max_class"] = None
    if conflict is not None:
        if not {"pcode", "max_class"} <= set(conflict.columns):
            raise ValueError("conflict must have 'pcode' and 'max_class' columns")
        classes = conflict.drop_duplicates("pcode").set_index(conflict["pcode"].astype(str))
        out["max_class"] = out["pcode"].astype(str).map(classes["max_class"]).astype(object)
        out["max_class"] = out["max_class"].where(out["max_class"].notna(), None)
    return out.sort_values(["rank_people", "rank_share"], kind="stable")


def service_deserts(
    minutes: np.ndarray,
    population: np.ndarray,
    grid: Grid,
    *,
    threshold_min: float,
    min_population: float = 0.0,
) -> gpd.GeoDataFrame:
    """Contiguous areas (8-connected cells) beyond ``threshold_min``, with their people.

    Parameters
    ----------
    minutes
        Minutes per active cell, node order (``inf``/NaN = unreachable, counted beyond).
    population
        People per active cell, node order.
    grid
        The travel-time grid.
    threshold_min
        Minutes; cells with a time strictly greater are in a desert.
    min_population
        Drop deserts with fewer people.

    Returns
    -------
    geopandas.GeoDataFrame
        ``desert_id``, ``population``, ``n_cells``, ``area_km2``, ``max_time_min`` (inf
        when part of it is unreachable), polygon geometry in EPSG:4326, most people first.
    """
    mins = _as_1d(minutes, "minutes")
    pop = _as_1d(population, "population")
    if len(mins) < grid.n_cells or len(pop) != grid.n_cells:
        raise ValueError(
            f"minutes ({len(mins)}) and population ({len(pop)}) must hold one value per "
            f"active cell ({grid.n_cells})"
        )
    if not threshold_min > 0:
        raise ValueError(f"threshold_min must be > 0 minutes, got {threshold_min!r}")
    mins = np.where(np.isnan(mins[: grid.n_cells]), np.inf, mins[: grid.n_cells])
    beyond = grid.to_raster(mins > threshold_min, fill=False).astype(bool)
    labels, count = ndimage.label(beyond, structure=np.ones((3, 3), dtype=int))
    empty = gpd.GeoDataFrame(
        {"desert_id": [], "population": [], "n_cells": [], "area_km2": [], "max_time_min": []},
        geometry=[],
        crs=GEOGRAPHIC_CRS,
    )
    if count == 0:
        return empty
    cell_label = labels[grid.active]
    people = np.bincount(cell_label, weights=pop, minlength=count + 1)
    n_cells = np.bincount(cell_label, minlength=count + 1)
    worst = np.zeros(count + 1)
    np.maximum.at(worst, cell_label, mins)
    geoms: dict[int, list] = {}
    for geom, value in features.shapes(
        labels.astype(np.int32), mask=labels > 0, transform=grid.transform, connectivity=8
    ):
        geoms.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    ids = np.arange(1, count + 1)
    out = gpd.GeoDataFrame(
        {
            "desert_id": ids,
            "population": people[1:],
            "n_cells": n_cells[1:],
            "area_km2": n_cells[1:] * (grid.cell_m / 1000.0) ** 2,
            "max_time_min": worst[1:],
        },
        geometry=[shapely.union_all(geoms[i]) for i in ids],
        crs=grid.crs,
    )
    out = out[out["population"] >= min_population]
    out = out.sort_values("population", ascending=False, kind="stable").reset_index(drop=True)
    return out.to_crs(GEOGRAPHIC_CRS)


# ----------------------------------------------------------------------------- capacity


@dataclass(frozen=True)
class CapacityResult:
    """People served per provider and per cell under provider capacities.

    Attributes
    ----------
    served_by_provider
        People taken by each provider (<= its capacity).
    served_per_cell
        People of each cell served by some provider.
    unserved_per_cell
        People of each cell left unserved (no room within reach).
    """

    served_by_provider: np.ndarray
    served_per_cell: np.ndarray
    unserved_per_cell: np.ndarray

    @property
    def served(self) -> float:
        """People served in total."""
        return float(self.served_per_cell.sum())

    @property
    def unserved(self) -> float:
        """People not served in total."""
        return float(self.unserved_per_cell.sum())


def capacity_coverage(
    minutes: np.ndarray,
    population: np.ndarray,
    capacity: np.ndarray,
    *,
    max_minutes: float = np.inf,
) -> CapacityResult:
    """Providers with a capacity take people in travel-time order until full.

    The rule (a global travel-time order, the AccessMod coverage idea made order-free):
    all (cell, provider) pairs with a time <= ``max_minutes`` are taken in increasing
    time (ties: lower provider column, then lower cell); at each pair the provider takes
    as many of the cell's remaining people as it has room for.  So everyone goes to the
    nearest provider that still has room when they are reached, and a provider that
    fills up stops taking people beyond that time.  The result is computed by deferred
    acceptance (cells propose to providers nearest first, providers keep their nearest
    people up to capacity), which gives exactly the same allocation as the pair loop
    (both sides rank pairs by the same time) without a Python loop over the pairs.

    Parameters
    ----------
    minutes
        Per-provider times, shape (n_cells, n_providers) (a :class:`SourceMatrix`
        ``minutes`` sliced to the cells and the service's columns); ``inf`` = unreachable.
    population
        People per cell, shape (n_cells,).
    capacity
        People each provider can serve, shape (n_providers,); ``inf`` = no limit.
    max_minutes
        Nobody travels longer than this to be served.

    Returns
    -------
    CapacityResult
    """
    pop = _as_1d(population, "population")
    cap = _as_1d(capacity, "capacity")
    m = np.asarray(minutes)
    if m.ndim != 2 or m.shape != (len(pop), len(cap)):
        raise ValueError(
            f"minutes must have shape (n_cells, n_providers) = ({len(pop)}, {len(cap)}), "
            f"got {m.shape}"
        )
    if (cap < 0).any() or np.isnan(cap).any():
        raise ValueError("capacity must be >= 0 (inf for no limit)")
    if (pop < 0).any() or (~np.isfinite(pop)).any():
        raise ValueError("population must be finite and >= 0")
    if not max_minutes > 0:
        raise ValueError(f"max_minutes must be > 0, got {max_minutes!r}")
    n_cells, n_prov = m.shape
    if n_prov == 0:
        return CapacityResult(np.zeros(0), np.zeros(n_cells), pop.copy())
    # parcels of people: a cell's people, split when a provider fills up inside it
    p_cell = np.flatnonzero(pop > 0)
    p_amt = pop[p_cell].copy()
    p_last_t = np.full(len(p_cell), -np.inf)
    p_last_j = np.full(len(p_cell), -1, dtype=np.int64)
    proposing = np.ones(len(p_cell), dtype=bool)
    p_prov = np.full(len(p_cell), -1, dtype=np.int64)  # provider holding the parcel
    p_time = np.full(len(p_cell), np.inf)
    unserved = np.zeros(n_cells)
    cols = np.arange(n_prov)
    while proposing.any():
        idx = np.flatnonzero(proposing)
        for start in range(0, len(idx), 65536):  # bounded memory
            part = idx[start : start + 65536]
            rows = np.asarray(m[p_cell[part]], dtype=np.float64)
            lt, lj = p_last_t[part, None], p_last_j[part, None]
            ok = (rows <= max_minutes) & ((rows > lt) | ((rows == lt) & (cols[None, :] > lj)))
            rows = np.where(ok, rows, np.inf)
            best = np.argmin(rows, axis=1)
            t = rows[np.arange(len(part)), best]
            none = ~np.isfinite(t)
            np.add.at(unserved, p_cell[part[none]], p_amt[part[none]])
            p_amt[part[none]] = 0.0
            p_prov[part] = np.where(none, -1, best)
            p_time[part] = np.where(none, np.inf, t)
        proposing[:] = False
        live = np.flatnonzero((p_prov >= 0) & (p_amt > 0))
        order = live[np.lexsort((p_cell[live], p_time[live], p_prov[live]))]
        prov = p_prov[order]
        amt = p_amt[order]
        starts = np.searchsorted(prov, cols)
        cum = np.cumsum(amt)
        before = cum - amt - np.concatenate([[0.0], cum])[starts[prov]]
        room = np.maximum(cap[prov] - before, 0.0)
        kept = np.minimum(amt, room)
        rejected = amt - kept
        split = (kept > 0) & (rejected > 0)
        out = (kept == 0) & (rejected > 0)
        # whole parcels rejected propose again from where they were
        ro = order[out]
        p_last_t[ro], p_last_j[ro] = p_time[ro], p_prov[ro]
        p_prov[ro], proposing[ro] = -1, True
        # split parcels: the kept part stays, the rest becomes a new proposing parcel
        so = order[split]
        if len(so):
            p_amt[so] = kept[split]
            p_cell = np.concatenate([p_cell, p_cell[so]])
            p_amt = np.concatenate([p_amt, rejected[split]])
            p_last_t = np.concatenate([p_last_t, p_time[so]])
            p_last_j = np.concatenate([p_last_j, p_prov[so]])
            p_prov = np.concatenate([p_prov, np.full(len(so), -1, dtype=np.int64)])
            p_time = np.concatenate([p_time, np.full(len(so), np.inf)])
            proposing = np.concatenate([proposing, np.ones(len(so), dtype=bool)])
    held = (p_prov >= 0) & (p_amt > 0)
    served_by = np.bincount(p_prov[held], weights=p_amt[held], minlength=n_prov)
    served_cell = np.bincount(p_cell[held], weights=p_amt[held], minlength=n_cells)
    return CapacityResult(served_by.astype(float), served_cell.astype(float), unserved)


# ----------------------------------------------------------------------------- export


def _hxl_tag(column: str, level: int) -> str:
    fixed = {
        "pcode": f"#adm{level}+code",
        "name": f"#adm{level}+name",
        "population": "#population",
        "median_time_min": "#indicator+median+minutes",
        "p90_time_min": "#indicator+p90+minutes",
        "nearest_provider_id": "#org+id+nearest",
        "n_providers": "#org+num",
        "max_class": "#severity+conflict",
    }
    if column in fixed:
        return fixed[column]
    for prefix, tag in (
        ("pop_within_", "#population+within"),
        ("share_within_", "#population+pct+within"),
        ("pop_beyond_", "#population+beyond"),
        ("share_beyond_", "#population+pct+beyond"),
    ):
        if column.startswith(prefix):
            return tag + column[len(prefix) :].replace("_", "")
    return "#meta+" + column.replace("_", "")


def to_hxl(table: pd.DataFrame, *, level: int) -> pd.DataFrame:
    """The table with an HXL hashtag row first (``#adm1+code``, ``#population+within60`` …).

    Write it with ``to_csv(index=False)``: the header, then the hashtag row, then data.
    """
    if level not in (0, 1, 2, 3):
        raise ValueError(f"level must be 0 to 3, got {level!r}")
    tags = pd.DataFrame([[_hxl_tag(c, level) for c in table.columns]], columns=table.columns)
    body = table.astype(object).where(table.notna(), None)
    return pd.concat([tags, body], ignore_index=True)


def coverage_layer(table: pd.DataFrame, units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The table with the unit polygons (EPSG:4326), for GeoJSON or GeoPackage.

    ``inf`` times become NaN (null), since neither format stores infinity.
    """
    if not isinstance(units, gpd.GeoDataFrame):
        raise TypeError(f"units must be a GeoDataFrame, got {type(units).__name__}")
    geom = units.set_index(units["pcode"].astype(str)).geometry
    out = table.replace([np.inf, -np.inf], np.nan)
    return gpd.GeoDataFrame(
        out, geometry=geom.reindex(out["pcode"].astype(str)).values, crs=units.crs
    ).to_crs(GEOGRAPHIC_CRS)
