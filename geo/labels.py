"""The k nearest providers of every place: one k-label Dijkstra per set of providers.

Providers are *sources*, never nodes of the graph: each enters the graph where
:func:`geo.costgraph.point_entries` says (its cell and the road vertices within a cell
width) and pays its off-road leg there, so no route of anyone else can pass through a
provider, and the graph is the same whatever the directory holds.

One run (:func:`nearest_labels`) keeps, for every node, the ``k`` nearest *distinct*
sources with their minutes and the next node towards each (a k-label Dijkstra: about
``k`` single Dijkstra passes of work and ``n_nodes x k`` memory, whatever the number of
sources).  From it:

- the travel-time surface and allocation of the set are the first label of every cell
  (:func:`labels_surface`);
- the surface without one source (a "remove" what-if) is, where that source was the
  nearest, the second label (:func:`surface_without`): exact, no rebuild;
- a query point's ``k`` nearest sources are among the labels of the nodes where it
  enters the graph (:func:`geo.routes.rank_point`), and each route is a walk along the
  labels (:func:`geo.routes.walk_route`).

Bounded single-source runs (:func:`bounded_reach`) serve what-ifs that add a site, the
siting candidates and one provider's isochrones.  The loops are compiled with numba
(:mod:`geo._kernels`) and checked against ``scipy.sparse.csgraph.dijkstra``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from geo import _kernels
from geo.costgraph import CostGraph, point_entries

__all__ = [
    "DEFAULT_K",
    "NearestLabels",
    "Reach",
    "RouteSummary",
    "Seeds",
    "bounded_reach",
    "labels_surface",
    "nearest_labels",
    "pred_nodes",
    "source_seeds",
    "surface_without",
]

#: Labels kept per node by default: the k of a nearest query may not exceed it.
DEFAULT_K = 5


@dataclass(frozen=True, eq=False)
class Seeds:
    """Where each source enters the graph: entry ``node``, the ``source`` it belongs to
    (position 0..n-1), and the off-road leg from the source to the node (``minutes``,
    ``metres``).  A source with no seed (outside the grid, or in a closed cell) cannot
    be reached."""

    node: np.ndarray  # int32
    source: np.ndarray  # int32
    minutes: np.ndarray  # float64
    metres: np.ndarray  # float64
    n_sources: int

    @property
    def entered(self) -> np.ndarray:
        """True for the sources with at least one seed."""
        out = np.zeros(self.n_sources, dtype=bool)
        out[self.source] = True
        return out

    def ptr(self) -> np.ndarray:
        """CSR-style offsets: source ``i``'s seeds are ``[ptr[i], ptr[i+1])`` (the seeds
        are in source order)."""
        return np.searchsorted(self.source, np.arange(self.n_sources + 1)).astype(np.int64)


def source_seeds(graph: CostGraph, x: np.ndarray, y: np.ndarray) -> Seeds:
    """Seeds of points at (x, y) (graph CRS, metres): :func:`point_entries` of each."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite coordinates (a source without a point?)")
    nodes, sources, minutes, metres = [], [], [], []
    for i, (px, py) in enumerate(zip(x, y, strict=True)):
        n, leg_min, leg_m = point_entries(graph, float(px), float(py))
        nodes.append(n)
        sources.append(np.full(len(n), i))
        minutes.append(leg_min)
        metres.append(leg_m)
    cat = np.concatenate if nodes else (lambda parts: np.empty(0))
    return Seeds(
        node=np.asarray(cat(nodes), dtype=np.int32),
        source=np.asarray(cat(sources), dtype=np.int32),
        minutes=np.asarray(cat(minutes), dtype=np.float64),
        metres=np.asarray(cat(metres), dtype=np.float64),
        n_sources=len(x),
    )


@dataclass(frozen=True, eq=False)
class RouteSummary:
    """The route summaries of one label set (:mod:`geo.route_summary` makes, saves and
    loads them).

    Attributes
    ----------
    words
        uint64 (ceil(n_nodes * k / 64),): bit ``node * k + slot`` marks a summarized label.
    rank
        int64, same length: summarized labels before each word (the row of a mark is its
        word's rank plus the marks below it in the word).
    per_class
        float64 (m, n_classes): metres per conflict class from the label to its seed.
    road
        float64 (m, 2): metres and minutes on roads from the label to its seed.
    worst
        int8 (m,): the worst class of the nodes from the label to its seed.
    seed
        int64 (m,): the seed node where the route leaves the graph.
    node_class
        The conflict class per node the figures were added up with (None: one class);
        a walk uses the summaries only with this very array.
    """

    words: np.ndarray
    rank: np.ndarray
    per_class: np.ndarray
    road: np.ndarray
    worst: np.ndarray
    seed: np.ndarray
    node_class: np.ndarray | None = None

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The arrays in the compiled walk's order (:func:`geo._walks.walk_labels`)."""
        return (self.words, self.rank, self.per_class, self.road, self.worst, self.seed)

    def fits(self, labels: NearestLabels, node_class: np.ndarray | None, width: int) -> bool:
        """Whether a walk of ``labels`` with ``node_class`` in ``width`` classes may use
        these summaries."""
        return (
            self.node_class is node_class
            and self.per_class.shape[1] == width
            and len(self.words) == -(-labels.source.size // 64)
        )


@dataclass(frozen=True, eq=False)
class NearestLabels:
    """The ``k`` nearest distinct sources of every node of one graph.

    Attributes
    ----------
    source
        int16 (int32 above 32,767 sources) (n_nodes, k): the source (position in
        ``ids``) of each label, -1 when the node has fewer reachable sources.
    minutes
        float32 (n_nodes, k): minutes from the node to that source, its off-road leg
        included; inf for an empty label.  Each row is in increasing order.
    pred
        uint16 (n_nodes, k): the next node on the way to the source, as its position in
        the node's row of the graph's CSR matrices (:func:`pred_nodes` turns it into node
        ids); 65535 where the node is one of the source's own entry nodes (a seed),
        65534 for an empty label.
    ids
        int64 (n_sources,): the caller's id of each source (e.g. a provider's row).
    x, y
        float64 (n_sources,): the sources' coordinates in the graph CRS.
    entered
        bool (n_sources,): whether each source could enter the graph at all.
    summary
        The route summaries of the set (:mod:`geo.route_summary`), when the build kept
        them: route walks stop early.
    """

    source: np.ndarray
    minutes: np.ndarray
    pred: np.ndarray
    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    entered: np.ndarray
    summary: RouteSummary | None = None

    @property
    def k(self) -> int:
        """Labels per node."""
        return int(self.source.shape[1])

    @cached_property
    def positions(self) -> dict[int, int]:
        """Position of each source id in the set (computed once)."""
        return {int(i): p for p, i in enumerate(self.ids.tolist())}

    @property
    def n_sources(self) -> int:
        """Number of sources of the set."""
        return len(self.ids)

    @property
    def n_nodes(self) -> int:
        """Number of graph nodes."""
        return int(self.source.shape[0])


def _csr(graph: CostGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = graph.minutes
    return m.indptr, m.indices, m.data


def nearest_labels(
    graph: CostGraph,
    x: np.ndarray,
    y: np.ndarray,
    *,
    k: int = DEFAULT_K,
    ids: np.ndarray | None = None,
    limit_min: float = np.inf,
) -> NearestLabels:
    """The ``k`` nearest of the sources at (x, y) from every node of ``graph``.

    Parameters
    ----------
    graph
        The travel-time graph (no provider attached to it).
    x, y
        Source coordinates in the graph CRS, metres.
    k
        Labels per node, 1 to 64 (``min(k, n_sources)`` are kept).
    ids
        An id per source, returned in :attr:`NearestLabels.ids` (default 0..n-1).
    limit_min
        Stop beyond this many minutes (labels beyond stay empty).

    Returns
    -------
    NearestLabels
    """
    if not isinstance(k, int | np.integer) or not 1 <= k <= 64:
        raise ValueError(f"k must be an integer from 1 to 64, got {k!r}")
    if not limit_min > 0:
        raise ValueError(f"limit_min must be > 0 minutes, got {limit_min!r}")
    seeds = source_seeds(graph, x, y)
    n = seeds.n_sources
    if ids is None:
        ids = np.arange(n, dtype=np.int64)
    ids = np.asarray(ids, dtype=np.int64)
    if ids.shape != (n,):
        raise ValueError(f"ids must hold one id per source ({n}), got shape {ids.shape}")
    width = max(1, min(int(k), n))
    indptr, indices, weights = _csr(graph)
    source, minutes, pred, _ = _kernels.k_label_dijkstra(
        indptr, indices, weights, seeds.node, seeds.source, seeds.minutes, width, float(limit_min)
    )
    # compact: sources in 16 bits when they fit, predecessors as row offsets (16 bits)
    if n < np.iinfo(np.int16).max:
        source = source.astype(np.int16)
    if int(np.diff(indptr).max(initial=0)) >= _kernels.NONE_OFFSET:
        raise ValueError("a graph node has more than 65,533 neighbours; cannot store labels")
    return NearestLabels(
        source=source,
        minutes=minutes,
        pred=_kernels.pred_offsets(indptr, indices, pred),
        ids=ids,
        x=np.atleast_1d(np.asarray(x, dtype=np.float64)).copy(),
        y=np.atleast_1d(np.asarray(y, dtype=np.float64)).copy(),
        entered=seeds.entered,
    )


def pred_nodes(labels: NearestLabels, graph: CostGraph) -> np.ndarray:
    """The predecessors as node ids (int64; -1 at a seed, -2 for an empty label)."""
    offsets = np.asarray(labels.pred).astype(np.int64)
    base = np.asarray(graph.minutes.indptr[:-1], dtype=np.int64)[:, None]
    inside = offsets < _kernels.NONE_OFFSET
    out = np.where(offsets == _kernels.SEED_OFFSET, -1, -2).astype(np.int64)
    out[inside] = np.asarray(graph.minutes.indices)[(base + offsets)[inside]]
    return out


def labels_surface(labels: NearestLabels) -> tuple[np.ndarray, np.ndarray]:
    """Minutes to the nearest source and its id, for every node (first label).

    Returns
    -------
    minutes : float32 (n_nodes,)
        ``inf`` where no source can be reached.
    nearest : int64 (n_nodes,)
        The nearest source's id (:attr:`NearestLabels.ids`), -1 where unreachable.
    """
    first = np.asarray(labels.source[:, 0])
    minutes = np.asarray(labels.minutes[:, 0], dtype=np.float32)
    nearest = np.where(first >= 0, labels.ids[np.maximum(first, 0)], -1)
    return minutes, nearest


def surface_without(labels: NearestLabels, remove_id: int) -> np.ndarray:
    """Minutes to the nearest source when the source ``remove_id`` is gone (float32).

    Where the removed source was a node's nearest, its second label takes over: exact
    because labels hold distinct sources in order (``k >= 2`` is needed unless the set
    has a single source).
    """
    hit = np.flatnonzero(labels.ids == remove_id)
    if len(hit) != 1:
        raise ValueError(f"remove_id={remove_id!r} is not one source of the set")
    position = int(hit[0])
    if labels.k < 2 and labels.n_sources > 1:
        raise ValueError("surface_without needs labels built with k >= 2")
    first = np.asarray(labels.source[:, 0])
    minutes = np.asarray(labels.minutes[:, 0], dtype=np.float32).copy()
    moved = first == position
    if labels.k >= 2:
        minutes[moved] = np.asarray(labels.minutes[moved, 1], dtype=np.float32)
    else:
        minutes[moved] = np.inf
    return minutes


@dataclass(frozen=True, eq=False)
class Reach:
    """Grid cells each point reaches within ``limit_min`` (one bounded Dijkstra each).

    ``minutes`` is a sparse (n_points, n_cells) matrix (float64; a cell reached at 0
    minutes is stored as 1e-9); ``entered`` says which points could enter the graph.
    """

    minutes: sp.csr_matrix
    entered: np.ndarray
    limit_min: float

    def times(self, i: int) -> np.ndarray:
        """Minutes from point ``i`` to every cell (inf beyond the limit)."""
        row = self.minutes.getrow(i)
        out = np.full(self.minutes.shape[1], np.inf)
        out[row.indices] = row.data
        return out

    def covers(self) -> sp.csr_matrix:
        """Boolean (n_points, n_cells): the cell is within the limit of the point."""
        out = self.minutes.copy()
        out.data = np.ones_like(out.data)
        return out.astype(bool)


def bounded_reach(graph: CostGraph, x: np.ndarray, y: np.ndarray, *, limit_min: float) -> Reach:
    """One Dijkstra per point at (x, y) (graph CRS), bounded at ``limit_min`` minutes.

    Each point enters the graph as a source does (:func:`source_seeds`); the runs are
    independent, so points never shorten each other's routes.
    """
    if not (np.isfinite(limit_min) and limit_min > 0):
        raise ValueError(f"limit_min must be positive finite minutes, got {limit_min!r}")
    seeds = source_seeds(graph, x, y)
    indptr, indices, weights = _csr(graph)
    ptr, node, minutes = _kernels.bounded_reach(
        indptr,
        indices,
        weights,
        seeds.ptr(),
        seeds.node,
        seeds.minutes,
        float(limit_min),
        graph.n_cells,
    )
    matrix = sp.csr_matrix(
        (np.maximum(minutes, 1e-9), node.astype(np.int64), ptr),
        shape=(seeds.n_sources, graph.n_cells),
    )
    matrix.sort_indices()
    return Reach(minutes=matrix, entered=seeds.entered, limit_min=float(limit_min))
