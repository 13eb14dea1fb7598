from __future__ import annotations

import io

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geo.capacity import capacity_coverage
from geo.coverage import (
    coverage_layer,
    coverage_table,
    point_coverage_table,
    published_figures,
    to_hxl,
    underserved,
    weighted_quantile,
)
from geo.crs import METRIC_CRS
from geo.deserts import service_deserts
from geo.grid import Grid
from geo.units import assign_cells, assign_points, provider_units

INF = np.inf

# a 3 x 4 grid: minutes, people, unit (0 = west two columns, 1 = east two columns)
MINUTES = np.array(
    [
        [10.0, 40.0, 70.0, INF],
        [25.0, 55.0, 130.0, INF],
        [50.0, 100.0, 400.0, INF],
    ]
)
PEOPLE = np.array(
    [
        [100.0, 50.0, 10.0, 20.0],
        [100.0, 50.0, 10.0, 20.0],
        [100.0, 50.0, 10.0, 20.0],
    ]
)
LABEL = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]])
UNITS = pd.DataFrame({"pcode": ["ML01", "ML02"], "name": ["West", "East"]})


def _table(**kw):
    return coverage_table(MINUTES.ravel(), PEOPLE.ravel(), LABEL.ravel(), UNITS, **kw)


def test_population_within_thresholds_by_hand():
    t = _table()
    west, east = t.iloc[0], t.iloc[1]
    assert west["population"] == 450
    assert east["population"] == 90
    # west: <=30: 100+100; <=60: +50+50+100(50 min); <=120: +50 (100 min)
    assert west["pop_within_30"] == 200
    assert west["pop_within_60"] == 400
    assert west["pop_within_120"] == 450
    # east: 70 min (10) within 120; 130 (10) within 300; 400 and inf never
    assert east["pop_within_60"] == 0
    assert east["pop_within_120"] == 10
    assert east["pop_within_300"] == 20
    assert east["share_within_300"] == pytest.approx(20 / 90)
    assert t["population"].sum() == PEOPLE.sum()


def test_shares_in_unit_interval_and_non_decreasing():
    t = _table()
    shares = t[[f"share_within_{x}" for x in (30, 60, 120, 300)]].to_numpy()
    assert ((shares >= 0) & (shares <= 1)).all()
    assert (np.diff(shares, axis=1) >= 0).all()


def test_weighted_median_and_unreachable_majority():
    t = _table()
    # west sorted: 10(100) 25(100) 40(50) 50(100) 55(50) 100(50); half of 450 = 225 -> 40
    assert t.iloc[0]["median_time_min"] == 40
    assert t.iloc[0]["p90_time_min"] == 100
    # east: 60 of 90 people cannot reach anyone -> median is inf, not a number of minutes
    assert t.iloc[1]["median_time_min"] == INF
    assert weighted_quantile(np.array([5.0, INF]), np.array([1.0, 1.0]), 0.5) == 5.0


def test_nearest_provider_and_provider_count():
    alloc = np.array([[0, 0, 1, -1], [0, 1, 1, -1], [1, 1, 1, -1]]).ravel()
    t = _table(allocation_per_cell=alloc, provider_ids=["a", "b"], provider_unit=np.array([0, 0]))
    # west: provider a serves 100+50+100 = 250, b serves 50+100+50 = 200
    assert t.iloc[0]["nearest_provider_id"] == "a"
    assert t.iloc[1]["nearest_provider_id"] == "b"
    assert t["n_providers"].tolist() == [2, 0]


def test_empty_unit_is_reported_and_unlabelled_cells_ignored():
    units = pd.concat([UNITS, pd.DataFrame({"pcode": ["ML03"], "name": ["Empty"]})])
    label = LABEL.ravel().copy()
    label[0] = -1
    t = coverage_table(MINUTES.ravel(), PEOPLE.ravel(), label, units.reset_index(drop=True))
    assert len(t) == 3
    assert t.iloc[2]["population"] == 0
    assert np.isnan(t.iloc[2]["share_within_60"])
    assert t.iloc[0]["population"] == 350


def test_validation_names_the_argument():
    with pytest.raises(ValueError, match="same length"):
        coverage_table(MINUTES.ravel()[:5], PEOPLE.ravel(), LABEL.ravel(), UNITS)
    with pytest.raises(ValueError, match="thresholds_min"):
        _table(thresholds_min=(0, 60))
    with pytest.raises(ValueError, match="population_per_cell"):
        coverage_table(MINUTES.ravel(), -PEOPLE.ravel(), LABEL.ravel(), UNITS)
    with pytest.raises(ValueError, match="unit_label_per_cell"):
        coverage_table(MINUTES.ravel(), PEOPLE.ravel(), LABEL.ravel() + 5, UNITS)
    with pytest.raises(ValueError, match="1-D"):
        coverage_table(MINUTES, PEOPLE.ravel(), LABEL.ravel(), UNITS)


def test_underserved_ranks_and_conflict_class():
    t = _table()
    conflict = pd.DataFrame({"pcode": ["ML02"], "max_class": ["high"]})
    u = underserved(t, threshold_min=120, conflict=conflict)
    assert u["pcode"].tolist() == ["ML02", "ML01"]  # 80 beyond vs 0
    assert u.iloc[0]["pop_beyond_120"] == 80
    assert u.iloc[0]["share_beyond_120"] == pytest.approx(80 / 90)
    assert u.iloc[0]["max_class"] == "high"
    assert u.iloc[1]["max_class"] is None
    with pytest.raises(ValueError, match="threshold_min=90"):
        underserved(t, threshold_min=90)


def _grid(nrows=3, ncols=4):
    return Grid(
        crs=METRIC_CRS,
        x0=0.0,
        y0=nrows * 1000.0,
        cell_m=1000.0,
        nrows=nrows,
        ncols=ncols,
        active=np.ones((nrows, ncols), bool),
    )


def test_service_deserts_are_connected_components_with_their_people():
    grid = _grid()
    d = service_deserts(MINUTES.ravel(), PEOPLE.ravel(), grid, threshold_min=120)
    # beyond 120: (1,2),(2,2) and the whole last column: one 8-connected area, 5 cells
    assert len(d) == 1
    assert d.iloc[0]["n_cells"] == 5
    assert d.iloc[0]["population"] == 10 + 10 + 60
    assert d.crs.to_epsg() == 4326
    assert d.to_crs(METRIC_CRS).area.iloc[0] == pytest.approx(5e6, rel=1e-3)
    # two separate areas beyond 60 min? (0,2),(1,2),(2,2),(2,1), last column: still one
    two = np.array([[INF, 1, 1, INF], [INF, 1, 1, INF], [INF, 1, 1, INF]]).ravel()
    d2 = service_deserts(two, PEOPLE.ravel(), grid, threshold_min=60)
    assert sorted(d2["n_cells"]) == [3, 3]
    assert d2.iloc[0]["population"] == 300  # most people first


def test_assign_cells_keeps_population_and_gives_small_units_a_piece():
    grid = _grid()
    pop = PEOPLE.ravel()
    big = box(0, 0, 4000, 3000)
    tiny = box(2000, 1000, 2400, 1400)  # 0.16 km², holds no cell centre
    units = gpd.GeoDataFrame(
        {"pcode": ["A", "B"], "name": ["big", "tiny"]}, geometry=[big, tiny], crs=METRIC_CRS
    )
    a = assign_cells(grid, units, pop)
    assert a.population.sum() == pytest.approx(pop.sum())
    assert set(a.unit) == {0, 1}
    piece = np.flatnonzero(a.unit == 1)[0]
    assert a.rule[piece] == "inner point"
    assert a.cell[piece] == grid.locate(np.array([2200.0]), np.array([1200.0]))[0]
    assert a.population[piece] == pytest.approx(10 * 0.16)
    t = coverage_table(MINUTES.ravel()[a.cell], a.population, a.unit, units)
    assert t.iloc[1]["median_time_min"] == 130  # the time of the cell holding it
    assert t["population"].sum() == pytest.approx(pop.sum())


def test_assign_cells_gives_orphan_cells_to_the_nearest_unit():
    grid = _grid()
    units = gpd.GeoDataFrame(
        {"pcode": ["A"], "name": ["west"]}, geometry=[box(0, 0, 1900, 3000)], crs=METRIC_CRS
    )
    a = assign_cells(grid, units, PEOPLE.ravel())
    assert a.population.sum() == pytest.approx(PEOPLE.sum())
    assert (a.rule == "nearest").sum() == 6


def test_provider_units():
    units = gpd.GeoDataFrame(
        {"pcode": ["A", "B"], "name": ["a", "b"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs="EPSG:4326",
    )
    prov = gpd.GeoDataFrame(
        geometry=[Point(0.5, 0.5), Point(1.5, 0.5), Point(5, 5)], crs="EPSG:4326"
    )
    assert provider_units(prov, units).tolist() == [0, 1, -1]


def test_capacity_by_hand():
    # cells 0..3 with people; two providers with capacity 150 and 100
    minutes = np.array(
        [
            [10.0, 50.0],
            [20.0, 30.0],
            [40.0, 5.0],
            [60.0, INF],
        ]
    )
    people = np.array([100.0, 100.0, 80.0, 50.0])
    r = capacity_coverage(minutes, people, np.array([150.0, 100.0]))
    # time order: (c2,p1,5) p1 takes 80; (c0,p0,10) p0 takes 100; (c1,p0,20) p0 takes 50,
    # full; (c1,p1,30) p1 has room for 20 of c1's other 50 -> full; 30 of c1 and all of
    # c3 (p0 at 60, full) are left unserved
    assert r.served_by_provider.tolist() == [150.0, 100.0]
    assert r.served_per_cell.tolist() == [100.0, 70.0, 80.0, 0.0]
    assert r.unserved_per_cell.tolist() == [0.0, 30.0, 0.0, 50.0]
    assert r.served == 250 and r.unserved == 80
    limited = capacity_coverage(minutes, people, np.array([np.inf, np.inf]), max_minutes=45)
    assert limited.unserved_per_cell.tolist() == [0.0, 0.0, 0.0, 50.0]


def _pair_loop(minutes, people, capacity, max_minutes=np.inf):
    """The rule as written: every pair in (time, provider, cell) order."""
    rem, room = people.astype(float).copy(), capacity.astype(float).copy()
    served = np.zeros(minutes.shape[1])
    pairs = [
        (minutes[c, j], j, c)
        for c in range(minutes.shape[0])
        for j in range(minutes.shape[1])
        if np.isfinite(minutes[c, j]) and minutes[c, j] <= max_minutes
    ]
    for _t, j, c in sorted(pairs):
        take = min(rem[c], room[j])
        rem[c] -= take
        room[j] -= take
        served[j] += take
    return served, rem


@pytest.mark.parametrize("seed", range(20))
def test_capacity_equals_the_pair_loop(seed):
    rng = np.random.default_rng(seed)
    n, p = 30, 4
    minutes = rng.integers(1, 20, size=(n, p)).astype(float)  # many ties
    minutes[rng.random((n, p)) < 0.2] = INF
    people = rng.integers(0, 50, size=n).astype(float)
    capacity = rng.integers(0, 300, size=p).astype(float)
    r = capacity_coverage(minutes, people, capacity, max_minutes=15)
    served, rem = _pair_loop(minutes, people, capacity, 15)
    assert r.served_by_provider == pytest.approx(served)
    assert r.unserved_per_cell == pytest.approx(rem)
    assert r.served + r.unserved == pytest.approx(people.sum())


def test_capacity_validation():
    with pytest.raises(ValueError, match="minutes must have shape"):
        capacity_coverage(np.zeros((3, 2)), np.ones(4), np.ones(2))
    with pytest.raises(ValueError, match="capacity"):
        capacity_coverage(np.zeros((2, 1)), np.ones(2), np.array([-1.0]))


def test_hxl_row_and_layer():
    t = _table()
    hxl = to_hxl(t, level=1)
    buf = io.StringIO()
    hxl.to_csv(buf, index=False)
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("pcode,name,population,pop_within_30")
    assert lines[1].startswith("#adm1+code,#adm1+name,#population,#population+within30")
    assert "#population+pct+within120" in lines[1]
    assert len(lines) == 2 + len(t)
    units = gpd.GeoDataFrame(UNITS, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4326")
    layer = coverage_layer(t, units)
    assert layer.geometry.iloc[1].bounds == (1, 0, 2, 1)
    assert np.isnan(layer.iloc[1]["median_time_min"])  # inf -> null


def test_point_coverage_equals_cell_coverage_for_points_at_cell_centres():

    grid = _grid()
    cx, cy = grid.cell_centres()
    points = gpd.GeoDataFrame(
        {"population": PEOPLE.ravel()}, geometry=gpd.points_from_xy(cx, cy), crs=METRIC_CRS
    )
    units = gpd.GeoDataFrame(
        UNITS, geometry=[box(0, 0, 2000, 3000), box(2000, 0, 4000, 3000)], crs=METRIC_CRS
    )
    where = assign_points(points, grid, units)
    assert where.unit.tolist() == LABEL.ravel().tolist()
    alloc = np.array([[0, 0, 1, -1], [0, 1, 1, -1], [1, 1, 1, -1]]).ravel()
    kw = {"allocation_per_cell": alloc, "provider_ids": ["a", "b"]}
    by_points = point_coverage_table(MINUTES.ravel(), where, units, **kw)
    by_cells = _table(**kw)
    pd.testing.assert_frame_equal(by_points, by_cells)
    with pytest.raises(TypeError, match="PointAssignment"):
        point_coverage_table(MINUTES.ravel(), points, units)


def test_published_figures_count_whole_people_once():
    """One rule everywhere: whole people rounded once, beyond = population - within (so
    a page's beyond equals the PDF's), shares from those whole people."""
    raw = pd.DataFrame(
        {
            "pcode": ["A", "B", "C"],
            "name": ["a", "b", "c"],
            # 184 044.6 - 0.4: rounded separately the beyond would read 184 045 or 184 044
            "population": [184_045.4, 10.5, 0.0],
            "pop_within_120": [0.6, 2.5, 0.0],
            "share_within_120": [0.6 / 184_045.4, 0.238, np.nan],
            "median_time_min": [401.4, np.inf, np.nan],
        }
    )
    out = published_figures(raw)
    assert out["population"].tolist() == [184_045, 10, 0]
    assert out["pop_within_120"].tolist() == [1, 2, 0]
    assert out["pop_beyond_120"].tolist() == [184_044, 8, 0]
    assert (out["pop_within_120"] + out["pop_beyond_120"] == out["population"]).all()
    assert out["share_within_120"].iloc[1] == 0.2 and out["share_beyond_120"].iloc[1] == 0.8
    assert np.isnan(out["share_beyond_120"].iloc[2])  # a unit without people
    assert out["median_time_min"].iloc[0] == 401 and np.isinf(out["median_time_min"].iloc[1])
    assert out["population"].dtype == np.int64
    cols = list(out.columns)
    assert cols.index("pop_beyond_120") < cols.index("share_within_120")
    ranked = underserved(out, threshold_min=120)
    assert ranked.set_index("pcode")["pop_beyond_120"]["A"] == 184_044
    again = published_figures(ranked)  # a ranking keeps its beyond figures
    assert again.set_index("pcode")["pop_beyond_120"]["B"] == 8
