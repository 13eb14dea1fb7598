"""Point-to-point trips on a :class:`~geo.costgraph.CostGraph`: time, distance and path.

A trip starts and ends at arbitrary points (graph CRS).  Each point enters the graph as
:func:`geo.costgraph.point_entries` says: at the centre of its cell and at every road
vertex within one cell width, paying the off-road leg at its cell's pace.  One plain
``scipy.sparse.csgraph.dijkstra`` runs from a virtual origin node joined to the origin's
entries by those legs, so the best entry is chosen by the search itself; each
destination then takes its best entry.  As in :func:`geo.routes.rank_point`, two
points within two cells of each other may also be joined straight across country.

This is the reference for point-to-point answers: slow (one full Dijkstra per origin,
about half a second on the national 1 km graph) and simple enough to trust.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from geo.costgraph import CostGraph, point_entries

__all__ = ["Trip", "trip_between", "trips_from"]

#: The virtual origin's legs must not be stored zeros (see geo.costgraph).
_MIN_MINUTES = 1e-9


@dataclass(frozen=True, eq=False)
class Trip:
    """One trip between two points.

    Attributes
    ----------
    minutes
        Travel time, minutes; ``inf`` when the destination cannot be reached.
    distance_m
        Length of the path, metres (legs included); ``inf`` when unreachable.
    road_m
        Metres of it on road pieces; the rest (``distance_m - road_m``) is off-road.
    road_minutes
        Minutes of it on road pieces; the rest is off-road (legs, grid, connectors).
    start_leg_m, end_leg_m
        Off-road legs from the origin to its entry node and from the destination's
        entry node to the destination, metres.
    nodes
        Graph nodes of the path, from the origin's entry to the destination's (empty
        when unreachable or when the points are joined straight across country).
    line
        Origin, the nodes, destination as a LineString in the graph CRS; None when
        unreachable.
    """

    minutes: float
    distance_m: float
    road_m: float
    road_minutes: float
    start_leg_m: float
    end_leg_m: float
    nodes: np.ndarray
    line: shapely.LineString | None

    @property
    def offroad_m(self) -> float:
        """Metres travelled off-road (legs, grid steps, road connectors)."""
        return self.distance_m - self.road_m


def _entries(
    graph: CostGraph, x: float, y: float, what: str, *, closed_ok: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of (x, y); ValueError naming ``what`` when it is outside the grid, or in
    a closed cell unless ``closed_ok`` (then no entry: the point cannot be reached)."""
    nodes, leg_min, leg_m = point_entries(graph, float(x), float(y))
    if len(nodes) == 0:
        outside = graph.grid.locate(np.array([float(x)]), np.array([float(y)]))[0] < 0
        if outside:
            raise ValueError(f"{what} ({x:.0f}, {y:.0f}) is outside the travel-time grid")
        if not closed_ok:
            raise ValueError(f"{what} ({x:.0f}, {y:.0f}) lies in a closed area")
    return nodes, leg_min, leg_m


def _with_virtual_origin(graph: CostGraph, nodes: np.ndarray, leg_min: np.ndarray) -> sp.csr_matrix:
    """``graph.minutes`` plus one node (the last) with edges to ``nodes`` only."""
    m = graph.minutes.tocsr()
    n = graph.n_nodes
    order = np.argsort(nodes)
    indptr = np.concatenate([m.indptr, [m.indptr[-1] + len(nodes)]])
    indices = np.concatenate([m.indices, nodes[order].astype(m.indices.dtype)])
    data = np.concatenate([m.data, np.maximum(leg_min[order], _MIN_MINUTES)])
    return sp.csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))


def _along(graph: CostGraph, nodes: np.ndarray) -> tuple[float, float, float]:
    """Metres along ``nodes``, metres on road pieces, and minutes on road pieces."""
    if len(nodes) < 2:
        return 0.0, 0.0, 0.0
    a, b = nodes[:-1], nodes[1:]
    metres = np.asarray(graph.metres[a, b]).ravel()  # a missing pair is a zero-length leg
    minutes = np.asarray(graph.minutes[a, b]).ravel()
    lo, hi = graph.n_cells, graph.n_cells + graph.n_road
    on_road = (a >= lo) & (a < hi) & (b >= lo) & (b < hi)
    return float(metres.sum()), float(metres[on_road].sum()), float(minutes[on_road].sum())


def trips_from(
    graph: CostGraph,
    x: float,
    y: float,
    dest_x: np.ndarray,
    dest_y: np.ndarray,
) -> list[Trip]:
    """Trips from the point (x, y) to each destination, graph CRS; one Dijkstra.

    Parameters
    ----------
    graph
        A travel-time graph (:func:`geo.costgraph.build_cost_graph`).
    x, y
        The origin, metres in the graph CRS.
    dest_x, dest_y
        Destinations, same CRS.

    Returns
    -------
    list of Trip
        One per destination, in order.

    Raises
    ------
    ValueError
        The origin or a destination lies outside the grid, or the origin in a closed
        cell (the message says which).  A destination in a closed cell is unreachable:
        its trip has ``inf`` minutes.
    """
    dest_x = np.atleast_1d(np.asarray(dest_x, dtype=float))
    dest_y = np.atleast_1d(np.asarray(dest_y, dtype=float))
    if dest_x.shape != dest_y.shape or dest_x.ndim != 1:
        raise ValueError("dest_x and dest_y must be 1-D arrays of the same length")
    o_nodes, o_min, o_m = _entries(graph, x, y, "origin")
    dests = [
        _entries(graph, dx, dy, f"destination {i}", closed_ok=True)
        for i, (dx, dy) in enumerate(zip(dest_x, dest_y, strict=True))
    ]
    dist, pred = dijkstra(
        _with_virtual_origin(graph, o_nodes, o_min),
        directed=True,
        indices=graph.n_nodes,
        return_predecessors=True,
    )
    pace = float(graph.cell_pace[o_nodes[0]])
    return [
        _trip_to(graph, (x, y), (dx, dy), entry, dist, pred, (o_nodes, o_m), pace)
        for dx, dy, entry in zip(dest_x, dest_y, dests, strict=True)
    ]


def _trip_to(
    graph: CostGraph,
    origin: tuple[float, float],
    dest: tuple[float, float],
    dest_entries: tuple[np.ndarray, np.ndarray, np.ndarray],
    dist: np.ndarray,
    pred: np.ndarray,
    origin_entries: tuple[np.ndarray, np.ndarray],
    pace: float,
) -> Trip:
    """The trip to one destination from one Dijkstra run of :func:`trips_from`."""
    (x, y), (dx, dy) = origin, dest
    d_nodes, d_min, d_m = dest_entries
    o_nodes, o_m = origin_entries
    none = np.empty(0, np.int64)
    if len(d_nodes) == 0:  # in a closed cell
        return Trip(np.inf, np.inf, 0.0, 0.0, np.nan, np.nan, none, None)
    total = dist[d_nodes] + d_min
    best = int(np.argmin(total))
    minutes = float(total[best])
    direct_m = float(np.hypot(dx - x, dy - y))
    if direct_m <= 2 * graph.grid.cell_m and direct_m * pace < minutes:
        return Trip(
            minutes=direct_m * pace,
            distance_m=direct_m,
            road_m=0.0,
            road_minutes=0.0,
            start_leg_m=direct_m,
            end_leg_m=0.0,
            nodes=none,
            line=shapely.LineString([(x, y), (dx, dy)]),
        )
    if not np.isfinite(minutes):
        return Trip(np.inf, np.inf, 0.0, 0.0, np.nan, np.nan, none, None)
    virtual = graph.n_nodes
    path = [int(d_nodes[best])]
    while pred[path[-1]] != virtual:
        path.append(int(pred[path[-1]]))
    nodes = np.asarray(path[::-1], dtype=np.int64)
    start_leg = float(o_m[np.flatnonzero(o_nodes == nodes[0])[0]])
    along_m, road_m, road_min = _along(graph, nodes)
    coords = np.column_stack([graph.node_x[nodes], graph.node_y[nodes]])
    return Trip(
        minutes=minutes,
        distance_m=start_leg + along_m + float(d_m[best]),
        road_m=road_m,
        road_minutes=road_min,
        start_leg_m=start_leg,
        end_leg_m=float(d_m[best]),
        nodes=nodes,
        line=shapely.LineString(np.vstack([[x, y], coords, [dx, dy]])),
    )


def trip_between(graph: CostGraph, x0: float, y0: float, x1: float, y1: float) -> Trip:
    """The trip from (x0, y0) to (x1, y1), graph CRS: see :func:`trips_from`."""
    return trips_from(graph, x0, y0, np.array([x1]), np.array([y1]))[0]
