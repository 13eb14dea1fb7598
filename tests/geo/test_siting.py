from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from geo.costgraph import build_cost_graph, densify_roads, point_entries
from geo.crs import METRIC_CRS
from geo.grid import Grid
from geo.labels import nearest_labels, surface_without
from geo.siting import (
    candidate_reach,
    existing_surface,
    greedy_sites,
    site_centres,
    what_if_add,
)
from geo.speeds import read_speed_table

SPEEDS = read_speed_table()
CELL = 1000.0


def test_greedy_by_hand_on_a_3x4_array():
    # 4 candidates over 6 cells; cell 0 already covered
    covers = np.array(
        [
            [1, 1, 1, 0, 0, 0],  # 0: cells 0-2 -> new 20 + 30 = 50
            [0, 0, 1, 1, 0, 0],  # 1: cells 2-3 -> 30 + 40 = 70
            [0, 0, 0, 0, 1, 1],  # 2: cells 4-5 -> 5 + 60 = 65
            [0, 0, 0, 1, 1, 0],  # 3: cells 3-4 -> 45
        ],
        dtype=bool,
    )
    pop = np.array([10.0, 20.0, 30.0, 40.0, 5.0, 60.0])
    covered = np.array([True, False, False, False, False, False])
    sites = greedy_sites(covers, pop, covered, n=3)
    assert sites["candidate"].tolist() == [1, 2, 0]
    # after 1 (cells 2,3) and 2 (cells 4,5), candidate 0 adds only cell 1
    assert sites["gain_population"].tolist() == [70.0, 65.0, 20.0]
    assert sites["covered_population"].tolist() == [80.0, 145.0, 165.0]
    more = greedy_sites(covers, pop, covered, n=10)
    assert len(more) == 3  # candidate 3 adds nobody once the others are chosen


def test_greedy_validation():
    with pytest.raises(ValueError, match="n must be"):
        greedy_sites(np.ones((1, 2), bool), np.ones(2), np.zeros(2, bool), n=0)
    with pytest.raises(ValueError, match="number of cells"):
        greedy_sites(np.ones((1, 3), bool), np.ones(2), np.zeros(2, bool), n=1)


def _graph():
    grid = Grid(
        crs=METRIC_CRS,
        x0=0.0,
        y0=20 * CELL,
        cell_m=CELL,
        nrows=20,
        ncols=30,
        active=np.ones((20, 30), bool),
    )
    line = shapely.LineString([(500, 10_500), (29_500, 10_500)])
    roads = gpd.GeoDataFrame(
        {
            "u": [1],
            "v": [2],
            "road_class": ["primary"],
            "paved": pd.array([pd.NA], dtype="boolean"),
            "length_m": [line.length],
            "source": "test",
        },
        geometry=[line],
        crs=METRIC_CRS,
    )
    return build_cost_graph(grid, densify_roads(roads, max_segment_m=500), SPEEDS, mode="car")


def test_bounded_reach_equals_full_dijkstra_within_threshold():
    graph = _graph()
    reach = candidate_reach(
        graph, np.array([5200.0, 24_800.0]), np.array([3300.0, 15_100.0]), threshold_min=45
    )
    xs, ys = np.array([5200.0, 24_800.0]), np.array([3300.0, 15_100.0])
    for k in range(2):
        nodes, leg, _ = point_entries(graph, xs[k], ys[k])
        dist = dijkstra(graph.minutes, indices=nodes)
        full = (dist + leg[:, None]).min(axis=0)[: graph.n_cells]
        got = reach.times(k)
        within = full <= 45
        assert np.array_equal(np.isfinite(got), within)
        assert got[within] == pytest.approx(full[within], rel=1e-6)


def test_sited_centre_raises_coverage_by_exactly_its_reported_gain():
    graph = _graph()
    px, py = np.array([1500.0]), np.array([10_500.0])
    rng = np.random.default_rng(3)
    pop = rng.uniform(0, 100, graph.n_cells)
    cand_x = rng.uniform(0, 30_000, 25)
    cand_y = rng.uniform(0, 20_000, 25)
    threshold = 60.0
    sites, reach, base = site_centres(
        graph, px, py, cand_x, cand_y, pop, n=2, threshold_min=threshold
    )
    assert len(sites) == 2
    before = pop[base <= threshold].sum()
    # independent check: a new multi-source surface with the chosen site(s) added
    chosen = sites["candidate"].to_numpy()
    for step in (1, 2):
        xs = np.concatenate([px, cand_x[chosen[:step]]])
        ys = np.concatenate([py, cand_y[chosen[:step]]])
        after = existing_surface(graph, xs, ys)
        covered = pop[after <= threshold].sum()
        assert covered - before == pytest.approx(sites["gain_population"].iloc[:step].sum())
        assert covered == pytest.approx(sites["covered_population"].iloc[step - 1])
    # and no other single candidate would have added more than the first pick
    gains = [pop[(reach.times(k) <= threshold) & (base > threshold)].sum() for k in range(25)]
    assert max(gains) == pytest.approx(sites["gain_population"].iloc[0])


def test_what_if_add_and_remove():
    graph = _graph()
    xs, ys = np.array([2000.0, 15_000.0, 27_000.0]), np.array([3000.0, 10_500.0, 18_000.0])
    labels = nearest_labels(graph, xs, ys, k=2)
    # remove source 1: its second labels equal the multi-source run from the other two
    without = surface_without(labels, 1)[: graph.n_cells]
    expected = existing_surface(graph, xs[[0, 2]], ys[[0, 2]])
    assert without == pytest.approx(expected, rel=1e-6)
    # add provider 1 to {0, 2}: min of the surface and its bounded times, exact within bound
    reach = candidate_reach(graph, xs[[1]], ys[[1]], threshold_min=40)
    added = what_if_add(without, reach.times(0))
    full = existing_surface(graph, xs, ys)
    assert added[full <= 40] == pytest.approx(full[full <= 40], rel=1e-6)
    assert (added >= full * (1 - 1e-6)).all()  # an upper bound beyond it


def test_candidate_reach_validation():
    graph = _graph()
    with pytest.raises(ValueError, match="threshold_min"):
        candidate_reach(graph, np.array([1.0]), np.array([1.0]), threshold_min=0)
    with pytest.raises(ValueError, match="no candidate"):
        candidate_reach(graph, np.array([]), np.array([]), threshold_min=10)
    outside = candidate_reach(graph, np.array([-5e5]), np.array([0.0]), threshold_min=10)
    assert outside.entered.tolist() == [False]
    assert isinstance(outside.minutes, sp.csr_matrix) and outside.minutes.nnz == 0
