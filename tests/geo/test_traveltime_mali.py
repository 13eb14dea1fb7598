"""Sanity checks of the travel-time engine on the real Mali data directory."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer

from geo.boundaries import read_boundaries
from geo.costgraph import build_cost_graph, densify_roads
from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.grid import make_grid
from geo.labels import labels_surface, nearest_labels
from geo.providers import read_providers
from geo.roads import read_road_segments
from geo.routes import rank_point
from geo.settlements import Gazetteer, read_settlements
from geo.speeds import read_speed_table

pytestmark = pytest.mark.integration
TO_METRIC = Transformer.from_crs(GEOGRAPHIC_CRS, METRIC_CRS, always_xy=True)


@pytest.fixture(scope="module")
def mali(data_dir):
    adm0 = read_boundaries(next((data_dir / "boundaries").glob("*adm0*.geojson")), level=0)
    grid = make_grid(
        adm0.to_crs(METRIC_CRS).union_all(), crs=METRIC_CRS, cell_m=1000, buffer_m=5000
    )
    roads = read_road_segments(next((data_dir / "roads").glob("*road_segments*.gpkg")))
    rv = densify_roads(roads.to_crs(METRIC_CRS), max_segment_m=500)
    speeds = read_speed_table()
    graphs = {m: build_cost_graph(grid, rv, speeds, mode=m) for m in ("car", "walk")}
    gaz = Gazetteer.from_settlements(
        read_settlements(next((data_dir / "settlements").glob("*populated_places*.geojson")))
    )
    return graphs, gaz


def _xy(gaz, name):
    hit = gaz.search(name, limit=1).iloc[0]
    return TO_METRIC.transform(hit["lon"], hit["lat"])


def test_segou_is_nearer_bamako_than_mopti_by_car(mali):
    graphs, gaz = mali
    (bx, by), (mx, my) = _xy(gaz, "Bamako"), _xy(gaz, "Mopti")
    graph = graphs["car"]
    labels = nearest_labels(graph, np.array([bx, mx]), np.array([by, my]), k=2)
    rank = rank_point(graph, [labels], *_xy(gaz, "Segou"), k=2)
    assert rank.ids[0] == 0  # Bamako first
    to_bamako, to_mopti = rank.minutes[np.argsort(rank.ids)]
    assert 2 * 60 < to_bamako < 8 * 60  # 235 km of trunk road
    assert to_mopti > to_bamako


def test_kidal_nearest_one_stop_centre_is_gao(mali):
    graphs, gaz = mali
    providers = read_providers("data/providers.geojson")
    osc = providers[
        (providers["type"] == "one_stop_centre")
        & providers.geometry.notna()
        & ~providers["confidential"].astype(bool)
    ].reset_index(drop=True)
    x, y = TO_METRIC.transform(osc.geometry.x.to_numpy(), osc.geometry.y.to_numpy())
    graph = graphs["car"]
    labels = nearest_labels(graph, x, y, k=3)
    rank = rank_point(graph, [labels], *_xy(gaz, "Kidal"), k=3)
    assert osc["id"].iloc[rank.ids[0]] == "osc-gao"
    assert np.isfinite(rank.minutes).all() and rank.minutes[0] > 3 * 60


def test_car_is_faster_than_walking_everywhere(mali):
    graphs, gaz = mali
    pts = [_xy(gaz, n) for n in ("Bamako", "Gao", "Tombouctou", "Kayes")]
    x, y = np.array(pts).T
    times = {}
    for mode, graph in graphs.items():
        times[mode], _ = labels_surface(nearest_labels(graph, x, y, k=1))
    assert np.isfinite(times["car"]).all() and np.isfinite(times["walk"]).all()
    n_cells = graphs["car"].n_cells
    assert (times["car"][:n_cells] < times["walk"][:n_cells]).all()
    assert graphs["car"].n_cells > 1_200_000  # a 1 km grid over Mali's 1.25 M km²


def test_tombouctou_off_network_pays_its_leg(mali):
    graphs, gaz = mali
    graph = graphs["car"]
    labels = nearest_labels(graph, *map(np.array, zip(_xy(gaz, "Gao"), strict=True)))
    rank = rank_point(graph, [labels], *_xy(gaz, "Tombouctou"), k=1)
    # Tombouctou lies ~190 km from the mapped roads: it must pay that off-road, no zero leg
    assert rank.minutes[0] > 150 / 10 * 60  # >= 150 km at the 10 km/h off-road car speed
