"""Label sets per audience and service (geo.layers): split, merge, save and load.

The confidentiality property at the level of the built files: the public sets of a
directory with confidential records are byte for byte those of the same directory
without them.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from geo.costgraph import build_cost_graph
from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.grid import Grid
from geo.layers import OTHER, Layer, ProviderTables, compute_sets, load_sets, save_sets, set_rows
from geo.speeds import read_speed_table

TO_LONLAT = Transformer.from_crs(METRIC_CRS, GEOGRAPHIC_CRS, always_xy=True)


@pytest.fixture(scope="module")
def graph():
    grid = Grid(
        crs=METRIC_CRS,
        x0=0.0,
        y0=10_000.0,
        cell_m=1000.0,
        nrows=10,
        ncols=20,
        active=np.ones((10, 20), bool),
    )
    return build_cost_graph(grid, None, read_speed_table(), mode="walk")


def _directory(with_confidential: bool) -> gpd.GeoDataFrame:
    rows = [
        ("a", "one_stop_centre", ["medical", "psychosocial"], False, 1500, 5500),
        ("b", "ngo", ["legal"], False, 9500, 2500),
        ("c", "ngo", [], False, 17500, 7500),  # offers none of the services
        ("d", "health_facility", ["medical"], False, 12500, 8500),
    ]
    if with_confidential:
        rows += [
            ("s1", "ngo", ["shelter", "psychosocial"], True, 6500, 5500),
            ("s2", "ngo", ["shelter"], True, 15500, 1500),
        ]
    x = np.array([r[4] for r in rows], dtype=float)
    y = np.array([r[5] for r in rows], dtype=float)
    lon, lat = TO_LONLAT.transform(x, y)
    return gpd.GeoDataFrame(
        {
            "id": [r[0] for r in rows],
            "type": [r[1] for r in rows],
            "services": [r[2] for r in rows],
            "confidential": [r[3] for r in rows],
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=GEOGRAPHIC_CRS,
    )


def test_split_fails_closed_and_sets_cover_every_provider():
    frame = _directory(True)
    frame["confidential"] = frame["confidential"].astype(object)
    frame.loc[3, "confidential"] = None  # unknown: treated as confidential
    tables = ProviderTables.split(frame)
    assert tables.public["id"].tolist() == ["a", "b", "c"]
    assert tables.confidential["id"].tolist() == ["d", "s1", "s2"]
    assert tables.combined()["id"].tolist() == ["a", "b", "c", "d", "s1", "s2"]
    assert set_rows(tables.public, OTHER).tolist() == [2]
    assert set_rows(tables.public, "one_stop_centre").tolist() == [0]
    with pytest.raises(ValueError, match="service='x'"):
        set_rows(tables.public, "x")


def test_public_sets_do_not_depend_on_confidential_records(graph, tmp_path):
    without = compute_sets(graph, ProviderTables.split(_directory(False)), k=3)
    with_conf = compute_sets(graph, ProviderTables.split(_directory(True)), k=3)
    public = {key for key in with_conf if key[0] == "public"}
    assert public == set(without)
    save_sets({k: v for k, v in with_conf.items() if k in public}, tmp_path / "a")
    save_sets(without, tmp_path / "b")
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.npy"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.npy"))
    assert files_a == files_b and files_a
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert {key for key in with_conf if key[0] == "confidential"} == {
        ("confidential", "shelter"),
        ("confidential", "psychosocial"),
    }
    # confidential ids continue the public rows
    assert sorted(with_conf[("confidential", "shelter")].ids.tolist()) == [4, 5]


def test_a_caseworker_layer_merges_confidential_sets(graph, tmp_path):
    tables = ProviderTables.split(_directory(True))
    save_sets(compute_sets(graph, tables, k=3), tmp_path / "sets")
    sets = load_sets(tmp_path / "sets")
    # memory-mapped (shared between forked workers), seen as a plain ndarray: no copy
    source = sets[("public", "medical")].source
    assert not source.flags.owndata and isinstance(source.base, np.memmap)
    layer = Layer(graph, sets)
    public = layer.visible("psychosocial", caseworker=False)
    worker = layer.visible("psychosocial", caseworker=True)
    assert [s.ids.tolist() for s in public] == [[0]]
    assert sorted(i for s in worker for i in s.ids.tolist()) == [0, 4]
    assert layer.visible("shelter", caseworker=False) == []
    every = layer.visible(None, caseworker=False)
    assert sorted({i for s in every for i in s.ids.tolist()}) == [0, 1, 2, 3]
    minutes, nearest = layer.surface("psychosocial")
    minutes_cw, nearest_cw = layer.surface("psychosocial", caseworker=True)
    assert (minutes_cw <= minutes).all() and (minutes_cw < minutes).any()
    assert set(np.unique(nearest)) == {0} and set(np.unique(nearest_cw)) == {0, 4}
    combined = tables.combined()
    assert combined["id"].iloc[4] == "s1"
    assert isinstance(combined, pd.DataFrame)
