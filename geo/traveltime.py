"""Travel times on a :class:`~geo.costgraph.CostGraph`: surfaces, rankings, routes.

Two computations, split as spopt does (geometry -> cost matrix -> statistics):

- :func:`nearest_source_times` — one multi-source Dijkstra: minutes from every node to
  its nearest source and which source it is (allocation).  This is the national surface.
- :func:`source_time_matrix` — one Dijkstra per source: minutes from every node to every
  source, plus predecessors for routes.  A k-nearest query is then a row lookup
  (:func:`rank_sources`), and the surface of any subset of sources (one service) is the
  minimum over its columns (:func:`surface_from_matrix`) — exactly what the multi-source
  run gives, without running it again.

Unreachable nodes have ``inf`` minutes; results turn them into explicit nulls with a
reason, never a silent 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from rasterio import features
from scipy.sparse.csgraph import dijkstra

from geo.costgraph import CostGraph, point_entries
from geo.crs import GEOGRAPHIC_CRS

__all__ = [
    "Ranking",
    "SourceMatrix",
    "entries_or_raise",
    "isochrones",
    "nearest_source_times",
    "rank_sources",
    "route_line",
    "source_time_matrix",
    "surface_from_matrix",
]


def _check_sources(graph: CostGraph, sources: np.ndarray) -> np.ndarray:
    sources = np.asarray(sources, dtype=np.int64)
    if sources.ndim != 1 or len(sources) == 0:
        raise ValueError("sources must be a non-empty 1-D array of node ids")
    if (sources < 0).any() or (sources >= graph.n_nodes).any():
        bad = sources[(sources < 0) | (sources >= graph.n_nodes)]
        raise ValueError(
            f"source node ids {bad[:5].tolist()} are not in the graph "
            f"(0..{graph.n_nodes - 1}); a point outside the grid cannot be a source"
        )
    return sources


def nearest_source_times(graph: CostGraph, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minutes from every node to its nearest source, and that source's position in ``sources``.

    Returns
    -------
    minutes : float64 array (n_nodes,)
        ``inf`` where no source can be reached.
    nearest : int64 array (n_nodes,)
        Index into ``sources`` of the nearest one; -1 where unreachable.
    """
    sources = _check_sources(graph, sources)
    dist, _pred, src = dijkstra(
        graph.minutes, directed=True, indices=sources, min_only=True, return_predecessors=True
    )
    # node id of the nearest source -> its position in ``sources``
    order = np.argsort(sources, kind="stable")
    reached = src >= 0
    position = np.full(graph.n_nodes, -1, dtype=np.int64)
    position[reached] = order[np.searchsorted(sources, src[reached], sorter=order)]
    return dist, position


@dataclass(frozen=True, eq=False)
class SourceMatrix:
    """Minutes (float32) and predecessors (int32) from every node to every source.

    ``minutes[n, j]`` is the time from node ``n`` to source ``j``; ``pred[n, j]`` is the
    next node on that path towards the source (-9999 where none).
    """

    sources: np.ndarray
    minutes: np.ndarray
    pred: np.ndarray


def source_time_matrix(
    graph: CostGraph,
    sources: np.ndarray,
    *,
    chunk: int = 8,
    progress: Callable[[int], None] | None = None,
) -> SourceMatrix:
    """One Dijkstra per source location; memory is bounded by ``chunk`` runs at a time.

    Sources at the same coordinates (several providers in one building or town) join the
    graph identically, so one Dijkstra serves them all: its column is copied, and only
    the rows of the twin provider nodes themselves are set apart.  ``progress`` is called
    with the number of sources done after each chunk.
    """
    sources = _check_sources(graph, sources)
    n = graph.n_nodes
    minutes = np.empty((n, len(sources)), dtype=np.float32)
    pred = np.empty((n, len(sources)), dtype=np.int32)
    xy = np.column_stack([graph.node_x[sources], graph.node_y[sources]])
    _, first, group = np.unique(xy, axis=0, return_index=True, return_inverse=True)
    group = group.ravel()
    reps = np.sort(first)
    for start in range(0, len(reps), chunk):
        cols = reps[start : start + chunk]
        dist, p = dijkstra(
            graph.minutes, directed=True, indices=sources[cols], return_predecessors=True
        )
        minutes[:, cols] = dist.T
        pred[:, cols] = p.T
        if progress is not None:
            progress(int(np.isin(group, group[reps[: start + len(cols)]]).sum()))
    for j in range(len(sources)):
        r = first[group[j]]
        if r == j:
            continue
        minutes[:, j] = minutes[:, r]
        pred[:, j] = pred[:, r]
        # the twin's own node is its source; the representative's node is as far from
        # it as it is from the representative (the graph is symmetric)
        minutes[sources[r], j] = minutes[sources[j], r]
        minutes[sources[j], j] = 0.0
        pred[sources[j], j] = -9999
        pred[sources[r], j] = -9999
    return SourceMatrix(sources=sources, minutes=minutes, pred=pred)


def surface_from_matrix(
    matrix: SourceMatrix, columns: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Minutes to the nearest of ``columns`` and which column, for every node.

    Equals :func:`nearest_source_times` over those sources (to float32 precision).
    """
    columns = np.asarray(columns, dtype=np.int64)
    if len(columns) == 0:
        n = matrix.minutes.shape[0]
        return np.full(n, np.inf, dtype=np.float32), np.full(n, -1, dtype=np.int64)
    sub = matrix.minutes[:, columns]
    best = np.argmin(sub, axis=1)
    minutes = sub[np.arange(len(sub)), best]
    nearest = np.where(np.isfinite(minutes), columns[best], -1)
    return minutes, nearest


@dataclass(frozen=True)
class Ranking:
    """Sources ranked by travel time from one point."""

    columns: np.ndarray  # source columns, fastest first (unreachable last)
    minutes: np.ndarray  # total minutes (inf = unreachable)
    entry_node: np.ndarray  # node where the point entered the graph for each source
    leg_minutes: np.ndarray  # off-road leg from the point to that entry node
    leg_metres: np.ndarray


def entries_or_raise(
    graph: CostGraph, x: float, y: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`geo.costgraph.point_entries` of (x, y); ValueError when there is none
    (the point is outside the grid or in a closed cell)."""
    nodes, leg_min, leg_m = point_entries(graph, x, y)
    if len(nodes) == 0:
        raise ValueError(
            f"point ({x:.0f}, {y:.0f}) is outside the travel-time grid or in a closed area"
        )
    return nodes, leg_min, leg_m


def rank_sources(
    graph: CostGraph,
    matrix: SourceMatrix,
    x: float,
    y: float,
    *,
    columns: Sequence[int] | np.ndarray | None = None,
    k: int | None = None,
) -> Ranking:
    """Rank sources (all, or ``columns``) by minutes from the point (x, y), graph CRS.

    The point pays its off-road leg to each place it can enter the graph
    (:func:`geo.costgraph.point_entries`); the best entry is kept per source.

    Raises
    ------
    ValueError
        The point is outside the grid or in a closed cell.
    """
    nodes, leg_min, leg_m = entries_or_raise(graph, x, y)
    cols = np.arange(matrix.minutes.shape[1]) if columns is None else np.asarray(columns)
    total = leg_min[:, None] + matrix.minutes[np.ix_(nodes, cols)].astype(np.float64)
    best_entry = np.argmin(total, axis=0)
    minutes = total[best_entry, np.arange(len(cols))]
    entry = nodes[best_entry]
    legs_min, legs_m = leg_min[best_entry], leg_m[best_entry]
    # a source within two cells may be reached straight across country: without this a
    # point next to a provider would pay two legs through a cell centre
    src = matrix.sources[cols]
    direct_m = np.hypot(graph.node_x[src] - x, graph.node_y[src] - y)
    pace = graph.cell_pace[nodes[0]]
    direct_min = direct_m * pace
    closer = (direct_m <= 2 * graph.grid.cell_m) & (direct_min < minutes)
    minutes = np.where(closer, direct_min, minutes)
    entry = np.where(closer, src, entry)
    legs_min = np.where(closer, direct_min, legs_min)
    legs_m = np.where(closer, direct_m, legs_m)
    order = np.argsort(minutes, kind="stable")
    if k is not None:
        order = order[:k]
    return Ranking(
        columns=cols[order],
        minutes=minutes[order],
        entry_node=entry[order],
        leg_minutes=legs_min[order],
        leg_metres=legs_m[order],
    )


def route_line(
    graph: CostGraph, matrix: SourceMatrix, start_node: int, column: int
) -> tuple[shapely.LineString, float, np.ndarray]:
    """The path from ``start_node`` to source ``column``: line (graph CRS), metres, nodes."""
    target = int(matrix.sources[column])
    path = [int(start_node)]
    limit = graph.n_nodes
    pred = np.asarray(matrix.pred)  # a plain view: memmap indexing is slow per element
    while path[-1] != target:
        nxt = int(pred[path[-1], column])
        if nxt < 0:
            here = path[-1]
            if (graph.node_x[here], graph.node_y[here]) == (
                graph.node_x[target],
                graph.node_y[target],
            ):
                break  # reached a provider at the same place (a shared Dijkstra run)
            raise ValueError(f"node {start_node} cannot reach source {column}")
        path.append(nxt)
        if len(path) > limit:
            raise RuntimeError("predecessor chain does not end; the matrix is corrupt")
    nodes = np.asarray(path, dtype=np.int64)
    # one vectorised CSR lookup; a pair missing from ``metres`` is a zero-length leg
    # (sparse sums drop stored zeros)
    metres = float(np.asarray(graph.metres[nodes[:-1], nodes[1:]]).sum()) if len(nodes) > 1 else 0.0
    coords = np.column_stack([graph.node_x[nodes], graph.node_y[nodes]])
    if len(coords) == 1:
        coords = np.vstack([coords, coords])
    return shapely.LineString(coords), metres, nodes


def isochrones(
    graph: CostGraph,
    minutes: np.ndarray,
    thresholds_min: Sequence[float] = (30, 60, 120, 300),
) -> gpd.GeoDataFrame:
    """Polygons of the grid cells reached within each threshold, EPSG:4326.

    ``minutes`` holds a time per node (only the cell nodes are used): one column of a
    :class:`SourceMatrix` for one provider's isochrones, or a surface for a service.
    """
    thresholds = sorted(float(t) for t in thresholds_min)
    if not thresholds or thresholds[0] <= 0:
        raise ValueError(f"thresholds_min must be positive minutes, got {thresholds_min!r}")
    cells = np.asarray(minutes[: graph.n_cells], dtype=np.float64)
    raster = graph.grid.to_raster(cells, fill=np.inf)
    rows, geoms = [], []
    for t in thresholds:
        mask = raster <= t
        if not mask.any():
            continue
        shapes = [
            shapely.geometry.shape(geom)
            for geom, value in features.shapes(
                mask.astype(np.uint8), mask=mask, transform=graph.grid.transform
            )
            if value == 1
        ]
        rows.append(t)
        geoms.append(shapely.union_all(shapes))
    out = gpd.GeoDataFrame({"threshold_min": rows}, geometry=geoms, crs=graph.grid.crs)
    return out.to_crs(GEOGRAPHIC_CRS)
