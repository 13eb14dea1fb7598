"""`api.services.export` without the data directory: option checks and the last guard."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from api.services.export import (
    ExportRefusedError,
    ExportRequest,
    ExportUsageError,
    check_request,
    verify_public,
)
from geo.geopackage import write_vector_layer


@pytest.mark.parametrize(
    ("changes", "option", "text"),
    [
        ({"out": Path("x.shp")}, "--out", "end the name in .gpkg"),
        ({"out": Path("/nonexistent-dir/x.gpkg")}, "--out", "does not exist"),
        ({"service": "massage"}, "--service", "'massage': use one of one_stop_centre"),
        ({"scenario": "worst"}, "--scenario", "'worst': use one of baseline"),
        ({"mode": "boat"}, "--mode", "'boat': use one of walk"),
        ({"levels": ("adm1", "adm4")}, "--level", "['adm4']"),
        ({"levels": ()}, "--level", "none"),
        ({"threshold_min": 45}, "--threshold-min", "45: use one of 30, 60, 120, 300"),
        ({"lang": "de"}, "--lang", "'de'"),
        ({"min_desert_population": -1}, "--min-desert-population", ">= 0"),
    ],
)
def test_bad_options_name_the_option(tmp_path, changes, option, text):
    values = {"out": tmp_path / "x.gpkg", **changes}
    with pytest.raises(ExportUsageError) as caught:
        check_request(ExportRequest(**values), known_modes=("walk", "motorbike", "car"))
    assert caught.value.option == option
    assert str(caught.value).startswith(option) and text in str(caught.value)


def test_a_good_request_passes(tmp_path):
    check_request(ExportRequest(out=tmp_path / "x.gpkg"), known_modes=("car",))
    check_request(ExportRequest(out=tmp_path / "x.GPKG", mode="anything"))  # no speed table


def _package(tmp_path: Path, provider_ids: list[str], nearest: list[str | None]) -> Path:
    path = tmp_path / "p.gpkg"
    providers = gpd.GeoDataFrame(
        {"id": provider_ids, "notes": ["x"] * len(provider_ids)},
        geometry=[Point(-8, 12.6)] * len(provider_ids),
        crs=4326,
    )
    write_vector_layer(path, providers, "providers", title="p", description="")
    write_vector_layer(
        path,
        pd.DataFrame({"pcode": ["ML01"] * len(nearest), "nearest_provider_id": nearest}),
        "coverage",
        title="c",
        description="",
    )
    return path


def test_the_last_guard_refuses_a_non_public_provider(tmp_path):
    public, hidden = {"a", "b"}, {"shelter-1"}
    (tmp_path / "ok").mkdir()
    verify_public(_package(tmp_path / "ok", ["a", "b"], ["a", None]), public, hidden)
    for ids, nearest, where in (
        (["a", "shelter-1"], ["a"], "providers"),
        (["a"], ["shelter-1"], "coverage"),
        (["a", "stale-id"], ["a"], "providers"),  # gone from the directory since the build
    ):
        case = tmp_path / where / ids[-1] / nearest[0]
        case.mkdir(parents=True)
        with pytest.raises(ExportRefusedError, match=f"layer {where}"):
            verify_public(_package(case, ids, nearest), public, hidden)
