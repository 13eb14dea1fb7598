"""Tests for geo.roadgraph: the road graph for osmnx/networkx users, GraphML and GeoPackage."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pyogrio
import pytest
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from geo.costgraph import build_cost_graph, densify_roads
from geo.crs import METRIC_CRS
from geo.grid import make_grid
from geo.osm import read_osm_roads
from geo.roadgraph import road_graph, road_graph_frames, write_road_graph
from geo.roads import SOURCE_SPEED_COLUMN
from geo.speeds import read_speed_table

SPEEDS = read_speed_table()
MODES = list(SPEEDS.modes)
HIGHWAYS = ["primary", "track", "track", "residential", "unclassified", "footway", "secondary"]


def network_xml(path: Path, seed: int = 7) -> Path:
    """A seeded jittered 10 x 10 street grid cut into ways of random classes and surfaces,
    plus a closed way, a road digitised twice (parallel edges) and a separate island."""
    rng = np.random.default_rng(seed)
    n = 10
    lon = -8.0 + 0.004 * np.tile(np.arange(n), n) + rng.normal(0, 3e-4, n * n)
    lat = 12.6 + 0.004 * np.repeat(np.arange(n), n) + rng.normal(0, 3e-4, n * n)
    nodes = [f'<node id="{i + 1}" lat="{lat[i]:.7f}" lon="{lon[i]:.7f}"/>' for i in range(n * n)]
    nodes += [
        f'<node id="{500 + k}" lat="{12.7 + 0.001 * k:.7f}" lon="{-7.9 + 0.002 * k:.7f}"/>'
        for k in range(4)
    ]
    nodes += ['<node id="600" lat="12.6021" lon="-7.9935"/>']
    nodes += ['<node id="601" lat="12.6025" lon="-7.9925"/>']
    ways, way_id = [], 1
    grid = np.arange(1, n * n + 1).reshape(n, n)
    for line in [*grid, *grid.T]:
        cut = 0
        while cut < n - 1:
            stop = min(n - 1, cut + int(rng.integers(1, 5)))
            tags = {"highway": str(rng.choice(HIGHWAYS))}
            if rng.random() < 0.5:
                tags["surface"] = str(rng.choice(["asphalt", "dirt", "sand"]))
            ways.append((way_id, line[cut : stop + 1].tolist(), tags))
            way_id, cut = way_id + 1, stop
    ways.append((way_id, [12, 600, 601, 12], {"highway": "residential"}))  # closed way
    ways.append((way_id + 1, [45, 46], {"highway": "track"}))  # 45-46 twice: parallel edges
    ways.append((way_id + 2, [500, 501, 502, 503], {"highway": "track"}))  # island
    body = []
    for wid, refs, tags in ways:
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        tag_xml = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        body.append(f'<way id="{wid}">{nds}{tag_xml}</way>')
    path.write_text('<osm version="0.6">' + "".join(nodes + body) + "</osm>")
    return path


@pytest.fixture(scope="module")
def roads(tmp_path_factory: pytest.TempPathFactory) -> gpd.GeoDataFrame:
    return read_osm_roads(network_xml(tmp_path_factory.mktemp("net") / "grid.osm"))


def scipy_seconds(roads: gpd.GeoDataFrame, mode: str, season: str, sources: list[int]):
    """Shortest seconds between junctions, computed independently from the road rows."""
    ids, inverse = np.unique(np.r_[roads["u"], roads["v"]], return_inverse=True)
    a, b = inverse[: len(roads)], inverse[len(roads) :]
    best: dict[tuple[int, int], float] = {}
    paved_flags = [None if pd.isna(p) else bool(p) for p in roads["paved"]]
    for i, (row, paved) in enumerate(zip(roads.itertuples(), paved_flags, strict=True)):
        kph = SPEEDS.road_speed_kph(mode, row.road_class, paved, season)
        if kph <= 0 or a[i] == b[i]:
            continue
        key = (min(a[i], b[i]), max(a[i], b[i]))
        best[key] = min(best.get(key, np.inf), row.length_m / (kph / 3.6))
    rows, cols = zip(*best, strict=True)
    csr = coo_matrix((list(best.values()), (rows, cols)), shape=(len(ids), len(ids))).tocsr()
    index = {int(node): k for k, node in enumerate(ids)}
    dist = dijkstra(csr, directed=False, indices=[index[s] for s in sources])
    return dist, index


def test_frames_follow_osmnx_layout(roads: gpd.GeoDataFrame) -> None:
    nodes, edges = road_graph_frames(roads, SPEEDS, mode="walk")
    assert nodes.index.name == "osmid" and list(edges.index.names) == ["u", "v", "key"]
    n_loops = int((roads["u"] == roads["v"]).sum())
    assert n_loops >= 1
    assert len(edges) == 2 * len(roads) - n_loops  # two-way, loops once
    assert not edges["oneway"].any()
    assert edges["reversed"].sum() == len(roads) - n_loops
    assert (edges.reset_index().groupby(["u", "v"])["key"].max() >= 1).any()  # parallel roads
    np.testing.assert_array_equal(edges["travel_time"], edges["travel_time_walk"])
    for mode in MODES:
        assert f"travel_time_{mode}" in edges and f"speed_kph_{mode}" in edges
    # the reversed edge runs from v to u along the same line, backwards
    fwd = edges[~edges["reversed"]].reset_index().iloc[0]
    flat = edges.reset_index()
    same = (flat["u"] == fwd["v"]) & (flat["v"] == fwd["u"]) & (flat["osmid"] == fwd["osmid"])
    back = flat[same & flat["reversed"]].iloc[0]
    assert list(back.geometry.coords) == list(fwd.geometry.coords)[::-1]
    start = nodes.loc[fwd["u"]]
    assert (start["x"], start["y"]) == fwd.geometry.coords[0]
    footway = edges["highway"] == "path"
    assert footway.any() and np.isinf(edges.loc[footway, "travel_time_car"]).all()


@pytest.mark.parametrize("season", ["dry", "rainy"])
def test_graphml_loads_in_osmnx_and_shortest_times_equal_scipy(
    roads: gpd.GeoDataFrame, tmp_path: Path, season: str
) -> None:
    path = write_road_graph(roads, tmp_path / "roads.graphml", speeds=SPEEDS, season=season)
    graph = ox.load_graphml(path, edge_dtypes={f"travel_time_{m}": float for m in MODES})
    assert isinstance(graph, nx.MultiDiGraph)
    assert graph.graph["season"] == season and graph.graph["travel_time_mode"] == "car"
    assert graph.graph["oneway"].startswith("symmetric")
    rng = np.random.default_rng(3)
    node_ids = sorted(graph.nodes)
    n_finite = 0
    sources = [int(s) for s in rng.choice(node_ids, 6, replace=False)]
    for mode in MODES:
        expected, index = scipy_seconds(roads, mode, season, sources)
        for s_row, source in enumerate(sources):
            for target in rng.choice(node_ids, 8, replace=False).tolist():
                want = expected[s_row, index[int(target)]]
                try:
                    got = nx.shortest_path_length(
                        graph, source, int(target), weight=f"travel_time_{mode}"
                    )
                except nx.NetworkXNoPath:
                    got = np.inf
                assert got == pytest.approx(want, rel=1e-9), (mode, source, target)
                n_finite += bool(np.isfinite(want) and want > 0)
    assert n_finite > 100  # most sampled pairs are joined by a road
    island = [n for n in graph.nodes if 500 <= n < 504]
    assert island and not nx.has_path(graph, sources[0], island[0])
    # osmnx's own routing on the default weight (travel_time = car)
    path_nodes = ox.shortest_path(graph, sources[0], sources[1], weight="travel_time")
    if path_nodes is not None:
        seconds = sum(
            min(d["travel_time"] for d in graph.get_edge_data(x, y).values())
            for x, y in itertools.pairwise(path_nodes)
        )
        want, index = scipy_seconds(roads, "car", season, [sources[0]])
        assert seconds == pytest.approx(want[0, index[sources[1]]], rel=1e-9)


def engine_minutes(roads: gpd.GeoDataFrame, mode: str, season: str, sources: list[int]):
    """Shortest minutes between junctions on Orienter's own travel-time graph
    (:func:`geo.costgraph.build_cost_graph`), along its road pieces only: the grid cells
    and their off-road legs are left out, as the export holds roads only."""
    metric = roads.to_crs(METRIC_CRS)
    vertices = densify_roads(metric, max_segment_m=300)
    area = shapely.box(*metric.total_bounds).buffer(2_000)
    grid = make_grid(area, crs=METRIC_CRS, cell_m=1_000)
    graph = build_cost_graph(grid, vertices, SPEEDS, mode=mode, season=season)
    n = graph.n_cells
    junctions = np.unique(np.r_[roads["u"], roads["v"]])  # junction j is road vertex j
    index = {int(node): k for k, node in enumerate(junctions)}
    dist = dijkstra(graph.minutes[n:, n:], directed=True, indices=[index[s] for s in sources])
    return dist, index


@pytest.mark.parametrize("season", ["dry", "rainy"])
@pytest.mark.parametrize("own_speeds", [False, True], ids=["class-speeds", "source-speeds"])
def test_graphml_gives_the_engines_shortest_times_on_sampled_pairs(
    roads: gpd.GeoDataFrame, tmp_path: Path, season: str, own_speeds: bool
) -> None:
    """What osmnx users compute on the export is what Orienter computes: same speeds per
    mode (the source's own speed where the profile uses it), same shortest times."""
    if own_speeds:  # a road layer that carries its source's speeds (Krantz segments do)
        rng = np.random.default_rng(5)
        given = rng.random(len(roads)) < 0.6
        roads = roads.assign(
            **{SOURCE_SPEED_COLUMN: np.where(given, rng.uniform(25, 95, len(roads)), np.nan)}
        )
    path = write_road_graph(roads, tmp_path / "roads.graphml", speeds=SPEEDS, season=season)
    graph = ox.load_graphml(path, edge_dtypes={f"travel_time_{m}": float for m in MODES})
    rng = np.random.default_rng(11)
    node_ids = sorted(graph.nodes)
    sources = [int(s) for s in rng.choice(node_ids, 5, replace=False)]
    compared = 0
    for mode in MODES:
        expected, index = engine_minutes(roads, mode, season, sources)
        for row, source in enumerate(sources):
            lengths = nx.single_source_dijkstra_path_length(
                graph, source, weight=f"travel_time_{mode}"
            )
            for target in rng.choice(node_ids, 10, replace=False).tolist():
                want = expected[row, index[int(target)]]
                got = lengths.get(int(target), np.inf) / 60.0
                assert got == pytest.approx(want, rel=1e-6, abs=1e-6), (mode, source, target)
                compared += bool(np.isfinite(want) and want > 0)
    assert compared > 80


def test_streamed_graphml_equals_osmnx_save_graphml(
    roads: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    """The file written without networkx loads into the same graph as osmnx's own writer."""
    streamed = write_road_graph(roads, tmp_path / "streamed.graphml", speeds=SPEEDS, mode="walk")
    reference = tmp_path / "osmnx.graphml"
    ox.save_graphml(road_graph(roads, SPEEDS, mode="walk"), reference)
    dtypes = {f"travel_time_{m}": float for m in MODES} | {f"speed_kph_{m}": float for m in MODES}
    a = ox.load_graphml(streamed, edge_dtypes=dtypes)
    b = ox.load_graphml(reference, edge_dtypes=dtypes)
    assert a.graph == b.graph
    assert dict(a.nodes(data=True)) == dict(b.nodes(data=True))
    edges_a = {(u, v, k): d for u, v, k, d in a.edges(keys=True, data=True)}
    edges_b = {(u, v, k): d for u, v, k, d in b.edges(keys=True, data=True)}
    assert edges_a.keys() == edges_b.keys()
    for key, data in edges_b.items():
        assert edges_a[key].keys() == data.keys(), key
        for name, value in data.items():
            if name == "geometry":
                assert edges_a[key][name].equals_exact(value, 0), key
            else:
                assert edges_a[key][name] == value, (key, name)


def test_geopackage_has_nodes_and_edges_layers(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = write_road_graph(roads, tmp_path / "roads.gpkg", speeds=SPEEDS, mode="motorbike")
    assert [str(n) for n in pyogrio.list_layers(path)[:, 0]] == ["nodes", "edges"]
    edges = gpd.read_file(path, layer="edges")
    nodes = gpd.read_file(path, layer="nodes")
    _, expected = road_graph_frames(roads, SPEEDS, mode="motorbike")
    assert len(edges) == len(expected) and len(nodes) == len(set(roads["u"]) | set(roads["v"]))
    assert {"u", "v", "key", "length", "highway", "travel_time", "travel_time_walk"} <= set(edges)
    np.testing.assert_allclose(edges["travel_time"], edges["travel_time_motorbike"])
    np.testing.assert_allclose(
        np.sort(edges["length"].to_numpy()), np.sort(expected["length"].to_numpy())
    )
    assert edges.crs.to_epsg() == 4326


def test_graph_in_memory_equals_the_frames(roads: gpd.GeoDataFrame) -> None:
    graph = road_graph(roads, SPEEDS, mode="walk")
    _, edges = road_graph_frames(roads, SPEEDS, mode="walk")
    assert graph.number_of_edges() == len(edges)
    u, v, k = edges.index[0]
    assert graph.edges[u, v, k]["travel_time"] == edges.iloc[0]["travel_time_walk"]


def test_bad_arguments_name_the_parameter(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown mode 'plane'"):
        road_graph_frames(roads, SPEEDS, mode="plane")
    with pytest.raises(ValueError, match="season"):
        road_graph_frames(roads, SPEEDS, season="monsoon")
    with pytest.raises(ValueError, match="fmt"):
        write_road_graph(roads, tmp_path / "roads.shp", speeds=SPEEDS)
    with pytest.raises(ValueError, match="lacks column"):
        road_graph_frames(roads.drop(columns="length_m"), SPEEDS)
    with pytest.raises(ValueError, match="EPSG:4326"):
        road_graph_frames(roads.to_crs(3857), SPEEDS)
    target = tmp_path / "kept.graphml"
    target.write_text("previous")
    with pytest.raises(ValueError, match="mode"):
        write_road_graph(roads, target, speeds=SPEEDS, mode="plane")
    assert target.read_text() == "previous" and list(tmp_path.iterdir()) == [target]
