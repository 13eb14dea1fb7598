"""The k nearest providers of a service from a point, ranked by travel time.

Pure functions over built layers: an attached :class:`~geo.costgraph.CostGraph`, its
:class:`~geo.traveltime.SourceMatrix` and the provider table aligned with the matrix
columns.  Confidentiality is the caller's decision: pass only the rows the requester may
see (``geo.providers.public_providers`` for the public).

A query is a lookup, not a search: the point's off-road leg to the places where it can
enter the graph, the matrix rows of those places, and for each of the ``k`` results a
short walk along the stored shortest-path tree.  The walk stops at the first road vertex,
where a :class:`RouteIndex` (built once per graph) holds the totals of the rest of the
route: metres, metres per conflict class and the worst class.  :func:`rank_by_dijkstra`
is the straightforward reference (a full Dijkstra from the point per query), used to
check the fast answer and as the benchmark's baseline.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod, Transformer
from scipy.sparse.csgraph import dijkstra

from geo.costgraph import CostGraph
from geo.crs import GEOGRAPHIC_CRS
from geo.traveltime import Ranking, SourceMatrix, entries_or_raise, rank_sources
from geo.zones import ZONE_CLASSES, classes_along_path

__all__ = [
    "CLOSED_ORIGIN",
    "CUT_OFF",
    "NearestAnswer",
    "NearestResult",
    "ProviderTable",
    "RouteIndex",
    "index_routes",
    "nearest_answer",
    "nearest_providers",
    "providers_offering",
    "rank_by_dijkstra",
]

#: Reason given when the query point itself lies in a cell the scenario closes.
CLOSED_ORIGIN = "the point lies in an area closed under this scenario (high conflict zone)"
#: Reason given when the point can move but no path reaches the provider.
CUT_OFF = "no path: the area is cut off from this provider under this scenario"

_TRANSFORMERS: dict[tuple[int, bool], tuple[object, Transformer]] = {}
_GEOD = Geod(ellps="WGS84")


def _transformer(crs: object, *, back: bool) -> Transformer:
    """EPSG:4326 to ``crs`` (or back), cached per CRS object (``to_wkt`` costs ~50 us)."""
    key = (id(crs), back)
    hit = _TRANSFORMERS.get(key)
    if hit is None or hit[0] is not crs:
        source, target = (crs, GEOGRAPHIC_CRS) if back else (GEOGRAPHIC_CRS, crs)
        hit = (crs, Transformer.from_crs(source, target, always_xy=True))
        _TRANSFORMERS[key] = hit
    return hit[1]


def _to_metric(graph: CostGraph) -> Transformer:
    return _transformer(graph.grid.crs, back=False)


def _to_geographic(graph: CostGraph) -> Transformer:
    return _transformer(graph.grid.crs, back=True)


def providers_offering(providers: pd.DataFrame, service: str | None) -> np.ndarray:
    """Boolean mask of providers offering ``service``; ``one_stop_centre`` means the type."""
    if service is None:
        return np.ones(len(providers), dtype=bool)
    if service == "one_stop_centre":
        return (providers["type"] == "one_stop_centre").to_numpy()
    return np.array(
        [
            service in (s if isinstance(s, list | tuple | np.ndarray) else [])
            for s in providers["services"]
        ],
        dtype=bool,
    )


def _plain(value: Any) -> Any:
    """A JSON-ready Python value: arrays to lists, numpy scalars to Python, NaN/NA to None."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is not None and not isinstance(value, list | dict | str):
        try:
            if pd.isna(value):
                return None
        except (TypeError, ValueError):
            pass
    return value


@dataclass(frozen=True, eq=False)
class ProviderTable:
    """The provider rows of the matrix columns, prepared once for fast answers.

    ``records[j]`` holds column ``j``'s fields as plain JSON-ready values (no geometry);
    ``lon`` / ``lat`` its coordinates (EPSG:4326).
    """

    frame: pd.DataFrame
    records: tuple[dict, ...]
    lon: np.ndarray
    lat: np.ndarray
    _offering: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_frame(cls, providers: pd.DataFrame) -> ProviderTable:
        """Prepare ``providers`` (one row per matrix column, EPSG:4326 point geometry)."""
        if not isinstance(providers, pd.DataFrame):
            raise TypeError(f"providers must be a (Geo)DataFrame, got {type(providers).__name__}")
        plain = pd.DataFrame(providers.drop(columns="geometry", errors="ignore"))
        records = tuple(
            {key: _plain(value) for key, value in row.items()} for row in plain.to_dict("records")
        )
        if "geometry" in providers and len(providers):
            xy = shapely.get_coordinates(providers.geometry.values).reshape(-1, 2)
        else:
            xy = np.empty((0, 2))
        if len(xy) != len(providers):
            raise ValueError("every provider of the matrix needs a point geometry")
        return cls(frame=providers, records=records, lon=xy[:, 0].copy(), lat=xy[:, 1].copy())

    def __len__(self) -> int:
        return len(self.records)

    def offering(self, service: str | None) -> np.ndarray:
        """:func:`providers_offering` over this table, cached per service."""
        if service not in self._offering:
            self._offering[service] = providers_offering(self.frame, service)
        return self._offering[service]


# --------------------------------------------------------------------------- route index


@dataclass(frozen=True, eq=False)
class RouteIndex:
    """Totals along every stored route from a set of *stop* nodes, so a query only walks
    from its entry to the first stop on the way.

    Stops are the road vertices and the grid cells on every ``lattice``-th row and column
    (an off-road path meets one within about ``lattice`` steps).  ``stop[n]`` is node
    ``n``'s stop number, -1 if it is not one.  ``metres[c, j, s]`` is the length (metres)
    in conflict class ``c`` (a single class without zones) of the stored shortest path
    from stop ``s`` to source column ``j``: nan where that stop cannot reach it.
    ``worst[j, s]`` is the worst class of a node on it (nodes take their cell's class).
    """

    metres: np.ndarray  # float64 (n_classes, n_columns, n_stops)
    worst: np.ndarray | None  # int8 (n_columns, n_stops); None without zones
    node_class: np.ndarray | None  # int8 per node; None without zones
    pred_flat: memoryview = field(repr=False)  # the matrix predecessors, flat, for walks
    n_columns: int
    stop: np.ndarray = field(repr=False)  # int32 per node: stop number or -1
    stop_flat: memoryview = field(repr=False)  # the same, for walks
    #: which source columns are filled in (lazily, on first use, unless built eagerly)
    ready: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False)
    _fill: Any = field(default=None, repr=False)  # fills missing columns
    _lock: Any = field(default_factory=threading.Lock, repr=False)

    def ensure(self, columns: np.ndarray | list[int]) -> None:
        """Fill in the totals of these source columns if they are not yet."""
        missing = [int(c) for c in columns if not self.ready[int(c)]]
        if missing and self._fill is not None:
            with self._lock:
                missing = [c for c in missing if not self.ready[c]]
                if missing:
                    self._fill(np.unique(np.asarray(missing, dtype=np.int64)))


def _node_classes(graph: CostGraph, cell_zone: np.ndarray) -> np.ndarray:
    """Conflict class of every node: cells their own, other nodes the cell holding them."""
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


def _edge_metres(graph: CostGraph, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``graph.metres[a, b]`` for many pairs (0 where no edge is stored), vectorised.

    A lower-bound search within each CSR row (rows hold at most a dozen entries); the
    same numbers as scipy's indexing at a fraction of its per-call cost.
    """
    csr = graph.metres
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    lo = csr.indptr[a].astype(np.int64)
    hi = csr.indptr[a + 1].astype(np.int64)
    end = hi.copy()
    indices = csr.indices
    while True:
        open_ = lo < hi
        if not open_.any():
            break
        mid = (lo + hi) // 2
        right = open_ & (indices[np.minimum(mid, len(indices) - 1)] < b)
        left = open_ & ~right
        lo = np.where(right, mid + 1, lo)
        hi = np.where(left, mid, hi)
    found = lo < end
    found[found] = indices[lo[found]] == b[found]
    out = np.zeros(len(a))
    out[found] = csr.data[lo[found]]
    return out


def index_routes(
    graph: CostGraph,
    matrix: SourceMatrix,
    *,
    cell_zone: np.ndarray | None = None,
    lattice: int | None = 64,
    lazy: bool = True,
) -> RouteIndex:
    """Totals of the stored route from every stop node to every source (:class:`RouteIndex`).

    Vectorised over all (stop, source) pairs: each walks the predecessor tree to the next
    stop (most in one step), then pointer jumping sums the stop-to-stop stretches in
    ``log2(depth)`` passes.  ``lattice=None`` keeps the road vertices only.

    With ``lazy`` a source's totals are computed the first time a query needs them
    (:meth:`RouteIndex.ensure`; about 0.15 s per source in Mali), else all at once.  In
    Mali (1.3 M cells, 49 k road vertices, 50 sources, lattice 64) the index holds 110 MB
    per (mode, scenario) with conflict classes (40 MB without) once every source is in.
    """
    pred = np.asarray(matrix.pred)
    if pred.ndim != 2 or pred.shape[0] != graph.n_nodes:
        raise ValueError(
            f"matrix predecessors have shape {pred.shape}, expected ({graph.n_nodes}, n_sources)"
        )
    if lattice is not None and (not isinstance(lattice, int) or lattice < 2):
        raise ValueError(f"lattice must be an integer >= 2 or None, got {lattice!r}")
    n_cols = pred.shape[1]
    stops = [np.arange(graph.n_cells, graph.n_cells + graph.n_road, dtype=np.int64)]
    if lattice is not None:
        rows, cols = graph.grid.node_rowcol
        on = (rows % lattice == 0) | (cols % lattice == 0)
        stops.insert(0, np.flatnonzero(on).astype(np.int64))
    stop_nodes = np.concatenate(stops)
    n_stops = len(stop_nodes)
    stop = np.full(graph.n_nodes, -1, dtype=np.int32)
    stop[stop_nodes] = np.arange(n_stops, dtype=np.int32)
    node_class = None if cell_zone is None else _node_classes(graph, cell_zone)
    n_cls = 1 if node_class is None else len(ZONE_CLASSES)
    metres = np.zeros((n_cls, n_cols, n_stops))
    worst = np.zeros((n_cols, n_stops), dtype=np.int8)
    ready = np.zeros(n_cols, dtype=bool)

    def fill(columns: np.ndarray) -> None:
        _fill_columns(graph, matrix, pred, stop, stop_nodes, node_class, metres, worst, columns)
        ready[columns] = True

    index = RouteIndex(
        metres=metres,
        worst=None if node_class is None else worst,
        node_class=node_class,
        pred_flat=np.ascontiguousarray(pred).reshape(-1).data,
        n_columns=n_cols,
        stop=stop,
        stop_flat=stop.data,
        ready=ready,
        _fill=fill,
    )
    if not lazy:
        index.ensure(np.arange(n_cols))
    return index


def _fill_columns(
    graph: CostGraph,
    matrix: SourceMatrix,
    pred: np.ndarray,
    stop: np.ndarray,
    stop_nodes: np.ndarray,
    node_class: np.ndarray | None,
    metres_out: np.ndarray,
    worst_out: np.ndarray,
    columns: np.ndarray,
) -> None:
    """The :class:`RouteIndex` totals of ``columns``: every stop walks to the next stop,
    then pointer jumping adds up the stop-to-stop stretches along each source's tree."""
    n_cls = metres_out.shape[0]
    n_stops = len(stop_nodes)
    n_cols = len(columns)
    # one walker per (column, stop), flat index i * n_stops + s
    size = n_stops * n_cols
    metres = np.zeros((n_cls, size))
    worst = np.zeros(size, dtype=np.int8)
    link = np.full(size, -1, dtype=np.int64)  # the stop where the walker's stretch ends
    targets = np.asarray(matrix.sources, dtype=np.int64)
    cur = np.tile(stop_nodes, n_cols)
    col = np.repeat(columns.astype(np.int64), n_stops)
    if node_class is not None:
        worst[:] = node_class[cur]
    active = np.arange(size)
    step = np.ascontiguousarray(pred[stop_nodes][:, columns].T).reshape(-1).astype(np.int64)
    while active.size:
        here, j = cur[active], col[active]
        dead = step < 0
        if dead.any():
            # a source's twin (same place, shared Dijkstra run) ends the path; else unreachable
            hd, jd = here[dead], j[dead]
            twin = (
                (graph.node_x[hd] == graph.node_x[targets[jd]])
                & (graph.node_y[hd] == graph.node_y[targets[jd]])
                & np.isfinite(np.asarray(matrix.minutes[hd, jd]))
            )
            metres[:, active[dead][~twin]] = np.nan
            keep = ~dead
            active, here, j, step = active[keep], here[keep], j[keep], step[keep]
        length = _edge_metres(graph, here, step)
        if node_class is None:
            metres[0, active] += length
        else:
            cls = node_class[step]
            metres[np.maximum(node_class[here], cls), active] += length
            worst[active] = np.maximum(worst[active], cls)
        cur[active] = step
        at = stop[step]
        on_stop = at >= 0
        link[active[on_stop]] = at[on_stop]
        active = active[~(on_stop | (step == targets[j]))]
        step = pred[cur[active], col[active]].astype(np.int64)
    by_col = metres.reshape(n_cls, n_cols, n_stops)
    worst_by_col = worst.reshape(n_cols, n_stops)
    link_by_col = link.reshape(n_cols, n_stops)
    for i in range(n_cols):  # pointer jumping along each source's tree of stops
        m, w, ptr = by_col[:, i], worst_by_col[i], link_by_col[i]
        while True:
            idx = np.flatnonzero(ptr >= 0)
            if not idx.size:
                break
            nxt = ptr[idx]
            for c in range(n_cls):
                m[c, idx] += m[c, nxt]
            w[idx] = np.maximum(w[idx], w[nxt])
            ptr[idx] = ptr[nxt]
    metres_out[:, columns] = by_col
    worst_out[columns] = worst_by_col


def _walk(
    graph: CostGraph, index: RouteIndex, start: int, column: int, target: int, *, full: bool
) -> list[int]:
    """Nodes from ``start`` along the stored tree to ``target`` (or, unless ``full``, to the
    first stop on the way, where :class:`RouteIndex` takes over)."""
    pred = index.pred_flat[column :: index.n_columns]  # this source's column, no copy
    stop = index.stop_flat
    node = start
    path = [node]
    append = path.append
    for _ in range(graph.n_nodes):
        if node == target or (not full and stop[node] >= 0):
            return path
        nxt = pred[node]
        if nxt < 0:
            if (graph.node_x[node], graph.node_y[node]) == (
                graph.node_x[target],
                graph.node_y[target],
            ):
                return path  # reached a provider at the same place (a shared Dijkstra run)
            raise ValueError(f"node {start} cannot reach source {column}")
        node = nxt
        append(node)
    raise RuntimeError("predecessor chain does not end; the matrix is corrupt")


# --------------------------------------------------------------------------- reference


def rank_by_dijkstra(
    graph: CostGraph,
    sources: np.ndarray,
    x: float,
    y: float,
    *,
    columns: np.ndarray,
    k: int | None = None,
) -> tuple[Ranking, list[np.ndarray | None]]:
    """The reference ranking: a full Dijkstra from the point, no stored matrix.

    The point enters the graph as :func:`geo.costgraph.point_entries` says (its cell and
    the road vertices within a cell width); one ``scipy.sparse.csgraph.dijkstra`` run from
    each entry gives the minutes to every node.  The same rules as
    :func:`geo.traveltime.rank_sources` then pick the best entry per source (and the
    straight cross-country leg to a source within two cells).  Also returns each ranked
    source's path (entry to source node), or None when unreachable.

    Raises
    ------
    ValueError
        The point is outside the grid or in a closed cell.
    """
    nodes, leg_min, leg_m = entries_or_raise(graph, x, y)
    cols = np.asarray(columns, dtype=np.int64)
    dist, pred = dijkstra(graph.minutes, directed=True, indices=nodes, return_predecessors=True)
    src = np.asarray(sources, dtype=np.int64)[cols]
    total = leg_min[:, None] + dist[:, src]
    best_entry = np.argmin(total, axis=0) if len(nodes) else np.empty(0, np.int64)
    minutes = total[best_entry, np.arange(len(cols))]
    entry = nodes[best_entry]
    legs_min, legs_m = leg_min[best_entry], leg_m[best_entry]
    direct_m = np.hypot(graph.node_x[src] - x, graph.node_y[src] - y)
    direct_min = direct_m * graph.cell_pace[nodes[0]]
    closer = (direct_m <= 2 * graph.grid.cell_m) & (direct_min < minutes)
    minutes = np.where(closer, direct_min, minutes)
    entry = np.where(closer, src, entry)
    legs_min = np.where(closer, direct_min, legs_min)
    legs_m = np.where(closer, direct_m, legs_m)
    order = np.argsort(minutes, kind="stable")
    if k is not None:
        order = order[:k]
    paths: list[np.ndarray | None] = []
    for i in order:
        if not np.isfinite(minutes[i]):
            paths.append(None)
            continue
        if closer[i]:
            paths.append(np.array([src[i]]))
            continue
        row = int(best_entry[i])
        path = [int(src[i])]
        while path[-1] != nodes[row]:
            path.append(int(pred[row, path[-1]]))
        paths.append(np.array(path[::-1], dtype=np.int64))
    ranking = Ranking(
        columns=cols[order],
        minutes=minutes[order],
        entry_node=entry[order],
        leg_minutes=legs_min[order],
        leg_metres=legs_m[order],
    )
    return ranking, paths


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class NearestAnswer:
    """Ranked providers as plain records, and how the query point entered the network.

    ``records`` hold the provider's fields plus ``travel_time_min`` and ``distance_km``
    (rounded to 0.1; None when unreachable, never 0), ``straight_km``, ``reachable``,
    ``unreachable_reason``, ``lon``, ``lat`` and, with zones, ``route_worst_class`` and
    ``route_km_by_class``.  ``minutes`` and ``metres`` are the same figures unrounded
    (inf / nan when unreachable); ``routes`` the lines (EPSG:4326) when asked for.
    """

    records: list[dict]
    entry: dict
    columns: np.ndarray
    minutes: np.ndarray
    metres: np.ndarray
    routes: list[shapely.LineString | None] | None = None


def nearest_answer(
    graph: CostGraph,
    matrix: SourceMatrix,
    table: ProviderTable,
    lon: float,
    lat: float,
    *,
    visible: np.ndarray,
    service: str | None = None,
    k: int = 5,
    index: RouteIndex | None = None,
    cell_zone: np.ndarray | None = None,
    with_routes: bool = False,
    method: Literal["matrix", "dijkstra"] = "matrix",
) -> NearestAnswer:
    """Rank the providers that are ``visible`` and offer ``service`` by time from (lon, lat).

    Parameters
    ----------
    table
        :class:`ProviderTable` of the matrix columns (same order).
    visible
        Boolean mask over the columns: which providers the requester may see.
    k
        How many results, 1 to 50.
    index
        :func:`index_routes` of this graph and matrix (with the same ``cell_zone``): the
        route totals then cost a walk to the nearest road only.  Without it each route
        is walked in full (same figures, slower).
    cell_zone
        Conflict class per grid cell: adds each route's worst class and km per class.
    method
        ``"matrix"`` (the stored matrix: a lookup) or ``"dijkstra"`` (the reference: a
        full Dijkstra from the point, for checks and benchmarks).
    """
    if not 1 <= k <= 50:
        raise ValueError(f"k must be 1 to 50, got {k}")
    if len(table) != matrix.minutes.shape[1]:
        raise ValueError(
            f"providers has {len(table)} rows but the matrix "
            f"{matrix.minutes.shape[1]} columns; rebuild the layers"
        )
    if method not in ("matrix", "dijkstra"):
        raise ValueError(f"method must be 'matrix' or 'dijkstra', got {method!r}")
    if index is not None and (cell_zone is None) != (index.node_class is None):
        raise ValueError("index was built with a different cell_zone; rebuild it")
    x, y = _to_metric(graph).transform(lon, lat)
    columns = np.flatnonzero(np.asarray(visible, dtype=bool) & table.offering(service))
    try:
        if method == "matrix":
            ranking = rank_sources(graph, matrix, x, y, columns=columns, k=k)
            paths = None
        else:
            ranking, paths = rank_by_dijkstra(graph, matrix.sources, x, y, columns=columns, k=k)
    except ValueError:
        # the point is in a cell closed by the scenario: nothing is reachable from it
        return _cut_off(table, columns, lon, lat, k, zones=cell_zone is not None)
    n = len(ranking.columns)
    reachable = np.isfinite(ranking.minutes)
    metres = np.full(n, np.nan)
    worst: list[str | None] = [None] * n
    km_by_class: list[dict | None] = [None] * n
    lines: list[shapely.LineString | None] = [None] * n
    start_class = -1
    if cell_zone is not None:
        start_cell = graph.grid.locate(np.array([x]), np.array([y]))[0]
        start_class = int(cell_zone[start_cell]) if start_cell >= 0 else -1
    walks: list[list[int]] = [[]] * n
    if paths is None and index is not None and not with_routes:
        index.ensure(ranking.columns[reachable])
    for i in np.flatnonzero(reachable):
        column, start = int(ranking.columns[i]), int(ranking.entry_node[i])
        if paths is not None:
            path = paths[i]
            walks[i] = [] if path is None else path.tolist()
        elif index is None or with_routes:
            walks[i] = _walk_full(graph, matrix, index, start, column)
        else:
            walks[i] = _walk(graph, index, start, column, int(matrix.sources[column]), full=False)
    if paths is not None:
        # the reference: lengths and classes straight from the graph along its own paths
        for i in np.flatnonzero(reachable):
            nodes = np.asarray(walks[i], dtype=np.int64)
            metres[i] = (
                float(np.asarray(graph.metres[nodes[:-1], nodes[1:]]).sum())
                if len(nodes) > 1
                else 0.0
            )
            if cell_zone is not None:
                w, km_by_class[i] = classes_along_path(graph, cell_zone, nodes)
                if ZONE_CLASSES.index(w) < start_class:
                    w = ZONE_CLASSES[start_class]
                worst[i] = w
            if with_routes:
                lines[i] = _route_geometry(graph, x, y, walks[i])
    else:
        _route_totals(
            graph,
            index,
            ranking,
            walks,
            reachable,
            start_class=start_class,
            node_class=None if cell_zone is None else _classes_of(graph, index, cell_zone),
            use_index=index is not None and not with_routes,
            metres=metres,
            worst=worst,
            km_by_class=km_by_class,
        )
        if with_routes:
            for i in np.flatnonzero(reachable):
                lines[i] = _route_geometry(graph, x, y, walks[i])
    distance = np.round((metres + ranking.leg_metres) / 1000.0, 1)
    lons, lats = table.lon[ranking.columns], table.lat[ranking.columns]
    straight = np.round(_geodesic_km(lon, lat, lons, lats), 1)
    times = np.round(ranking.minutes, 1)
    records = []
    for r in range(n):
        rec = dict(table.records[int(ranking.columns[r])])
        ok = bool(reachable[r])
        rec["travel_time_min"] = float(times[r]) if ok else None
        rec["reachable"] = ok
        rec["unreachable_reason"] = None if ok else CUT_OFF
        rec["lon"] = float(lons[r])
        rec["lat"] = float(lats[r])
        rec["straight_km"] = float(straight[r])
        rec["distance_km"] = float(distance[r]) if ok else None
        if cell_zone is not None:
            rec["route_worst_class"] = worst[r]
            rec["route_km_by_class"] = km_by_class[r]
        records.append(rec)
    entry = _entry(graph, ranking)
    return NearestAnswer(
        records=records,
        entry=entry,
        columns=ranking.columns,
        minutes=ranking.minutes,
        metres=np.where(reachable, metres + ranking.leg_metres, np.nan),
        routes=lines if with_routes else None,
    )


def _classes_of(graph: CostGraph, index: RouteIndex | None, cell_zone: np.ndarray) -> np.ndarray:
    if index is not None and index.node_class is not None:
        return index.node_class
    return _node_classes(graph, cell_zone)


def _route_totals(
    graph: CostGraph,
    index: RouteIndex | None,
    ranking: Ranking,
    walks: list[list[int]],
    reachable: np.ndarray,
    *,
    start_class: int,
    node_class: np.ndarray | None,
    use_index: bool,
    metres: np.ndarray,
    worst: list,
    km_by_class: list,
) -> None:
    """Fill ``metres`` (and with classes ``worst`` / ``km_by_class``) of each walked route:
    its own edges, plus the :class:`RouteIndex` totals from the road vertex it stopped at."""
    done = np.flatnonzero(reachable)
    arrays = [np.array(walks[i], dtype=np.int64) for i in done]
    a = np.concatenate([w[:-1] for w in arrays]) if arrays else np.empty(0, np.int64)
    b = np.concatenate([w[1:] for w in arrays]) if arrays else np.empty(0, np.int64)
    lengths = _edge_metres(graph, a, b)  # one vectorised lookup for every walked edge
    offset = 0
    for i, w in zip(done, arrays, strict=True):
        seg = lengths[offset : offset + len(w) - 1]
        offset += len(w) - 1
        column = int(ranking.columns[i])
        tail = None
        if use_index and index is not None and index.stop[w[-1]] >= 0:
            tail = int(index.stop[w[-1]])
        if node_class is None:
            rest = index.metres[:, column, tail].sum() if index and tail is not None else 0.0
            metres[i] = seg.sum() + rest
            continue
        classes = node_class[w]
        per_class = np.bincount(
            np.maximum(classes[:-1], classes[1:]), weights=seg, minlength=len(ZONE_CLASSES)
        )
        top = int(classes.max())
        if index is not None and index.worst is not None and tail is not None:
            per_class = per_class + index.metres[:, column, tail]
            top = max(top, int(index.worst[column, tail]))
        metres[i] = per_class.sum()
        worst[i] = ZONE_CLASSES[max(top, start_class)]
        km_by_class[i] = {
            name: round(float(per_class[c]) / 1000.0, 1) for c, name in enumerate(ZONE_CLASSES)
        }


def _walk_full(
    graph: CostGraph, matrix: SourceMatrix, index: RouteIndex | None, start: int, column: int
) -> list[int]:
    if index is None:
        pred = np.ascontiguousarray(matrix.pred)
        index = RouteIndex(
            metres=np.empty((1, 0, 0)),
            worst=None,
            node_class=None,
            pred_flat=pred.reshape(-1).data,
            n_columns=pred.shape[1],
            stop=np.empty(0, np.int32),
            stop_flat=np.empty(0, np.int32).data,
        )
    return _walk(graph, index, start, column, int(matrix.sources[column]), full=True)


def _route_geometry(graph: CostGraph, x: float, y: float, nodes: list[int]) -> shapely.LineString:
    """The route from the query point through ``nodes``, EPSG:4326."""
    idx = np.asarray(nodes, dtype=np.int64)
    coords = np.column_stack([graph.node_x[idx], graph.node_y[idx]])
    if len(coords) == 1:
        coords = np.vstack([coords, coords])
    coords = np.vstack([[x, y], coords])
    lon_r, lat_r = _to_geographic(graph).transform(coords[:, 0], coords[:, 1])
    return shapely.LineString(np.column_stack([lon_r, lat_r]))


def _entry(graph: CostGraph, ranking: Ranking) -> dict:
    """How the point entered the network for the first result."""
    if not len(ranking.minutes):
        return {
            "snapped_lon": None,
            "snapped_lat": None,
            "snapped_to": None,
            "offroad_leg_km": None,
            "offroad_leg_min": None,
        }
    node = int(ranking.entry_node[0])
    entry_lon, entry_lat = _to_geographic(graph).transform(graph.node_x[node], graph.node_y[node])
    return {
        "snapped_lon": round(float(entry_lon), 6),
        "snapped_lat": round(float(entry_lat), 6),
        "snapped_to": (
            "road" if graph.n_cells <= node < graph.n_cells + graph.n_road else "grid cell"
        ),
        "offroad_leg_km": round(float(ranking.leg_metres[0]) / 1000.0, 3),
        "offroad_leg_min": round(float(ranking.leg_minutes[0]), 1),
    }


def _cut_off(
    table: ProviderTable, columns: np.ndarray, lon: float, lat: float, k: int, *, zones: bool
) -> NearestAnswer:
    """Every provider unreachable: the query point lies in a closed cell.  The ``k``
    nearest in a straight line are listed, so the caseworker still sees who is closest."""
    km = _geodesic_km(lon, lat, table.lon[columns], table.lat[columns])
    order = np.argsort(km, kind="stable")[:k]
    chosen = columns[order]
    straight = np.round(km[order], 1)
    records = []
    for i, col in enumerate(chosen.tolist()):
        rec = dict(table.records[col])
        rec["travel_time_min"] = None
        rec["reachable"] = False
        rec["unreachable_reason"] = CLOSED_ORIGIN
        rec["lon"] = float(table.lon[col])
        rec["lat"] = float(table.lat[col])
        rec["straight_km"] = float(straight[i])
        rec["distance_km"] = None
        if zones:
            rec["route_worst_class"] = None
            rec["route_km_by_class"] = None
        records.append(rec)
    entry = {
        "snapped_lon": None,
        "snapped_lat": None,
        "snapped_to": "closed area",
        "offroad_leg_km": None,
        "offroad_leg_min": None,
    }
    n = len(chosen)
    return NearestAnswer(
        records=records,
        entry=entry,
        columns=chosen,
        minutes=np.full(n, np.inf),
        metres=np.full(n, np.nan),
        routes=None,
    )


def _geodesic_km(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    if len(lons) == 0:
        return np.empty(0)
    _, _, dist = _GEOD.inv(np.full(len(lons), lon), np.full(len(lats), lat), lons, lats)
    return np.asarray(dist) / 1000.0


# --------------------------------------------------------------------------- table form


@dataclass(frozen=True)
class NearestResult:
    """Ranked providers and how the query point entered the network."""

    results: pd.DataFrame
    entry: dict
    routes: gpd.GeoDataFrame


def nearest_providers(
    graph: CostGraph,
    matrix: SourceMatrix,
    providers: pd.DataFrame,
    lon: float,
    lat: float,
    *,
    visible: np.ndarray,
    service: str | None = None,
    k: int = 5,
    with_routes: bool = True,
    cell_zone: np.ndarray | None = None,
    index: RouteIndex | None = None,
) -> NearestResult:
    """:func:`nearest_answer` as a table: one row per ranked provider, and the routes.

    ``results`` has the provider columns plus ``travel_time_min``, ``distance_km``
    (along the route, off-road leg included), ``straight_km``, ``reachable`` and
    ``unreachable_reason`` (null times are explicit, never 0).  ``routes`` holds one
    line per reachable result, EPSG:4326.  With ``cell_zone`` (conflict class per grid
    cell) each result also has ``route_worst_class`` and ``route_km_by_class``.
    """
    table = (
        providers if isinstance(providers, ProviderTable) else ProviderTable.from_frame(providers)
    )
    found = nearest_answer(
        graph,
        matrix,
        table,
        lon,
        lat,
        visible=visible,
        service=service,
        k=k,
        index=index,
        cell_zone=cell_zone,
        with_routes=with_routes,
    )
    out = pd.DataFrame.from_records(found.records) if found.records else pd.DataFrame()
    for name in ("travel_time_min", "distance_km"):
        if name in out:
            out[name] = out[name].astype(float)
    lines = found.routes if found.routes is not None else [None] * len(found.records)
    routes = gpd.GeoDataFrame(
        {
            "id": out["id"] if "id" in out else range(len(out)),
            "travel_time_min": out.get("travel_time_min", pd.Series(dtype=float)),
            "distance_km": out.get("distance_km", pd.Series(dtype=float)),
        },
        geometry=lines,
        crs=GEOGRAPHIC_CRS,
    )
    return NearestResult(results=out, entry=found.entry, routes=routes)
