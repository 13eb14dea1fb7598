"""Rank sources from a query point and walk their routes, from :mod:`geo.labels`.

A query is a lookup, not a search.  The point enters the graph at its cell and the road
vertices within a cell width (:func:`geo.costgraph.point_entries`), paying an off-road
leg to each; the labels of those few nodes hold every candidate:

    time(point, s) = min over entries e of leg(e) + labels[e][s]

and a source among the point's ``k`` nearest is among the ``k`` labels of its best
entry (any source nearer to that entry is nearer to the point), so the merged labels
give the exact ranking for any ``k`` up to the labels' ``k``.  A source within two cells
is also reached straight across country when that is quicker.  Each route is then
walked along the labels to the node where it leaves the graph for the provider
(:func:`walk_route`; compiled, microseconds).

:func:`rank_by_dijkstra` answers the same question with a full Dijkstra from the point
(scipy): the reference that the fast answer is tested and benchmarked against.

Ties (equal float32 minutes) are broken by source id, here and in the reference.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from weakref import WeakKeyDictionary

import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra

from geo import _walks
from geo.costgraph import CostGraph, point_entries
from geo.labels import NearestLabels, source_seeds

__all__ = [
    "DIRECT",
    "Ranking",
    "RouteWalk",
    "RouteWalks",
    "entries_or_raise",
    "node_classes",
    "path_road_part",
    "rank_by_dijkstra",
    "rank_point",
    "ranked_walks",
    "route_geometry",
    "route_nodes",
    "walk_route",
    "walk_routes",
]

#: ``entry_node`` of a source reached straight across country (no graph node).
DIRECT = -1


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


@dataclass(frozen=True)
class Ranking:
    """Sources ranked by travel time from one point, fastest first (unreachable last).

    ``ids`` are the sources' ids, ``sets`` which of the label sets each came from (-1
    for an unreachable source listed to fill ``k``), ``minutes`` the total (inf when
    unreachable), ``entry_node`` the node where the point entered the graph for it
    (:data:`DIRECT` straight across country), ``leg_minutes`` / ``leg_metres`` that
    first off-road leg.
    """

    ids: np.ndarray
    sets: np.ndarray
    minutes: np.ndarray
    entry_node: np.ndarray
    leg_minutes: np.ndarray
    leg_metres: np.ndarray


_BY_X: WeakKeyDictionary[NearestLabels, tuple[np.ndarray, np.ndarray]] = WeakKeyDictionary()


def _by_x(labels: NearestLabels) -> tuple[np.ndarray, np.ndarray]:
    """The sources of ``labels`` sorted by x (positions, and their x), once per set."""
    found = _BY_X.get(labels)
    if found is None:
        order = np.argsort(labels.x, kind="stable").astype(np.int64)
        found = (order, np.asarray(labels.x, dtype=np.float64)[order])
        _BY_X[labels] = found
    return found


def rank_point(
    graph: CostGraph,
    sets: Sequence[NearestLabels],
    x: float,
    y: float,
    *,
    k: int,
) -> Ranking:
    """The ``k`` nearest sources of the label ``sets`` from (x, y) (graph CRS).

    Candidates: each entry's labels (:func:`geo._walks.point_candidates`), and each
    source within two cells straight across country.  A source present in several sets
    (a provider offering several services) counts once, by its fastest candidate
    (ties: graph before straight across, the first set first).  Fewer than ``k``
    reachable sources are followed by unreachable ones, lowest id first.

    Raises
    ------
    ValueError
        ``k`` above a set's labels, or the point is outside the grid or in a closed cell.
    """
    for labels in sets:
        if k > labels.k and labels.n_sources > labels.k:
            raise ValueError(f"k={k} is above the {labels.k} labels kept per place")
    nodes, leg_min, leg_m = entries_or_raise(graph, x, y)
    pace = float(graph.cell_pace[nodes[0]])
    reach = 2 * graph.grid.cell_m
    found = []
    for labels in sets:
        by_x, xs = _by_x(labels)
        found.append(
            _walks.point_candidates(
                labels.source,
                labels.minutes,
                labels.ids,
                nodes,
                leg_min,
                leg_m,
                by_x,
                xs,
                labels.x,
                labels.y,
                labels.entered,
                float(x),
                float(y),
                reach,
                pace,
            )
        )
    if len(found) == 1:
        ids, total, entry, leg, legm = found[0]
        which = np.zeros(len(ids), dtype=np.int64)
    else:
        ids, total, entry, leg, legm = (
            np.concatenate([f[j] for f in found]) if found else np.empty(0) for j in range(5)
        )
        which = np.repeat(np.arange(len(found)), [len(f[0]) for f in found])
    keep = _walks.pick_fastest(ids.astype(np.int64), total.astype(np.float64), k)
    ranking = Ranking(
        ids=ids[keep].astype(np.int64),
        sets=which[keep].astype(np.int64),
        minutes=total[keep].astype(np.float64),
        entry_node=entry[keep].astype(np.int64),
        leg_minutes=leg[keep].astype(np.float64),
        leg_metres=legm[keep].astype(np.float64),
    )
    if len(ranking.ids) < k:
        ranking = _fill_unreachable(ranking, sets, k)
    return ranking


_SORTED_IDS: WeakKeyDictionary[NearestLabels, np.ndarray] = WeakKeyDictionary()


def _sorted_ids(labels: NearestLabels) -> np.ndarray:
    """The ids of ``labels``, sorted, once per set."""
    found = _SORTED_IDS.get(labels)
    if found is None:
        found = np.unique(labels.ids)
        _SORTED_IDS[labels] = found
    return found


def _fill_unreachable(ranking: Ranking, sets: Sequence[NearestLabels], k: int) -> Ranking:
    """Add unreachable sources (lowest id first) until there are ``k``."""
    if len(sets) == 1:
        every = _sorted_ids(sets[0])
    else:
        every = np.unique(np.concatenate([s.ids for s in sets])) if sets else np.empty(0, np.int64)
    rest = every[~np.isin(every, ranking.ids)][: k - len(ranking.ids)]
    n = len(rest)
    return Ranking(
        ids=np.concatenate([ranking.ids, rest]),
        sets=np.concatenate([ranking.sets, np.full(n, -1)]),
        minutes=np.concatenate([ranking.minutes, np.full(n, np.inf)]),
        entry_node=np.concatenate([ranking.entry_node, np.full(n, DIRECT)]),
        leg_minutes=np.concatenate([ranking.leg_minutes, np.full(n, np.nan)]),
        leg_metres=np.concatenate([ranking.leg_metres, np.full(n, np.nan)]),
    )


def node_classes(graph: CostGraph, cell_zone: np.ndarray) -> np.ndarray:
    """Conflict class of every node: cells their own, road vertices their cell's."""
    zone = np.asarray(cell_zone)
    if zone.shape != (graph.n_cells,):
        raise ValueError(
            f"cell_zone must hold one class per grid cell ({graph.n_cells}), got {zone.shape}"
        )
    out = np.zeros(graph.n_nodes, dtype=np.int8)
    out[: graph.n_cells] = zone
    rest = np.arange(graph.n_cells, graph.n_nodes)
    cell = graph.grid.locate(graph.node_x[rest], graph.node_y[rest])
    out[rest] = np.where(cell >= 0, zone[np.maximum(cell, 0)], 0)
    return out


def path_road_part(graph: CostGraph, nodes: np.ndarray) -> tuple[float, float]:
    """Metres and minutes of an explicit path of nodes (the reference's paths) spent on
    roads (edges between two road vertices), as :func:`walk_route` counts them."""
    road = np.asarray(nodes, dtype=np.int64) >= graph.n_cells
    metres = minutes = 0.0
    for j in np.flatnonzero(road[:-1] & road[1:]):
        a, b = int(nodes[j]), int(nodes[j + 1])
        metres += float(graph.metres[a, b])
        minutes += float(graph.minutes[a, b])
    return metres, minutes


@dataclass(frozen=True)
class RouteWalk:
    """One route from an entry node to a source: metres per conflict class (one class
    without zones), the worst class met, the seed node where it leaves the graph, and
    the nodes when asked for.  The last off-road leg to the source is included in the
    metres (in the worse class of the seed node and the source's cell).  ``road_metres``
    and ``road_minutes``: the part on roads (edges between two road vertices); the rest,
    legs included, is off-road."""

    metres_by_class: np.ndarray
    worst_class: int
    seed_node: int
    nodes: np.ndarray
    road_metres: float = 0.0
    road_minutes: float = 0.0


_END_CELLS: WeakKeyDictionary[NearestLabels, np.ndarray] = WeakKeyDictionary()


def _end_cells(graph: CostGraph, labels: NearestLabels) -> np.ndarray:
    """The grid cell of every source of ``labels`` (cached per label set)."""
    found = _END_CELLS.get(labels)
    if found is None:
        found = graph.grid.locate(labels.x, labels.y)
        _END_CELLS[labels] = found
    return found


@dataclass(frozen=True)
class RouteWalks:
    """Several routes of one label set (:func:`walk_routes`): per route (rows) what a
    :class:`RouteWalk` holds, without the nodes."""

    metres_by_class: np.ndarray  # (n routes, n classes)
    worst_class: np.ndarray
    seed_node: np.ndarray
    road_metres: np.ndarray
    road_minutes: np.ndarray


@cache
def no_summary(width: int) -> tuple[np.ndarray, ...]:
    """Empty arrays in the place of route summaries (:mod:`geo.route_summary`), read-only
    like memory-mapped ones so the compiled walk has one signature; made once per width."""
    arrays = (
        np.zeros(0, np.uint64),
        np.zeros(0, np.int64),
        np.zeros((0, width)),
        np.zeros((0, 2)),
        np.zeros(0, np.int8),
        np.zeros(0, np.int64),
    )
    for a in arrays:
        a.setflags(write=False)
    return arrays


def walk_arrays(
    graph: CostGraph, labels: NearestLabels, node_class: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
    """The arrays every walk along ``labels`` reads, in the compiled walks' order: the
    labels' sources and predecessors, the graph's CSR (metres share the structure of
    minutes: one entry per edge, same order), the number of cells, the node classes."""
    csr = graph.minutes
    classes = node_class if node_class is not None else _NO_CLASSES
    return (
        labels.source,
        labels.pred,
        csr.indptr,
        csr.indices,
        graph.metres.data,
        csr.data,
        graph.n_cells,
        classes,
    )


def walk_routes(
    graph: CostGraph,
    labels: NearestLabels,
    start_nodes: Sequence[int] | np.ndarray,
    source_ids: Sequence[int] | np.ndarray,
    *,
    node_class: np.ndarray | None = None,
    n_classes: int = 3,
) -> RouteWalks:
    """Walk each source ``source_ids[i]``'s labels from ``start_nodes[i]`` to where it
    leaves the graph (one compiled call for all), then the last off-road leg to the
    source, in the worse class of the seed node and the source's cell.  A start of
    :data:`DIRECT` (a source reached straight across country) has no route: its worst
    class is the source cell's, its seed node -1.

    ``node_class`` (:func:`node_classes`) adds the conflict class of every edge.
    """
    positions = np.empty(len(source_ids), dtype=np.int64)
    for i, source_id in enumerate(source_ids):
        position = labels.positions.get(int(source_id))
        if position is None:
            raise ValueError(f"source_id={source_id!r} is not one source of the labels")
        positions[i] = position
    width = n_classes if node_class is not None else 1
    starts = np.asarray(start_nodes, dtype=np.int64)
    summary = labels.summary
    per_class, worst, seed, road_m, road_min, status = _walks.walk_many(
        *walk_arrays(graph, labels, node_class),
        starts,
        positions,
        width,
        graph.node_x,
        graph.node_y,
        labels.x,
        labels.y,
        _end_cells(graph, labels),
        (
            summary.arrays()
            if summary is not None and summary.fits(labels, node_class, width)
            else no_summary(width)
        ),
    )
    if (status == 1).any():
        i = int(np.flatnonzero(status == 1)[0])
        raise ValueError(f"node {int(starts[i])} holds no label of source {source_ids[i]}")
    if (status == 2).any():
        raise RuntimeError("the labels' predecessor chain does not end; rebuild the layers")
    return RouteWalks(per_class, worst, seed, road_m, road_min)


def walk_route(
    graph: CostGraph,
    labels: NearestLabels,
    start_node: int,
    source_id: int,
    *,
    node_class: np.ndarray | None = None,
    n_classes: int = 3,
    keep_nodes: bool = False,
) -> RouteWalk:
    """Walk source ``source_id``'s labels from ``start_node`` to where it leaves the graph
    (:func:`walk_routes` of one route, and its nodes when asked).

    ``node_class`` (:func:`node_classes`) adds the conflict class of every edge.
    """
    w = walk_routes(
        graph, labels, [start_node], [source_id], node_class=node_class, n_classes=n_classes
    )
    nodes = _route_node_list(graph, labels, start_node, source_id) if keep_nodes else None
    return RouteWalk(
        w.metres_by_class[0],
        int(w.worst_class[0]),
        int(w.seed_node[0]),
        np.empty(0, np.int64) if nodes is None else nodes,
        float(w.road_metres[0]),
        float(w.road_minutes[0]),
    )


def _route_node_list(
    graph: CostGraph, labels: NearestLabels, start_node: int, source_id: int
) -> np.ndarray:
    """The nodes of source ``source_id``'s route from ``start_node`` (a walk of its
    labels that keeps them, without the per-class accounting)."""
    return _walks.walk_labels(
        *walk_arrays(graph, labels, None),
        int(start_node),
        labels.positions[int(source_id)],
        1,
        True,
        no_summary(1),  # every node: no summary
    )[3]


_NO_CLASSES = np.zeros(1, dtype=np.int8)


def _path_walk(
    graph: CostGraph,
    nodes: np.ndarray,
    end_x: float,
    end_y: float,
    node_class: np.ndarray | None,
    n_classes: int,
) -> tuple[np.ndarray, int]:
    """Metres per class and worst class of a path of nodes then a leg to (end_x, end_y):
    the reference's own accounting, straight from the graph (no labels)."""
    zones = node_class is not None
    classes: np.ndarray = node_class if node_class is not None else np.zeros(graph.n_nodes, np.int8)
    per_class = np.zeros(n_classes if zones else 1)
    edge_m = np.array(
        [graph.metres[a, b] for a, b in itertools.pairwise(nodes.tolist())], dtype=np.float64
    )
    edge_c = np.maximum(classes[nodes[:-1]], classes[nodes[1:]]).astype(np.int64)
    np.add.at(per_class, edge_c, edge_m)
    cell = int(graph.grid.locate(np.array([end_x]), np.array([end_y]))[0])
    end_class = int(classes[cell]) if (zones and cell >= 0) else 0
    last = float(np.hypot(graph.node_x[nodes[-1]] - end_x, graph.node_y[nodes[-1]] - end_y))
    per_class[max(int(classes[nodes[-1]]), end_class) if zones else 0] += last
    worst = max(int(classes[nodes].max()), end_class) if zones else 0
    return per_class, worst


def ranked_walks(
    graph: CostGraph,
    sets: Sequence[NearestLabels],
    ranking: Ranking,
    node_class: np.ndarray | None,
    paths: list[np.ndarray | None] | None = None,
    *,
    n_classes: int = 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Metres per class (rows), worst class (start excluded), metres and minutes on
    roads of every reachable ranked route, walked along the labels: one compiled call
    per label set (:func:`walk_routes`); or, given the reference's explicit ``paths``,
    measured along them.  A source reached straight across country has no route in the
    graph: its class is its cell's."""
    n = len(ranking.ids)
    per_class = np.zeros((n, n_classes if node_class is not None else 1))
    top = np.zeros(n, dtype=np.int64)
    road_m = np.zeros(n)
    road_min = np.zeros(n)
    reachable = np.isfinite(ranking.minutes)
    # the reference's explicit paths are measured along them (a route the reference
    # reached straight across has none); every other route is walked along the labels
    measured = np.zeros(n, dtype=bool)
    if paths is not None:
        has_path = np.array([p is not None for p in paths], dtype=bool)
        measured = reachable & has_path & (ranking.entry_node != DIRECT)
    walked = reachable & ~measured
    for s in np.unique(ranking.sets[walked]):
        rows = np.flatnonzero(walked & (ranking.sets == s))
        w = walk_routes(
            graph,
            sets[int(s)],
            ranking.entry_node[rows],
            ranking.ids[rows],
            node_class=node_class,
        )
        per_class[rows] = w.metres_by_class
        top[rows] = w.worst_class
        road_m[rows] = w.road_metres
        road_min[rows] = w.road_minutes
    for i in np.flatnonzero(measured):
        labels = sets[int(ranking.sets[i])]
        position = labels.positions[int(ranking.ids[i])]
        path = paths[i] if paths is not None else None
        assert path is not None  # measured: it has one
        end_x, end_y = float(labels.x[position]), float(labels.y[position])
        per_class[i], top[i] = _path_walk(graph, path, end_x, end_y, node_class, n_classes)
        road_m[i], road_min[i] = path_road_part(graph, path)
    return per_class, top, road_m, road_min


def route_nodes(
    graph: CostGraph, labels: NearestLabels, ranking: Ranking, i: int, path: np.ndarray | None
) -> np.ndarray:
    """The graph nodes of ranked route ``i`` (for its line)."""
    if ranking.entry_node[i] == DIRECT:
        return np.empty(0, np.int64)
    if path is not None:
        return path
    return _route_node_list(graph, labels, int(ranking.entry_node[i]), int(ranking.ids[i]))


def route_geometry(
    graph: CostGraph, x: float, y: float, nodes: np.ndarray, end_x: float, end_y: float
) -> shapely.LineString:
    """The line from the query point through ``nodes`` to the source (graph CRS)."""
    idx = np.asarray(nodes, dtype=np.int64)
    coords = np.vstack(
        [[x, y], np.column_stack([graph.node_x[idx], graph.node_y[idx]]), [end_x, end_y]]
    )
    return shapely.LineString(coords)


def rank_by_dijkstra(
    graph: CostGraph,
    x_sources: np.ndarray,
    y_sources: np.ndarray,
    x: float,
    y: float,
    *,
    ids: np.ndarray | None = None,
    k: int | None = None,
) -> tuple[Ranking, list[np.ndarray | None]]:
    """The reference ranking: a full Dijkstra from the point, no labels.

    One ``scipy.sparse.csgraph.dijkstra`` run from each node where the point enters the
    graph gives the minutes to every node; a source's time is the best entry's leg plus
    the minutes to one of the source's own entry nodes plus its leg from there (the same
    rules as :func:`rank_point`, straight across country within two cells included).
    Also returns each ranked source's path (entry node to the seed node), None when it
    is unreachable or reached directly.
    """
    x_sources = np.atleast_1d(np.asarray(x_sources, dtype=float))
    y_sources = np.atleast_1d(np.asarray(y_sources, dtype=float))
    n = len(x_sources)
    ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
    nodes, leg_min, leg_m = entries_or_raise(graph, x, y)
    dist, pred = dijkstra(graph.minutes, directed=True, indices=nodes, return_predecessors=True)
    seeds = source_seeds(graph, x_sources, y_sources)
    # per (entry, seed): minutes from the point through that entry to that seed's source
    via = leg_min[:, None] + (dist[:, seeds.node] + seeds.minutes[None, :]).astype(np.float32)
    best = np.full(n, np.inf)
    best_entry = np.full(n, -1, dtype=np.int64)
    best_seed = np.full(n, -1, dtype=np.int64)
    for j in range(len(seeds.node)):
        col = via[:, j]
        e = int(np.argmin(col))
        s = int(seeds.source[j])
        if col[e] < best[s]:
            best[s], best_entry[s], best_seed[s] = col[e], e, j
    pace = float(graph.cell_pace[nodes[0]])
    direct_m = np.hypot(x_sources - x, y_sources - y)
    direct_min = direct_m * pace
    closer = seeds.entered & (direct_m <= 2 * graph.grid.cell_m) & (direct_min < best)
    minutes = np.where(closer, direct_min, best)
    order = np.lexsort((ids, minutes))
    if k is not None:
        order = order[:k]
    paths: list[np.ndarray | None] = []
    entry_node = np.full(len(order), DIRECT, dtype=np.int64)
    legs_min = np.full(len(order), np.nan)
    legs_m = np.full(len(order), np.nan)
    for r, s in enumerate(order):
        if closer[s]:
            legs_min[r], legs_m[r] = direct_min[s], direct_m[s]
            paths.append(None)
            continue
        if not np.isfinite(minutes[s]):
            paths.append(None)
            continue
        row = int(best_entry[s])
        entry_node[r] = nodes[row]
        legs_min[r], legs_m[r] = leg_min[row], leg_m[row]
        path = [int(seeds.node[best_seed[s]])]
        while path[-1] != nodes[row]:
            path.append(int(pred[row, path[-1]]))
        paths.append(np.array(path[::-1], dtype=np.int64))
    ranking = Ranking(
        ids=ids[order],
        sets=np.where(np.isfinite(minutes[order]), 0, -1),
        minutes=minutes[order],
        entry_node=entry_node,
        leg_minutes=legs_min,
        leg_metres=legs_m,
    )
    return ranking, paths
