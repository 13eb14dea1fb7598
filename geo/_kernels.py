"""Compiled loops of the travel-time engine (numba): k-label and bounded Dijkstra, walks.

Internal: :mod:`geo.labels` and :mod:`geo.routes` wrap these with validation.  Every
function takes plain arrays (the CSR graph as ``indptr``, ``indices``, ``weights``) so
that memory-mapped build files can be passed without a copy.

Heap entries are ordered by (minutes, source): equal times are settled lowest source
first, so ties are broken the same way on every run and by the reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: ``pred`` value of a label whose node is one of its source's own entry nodes (a seed).
SEED = -1
#: ``pred`` value of an empty label.
NONE = -2
#: The same two as stored offsets (:func:`pred_offsets`): the largest values of uint16.
SEED_OFFSET = 0xFFFF
NONE_OFFSET = 0xFFFE


@njit(cache=True, inline="always")
def _less(d1: float, s1: int, d2: float, s2: int) -> bool:
    return d1 < d2 or (d1 == d2 and s1 < s2)


@njit(cache=True)
def _grow(hd, hs, hn, hp):  # type: ignore[no-untyped-def]
    cap = len(hd) * 2
    nd = np.empty(cap, np.float64)
    ns = np.empty(cap, np.int32)
    nn = np.empty(cap, np.int32)
    np_ = np.empty(cap, np.int32)
    nd[: len(hd)] = hd
    ns[: len(hs)] = hs
    nn[: len(hn)] = hn
    np_[: len(hp)] = hp
    return nd, ns, nn, np_


@njit(cache=True)
def _sift_up(hd, hs, hn, hp, i):  # type: ignore[no-untyped-def]
    d, s, n, p = hd[i], hs[i], hn[i], hp[i]
    while i > 0:
        parent = (i - 1) >> 1
        if _less(d, s, hd[parent], hs[parent]):
            hd[i], hs[i], hn[i], hp[i] = hd[parent], hs[parent], hn[parent], hp[parent]
            i = parent
        else:
            break
    hd[i], hs[i], hn[i], hp[i] = d, s, n, p


@njit(cache=True)
def _sift_down(hd, hs, hn, hp, size):  # type: ignore[no-untyped-def]
    d, s, n, p = hd[0], hs[0], hn[0], hp[0]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        right = child + 1
        if right < size and _less(hd[right], hs[right], hd[child], hs[child]):
            child = right
        if _less(hd[child], hs[child], d, s):
            hd[i], hs[i], hn[i], hp[i] = hd[child], hs[child], hn[child], hp[child]
            i = child
        else:
            break
    hd[i], hs[i], hn[i], hp[i] = d, s, n, p


@njit(cache=True, inline="always")
def _key_less(d1: float, p1: int, d2: float, p2: int) -> bool:
    return d1 < d2 or (d1 == d2 and p1 < p2)


@njit(cache=True)
def _grow2(hk, hv):  # type: ignore[no-untyped-def]
    """The heap arrays at twice their size."""
    size = len(hk)
    bk = np.empty(2 * size, np.float64)
    bv = np.empty(2 * size, np.int64)
    bk[:size] = hk
    bv[:size] = hv
    return bk, bv


@njit(cache=True, inline="always")
def _push(hk, hv, size, key, value):  # type: ignore[no-untyped-def]
    """Push (key, value) on the binary heap (hk, hv) of ``size`` entries (room checked by
    the caller)."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if _key_less(key, value, hk[parent], hv[parent]):
            hk[i] = hk[parent]
            hv[i] = hv[parent]
            i = parent
        else:
            break
    hk[i] = key
    hv[i] = value


@njit(cache=True, inline="always")
def _pop(hk, hv, size):  # type: ignore[no-untyped-def]
    """Remove the smallest entry of the heap of ``size`` entries (the caller read it)."""
    size -= 1
    if size == 0:
        return
    key = hk[size]
    value = hv[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        right = child + 1
        if right < size and _key_less(hk[right], hv[right], hk[child], hv[child]):
            child = right
        if _key_less(hk[child], hv[child], key, value):
            hk[i] = hk[child]
            hv[i] = hv[child]
            i = child
        else:
            break
    hk[i] = key
    hv[i] = value


@njit(cache=True, nogil=True)
def k_label_dijkstra(indptr, indices, weights, seed_node, seed_source, seed_minutes, k, limit):  # type: ignore[no-untyped-def]
    """The ``k`` nearest distinct sources of every node, with minutes and predecessors.

    A multi-source Dijkstra whose labels are (node, source) pairs: a node settles at most
    ``k`` labels, one per source, in increasing (minutes, source) order.  Seeds are the
    sources' entry nodes with the off-road leg to each as starting minutes.  Each node
    keeps at most ``k`` candidate labels (settled or tentative), and once it holds ``k``
    the worst of them bounds what may still enter: the heap holds improvements only
    (the k-label form of decrease-key), and most relaxations stop at one comparison.

    A node's whole state is one row of ``1 + 3k`` 32-bit words (64 bytes for k = 5, one
    cache line): the bound, then k sources, k predecessors and k minutes (float32;
    candidates are compared as float32 minutes, then by source).

    Returns ``source`` (int32, -1 empty), ``minutes`` (float32, inf empty) and ``pred``
    (int32: the next node towards the source, :data:`SEED` at a seed, :data:`NONE`
    empty), each of shape (n_nodes, k) with the settled labels first, and the number
    of heap pops.
    """
    n_nodes = len(indptr) - 1
    width = 1 + 3 * k
    state = np.empty((n_nodes, width), np.int32)
    fstate = state.view(np.float32)
    for n in range(n_nodes):
        fstate[n, 0] = np.inf
        for j in range(k):
            state[n, 1 + j] = -1
            state[n, 1 + k + j] = NONE
            fstate[n, 1 + 2 * k + j] = np.inf
    settled = np.zeros(n_nodes, np.int8)
    hk = np.empty(max(1024, 2 * len(seed_node)), np.float64)
    hv = np.empty(len(hk), np.int64)
    size = 0
    for i in range(len(seed_node)):
        d = seed_minutes[i]
        n = seed_node[i]
        if d <= limit and _offer(state, fstate, settled[n], n, seed_source[i], d, SEED, k):
            if size == len(hk):
                hk, hv = _grow2(hk, hv)
            _push(hk, hv, size, d, (np.int64(seed_source[i]) << 32) | n)
            size += 1
    pops = 0
    while size > 0:
        d = hk[0]
        v = hv[0]
        _pop(hk, hv, size)
        size -= 1
        pops += 1
        s = np.int32(v >> 32)
        n = np.int32(v & 0xFFFFFFFF)
        c = settled[n]
        slot = -1
        for j in range(c, k):
            if state[n, 1 + j] == s:
                slot = j
                break
        if slot < 0 or fstate[n, 1 + 2 * k + slot] != np.float32(d):
            continue  # evicted or improved since it was pushed
        if slot != c:  # settled labels stay first, in order
            for base in (1, 1 + k, 1 + 2 * k):
                state[n, base + slot], state[n, base + c] = (
                    state[n, base + c],
                    state[n, base + slot],
                )
        settled[n] = c + 1
        if c + 1 == k:
            fstate[n, 0] = -np.inf
        for e in range(indptr[n], indptr[n + 1]):
            m = indices[e]
            nd = d + weights[e]
            if np.float32(nd) > fstate[m, 0] or nd > limit:
                continue
            if _offer(state, fstate, settled[m], m, s, nd, n, k):
                if size == len(hk):
                    hk, hv = _grow2(hk, hv)
                _push(hk, hv, size, nd, (np.int64(s) << 32) | m)
                size += 1
    source = state[:, 1 : 1 + k].copy()
    pred = state[:, 1 + k : 1 + 2 * k].copy()
    minutes = fstate[:, 1 + 2 * k : 1 + 3 * k].copy()
    return source, minutes, pred, pops


@njit(cache=True, inline="always")
def _offer(state, fstate, c, m, s, d, pred, k):  # type: ignore[no-untyped-def]
    """Offer node ``m`` (``c`` labels settled) the label (source ``s``, ``d`` minutes,
    from ``pred``).  True when it became one of ``m``'s tentative labels (push it)."""
    for j in range(c):
        if state[m, 1 + j] == s:
            return False  # already settled there
    d32 = np.float32(d)
    worst = -1
    free = -1
    for j in range(c, k):
        src = state[m, 1 + j]
        if src == s:
            if d32 < fstate[m, 1 + 2 * k + j]:
                fstate[m, 1 + 2 * k + j] = d32
                state[m, 1 + k + j] = pred
                _rebound(state, fstate, m, c, k)
                return True
            return False
        if src < 0:
            free = j  # filled slots come first: the rest are free too
            break
        if worst < 0 or _key_less(
            fstate[m, 1 + 2 * k + worst], state[m, 1 + worst], fstate[m, 1 + 2 * k + j], src
        ):
            worst = j
    if free < 0:
        if worst < 0 or not _key_less(d32, s, fstate[m, 1 + 2 * k + worst], state[m, 1 + worst]):
            return False
        free = worst
    state[m, 1 + free] = s
    fstate[m, 1 + 2 * k + free] = d32
    state[m, 1 + k + free] = pred
    _rebound(state, fstate, m, c, k)
    return True


@njit(cache=True, inline="always")
def _rebound(state, fstate, m, c, k):  # type: ignore[no-untyped-def]
    """The bound of node ``m``: its worst tentative minutes once all ``k`` slots hold a
    label (a candidate must not be worse to enter), inf while a slot is free."""
    if state[m, k] < 0:
        fstate[m, 0] = np.inf
        return
    worst = -np.inf
    for j in range(c, k):
        if fstate[m, 1 + 2 * k + j] > worst:
            worst = fstate[m, 1 + 2 * k + j]
    fstate[m, 0] = worst


@njit(cache=True, nogil=True)
def bounded_reach(indptr, indices, weights, seed_ptr, seed_node, seed_minutes, limit, n_keep):  # type: ignore[no-untyped-def]
    """One Dijkstra per source, each bounded at ``limit`` minutes.

    Source ``i``'s seeds are ``seed_node[seed_ptr[i]:seed_ptr[i+1]]`` with their starting
    minutes.  Returns, CSR-like, the nodes below ``n_keep`` (the grid cells) each source
    reaches within the limit and their minutes: ``ptr`` (n_sources + 1), ``node``,
    ``minutes`` (float64).
    """
    n_nodes = len(indptr) - 1
    n_src = len(seed_ptr) - 1
    dist = np.full(n_nodes, np.inf)
    done = np.zeros(n_nodes, np.bool_)
    touched = np.empty(n_nodes, np.int32)
    out_ptr = np.zeros(n_src + 1, np.int64)
    cap = 1 << 16
    out_node = np.empty(cap, np.int32)
    out_min = np.empty(cap, np.float64)
    used = 0
    hd = np.empty(1024, np.float64)
    hs = np.zeros(1024, np.int32)
    hn = np.empty(1024, np.int32)
    hp = np.zeros(1024, np.int32)
    for i in range(n_src):
        n_touched = 0
        size = 0
        for q in range(seed_ptr[i], seed_ptr[i + 1]):
            node = seed_node[q]
            d0 = seed_minutes[q]
            if d0 > limit or d0 >= dist[node]:
                continue
            if dist[node] == np.inf:
                touched[n_touched] = node
                n_touched += 1
            dist[node] = d0
            if size == len(hd):
                hd, hs, hn, hp = _grow(hd, hs, hn, hp)
            hd[size], hs[size], hn[size], hp[size] = d0, 0, node, 0
            _sift_up(hd, hs, hn, hp, size)
            size += 1
        while size > 0:
            d, n = hd[0], hn[0]
            size -= 1
            if size > 0:
                hd[0], hs[0], hn[0], hp[0] = hd[size], hs[size], hn[size], hp[size]
                _sift_down(hd, hs, hn, hp, size)
            if done[n] or d > dist[n]:
                continue
            done[n] = True
            if n < n_keep:
                if used == len(out_node):
                    bigger_node = np.empty(2 * used, np.int32)
                    bigger_min = np.empty(2 * used, np.float64)
                    bigger_node[:used] = out_node
                    bigger_min[:used] = out_min
                    out_node, out_min = bigger_node, bigger_min
                out_node[used] = n
                out_min[used] = d
                used += 1
            for e in range(indptr[n], indptr[n + 1]):
                m = indices[e]
                nd = d + weights[e]
                if nd <= limit and nd < dist[m]:
                    if dist[m] == np.inf:
                        touched[n_touched] = m
                        n_touched += 1
                    dist[m] = nd
                    if size == len(hd):
                        hd, hs, hn, hp = _grow(hd, hs, hn, hp)
                    hd[size], hs[size], hn[size], hp[size] = nd, 0, m, 0
                    _sift_up(hd, hs, hn, hp, size)
                    size += 1
        for t in range(n_touched):
            dist[touched[t]] = np.inf
            done[touched[t]] = False
        out_ptr[i + 1] = used
    return out_ptr, out_node[:used].copy(), out_min[:used].copy()


@njit(cache=True, nogil=True)
def pred_offsets(indptr, indices, pred):  # type: ignore[no-untyped-def]
    """Each predecessor node as its position in the node's CSR row (uint16).

    A node's next step is one of its neighbours, so 16 bits hold it (the caller checks
    that no row is longer than :data:`NONE_OFFSET`): a third of the memory of node ids.
    """
    n_nodes, k = pred.shape
    out = np.empty((n_nodes, k), np.uint16)
    for n in range(n_nodes):
        lo = indptr[n]
        hi = indptr[n + 1]
        for j in range(k):
            p = pred[n, j]
            if p == SEED:
                out[n, j] = SEED_OFFSET
            elif p < 0:
                out[n, j] = NONE_OFFSET
            else:
                a, b = lo, hi
                while a < b:
                    mid = (a + b) >> 1
                    if indices[mid] < p:
                        a = mid + 1
                    else:
                        b = mid
                out[n, j] = a - lo
    return out


@njit(cache=True, inline="always")
def _slot_of(lab_source, node, source):  # type: ignore[no-untyped-def]
    """The slot of ``source`` among ``node``'s labels; -1 when it holds none."""
    for j in range(lab_source.shape[1]):
        if lab_source[node, j] == source:
            return j
    return -1


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
):  # type: ignore[no-untyped-def]
    """Follow ``source``'s labels from ``start`` to the seed node where the route leaves
    the graph for the source itself.  ``lab_pred`` holds offsets (:func:`pred_offsets`);
    ``metres`` and ``minutes`` are the CSR data of the same edges; nodes below
    ``n_cells`` are grid cells, the others road vertices.

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
    for _ in range(len(indptr)):
        slot = _slot_of(lab_source, n, source)
        if slot < 0:
            return per_class, worst, n, path[:length], road_m, road_min, 1
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
):  # type: ignore[no-untyped-def]
    """Several routes of the same labels in one call: :func:`walk_labels` from
    ``starts[i]`` to source ``sources[i]`` (a position), then the last off-road leg to
    the source at (``src_x``, ``src_y``), in the worse class of the seed node and the
    source's cell (``end_cells``, -1 off the grid).  A start of -1 is a source reached
    straight across country: no route, its class the source cell's.  Per route: metres
    per class (rows), worst class, seed node (-1 without route), metres and minutes on
    roads, status (:func:`walk_labels`)."""
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
