"""Compiled loops of a nearest-service query (numba): a point's candidates and the pick of
the fastest, walks along the labels' predecessors, the nearest road piece.

Internal: :mod:`geo.routes`, :mod:`geo.route_flags` and :mod:`geo.costgraph` wrap these
with validation.  Like :mod:`geo._kernels`, every function takes plain arrays, so that
memory-mapped build files can be passed without a copy.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geo._kernels import NONE_OFFSET, SEED_OFFSET


@njit(cache=True, inline="always")
def _slot_of(lab_source, node, source):  # type: ignore[no-untyped-def]
    """The slot of ``source`` among ``node``'s labels; -1 when it holds none."""
    for j in range(lab_source.shape[1]):
        if lab_source[node, j] == source:
            return j
    return -1


@njit(cache=True, inline="always")
def _popcount(x):  # type: ignore[no-untyped-def]
    """Bits set in a uint64."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True, inline="always")
def _summary_of(words, rank, key):  # type: ignore[no-untyped-def]
    """The row of label ``key`` (node * k + slot) among the summaries; -1 when it has
    none: bit ``key`` of ``words`` marks it, ``rank`` counts the marks before each word."""
    w = words[key >> 6]
    bit = np.uint64(1) << np.uint64(key & 63)
    if not w & bit:
        return -1
    return rank[key >> 6] + np.int64(_popcount(w & (bit - np.uint64(1))))


@njit(cache=True, nogil=True)
def walk_labels(
    lab_source,
    lab_pred,
    indptr,
    indices,
    metres,
    minutes,
    n_cells,
    node_class,
    start,
    source,
    n_classes,
    keep_nodes,
    summary,
):  # type: ignore[no-untyped-def]
    """Follow ``source``'s labels from ``start`` to the seed node where the route leaves
    the graph for the source itself.  ``lab_pred`` holds offsets (:func:`pred_offsets`);
    ``metres`` and ``minutes`` are the CSR data of the same edges; nodes below
    ``n_cells`` are grid cells, the others road vertices.

    ``summary`` holds route summaries, (words, rank, per class, road, worst, seed) as
    :class:`geo.route_summary.RouteSummary` keeps them (empty arrays: none): a walk that
    reaches a label marked in ``words`` adds that label's figures for the rest of its
    route and stops there.  A walk keeping its nodes must pass none.

    Returns (metres per conflict class (float64, n_classes), worst class on the way
    (node classes, start included), the seed node, the path's nodes if ``keep_nodes``
    else an empty array, metres and minutes on roads (edges between two road
    vertices), status: 0 ok, 1 a node on the way lacks the label, 2 the chain does not
    end).  Edges count in the higher class of their two ends.  One walk gives all of
    it: a route's labels are read once.
    """
    per_class = np.zeros(n_classes)
    road_m = 0.0
    road_min = 0.0
    n = start
    worst = node_class[n] if n_classes > 1 else 0
    cap = 64 if keep_nodes else 1
    path = np.empty(cap, np.int64)
    length = 0
    if keep_nodes:
        path[0] = n
        length = 1
    k = lab_source.shape[1]
    words, rank, sum_class, sum_road, sum_worst, sum_seed = summary
    summarized = len(words) > 0
    for _ in range(len(indptr)):
        slot = _slot_of(lab_source, n, source)
        if slot < 0:
            return per_class, worst, n, path[:length], road_m, road_min, 1
        if summarized:
            i = _summary_of(words, rank, n * k + slot)
            if i >= 0:
                for c in range(n_classes):
                    per_class[c] += sum_class[i, c]
                worst = max(worst, sum_worst[i])
                road_m += sum_road[i, 0]
                road_min += sum_road[i, 1]
                return per_class, worst, sum_seed[i], path[:length], road_m, road_min, 0
        off = lab_pred[n, slot]
        if off == SEED_OFFSET:
            return per_class, worst, n, path[:length], road_m, road_min, 0
        e = indptr[n] + off
        p = indices[e]
        m = metres[e]
        if n >= n_cells and p >= n_cells:
            road_m += m
            road_min += minutes[e]
        if n_classes > 1:
            c = max(node_class[n], node_class[p])
            per_class[c] += m
            worst = max(worst, node_class[p])
        else:
            per_class[0] += m
        n = p
        if keep_nodes:
            if length == len(path):
                bigger = np.empty(2 * length, np.int64)
                bigger[:length] = path
                path = bigger
            path[length] = n
            length += 1
    return per_class, worst, n, path[:length], road_m, road_min, 2


@njit(cache=True, nogil=True)
def point_candidates(
    lab_source,
    lab_minutes,
    ids,
    nodes,
    leg_min,
    leg_m,
    by_x,
    xs,
    src_x,
    src_y,
    entered,
    x,
    y,
    reach,
    pace,
):  # type: ignore[no-untyped-def]
    """Every way a point reaches the sources of one label set: through each entry node
    (``nodes``, reached off-road in ``leg_min`` minutes and ``leg_m`` metres) and its
    labels, in entry then slot order; then straight across country to each entered
    source within ``reach`` metres (``by_x``: the sources by x, ``xs`` their sorted x),
    at ``pace`` minutes a metre.  Returns the candidates' ids, total minutes, entry node
    (-1 straight across), leg minutes and leg metres."""
    k = lab_source.shape[1]
    lo = np.searchsorted(xs, x - reach)
    hi = np.searchsorted(xs, x + reach + 1e-6)
    cap = len(nodes) * k + (hi - lo)
    cid = np.empty(cap, np.int64)
    cmin = np.empty(cap)
    centry = np.empty(cap, np.int64)
    cleg = np.empty(cap)
    clegm = np.empty(cap)
    c = 0
    for e in range(len(nodes)):
        node = nodes[e]
        for j in range(k):
            src = lab_source[node, j]
            if src >= 0:
                cid[c] = ids[src]
                cmin[c] = leg_min[e] + np.float64(lab_minutes[node, j])
                centry[c] = node
                cleg[c] = leg_min[e]
                clegm[c] = leg_m[e]
                c += 1
    for q in range(lo, hi):
        p = by_x[q]
        if not entered[p]:
            continue
        d = np.hypot(src_x[p] - x, src_y[p] - y)
        if d <= reach:
            cid[c] = ids[p]
            cmin[c] = d * pace
            centry[c] = -1
            cleg[c] = d * pace
            clegm[c] = d
            c += 1
    return cid[:c], cmin[:c], centry[:c], cleg[:c], clegm[:c]


@njit(cache=True, nogil=True)
def pick_fastest(ids, total, k):  # type: ignore[no-untyped-def]
    """Positions of the ``k`` fastest candidates, each id once (its fastest candidate):
    by total, then id, then position (the order of ``np.lexsort((ids, total))``)."""
    by_id = np.argsort(ids, kind="mergesort")
    order = by_id[np.argsort(total[by_id], kind="mergesort")]
    out = np.empty(min(k, len(ids)), np.int64)
    c = 0
    for q in order:
        if c == len(out):
            break
        taken = False
        for r in range(c):
            if ids[out[r]] == ids[q]:
                taken = True
                break
        if not taken:
            out[c] = q
            c += 1
    return out[:c]


@njit(cache=True, nogil=True)
def walk_many(
    lab_source,
    lab_pred,
    indptr,
    indices,
    metres,
    minutes,
    n_cells,
    node_class,
    starts,
    sources,
    n_classes,
    node_x,
    node_y,
    src_x,
    src_y,
    end_cells,
    summary,
):  # type: ignore[no-untyped-def]
    """Several routes of the same labels in one call: :func:`walk_labels` from
    ``starts[i]`` to source ``sources[i]`` (a position), then the last off-road leg to
    the source at (``src_x``, ``src_y``), in the worse class of the seed node and the
    source's cell (``end_cells``, -1 off the grid).  A start of -1 is a source reached
    straight across country: no route, its class the source cell's.  ``summary`` as for
    :func:`walk_labels`.  Per route: metres per class (rows), worst class, seed node (-1
    without route), metres and minutes on roads, status (:func:`walk_labels`)."""
    m = len(starts)
    per_class = np.zeros((m, n_classes))
    worst = np.zeros(m, np.int64)
    seed = np.full(m, -1, np.int64)
    road_m = np.zeros(m)
    road_min = np.zeros(m)
    status = np.zeros(m, np.int64)
    for i in range(m):
        p = sources[i]
        end_class = 0
        if n_classes > 1 and end_cells[p] >= 0:
            end_class = node_class[end_cells[p]]
        if starts[i] < 0:
            worst[i] = end_class
            continue
        pc, w, s, _, rm, rmin, st = walk_labels(
            lab_source,
            lab_pred,
            indptr,
            indices,
            metres,
            minutes,
            n_cells,
            node_class,
            starts[i],
            p,
            n_classes,
            False,
            summary,
        )
        last = np.hypot(node_x[s] - src_x[p], node_y[s] - src_y[p])
        if n_classes > 1:
            pc[max(node_class[s], end_class)] += last
            w = max(w, end_class)
        else:
            pc[0] += last
        per_class[i, :] = pc
        worst[i] = w
        seed[i] = s
        road_m[i] = rm
        road_min[i] = rmin
        status[i] = st
    return per_class, worst, seed, road_m, road_min, status


@njit(cache=True, nogil=True)
def nearest_segment_m(indptr, indices, node_x, node_y, n_cells, vertices, x, y):  # type: ignore[no-untyped-def]
    """Distance from (x, y) to the nearest of the road pieces touching ``vertices``
    (graph nodes of road vertices): to each vertex, and to the line of each edge from
    it to another road vertex (edges to nodes below ``n_cells``, grid cells, are not
    roads).  ``inf`` without vertices."""
    best = np.inf
    for a in vertices:
        ax = node_x[a]
        ay = node_y[a]
        best = min(best, np.hypot(ax - x, ay - y))
        for e in range(indptr[a], indptr[a + 1]):
            b = indices[e]
            if b < n_cells:
                continue
            dx = node_x[b] - ax
            dy = node_y[b] - ay
            length2 = dx * dx + dy * dy
            t = 0.0
            if length2 > 0:
                t = min(1.0, max(0.0, ((x - ax) * dx + (y - ay) * dy) / length2))
            best = min(best, np.hypot(ax + t * dx - x, ay + t * dy - y))
    return best


@njit(cache=True, nogil=True)
def first_label_routes(
    lab_source,
    lab_pred,
    indptr,
    indices,
    minutes,
    metres,
    n_cells,
    n_starts,
    src_x,
    src_y,
    node_x,
    node_y,
):  # type: ignore[no-untyped-def]
    """The route of nodes ``0..n_starts-1`` to their first label's source: minutes on
    the roads (edges between two road vertices, ids ``>= n_cells``) and metres, the
    last straight leg from the seed node to the source included (as :func:`walk_labels`
    and :func:`geo.routes.walk_route` count them).  NaN for an empty label or a chain
    that breaks.

    Each (node, label) pair is walked once: a walk stops at the first pair already
    known and the sums are filled back along it, parents before children, so the work
    is the size of the predecessor tree, not the sum of the paths.
    """
    n, k = lab_source.shape
    road = np.full((n, k), np.nan)
    length = np.full((n, k), np.nan)
    done = np.zeros((n, k), np.bool_)
    on_node = np.empty(n, np.int64)
    on_slot = np.empty(n, np.int64)
    step_road = np.empty(n)
    step_m = np.empty(n)
    for start in range(n_starts):
        s = lab_source[start, 0]
        if s < 0 or done[start, 0]:
            continue
        node = start
        slot = 0
        depth = 0
        base_road = np.nan
        base_m = np.nan
        while depth < n:
            if done[node, slot]:
                base_road = road[node, slot]
                base_m = length[node, slot]
                break
            off = lab_pred[node, slot]
            if off == NONE_OFFSET:
                break
            on_node[depth] = node
            on_slot[depth] = slot
            if off == SEED_OFFSET:
                step_road[depth] = 0.0
                step_m[depth] = np.hypot(node_x[node] - src_x[s], node_y[node] - src_y[s])
                depth += 1
                base_road = 0.0
                base_m = 0.0
                break
            e = indptr[node] + off
            p = indices[e]
            step_road[depth] = minutes[e] if (node >= n_cells and p >= n_cells) else 0.0
            step_m[depth] = metres[e]
            depth += 1
            nxt = _slot_of(lab_source, p, s)
            if nxt < 0:
                break
            node = p
            slot = nxt
        r = base_road
        m = base_m
        for d in range(depth - 1, -1, -1):
            r += step_road[d]
            m += step_m[d]
            road[on_node[d], on_slot[d]] = r
            length[on_node[d], on_slot[d]] = m
            done[on_node[d], on_slot[d]] = True
    return road[:n_starts, 0].copy(), length[:n_starts, 0].copy()


@njit(cache=True, nogil=True)
def summarize_labels(
    lab_source, lab_pred, indptr, indices, metres, minutes, n_cells, node_class, n_classes
):  # type: ignore[no-untyped-def]
    """What the rest of the route of every label adds up to, as :func:`walk_labels` from
    that label would return it: steps to the seed (-1 for a label whose chain breaks or
    an empty one), metres per class, worst class, road metres and minutes, seed node.

    Each label is reached once: a chain is followed up to the first label already
    known (or its seed), then filled back from there, parents before children.
    """
    n, k = lab_source.shape
    depth = np.full((n, k), -1, np.int32)
    per_class = np.zeros((n, k, n_classes))
    road = np.zeros((n, k, 2))
    worst = np.zeros((n, k), np.int8)
    seed = np.full((n, k), -1, np.int32)
    on_node = np.empty(n, np.int64)
    on_slot = np.empty(n, np.int64)
    for start in range(n):
        for first in range(k):
            src = lab_source[start, first]
            if src < 0 or depth[start, first] >= 0:
                continue
            node = start
            slot = first
            top = 0
            ok = True
            while depth[node, slot] < 0:
                off = lab_pred[node, slot]
                if off == SEED_OFFSET:
                    depth[node, slot] = 0
                    seed[node, slot] = node
                    worst[node, slot] = node_class[node] if n_classes > 1 else 0
                    break
                if off == NONE_OFFSET or top == n:
                    ok = False
                    break
                on_node[top] = node
                on_slot[top] = slot
                top += 1
                p = indices[indptr[node] + off]
                nxt = _slot_of(lab_source, p, src)
                if nxt < 0:
                    ok = False
                    break
                node = p
                slot = nxt
            if not ok:
                continue
            # (node, slot) is known; fill its children back down the stack
            while top > 0:
                top -= 1
                c = on_node[top]
                cs = on_slot[top]
                e = indptr[c] + lab_pred[c, cs]
                p = indices[e]
                m = metres[e]
                depth[c, cs] = depth[node, slot] + 1
                for q in range(n_classes):
                    per_class[c, cs, q] = per_class[node, slot, q]
                if n_classes > 1:
                    per_class[c, cs, max(node_class[c], node_class[p])] += m
                    worst[c, cs] = max(worst[node, slot], node_class[c])
                else:
                    per_class[c, cs, 0] += m
                road[c, cs, 0] = road[node, slot, 0]
                road[c, cs, 1] = road[node, slot, 1]
                if c >= n_cells and p >= n_cells:
                    road[c, cs, 0] += m
                    road[c, cs, 1] += minutes[e]
                seed[c, cs] = seed[node, slot]
                node = c
                slot = cs
    return depth, per_class, road, worst, seed
