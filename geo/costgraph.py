"""The travel-time graph: a 1 km off-road grid joined to a densified road network.

This is the AccessMod / Malaria Atlas Project cost-surface model and the GOSTnets road
graph in one sparse graph, solved exactly with Dijkstra:

- every active grid cell is a node; neighbouring cells (8-connected) are joined by an
  edge costing ``step_m * (pace_a + pace_b) / 2`` minutes, where ``pace`` is the off-road
  minutes per metre in each cell: exactly scikit-image's ``MCP_Geometric`` rule;
- every road stretch is cut into pieces no longer than half a cell; the pieces are
  edges costing their true length at the mode's speed for the road class, or at the
  stretch's own speed scaled as the speed profile says
  (:meth:`geo.speeds.SpeedTable.segment_speeds_kph`);
- every road vertex is joined to the cell holding it by an off-road leg from the cell
  centre (so leaving the road costs time: no spurious zero, pandana #170);
- a per-cell ``cell_factor`` multiplies speeds (conflict scenarios); 0 closes a cell.

Nodes 0 … n_cells-1 are grid cells, then road vertices.  Providers are never nodes: they
are sources that enter the graph where :func:`point_entries` says (see
:mod:`geo.labels`), so the graph does not depend on the provider directory and no route
passes through a provider.  The graph is symmetric (travel either way costs the same)
and stored twice in CSR form: minutes and metres.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.ndimage import distance_transform_edt
from scipy.spatial import cKDTree

from geo import _walks
from geo.crs import check_same_crs
from geo.grid import Grid
from geo.roads import SOURCE_SPEED_COLUMN
from geo.speeds import SpeedTable

__all__ = [
    "CostGraph",
    "RoadIndex",
    "RoadVertices",
    "build_cost_graph",
    "densify_roads",
    "point_entries",
    "road_distance_m",
]

_NEIGHBOURS = ((0, 1, 1.0), (1, 0, 1.0), (1, 1, np.sqrt(2.0)), (1, -1, np.sqrt(2.0)))
#: Dijkstra in scipy treats a stored 0 like any edge, but we never let a leg cost
#: exactly nothing when its length is not zero; a zero-length leg costs this.
_MIN_MINUTES = 1e-9


@dataclass(frozen=True, eq=False)
class RoadVertices:
    """A road network cut into short segments, in a metric CRS."""

    x: np.ndarray
    y: np.ndarray
    seg_a: np.ndarray
    seg_b: np.ndarray
    seg_length_m: np.ndarray
    seg_class: np.ndarray
    seg_paved: np.ndarray  # int8: 1 paved, 0 unpaved, -1 unknown
    seg_road: np.ndarray  # row of the source road layer
    seg_speed_kph: np.ndarray | None = None  # the layer's own speed (NaN: none), or None

    @property
    def n_vertices(self) -> int:
        """Number of road vertices."""
        return len(self.x)


def densify_roads(roads: gpd.GeoDataFrame, *, max_segment_m: float) -> RoadVertices:
    """Cut each road stretch into equal pieces of at most ``max_segment_m`` metres.

    ``roads`` is a road layer (``geo.roads`` schema) already projected to a metric CRS.
    Junctions keep their node ids (``u``/``v``); a piece's length is its share of the
    stretch's true ``length_m``, so the network length is preserved exactly even where
    the geometry is a straight stand-in for the real road.  A ``speed_kph`` column
    (the source's own speed per stretch) is carried to every piece.
    """
    if roads.crs is None or not roads.crs.is_projected:
        raise ValueError("roads must be in a projected metric CRS; use .to_crs(METRIC_CRS)")
    if not max_segment_m > 0:
        raise ValueError(f"max_segment_m must be > 0, got {max_segment_m!r}")
    lines = roads.geometry.values
    n_lines = len(lines)
    junction_ids, inverse = np.unique(
        np.concatenate([roads["u"].to_numpy(), roads["v"].to_numpy()]), return_inverse=True
    )
    ju, jv = inverse[:n_lines], inverse[n_lines:]
    n_junctions = len(junction_ids)
    jx = np.empty(n_junctions)
    jy = np.empty(n_junctions)
    start = shapely.get_coordinates(shapely.get_point(lines, 0))
    end = shapely.get_coordinates(shapely.get_point(lines, -1))
    jx[jv], jy[jv] = end[:, 0], end[:, 1]
    jx[ju], jy[ju] = start[:, 0], start[:, 1]
    geom_len = shapely.length(lines)
    n_seg = np.maximum(1, np.ceil(geom_len / max_segment_m)).astype(np.int64)
    n_inner = n_seg - 1
    inner_offset = np.concatenate([[0], np.cumsum(n_inner)[:-1]])
    inner_line = np.repeat(np.arange(n_lines), n_inner)
    inner_k = np.arange(int(n_inner.sum())) - np.repeat(inner_offset, n_inner) + 1
    inner_pts = shapely.line_interpolate_point(
        lines[inner_line], inner_k / n_seg[inner_line], normalized=True
    )
    inner_xy = shapely.get_coordinates(inner_pts).reshape(-1, 2)
    seg_line = np.repeat(np.arange(n_lines), n_seg)
    seg_start = np.concatenate([[0], np.cumsum(n_seg)[:-1]])
    k = np.arange(int(n_seg.sum())) - np.repeat(seg_start, n_seg)
    base = n_junctions + inner_offset[seg_line]
    seg_a = np.where(k == 0, ju[seg_line], base + k - 1)
    seg_b = np.where(k == n_seg[seg_line] - 1, jv[seg_line], base + k)
    paved = roads["paved"].astype("boolean")
    paved_code = np.where(paved.isna(), -1, paved.fillna(False).astype(int)).astype(np.int8)
    return RoadVertices(
        x=np.concatenate([jx, inner_xy[:, 0]]),
        y=np.concatenate([jy, inner_xy[:, 1]]),
        seg_a=seg_a.astype(np.int64),
        seg_b=seg_b.astype(np.int64),
        seg_length_m=(roads["length_m"].to_numpy(float) / n_seg)[seg_line],
        seg_class=roads["road_class"].to_numpy(dtype=object)[seg_line],
        seg_paved=paved_code[seg_line],
        seg_road=seg_line,
        seg_speed_kph=roads[SOURCE_SPEED_COLUMN].to_numpy(float)[seg_line]
        if SOURCE_SPEED_COLUMN in roads.columns
        else None,
    )


@dataclass(frozen=True, eq=False)
class CostGraph:
    """A travel-time graph for one mode and scenario (see the module docstring)."""

    grid: Grid
    node_x: np.ndarray
    node_y: np.ndarray
    minutes: sp.csr_matrix
    metres: sp.csr_matrix
    cell_pace: np.ndarray  # off-road minutes per metre of each cell (inf = closed)
    n_road: int
    mode: str
    description: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        m, d = self.minutes, self.metres
        same = m.shape == d.shape and m.nnz == d.nnz
        if same and not (m.indices is d.indices and m.indptr is d.indptr):
            same = np.array_equal(m.indptr, d.indptr) and np.array_equal(m.indices, d.indices)
        if not same:
            raise ValueError("minutes and metres must hold the same edges in the same order")

    @property
    def n_cells(self) -> int:
        """Number of grid-cell nodes (they come first)."""
        return self.grid.n_cells

    @property
    def n_nodes(self) -> int:
        """All nodes: cells, then road vertices."""
        return len(self.node_x)

    @cached_property
    def road_index(self) -> RoadIndex | None:
        """The graph's :class:`RoadIndex` (a KD-tree of the road vertices, bounds on the
        distance to the nearest one), shared with the graphs on the same roads; None
        without roads."""
        if self.n_road == 0:
            return None
        sl = slice(self.n_cells, self.n_cells + self.n_road)
        return _shared_road_index(self.grid, self.node_x[sl], self.node_y[sl])


@dataclass(frozen=True, eq=False)
class RoadIndex:
    """Where the road vertices are: a KD-tree, and ``gap_cells``: for every cell of the
    grid's raster (``nrows`` x ``ncols``, float32) the distance from its centre to the
    centre of the nearest cell holding a vertex, in cells (None when no vertex lies on
    the raster).  :meth:`bounds` turns it into bounds on the distance from any point of
    the cell to the nearest vertex, so :func:`point_entries` and
    :func:`road_distance_m` ask the tree once, or not at all far from any road."""

    tree: cKDTree
    gap_cells: np.ndarray | None
    grid: Grid

    def bounds(self, x: float, y: float) -> tuple[float, float] | None:
        """(lower, upper) bounds, metres, of the distance from (x, y) to the nearest road
        vertex: the cells' distance less or plus the two half-diagonals between the
        cells' centres and the points, and a metre either way.  None off the raster."""
        g = self.grid
        col = math.floor((x - g.x0) / g.cell_m)
        row = math.floor((g.y0 - y) / g.cell_m)
        if self.gap_cells is None or not (0 <= row < g.nrows and 0 <= col < g.ncols):
            return None
        gap = float(self.gap_cells[row, col])
        return (gap - _SQRT2) * g.cell_m - 1.0, (gap + _SQRT2) * g.cell_m + 1.0


_SQRT2 = math.sqrt(2.0)

#: Road indexes by grid and vertex positions: the graphs of every mode and scenario of
#: a build share their road vertices, and so one index (a few, most recent kept).
_ROAD_INDEXES: OrderedDict[tuple, RoadIndex] = OrderedDict()
_ROAD_INDEXES_KEPT = 4
_ROAD_INDEXES_LOCK = threading.Lock()


def _shared_road_index(grid: Grid, x: np.ndarray, y: np.ndarray) -> RoadIndex:
    """The :class:`RoadIndex` of road vertices at (x, y) on ``grid`` (made once for the
    same grid and positions)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    digest = hashlib.blake2b(x.tobytes() + y.tobytes(), digest_size=16).hexdigest()
    key = (grid.crs.to_wkt(), grid.x0, grid.y0, grid.cell_m, grid.nrows, grid.ncols, digest)
    with _ROAD_INDEXES_LOCK:
        found = _ROAD_INDEXES.get(key)
        if found is None:
            found = RoadIndex(cKDTree(np.column_stack([x, y])), _gap_cells(grid, x, y), grid)
            _ROAD_INDEXES[key] = found
            while len(_ROAD_INDEXES) > _ROAD_INDEXES_KEPT:
                _ROAD_INDEXES.popitem(last=False)
        _ROAD_INDEXES.move_to_end(key)
        return found


def _gap_cells(grid: Grid, x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """:attr:`RoadIndex.gap_cells` of vertices at (x, y)."""
    col = np.floor((x - grid.x0) / grid.cell_m).astype(np.int64)
    row = np.floor((grid.y0 - y) / grid.cell_m).astype(np.int64)
    inside = (row >= 0) & (row < grid.nrows) & (col >= 0) & (col < grid.ncols)
    if not inside.any():
        return None
    empty = np.ones((grid.nrows, grid.ncols), dtype=bool)
    empty[row[inside], col[inside]] = False
    return distance_transform_edt(empty).astype(np.float32)


def _pace(speed_kph: np.ndarray | float) -> np.ndarray:
    """Minutes per metre at ``speed_kph``; inf where the speed is 0."""
    speed = np.asarray(speed_kph, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(speed > 0, 60.0 / (speed * 1000.0), np.inf)


def build_cost_graph(
    grid: Grid,
    roads: RoadVertices | None,
    speeds: SpeedTable,
    *,
    mode: str,
    season: str = "dry",
    cell_factor: np.ndarray | None = None,
) -> CostGraph:
    """Build the travel-time graph of ``mode`` over ``grid`` and ``roads``.

    Parameters
    ----------
    grid
        Active cells over the study area (metric CRS).
    roads
        Densified roads in the grid's CRS (:func:`densify_roads`), or None for off-road only.
    speeds
        Speed table; ``mode`` must be one of its modes.
    season
        ``"dry"`` or ``"rainy"`` (slows unpaved roads and off-road travel).
    cell_factor
        Speed multiplier per active cell (node order), > 0 slows or speeds, 0 closes the
        cell.  Road pieces take the smaller factor of the cells at their two ends.
    """
    speeds.mode(mode)  # validates the mode name
    n_cells = grid.n_cells
    if cell_factor is None:
        cell_factor = np.ones(n_cells)
    cell_factor = np.asarray(cell_factor, dtype=float)
    if cell_factor.shape != (n_cells,) or (cell_factor < 0).any() or np.isnan(cell_factor).any():
        raise ValueError(f"cell_factor must be {n_cells} numbers >= 0 (one per active cell)")
    with np.errstate(divide="ignore"):
        cell_pace = np.where(
            cell_factor > 0,
            _pace(speeds.offroad_speed_kph(mode, season))
            / np.where(cell_factor > 0, cell_factor, 1),
            np.inf,
        )
    edges = _grid_edges(grid, cell_pace)
    cx, cy = grid.cell_centres()
    node_x, node_y = [cx], [cy]
    n_road = 0
    if roads is not None and roads.n_vertices:
        n_road = roads.n_vertices
        for part in (
            _road_edges(grid, roads, speeds, mode, season, cell_factor),
            _connector_edges(grid, roads, cell_pace, cx, cy),
        ):
            for store, values in zip(edges, part, strict=True):
                store.append(values)
        node_x.append(roads.x)
        node_y.append(roads.y)
    minutes, length = _symmetric_csr(*edges, n_cells + n_road)
    return CostGraph(
        grid=grid,
        node_x=np.concatenate(node_x),
        node_y=np.concatenate(node_y),
        minutes=minutes,
        metres=length,
        cell_pace=cell_pace,
        n_road=n_road,
        mode=mode,
        description={
            "mode": mode,
            "season": season,
            "cell_m": grid.cell_m,
            "speed_profile": speeds.profile.name,
        },
    )


_Edges = tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]


def _grid_edges(grid: Grid, cell_pace: np.ndarray) -> _Edges:
    """Each active cell to its 8 neighbours (one direction): rows, cols, minutes, metres."""
    rows, cols, mins, metres = [], [], [], []
    node = grid.cell_node
    for dr, dc, step in _NEIGHBOURS:
        r0, r1 = max(0, -dr), grid.nrows - max(0, dr)
        c0, c1 = max(0, -dc), grid.ncols - max(0, dc)
        a = node[r0:r1, c0:c1].ravel()
        b = node[r0 + dr : r1 + dr, c0 + dc : c1 + dc].ravel()
        keep = (a >= 0) & (b >= 0)
        a, b = a[keep], b[keep]
        w = step * grid.cell_m * (cell_pace[a] + cell_pace[b]) / 2.0
        ok = np.isfinite(w)
        rows.append(a[ok])
        cols.append(b[ok])
        mins.append(w[ok])
        metres.append(np.full(int(ok.sum()), step * grid.cell_m))
    return rows, cols, mins, metres


def _road_edges(
    grid: Grid,
    roads: RoadVertices,
    speeds: SpeedTable,
    mode: str,
    season: str,
    cell_factor: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Road pieces at their speed (the slower factor of their two cells), the fastest of
    parallel pieces kept: rows, cols, minutes, metres (node ids after the cells)."""
    off = grid.n_cells
    vcell = grid.locate(roads.x, roads.y)
    vfactor = np.where(vcell >= 0, cell_factor[np.maximum(vcell, 0)], 1.0)
    seg_factor = np.minimum(vfactor[roads.seg_a], vfactor[roads.seg_b])
    seg_speed = speeds.segment_speeds_kph(
        mode, roads.seg_class, roads.seg_paved, roads.seg_speed_kph, season
    )
    w = roads.seg_length_m * _pace(seg_speed * seg_factor)
    ok = np.isfinite(w)
    return _keep_fastest(
        roads.seg_a[ok] + off,
        roads.seg_b[ok] + off,
        np.maximum(w[ok], _MIN_MINUTES),
        roads.seg_length_m[ok],
    )


def _connector_edges(
    grid: Grid, roads: RoadVertices, cell_pace: np.ndarray, cx: np.ndarray, cy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each road vertex to the cell holding it, off-road from the cell centre."""
    vcell = grid.locate(roads.x, roads.y)
    inside = np.flatnonzero(vcell >= 0)
    d = np.hypot(roads.x[inside] - cx[vcell[inside]], roads.y[inside] - cy[vcell[inside]])
    w = d * cell_pace[vcell[inside]]
    ok = np.isfinite(w)
    return inside[ok] + grid.n_cells, vcell[inside][ok], np.maximum(w[ok], _MIN_MINUTES), d[ok]


def _symmetric_csr(rows, cols, mins, metres, n: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Both directions of every edge.  Callers pass edges without duplicates (see
    :func:`_keep_fastest`); self-loops are dropped."""
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    w = np.concatenate(mins)
    m = np.concatenate(metres)
    keep = r != c
    r, c, w, m = r[keep], c[keep], w[keep], m[keep]
    r, c = np.concatenate([r, c]), np.concatenate([c, r])
    w, m = np.concatenate([w, w]), np.concatenate([m, m])
    minutes = sp.csr_matrix((w, (r, c)), shape=(n, n))
    length = sp.csr_matrix((m, (r, c)), shape=(n, n))
    minutes.sort_indices()
    length.sort_indices()
    return minutes, length


def _keep_fastest(
    a: np.ndarray, b: np.ndarray, w: np.ndarray, m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Of parallel edges between the same two nodes (either direction), keep the fastest."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((w, hi, lo))
    lo, hi, w, m = lo[order], hi[order], w[order], m[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first], hi[first], w[first], m[first]


def point_entries(
    graph: CostGraph, x: float, y: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where a point at (x, y) (graph CRS) enters the graph, and what the entry costs.

    The point enters at the centre of the cell holding it and at every road vertex
    within one cell width, each reached off-road at the pace of the point's cell.

    Returns
    -------
    nodes, leg_minutes, leg_metres
        Entry node ids and the off-road leg to each.  Empty when the point lies outside
        the active grid or in a closed cell.
    """
    cell = graph.grid.locate_one(float(x), float(y))
    if cell < 0 or not np.isfinite(graph.cell_pace[cell]):
        return np.empty(0, np.int64), np.empty(0), np.empty(0)
    nodes = [cell]
    index = graph.road_index
    if index is not None:
        bounds = index.bounds(x, y)
        if bounds is None or bounds[0] <= graph.grid.cell_m:  # else no vertex within reach
            near = index.tree.query_ball_point([x, y], r=graph.grid.cell_m)
            nodes += [graph.n_cells + i for i in near]
    nodes_arr = np.asarray(nodes, dtype=np.int64)
    dist = np.hypot(graph.node_x[nodes_arr] - x, graph.node_y[nodes_arr] - y)
    return nodes_arr, dist * graph.cell_pace[cell], dist


def road_distance_m(graph: CostGraph, x: float, y: float) -> float | None:
    """Distance from (x, y) (graph CRS) to the nearest road of the graph, metres: to the
    nearest road piece's line, not to a cell centre nor a vertex.  None without roads.

    Road pieces are at most half a cell long (:func:`densify_roads`): the nearest piece
    has a vertex within the nearest vertex's distance widened by half a cell, so only
    the pieces touching those vertices are measured.  The nearest vertex's distance is
    bounded by :meth:`RoadIndex.bounds` (one question to the tree: an
    exact nearest-neighbour search far from any road costs several times more); outside
    the grid, asked of the tree.
    """
    index = graph.road_index
    if index is None:
        return None
    tree = index.tree
    bounds = index.bounds(x, y)  # the upper one: at least the nearest vertex's distance
    nearest_m = bounds[1] if bounds is not None else float(tree.query([x, y], k=1)[0])
    radius_m = math.hypot(nearest_m, graph.grid.cell_m / 2.0) + 1.0
    near = tree.query_ball_point([float(x), float(y)], r=radius_m)
    vertices = graph.n_cells + np.asarray(near, dtype=np.int64)
    indptr, indices = graph.metres.indptr, graph.metres.indices
    return float(
        _walks.nearest_segment_m(
            indptr, indices, graph.node_x, graph.node_y, graph.n_cells, vertices, x, y
        )
    )


def check_graph_crs(graph: CostGraph, layer: gpd.GeoDataFrame) -> None:
    """Raise unless ``layer`` is in the graph's CRS."""
    check_same_crs(layer, graph.grid, what="layer vs travel-time graph")
