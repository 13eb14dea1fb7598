"""Importing a 4W service-mapping sheet into the provider directory."""

from __future__ import annotations

import csv
import json
import shutil

import geopandas as gpd
import pandas as pd
import pytest
from openpyxl import Workbook
from shapely.geometry import Point, shape

from geo.errors import DataFileError, DataValidationError
from geo.provider_import import import_providers, read_sheet, write_import_report
from geo.providers import read_providers
from geo.settlements import Gazetteer
from tests.conftest import TEST_DATA

FIXTURES = TEST_DATA / "providers"
HEADER = "name,type,services,region,settlement,pcode,lat,lon,confidential,source,source_date\n"


def _place(pcode, name, klass, adm3, lon, lat):
    return {
        "pcode": pcode,
        "name": name,
        "alt_names": "",
        "place_class": klass,
        "adm1_pcode": adm3[:4],
        "adm1_name": {"ML02": "Koulikoro", "ML05": "Mopti", "ML07": "Gao"}[adm3[:4]],
        "adm2_pcode": adm3[:6],
        "adm2_name": "Test cercle",
        "adm3_pcode": adm3,
        "adm3_name": "Test commune",
        "geometry": Point(lon, lat),
    }


@pytest.fixture(scope="module")
def gazetteer():
    """A real Gazetteer over fictitious places (no data directory needed)."""
    places = gpd.GeoDataFrame(
        [
            _place("ML050101001", "Testville", 3, "ML050101", -4.19, 14.49),
            # the same town listed again as a village of the same commune
            _place("ML050101002", "Testville", 5, "ML050101", -4.191, 14.491),
            _place("ML050101003", "Testville Koura", 5, "ML050101", -4.25, 14.52),
            _place("ML020101004", "Doublon", 5, "ML020101", -7.5, 12.9),
            _place("ML070101005", "Doublon", 5, "ML070101", 0.1, 16.1),
            _place("ML070101001", "Refugeville", 3, "ML070101", 0.0, 16.27),
        ],
        crs=4326,
    )
    return Gazetteer.from_settlements(places)


@pytest.fixture(scope="module")
def rough_mali():
    raw = json.loads((FIXTURES / "boundaries" / "rough_adm0_test.geojson").read_text())
    return shape(raw["features"][0]["geometry"])


def sheet(tmp_path, rows, name="sheet.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_all_valid_rows_are_imported_and_located(tmp_path, gazetteer):
    into = tmp_path / "providers.geojson"
    result = import_providers(FIXTURES / "import_ok.csv", into, gazetteer)
    assert result.problems == [] and result.backup is None and result.written == into
    gdf = read_providers(into).set_index("id")
    assert list(gdf.index) == result.added_ids and len(gdf) == 3

    clinic = gdf.loc["test-clinique-juridique-testville"]
    assert clinic["location_precision"] == "locality"
    assert clinic.geometry.equals(Point(-4.19, 14.49))  # the capital, not the village twin
    assert (clinic["adm1_pcode"], clinic["adm3_pcode"]) == ("ML05", "ML050101")
    assert clinic["services"] == ["legal"] and clinic["source_date"] == "2024-05"
    # a sheet's date is the source's date, not a verification with the provider
    assert clinic["last_verified"] is None and clinic["status"] == "reported"

    centre = gdf.loc["test-centre"]
    assert centre["location_precision"] == "exact"
    assert centre.geometry.equals(Point(-8.0, 12.65))  # lon first
    assert centre["services"] == ["medical", "psychosocial"]
    assert centre["other_services"] == ["referral"]

    refuge = gdf.loc["test-refuge"]
    assert refuge["confidential"] is True  # shelter, confidential cell left empty
    assert refuge["location_precision"] == "locality"
    assert refuge["adm1_pcode"] == "ML07" and refuge["last_verified"] is None


def test_one_invalid_row_writes_nothing_and_keeps_the_file(tmp_path, gazetteer, rough_mali):
    into = tmp_path / "providers.geojson"
    shutil.copy(FIXTURES / "good_providers.geojson", into)
    before = into.read_bytes()
    path = sheet(
        tmp_path,
        [
            "Good one,ngo,P,ML05,Testville,,,,,https://example.org/1,2024",
            "Bad service,ngo,counselling,ML05,Testville,,,,,https://example.org/2,2024",
            "Swapped,ngo,M,,,,-8.0,12.65,,https://example.org/3,2024",
        ],
    )
    with pytest.raises(DataValidationError) as info:
        import_providers(path, into, gazetteer, country=rough_mali)
    found = {(p.row, p.field): p.reason for p in info.value.problems}
    assert "unknown service 'counselling'" in found[(3, "services")]
    assert "lat/lon swapped" in found[(4, "geometry")]
    assert {p.row for p in info.value.problems} == {3, 4}
    assert into.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["providers.geojson", "sheet.csv"]


def test_skip_invalid_writes_valid_rows_and_reports_the_others(tmp_path, gazetteer):
    into = tmp_path / "providers.geojson"
    shutil.copy(FIXTURES / "good_providers.geojson", into)
    before = into.read_bytes()
    path = sheet(
        tmp_path,
        [
            "Good one,ngo,P,ML05,Testville,,,,,https://example.org/1,2024",
            ",ngo,P,ML05,Testville,,,,,https://example.org/2,2024",
            "Nowhere,ngo,P,,,,,,,https://example.org/3,2024",
        ],
    )
    result = import_providers(path, into, gazetteer, skip_invalid=True)
    assert result.added_ids == ["good-one-testville"]
    assert result.skipped_rows == [3, 4]
    reasons = {(p.row, p.field): p.reason for p in result.problems}
    assert reasons[(3, "name")] == "missing"
    assert reasons[(4, "settlement")].startswith("no location")
    gdf = read_providers(into)
    assert list(gdf["id"]) == [
        "test-osc-mopti",
        "test-shelter-gao",
        "test-hotline",
        "good-one-testville",
    ]
    assert result.backup is not None and result.backup.read_bytes() == before

    report = write_import_report(result.problems, tmp_path / "report.csv")
    with report.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["row"], r["field"]) for r in rows] == [("3", "name"), ("4", "settlement")]


def test_settlement_names_must_match_one_place_exactly(tmp_path, gazetteer):
    into = tmp_path / "providers.geojson"
    path = sheet(
        tmp_path,
        [
            "A,ngo,P,,Doublon,,,,,https://example.org/a,2024",
            "B,ngo,P,,Testvile,,,,,https://example.org/b,2024",
            "C,ngo,P,Gao,Doublon,,,,,https://example.org/c,2024",
            "D,ngo,P,Atlantis,Testville,,,,,https://example.org/d,2024",
            "E,ngo,P,,,ML999999999,,,,https://example.org/e,2024",
            "F,ngo,P,Koulikoro,Refugeville,,,,,https://example.org/f,2024",
            "G,ngo,P,ML05,,ML070101001,,,,https://example.org/g,2024",
        ],
    )
    result = import_providers(path, into, gazetteer, skip_invalid=True)
    reasons = {p.row: p.reason for p in result.problems}
    assert "names 2 places in different communes" in reasons[2]
    assert "add a région column or give a P-code" in reasons[2]
    assert "no settlement is named exactly 'Testvile'" in reasons[3]
    assert "Testville (ML050101001" in reasons[3]  # a suggestion, not a silent guess
    assert "unknown région 'Atlantis'" in reasons[5]
    assert "'ML999999999' is not in the gazetteer" in reasons[6]
    assert reasons[7].startswith("no settlement in région ML02 matches 'Refugeville'")
    assert reasons[8] == "Refugeville (ML070101001) is in ML07, not in the région given (ML05)"
    assert result.added_ids == ["c-doublon"]  # the région resolves the ambiguity
    gdf = read_providers(into)
    assert gdf.geometry.iloc[0].equals(Point(0.1, 16.1)) and gdf["adm1_pcode"].iloc[0] == "ML07"


def test_rows_clashing_with_the_existing_directory_are_refused(tmp_path, gazetteer):
    into = tmp_path / "providers.geojson"
    shutil.copy(FIXTURES / "good_providers.geojson", into)
    path = sheet(
        tmp_path,
        [
            "Test One Stop Centre,one_stop_centre,M,,,,14.49,-4.19,,https://example.org/x,2024",
            "Other,ngo,P,,,,14.5,-4.2,,https://example.org/y,2024",
        ],
    )
    result = import_providers(path, into, gazetteer, skip_invalid=True)
    reasons = {(p.row, p.field): p.reason for p in result.problems}
    assert reasons[(2, "name")] == (
        "duplicate of feature 1 of the existing directory: same name at the same place"
    )
    assert result.added_ids == ["other"]


def test_confidential_rows_cannot_carry_a_site_address_or_phone(tmp_path, gazetteer):
    header = "name,type,services,settlement,region,lat,lon,address,phone,source\n"
    path = tmp_path / "s.csv"
    path.write_text(
        header
        + "Refuge A,ngo,S,,,12.65,-8.0,,,https://example.org/a\n"
        + "Refuge B,ngo,S,Testville,ML05,,,Rue 5,,https://example.org/b\n"
        + "Refuge C,ngo,S,Testville,ML05,,,,70 00 00 00,https://example.org/c\n"
    )
    with pytest.raises(DataValidationError) as info:
        import_providers(path, tmp_path / "p.geojson", gazetteer)
    found = {(p.row, p.field) for p in info.value.problems}
    assert found == {(2, "location_precision"), (3, "address"), (4, "phone")}
    assert not (tmp_path / "p.geojson").exists()


def test_xlsx_sheet_and_a_duck_typed_gazetteer(tmp_path):
    class FakeGazetteer:
        def search(self, query, *, region=None, limit=10):
            rows = [
                {
                    "pcode": "ML070101001",
                    "name": "Refugeville",
                    "adm1_pcode": "ML07",
                    "adm2_pcode": "ML0701",
                    "adm3_pcode": "ML070101",
                    "place_class": 3,
                    "lon": 0.0,
                    "lat": 16.27,
                    "score": 100.0 if query.lower() == "refugeville" else 80.0,
                }
            ]
            return pd.DataFrame(rows)

        def lookup_pcode(self, pcode):
            return None

    book = Workbook()
    ws = book.active
    ws.append(["Nom", "Type", "Services", "Localité", "Latitude", "Longitude", "Source"])
    ws.append(["Centre X", "ONG", "M / P", "Refugeville", None, None, "https://example.org/x"])
    ws.append(["Centre Y", "OSC", "M", None, 14.49, -4.19, "https://example.org/y"])
    ws.append([None] * 7)  # blank rows are ignored
    path = tmp_path / "sheet.xlsx"
    book.save(path)
    result = import_providers(path, tmp_path / "p.geojson", FakeGazetteer())
    assert result.problems == []
    gdf = read_providers(tmp_path / "p.geojson").set_index("id")
    assert gdf.loc["centre-x-refugeville", "type"] == "ngo"
    assert gdf.loc["centre-x-refugeville", "town"] == "Refugeville"
    assert gdf.loc["centre-y", "type"] == "one_stop_centre"
    assert gdf.loc["centre-y"].geometry.equals(Point(-4.19, 14.49))
    assert gdf.loc["centre-y", "source_date"] == "undated"


def test_failed_write_keeps_the_previous_file(tmp_path, gazetteer, monkeypatch):
    into = tmp_path / "providers.geojson"
    shutil.copy(FIXTURES / "good_providers.geojson", into)
    before = into.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("geo.providers.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        import_providers(FIXTURES / "import_ok.csv", into, gazetteer)
    assert into.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_unreadable_sheets(tmp_path, gazetteer):
    with pytest.raises(DataFileError, match="not found"):
        read_sheet(tmp_path / "missing.csv")
    odd = tmp_path / "sheet.ods"
    odd.write_text("x")
    with pytest.raises(DataFileError, match=r"use \.csv or \.xlsx"):
        read_sheet(odd)
    nameless = tmp_path / "nameless.csv"
    nameless.write_text("type;services\nngo;P\n")
    with pytest.raises(DataFileError, match="no name column"):
        read_sheet(nameless)
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("Nom;Services\nA;M, P\n")
    assert read_sheet(semicolons).loc[2, "services"] == "M, P"


# --------------------------------------------------------------------------- HXL


def test_hxl_hashtag_row_under_the_header(tmp_path, gazetteer):
    path = tmp_path / "4w.csv"
    path.write_text(
        "Partenaire,Type,Cluster,Activité VBG,Région,Localité,Lat,Long,Source\n"
        "#org+name+impl,#org+type,#sector+cluster,#sector,#adm1+code,#loc+name,#geo+lat,"
        "#geo+lon,#meta+source\n"
        'Centre HXL,ONG,Protection,"M, P",ML05,Testville,,,https://example.org/hxl\n'
        "Clinique HXL,legal_clinic,Protection,L,,,12.65,-8.0,https://example.org/hxl2\n",
        encoding="utf-8",
    )
    table = read_sheet(path)
    assert list(table.index) == [3, 4]  # header row 1, hashtag row 2
    assert "region" in table.columns and "settlement" in table.columns
    result = import_providers(path, tmp_path / "p.geojson", gazetteer)
    gdf = read_providers(tmp_path / "p.geojson").set_index("id")
    centre = gdf.loc["centre-hxl-testville"]
    assert centre["services"] == ["medical", "psychosocial"] and centre["adm1_pcode"] == "ML05"
    assert gdf.loc["clinique-hxl"].geometry.equals(Point(-8.0, 12.65))
    assert result.problems == []


def test_hxl_hashtags_instead_of_a_header_in_an_xlsx(tmp_path):
    book = Workbook()
    ws = book.active
    ws.append(
        ["#org", "#org+type", "#service", "#adm1+name", "#geo+lat", "#geo+lon", "#meta+source"]
    )
    ws.append(["Centre Z", "ONG", "P", "Mopti", 14.49, -4.19, "https://example.org/z"])
    path = tmp_path / "hxl.xlsx"
    book.save(path)
    table = read_sheet(path)
    assert list(table.index) == [2]
    import_providers(path, tmp_path / "p.geojson", None)
    record = read_providers(tmp_path / "p.geojson").iloc[0]
    assert (record["name"], record["type"], record["adm1_pcode"]) == ("Centre Z", "ngo", "ML05")


def test_two_hxl_columns_for_one_field_are_refused(tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text("#org+name,#org+name+impl\nA,B\n")
    with pytest.raises(DataFileError, match="two columns mean 'name'"):
        read_sheet(path)
    unnamed = tmp_path / "unnamed.csv"
    unnamed.write_text("#sector,#geo+lat\nP,12\n")
    with pytest.raises(DataFileError, match="tag it #org\\+name"):
        read_sheet(unnamed)
