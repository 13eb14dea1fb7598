"""`orienter nearest` says what the page says: the place used and the others it could be,
the distance to a road, what the scenario assumes and the events' dates, each provider's
phone, status, date and conflict class, the flags, and the national lines with their
caveat (public lines only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import get_settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env(data_dir, car_build):
    mp = pytest.MonkeyPatch()
    mp.setenv("ORIENTER_DATA_DIR", str(data_dir))
    mp.setenv("ORIENTER_BUILD_DIR", str(car_build))
    mp.setenv("ORIENTER_PROVIDERS", str(REPO / "data" / "providers.geojson"))
    mp.delenv("ORIENTER_CASEWORKER_TOKEN", raising=False)
    mp.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    yield
    mp.undo()
    get_settings.cache_clear()


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, ["nearest", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_nearest_json_carries_the_place_lines_and_flags(env):
    answer = json.loads(_run("--place", "Kona", "--service", "medical", "--k", "3", "--json"))
    query, data = answer["query"], answer["data"]
    assert query["place"]["name"] == "Kona" and query["place"]["adm1"] == "Sikasso"
    assert query["place_alternatives"][0]["name"] == "Konna"
    assert query["place_alternatives"][0]["adm2_name"] == "Mopti"
    assert query["road_km"] >= 0 and "scenario_assumes" in data
    lines = data["national_lines"]["lines"]
    directory = json.loads((REPO / "data" / "providers.geojson").read_text(encoding="utf-8"))
    placeless = {
        f["properties"]["id"]: f["properties"]["confidential"]
        for f in directory["features"]
        if f["geometry"] is None and f["properties"]["phone"]
    }
    assert {line["id"] for line in lines} == {i for i, secret in placeless.items() if not secret}
    assert all(line["source_date"] for line in lines)
    assert "confirm" in data["national_lines"]["caveat"]["en"]
    for r in answer["results"]:
        assert {"offroad_km", "time_flags", "same_site", "status"} <= set(r)


def test_nearest_table_says_what_the_page_says(env):
    out = _run("--place", "Kona", "--service", "medical", "--k", "3", "--scenario", "slowed")
    assert "Place used: Kona, " in out and "Sikasso" in out
    assert "Konna (Konna, Mopti, ML050105000)" in out
    assert "km from the nearest road" in out
    assert "divided by 12.5" in out and "zones drawn from the events of 20" in out
    for column in ("conflict", "phone", "status", "dated", "flags"):
        assert column in out
    assert "[one_stop_centre" in out or "[health_facility" in out  # not eaten as markup
    assert "80333" in out and "confirm before giving them out" in out
    baseline = _run("--lat", "14.5", "--lon", "-4.2", "--k", "2")
    assert "From the point 14.5000, -4.2000" in baseline
    assert "Conflict zones drawn from the events of" in baseline
