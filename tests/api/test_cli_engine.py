"""`orienter build` and `orienter nearest` as a user runs them, on the real data directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import get_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(data_dir, tmp_path_factory):
    build_dir = tmp_path_factory.mktemp("build")
    providers = tmp_path_factory.mktemp("prov") / "providers.geojson"
    shutil.copy("data/providers.geojson", providers)
    env = {
        "ORIENTER_DATA_DIR": str(data_dir),
        "ORIENTER_BUILD_DIR": str(build_dir),
        "ORIENTER_PROVIDERS": str(providers),
    }
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["build", "--mode", "car"])
    assert result.exit_code == 0, result.output
    yield build_dir, providers
    mp.undo()
    get_settings.cache_clear()


def _steps(build_dir):
    return json.loads((build_dir / "manifest.json").read_text())["steps"]


def test_build_writes_layers_and_manifest(built):
    build_dir, _ = built
    manifest = json.loads((build_dir / "manifest.json").read_text())
    assert manifest["inputs"]["roads"]["kind"] == "segments"
    assert (build_dir / "surfaces/public/one_stop_centre-car-baseline.tif").is_file()
    assert (build_dir / "isochrones/car-baseline.parquet").is_file()


def test_nearest_from_kidal_is_gao(built):
    result = CliRunner().invoke(
        app, ["nearest", "--place", "Kidal", "--service", "one_stop_centre", "--k", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    first = answer["results"][0]
    assert first["id"] == "osc-gao" and first["travel_time_min"] > 180
    times = [r["travel_time_min"] for r in answer["results"]]
    assert times == sorted(times)
    assert answer["query"]["place"]["name"] == "Kidal"
    assert {"travel_time_min", "distance_km", "location_precision", "lat", "lon"} <= set(first)


def test_nearest_never_shows_confidential_without_token(built, monkeypatch):
    monkeypatch.delenv("ORIENTER_CASEWORKER_TOKEN", raising=False)
    ids = set()
    for service in ("shelter", "psychosocial", "medical"):
        args = ["nearest", "--place", "Bamako", "--k", "5", "--service", service, "--json"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        ids |= {r["id"] for r in json.loads(result.output)["results"]}
    confidential = {
        f["properties"]["id"]
        for f in json.loads(Path("data/providers.geojson").read_text())["features"]
        if f["properties"]["confidential"]
    }
    assert confidential and not ids & confidential


def test_nearest_bad_input(built):
    runner = CliRunner()
    assert runner.invoke(app, ["nearest", "--lat", "12.6"]).exit_code != 0
    bad = runner.invoke(app, ["nearest", "--lat", "12.6", "--lon", "-8", "--service", "massage"])
    assert bad.exit_code == 2 and "'massage' is not one of 'one_stop_centre'" in bad.output
    assert (
        runner.invoke(app, ["nearest", "--lat", "12.6", "--lon", "-8", "--mode", "walk"]).exit_code
        != 0
    )  # not built


def test_rebuild_reuses_and_provider_change_rebuilds_only_what_depends(built):
    build_dir, providers = built
    first = _steps(build_dir)
    result = CliRunner().invoke(app, ["build", "--mode", "car"])
    assert result.exit_code == 0
    before = _steps(build_dir)
    assert "reused" in result.output
    # the route summaries are kept with the labels, and reused with them
    assert before["summaries:car-baseline"] == first["summaries:car-baseline"]
    data = json.loads(providers.read_text())
    data["features"] = [f for f in data["features"] if f["properties"]["id"] != "osc-kangaba"]
    providers.write_text(json.dumps(data, ensure_ascii=False))
    result = CliRunner().invoke(app, ["build", "--mode", "car"])
    assert result.exit_code == 0, result.output
    after = _steps(build_dir)
    assert after["graph:car-baseline"]["built_at"] == before["graph:car-baseline"]["built_at"]
    assert after["labels:car-baseline"]["key"] != before["labels:car-baseline"]["key"]
    assert after["summaries:car-baseline"]["key"] != before["summaries:car-baseline"]["key"]


def test_nearest_routes_are_lines_from_the_point_to_the_provider(built):
    result = CliRunner().invoke(
        app,
        [
            "nearest",
            "--lat",
            "18.44",
            "--lon",
            "1.40",
            "--service",
            "one_stop_centre",
            "--k",
            "2",
            "--json",
            "--routes",
        ],
    )
    assert result.exit_code == 0, result.output
    for r in json.loads(result.output)["results"]:
        coords = r["route"]["coordinates"]
        assert r["route"]["type"] == "LineString" and len(coords) > 10
        assert coords[0] == pytest.approx([1.40, 18.44], abs=1e-6)  # starts at the query point
        assert coords[-1] == pytest.approx([r["lon"], r["lat"]], abs=1e-5)  # ends at provider
        assert r["distance_km"] > r["straight_km"] > 0


def _nearest(*args):
    result = CliRunner().invoke(app, ["nearest", "--service", "one_stop_centre", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["results"]


def test_avoid_reroutes_or_cuts_off_and_says_which(built):
    base = _nearest("--place", "Hombori", "--k", "1")[0]
    assert base["route_conflict"]["worst_class"] == "high"
    assert base["route_conflict"]["km_by_class"]["high"] > 0
    avoid = _nearest("--place", "Hombori", "--k", "3", "--scenario", "avoid")
    for r in avoid:
        assert r["scenario_effect"] is not None
        if r["travel_time_min"] is None:
            assert r["scenario_effect"].startswith("unreachable")
        else:
            assert r["route_conflict"]["worst_class"] != "high"
            assert r["travel_time_min"] >= r["baseline_travel_time_min"]
    assert any(r["scenario_effect"] == "rerouted around the high-conflict zone" for r in avoid)
    slowed = _nearest("--place", "Hombori", "--k", "1", "--scenario", "slowed")[0]
    assert slowed["travel_time_min"] > slowed["baseline_travel_time_min"]


def test_point_inside_a_closed_zone_is_explicitly_cut_off(built):
    results = _nearest("--place", "Kidal", "--k", "2", "--scenario", "avoid")
    assert len(results) == 2
    for r in results:
        assert r["travel_time_min"] is None and r["reachable"] is False
        assert "closed" in r["unreachable_reason"]
        assert r["scenario_effect"].startswith("unreachable: the point itself")
    assert results[0]["id"] == "osc-gao"  # still the nearest in a straight line


def test_providers_carry_their_zone_class(built):
    r = _nearest("--place", "Gao", "--k", "1")[0]
    assert r["id"] == "osc-gao" and r["zone_class"] in {"low", "elevated", "high"}


def test_build_rejects_an_unknown_scenario(built):
    result = CliRunner().invoke(app, ["build", "--mode", "car", "--scenario", "panic"])
    assert result.exit_code == 2
    assert "'panic' is not one of 'baseline', 'slowed', 'avoid'" in result.output
