"""Exports hold public records only, and an HXL export reads back with `providers import`."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from geo.provider_export import EXPORT_HXL_TAGS, export_providers, export_table
from geo.provider_import import import_providers
from geo.provider_sheets import hxl_field
from geo.providers import public_providers, read_providers
from tests.conftest import REPO, TEST_DATA

FIXTURE = TEST_DATA / "providers" / "good_providers.geojson"


@pytest.fixture(scope="module")
def directory():
    return read_providers(REPO / "data" / "providers.geojson")


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "hxl", "geojson"])
def test_every_format_leaves_confidential_records_out(directory, tmp_path, fmt):
    path = tmp_path / f"providers.{'csv' if fmt == 'hxl' else fmt}"
    count = export_providers(directory, path, fmt=fmt)
    public = public_providers(directory)
    assert count == len(public)
    if fmt == "geojson":
        props = [f["properties"] for f in json.loads(path.read_text())["features"]]
        rows = pd.DataFrame(props)
    elif fmt == "xlsx":
        rows = pd.read_excel(path, dtype=str)
    else:
        rows = pd.read_csv(path, dtype=str, skiprows=[1] if fmt == "hxl" else None)
    text = path.read_bytes() if fmt == "xlsx" else path.read_text(encoding="utf-8")
    confidential = directory[~directory["id"].isin(public["id"])]
    assert len(confidential) >= 9
    assert list(rows["id"]) == list(public["id"])
    assert not set(rows["name"]) & set(confidential["name"])
    for ident in confidential["id"]:  # not even in another record's notes
        assert (ident.encode() if isinstance(text, bytes) else ident) not in text, ident


def test_a_caseworker_export_is_explicit(directory, tmp_path):
    path = tmp_path / "all.xlsx"
    assert export_providers(directory, path, fmt="xlsx", include_confidential=True) == len(
        directory
    )
    readme = pd.read_excel(path, sheet_name="lisez-moi", dtype=str)["lisez-moi"].iloc[0]
    assert readme.startswith("CONFIDENTIEL")
    with pytest.raises(TypeError, match="include_confidential must be True or False"):
        export_table(directory, include_confidential="yes")


def test_table_shape_lists_and_coordinates():
    gdf = read_providers(FIXTURE)
    table = export_table(gdf)
    osc = table.set_index("id").loc["test-osc-mopti"]
    assert osc["services"] == "medical, psychosocial, legal"
    assert (osc["lat"], osc["lon"]) == ("14.490000", "-4.190000")
    hotline = table.set_index("id").loc["test-hotline"]
    assert hotline["lat"] == "" and hotline["confidential"] == "false"
    assert list(table.columns[-2:]) == ["lat", "lon"]


def test_hxl_export_has_a_hashtag_row_that_imports_back(tmp_path):
    gdf = read_providers(FIXTURE)
    path = tmp_path / "providers-hxl.csv"
    export_providers(gdf, path, fmt="hxl")
    with path.open(encoding="utf-8") as handle:
        header, tags, *rows = list(csv.reader(handle))
    assert tags[header.index("name")] == "#org+name" and tags[header.index("lat")] == "#geo+lat"
    assert len(rows) == 2  # the shelter is not exported
    result = import_providers(path, tmp_path / "back.geojson", gazetteer=None)
    assert result.problems == []
    back = read_providers(tmp_path / "back.geojson").set_index("id")
    original = gdf.set_index("id")
    for ident in ("test-osc-mopti", "test-hotline"):
        for field in ("name", "type", "services", "other_services", "phone", "source"):
            assert back.loc[ident, field] == original.loc[ident, field], (ident, field)
    assert back.loc["test-osc-mopti"].geometry.equals(original.loc["test-osc-mopti"].geometry)
    assert back.loc["test-osc-mopti", "location_precision"] == "facility"


def test_every_export_tag_reads_back_as_its_field():
    renamed = {"adm1_pcode": "region", "town": "settlement"}  # the import's names for them
    for column, tag in EXPORT_HXL_TAGS.items():
        assert hxl_field(tag) == renamed.get(column, column), tag


def test_geojson_export_is_a_valid_directory(tmp_path):
    gdf = read_providers(FIXTURE)
    path = tmp_path / "public.geojson"
    export_providers(gdf, path, fmt="geojson")
    assert [f["properties"]["id"] for f in json.loads(path.read_text())["features"]] == [
        "test-osc-mopti",
        "test-hotline",
    ]
    assert len(read_providers(path)) == 2
    with pytest.raises(ValueError, match="fmt: unknown format 'pdf'"):
        export_providers(gdf, tmp_path / "x.pdf", fmt="pdf")
