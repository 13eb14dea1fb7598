"""Which admin unit each grid cell, demand point and provider belongs to.

The geometry half of the coverage computation (:mod:`geo.coverage` does the arithmetic):
:func:`assign_cells` cuts grid cells into pieces that each belong to one unit,
:func:`assign_points` puts each demand point (a settlement, :mod:`geo.demand`) in its cell
and its unit, :func:`provider_units` says which unit holds each provider.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from rasterio import features

from geo._validate import as_1d
from geo.crs import check_same_crs
from geo.grid import Grid

__all__ = [
    "CellAssignment",
    "PointAssignment",
    "assign_cells",
    "assign_points",
    "provider_units",
]


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
    pop = as_1d(population, "population")
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


@dataclass(frozen=True)
class PointAssignment:
    """Each demand point's grid cell and admin unit.

    Attributes
    ----------
    cell
        Node index of the grid cell holding the point; -1 outside the active grid (such a
        point cannot reach anyone: give it ``inf`` minutes).
    unit
        Row of the boundary layer holding the point (>= 0).
    population
        People of each point.
    rule
        ``"within"`` (point in polygon) or ``"nearest"`` (in no polygon: nearest unit).
    """

    cell: np.ndarray
    unit: np.ndarray
    population: np.ndarray
    rule: np.ndarray

    def minutes(self, minutes_per_cell: np.ndarray) -> np.ndarray:
        """Minutes of each point, read from a per-cell surface (``inf`` off the grid)."""
        m = np.asarray(minutes_per_cell, dtype=float)
        out = np.full(len(self.cell), np.inf)
        on = self.cell >= 0
        out[on] = m[self.cell[on]]
        return np.where(np.isnan(out), np.inf, out)

    def values(self, per_cell: np.ndarray, *, fill: float = -1) -> np.ndarray:
        """Any per-cell array (an allocation raster) read at each point; ``fill`` off grid."""
        v = np.asarray(per_cell)
        out = np.full(len(self.cell), fill, dtype=np.result_type(v.dtype, type(fill)))
        on = self.cell >= 0
        out[on] = v[self.cell[on]]
        return out


def assign_points(points: gpd.GeoDataFrame, grid: Grid, units: gpd.GeoDataFrame) -> PointAssignment:
    """Grid cell (travel time) and admin unit (point in polygon) of every demand point.

    A point in no polygon (a sliver between the unit layer and the country outline)
    goes to the nearest unit, so no one is lost.  Units holding no point get no people.

    Parameters
    ----------
    points
        Demand points with ``population`` (:func:`settlement_demand`).
    grid
        The travel-time grid.
    units
        Boundary layer (``pcode``, ``name``, polygons), any CRS.
    """
    if not isinstance(points, gpd.GeoDataFrame) or "population" not in points.columns:
        raise TypeError("points must be a GeoDataFrame with a 'population' column")
    if not isinstance(units, gpd.GeoDataFrame):
        raise TypeError(f"units must be a GeoDataFrame, got {type(units).__name__}")
    if points.crs is None or units.crs is None:
        raise ValueError("points and units need a CRS; set it (EPSG:4326)")
    pop = points["population"].to_numpy(float)
    if (~np.isfinite(pop)).any() or (pop < 0).any():
        raise ValueError("points population must be finite and >= 0")
    metric_pts = points.geometry.to_crs(grid.crs)
    cell = grid.locate(metric_pts.x.to_numpy(), metric_pts.y.to_numpy())
    metric_units = units.to_crs(grid.crs).reset_index(drop=True)[["geometry"]]
    pts = gpd.GeoDataFrame(geometry=metric_pts.to_numpy(), crs=grid.crs)
    joined = gpd.sjoin(pts, metric_units, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    unit = joined["index_right"].fillna(-1).to_numpy(dtype=np.int64)
    rule = np.full(len(pts), "within", dtype=object)
    orphan = unit < 0
    if orphan.any() and len(metric_units):
        near = gpd.sjoin_nearest(pts[orphan].reset_index(drop=True), metric_units, how="left")
        near = near[~near.index.duplicated(keep="first")]
        unit[orphan] = near["index_right"].to_numpy(dtype=np.int64)
        rule[orphan] = "nearest"
    return PointAssignment(cell=cell, unit=unit, population=pop, rule=rule)
