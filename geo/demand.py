"""Demand: where the people are who need to reach help, as grid cells or as points.

Two demand models, both built from one population raster (people per cell):

**Grid** (:func:`population_on_grid`): people spread over the 1 km travel-time grid.

- a **coarser** source (the development 10' WorldPop grid, about 18 km): each grid cell
  takes the density of the source cell holding its centre times its own area; people
  are spread evenly inside an 18 km cell, which is the main limit of figures built on it;
- a **finer** source (WorldPop 100 m or 1 km, Kontur): each source cell's people go to
  the grid cell holding its centre (a sum, nothing is lost).

Only grid cells whose centre lies inside ``area`` (the country) receive people.

**Settlements** (:func:`settlement_demand`, dasymetric): each source cell's people are
shared among the settlements (gazetteer points) inside it, by a weight (equal by default,
or a settlement column, or a weight per place class); a cell without a settlement keeps
its people at its centre.  The result is a table of demand points whose total equals the
raster's (inside ``area``).  :func:`geo.units.assign_points` then gives each point its
grid cell (for the travel time) and its admin unit (point in polygon), and
:func:`geo.coverage.coverage_table` takes it from there, as for grid cells.

Both models can be scaled to per-admin totals (a census table) with
:func:`geo.calibration.calibrate_population` (arrays) or
:func:`geo.calibration.calibrate_demand` (points); :func:`build_demand` does either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from rasterio import features
from rasterio.transform import rowcol, xy

from geo.calibration import calibrate_demand, calibrate_population
from geo.crs import GEOGRAPHIC_CRS
from geo.grid import Grid
from geo.population import PopulationRaster, cell_areas_km2
from geo.units import assign_cells

__all__ = [
    "DEMAND_COLUMNS",
    "DEMAND_MODELS",
    "Demand",
    "build_demand",
    "demand_from_polygons",
    "points_on_grid",
    "population_on_grid",
    "settlement_demand",
]

#: Columns of a demand-point table (besides ``geometry``).
DEMAND_COLUMNS = ["population", "source_row", "source_col", "settlement_pcode", "settlement_name"]

#: Largest number of demand points :func:`settlement_demand` builds (one shapely point
#: each, about 100 bytes): a WorldPop 100 m raster of Mali would give tens of millions,
#: and with cells that fine the grid model already places people where they live.
MAX_DEMAND_POINTS = 5_000_000


def population_on_grid(
    raster: PopulationRaster, grid: Grid, *, area: shapely.Geometry | None = None
) -> np.ndarray:
    """People per active grid cell (float64, node order), from ``raster``.

    ``area`` (in the grid's CRS) restricts the people to cells whose centre lies in it.
    """
    counts = np.where(np.isfinite(raster.counts), raster.counts, 0.0)
    src_area = cell_areas_km2(raster.transform, counts.shape, raster.crs)
    grid_km2 = (grid.cell_m / 1000.0) ** 2
    cx, cy = grid.cell_centres()
    inside = np.ones(grid.n_cells, dtype=bool)
    if area is not None:
        inside = shapely.contains_xy(area, cx, cy)
    out = np.zeros(grid.n_cells)
    if np.nanmedian(src_area) > grid_km2:
        to_src = Transformer.from_crs(grid.crs, raster.crs, always_xy=True)
        sx, sy = to_src.transform(cx, cy)
        row, col = rowcol(raster.transform, np.asarray(sx), np.asarray(sy), op=np.floor)
        row = np.asarray(row, dtype=np.int64)
        col = np.asarray(col, dtype=np.int64)
        ok = inside & (row >= 0) & (row < counts.shape[0]) & (col >= 0) & (col < counts.shape[1])
        density = counts[row[ok], col[ok]] / src_area[row[ok], col[ok]]
        out[ok] = density * grid_km2
    else:
        rows, cols = np.nonzero(counts > 0)
        px, py = xy(raster.transform, rows, cols, offset="center")
        to_grid = Transformer.from_crs(raster.crs, grid.crs, always_xy=True)
        gx, gy = to_grid.transform(np.asarray(px), np.asarray(py))
        node = grid.locate(np.asarray(gx), np.asarray(gy))
        ok = node >= 0
        np.add.at(out, node[ok], counts[rows[ok], cols[ok]])
        out[~inside] = 0.0
    return out


# ----------------------------------------------------------------------------- settlements


def _area_in(area: gpd.GeoSeries | gpd.GeoDataFrame, crs: CRS, name: str) -> shapely.Geometry:
    """``area`` dissolved into one geometry in ``crs``."""
    if not isinstance(area, gpd.GeoSeries | gpd.GeoDataFrame):
        raise TypeError(
            f"{name} must be a GeoSeries or GeoDataFrame with a CRS (e.g. the ADM0 layer), "
            f"got {type(area).__name__}"
        )
    if area.crs is None:
        raise ValueError(f"{name} has no CRS; set it (boundaries are EPSG:4326)")
    geom = area.to_crs(crs).union_all()
    if geom is None or geom.is_empty:
        raise ValueError(f"{name} is empty; pass the country polygon")
    return geom


def _inside_fraction(raster: PopulationRaster, area: shapely.Geometry) -> np.ndarray:
    """Share of each raster cell's surface inside ``area`` (0-1), in the raster's CRS.

    Cells the area's outline does not touch are wholly in or out (decided at the centre);
    only cells on the outline are intersected exactly.
    """
    shape = raster.shape
    centre_in = features.rasterize(
        [(area, 1)], out_shape=shape, transform=raster.transform, fill=0, dtype="uint8"
    ).astype(bool)
    edge = features.rasterize(
        [(area.boundary, 1)],
        out_shape=shape,
        transform=raster.transform,
        fill=0,
        all_touched=True,
        dtype="uint8",
    ).astype(bool)
    frac = centre_in.astype("float64")
    rows, cols = np.nonzero(edge)
    if len(rows):
        t = raster.transform
        x0, y0 = t.c + t.a * cols + t.b * rows, t.f + t.d * cols + t.e * rows
        x1, y1 = x0 + t.a, y0 + t.e
        boxes = shapely.box(
            np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1)
        )
        shapely.prepare(area)
        frac[rows, cols] = shapely.area(shapely.intersection(boxes, area)) / shapely.area(boxes)
    return frac


def _settlement_weights(
    settlements: gpd.GeoDataFrame, weight: str | Mapping[int, float]
) -> np.ndarray:
    if isinstance(weight, Mapping):
        if "place_class" not in settlements.columns:
            raise ValueError("weight by class needs a 'place_class' column in settlements")
        klass = pd.to_numeric(settlements["place_class"], errors="coerce")
        missing = sorted({int(k) for k in klass.dropna().unique()} - {int(k) for k in weight})
        if missing or klass.isna().any():
            raise ValueError(
                f"weight gives no value for place class(es) {missing or ['empty']}; "
                "give one for every class in settlements"
            )
        values = klass.map({int(k): float(v) for k, v in weight.items()}).to_numpy(float)
        what = "weight (per place class)"
    elif weight == "equal":
        return np.ones(len(settlements))
    elif isinstance(weight, str):
        if weight not in settlements.columns:
            raise ValueError(
                f"weight {weight!r}: not 'equal' and not a column of settlements "
                f"(columns: {[c for c in settlements.columns if c != 'geometry']})"
            )
        values = pd.to_numeric(settlements[weight], errors="coerce").to_numpy(float)
        what = f"weight column {weight!r}"
    else:
        raise TypeError(
            f"weight must be 'equal', a column name or a {{place_class: weight}} mapping, "
            f"got {type(weight).__name__}"
        )
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(
            f"{what}: {int(bad.sum())} settlement(s) without a positive weight "
            f"(rows {rows}); every settlement needs one > 0"
        )
    return values


def settlement_demand(
    raster: PopulationRaster,
    settlements: gpd.GeoDataFrame,
    *,
    area: gpd.GeoSeries | gpd.GeoDataFrame | None = None,
    weight: str | Mapping[int, float] = "equal",
) -> gpd.GeoDataFrame:
    """Demand points: each raster cell's people shared among the settlements inside it.

    Dasymetric mapping with the gazetteer as the ancillary layer.  For every raster cell
    with people:

    - the settlements inside the cell (and inside ``area``) share its people in
      proportion to their weight;
    - a cell holding no settlement keeps its people at one point: its centre, or, when
      the centre lies outside ``area``, a point of the cell's part inside ``area``.

    With ``area``, a cell cut by the outline keeps only the share of its people equal to
    the share of its surface inside ``area`` (people are assumed even within a cell).

    Parameters
    ----------
    raster
        People per cell (:func:`geo.population.read_population_raster`).
    settlements
        Points (any CRS), e.g. :func:`geo.settlements.read_settlements`; ``pcode`` and
        ``name`` columns are carried over when present.
    area
        The country (ADM0 layer, any CRS), or None for the whole raster.
    weight
        ``"equal"`` (every settlement of a cell gets the same share), the name of a
        numeric column of ``settlements`` (a population, if the gazetteer has one), or a
        mapping ``{place_class: weight}`` (e.g. ``{1: 100, 2: 20, 3: 10, 4: 3, 5: 1}``).
        Weights must be > 0.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points with ``population`` (people, > 0), ``source_row`` and
        ``source_col`` (the raster cell they come from), ``settlement_pcode`` and
        ``settlement_name`` (None for a cell-centre point).  Its total equals
        ``raster.total`` (without ``area``) or the raster's people inside ``area``.
        ``attrs`` holds ``population_source`` (the raster's file name), ``demand``
        (``"settlements"``), ``weight`` and ``settlements_left_out`` (settlements outside
        ``area`` or in cells with no people).

    Examples
    --------
    Two settlements in one 1,000-people cell, equal weights: 500 each.
    """
    if not isinstance(raster, PopulationRaster):
        raise TypeError(f"raster must be a PopulationRaster, got {type(raster).__name__}")
    if not isinstance(settlements, gpd.GeoDataFrame):
        raise TypeError(f"settlements must be a GeoDataFrame, got {type(settlements).__name__}")
    if settlements.crs is None:
        raise ValueError("settlements has no CRS; set it (the gazetteer is EPSG:4326)")
    if len(settlements) and not (settlements.geom_type == "Point").all():
        raise ValueError("settlements must all be points")
    places = settlements.reset_index(drop=True)
    weights = _settlement_weights(places, weight)
    counts = np.where(np.isfinite(raster.counts) & (raster.counts > 0), raster.counts, 0.0)
    zone = None
    if area is not None:
        zone = _area_in(area, raster.crs, "area")
        counts = counts * _inside_fraction(raster, zone)
    pts = places.to_crs(raster.crs)
    shared = _shares(raster, pts, weights, counts, zone)
    crow, ccol, centres = _cell_points(raster, counts, shared.occupied, zone, shared.n_points)
    keep = np.flatnonzero(shared.has_people)
    none = pd.Series(None, index=places.index)
    pcode = places["pcode"].astype(object) if "pcode" in places else none
    name = places["name"].astype(object) if "name" in places else none
    frame = pd.DataFrame(
        {
            "population": np.concatenate([shared.people[keep], counts[crow, ccol]]),
            "source_row": np.concatenate([shared.row[keep], crow]).astype(np.int64),
            "source_col": np.concatenate([shared.col[keep], ccol]).astype(np.int64),
            "settlement_pcode": np.concatenate(
                [pcode.to_numpy()[keep], np.full(len(crow), None, dtype=object)]
            ),
            "settlement_name": np.concatenate(
                [name.to_numpy()[keep], np.full(len(crow), None, dtype=object)]
            ),
        }
    )
    geometry = np.concatenate([pts.geometry.to_numpy()[keep], centres])
    out = gpd.GeoDataFrame(frame, geometry=geometry, crs=raster.crs).to_crs(GEOGRAPHIC_CRS)
    for col in ("settlement_pcode", "settlement_name"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    out.attrs.update(
        {
            "population_source": raster.source,
            "demand": "settlements",
            "weight": weight if isinstance(weight, str) else dict(weight),
            "settlements_left_out": int((~shared.has_people).sum()),
        }
    )
    return out


@dataclass(frozen=True)
class _Shares:
    """Each settlement's raster cell and share of its people."""

    row: np.ndarray  # raster row of each settlement
    col: np.ndarray  # raster column
    has_people: np.ndarray  # inside the raster (and area), in a cell with people
    people: np.ndarray  # its share of the cell's people
    occupied: np.ndarray  # (nrows, ncols): cells whose people went to settlements

    @property
    def n_points(self) -> int:
        return int(self.has_people.sum())


def _shares(
    raster: PopulationRaster,
    pts: gpd.GeoDataFrame,
    weights: np.ndarray,
    counts: np.ndarray,
    zone: shapely.Geometry | None,
) -> _Shares:
    """Share each cell's people among the settlements ``pts`` (raster CRS) inside it."""
    nrows, ncols = raster.shape
    sx, sy = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
    srow, scol = rowcol(raster.transform, sx, sy, op=np.floor)
    srow, scol = np.asarray(srow, np.int64), np.asarray(scol, np.int64)
    ok = (srow >= 0) & (srow < nrows) & (scol >= 0) & (scol < ncols)
    if zone is not None:
        ok &= shapely.contains_xy(zone, sx, sy)
    flat = np.where(ok, srow * ncols + scol, -1)
    people_of = np.zeros(len(pts))
    people_of[ok] = counts.ravel()[flat[ok]]
    has_people = ok & (people_of > 0)
    wsum = np.bincount(flat[has_people], weights=weights[has_people], minlength=nrows * ncols)
    share = np.zeros(len(pts))
    share[has_people] = people_of[has_people] * weights[has_people] / wsum[flat[has_people]]
    occupied = np.zeros(nrows * ncols, dtype=bool)
    occupied[flat[has_people]] = True
    return _Shares(srow, scol, has_people, share, occupied.reshape(nrows, ncols))


def _cell_points(
    raster: PopulationRaster,
    counts: np.ndarray,
    occupied: np.ndarray,
    zone: shapely.Geometry | None,
    n_settlement_points: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and one point per cell with people but no settlement: its centre,
    or a point of its part inside ``zone`` when the centre lies outside."""
    crow, ccol = np.nonzero((counts > 0) & ~occupied)
    if len(crow) + n_settlement_points > MAX_DEMAND_POINTS:
        raise ValueError(
            f"{raster.source}: {len(crow) + n_settlement_points:,} demand points, more than "
            f"{MAX_DEMAND_POINTS:,}; with a raster this fine use the grid model "
            "(population_on_grid), which already places people where they live"
        )
    t = raster.transform
    cx = t.c + t.a * (ccol + 0.5) + t.b * (crow + 0.5)
    cy = t.f + t.d * (ccol + 0.5) + t.e * (crow + 0.5)
    centre_geom = shapely.points(cx, cy)
    if zone is not None and len(crow):
        outside = ~shapely.contains_xy(zone, cx, cy)
        if outside.any():
            x0, y0 = cx[outside] - t.a / 2, cy[outside] - t.e / 2
            x1, y1 = cx[outside] + t.a / 2, cy[outside] + t.e / 2
            cells = shapely.box(
                np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1)
            )
            centre_geom[outside] = shapely.point_on_surface(shapely.intersection(cells, zone))
    return crow, ccol, centre_geom


def demand_from_polygons(
    layer: gpd.GeoDataFrame, *, population_column: str = "population", source: str = "polygons"
) -> gpd.GeoDataFrame:
    """Demand points from population polygons (Kontur H3 hexagons, census blocks).

    Each polygon's people go to its inner point (``representative_point``).

    Parameters
    ----------
    layer
        Polygons with a CRS and a numeric ``population_column`` (Kontur: ``population``).
    population_column
        Column holding people per polygon.
    source
        Name to record in ``attrs["population_source"]`` (the file name).

    Returns
    -------
    geopandas.GeoDataFrame
        Demand points (EPSG:4326, the columns of :func:`settlement_demand`; source cell
        and settlement empty), only polygons with people.
    """
    if not isinstance(layer, gpd.GeoDataFrame):
        raise TypeError(f"layer must be a GeoDataFrame, got {type(layer).__name__}")
    if layer.crs is None:
        raise ValueError("layer has no CRS; set it (Kontur is EPSG:3857, others EPSG:4326)")
    if population_column not in layer.columns:
        raise ValueError(
            f"population_column {population_column!r} is not a column of layer "
            f"(columns: {[c for c in layer.columns if c != 'geometry']})"
        )
    people = pd.to_numeric(layer[population_column], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(people) | (people < 0)
    if bad.any():
        raise ValueError(
            f"{population_column}: {int(bad.sum())} row(s) not a number >= 0 "
            f"(rows {np.flatnonzero(bad)[:5].tolist()})"
        )
    keep = people > 0
    pts = layer.geometry[keep].representative_point()
    n = int(keep.sum())
    out = gpd.GeoDataFrame(
        {
            "population": people[keep],
            "source_row": np.full(n, -1, dtype=np.int64),
            "source_col": np.full(n, -1, dtype=np.int64),
            "settlement_pcode": np.full(n, None, dtype=object),
            "settlement_name": np.full(n, None, dtype=object),
        },
        geometry=pts.to_numpy(),
        crs=layer.crs,
    ).to_crs(GEOGRAPHIC_CRS)
    out.attrs.update({"population_source": source, "demand": "polygons"})
    return out


def points_on_grid(points: gpd.GeoDataFrame, grid: Grid) -> np.ndarray:
    """People per active grid cell (node order): demand points summed into their cell.

    Points outside the active grid are dropped; compare the sums to see how many.
    """
    if not isinstance(points, gpd.GeoDataFrame) or "population" not in points.columns:
        raise TypeError("points must be a GeoDataFrame with a 'population' column")
    if points.crs is None:
        raise ValueError("points has no CRS; set it (demand points are EPSG:4326)")
    metric = points.geometry.to_crs(grid.crs)
    node = grid.locate(metric.x.to_numpy(), metric.y.to_numpy())
    ok = node >= 0
    out = np.zeros(grid.n_cells)
    np.add.at(out, node[ok], points["population"].to_numpy(float)[ok])
    return out


# ----------------------------------------------------------------------------- one demand


@dataclass(frozen=True)
class Demand:
    """The people coverage rests on, with a statement of where they come from.

    Attributes
    ----------
    model
        ``"grid"`` or ``"settlements"``.
    per_cell
        People per active grid cell (node order): the grid model itself, or the demand
        points summed into their cells (for deserts and siting).
    points
        Demand points (:func:`settlement_demand`) for ``"settlements"``, else None.
    source
        File name of the population raster.
    table_source
        File name of the census table the demand was calibrated to, or None.
    calibration
        Per-unit report of the calibration (:class:`Calibration`), or None.
    """

    model: str
    per_cell: np.ndarray
    points: gpd.GeoDataFrame | None
    source: str
    table_source: str | None = None
    calibration: pd.DataFrame | None = None

    def describe(self) -> dict:
        """What every output states: source file, model, calibration, total people."""
        return {
            "population_source": self.source,
            "demand": self.model,
            "population_table": self.table_source,
            "calibrated": self.table_source is not None,
            "population_total": round(float(self.per_cell.sum())),
        }


DEMAND_MODELS = ("grid", "settlements")


def build_demand(
    raster: PopulationRaster,
    grid: Grid,
    country: gpd.GeoSeries | gpd.GeoDataFrame,
    *,
    model: str = "grid",
    settlements: gpd.GeoDataFrame | None = None,
    weight: str | Mapping[int, float] = "equal",
    table: pd.DataFrame | None = None,
    table_units: gpd.GeoDataFrame | None = None,
    table_source: str | None = None,
) -> Demand:
    """Grid or settlement demand inside ``country``, calibrated to ``table`` when given.

    Parameters
    ----------
    raster
        The population raster.
    grid
        The travel-time grid.
    country
        The country outline (ADM0 layer, any CRS).
    model
        ``"grid"`` (:func:`population_on_grid`) or ``"settlements"``
        (:func:`settlement_demand`, needs ``settlements``).
    settlements, weight
        Gazetteer and weight for the settlement model.
    table, table_units, table_source
        A census table (:func:`geo.population.read_population_table`), the boundary
        layer of its level and its file name: the demand is scaled so that each unit's
        total equals the table's (:func:`calibrate_population`).
    """
    if model not in DEMAND_MODELS:
        raise ValueError(f"model {model!r}: use one of {', '.join(DEMAND_MODELS)}")
    if (table is None) != (table_units is None):
        raise ValueError("table and table_units go together (the boundaries of the table's level)")
    outline = _area_in(country, grid.crs, "country")
    points = None
    report = None
    if model == "grid":
        per_cell = population_on_grid(raster, grid, area=outline)
        if table is not None:
            pieces = assign_cells(grid, table_units, per_cell)
            result = calibrate_population(pieces.population, pieces.unit, table_units, table)
            per_cell = np.bincount(pieces.cell, weights=result.population, minlength=grid.n_cells)
            report = result.report
    else:
        if settlements is None:
            raise ValueError("model 'settlements' needs settlements (the gazetteer)")
        points = settlement_demand(raster, settlements, area=country, weight=weight)
        if table is not None:
            points, report = calibrate_demand(points, table_units, table)
        per_cell = points_on_grid(points, grid)
    return Demand(
        model=model,
        per_cell=per_cell,
        points=points,
        source=raster.source,
        table_source=(table_source or "population table") if table is not None else None,
        calibration=report,
    )
