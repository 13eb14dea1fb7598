"""Provider directory: reading, validation, confidentiality, atomic writing."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point, shape

from geo.errors import DataFileError, DataValidationError
from geo.providers import (
    LOCALIZED_FIELDS,
    LOCATION_PRECISIONS,
    PROVIDER_TYPES,
    SERVICES,
    localized,
    localized_frame,
    provider_summary,
    public_providers,
    read_providers,
    to_feature_collection,
    validate_providers,
    write_providers,
)
from tests.conftest import REPO, TEST_DATA

FIXTURES = TEST_DATA / "providers"
DATA_FILE = REPO / "data" / "providers.geojson"


@pytest.fixture(scope="module")
def rough_mali():
    """The hand-drawn test outline (contains Bamako, Mopti, Gao; leaves out Niamey)."""
    raw = json.loads((FIXTURES / "boundaries" / "rough_adm0_test.geojson").read_text())
    return shape(raw["features"][0]["geometry"])


def record(**overrides):
    """One valid public provider feature; keyword arguments replace properties."""
    props = {
        "id": "test-clinic",
        "name": "Test clinic",
        "type": "legal_clinic",
        "services": ["legal"],
        "confidential": False,
        "location_precision": "locality",
        "location_source": "hand-written test point",
        "source": ["https://example.org/x"],
        "source_date": "2021-07",
    }
    geometry = overrides.pop("geometry", {"type": "Point", "coordinates": [-8.0, 12.65]})
    props.update(overrides)
    props = {k: v for k, v in props.items() if v is not _DROP}
    return {"type": "Feature", "properties": props, "geometry": geometry}


_DROP = object()


def write_fc(tmp_path: Path, features, name="providers.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


TODAY = date(2026, 12, 7)


def problems_of(tmp_path, features, country=None):
    with pytest.raises(DataValidationError) as info:
        read_providers(write_fc(tmp_path, features), country=country, as_of=TODAY)
    return info.value.problems


def test_vocabularies_match_the_schema():
    assert SERVICES == ("medical", "psychosocial", "legal", "reintegration", "shelter")
    assert "hotline" in PROVIDER_TYPES and "one_stop_centre" in PROVIDER_TYPES
    assert LOCATION_PRECISIONS[:3] == ("exact", "facility", "locality")


def test_reads_valid_file_in_epsg4326_with_list_services():
    gdf = read_providers(FIXTURES / "good_providers.geojson")
    assert isinstance(gdf, gpd.GeoDataFrame)
    assert gdf.crs.to_epsg() == 4326
    assert list(gdf["id"]) == ["test-osc-mopti", "test-shelter-gao", "test-hotline"]
    assert gdf.loc[0, "services"] == ["medical", "psychosocial", "legal"]
    assert gdf.geometry.iloc[0].equals(Point(-4.19, 14.49))
    assert gdf.geometry.iloc[2] is None  # a hotline has no place


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot be read as GeoJSON"),
        ('{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
        ('{"type": "FeatureCollection"}', "'features' is missing"),
        (
            '{"type": "FeatureCollection", "features": [], '
            '"crs": {"type": "name", "properties": {"name": "EPSG:32630"}}}',
            "EPSG:32630",
        ),
    ],
)
def test_unreadable_files_raise_data_file_error(tmp_path, content, message):
    path = tmp_path / "p.geojson"
    path.write_text(content)
    with pytest.raises(DataFileError, match=message):
        read_providers(path)


def test_missing_file_raises_data_file_error(tmp_path):
    with pytest.raises(DataFileError, match="not found"):
        read_providers(tmp_path / "nope.geojson")


def test_bad_fixture_lists_every_bad_row_with_its_reason(rough_mali):
    with pytest.raises(DataValidationError) as info:
        read_providers(FIXTURES / "bad_providers.geojson", country=rough_mali)
    by_row = {(p.row, p.field): p.reason for p in info.value.problems}
    assert "lat/lon swapped" in by_row[(2, "geometry")]
    assert by_row[(3, "name")] == "missing"
    assert "unknown service 'counselling'" in by_row[(4, "services")]
    assert by_row[(5, "geometry")] == "point (2.11, 13.51) is outside Mali"
    assert {p.row for p in info.value.problems} == {2, 3, 4, 5}  # row 1 is valid
    text = str(info.value)
    assert "row 2, id 'swapped-mopti'" in text and "4 problem(s)" in text


def test_without_country_points_are_not_checked_against_mali():
    with pytest.raises(DataValidationError) as info:
        read_providers(FIXTURES / "bad_providers.geojson")
    assert {p.row for p in info.value.problems} == {3, 4}


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"type": "clinic"}, "type", "unknown type 'clinic'"),
        ({"location_precision": "street"}, "location_precision", "unknown precision 'street'"),
        ({"services": {"legal": True}}, "services", "must be a list"),
        ({"services": "counselling"}, "services", "unknown service 'counselling'"),
        ({"phone": True}, "phone", "must be text"),
        ({"source": [3]}, "source", "must be a URL or document name"),
        ({"services": _DROP}, "services", "missing"),
        ({"source": _DROP}, "source", "missing"),
        ({"source_date": "July 2021"}, "source_date", "is not a date"),
        ({"source_date": "2021-13"}, "source_date", "not a real date"),
        ({"last_verified": "2999-01-01", "verified_by": "x"}, "last_verified", "in the future"),
        ({"last_verified": "2026-11-20"}, "verified_by", "say who verified"),
        ({"verified_by": "Sous-cluster VBG"}, "last_verified", "not the date"),
        ({"status": "operating"}, "status", "confirmed by a verification"),
        ({"status": "suspended"}, "status_date", "needs the date it was suspended"),
        ({"status_date": "soon"}, "status_date", "is not a date"),
        ({"unconfirmed_since": "2017-02-30"}, "unconfirmed_since", "not a real date"),
        ({"same_as": "test-clinic"}, "same_as", "cannot be the same site as itself"),
        ({"same_as": "elsewhere"}, "same_as", "not an id of this directory"),
        ({"confidential": "false"}, "confidential", "must be true or false"),
        ({"confidential": _DROP}, "confidential", "missing"),
        ({"confidence": "very high"}, "confidence", "unknown grade"),
        ({"status": "open"}, "status", "unknown status"),
        ({"id": "Test Clinic"}, "id", "not a slug"),
        ({"adm1_pcode": "ML05", "adm2_pcode": "ML0401"}, "adm2_pcode", "not inside adm1"),
        ({"adm3_pcode": "ML05"}, "adm3_pcode", "not an ADM3 P-code"),
        ({"location_source": _DROP}, "location_source", "missing"),
        (
            {"geometry": None, "location_source": _DROP},
            "geometry",
            "only a hotline may have none without a reason",
        ),
        (
            {"geometry": {"type": "LineString", "coordinates": [[0, 15], [1, 15]]}},
            "geometry",
            "must be a Point",
        ),
        ({"geometry": {"type": "Point", "coordinates": [200, 12]}}, "geometry", "not lon/lat"),
    ],
)
def test_each_kind_of_bad_value_is_reported(tmp_path, overrides, field, reason):
    problems = problems_of(tmp_path, [record(**overrides)])
    assert any(p.field == field and reason in p.reason for p in problems), problems


def test_shelter_must_be_confidential_and_hidden(tmp_path):
    problems = problems_of(
        tmp_path,
        [
            record(services=["shelter"], confidential=False),
            record(
                id="b",
                name="Other shelter",
                services=["shelter"],
                confidential=True,
                address="Rue 1",
                phone="12 34 56 78",
                location_precision="facility",
            ),
        ],
    )
    reasons = {(p.row, p.field): p.reason for p in problems}
    assert "must be confidential" in reasons[(1, "confidential")]
    assert "must not carry an address" in reasons[(2, "address")]
    assert "must not carry an address or phone" in reasons[(2, "phone")]
    assert "located at its town" in reasons[(2, "location_precision")]


def test_duplicate_ids_and_same_name_at_same_place(tmp_path):
    problems = problems_of(
        tmp_path,
        [
            record(),
            record(name="Another clinic"),  # same id
            record(id="copy", name="TEST  Clinic"),  # same name (normalised), same point
            record(id="elsewhere", geometry={"type": "Point", "coordinates": [-4.19, 14.49]}),
        ],
    )
    found = {(p.row, p.field, p.reason) for p in problems}
    assert (2, "id", "duplicate id, also used by row 1") in found
    assert (3, "name", "duplicate of row 1: same name at the same place") in found
    assert not any(p.row == 4 for p in problems)  # same name elsewhere is another site


def test_null_geometry_only_for_hotlines(tmp_path):
    ok = record(type="hotline", services=[], location_precision=None, geometry=None)
    gdf = read_providers(write_fc(tmp_path, [ok]))
    assert gdf.geometry.iloc[0] is None
    problems = problems_of(tmp_path, [record(type="hotline", services=[], geometry=None)])
    assert [(p.field, p.reason) for p in problems] == [
        ("location_precision", "must be null when the record has no geometry")
    ]


def test_unparseable_geometry_is_one_problem(tmp_path):
    problems = problems_of(tmp_path, [record(geometry={"type": "Point", "coordinates": "x"})])
    assert len(problems) == 1 and problems[0].field == "geometry"


def test_validate_providers_checks_its_arguments():
    with pytest.raises(TypeError, match="GeoDataFrame"):
        validate_providers([])
    gdf = read_providers(FIXTURES / "good_providers.geojson")
    with pytest.raises(TypeError, match="shapely geometry"):
        validate_providers(gdf, country="Mali")
    with pytest.raises(ValueError, match="EPSG:4326"):
        validate_providers(gdf.dropna(subset=["geometry"]).to_crs(3857))


def test_public_providers_drops_confidential_and_fails_closed():
    gdf = read_providers(FIXTURES / "good_providers.geojson")
    public = public_providers(gdf)
    assert list(public["id"]) == ["test-osc-mopti", "test-hotline"]
    tampered = gdf.copy()
    tampered["confidential"] = [None, False, "false"]
    assert list(public_providers(tampered)["id"]) == ["test-shelter-gao"]
    assert public_providers(gdf.drop(columns="confidential")).empty


def test_frames_built_with_a_bool_column_validate_and_filter():
    gdf = read_providers(FIXTURES / "good_providers.geojson")
    gdf["confidential"] = gdf["confidential"].astype(bool)  # numpy booleans
    assert validate_providers(gdf) == []
    assert list(public_providers(gdf)["id"]) == ["test-osc-mopti", "test-hotline"]
    gdf.loc[1, "confidential"] = False  # a shelter made public must be caught
    assert [p.field for p in validate_providers(gdf)] == ["confidential"]


def test_summary_counts():
    summary = provider_summary(read_providers(FIXTURES / "good_providers.geojson"))
    assert summary["total"] == 3 and summary["public"] == 2 and summary["confidential"] == 1
    assert summary["by_precision"] == {"facility": 1, "locality": 1, "none": 1}


def test_write_round_trips_and_keeps_a_backup(tmp_path):
    gdf = read_providers(FIXTURES / "good_providers.geojson")
    target = tmp_path / "out.geojson"
    assert write_providers(gdf, target) is None  # nothing to back up yet
    again = read_providers(target)
    assert to_feature_collection(again) == to_feature_collection(gdf)
    before = target.read_bytes()
    backup = write_providers(gdf.iloc[:1], target)
    assert backup is not None and backup.read_bytes() == before
    assert len(read_providers(target)) == 1
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    gdf = read_providers(FIXTURES / "good_providers.geojson")
    target = tmp_path / "out.geojson"
    write_providers(gdf, target)
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("geo.providers.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_providers(gdf.iloc[:1], target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ----------------------------------------------------------------- the committed directory


@pytest.fixture(scope="module")
def directory():
    return read_providers(DATA_FILE)


def test_directory_is_valid_and_sourced(directory):
    assert len(directory) >= 40
    assert directory["id"].is_unique
    for _, row in directory.iterrows():
        assert row["source"] and all(s.strip() for s in row["source"]), row["id"]
        assert row["source_date"], row["id"]
        # last_verified is a verification with the provider, never the source's date
        if row["last_verified"] is None:
            assert row["verified_by"] is None and row["status"] != "operating", row["id"]
        else:
            assert row["verified_by"], row["id"]


def test_no_confidential_record_has_an_address_or_phone(directory):
    confidential = directory[directory["confidential"].map(lambda v: v is not False)]
    assert len(confidential) >= 5
    for _, row in confidential.iterrows():
        assert row["address"] is None and row["phone"] is None, row["id"]
        if row.geometry is None:  # the source names no town: unlocated, and says why
            assert row["location_precision"] is None and row["location_source"], row["id"]
        else:
            assert row["location_precision"] == "locality", row["id"]
    shelters = directory[directory["services"].map(lambda s: "shelter" in s)]
    assert shelters["confidential"].map(lambda v: v is True).all()


def test_directory_phones_are_only_the_published_hotlines(directory):
    phones = directory[directory["phone"].notna()]
    assert set(phones["phone"]) == {"80 00 11 32", "80333"}
    assert set(phones["type"]) == {"hotline"}
    for note in phones["notes"]:
        assert "NOT CONFIRMED LIVE AFTER 2017" in note
    # the caveat as a field the outputs can print ("non confirmé depuis 2017")
    assert set(phones["unconfirmed_since"]) == {"2017"}


def test_facility_points_cite_the_who_kemri_list(directory):
    facility = directory[directory["location_precision"] == "facility"]
    assert len(facility) >= 4
    for source in facility["location_source"]:
        assert source.startswith("WHO/KEMRI health facility list (Maina et al. 2019), facility '")
    # the doubtful 'Somino Dolo Hopital' point is not used for the Mopti OSC
    mopti = directory.set_index("id").loc["osc-mopti"]
    assert mopti["location_precision"] == "locality"
    assert "Somino Dolo Hopital" in mopti["notes"] and "doubtful" in mopti["notes"]


def test_redrawn_regions_use_2015_pcodes(directory):
    by_id = directory.set_index("id")
    assert by_id.loc["osc-kolondieba", "adm1_pcode"] == "ML03"  # Bougouni région in 2023
    assert by_id.loc["osc-san-croix-rouge", "adm1_pcode"] == "ML04"  # San région in 2023
    assert by_id.loc["pui-bandiagara", "adm1_pcode"] == "ML05"  # Bandiagara région in 2023


@pytest.mark.integration
def test_directory_points_lie_in_mali_and_in_their_region(data_dir):
    adm0 = gpd.read_file(data_dir / "boundaries" / "mli_adm0_ocha_cod_2015.geojson")
    adm1 = gpd.read_file(data_dir / "boundaries" / "mli_adm1_ocha_cod_2015.geojson")
    directory = read_providers(DATA_FILE, country=adm0.to_crs(4326).union_all())
    located = directory[directory.geometry.notna()]
    regions = adm1.to_crs(4326).set_index("admin1Pcod").geometry
    for _, row in located.iterrows():
        assert regions[row["adm1_pcode"]].covers(row.geometry), row["id"]


def test_record_helper_is_valid(tmp_path):
    """Guard for the parametrised tests above: the base record itself passes."""
    gdf = read_providers(write_fc(tmp_path, [copy.deepcopy(record())]))
    assert list(gdf["id"]) == ["test-clinic"]


def test_part_two_of_the_facts_is_in_the_directory(directory):
    by_id = directory.set_index("id")
    regions = directory["adm1_pcode"]
    assert (regions == "ML08").sum() >= 1  # Kidal had no record
    menaka = directory[directory["town"].fillna("").str.startswith("Ménaka")]
    assert len(menaka) >= 4 and set(menaka["adm1_pcode"]) == {"ML07"}
    assert (regions == "ML03").sum() >= 4  # Sikasso had two
    # project periods that ended are historic, with the date they ended
    for ident, ended in (
        ("amss-unfpa-menaka", "2025-12-31"),
        ("amss-protect-sikasso", "2025-11-30"),
        ("amss-aea-segou", "2026-03-31"),
    ):
        assert (by_id.loc[ident, "status"], by_id.loc[ident, "status_date"]) == ("historic", ended)
    # self-published AMSS items cite the website source at its commit and date
    amss = directory[directory["id"].str.startswith("amss-")]
    assert len(amss) >= 8
    for _, row in amss.iterrows():
        assert any("amss-website/blob/0902442b" in s for s in row["source"]), row["id"]
        assert row["confidence"] in ("Low", "Low-Med"), row["id"]
    # shelters: organisation and town only; IOM names no town, so it is unlocated
    assert by_id.loc["enda-bamako", "confidential"] is True
    iom = by_id.loc["iom-mali-protection"]
    assert iom["confidential"] is True and iom.geometry is None
    assert iom["location_source"].startswith("no location")


def test_known_problems_of_the_issue(directory):
    by_id = directory.set_index("id")
    assert by_id.loc["imc-tombouctou", "status"] == "historic"  # Oct 2019–Mar 2020
    assert by_id.loc["imc-tombouctou", "status_date"] == "2020-03"
    assert by_id.loc["fondation-hera-kati", "status"] == "planned"
    # the sources do not say the two Ségou OSCs are one site: not linked (docs/providers.md)
    assert by_id.loc["osc-segou-spotlight", "same_as"] is None
    assert by_id.loc["osc-segou-croix-rouge", "same_as"] is None
    assert (
        by_id.loc["osc-tombouctou", "source_date"],
        by_id.loc["osc-tombouctou", "confidence"],
    ) == (
        "2020-02",
        "High",
    )
    oscs = directory[directory["type"] == "one_stop_centre"]
    assert all("2025 status needs checking" in n for n in oscs["notes"])


def test_area_records_leave_the_finer_pcodes_empty(directory):
    for _, row in directory.iterrows():
        if row["location_precision"] == "region":
            assert row["adm2_pcode"] is None and row["adm3_pcode"] is None, row["id"]
        if row["location_precision"] == "cercle":
            assert row["adm2_pcode"] and row["adm3_pcode"] is None, row["id"]


#: Words that give English away in a display field (none is French).
ENGLISH = re.compile(
    r"\b(of|with|within|the|and|regional|hospital|referral|project|network|"
    r"described|head office|press|women's|child-friendly|listening|northern|exit|"
    r"settlement|rural|safe space|care unit|supported|fitted|courtyard|violence against|"
    r"girls|planned|shelter|protection assistance|residential|survivors)\b",
    re.IGNORECASE,
)
#: Organisations' own names, English or not, which no page translates.
PROPER_NAMES = re.compile(r"Save the Children|Family Care International|One Stop Center")


def test_french_display_fields_hold_no_english_and_english_ones_exist():
    """Never English on a French page: the display fields are French, with the sources'
    English kept as <field>_en for the English pages."""
    directory = read_providers(REPO / "data" / "providers.geojson")
    french = localized_frame(directory, "fr")
    english = localized_frame(directory, "en")
    found = []
    for field in LOCALIZED_FIELDS:
        for pid, text in zip(french["id"], french[field], strict=True):
            if isinstance(text, str) and ENGLISH.search(PROPER_NAMES.sub("", text)):
                found.append((pid, field, text))
    assert not found, found
    bandiagara = english.set_index("id").loc["pui-bandiagara"]
    assert bandiagara["town"] == "cercle of Bandiagara"
    assert localized({"name": "Cercle de Kayes", "name_en": "cercle of Kayes"}, "en") == {
        "name": "cercle of Kayes"
    }
    assert "name_en" not in french.columns
