"""Point-to-point trips (geo.trips) against an independent networkx computation."""

from __future__ import annotations

import itertools

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.costgraph import build_cost_graph, densify_roads
from geo.crs import METRIC_CRS
from geo.grid import Grid
from geo.roads import SOURCE_SPEED_COLUMN
from geo.speeds import read_speed_table
from geo.trips import trip_between, trips_from

CELL = 1000.0
SPEEDS = read_speed_table()


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


def _random_case(seed: int, nrows: int = 10, ncols: int = 14):
    """A grid with random cell speeds (a few closed cells) and three random roads."""
    rng = np.random.default_rng(seed)
    grid = _grid(nrows, ncols)
    factor = rng.uniform(0.5, 2.0, grid.n_cells)
    factor[rng.choice(grid.n_cells, 6, replace=False)] = 0.0
    w, h = ncols * CELL, nrows * CELL
    lines, u, v = [], [], []
    for k in range(3):
        pts = np.column_stack([rng.uniform(200, w - 200, 3), rng.uniform(200, h - 200, 3)])
        lines.append(shapely.LineString(pts))
        u.append(2 * k)
        v.append(2 * k + 1)
    roads = gpd.GeoDataFrame(
        {
            "u": u,
            "v": v,
            "road_class": ["trunk", "track", "unknown"],
            "paved": pd.array([pd.NA] * 3, dtype="boolean"),
            "length_m": [g.length * rng.uniform(1.0, 1.3) for g in lines],
            "source": "test",
            SOURCE_SPEED_COLUMN: [np.nan, np.nan, 70.0],
        },
        geometry=lines,
        crs=METRIC_CRS,
    )
    graph = build_cost_graph(
        grid, densify_roads(roads, max_segment_m=CELL / 2), SPEEDS, mode="car", cell_factor=factor
    )
    return graph, rng


def _reference(graph, origin, dest):
    """networkx shortest path from origin to dest, entries computed here by brute force."""
    g = nx.DiGraph()
    coo = graph.minutes.tocoo()
    metres = graph.metres.tocsr()
    for a, b, w in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True):
        g.add_edge(a, b, weight=w, metres=float(metres[a, b]))
    road = np.arange(graph.n_cells, graph.n_cells + graph.n_road)

    def entries(x, y):
        col, row = int(x // CELL), int((graph.grid.y0 - y) // CELL)
        cell = int(graph.grid.cell_node[row, col])
        pace = graph.cell_pace[cell]
        near = road[np.hypot(graph.node_x[road] - x, graph.node_y[road] - y) <= CELL]
        nodes = [cell, *near.tolist()]
        legs = np.hypot(graph.node_x[nodes] - x, graph.node_y[nodes] - y)
        return nodes, legs, pace

    o_nodes, o_legs, o_pace = entries(*origin)
    d_nodes, d_legs, d_pace = entries(*dest)
    for n, leg in zip(o_nodes, o_legs, strict=True):
        g.add_edge("O", n, weight=max(leg * o_pace, 1e-9), metres=leg)
    for n, leg in zip(d_nodes, d_legs, strict=True):
        g.add_edge(n, "D", weight=max(leg * d_pace, 1e-9), metres=leg)
    try:
        minutes, path = nx.single_source_dijkstra(g, "O", "D")
    except nx.NetworkXNoPath:
        return np.inf, np.inf
    return minutes, sum(g.edges[a, b]["metres"] for a, b in itertools.pairwise(path))


@pytest.mark.parametrize("seed", range(8))
def test_trip_equals_networkx_dijkstra(seed):
    graph, rng = _random_case(seed)
    open_cells = np.flatnonzero(np.isfinite(graph.cell_pace))
    checked = 0
    while checked < 4:
        a, b = rng.choice(open_cells, 2, replace=False)
        jitter = rng.uniform(-400, 400, 4)
        origin = (graph.node_x[a] + jitter[0], graph.node_y[a] + jitter[1])
        dest = (graph.node_x[b] + jitter[2], graph.node_y[b] + jitter[3])
        if np.hypot(dest[0] - origin[0], dest[1] - origin[1]) <= 2 * CELL:
            continue  # the straight cross-country shortcut has its own test
        trip = trip_between(graph, *origin, *dest)
        minutes, metres = _reference(graph, origin, dest)
        if not np.isfinite(minutes):
            assert trip.minutes == np.inf and trip.line is None
        else:
            assert trip.minutes == pytest.approx(minutes, rel=1e-9)
            assert trip.distance_m == pytest.approx(metres, rel=1e-9)
            # the path is made of graph edges and adds up to the total
            steps = np.asarray(graph.minutes[trip.nodes[:-1], trip.nodes[1:]]).ravel()
            assert (steps > 0).all()
            legs = trip.minutes - steps.sum()
            assert legs >= 0 and trip.road_minutes <= trip.minutes + 1e-9
            assert 0 <= trip.road_m <= trip.distance_m + 1e-6
            start, end = trip.line.coords[0], trip.line.coords[-1]
            assert start == pytest.approx(origin) and end == pytest.approx(dest)
        checked += 1


def test_trips_from_one_origin_keeps_destination_order():
    graph, rng = _random_case(3)
    cells = rng.choice(np.flatnonzero(np.isfinite(graph.cell_pace)), 4, replace=False)
    xs, ys = graph.node_x[cells[1:]], graph.node_y[cells[1:]]
    ox, oy = graph.node_x[cells[0]], graph.node_y[cells[0]]
    many = trips_from(graph, ox, oy, xs, ys)
    assert len({round(t.minutes, 6) for t in many}) == 3  # distinct, so order shows
    for trip, x, y in zip(many, xs, ys, strict=True):
        assert trip.minutes == pytest.approx(trip_between(graph, ox, oy, x, y).minutes)


def test_near_points_join_straight_across_country():
    graph = build_cost_graph(_grid(5, 5), None, SPEEDS, mode="car")
    trip = trip_between(graph, 1200.0, 1200.0, 2100.0, 1900.0)
    d = np.hypot(900.0, 700.0)
    assert trip.minutes == pytest.approx(d / (SPEEDS.offroad_speed_kph("car", "dry") * 1000) * 60)
    assert trip.distance_m == pytest.approx(d) and trip.offroad_m == pytest.approx(d)
    assert len(trip.nodes) == 0


def test_same_point_is_zero_minutes():
    graph = build_cost_graph(_grid(5, 5), None, SPEEDS, mode="car")
    assert trip_between(graph, 2500.0, 2500.0, 2500.0, 2500.0).minutes == 0.0


def test_closed_destination_and_points_outside_are_named():
    grid = _grid(5, 9)
    factor = np.ones(grid.n_cells)
    factor[grid.cell_node[:, 4]] = 0.0  # a closed column cuts the grid in two
    graph = build_cost_graph(grid, None, SPEEDS, mode="car", cell_factor=factor)
    cut_off = trip_between(graph, 500.0, 2500.0, 8500.0, 2500.0)
    assert cut_off.minutes == np.inf and cut_off.line is None and len(cut_off.nodes) == 0
    inside_closed = trip_between(graph, 500.0, 2500.0, 4500.0, 2500.0)
    assert inside_closed.minutes == np.inf
    with pytest.raises(ValueError, match=r"origin .* closed area"):
        trip_between(graph, 4500.0, 2500.0, 500.0, 2500.0)
    with pytest.raises(ValueError, match=r"origin .* outside"):
        trip_between(graph, -5000.0, 2500.0, 500.0, 2500.0)
    with pytest.raises(ValueError, match=r"destination 1 .* outside"):
        trips_from(graph, 500.0, 2500.0, np.array([1500.0, 9900.0]), np.array([2500.0, 2500.0]))
    with pytest.raises(ValueError, match="same length"):
        trips_from(graph, 500.0, 2500.0, np.array([1500.0]), np.array([2500.0, 1.0]))
