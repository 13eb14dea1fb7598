from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from geo.boundaries import assign_parents, read_boundaries
from geo.errors import DataFileError, DataValidationError


def _write(gdf: gpd.GeoDataFrame, tmp_path, name="b.geojson"):
    path = tmp_path / name
    gdf.to_file(path, driver="GeoJSON")
    return path


def test_ocha_schema_is_normalised(tmp_path):
    gdf = gpd.GeoDataFrame(
        {
            "admin1Pcod": ["ML01", "ML01"],
            "admin1Name": ["Kayes", "Kayes"],
            "admin2Pcod": ["ML0101", "ML0102"],
            "admin2Name": ["Kayes", "Bafoulabe"],
        },
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs=4326,
    )
    out = read_boundaries(_write(gdf, tmp_path))
    assert list(out.columns) == ["pcode", "name", "level", "parent_pcode", "geometry"]
    assert out["level"].tolist() == [2, 2]
    assert out["pcode"].tolist() == ["ML0101", "ML0102"]
    assert out["parent_pcode"].tolist() == ["ML01", "ML01"]
    assert out.crs.to_epsg() == 4326


def test_geoboundaries_schema_and_parents(tmp_path):
    child = gpd.GeoDataFrame(
        {
            "shapeName": ["A", "B"],
            "shapeISO": ["ML-1", "ML-2"],
            "shapeID": ["x1", "x2"],
            "shapeType": ["ADM1", "ADM1"],
        },
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs=4326,
    )
    out = read_boundaries(_write(child, tmp_path))
    assert out["pcode"].tolist() == ["ML-1", "ML-2"] and set(out["level"]) == {1}
    country = gpd.GeoDataFrame({"pcode": ["ML"]}, geometry=[box(-1, -1, 3, 2)], crs=4326)
    assert assign_parents(out, country)["parent_pcode"].tolist() == ["ML", "ML"]


def test_reprojects_to_4326(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"admin0Pcod": ["ML"], "admin0Name": ["Mali"]}, geometry=[box(0, 0, 1, 1)], crs=4326
    ).to_crs(3857)
    out = read_boundaries(_write(gdf, tmp_path, "b.gpkg"))
    assert out.crs.to_epsg() == 4326
    assert out.geometry.iloc[0].bounds == pytest.approx((0, 0, 1, 1), abs=1e-9)


def test_duplicate_and_empty_pcodes_are_all_listed(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"admin1Pcod": ["ML01", "ML01", None], "admin1Name": ["A", "B", "C"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)],
        crs=4326,
    )
    with pytest.raises(DataValidationError) as err:
        read_boundaries(_write(gdf, tmp_path))
    text = str(err.value)
    assert "duplicate P-code ML01" in text and "empty P-code" in text
    assert len(err.value.problems) == 3


def test_unknown_schema_and_missing_file(tmp_path):
    gdf = gpd.GeoDataFrame({"foo": [1]}, geometry=[Point(0, 0).buffer(1)], crs=4326)
    with pytest.raises(DataFileError, match="neither the OCHA"):
        read_boundaries(_write(gdf, tmp_path))
    with pytest.raises(DataFileError, match="not found"):
        read_boundaries(tmp_path / "missing.geojson")
    bad = tmp_path / "corrupt.geojson"
    bad.write_text("{not json")
    with pytest.raises(DataFileError, match=r"corrupt\.geojson"):
        read_boundaries(bad)


@pytest.mark.integration
def test_shared_boundaries_nest(data_dir):
    counts = {}
    levels = {}
    for level in range(4):
        levels[level] = read_boundaries(
            next((data_dir / "boundaries").glob(f"*adm{level}*.geojson")), level=level
        )
        counts[level] = len(levels[level])
    assert counts == {0: 1, 1: 9, 2: 50, 3: 701}
    assert set(levels[3]["parent_pcode"]) <= set(levels[2]["pcode"])
    assert set(levels[2]["parent_pcode"]) == set(levels[1]["pcode"])
    assert levels[1].geometry.is_valid.all()
