"""Compiled loops of the travel-time engine (numba): k-label and bounded Dijkstra.

Internal: :mod:`geo.labels` wraps these with validation; the loops a query runs (walks
along the labels, ranking a point) are in :mod:`geo._walks`.  Every
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
