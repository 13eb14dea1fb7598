"""Population on the travel-time grid: where the people are who need to reach help.

Two cases, chosen by comparing cell sizes:

- a **coarser** source (the development 10' WorldPop grid, about 18 km): each grid cell
  takes the density of the source cell holding its centre times its own area; people
  are spread evenly inside an 18 km cell, which is the main limit of figures built on it;
- a **finer** source (WorldPop 100 m or 1 km, Kontur): each source cell's people go to
  the grid cell holding its centre (a sum, nothing is lost).

Only grid cells whose centre lies inside ``area`` (the country) receive people.
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer
from rasterio.transform import rowcol, xy

from geo.grid import Grid
from geo.population import PopulationRaster, cell_areas_km2

__all__ = ["population_on_grid"]


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
