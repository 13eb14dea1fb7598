"""Exactness and properties of the travel-time engine on small graphs built in code."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage.graph import MCP_Geometric

from geo.costgraph import build_cost_graph, densify_roads, point_entries
from geo.crs import METRIC_CRS
from geo.grid import Grid
from geo.labels import labels_surface, nearest_labels
from geo.routes import DIRECT, rank_point, walk_route
from geo.speeds import read_speed_table
from geo.traveltime import isochrones, nearest_source_times

SPEEDS = read_speed_table()
CELL = 1000.0


def _grid(nrows: int, ncols: int, active: np.ndarray | None = None) -> Grid:
    act = np.ones((nrows, ncols), bool) if active is None else active
    return Grid(
        crs=METRIC_CRS, x0=0.0, y0=nrows * CELL, cell_m=CELL, nrows=nrows, ncols=ncols, active=act
    )


def _roads(
    lines: list[list[tuple[float, float]]],
    u: list[int],
    v: list[int],
    classes: list[str] | None = None,
) -> gpd.GeoDataFrame:
    geoms = [shapely.LineString(c) for c in lines]
    return gpd.GeoDataFrame(
        {
            "u": u,
            "v": v,
            "road_class": classes or ["primary"] * len(lines),
            "paved": pd.array([pd.NA] * len(lines), dtype="boolean"),
            "length_m": [g.length for g in geoms],
            "source": "test",
        },
        geometry=geoms,
        crs=METRIC_CRS,
    )


def _to_networkx(graph) -> nx.DiGraph:
    coo = graph.minutes.tocoo()
    g = nx.DiGraph()
    g.add_nodes_from(range(graph.n_nodes))
    g.add_weighted_edges_from(
        zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True)
    )
    return g


def test_grid_only_equals_mcp_geometric():
    rng = np.random.default_rng(42)
    grid = _grid(30, 40)
    factor = rng.uniform(0.2, 3.0, grid.n_cells)
    graph = build_cost_graph(grid, None, SPEEDS, mode="walk", cell_factor=factor)
    starts = [(3, 5), (25, 33), (14, 20)]
    sources = grid.cell_node[tuple(np.array(starts).T)]
    minutes, _ = nearest_source_times(graph, sources)
    costs = grid.to_raster(graph.cell_pace * CELL)  # minutes to cross each cell
    mcp = MCP_Geometric(costs, fully_connected=True)
    expected, _ = mcp.find_costs(starts)
    np.testing.assert_allclose(grid.to_raster(minutes), expected, rtol=1e-6)


def test_full_graph_equals_networkx_dijkstra():
    grid = _grid(12, 15)
    roads = _roads(
        [
            [(500, 500), (7300, 6100), (14200, 11500)],
            [(7300, 6100), (7300, 11900)],
            [(1200, 10800), (3100, 9200)],
        ],  # the last road is an island
        u=[1, 2, 4],
        v=[2, 3, 5],
        classes=["trunk", "track", "primary"],
    )
    # the second road starts at the junction (7300, 6100) which is not an end of the first:
    roads.loc[0, "geometry"] = shapely.LineString([(500, 500), (7300, 6100)])
    roads.loc[0, "length_m"] = roads.geometry[0].length
    roads.loc[2, "u"], roads.loc[2, "v"] = 4, 5
    roads = pd.concat(
        [roads, _roads([[(7300, 6100), (14200, 11500)]], [2], [6], ["secondary"])],
        ignore_index=True,
    )
    rv = densify_roads(roads, max_segment_m=CELL / 2)
    graph = build_cost_graph(grid, rv, SPEEDS, mode="car")
    x, y = np.array([2050.0, 13900.0]), np.array([10100.0, 700.0])
    labels = nearest_labels(graph, x, y, k=2)
    nxg = _to_networkx(graph)
    per_source = []
    for j in range(2):  # each provider a leaf joined to its entry nodes
        g = nxg.copy()
        nodes, leg, _ = point_entries(graph, x[j], y[j])
        g.add_weighted_edges_from((-1, int(n), float(w)) for n, w in zip(nodes, leg, strict=False))
        ref = nx.single_source_dijkstra_path_length(g, -1)
        per_source.append([ref[n] for n in range(graph.n_nodes)])
    expected = np.array(per_source).T
    minutes, nearest = labels_surface(labels)
    np.testing.assert_allclose(minutes, expected.min(axis=1), rtol=1e-6)
    assert (nearest == expected.argmin(axis=1)).all()
    for j in range(2):
        got = np.where(labels.source == j, labels.minutes, np.inf).min(axis=1)
        np.testing.assert_allclose(got, expected[:, j], rtol=1e-6)


def test_densify_preserves_true_length_and_junctions():
    roads = _roads([[(0, 0), (3000, 0)], [(3000, 0), (3000, 2500)]], u=[1, 2], v=[2, 3])
    roads.loc[0, "length_m"] = 4500.0  # a winding road drawn as a straight line
    rv = densify_roads(roads, max_segment_m=1000)
    assert rv.seg_length_m[rv.seg_road == 0].sum() == pytest.approx(4500.0)
    assert rv.seg_length_m[rv.seg_road == 1].sum() == pytest.approx(2500.0)
    assert (rv.seg_road == 0).sum() == 3 and (rv.seg_road == 1).sum() == 3
    assert rv.n_vertices == 3 + 2 + 2  # three junctions, shared one counted once


def test_far_point_pays_its_leg_no_spurious_zero():
    grid = _grid(5, 60)
    roads = _roads([[(500, 4500), (59500, 4500)]], u=[1], v=[2], classes=["trunk"])
    graph = build_cost_graph(grid, densify_roads(roads, max_segment_m=500), SPEEDS, mode="car")
    labels = nearest_labels(graph, np.array([59400.0]), np.array([4400.0]))
    ranking = rank_point(graph, [labels], 1000.0, 500.0, k=1)  # 4 km off the road
    offroad_pace = 60 / (SPEEDS.offroad_speed_kph("car", "dry") * 1000)
    assert ranking.minutes[0] >= 3000 * offroad_pace  # at least the off-road part
    road_pace = 60 / (60 * 1000)
    assert ranking.minutes[0] <= 4000 * offroad_pace * 1.5 + 60000 * road_pace


def test_disconnected_road_island_is_reached_through_the_grid():
    grid = _grid(10, 10)
    island = _roads([[(1500, 1500), (3500, 1500)]], u=[7], v=[8])
    graph = build_cost_graph(grid, densify_roads(island, max_segment_m=500), SPEEDS, mode="car")
    minutes, _ = labels_surface(nearest_labels(graph, np.array([9500.0]), np.array([9500.0])))
    assert np.isfinite(minutes).all()


def test_closed_cells_make_unreachable_explicit():
    grid = _grid(5, 9)
    factor = np.ones(grid.n_cells)
    factor[grid.cell_node[:, 4]] = 0.0  # a wall across the grid
    graph = build_cost_graph(grid, None, SPEEDS, mode="walk", cell_factor=factor)
    labels = nearest_labels(graph, np.array([500.0]), np.array([2500.0]))
    minutes, nearest = labels_surface(labels)
    right = grid.cell_node[:, 5:].ravel()
    assert np.isinf(minutes[right]).all() and (nearest[right] == -1).all()
    assert np.isfinite(minutes[grid.cell_node[:, :4].ravel()]).all()
    with pytest.raises(ValueError, match="closed"):
        rank_point(graph, [labels], 4500.0, 2500.0, k=1)
    cut = rank_point(graph, [labels], 7500.0, 2500.0, k=1)  # open, but behind the wall
    assert np.isinf(cut.minutes[0]) and cut.sets[0] == -1


def test_route_line_follows_predecessors_and_measures_length():
    grid = _grid(3, 12)
    roads = _roads([[(500, 1500), (11500, 1500)]], u=[1], v=[2], classes=["trunk"])
    graph = build_cost_graph(grid, densify_roads(roads, max_segment_m=500), SPEEDS, mode="car")
    labels = nearest_labels(graph, np.array([11500.0]), np.array([1500.0]))
    rank = rank_point(graph, [labels], 500.0, 1500.0, k=1)
    walk = walk_route(graph, labels, int(rank.entry_node[0]), 0, keep_nodes=True)
    assert walk.metres_by_class.sum() == pytest.approx(11000.0, rel=1e-6)
    assert (graph.node_x[walk.seed_node], graph.node_y[walk.seed_node]) == (11500.0, 1500.0)
    coords = np.column_stack([graph.node_x[walk.nodes], graph.node_y[walk.nodes]])
    assert np.hypot(*np.diff(coords, axis=0).T).sum() == pytest.approx(11000.0, rel=1e-6)


def test_isochrones_nest():
    grid = _grid(20, 20)
    graph = build_cost_graph(grid, None, SPEEDS, mode="walk")
    minutes, _ = labels_surface(nearest_labels(graph, np.array([10000.0]), np.array([10000.0])))
    iso = isochrones(graph, minutes, thresholds_min=(30, 60, 120)).to_crs(METRIC_CRS)
    areas = iso.area.to_numpy()
    assert list(iso["threshold_min"]) == [30, 60, 120]
    assert (np.diff(areas) > 0).all()
    assert iso.geometry.iloc[1].contains(iso.geometry.iloc[0].buffer(-1))


@st.composite
def small_networks(draw):
    nrows = draw(st.integers(3, 9))
    ncols = draw(st.integers(3, 9))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_roads = draw(st.integers(0, 4))
    lines, u, v = [], [], []
    for i in range(n_roads):
        pts = rng.uniform([0, 0], [ncols * CELL, nrows * CELL], size=(2, 2))
        lines.append([tuple(p) for p in pts])
        u.append(2 * i)
        v.append(2 * i + 1)
    classes = rng.choice(["trunk", "primary", "track", "residential"], size=n_roads).tolist()
    factor = rng.uniform(0.3, 2.0, nrows * ncols)
    n_src = draw(st.integers(1, 4))
    src = rng.uniform([0, 0], [ncols * CELL, nrows * CELL], size=(n_src, 2))
    return nrows, ncols, (lines, u, v, classes), factor, src


def _build(nrows, ncols, road_spec, factor, src, speeds=SPEEDS):
    grid = _grid(nrows, ncols)
    rv = densify_roads(_roads(*road_spec), max_segment_m=CELL / 2) if road_spec[0] else None
    graph = build_cost_graph(grid, rv, speeds, mode="car", cell_factor=factor)
    return graph, nearest_labels(graph, src[:, 0], src[:, 1], k=len(src))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_networks())
def test_properties_nearest_is_argmin_and_triangle_inequality(net):
    graph, labels = _build(*net)
    minutes, nearest = labels_surface(labels)
    every = np.full((graph.n_nodes, labels.n_sources), np.inf)
    rows, slots = np.nonzero(labels.source >= 0)
    every[rows, labels.source[rows, slots]] = labels.minutes[rows, slots]
    np.testing.assert_allclose(minutes, every.min(axis=1), rtol=1e-6)
    reached = np.isfinite(minutes)
    np.testing.assert_allclose(every[reached, nearest[reached]], minutes[reached], rtol=1e-6)
    coo = graph.minutes.tocoo()
    for j in range(labels.n_sources):
        t = every[:, j]
        ok = np.isfinite(t[coo.col])
        assert (t[coo.row][ok] <= coo.data[ok] + t[coo.col][ok] + 1e-3).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_networks(), st.floats(1.05, 3.0))
def test_property_raising_a_speed_never_lengthens_a_time(net, boost):
    graph, labels = _build(*net)
    before, _ = labels_surface(labels)
    nrows, ncols, road_spec, factor, src = net
    _faster, labels2 = _build(nrows, ncols, road_spec, factor * boost, src)
    after, _ = labels_surface(labels2)
    assert (after <= before * (1 + 1e-6) + 1e-6).all()
    assert after[: graph.n_cells].sum() < before[: graph.n_cells].sum()


def test_point_beside_a_provider_goes_straight_there():
    grid = _grid(6, 6)
    graph = build_cost_graph(grid, None, SPEEDS, mode="walk")
    labels = nearest_labels(graph, np.array([2300.0]), np.array([3300.0]))
    rank = rank_point(graph, [labels], 2300.0, 3400.0, k=1)  # 100 m away
    pace = 60 / (SPEEDS.offroad_speed_kph("walk", "dry") * 1000)
    assert rank.minutes[0] == pytest.approx(100 * pace)
    assert rank.entry_node[0] == DIRECT and rank.leg_metres[0] == pytest.approx(100)
    far = rank_point(graph, [labels], 5500.0, 500.0, k=1)  # beyond two cells: the graph
    assert far.entry_node[0] != DIRECT
    assert far.minutes[0] >= np.hypot(3200, 2800) * pace * (1 - 1e-6)


def test_colocated_sources_are_exact_and_tied_by_id():
    grid = _grid(8, 9)
    roads = _roads([[(500, 500), (8500, 7500)]], u=[1], v=[2], classes=["primary"])
    graph = build_cost_graph(grid, densify_roads(roads, max_segment_m=500), SPEEDS, mode="car")
    x = np.array([2200.0, 6100.0, 2200.0, 2200.0])  # sources 0, 2 and 3 share a place
    y = np.array([3300.0, 1900.0, 3300.0, 3300.0])
    labels = nearest_labels(graph, x, y, k=4)
    rank = rank_point(graph, [labels], 8000.0, 7000.0, k=4)
    twins = [i for i in rank.ids.tolist() if i != 1]
    assert twins == [0, 2, 3]  # equal times, lowest id first
    at = {int(i): m for i, m in zip(rank.ids, rank.minutes, strict=True)}
    assert at[0] == at[2] == at[3]
    lengths = []
    for source in (0, 2, 3):
        walk = walk_route(graph, labels, int(rank.entry_node[0]), source, keep_nodes=True)
        end = walk.seed_node
        assert np.hypot(graph.node_x[end] - 2200.0, graph.node_y[end] - 3300.0) <= CELL * 1.5
        lengths.append(walk.metres_by_class.sum())
    assert lengths[0] == pytest.approx(lengths[1]) == pytest.approx(lengths[2])
