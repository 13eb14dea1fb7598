"""`orienter providers validate|import`."""

from __future__ import annotations

import csv
import json
import re
import shutil

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point
from typer.testing import CliRunner

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
    from api.services import places as place_service

    settlements = gpd.GeoDataFrame(
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
    gaz = Gazetteer.from_settlements(settlements)
    monkeypatch.setattr(place_service, "load_gazetteer", lambda settings: gaz)
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
    assert "OK, 81 providers (70 public, 11 confidential)" in result.stdout
    assert "osc-segou-spotlight (row 9) and osc-segou-croix-rouge (row 10)" in result.stdout
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


# --------------------------------------------------------------------------- status


def test_status_prints_freshness_per_region(env):
    shutil.copy(FIXTURES / "good_providers.geojson", env / "providers.geojson")
    result = run("status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["P-code", "region", "records", "operating"]
    total = next(line for line in lines if line.lstrip().startswith("total"))
    assert total.split()[:4] == ["total", "Mali", "3", "0"]
    assert "à vérifier" in result.stdout and "older than 12 months" in result.stdout


def test_status_as_csv_and_json(env):
    shutil.copy(FIXTURES / "good_providers.geojson", env / "providers.geojson")
    rows = list(csv.DictReader(run("status", "--format", "csv").stdout.splitlines()))
    assert [r["adm1_pcode"] for r in rows][-2:] == ["none", "total"]
    assert rows[-1]["reported"] == "3"
    data = json.loads(run("status", "--format", "json", "--max-age-months", "6").stdout)
    assert data["meta"]["max_age_months"] == 6
    kidal = next(r for r in data["regions"] if r["adm1_pcode"] == "ML08")
    assert kidal["records"] == 0 and kidal["verified_6m_share"] is None
    assert run("status", "--format", "xml").exit_code == 1


# --------------------------------------------------------------------------- rounds


def _mopti_directory(env):
    raw = json.loads((FIXTURES / "good_providers.geojson").read_text())
    for feature in raw["features"]:
        feature["properties"]["adm1_pcode"] = "ML05"
    (env / "providers.geojson").write_text(json.dumps(raw))


def test_round_writes_the_xlsform_and_the_paper_sheet(env):
    _mopti_directory(env)
    result = run("round", "--region", "Mopti", "--out", str(env / "round.xlsx"))
    assert result.exit_code == 0, result.output
    assert (env / "round.xlsx").is_file() and (env / "round-papier.xlsx").is_file()
    assert "Round of 2 provider(s)" in result.stdout  # the shelter is left out
    paper = pd.read_excel(env / "round-papier.xlsx", dtype=str)
    assert list(paper["provider_id"]) == ["test-osc-mopti", "test-hotline"]
    with_shelter = run(
        "round", "--region", "ML05", "--out", str(env / "r2.xlsx"), "--include-confidential"
    )
    assert "Round of 3 provider(s) (confidential records included)" in with_shelter.stdout
    assert "handle them as confidential" in " ".join(with_shelter.stderr.split())


def test_round_refuses_an_unknown_region_or_a_bad_file_name(env):
    _mopti_directory(env)
    bad = run("round", "--region", "Atlantis", "--out", str(env / "round.xlsx"))
    assert bad.exit_code == 1
    assert "--region unknown région 'Atlantis'" in " ".join(bad.stderr.split())
    wrong = run("round", "--region", "ML05", "--out", str(env / "round.xls"))
    assert wrong.exit_code == 1 and "must end in .xlsx" in " ".join(wrong.stderr.split())
    assert not (env / "round.xlsx").exists()


def test_apply_refuses_the_whole_sheet_then_applies_with_skip_invalid(env):
    target = env / "providers.geojson"
    shutil.copy(FIXTURES / "good_providers.geojson", target)
    sheet = env / "round_results.csv"
    sheet.write_text(
        "provider_id,operating,status_date,phone,verified_on,notes\n"
        "test-osc-mopti,fermé,2026-10-15,,2026-11-20,\n"
        "test-hotline,oui,,80 00 11 33,2026-11-21,\n"
        "osc-atlantis,oui,,,2026-11-21,\n"
    )
    before = target.read_bytes()
    refused = run("apply", str(sheet), "--by", "Sous-cluster VBG Mopti")
    assert refused.exit_code == 1
    assert "row 4, id 'osc-atlantis', field 'provider_id': unknown id" in refused.stdout
    assert "nothing was written" in " ".join(refused.stderr.split())
    assert target.read_bytes() == before and not (env / "providers.changes.jsonl").exists()

    applied = run("apply", str(sheet), "--by", "Sous-cluster VBG Mopti", "--skip-invalid")
    assert applied.exit_code == 0, applied.output
    out = applied.stdout
    assert "test-osc-mopti (row 2, verified 2026-11-20 by Sous-cluster VBG Mopti):" in out
    assert "  status: reported -> historic" in out
    assert "  phone: 80 00 00 00 -> 80 00 11 33" in out
    log = (env / "providers.changes.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in log] == ["test-osc-mopti", "test-hotline"]


# --------------------------------------------------------------------------- export


def test_export_is_public_unless_asked_and_says_so(env):
    shutil.copy(FIXTURES / "good_providers.geojson", env / "providers.geojson")
    result = run("export", "--format", "hxl", "--out", str(env / "public.csv"))
    assert result.exit_code == 0, result.output
    assert "Wrote 2 public records" in result.stdout
    assert "test-shelter-gao" not in (env / "public.csv").read_text()
    everything = run(
        "export", "--format", "geojson", "--out", str(env / "all.geojson"),
        "--include-confidential",
    )  # fmt: skip
    assert "Wrote 3 records (confidential included)" in everything.stdout
    assert "handle it as confidential" in " ".join(everything.stderr.split())
    help_text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", run("export", "--help").stdout).split())
    assert "must then be handled as confidential" in help_text
    assert run("export", "--format", "pdf", "--out", str(env / "x.pdf")).exit_code == 1


def test_validate_lists_possible_duplicates_as_notes(env):
    raw = json.loads((FIXTURES / "good_providers.geojson").read_text())
    twin = json.loads(json.dumps(raw["features"][0]))
    twin["properties"] |= {"id": "twin", "name": "Twin centre", "location_precision": "locality"}
    raw["features"].append(twin)
    (env / "providers.geojson").write_text(json.dumps(raw))
    result = run("validate")
    assert result.exit_code == 0, result.output
    assert "1 possible duplicate(s) to check" in result.stdout
    assert "one_stop_centre: test-osc-mopti (row 1) and twin (row 4), one at its site" in (
        result.stdout
    )
    assert "by status: reported 4." in result.stdout
