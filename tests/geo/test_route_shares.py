"""Every cell's route to its nearest provider, measured as the finder measures one route,
and the coverage table's units flagged when most of their people's times rest on
off-road legs or long detours.

Small graphs built in code: a 60 km road with a provider at one end (the cells near the
provider reach it off-road, those far along the road mostly by road), and a closed wall
that sends the cells behind it on a long way round.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.costgraph import build_cost_graph, densify_roads
from geo.coverage import coverage_table, published_figures, to_hxl, underserved
from geo.crs import METRIC_CRS
from geo.grid import Grid
from geo.labels import nearest_labels
from geo.route_flags import (
    OFFROAD_MIN_MIN,
    OFFROAD_SHARE,
    UNIT_FLAG_SHARE,
    flag_arrays,
    nearest_routes,
    time_flags,
)
from geo.routes import walk_route
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


@pytest.fixture(scope="module")
def road_net():
    """5 x 60 cells, a road along the middle row, a provider on the road's west end."""
    grid = _grid(5, 60)
    line = shapely.LineString([(500, 2500), (59_500, 2500)])
    roads = gpd.GeoDataFrame(
        {
            "u": [1],
            "v": [2],
            "road_class": ["primary"],
            "paved": pd.array([True], dtype="boolean"),
            "length_m": [line.length],
            "source": "test",
        },
        geometry=[line],
        crs=METRIC_CRS,
    )
    graph = build_cost_graph(grid, densify_roads(roads, max_segment_m=500), SPEEDS, mode="car")
    labels = nearest_labels(graph, np.array([600.0]), np.array([2500.0]), k=2)
    return graph, labels


@pytest.fixture(scope="module")
def wall_net():
    """30 x 30 cells, no road, a closed wall in column 15 open only in the two top rows,
    a provider at the bottom just west of the wall."""
    grid = _grid(30, 30)
    factor = np.ones((30, 30))
    factor[2:, 15] = 0.0
    graph = build_cost_graph(grid, None, SPEEDS, mode="car", cell_factor=factor[grid.active])
    labels = nearest_labels(graph, np.array([14_500.0]), np.array([500.0]), k=1)
    return graph, labels


def test_every_cell_route_is_the_finders_walk(road_net):
    graph, labels = road_net
    routes = nearest_routes(graph, labels)
    sid = int(labels.ids[0])
    for v in range(graph.n_cells):
        walk = walk_route(graph, labels, v, sid)
        assert routes.minutes[v] == pytest.approx(float(labels.minutes[v, 0]))
        off = float(labels.minutes[v, 0]) - walk.road_minutes
        assert routes.offroad_min[v] == pytest.approx(off)
        assert routes.distance_km[v] == pytest.approx(walk.metres_by_class.sum() / 1000.0)
    straight = np.hypot(graph.node_x[: graph.n_cells] - 600.0, graph.node_y[: graph.n_cells] - 2500)
    np.testing.assert_allclose(routes.straight_km, straight / 1000.0)


def test_flag_arrays_is_the_rule_of_one_route():
    rng = np.random.default_rng(7)
    minutes = rng.uniform(1, 600, 400)
    offroad = minutes * rng.uniform(0, 1, 400)
    straight = rng.uniform(0, 80, 400)
    distance = straight * rng.uniform(1, 3, 400)
    got_off, got_detour = flag_arrays(minutes, offroad, distance, straight)
    for i in range(400):
        want = time_flags(minutes[i], offroad[i], distance[i], straight[i])
        assert ("offroad" in want, "detour" in want) == (got_off[i], got_detour[i])
    none = flag_arrays(np.array([np.inf]), np.array([np.nan]), np.array([np.nan]), np.array([50]))
    assert not none[0][0] and not none[1][0]


def _units_by_column(graph, bounds: list[tuple[int, int]]) -> tuple[np.ndarray, pd.DataFrame]:
    col = ((graph.node_x[: graph.n_cells] - graph.grid.x0) // CELL).astype(int)
    label = np.full(graph.n_cells, -1)
    for u, (lo, hi) in enumerate(bounds):
        label[(col >= lo) & (col < hi)] = u
    units = pd.DataFrame({"pcode": [f"U{u}" for u in range(len(bounds))], "name": "unit"})
    return label, units


def test_a_short_off_road_trip_is_not_flagged_nor_a_long_road_one(road_net):
    graph, labels = road_net
    routes = nearest_routes(graph, labels)
    offroad, detour = routes.flags()
    label, units = _units_by_column(graph, [(0, 4), (40, 60)])
    table = coverage_table(
        routes.minutes,
        np.ones(graph.n_cells),
        label,
        units,
        offroad_per_cell=offroad,
        detour_per_cell=detour,
    )
    near, far = table.iloc[0], table.iloc[1]
    # beside the provider the times are mostly off-road, but minutes: a town trip
    mostly = routes.offroad_min > OFFROAD_SHARE * routes.minutes
    short = routes.offroad_min < OFFROAD_MIN_MIN
    assert (mostly & short)[label == 0].mean() > UNIT_FLAG_SHARE
    assert near["offroad_share"] == 0.0 and near["time_flags"] is None
    # far along the road: mostly on the road
    assert far["offroad_share"] < UNIT_FLAG_SHARE and far["time_flags"] is None
    assert far["detour_share"] == 0.0


def test_behind_a_wall_the_long_way_round_is_a_detour(wall_net):
    graph, labels = wall_net
    routes = nearest_routes(graph, labels)
    offroad, detour = routes.flags()
    reached = np.isfinite(routes.minutes)
    # no road: every time is off-road, flagged from half an hour on
    assert offroad[reached & (routes.minutes >= OFFROAD_MIN_MIN)].all()
    assert not offroad[reached & (routes.minutes < OFFROAD_MIN_MIN)].any()
    row = ((graph.grid.y0 - graph.node_y[: graph.n_cells]) // CELL).astype(int)
    label, units = _units_by_column(graph, [(0, 15), (25, 30)])
    label[row < 25] = -1  # the bottom five rows only
    table = coverage_table(
        routes.minutes,
        np.ones(graph.n_cells),
        label,
        units,
        offroad_per_cell=offroad,
        detour_per_cell=detour,
    )
    west, east = table.iloc[0], table.iloc[1]
    assert east["detour_share"] == 1.0 and east["time_flags"] == "offroad;detour"
    assert west["detour_share"] == 0.0 and west["time_flags"] == "offroad"
    # the ranking carries the flags, the published table rounds their shares
    ranked = underserved(published_figures(table), threshold_min=30)
    assert ranked.set_index("pcode").loc["U0", "time_flags"] == "offroad"
    hxl = to_hxl(published_figures(table), level=2)
    assert hxl.iloc[0]["time_flags"] == "#indicator+flags+time"
    assert hxl.iloc[0]["offroad_share"] == "#indicator+pct+offroad"


def test_a_unit_is_flagged_from_half_of_its_people_who_reach_care():
    units = pd.DataFrame({"pcode": ["A", "B", "C"], "name": ["a", "b", "c"]})
    minutes = np.array([10.0, 20.0, 30.0, 40.0, np.inf, 10.0, np.inf])
    people = np.array([50.0, 50.0, 49.0, 51.0, 500.0, 10.0, 10.0])
    label = np.array([0, 0, 1, 1, 1, 2, 2])
    offroad = np.array([True, False, True, False, True, False, True])
    table = coverage_table(
        minutes,
        people,
        label,
        units,
        offroad_per_cell=offroad,
        detour_per_cell=np.zeros(7, bool),
    )
    # A: exactly half flagged; B: 49 of 100 reaching (the 500 cut off do not count)
    assert table["offroad_share"].tolist()[:2] == [0.5, 0.49]
    assert table["time_flags"].tolist() == ["offroad", None, None]
    with pytest.raises(ValueError, match="detour_per_cell"):
        coverage_table(minutes, people, label, units, offroad_per_cell=offroad)


def test_a_unit_half_on_either_flag_names_the_flags_a_quarter_have():
    """Ménaka's case: neither flag reaches half alone, together they do."""
    units = pd.DataFrame({"pcode": ["M", "N", "P"], "name": ["m", "n", "p"]})
    minutes = np.full(9, 600.0)
    people = np.array([31.0, 42.0, 27.0, 30.0, 15.0, 55.0, 26.0, 24.0, 50.0])
    label = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    offroad = np.array([True, False, False, True, False, False, True, False, False])
    detour = np.array([False, True, False, False, True, False, False, True, False])
    table = coverage_table(
        minutes, people, label, units, offroad_per_cell=offroad, detour_per_cell=detour
    )
    # M: 31 % + 42 % = 73 % flagged, both held by a quarter or more: both named;
    # N: 45 % flagged, under half: none; P: 50 %, the detour (24 %) under a quarter
    assert table["time_flags"].tolist() == ["offroad;detour", None, "offroad"]
