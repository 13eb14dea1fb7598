"""The 2015 cercles regrouped into the 2023 régions (geo.frames), on tiny fixtures."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from geo.errors import DataFileError, DataValidationError
from geo.frames import CROSSWALK_COLUMNS, read_crosswalk, region_code, regions_from_cercles

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "data" / "boundaries" / "mli_cercle_2015_to_region_2023.csv"
HEADER = ",".join(CROSSWALK_COLUMNS)


def _write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "crosswalk.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _cercles() -> gpd.GeoDataFrame:
    """Four unit squares in a row: ML0101, ML0102 (Kayes), ML0205 (Kati), ML0306."""
    return gpd.GeoDataFrame(
        {"pcode": ["ML0101", "ML0102", "ML0205", "ML0306"], "name": ["a", "b", "Kati", "d"]},
        geometry=[box(i, 0, i + 1, 1) for i in range(4)],
        crs="EPSG:4326",
    )


def test_the_shipped_crosswalk_names_every_2015_cercle_with_a_source():
    crosswalk = read_crosswalk(SHIPPED)
    assert len(crosswalk) == 50 and crosswalk["adm2_pcode_2015"].is_unique
    assert set(crosswalk["split"]) <= {"yes", "no", "unknown"}
    assert crosswalk["source_url"].str.startswith("http").all()
    assert crosswalk["region_2023"].nunique() == 19  # Taoudénit holds no 2015 chef-lieu
    bandiagara = crosswalk.set_index("adm2_pcode_2015").loc["ML0502"]
    assert bandiagara["region_2023"] == "Bandiagara" and bandiagara["split"] == "no"


def test_bad_rows_are_all_named_at_once(tmp_path):
    path = _write(
        tmp_path,
        "ML0101,Kayes,Kayes,Kayes,no,,http://a",
        "ML0101,Kayes,Kayes,Kayes,no,,http://a",
        "ML0102,Bafoulabe,Kayes,,perhaps,,",
    )
    with pytest.raises(DataValidationError) as caught:
        read_crosswalk(path)
    text = str(caught.value)
    assert "row 3, field 'adm2_pcode_2015': listed twice" in text
    assert "row 4, field 'region_2023': empty" in text
    assert "row 4, field 'split'" in text
    assert "row 4, field 'source_url'" in text


def test_missing_file_and_columns_are_named(tmp_path):
    with pytest.raises(DataFileError, match="not found"):
        read_crosswalk(tmp_path / "none.csv")
    path = tmp_path / "short.csv"
    path.write_text("adm2_pcode_2015,region_2023\nML0101,Kayes\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="split"):
        read_crosswalk(path)


def test_regions_are_unions_of_cercles_flagged_where_a_cercle_is_split(tmp_path):
    path = _write(
        tmp_path,
        "ML0101,a,Kayes,Kayes,no,,http://a",
        "ML0102,b,Kayes,Kayes,no,,http://a",
        "ML0205,Kati,Koulikouro,Koulikoro,yes,part to Bougouni,http://a",
        "ML0306,d,Sikasso,Bougouni,no,,http://a",
    )
    regions, member = regions_from_cercles(_cercles(), read_crosswalk(path))
    assert list(regions["name"]) == ["Bougouni", "Kayes", "Koulikoro"]
    assert list(regions["pcode"]) == [region_code(n) for n in regions["name"]]
    np.testing.assert_array_equal(member, [1, 1, 2, 0])
    by_name = regions.set_index("name")
    # the région holding Kati, and the one that received part of it, are approximate
    assert by_name.loc["Koulikoro", "approximate"] and by_name.loc["Bougouni", "approximate"]
    assert not by_name.loc["Kayes", "approximate"]
    assert by_name.loc["Kayes", "cercles"] == "ML0101;ML0102"
    assert by_name.loc["Kayes"].geometry.area == pytest.approx(2.0)


def test_a_cercle_missing_from_the_crosswalk_is_named(tmp_path):
    path = _write(tmp_path, "ML0101,a,Kayes,Kayes,no,,http://a")
    with pytest.raises(DataValidationError, match="ML0102 has no row"):
        regions_from_cercles(_cercles(), read_crosswalk(path))


def test_region_code():
    assert region_code("Nioro du Sahel") == "R2023-nioro-du-sahel"
    assert region_code("Ségou") == "R2023-segou"
    with pytest.raises(ValueError, match="name"):
        region_code("  ")
