"""The k-label engine (geo.labels, geo.routes) against independent per-source Dijkstras.

The reference for a source is networkx on a copy of the graph with one virtual node
joined to the source's entry nodes: the provider is a leaf there, so its times are what
a per-provider Dijkstra gives, and no other source can be on its routes.
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra

from geo import _walks
from geo.costgraph import build_cost_graph, densify_roads, point_entries
from geo.crs import METRIC_CRS
from geo.grid import Grid
from geo.labels import (
    bounded_reach,
    labels_surface,
    nearest_labels,
    pred_nodes,
    source_seeds,
    surface_without,
)
from geo.routes import DIRECT, rank_by_dijkstra, rank_point, walk_route, walk_routes
from geo.speeds import read_speed_table

SPEEDS = read_speed_table()
CELL = 1000.0


def _grid(nrows: int, ncols: int) -> Grid:
    return Grid(
        crs=METRIC_CRS,
        x0=0.0,
        y0=nrows * CELL,
        cell_m=CELL,
        nrows=nrows,
        ncols=ncols,
        active=np.ones((nrows, ncols), bool),
    )


def _roads(lines, classes) -> gpd.GeoDataFrame:
    geoms = [shapely.LineString(c) for c in lines]
    return gpd.GeoDataFrame(
        {
            "u": [2 * i for i in range(len(lines))],
            "v": [2 * i + 1 for i in range(len(lines))],
            "road_class": classes,
            "paved": pd.array([pd.NA] * len(lines), dtype="boolean"),
            "length_m": [g.length for g in geoms],
            "source": "test",
        },
        geometry=geoms,
        crs=METRIC_CRS,
    )


@st.composite
def networks(draw):
    """A small grid with roads, some closed cells, and sources (two of them co-located)."""
    nrows = draw(st.integers(3, 8))
    ncols = draw(st.integers(3, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    n_roads = draw(st.integers(0, 3))
    lines = [
        [tuple(p) for p in rng.uniform([0, 0], [ncols * CELL, nrows * CELL], size=(2, 2))]
        for _ in range(n_roads)
    ]
    classes = rng.choice(["trunk", "primary", "track"], size=n_roads).tolist()
    factor = rng.uniform(0.3, 2.0, nrows * ncols)
    factor[rng.random(nrows * ncols) < 0.15] = 0.0  # closed cells (avoid scenario)
    n_src = draw(st.integers(1, 7))
    src = rng.uniform([0, 0], [ncols * CELL, nrows * CELL], size=(n_src, 2))
    if n_src >= 3:
        src[2] = src[0]  # a second provider in the same building
    k = draw(st.sampled_from([1, 2, 3, 5]))
    grid = _grid(nrows, ncols)
    rv = densify_roads(_roads(lines, classes), max_segment_m=CELL / 2) if lines else None
    graph = build_cost_graph(grid, rv, SPEEDS, mode="car", cell_factor=factor)
    return graph, src[:, 0], src[:, 1], k, rng


def _reference_times(graph, x, y) -> np.ndarray:
    """(n_nodes, n_sources) minutes, one networkx Dijkstra per source (a leaf node)."""
    coo = graph.minutes.tocoo()
    base = nx.DiGraph()
    base.add_nodes_from(range(graph.n_nodes))
    base.add_weighted_edges_from(
        zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=False)
    )
    out = np.full((graph.n_nodes, len(x)), np.inf)
    for j in range(len(x)):
        nodes, leg, _ = point_entries(graph, x[j], y[j])
        g = base.copy()
        g.add_node(-1)
        g.add_weighted_edges_from((-1, int(n), float(w)) for n, w in zip(nodes, leg, strict=False))
        for n, d in nx.single_source_dijkstra_path_length(g, -1).items():
            if n >= 0:
                out[n, j] = d
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_labels_are_the_k_nearest_distinct_sources_of_every_node(net):
    graph, x, y, k, _ = net
    labels = nearest_labels(graph, x, y, k=k, ids=np.arange(10, 10 + len(x)))
    ref = _reference_times(graph, x, y).astype(np.float32)
    width = min(k, len(x))
    assert labels.source.shape == (graph.n_nodes, width)
    for n in range(graph.n_nodes):
        order = np.lexsort((np.arange(len(x)), ref[n]))
        expected = [j for j in order if np.isfinite(ref[n, j])][:width]
        got = labels.source[n][labels.source[n] >= 0]
        assert len(set(got.tolist())) == len(got)  # distinct sources
        np.testing.assert_allclose(
            labels.minutes[n][: len(got)], ref[n, expected], rtol=1e-5, atol=1e-5
        )
        # the same sources, up to ties at float32 precision
        assert sorted(ref[n, got].tolist()) == pytest.approx(sorted(ref[n, expected].tolist()))
        assert len(got) == len(expected)
        assert np.isinf(labels.minutes[n][len(got) :]).all()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_predecessors_lead_to_the_source_at_the_labelled_time(net):
    graph, x, y, k, _ = net
    labels = nearest_labels(graph, x, y, k=k)
    m = graph.minutes.tocsr()
    seeds = source_seeds(graph, x, y)
    pred = pred_nodes(labels, graph)
    for n in range(graph.n_nodes):
        for slot in np.flatnonzero(labels.source[n] >= 0):
            s, p = labels.source[n, slot], pred[n, slot]
            if p == -1:  # a seed: the label is the source's own leg to this node
                legs = seeds.minutes[(seeds.source == s) & (seeds.node == n)]
                assert labels.minutes[n, slot] == pytest.approx(legs.min(), rel=1e-5)
                continue
            at_pred = labels.minutes[p][labels.source[p] == s]
            assert len(at_pred) == 1  # the next node holds the same source
            assert labels.minutes[n, slot] == pytest.approx(
                float(at_pred[0]) + m[n, p], rel=1e-5, abs=1e-4
            )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_surface_and_surface_without_one_source_equal_a_recomputation(net):
    graph, x, y, k, rng = net
    labels = nearest_labels(graph, x, y, k=max(k, 2))
    ref = _reference_times(graph, x, y)
    minutes, nearest = labels_surface(labels)
    np.testing.assert_allclose(minutes, ref.min(axis=1), rtol=1e-5)
    reached = np.isfinite(minutes)
    assert (nearest[~reached] == -1).all()
    np.testing.assert_allclose(ref[reached, nearest[reached]], minutes[reached], rtol=1e-5)
    gone = int(rng.integers(len(x)))
    without = surface_without(labels, gone)
    rest = np.delete(ref, gone, axis=1)
    expected = rest.min(axis=1) if rest.shape[1] else np.full(graph.n_nodes, np.inf)
    np.testing.assert_allclose(without, expected, rtol=1e-5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(1, 5))
def test_rank_point_equals_the_full_dijkstra_reference(net, k):
    graph, x, y, _width, rng = net
    labels = nearest_labels(graph, x, y, k=5, ids=np.arange(100, 100 + len(x)))
    for _ in range(4):
        px, py = rng.uniform([0, 0], [graph.grid.ncols * CELL, graph.grid.nrows * CELL])
        try:
            ranking = rank_point(graph, [labels], px, py, k=k)
        except ValueError:
            with pytest.raises(ValueError):
                rank_by_dijkstra(graph, x, y, px, py, ids=labels.ids, k=k)
            continue
        ref, paths = rank_by_dijkstra(graph, x, y, px, py, ids=labels.ids, k=k)
        assert ranking.ids.tolist() == ref.ids.tolist()
        np.testing.assert_allclose(ranking.minutes, ref.minutes, rtol=1e-6)
        for i, path in enumerate(paths):
            if path is None or ranking.entry_node[i] == DIRECT:
                continue
            walk = walk_route(graph, labels, int(ranking.entry_node[i]), int(ranking.ids[i]))
            j = int(ranking.ids[i]) - 100
            last = np.hypot(graph.node_x[path[-1]] - x[j], graph.node_y[path[-1]] - y[j])
            ref_m = sum(graph.metres[a, b] for a, b in itertools.pairwise(path)) + last
            # equal-time paths may differ in length; equal in nearly every case
            assert walk.metres_by_class.sum() == pytest.approx(ref_m, rel=0.05)


def test_merged_sets_count_a_provider_once_and_fill_with_unreachable_ones():
    graph = build_cost_graph(_grid(5, 12), None, SPEEDS, mode="walk")
    x = np.array([1500.0, 6500.0, 11500.0])
    y = np.array([2500.0, 2500.0, 2500.0])
    a = nearest_labels(graph, x[:2], y[:2], ids=np.array([0, 1]))
    b = nearest_labels(graph, x[1:], y[1:], ids=np.array([1, 2]))  # 1 offers both services
    ranking = rank_point(graph, [a, b], 500.0, 2500.0, k=3)
    assert ranking.ids.tolist() == [0, 1, 2]
    assert np.all(np.diff(ranking.minutes) > 0)
    closed = np.ones(graph.n_cells)
    closed[graph.grid.cell_node[:, 9]] = 0.0  # a wall: source 2 is cut off
    walled = build_cost_graph(_grid(5, 12), None, SPEEDS, mode="walk", cell_factor=closed)
    c = nearest_labels(walled, x, y, ids=np.array([0, 1, 2]))
    cut = rank_point(walled, [c], 500.0, 2500.0, k=3)
    assert cut.ids.tolist() == [0, 1, 2] and np.isinf(cut.minutes[2]) and cut.sets[2] == -1


def test_a_provider_is_not_a_shortcut_for_anyone_else():
    # two roads that do not meet, and a provider beside both: with providers as graph
    # nodes, the way from one road to the other went through the provider
    grid = _grid(3, 20)
    roads = _roads([[(0, 1500), (9900, 1500)], [(10100, 1500), (20000, 1500)]], ["trunk"] * 2)
    graph = build_cost_graph(grid, densify_roads(roads, max_segment_m=500), SPEEDS, mode="car")
    far = nearest_labels(graph, np.array([19500.0]), np.array([1500.0]))
    both = nearest_labels(graph, np.array([19500.0, 10000.0]), np.array([1500.0, 1500.0]))
    alone, _ = labels_surface(far)
    with_other = both.minutes[both.source == 0]
    nodes = np.flatnonzero((both.source == 0).any(axis=1))
    np.testing.assert_array_equal(with_other, alone[nodes])


def test_bounded_reach_equals_scipy_with_a_limit():
    grid = _grid(10, 10)
    roads = _roads([[(500, 500), (9500, 9500)]], ["primary"])
    graph = build_cost_graph(grid, densify_roads(roads, max_segment_m=500), SPEEDS, mode="car")
    x, y = np.array([2200.0, 8000.0, -5e5]), np.array([3100.0, 900.0, 0.0])
    reach = bounded_reach(graph, x, y, limit_min=25.0)
    assert reach.entered.tolist() == [True, True, False]
    for j in range(2):
        nodes, leg, _ = point_entries(graph, x[j], y[j])
        dist = dijkstra(graph.minutes, indices=nodes, limit=25.0)
        expected = (dist + leg[:, None]).min(axis=0)[: graph.n_cells]
        expected[expected > 25.0] = np.inf
        np.testing.assert_allclose(reach.times(j), expected, rtol=1e-9)
    assert reach.minutes.getrow(2).nnz == 0


def test_input_errors_name_the_argument():
    graph = build_cost_graph(_grid(3, 3), None, SPEEDS, mode="walk")
    with pytest.raises(ValueError, match="k must be"):
        nearest_labels(graph, np.array([500.0]), np.array([500.0]), k=0)
    with pytest.raises(ValueError, match="ids must hold"):
        nearest_labels(graph, np.array([500.0]), np.array([500.0]), ids=np.array([1, 2]))
    with pytest.raises(ValueError, match="finite"):
        nearest_labels(graph, np.array([np.nan]), np.array([500.0]))
    labels = nearest_labels(graph, np.array([500.0, 2500.0]), np.array([500.0, 500.0]), k=2)
    with pytest.raises(ValueError, match="remove_id"):
        surface_without(labels, 7)
    with pytest.raises(ValueError, match="k=3 is above"):
        rank_point(
            graph,
            [nearest_labels(graph, *np.full((2, 3), 500.0), k=2)],
            1500.0,
            1500.0,
            k=3,
        )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.sampled_from([0.0, 1.5, 2.0, 2.0, 7.25, np.inf])),
        max_size=40,
    ),
    st.integers(1, 8),
)
def test_the_fastest_pick_keeps_each_ids_first_candidate_in_lexsort_order(cands, k):
    """:func:`geo._walks.pick_fastest` is numpy's lexsort by (total, id), each id's
    first candidate, the first ``k``: ties broken by id, then by position."""
    ids = np.array([c[0] for c in cands], dtype=np.int64)
    total = np.array([c[1] for c in cands], dtype=np.float64)
    order = np.lexsort((ids, total))
    _, first = np.unique(ids[order], return_index=True)
    best = order[first]
    want = best[np.lexsort((ids[best], total[best]))][:k]
    assert _walks.pick_fastest(ids, total, k).tolist() == want.tolist()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_a_batch_of_walks_equals_each_walk_along_its_nodes(net):
    """:func:`walk_routes` of every (node, source) label at once: each route's metres per
    class, worst class and road part are those of its own nodes, walked one by one."""
    graph, x, y, k, rng = net
    labels = nearest_labels(graph, x, y, k=k, ids=np.arange(10, 10 + len(x)))
    classes = rng.integers(0, 3, graph.n_nodes).astype(np.int8)
    starts, sources = np.nonzero(labels.source >= 0)
    ids = labels.ids[labels.source[starts, sources]]
    walks = walk_routes(graph, labels, starts, ids, node_class=classes)
    for i, (start, sid) in enumerate(zip(starts.tolist(), ids.tolist(), strict=True)):
        nodes = walk_route(graph, labels, start, sid, keep_nodes=True).nodes
        per_class = np.zeros(3)
        road_m = 0.0
        for a, b in itertools.pairwise(nodes.tolist()):
            per_class[max(classes[a], classes[b])] += graph.metres[a, b]
            if a >= graph.n_cells and b >= graph.n_cells:
                road_m += graph.metres[a, b]
        j = int(sid) - 10
        end = graph.grid.locate_one(x[j], y[j])
        end_class = int(classes[end]) if end >= 0 else 0
        last = np.hypot(graph.node_x[nodes[-1]] - x[j], graph.node_y[nodes[-1]] - y[j])
        per_class[max(int(classes[nodes[-1]]), end_class)] += last
        np.testing.assert_allclose(walks.metres_by_class[i], per_class, rtol=1e-9, atol=1e-6)
        assert walks.road_metres[i] == pytest.approx(road_m, rel=1e-9, abs=1e-6)
        assert walks.worst_class[i] == max(int(classes[nodes].max()), end_class)
        assert walks.seed_node[i] == nodes[-1]
