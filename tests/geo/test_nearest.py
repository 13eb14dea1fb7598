"""The nearest answer from the labels equals a full Dijkstra per query.

Small graphs built in code: a 1 km grid with two roads, a conflict band, a closed block,
co-located providers, a provider inside the closed block and one outside the grid.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geo.costgraph import build_cost_graph, densify_roads, point_entries, road_distance_m
from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.grid import Grid
from geo.labels import nearest_labels
from geo.nearest import (
    CLOSED_ORIGIN,
    CUT_OFF,
    ProviderTable,
    nearest_answer,
    nearest_providers,
    providers_offering,
    time_flags,
)
from geo.routes import node_classes
from geo.speeds import read_speed_table

SPEEDS = read_speed_table()
CELL = 1000.0
NROWS, NCOLS = 30, 40
TO_LONLAT = Transformer.from_crs(METRIC_CRS, GEOGRAPHIC_CRS, always_xy=True)
# providers (metres): 0, 2 and 3 share a place; 4 sits in the closed block; 5 off the grid
PX = np.array([2200.0, 31_100.0, 2200.0, 2200.0, 20_500.0, 60_000.0, 12_700.0])
PY = np.array([3300.0, 21_900.0, 3300.0, 3300.0, 15_500.0, 5_000.0, 26_100.0])


def _zone() -> np.ndarray:
    zone = np.zeros((NROWS, NCOLS), dtype=np.int8)
    zone[:, 14:26] = 1  # an elevated band across the middle
    zone[12:19, 17:24] = 2  # a high block inside it
    return zone


def _roads() -> gpd.GeoDataFrame:
    lines = [
        shapely.LineString([(700, 2600), (20_000, 9_000), (39_300, 24_700)]),
        shapely.LineString([(8_000, 29_500), (20_000, 9_000)]),
        shapely.LineString([(30_000, 1_000), (36_000, 3_000)]),  # an island of road
    ]
    return gpd.GeoDataFrame(
        {
            "u": [1, 3, 5],
            "v": [2, 4, 6],
            "road_class": ["primary", "secondary", "track"],
            "paved": pd.array([True, pd.NA, False], dtype="boolean"),
            "length_m": [g.length * 1.1 for g in lines],  # true lengths, not the straight stand-in
            "source": "test",
        },
        geometry=lines,
        crs=METRIC_CRS,
    )


@pytest.fixture(scope="module")
def net():
    grid = Grid(
        crs=METRIC_CRS,
        x0=0.0,
        y0=NROWS * CELL,
        cell_m=CELL,
        nrows=NROWS,
        ncols=NCOLS,
        active=np.ones((NROWS, NCOLS), bool),
    )
    roads = _roads()
    zone = _zone()[grid.active]
    factor = np.where(zone == 2, 0.0, np.where(zone == 1, 0.4, 1.0))  # 'avoid'-like
    base = build_cost_graph(
        grid, densify_roads(roads, max_segment_m=500), SPEEDS, mode="car", cell_factor=factor
    )
    lon, lat = TO_LONLAT.transform(PX, PY)
    providers = gpd.GeoDataFrame(
        {
            "id": [f"p{i}" for i in range(len(PX))],
            "name": [f"Provider {i}" for i in range(len(PX))],
            "type": ["one_stop_centre", "ngo", "one_stop_centre", "ngo", "ngo", "ngo", "ngo"],
            "services": [["medical"], ["legal"], ["medical", "legal"], None, ["legal"], [], ["x"]],
            "confidential": [False, False, False, True, False, False, False],
            "phone": [None, "+223 1", np.nan, None, None, None, None],
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=GEOGRAPHIC_CRS,
    )
    public = ~providers["confidential"].to_numpy()
    sets = {}
    for service in ("medical", "legal", "one_stop_centre", None):
        for audience, allowed in (("public", public), ("all", np.ones(len(PX), bool))):
            rows = np.flatnonzero(providers_offering(providers, service) & allowed)
            sets[(service, audience)] = nearest_labels(base, PX[rows], PY[rows], k=5, ids=rows)
    return base, sets, providers, zone


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, NCOLS * CELL, n)
    y = rng.uniform(0, NROWS * CELL, n)
    # a few that matter: beside the shared place, on the road, inside the closed block
    x[:4] = [2250.0, 20_000.0, 20_400.0, 39_400.0]
    y[:4] = [3350.0, 9_000.0, 15_300.0, 24_400.0]
    return TO_LONLAT.transform(x, y)


@pytest.mark.parametrize("zones", [True, False])
def test_answer_from_labels_equals_a_full_dijkstra_per_query(net, zones):
    graph, sets, providers, zone = net
    node_class = node_classes(graph, zone) if zones else None
    table = ProviderTable.from_frame(providers)
    lon, lat = _points(40, seed=7)
    seen = {"cut_off": 0, "closed_origin": 0, "twins": 0, "reachable": 0, "direct": 0}
    for i in range(len(lon)):
        for service, audience in ((None, "all"), ("medical", "public"), ("legal", "all")):
            given = [sets[(service, audience)]]
            kw = dict(k=5, node_class=node_class)
            fast = nearest_answer(graph, given, table, lon[i], lat[i], **kw)
            ref = nearest_answer(graph, given, table, lon[i], lat[i], method="dijkstra", **kw)
            assert fast.entry == ref.entry
            np.testing.assert_array_equal(fast.ids, ref.ids)
            both = np.isfinite(ref.minutes)
            np.testing.assert_array_equal(np.isfinite(fast.minutes), both)
            np.testing.assert_allclose(fast.minutes[both], ref.minutes[both], rtol=1e-6)
            # the reference measures its own paths; equal-time paths could differ in length
            np.testing.assert_allclose(fast.metres[both], ref.metres[both], rtol=1e-9)
            for got, want in zip(fast.records, ref.records, strict=True):
                assert got == want
            reasons = [r["unreachable_reason"] for r in fast.records]
            seen["cut_off"] += reasons.count(CUT_OFF)
            seen["closed_origin"] += reasons.count(CLOSED_ORIGIN)
            seen["reachable"] += reasons.count(None)
            seen["direct"] += int(fast.entry["snapped_to"] == "provider")
            ids = [r["id"] for r in fast.records]
            seen["twins"] += int({"p0", "p2"} <= set(ids))
    # the seeded set really exercises every case
    assert all(v > 0 for v in seen.values()), seen


def test_route_classes_equal_the_zone_accounting_of_the_path(net):
    graph, sets, providers, zone = net
    table = ProviderTable.from_frame(providers)
    node_class = node_classes(graph, zone)
    lon, lat = TO_LONLAT.transform(38_000.0, 22_000.0)  # east of the band: routes cross it
    found = nearest_answer(
        graph,
        [sets[(None, "all")]],
        table,
        lon,
        lat,
        k=5,
        node_class=node_class,
        with_routes=True,
    )
    crossed = 0
    for rec, line in zip(found.records, found.routes, strict=True):
        if not rec["reachable"]:
            continue
        assert sum(rec["route_km_by_class"].values()) == pytest.approx(rec["distance_km"], abs=0.2)
        crossed += rec["route_km_by_class"]["elevated"] > 0
        assert line.coords[0] == pytest.approx((lon, lat))
    assert crossed > 0


def test_an_answer_names_why_nothing_is_reachable(net):
    graph, sets, providers, zone = net
    table = ProviderTable.from_frame(providers)
    node_class = node_classes(graph, zone)
    everyone = [sets[(None, "all")]]
    lon, lat = TO_LONLAT.transform(20_400.0, 15_300.0)  # inside the closed block
    closed = nearest_answer(graph, everyone, table, lon, lat, k=3, node_class=node_class)
    assert closed.entry["snapped_to"] == "closed area"
    assert [r["unreachable_reason"] for r in closed.records] == [CLOSED_ORIGIN] * 3
    assert all(r["travel_time_min"] is None and r["distance_km"] is None for r in closed.records)
    lon, lat = TO_LONLAT.transform(2250.0, 3350.0)
    found = nearest_answer(graph, everyone, table, lon, lat, k=5, node_class=node_class)
    by_id = {r["id"]: r for r in found.records}
    assert by_id["p0"]["travel_time_min"] == by_id["p2"]["travel_time_min"] > 0  # co-located
    assert by_id["p1"]["phone"] == "+223 1" and by_id["p2"]["phone"] is None  # NaN -> None
    legal = nearest_answer(
        graph, [sets[("legal", "all")]], table, lon, lat, k=3, node_class=node_class
    )
    by_id = {r["id"]: r for r in legal.records}
    assert by_id["p4"]["reachable"] is False and by_id["p4"]["unreachable_reason"] == CUT_OFF
    assert by_id["p4"]["travel_time_min"] is None and by_id["p4"]["route_worst_class"] is None
    none = nearest_answer(graph, [], table, lon, lat, k=3, node_class=node_class)
    assert none.records == [] and none.entry["snapped_lon"] is None  # no NaN in JSON


def test_table_form_keeps_its_columns_and_routes(net):
    graph, sets, providers, zone = net
    lon, lat = TO_LONLAT.transform(30_000.0, 20_000.0)
    out = nearest_providers(graph, [sets[(None, "all")]], providers, lon, lat, k=4, cell_zone=zone)
    res = out.results
    assert {"travel_time_min", "distance_km", "route_worst_class", "route_km_by_class"} <= set(res)
    assert res["travel_time_min"].is_monotonic_increasing
    line = out.routes.geometry.iloc[0]
    assert line.coords[0] == pytest.approx((lon, lat))  # starts at the query point
    assert line.coords[-1] == pytest.approx((res["lon"].iloc[0], res["lat"].iloc[0]), abs=1e-6)


def test_distance_to_the_road_is_to_the_road_line(net):
    """The start's "distance to the road" is to a road's line, whatever the grid: a point
    beside a road is told its few metres, a point far from any road its kilometres."""
    graph, sets, providers, _ = net
    lines = shapely.MultiLineString(
        [
            [(700, 2600), (20_000, 9_000), (39_300, 24_700)],
            [(8_000, 29_500), (20_000, 9_000)],
            [(30_000, 1_000), (36_000, 3_000)],
        ]
    )
    open_graph = build_cost_graph(
        graph.grid, densify_roads(_roads(), max_segment_m=500), SPEEDS, mode="car"
    )
    rng = np.random.default_rng(3)
    xs, ys = rng.uniform(0, NCOLS * CELL, 60), rng.uniform(0, NROWS * CELL, 60)
    for x, y in zip(xs, ys, strict=True):
        want = lines.distance(shapely.Point(x, y))
        assert road_distance_m(open_graph, x, y) == pytest.approx(want, abs=1.0)
        # the road pieces a scenario closes are no road to reach
        assert road_distance_m(graph, x, y) >= want - 1.0
    table = ProviderTable.from_frame(providers)
    beside = nearest_answer(
        graph, [sets[(None, "all")]], table, *TO_LONLAT.transform(10_000, 5_800)
    )
    assert beside.entry["road_km"] <= 0.1  # 30 m or so from the first road
    far = nearest_answer(graph, [sets[(None, "all")]], table, *TO_LONLAT.transform(38_000, 29_000))
    want_km = lines.distance(shapely.Point(38_000, 29_000)) / 1000.0
    assert far.entry["road_km"] == pytest.approx(want_km, abs=0.05) and want_km > 2.0
    assert far.entry["road_offroad_min"] > 0


def test_offroad_share_detour_and_same_site_flags(net):
    """Every reachable answer splits its kilometres into road and off-road; a time mostly
    off-road is flagged; 'same site' only at a provider's own exactly located site."""
    graph, sets, providers, _ = net
    located = providers.assign(location_precision=["exact"] + ["town"] * (len(PX) - 1))
    table = ProviderTable.from_frame(located)
    everyone = [sets[(None, "all")]]
    at_p0 = nearest_answer(graph, everyone, table, *TO_LONLAT.transform(PX[0], PY[0]), k=5)
    by_id = {r["id"]: r for r in at_p0.records}
    assert by_id["p0"]["same_site"] is True
    assert by_id["p2"]["same_site"] is False  # same point, but located only at a town
    lon, lat = _points(30, seed=11)
    flagged = 0
    for i in range(len(lon)):
        for rec in nearest_answer(graph, everyone, table, lon[i], lat[i], k=5).records:
            if not rec["reachable"]:
                assert rec["offroad_km"] is None and rec["time_flags"] == []
                continue
            assert 0 <= rec["offroad_km"] <= rec["distance_km"] + 0.1
            assert 0 <= rec["offroad_min"] <= rec["travel_time_min"] + 0.1
            want = time_flags(
                rec["travel_time_min"], rec["offroad_min"], rec["distance_km"], rec["straight_km"]
            )
            assert rec["time_flags"] == want
            flagged += "offroad" in want
    assert flagged > 0
    assert time_flags(100.0, 60.0, 30.0, 25.0) == ["offroad"]
    assert time_flags(100.0, 10.0, 50.0, 20.0) == ["detour"]
    assert time_flags(100.0, 10.0, 8.0, 3.0) == []  # a short hop is not a detour
    assert time_flags(None, None, None, 20.0) == []


def test_road_index_bounds_hold_and_entries_are_every_vertex_within_a_cell(net):
    """The road index's bounds hold for any point (on the raster, beside a road, far
    from one), and the entries they let the query skip the tree for are the very
    vertices within a cell width that a brute-force search finds."""
    graph, *_ = net
    index = graph.road_index
    vx = graph.node_x[graph.n_cells :]
    vy = graph.node_y[graph.n_cells :]
    rng = np.random.default_rng(11)
    xs = np.concatenate(
        [rng.uniform(-3000, NCOLS * CELL + 3000, 400), vx + rng.normal(0, 700, len(vx))]
    )
    ys = np.concatenate(
        [rng.uniform(-3000, NROWS * CELL + 3000, 400), vy + rng.normal(0, 700, len(vy))]
    )
    skipped = 0
    for x, y in zip(xs, ys, strict=True):
        d = np.hypot(vx - x, vy - y)
        bounds = index.bounds(x, y)
        inside = 0 <= x < NCOLS * CELL and 0 < y <= NROWS * CELL
        assert (bounds is not None) == inside
        if bounds is not None:
            assert bounds[0] <= d.min() <= bounds[1]
            skipped += bounds[0] > CELL
        nodes, _, _ = point_entries(graph, x, y)
        if len(nodes):
            want = set((np.flatnonzero(d <= CELL) + graph.n_cells).tolist())
            assert set(nodes[1:].tolist()) == want
    assert skipped > 50  # far points do skip the tree


def test_graphs_on_the_same_roads_share_one_road_index(net):
    graph, *_ = net
    again = build_cost_graph(
        graph.grid, densify_roads(_roads(), max_segment_m=500), SPEEDS, mode="walk"
    )
    assert again.road_index is graph.road_index
    moved = _roads()
    moved["geometry"] = moved.translate(xoff=100.0)
    other = build_cost_graph(
        graph.grid, densify_roads(moved, max_segment_m=500), SPEEDS, mode="car"
    )
    assert other.road_index is not graph.road_index
