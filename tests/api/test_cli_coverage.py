"""`orienter coverage` and `orienter site` on a car/baseline build of the real data."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import get_settings

pytestmark = pytest.mark.integration

REQUIRED = [
    "pcode",
    "name",
    "population",
    "pop_within_60",
    "pop_within_120",
    "pop_within_300",
    "share_within_120",
    "median_time_min",
]


@pytest.fixture(scope="module")
def built(data_dir, tmp_path_factory):
    build_dir = tmp_path_factory.mktemp("build")
    providers = tmp_path_factory.mktemp("prov") / "providers.geojson"
    shutil.copy("data/providers.geojson", providers)
    mp = pytest.MonkeyPatch()
    for key, value in {
        "ORIENTER_DATA_DIR": str(data_dir),
        "ORIENTER_BUILD_DIR": str(build_dir),
        "ORIENTER_PROVIDERS": str(providers),
        "ORIENTER_BOUNDARIES_DIR": str(build_dir / "no-user-boundaries"),
    }.items():
        mp.setenv(key, value)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["build", "--mode", "car", "--scenario", "baseline"])
    assert result.exit_code == 0, result.output
    yield build_dir
    mp.undo()
    get_settings.cache_clear()


def _untimed(answer: dict) -> dict:
    """An answer without its timing."""
    return {**answer, "meta": {k: v for k, v in answer["meta"].items() if k != "seconds"}}


def _run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_coverage_json_adm1(built):
    payload = json.loads(_run("coverage", "--level", "adm1", "--format", "json"))
    meta, units = payload["meta"], payload["units"]
    assert meta["population_source"].endswith(".tif")
    assert len(units) == 9
    assert sum(u["population"] for u in units) == pytest.approx(meta["population_total"], abs=10)
    for u in units:
        shares = [u[f"share_within_{t}"] for t in (30, 60, 120, 300)]
        assert all(0 <= s <= 1 for s in shares) and shares == sorted(shares)
    bamako = next(u for u in units if u["name"] == "Bamako")
    assert bamako["share_within_60"] == 1.0 and bamako["n_providers"] >= 1
    kidal = next(u for u in units if u["name"] == "Kidal")
    assert kidal["share_within_120"] < 0.05
    assert kidal["median_time_min"] > 120  # Kidal's nearest One-Stop Centre is Gao's
    # every unit names the provider serving most of its people
    assert all(u["nearest_provider_id"] for u in units)


def _csv(text: str, **options) -> pd.DataFrame:
    """A CSV for Excel (byte-order mark first) as a table."""
    assert text.startswith("\ufeff")
    return pd.read_csv(io.StringIO(text.removeprefix("\ufeff")), **options)


def test_coverage_csv_adm3_has_every_commune(built):
    table = _csv(_run("coverage", "--level", "adm3", "--format", "csv"))
    assert len(table) == 701 and table["pcode"].is_unique
    wanted = [c.replace("share_", "pct_") for c in REQUIRED]  # the file's shares are per cent
    assert set(wanted) <= set(table.columns)
    assert table["population_source"].str.endswith(".tif").all()
    assert (table["population"] > 0).all()  # communes smaller than a cell get a share
    assert {"region_pcode", "region_name", "cercle_pcode", "cercle_name"} <= set(table.columns)
    french = _csv(
        _run("coverage", "--level", "adm3", "--format", "csv", "--lang", "fr", "--region", "ML05"),
        sep=";",
        decimal=",",
    )
    assert set(french["region_pcode"]) == {"ML05"} and french["pct_beyond_120"].max() <= 100
    mopti = table[table["region_pcode"] == "ML05"].reset_index(drop=True)
    assert french["pop_beyond_120"].tolist() == mopti["pop_beyond_120"].tolist()


def test_coverage_hxl_and_geojson_adm2(built):
    lines = _run("coverage", "--level", "adm2", "--format", "hxl").splitlines()
    assert lines[1].startswith("#adm1+code,#adm1+name,#adm2+code,#adm2+name,#population")
    assert len(lines) == 2 + 50
    geo = json.loads(_run("coverage", "--level", "adm2", "--format", "geojson"))
    assert len(geo["features"]) == 50
    assert geo["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert geo["meta"]["population_source"].endswith(".tif")


def test_coverage_rejects_bad_options(built):
    # an unknown value is a usage error (exit 2) listing the allowed ones
    result = CliRunner().invoke(app, ["coverage", "--level", "adm9"])
    assert result.exit_code == 2 and "--level" in result.output
    assert "'adm1', 'adm2', 'adm3'" in result.output
    for option, value in (("--format", "xml"), ("--service", "taxi"), ("--mode", "plane")):
        result = CliRunner().invoke(app, ["coverage", option, value])
        assert result.exit_code == 2 and option in result.output, result.output
    # a known mode that is not built: the build refuses it (exit 1), saying how to build it
    result = CliRunner().invoke(app, ["coverage", "--mode", "walk"])
    assert result.exit_code == 1 and "--mode 'walk'" in result.output
    assert "orienter build --mode walk" in result.output
    result = CliRunner().invoke(app, ["coverage", "--region", "Atlantis"])
    assert result.exit_code == 1 and "--region" in result.output and "ML05 Mopti" in result.output
    result = CliRunner().invoke(app, ["coverage", "--format", "xlsx"])
    assert result.exit_code == 2 and "--out" in result.output


def test_site_one_centre_gain_adds_up(built):
    payload = json.loads(
        _run("site", "--service", "one_stop_centre", "--n", "2", "--threshold-min", "60", "--json")
    )
    again = json.loads(_run("site", "--n", "2", "--threshold-min", "60", "--format", "json"))
    assert _untimed(again) == _untimed(payload)  # --json is the old name of --format json
    meta, sites = payload["meta"], payload["sites"]
    assert meta["n_candidates"] > 50 and meta["population_source"].endswith(".tif")
    assert len(sites) == 2
    gains = [s["gain_population"] for s in sites]
    assert gains[0] >= gains[1] > 0
    assert sites[1]["covered_population"] == pytest.approx(
        meta["covered_before"] + sum(gains), abs=2
    )
    # baseline coverage agrees with `orienter coverage` (same surface, up to float32)
    cov = json.loads(_run("coverage", "--level", "adm1", "--format", "json"))["units"]
    within = sum(u["pop_within_60"] for u in cov)
    assert meta["covered_before"] == pytest.approx(within, rel=2e-3)
    assert np.isfinite(meta["seconds"])


def test_coverage_underserved_ranks_people_beyond(built):
    payload = json.loads(
        _run(
            "coverage",
            "--level",
            "adm1",
            "--underserved",
            "--threshold-min",
            "90",
            "--format",
            "json",
        )
    )
    meta, units = payload["meta"], payload["units"]
    assert meta["threshold_min"] == 90 and meta["population_source"].endswith(".tif")
    assert len(units) == 9 and "max_class" in units[0]
    beyond = [u["pop_beyond_90"] for u in units]
    assert beyond == sorted(beyond, reverse=True)
    assert units[0]["rank_people"] == 1
    assert all(0 <= u["share_beyond_90"] <= 1 for u in units)
    assert next(u for u in units if u["name"] == "Bamako")["pop_beyond_90"] == 0
    csv = _csv(_run("coverage", "--level", "adm2", "--underserved", "--format", "csv"))
    assert len(csv) == 50 and "pop_beyond_120" in csv and "population_source" in csv
    assert csv["rank_people"].tolist() == sorted(csv["rank_people"])
    assert "beyond 120 min" in " ".join(_run("coverage", "--underserved").split())


def test_coverage_deserts_geojson_and_gpkg(built, tmp_path):
    geo = json.loads(_run("coverage", "--deserts", "--threshold-min", "60"))
    feats = geo["features"]
    assert feats and geo["meta"]["population_source"].endswith(".tif")
    people = [f["properties"]["population"] for f in feats]
    assert people == sorted(people, reverse=True)
    assert feats[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert sum(people) <= geo["meta"]["population_total"] + 1
    out = tmp_path / "deserts.gpkg"
    _run("coverage", "--deserts", "--min-population", "10000", "--out", str(out))
    import geopandas as gpd

    layer = gpd.read_file(out, layer="deserts")
    assert (layer["population"] >= 10000).all()
    assert layer["population_source"].str.endswith(".tif").all()


def _fails(args: list[str], message: str, *, code: int = 1) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.output
    assert message in result.output, (args, result.output)  # on one line, never wrapped


def test_coverage_unwritable_out_fails_cleanly(built, tmp_path):
    _fails(
        ["coverage", "--deserts", "--out", str(tmp_path / "no-dir" / "d.geojson")], "does not exist"
    )
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    _fails(["coverage", "--format", "csv", "-o", str(plain / "c.csv")], "does not exist")
    _fails(["coverage", "--format", "csv", "-o", str(tmp_path)], "is a directory")
    _fails(["coverage", "--deserts", "--out", str(tmp_path / "d.csv")], ".geojson or .gpkg", code=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]


def test_site_what_if_add_and_remove(built):
    added = json.loads(_run("site", "--add", "-5.67,12.45", "--format", "json"))
    meta, regions = added["meta"], added["units"]
    assert meta["within_after"] >= meta["within_before"] and meta["change"] > 0
    assert meta["level"] == "adm1" and 0 < len(regions) <= 9  # the régions that change
    assert all(r["change"] != 0 for r in regions)
    assert sum(r["change"] for r in regions) == pytest.approx(meta["change"], abs=20)
    cov = json.loads(_run("coverage", "--level", "adm1", "--format", "json"))["units"]
    assert meta["within_before"] == pytest.approx(sum(u["pop_within_120"] for u in cov), abs=20)
    removed = json.loads(_run("site", "--remove", "osc-gao", "--format", "json"))
    meta = removed["meta"]
    assert meta["change"] < 0
    assert meta["within_before"] == pytest.approx(added["meta"]["within_before"], rel=1e-3)
    gao = next(r for r in removed["units"] if r["name"] == "Gao")
    assert gao["within_after"] < gao["within_before"]
    assert "removing osc-gao" in " ".join(_run("site", "--remove", "osc-gao").split())


def test_site_what_if_bad_input(built):
    for args, message, code in (
        (["--remove", "no-such-provider"], "no public provider offering", 1),
        (["--add", "2.35,48.85"], "outside Mali", 1),
        (["--add", "14.5,-3.9"], "seem swapped", 1),
        (["--add", "abc"], "LON,LAT", 2),
        (["--add", "-5.6,12.4", "--remove", "osc-gao"], "give one", 2),
    ):
        _fails(["site", *args], message, code=code)


def test_confidential_providers_are_neither_counted_nor_named(built):
    confidential = {
        f["properties"]["id"]
        for f in json.loads(Path("data/providers.geojson").read_text())["features"]
        if f["properties"]["confidential"]
    }
    output = _run("coverage", "--level", "adm3", "--service", "shelter", "--format", "json")
    units = json.loads(output)["units"]
    # every shelter is confidential: no public figure rests on one
    assert sum(u["pop_within_300"] for u in units) == 0
    assert all(u["nearest_provider_id"] is None for u in units)
    assert all(u["n_providers"] == 0 for u in units)
    assert not any(pid in output for pid in confidential)
    # planning shelters needs a caseworker token (every shelter is confidential) ...
    refused = CliRunner().invoke(
        app, ["site", "--service", "shelter", "--remove", "apdf-mopti", "--n", "1"]
    )
    assert refused.exit_code == 1 and "caseworker token" in refused.output
    # ... and a confidential provider gets the very refusal an unknown id gets
    for pid in confidential:
        secret = CliRunner().invoke(app, ["site", "--service", "psychosocial", "--remove", pid])
        unknown = CliRunner().invoke(app, ["site", "--service", "psychosocial", "--remove", "x"])
        assert secret.exit_code == unknown.exit_code == 1
        assert secret.output == unknown.output and pid not in secret.output
