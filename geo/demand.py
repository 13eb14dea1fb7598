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
raster's (inside ``area``).  :func:`assign_points` then gives each point its grid cell
(for the travel time) and its admin unit (point in polygon), and
:func:`geo.coverage.coverage_table` takes it from there, as for grid cells.

Both models can be scaled to per-admin totals (a census table) with
:func:`calibrate_population` (arrays) or :func:`calibrate_demand` (points).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from rasterio import features
from rasterio.transform import rowcol, xy

from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.errors import DataProblem, DataValidationError
from geo.grid import Grid
from geo.population import PopulationRaster, cell_areas_km2

__all__ = [
    "DEMAND_COLUMNS",
    "DEMAND_MODELS",
    "Calibration",
    "Demand",
    "PointAssignment",
    "assign_points",
    "build_demand",
    "calibrate_demand",
    "calibrate_population",
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
    nrows, ncols = raster.shape
    zone = None
    if area is not None:
        zone = _area_in(area, raster.crs, "area")
        counts = counts * _inside_fraction(raster, zone)

    pts = places.to_crs(raster.crs)
    sx, sy = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
    srow, scol = rowcol(raster.transform, sx, sy, op=np.floor)
    srow, scol = np.asarray(srow, np.int64), np.asarray(scol, np.int64)
    ok = (srow >= 0) & (srow < nrows) & (scol >= 0) & (scol < ncols)
    if zone is not None:
        ok &= shapely.contains_xy(zone, sx, sy)
    flat = np.where(ok, srow * ncols + scol, -1)
    people_of = np.zeros(len(places))
    people_of[ok] = counts.ravel()[flat[ok]]
    has_people = ok & (people_of > 0)
    wsum = np.bincount(flat[has_people], weights=weights[has_people], minlength=nrows * ncols)
    share = np.zeros(len(places))
    share[has_people] = people_of[has_people] * weights[has_people] / wsum[flat[has_people]]

    occupied = np.zeros(nrows * ncols, dtype=bool)
    occupied[flat[has_people]] = True
    crow, ccol = np.nonzero((counts > 0) & ~occupied.reshape(nrows, ncols))
    if len(crow) + int(has_people.sum()) > MAX_DEMAND_POINTS:
        raise ValueError(
            f"{raster.source}: {len(crow) + int(has_people.sum()):,} demand points, more than "
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

    keep = np.flatnonzero(has_people)
    pcode = (
        places["pcode"].astype(object) if "pcode" in places else pd.Series(None, index=places.index)
    )
    name = (
        places["name"].astype(object) if "name" in places else pd.Series(None, index=places.index)
    )
    frame = pd.DataFrame(
        {
            "population": np.concatenate([share[keep], counts[crow, ccol]]),
            "source_row": np.concatenate([srow[keep], crow]).astype(np.int64),
            "source_col": np.concatenate([scol[keep], ccol]).astype(np.int64),
            "settlement_pcode": np.concatenate(
                [pcode.to_numpy()[keep], np.full(len(crow), None, dtype=object)]
            ),
            "settlement_name": np.concatenate(
                [name.to_numpy()[keep], np.full(len(crow), None, dtype=object)]
            ),
        }
    )
    geometry = np.concatenate([pts.geometry.to_numpy()[keep], centre_geom])
    out = gpd.GeoDataFrame(frame, geometry=geometry, crs=raster.crs).to_crs(GEOGRAPHIC_CRS)
    for col in ("settlement_pcode", "settlement_name"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    out.attrs.update(
        {
            "population_source": raster.source,
            "demand": "settlements",
            "weight": weight if isinstance(weight, str) else dict(weight),
            "settlements_left_out": int((~has_people).sum()),
        }
    )
    return out


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


# ----------------------------------------------------------------------------- points to units


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


# ----------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Calibration:
    """Demand scaled to per-unit totals.

    Attributes
    ----------
    population
        Scaled people per entry, aligned with the input.
    report
        One row per unit: ``pcode``, ``name``, ``population_model`` (before),
        ``population_table`` (NaN when the table lacks the unit), ``factor`` and
        ``status`` (``"scaled"``, ``"not in table"`` or ``"spread evenly"``: the model
        put nobody in the unit, so the table's people are shared equally among its
        entries).
    """

    population: np.ndarray
    report: pd.DataFrame


def _check_table(table: pd.DataFrame, units: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    if not isinstance(table, pd.DataFrame) or not {"pcode", "population"} <= set(table.columns):
        raise TypeError(
            "table must be a DataFrame with 'pcode' and 'population' columns "
            "(geo.population.read_population_table)"
        )
    if not isinstance(units, pd.DataFrame) or "pcode" not in units.columns:
        raise TypeError("units must be a DataFrame with a 'pcode' column")
    codes = table["pcode"].astype("string").str.strip().str.upper().reset_index(drop=True)
    people = pd.to_numeric(table["population"], errors="coerce").reset_index(drop=True)
    unit_codes = set(units["pcode"].astype(str).str.strip().str.upper())
    names = table["name"].reset_index(drop=True) if "name" in table.columns else None
    problems = []
    for i, (code, value) in enumerate(zip(codes, people, strict=True)):
        label = None if names is None or pd.isna(names.iloc[i]) else str(names.iloc[i])
        if pd.isna(code) or code not in unit_codes:
            problems.append(
                DataProblem(
                    i + 2,
                    "pcode",
                    f"P-code {code!r} matches no unit of the boundary layer "
                    f"({len(unit_codes)} units, e.g. {sorted(unit_codes)[:3]}); "
                    "use the boundary layer of the table's level",
                    ident=label,
                )
            )
        if pd.isna(value) or value < 0:
            problems.append(DataProblem(i + 2, "population", f"population {value!r} is not >= 0"))
    dup = codes[codes.duplicated(keep=False) & codes.notna()]
    for i, code in dup.items():
        problems.append(DataProblem(int(i) + 2, "pcode", f"duplicate P-code {code}"))
    if problems:
        raise DataValidationError("population table", problems)
    return codes, people


def calibrate_population(
    population: np.ndarray,
    unit_label: np.ndarray,
    units: pd.DataFrame,
    table: pd.DataFrame,
) -> Calibration:
    """Scale demand within each unit so that the unit's total equals the table's.

    Parameters
    ----------
    population
        People per entry (demand point, grid cell or piece).
    unit_label
        Row of ``units`` holding each entry (-1: none; left as is).
    units
        Units of the table's level (``pcode``, ``name``), e.g. the ADM1 boundaries for
        a per-région census.
    table
        ``pcode`` and ``population`` (:func:`geo.population.read_population_table`).

    Returns
    -------
    Calibration
        Scaled people and a per-unit report.  A unit the table lacks keeps its people
        and is named in a warning.

    Raises
    ------
    DataValidationError
        A table row whose P-code matches no unit (the row is named: row numbers count
        the header as row 1, as a spreadsheet shows them), a duplicate P-code or a
        population that is not a number >= 0.
    ValueError
        Arrays of different lengths, labels outside -1..len(units)-1, or a unit of the
        table with people but no entry to put them on.
    """
    pop = np.asarray(population, dtype=float)
    label = np.asarray(unit_label, dtype=np.int64)
    if pop.ndim != 1 or label.shape != pop.shape:
        raise ValueError(
            f"population and unit_label must be 1-D of the same length, got {pop.shape} "
            f"and {label.shape}"
        )
    if (~np.isfinite(pop)).any() or (pop < 0).any():
        raise ValueError("population must be finite and >= 0")
    n = len(units)
    if ((label < -1) | (label >= n)).any():
        raise ValueError(f"unit_label holds labels outside -1..{n - 1}")
    codes, people = _check_table(table, units)
    target = dict(zip(codes, people, strict=True))
    unit_codes = units["pcode"].astype(str).str.strip().str.upper().to_numpy()
    names = units["name"].astype(str).to_numpy() if "name" in units else unit_codes
    inside = label >= 0
    model = np.bincount(label[inside], weights=pop[inside], minlength=n)
    entries = np.bincount(label[inside], minlength=n)
    factor = np.ones(n)
    status = np.full(n, "scaled", dtype=object)
    goal = np.full(n, np.nan)
    spread = np.zeros(n)
    missing, empty = [], []
    for u in range(n):
        if unit_codes[u] not in target:
            status[u] = "not in table"
            missing.append(f"{unit_codes[u]} ({names[u]})")
            continue
        goal[u] = target[unit_codes[u]]
        if model[u] > 0:
            factor[u] = goal[u] / model[u]
        elif goal[u] > 0:
            if entries[u] == 0:
                empty.append(f"{unit_codes[u]} ({names[u]})")
                continue
            status[u] = "spread evenly"
            factor[u] = 0.0
            spread[u] = goal[u] / entries[u]
    if empty:
        raise ValueError(
            f"the table gives people to {len(empty)} unit(s) holding no demand entry: "
            f"{', '.join(empty[:10])}; give them a demand point (calibrate_demand does)"
        )
    if missing:
        warnings.warn(
            f"{len(missing)} unit(s) not in the population table, left unscaled: "
            f"{', '.join(missing[:20])}{' …' if len(missing) > 20 else ''}",
            stacklevel=2,
        )
    out = pop.copy()
    out[inside] = pop[inside] * factor[label[inside]] + spread[label[inside]]
    report = pd.DataFrame(
        {
            "pcode": units["pcode"].astype(str).to_numpy(),
            "name": names,
            "population_model": model,
            "population_table": goal,
            "factor": np.where(status == "spread evenly", np.nan, factor),
            "status": status,
        }
    )
    return Calibration(population=out, report=report)


def calibrate_demand(
    points: gpd.GeoDataFrame, units: gpd.GeoDataFrame, table: pd.DataFrame
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Demand points scaled so that each unit of ``units`` holds the table's people.

    Points are placed in units by point in polygon (nearest unit outside every polygon).
    A unit of the table holding no demand point gets one at its inner point
    (``representative_point``) with the table's people (report status ``"added
    point"``).  Rules and errors as :func:`calibrate_population`.

    Returns
    -------
    (points, report)
        The scaled points (``attrs["calibrated_to"]`` lists the table's P-codes count and
        total) and the per-unit report.
    """
    if not isinstance(units, gpd.GeoDataFrame) or units.crs is None:
        raise TypeError("units must be a GeoDataFrame with a CRS (the boundary layer)")
    if not isinstance(points, gpd.GeoDataFrame) or "population" not in points.columns:
        raise TypeError("points must be a GeoDataFrame with a 'population' column")
    codes, people = _check_table(table, units)
    units = units.reset_index(drop=True)
    metric = units.to_crs(points.crs)
    pts = gpd.GeoDataFrame(geometry=points.geometry.to_numpy(), crs=points.crs)
    joined = gpd.sjoin(pts, metric[["geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    label = joined["index_right"].fillna(-1).to_numpy(dtype=np.int64)
    orphan = label < 0
    if orphan.any():
        near = gpd.sjoin_nearest(
            pts[orphan].reset_index(drop=True).to_crs(METRIC_CRS),
            metric[["geometry"]].to_crs(METRIC_CRS),
            how="left",
        )
        near = near[~near.index.duplicated(keep="first")]
        label[orphan] = near["index_right"].to_numpy(dtype=np.int64)
    target = dict(zip(codes, people, strict=True))
    unit_codes = units["pcode"].astype(str).str.strip().str.upper()
    held = np.bincount(label[label >= 0], minlength=len(units))
    add = [u for u in range(len(units)) if held[u] == 0 and target.get(unit_codes[u], 0) > 0]
    out = points.copy()
    if add:
        inner = units.geometry.iloc[add].representative_point().to_crs(points.crs)
        extra = gpd.GeoDataFrame(
            {
                "population": np.zeros(len(add)),
                "source_row": -1,
                "source_col": -1,
                "settlement_pcode": None,
                "settlement_name": None,
            },
            geometry=inner.to_numpy(),
            crs=points.crs,
        )
        out = pd.concat(
            [out, extra[[c for c in extra.columns if c in out.columns]]], ignore_index=True
        )
        out = gpd.GeoDataFrame(out, geometry="geometry", crs=points.crs)
        label = np.concatenate([label, np.asarray(add, dtype=np.int64)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = calibrate_population(out["population"].to_numpy(float), label, units, table)
    for w in caught:
        warnings.warn(str(w.message), w.category, stacklevel=2)
    out["population"] = result.population
    report = result.report
    report.loc[add, "status"] = "added point"
    out.attrs = {
        **points.attrs,
        "calibrated_to": {
            "units": int((result.report["status"] != "not in table").sum()),
            "total": float(np.nansum(result.report["population_table"])),
        },
    }
    return out, report


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
            from geo.coverage import assign_cells  # geo.coverage imports this module

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
