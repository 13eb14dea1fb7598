"""Regular grid over an area in a metric CRS: the off-road part of the travel-time graph.

Cells are squares of ``cell_m`` metres.  Only *active* cells (those touching the area)
become graph nodes, numbered in row-major order, so a 1 km grid over Mali has about
1.3 million nodes rather than the 3 million of its bounding box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS
from rasterio import features

__all__ = ["Grid", "make_grid"]


@dataclass(frozen=True, eq=False)
class Grid:
    """A north-up grid: top-left corner (x0, y0), ``nrows`` x ``ncols`` cells of ``cell_m``."""

    crs: CRS
    x0: float
    y0: float
    cell_m: float
    nrows: int
    ncols: int
    active: np.ndarray  # bool (nrows, ncols)

    def __post_init__(self) -> None:
        if self.active.shape != (self.nrows, self.ncols) or self.active.dtype != bool:
            raise ValueError(f"active must be a bool array of shape {(self.nrows, self.ncols)}")
        if not self.cell_m > 0:
            raise ValueError(f"cell_m must be > 0, got {self.cell_m!r}")

    @property
    def transform(self) -> Affine:
        """Affine transform of the grid (rasterio convention)."""
        return Affine(self.cell_m, 0.0, self.x0, 0.0, -self.cell_m, self.y0)

    @cached_property
    def cell_node(self) -> np.ndarray:
        """Node index of every cell, -1 for inactive cells (int64, shape (nrows, ncols))."""
        out = np.full(self.active.shape, -1, dtype=np.int64)
        out[self.active] = np.arange(int(self.active.sum()))
        return out

    @cached_property
    def n_cells(self) -> int:
        """Number of active cells (graph nodes)."""
        return int(self.active.sum())

    @cached_property
    def node_rowcol(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each active cell, in node order."""
        rows, cols = np.nonzero(self.active)
        return rows, cols

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y (metres) of each active cell's centre, in node order."""
        rows, cols = self.node_rowcol
        return self.x0 + (cols + 0.5) * self.cell_m, self.y0 - (rows + 0.5) * self.cell_m

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Node index of the cell holding each point, -1 when outside the active grid."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        col = np.floor((x - self.x0) / self.cell_m).astype(np.int64)
        row = np.floor((self.y0 - y) / self.cell_m).astype(np.int64)
        inside = (row >= 0) & (row < self.nrows) & (col >= 0) & (col < self.ncols)
        out = np.full(x.shape, -1, dtype=np.int64)
        out[inside] = self.cell_node[row[inside], col[inside]]
        return out

    def locate_one(self, x: float, y: float) -> int:
        """:meth:`locate` of one point, without arrays (a query's hot path)."""
        col = math.floor((x - self.x0) / self.cell_m)
        row = math.floor((self.y0 - y) / self.cell_m)
        if 0 <= row < self.nrows and 0 <= col < self.ncols:
            return int(self.cell_node[row, col])
        return -1

    def to_raster(self, values: np.ndarray, *, fill: float = np.nan) -> np.ndarray:
        """Spread per-node ``values`` (first ``n_cells`` entries used) back onto the 2-D grid."""
        values = np.asarray(values)
        out = np.full(self.active.shape, fill, dtype=np.result_type(values.dtype, type(fill)))
        out[self.active] = values[: self.n_cells]
        return out


def make_grid(
    area: shapely.Geometry, *, crs: CRS, cell_m: float = 1000.0, buffer_m: float = 0.0
) -> Grid:
    """A grid of ``cell_m`` cells covering ``area`` (a polygon in ``crs``, metres).

    Cells touching ``area`` buffered by ``buffer_m`` are active.  The grid origin is
    snapped to a multiple of ``cell_m`` so grids of the same cell size align.
    """
    if not cell_m > 0:
        raise ValueError(f"cell_m must be > 0, got {cell_m!r}")
    if area is None or area.is_empty:
        raise ValueError("area is empty; pass the country polygon in a metric CRS")
    shape = area.buffer(buffer_m) if buffer_m > 0 else area
    minx, miny, maxx, maxy = shape.bounds
    x0 = np.floor(minx / cell_m) * cell_m
    y0 = np.ceil(maxy / cell_m) * cell_m
    ncols = int(np.ceil((maxx - x0) / cell_m))
    nrows = int(np.ceil((y0 - miny) / cell_m))
    transform = Affine(cell_m, 0.0, x0, 0.0, -cell_m, y0)
    active = features.rasterize(
        [(shape, 1)],
        out_shape=(nrows, ncols),
        transform=transform,
        fill=0,
        all_touched=True,
        dtype="uint8",
    ).astype(bool)
    return Grid(
        crs=CRS.from_user_input(crs),
        x0=float(x0),
        y0=float(y0),
        cell_m=float(cell_m),
        nrows=nrows,
        ncols=ncols,
        active=active,
    )
