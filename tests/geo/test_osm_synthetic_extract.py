"""The synthetic national OSM extract of benchmarks/ is a valid, connected network the reader
loads whole, skipping what is not a road (generated small here; full size in RESULTS.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo.osm import read_osm_roads

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def extract(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from make_osm_extract import make_extract
    finally:
        sys.path.remove(str(BENCHMARKS))
    out = tmp_path_factory.mktemp("extract") / "mali-small.osm.pbf"
    return out, make_extract(out, data_dir, seed=5, scale=0.01)


@pytest.mark.integration
def test_small_national_extract_reads_whole_and_connected(extract: tuple[Path, dict]) -> None:
    path, stats = extract
    assert Path(str(path) + ".json").is_file()
    roads = read_osm_roads(path)
    # every highway way is read (proposed/construction/area ways are not counted as roads)
    assert roads["osm_way_id"].nunique() == stats["highway_ways"]
    assert roads["length_m"].sum() / 1000 == pytest.approx(stats["highway_km"], rel=1e-6)
    assert stats["other_ways"] > 0 and stats["tagged_nodes"] > 0
    assert {"track", "unclassified", "residential", "trunk"} <= set(roads["road_class"])
    ids, inverse = np.unique(np.r_[roads["u"], roads["v"]], return_inverse=True)
    n, m = len(ids), len(roads)
    graph = coo_matrix((np.ones(m), (inverse[:m], inverse[m:])), shape=(n, n))
    assert connected_components(graph, directed=False)[0] == 1
    # inside Mali's bounding box, with OSM-like 64-bit ids
    bounds = roads.total_bounds
    assert bounds[0] > -12.3 and bounds[2] < 4.3 and bounds[1] > 10.1 and bounds[3] < 25.0
    assert roads["u"].min() > 1_000_000_000


@pytest.mark.integration
def test_extract_is_seeded(extract: tuple[Path, dict], data_dir: Path, tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from make_osm_extract import make_extract
    finally:
        sys.path.remove(str(BENCHMARKS))
    path, stats = extract
    again = make_extract(tmp_path / "again.osm.pbf", data_dir, seed=5, scale=0.01)
    assert (tmp_path / "again.osm.pbf").read_bytes() == path.read_bytes()
    assert again["ways_by_class"] == stats["ways_by_class"]
