"""`orienter providers validate|import`."""

from __future__ import annotations

import csv
import shutil

import geopandas as gpd
import pytest
from shapely.geometry import Point
from typer.testing import CliRunner

from api import cli_places
from api.cli import app
from api.settings import get_settings
from geo.providers import read_providers
from geo.settlements import Gazetteer
from tests.conftest import REPO, TEST_DATA

FIXTURES = TEST_DATA / "providers"


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Settings pointing at the hand-drawn test outline and an empty data directory."""
    monkeypatch.setenv("ORIENTER_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("ORIENTER_BOUNDARIES_DIR", str(FIXTURES / "boundaries"))
    monkeypatch.setenv("ORIENTER_PROVIDERS", str(tmp_path / "providers.geojson"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def gazetteer(monkeypatch):
    places = gpd.GeoDataFrame(
        [
            {
                "pcode": pcode,
                "name": name,
                "alt_names": "",
                "place_class": 3,
                "adm1_pcode": adm3[:4],
                "adm1_name": "Test",
                "adm2_pcode": adm3[:6],
                "adm2_name": "Test",
                "adm3_pcode": adm3,
                "adm3_name": "Test",
                "geometry": Point(lon, lat),
            }
            for pcode, name, adm3, lon, lat in (
                ("ML050101001", "Testville", "ML050101", -4.19, 14.49),
                ("ML070101001", "Refugeville", "ML070101", 0.0, 16.27),
            )
        ],
        crs=4326,
    )
    gaz = Gazetteer.from_settlements(places)
    monkeypatch.setattr(cli_places, "load_gazetteer", lambda: gaz)
    return gaz


def run(*args):
    return CliRunner().invoke(app, ["providers", *args])


def test_validate_lists_each_bad_row_and_exits_non_zero(env):
    result = run("validate", str(FIXTURES / "bad_providers.geojson"))
    assert result.exit_code == 1
    out = result.stdout
    assert "4 problem(s)" in out
    assert "row 2, id 'swapped-mopti', field 'geometry': lat/lon swapped" in out
    assert "row 3, id 'no-name-gao', field 'name': missing" in out
    assert "row 4, id 'unknown-service-tombouctou', field 'services': unknown service" in out
    assert "row 5, id 'niamey-niger', field 'geometry': point (2.11, 13.51) is outside Mali" in out
    assert "row 1," not in out
    assert "is not valid" in " ".join(result.stderr.split())  # wrapped at any width


def test_validate_default_file_summary(env):
    shutil.copy(FIXTURES / "good_providers.geojson", env / "providers.geojson")
    result = run("validate")
    assert result.exit_code == 0, result.output
    assert "OK, 3 providers (2 public, 1 confidential)" in result.stdout
    assert "facility 1, locality 1, none 1" in result.stdout


def test_validate_missing_file(env):
    result = run("validate", str(env / "nope.geojson"))
    assert result.exit_code == 1
    assert "provider file not found" in result.stderr


def test_validate_without_adm0_warns_that_points_were_not_checked(env, monkeypatch):
    monkeypatch.setenv("ORIENTER_BOUNDARIES_DIR", str(env / "none"))
    get_settings.cache_clear()
    result = run("validate", str(FIXTURES / "bad_providers.geojson"))
    assert result.exit_code == 1
    assert "NOT checked against Mali's outline" in result.stderr
    assert "Niger" not in result.stdout and "outside Mali" not in result.stdout


@pytest.mark.integration
def test_validate_the_committed_directory(data_dir, monkeypatch):
    monkeypatch.setenv("ORIENTER_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ORIENTER_BOUNDARIES_DIR", str(data_dir / "boundaries"))
    get_settings.cache_clear()
    try:
        result = run("validate", str(REPO / "data" / "providers.geojson"))
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "OK, 52 providers (43 public, 9 confidential)" in result.stdout
    assert "not checked" not in result.output


def test_import_all_valid_rows(env, gazetteer):
    target = env / "providers.geojson"
    shutil.copy(FIXTURES / "good_providers.geojson", target)
    result = run("import", str(FIXTURES / "import_ok.csv"))
    assert result.exit_code == 0, result.output
    assert "Imported 3 provider(s)" in result.stdout and "previous file kept as" in result.stdout
    assert len(read_providers(target)) == 6
    assert len(list(env.glob("providers.geojson.*.bak"))) == 1


def test_import_with_an_invalid_row_writes_nothing(env, gazetteer):
    target = env / "out.geojson"
    shutil.copy(FIXTURES / "good_providers.geojson", target)
    before = target.read_bytes()
    sheet = env / "sheet.csv"
    sheet.write_text(
        "name,type,services,settlement,source\n"
        "Fine,ngo,P,Testville,https://example.org/a\n"
        "Niamey clinic,ngo,M,Niamey,https://example.org/b\n"
    )
    report = env / "report.csv"
    result = run("import", str(sheet), "--into", str(target), "--report", str(report))
    assert result.exit_code == 1
    assert "row 3, id 'niamey-clinic-niamey', field 'settlement'" in result.stdout
    assert "nothing was written" in result.stderr
    assert target.read_bytes() == before
    assert not list(env.glob("*.bak"))
    rows = list(csv.DictReader(report.open()))
    assert [r["row"] for r in rows] == ["3"]


def test_import_skip_invalid_writes_the_valid_rows(env, gazetteer):
    target = env / "out.geojson"
    sheet = env / "sheet.csv"
    sheet.write_text(
        "name,type,services,lat,lon,source\n"
        "Fine,ngo,P,12.65,-8.0,https://example.org/a\n"
        "In Niger,ngo,M,13.51,2.11,https://example.org/b\n"
    )
    report = env / "report.csv"
    result = run(
        "import", str(sheet), "--into", str(target), "--skip-invalid", "--report", str(report)
    )
    assert result.exit_code == 0, result.output
    assert "Skipped 1 invalid row(s)" in result.stdout
    assert "row 3, id 'in-niger', field 'geometry': point (2.11, 13.51) is outside Mali" in (
        result.stdout
    )
    assert list(read_providers(target)["id"]) == ["fine"]
    assert [r["reason"] for r in csv.DictReader(report.open())] == [
        "point (2.11, 13.51) is outside Mali"
    ]
