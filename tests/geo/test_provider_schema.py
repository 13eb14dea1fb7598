"""One shape per field: every file that validates loads into a Parquet-safe frame."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from geo.errors import DataValidationError
from geo.provider_import import import_providers
from geo.provider_schema import PROVIDER_COLUMNS, normalize_records, parse_date
from geo.provider_validation import name_similarity
from geo.providers import find_possible_duplicates, read_providers, validate_providers
from tests.conftest import TEST_DATA

FIXTURES = TEST_DATA / "providers"


def feature(pid, lon, lat, **props):
    base = {
        "id": pid,
        "name": pid.replace("-", " ").title(),
        "type": "ngo",
        "services": ["psychosocial"],
        "confidential": False,
        "location_precision": "locality",
        "location_source": "hand-written test point",
        "source": ["https://example.org/" + pid],
        "source_date": "2024",
    }
    base.update(props)
    return {
        "type": "Feature",
        "properties": base,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }


def write(tmp_path, features, name="providers.geojson"):
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_string_and_list_sources_load_into_a_parquet_safe_frame(tmp_path):
    path = write(
        tmp_path,
        [
            feature("a", -8.0, 12.65, source="https://example.org/a"),  # a string
            feature("b", -4.19, 14.49, source=["https://example.org/b", "Rapport 2024"]),
            feature("c", 0.0, 16.27, source=" https://example.org/c "),
        ],
    )
    gdf = read_providers(path)
    assert list(gdf["source"]) == [
        ["https://example.org/a"],
        ["https://example.org/b", "Rapport 2024"],
        ["https://example.org/c"],
    ]
    out = tmp_path / "providers.parquet"
    gdf.to_parquet(out)  # pyarrow refused a column mixing str and list before
    back = gpd.read_parquet(out)
    assert [list(s) for s in back["source"]] == list(gdf["source"])


def test_a_directory_extended_by_an_import_still_writes_to_parquet(tmp_path):
    """The reported crash: a string-source directory plus list rows from `providers import`."""
    into = write(tmp_path, [feature("a", -8.0, 12.65, source="https://example.org/a")])
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(
        "name,type,services,lat,lon,source\n"
        "Centre B,ngo,P,14.49,-4.19,https://example.org/b; https://example.org/b2\n"
    )
    import_providers(sheet, into, gazetteer=None)
    raw = json.loads(into.read_text())
    assert [type(f["properties"]["source"]).__name__ for f in raw["features"]] == ["list", "list"]
    gdf = read_providers(into)
    gdf.to_parquet(tmp_path / "p.parquet")
    assert len(gpd.read_parquet(tmp_path / "p.parquet")) == 2


def test_numbers_and_strings_take_the_field_shape(tmp_path):
    path = write(
        tmp_path,
        [
            feature(
                "a",
                -8.0,
                12.65,
                services="medical, legal",
                languages="bambara; français",
                phone=80333,
                source_date=2021,
                other_services="",
                extra_code=7,
            ),
            feature("b", -4.19, 14.49, extra_code="B-7", extra_flag={"x": [1, 2]}),
        ],
    )
    gdf = read_providers(path)
    a = gdf.iloc[0]
    assert a["services"] == ["medical", "legal"]
    assert a["languages"] == ["bambara", "français"]
    assert a["phone"] == "80333" and a["source_date"] == "2021"
    assert a["other_services"] is None
    assert a["status"] == "reported"  # a record without status comes from a source
    assert list(gdf["extra_code"]) == ["7", "B-7"]  # mixed kinds written as text
    assert gdf["extra_flag"].iloc[1] == '{"x": [1, 2]}'
    gdf.to_parquet(tmp_path / "p.parquet")


def test_values_of_the_wrong_kind_are_still_reported_not_hidden(tmp_path):
    path = write(tmp_path, [feature("a", -8.0, 12.65, confidential="false", services=5)])
    with pytest.raises(DataValidationError) as info:
        read_providers(path)
    fields = {p.field for p in info.value.problems}
    assert {"confidential", "services"} <= fields


def test_normalize_keeps_columns_in_file_order_and_none_as_none():
    frame = pd.DataFrame([{"name": "x", "id": "x", "extra": 1}, {"id": "y"}])
    out = normalize_records(frame)
    assert list(out.columns[: len(PROVIDER_COLUMNS)]) == list(PROVIDER_COLUMNS)
    assert out.columns[-1] == "extra"
    assert out.loc[1, "name"] is None and out.loc[1, "phone"] is None
    with pytest.raises(TypeError, match="frame must be"):
        normalize_records([1, 2])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2021", (2021, 1, 1)), ("2021-07", (2021, 7, 1)), ("2021-07-16", (2021, 7, 16))],
)
def test_partial_dates_count_from_their_first_day(text, expected):
    assert parse_date(text).timetuple()[:3] == expected


@pytest.mark.parametrize("text", ["undated", "2021-13", "2021-02-30", "", None, 2021])
def test_parse_date_refuses_what_is_not_a_date(text):
    assert parse_date(text) is None


# --------------------------------------------------------------------- duplicates, same_as


def test_two_sites_of_one_type_within_100_m_are_refused_until_linked(tmp_path):
    features = [
        feature("a", -8.0, 12.65, location_precision="facility"),
        feature("b", -8.0005, 12.65, location_precision="exact"),  # about 54 m west
    ]
    with pytest.raises(DataValidationError) as info:
        read_providers(write(tmp_path, features))
    (problem,) = info.value.problems
    assert (problem.row, problem.field, problem.ident) == (2, "same_as", "b")
    assert "same type (ngo) as row 1 ('a')" in problem.reason and "54 m" in problem.reason
    features[1]["properties"]["same_as"] = "a"
    gdf = read_providers(write(tmp_path, features))
    assert gdf.loc[1, "same_as"] == "a"


def test_a_shared_town_point_alone_is_not_a_duplicate(tmp_path):
    gdf = read_providers(
        write(
            tmp_path,
            [
                feature("a", -8.0, 12.65, name="One Stop Center Ségou (Spotlight)"),
                feature("b", -8.0, 12.65, name="Croix-Rouge One Stop Center Ségou"),
                feature("c", -8.0, 12.65, name="APDF"),  # another organisation, same town
                feature("d", -8.0, 12.65, name="One Stop Center Ségou", type="legal_clinic"),
                feature("e", -8.0003, 12.65, name="Clinic E", location_precision="facility"),
                feature("f", -8.002, 12.65, name="One Stop Center Segou bis"),  # ~217 m away
            ],
        )
    )
    pairs = find_possible_duplicates(gdf)
    found = {(p.id_a, p.id_b): p.reason for p in pairs.itertuples()}
    assert found == {
        ("a", "b"): "similar names",
        ("a", "e"): "one at its site",
        ("b", "e"): "one at its site",
        ("c", "e"): "one at its site",
    }
    assert not pairs["site_level"].any()
    assert validate_providers(gdf) == []  # notes, not errors
    wider = find_possible_duplicates(gdf, distance_m=300)
    assert ("a", "f") in set(zip(wider["id_a"], wider["id_b"], strict=True))


def test_name_similarity_ignores_accents_case_and_small_words():
    assert name_similarity("One Stop Center Ségou", "ONE STOP CENTER SEGOU") == 1.0
    assert name_similarity("Clinique de la paix", "Clinique paix") == 1.0
    assert name_similarity("APDF", "Sini Sanuman") == 0.0
    assert name_similarity(None, "x") == 0.0


def test_same_as_must_name_the_one_record_that_stands_for_the_site(tmp_path):
    features = [
        feature("a", -8.0, 12.65),
        feature("b", -4.19, 14.49, same_as="a"),
        feature("c", 0.0, 16.27, same_as="b"),  # a chain
    ]
    with pytest.raises(DataValidationError) as info:
        read_providers(write(tmp_path, features))
    (problem,) = info.value.problems
    assert problem.row == 3 and "'b' itself has same_as 'a'" in problem.reason


def test_find_possible_duplicates_checks_its_arguments(tmp_path):
    gdf = read_providers(FIXTURES / "good_providers.geojson")
    with pytest.raises(TypeError, match="GeoDataFrame"):
        find_possible_duplicates(pd.DataFrame())
    with pytest.raises(ValueError, match="distance_m"):
        find_possible_duplicates(gdf, distance_m=-1)
    assert find_possible_duplicates(gdf).empty


def test_unlocated_records_need_a_reason(tmp_path):
    ok = feature(
        "national",
        0,
        0,
        location_precision=None,
        location_source="no location: the source names no town",
    )
    ok["geometry"] = None
    gdf = read_providers(write(tmp_path, [ok]))
    assert gdf.geometry.iloc[0] is None
    missing = feature("nowhere", 0, 0, location_precision=None, location_source=None)
    missing["geometry"] = None
    with pytest.raises(DataValidationError, match="only a hotline may have none"):
        read_providers(write(tmp_path, [missing], name="b.geojson"))


def test_copied_fixture_directory_is_untouched_by_reading(tmp_path):
    target = tmp_path / "good.geojson"
    shutil.copy(FIXTURES / "good_providers.geojson", target)
    before = target.read_bytes()
    read_providers(target).to_parquet(tmp_path / "good.parquet")
    assert target.read_bytes() == before
    assert Point(-4.19, 14.49).equals(gpd.read_parquet(tmp_path / "good.parquet").geometry[0])
