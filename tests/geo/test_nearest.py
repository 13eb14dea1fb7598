"""The fast nearest answer (stored matrix + route index) equals a full Dijkstra per query.

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

from geo.costgraph import attach_points, build_cost_graph, densify_roads
from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.grid import Grid
from geo.nearest import (
    CLOSED_ORIGIN,
    CUT_OFF,
    ProviderTable,
    _edge_metres,
    _walk,
    index_routes,
    nearest_answer,
    nearest_providers,
)
from geo.speeds import read_speed_table
from geo.traveltime import source_time_matrix
from geo.zones import classes_along_path

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
    lines = [
        shapely.LineString([(700, 2600), (20_000, 9_000), (39_300, 24_700)]),
        shapely.LineString([(8_000, 29_500), (20_000, 9_000)]),
        shapely.LineString([(30_000, 1_000), (36_000, 3_000)]),  # an island of road
    ]
    roads = gpd.GeoDataFrame(
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
    zone = _zone()[grid.active]
    factor = np.where(zone == 2, 0.0, np.where(zone == 1, 0.4, 1.0))  # 'avoid'-like
    base = build_cost_graph(
        grid, densify_roads(roads, max_segment_m=500), SPEEDS, mode="car", cell_factor=factor
    )
    graph, ids = attach_points(base, PX, PY, keep_isolated=True)
    matrix = source_time_matrix(graph, ids[ids >= 0])
    assert len(matrix.sources) == len(PX)  # keep_isolated: every provider has a column
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
    return graph, matrix, providers, zone


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, NCOLS * CELL, n)
    y = rng.uniform(0, NROWS * CELL, n)
    # a few that matter: beside the shared place, on the road, inside the closed block
    x[:4] = [2250.0, 20_000.0, 20_400.0, 39_400.0]
    y[:4] = [3350.0, 9_000.0, 15_300.0, 24_400.0]
    return TO_LONLAT.transform(x, y)


def test_edge_lengths_equal_scipy_indexing(net):
    graph = net[0]
    rng = np.random.default_rng(1)
    coo = graph.metres.tocoo()
    pick = rng.integers(0, coo.nnz, 500)
    a = np.concatenate([coo.row[pick], rng.integers(0, graph.n_nodes, 200)])
    b = np.concatenate([coo.col[pick], rng.integers(0, graph.n_nodes, 200)])  # mostly no edge
    expected = np.asarray(graph.metres[a, b]).ravel()
    np.testing.assert_array_equal(_edge_metres(graph, a, b), expected)


@pytest.mark.parametrize("lattice", [None, 4])
def test_route_index_equals_walking_every_route(net, lattice):
    graph, matrix, _, zone = net
    index = index_routes(graph, matrix, cell_zone=zone, lattice=lattice, lazy=False)
    assert index.ready.all()
    stops = np.flatnonzero(index.stop >= 0)
    n_lines = (
        0
        if lattice is None
        else (NROWS // lattice + 1) * NCOLS + (NCOLS // lattice) * (NROWS - NROWS // lattice - 1)
    )
    assert len(stops) == graph.n_road + n_lines
    for j, target in enumerate(matrix.sources):
        for node in stops:
            r = index.stop[node]
            if not np.isfinite(matrix.minutes[node, j]):
                assert np.isnan(index.metres[:, j, r]).all()
                continue
            nodes = np.array(_walk(graph, index, int(node), j, int(target), full=True))
            worst, km = classes_along_path(graph, zone, nodes)
            metres = float(np.asarray(graph.metres[nodes[:-1], nodes[1:]]).sum())
            assert index.metres[:, j, r].sum() == pytest.approx(metres, rel=1e-12, abs=1e-9)
            got_km = np.round(index.metres[:, j, r] / 1000.0, 1).tolist()
            assert got_km == pytest.approx(list(km.values()), abs=1e-9)
            assert ("low", "elevated", "high")[index.worst[j, r]] == worst


@pytest.mark.parametrize(("zones", "lattice"), [(True, None), (True, 4), (False, 3)])
def test_fast_answer_equals_a_full_dijkstra_per_query(net, zones, lattice):
    graph, matrix, providers, zone = net
    cell_zone = zone if zones else None
    table = ProviderTable.from_frame(providers)
    index = index_routes(graph, matrix, cell_zone=cell_zone, lattice=lattice)  # lazy
    assert not index.ready.any()
    lon, lat = _points(40, seed=7)
    seen = {"cut_off": 0, "closed_origin": 0, "twins": 0, "reachable": 0}
    for i in range(len(lon)):
        for service, everyone in ((None, True), ("medical", False), ("legal", True)):
            visible = np.ones(len(providers), bool) if everyone else ~providers.confidential
            kw = dict(visible=visible.to_numpy() if hasattr(visible, "to_numpy") else visible)
            kw.update(service=service, k=7, cell_zone=cell_zone)
            fast = nearest_answer(graph, matrix, table, lon[i], lat[i], index=index, **kw)
            walked = nearest_answer(graph, matrix, table, lon[i], lat[i], **kw)
            ref = nearest_answer(graph, matrix, table, lon[i], lat[i], method="dijkstra", **kw)
            # the route index changes nothing but the speed
            assert fast.records == walked.records and fast.entry == walked.entry
            assert fast.entry == ref.entry
            np.testing.assert_array_equal(fast.columns, ref.columns)
            both = np.isfinite(ref.minutes)
            np.testing.assert_array_equal(np.isfinite(fast.minutes), both)
            np.testing.assert_allclose(fast.minutes[both], ref.minutes[both], rtol=1e-6)
            np.testing.assert_allclose(fast.metres[both], ref.metres[both], rtol=1e-9)
            for got, want in zip(fast.records, ref.records, strict=True):
                assert got == want
            reasons = [r["unreachable_reason"] for r in fast.records]
            seen["cut_off"] += reasons.count(CUT_OFF)
            seen["closed_origin"] += reasons.count(CLOSED_ORIGIN)
            seen["reachable"] += reasons.count(None)
            ids = [r["id"] for r in fast.records]
            seen["twins"] += int({"p0", "p2"} <= set(ids))
    # the seeded set really exercises every case
    assert all(v > 0 for v in seen.values()), seen
    eager = index_routes(graph, matrix, cell_zone=cell_zone, lattice=lattice, lazy=False)
    filled = index.ready
    assert filled.any()  # the queries filled in the sources they needed, the same figures
    np.testing.assert_array_equal(index.metres[:, filled], eager.metres[:, filled])


def test_an_answer_names_why_nothing_is_reachable(net):
    graph, matrix, providers, zone = net
    table = ProviderTable.from_frame(providers)
    index = index_routes(graph, matrix, cell_zone=zone)
    everyone = np.ones(len(providers), bool)
    lon, lat = TO_LONLAT.transform(20_400.0, 15_300.0)  # inside the closed block
    closed = nearest_answer(
        graph, matrix, table, lon, lat, visible=everyone, k=3, index=index, cell_zone=zone
    )
    assert closed.entry["snapped_to"] == "closed area"
    assert [r["unreachable_reason"] for r in closed.records] == [CLOSED_ORIGIN] * 3
    assert all(r["travel_time_min"] is None and r["distance_km"] is None for r in closed.records)
    lon, lat = TO_LONLAT.transform(2250.0, 3350.0)
    found = nearest_answer(
        graph, matrix, table, lon, lat, visible=everyone, k=7, index=index, cell_zone=zone
    )
    by_id = {r["id"]: r for r in found.records}
    assert by_id["p0"]["travel_time_min"] == by_id["p2"]["travel_time_min"] > 0  # co-located
    assert by_id["p4"]["reachable"] is False and by_id["p4"]["unreachable_reason"] == CUT_OFF
    assert by_id["p4"]["travel_time_min"] is None and by_id["p4"]["route_worst_class"] is None
    assert by_id["p1"]["phone"] == "+223 1" and by_id["p2"]["phone"] is None  # NaN -> None
    none = nearest_answer(
        graph,
        matrix,
        table,
        lon,
        lat,
        visible=~providers.confidential.to_numpy(),
        service="nothing-offers-this",
        k=3,
        index=index,
        cell_zone=zone,
    )
    assert none.records == [] and none.entry["snapped_lon"] is None  # no NaN in JSON


def test_table_form_keeps_its_columns_and_routes(net):
    graph, matrix, providers, zone = net
    lon, lat = TO_LONLAT.transform(30_000.0, 20_000.0)
    out = nearest_providers(
        graph,
        matrix,
        providers,
        lon,
        lat,
        visible=np.ones(len(providers), bool),
        k=4,
        cell_zone=zone,
    )
    res = out.results
    assert {"travel_time_min", "distance_km", "route_worst_class", "route_km_by_class"} <= set(res)
    assert res["travel_time_min"].is_monotonic_increasing
    line = out.routes.geometry.iloc[0]
    assert line.coords[0] == pytest.approx((lon, lat))  # starts at the query point
    assert line.coords[-1] == pytest.approx((res["lon"].iloc[0], res["lat"].iloc[0]), abs=1e-6)
