"""What-if at an existing site: a centre added at a public provider's site (``add_at``) or
at a health facility of the WHO/KEMRI list (``add_facility``), through the API, the
``/planifier`` page and ``orienter site`` (issue 20).

On the session car build of the real data.  The figures of a pick are those of
``add=lon,lat`` at the site's point (one computation); a confidential id is refused
exactly as an unknown one.
"""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from api.http.app import create_app

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOKEN = "whatif-sites-caseworker-token"
#: A legal NGO located at its cercle's town (approximate), offering no psychosocial care.
APPROXIMATE = "pro-sahel-douentza"
#: A medical provider located at its facility, offering no psychosocial care.
PRECISE = "mdm-belgique-menaka"


def _features() -> list[dict]:
    return json.loads((REPO / "data" / "providers.geojson").read_text(encoding="utf-8"))["features"]


def _record(pid: str) -> dict:
    return next(f for f in _features() if f["properties"]["id"] == pid)


def _confidential() -> list[dict]:
    return [f for f in _features() if f["properties"]["confidential"] is not False]


@pytest.fixture(scope="module")
def settings(car_settings):
    return car_settings(TOKEN)


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


def _untimed(answer: dict) -> dict:
    return {**answer, "meta": {k: v for k, v in answer["meta"].items() if k != "seconds"}}


def _figures(answer: dict) -> dict:
    """What a what-if counts, whatever named the point."""
    meta = answer["meta"]
    keys = ("within_before", "within_after", "change", "share_before", "share_after")
    return {"national": {k: meta[k] for k in keys}, "units": answer["units"]}


@pytest.mark.parametrize(("pid", "approximate"), [(APPROXIMATE, True), (PRECISE, False)])
def test_a_provider_site_is_named_and_counted_as_its_point(client, pid, approximate):
    params = {"service": "psychosocial", "level": "adm2"}
    r = client.get("/api/v1/whatif", params={**params, "add_at": pid})
    assert r.status_code == 200, r.text
    picked = r.json()["meta"]["picked"]
    record = _record(pid)
    lon, lat = record["geometry"]["coordinates"]
    assert picked["kind"] == "provider" and picked["id"] == pid
    assert picked["name"] == record["properties"]["name"]
    assert (picked["lon"], picked["lat"]) == (round(lon, 5), round(lat, 5))
    assert picked["location_precision"] == record["properties"]["location_precision"]
    assert picked["approximate"] is approximate and picked["offers_service"] is False
    # the answer says that the centre sits at the town's point, not at the site
    assert ("note" in picked) is approximate
    if approximate:
        assert "approximate" in picked["note"] and picked["location_precision"] == "cercle"
        assert "cercle" in picked["note"]
    point = client.get("/api/v1/whatif", params={**params, "add": f"{lon!r},{lat!r}"})
    assert _figures(r.json()) == _figures(point.json())
    assert r.json()["meta"]["change"] > 0


def test_a_provider_that_offers_the_service_already_changes_nothing_and_says_so(client):
    r = client.get("/api/v1/whatif", params={"service": "psychosocial", "add_at": "osc-mopti"})
    assert r.status_code == 200, r.text
    meta = r.json()["meta"]
    assert meta["picked"]["offers_service"] is True
    assert meta["change"] == 0 and r.json()["units"] == []


def test_a_health_facility_found_by_name_is_counted_as_its_point(client):
    found = client.get("/api/v1/facilities", params={"q": "bandiagara referral"})
    assert found.status_code == 200, found.text
    results = found.json()["results"]
    assert [f["name"] for f in results] == ["Bandiagara Referral Health Centre"]
    facility = results[0]
    assert facility["id"].startswith("who:") and facility["type"] == "csref"
    r = client.get("/api/v1/whatif", params={"add_facility": facility["id"], "level": "adm1"})
    assert r.status_code == 200, r.text
    picked = r.json()["meta"]["picked"]
    assert picked["kind"] == "facility" and picked["name"] == facility["name"]
    assert (picked["lon"], picked["lat"]) == (facility["lon"], facility["lat"])
    assert picked["approximate"] is False and "offers_service" not in picked
    point = client.get(
        "/api/v1/whatif", params={"add": f"{facility['lon']},{facility['lat']}", "level": "adm1"}
    )
    assert _figures(r.json()) == _figures(point.json())
    assert r.json()["meta"]["change"] > 0  # Bandiagara has no one-stop centre


def test_facility_search_ignores_accents_and_case_and_refuses_no_letters(client):
    a = client.get("/api/v1/facilities", params={"q": "SÉGOU", "limit": 20}).json()["results"]
    b = client.get("/api/v1/facilities", params={"q": "segou", "limit": 20}).json()["results"]
    assert a == b and a and all("segou" in f["name"].lower() for f in a)
    # hospitals and referral centres before community health centres
    assert a[0]["type"] in {"regional_hospital", "hospital", "csref"}
    r = client.get("/api/v1/facilities", params={"q": "--", "lang": "en"})
    assert r.status_code == 422 and r.json()["detail"]["parameter"] == "q"


def test_a_confidential_id_is_refused_as_an_unknown_one(client):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    unknown = client.get("/api/v1/whatif", params={"add_at": "no-such-provider"})
    assert unknown.status_code == 422 and unknown.json()["detail"]["parameter"] == "add_at"
    for f in _confidential():
        pid = f["properties"]["id"]
        r = client.get("/api/v1/whatif", params={"add_at": pid})
        assert r.status_code == 422 and r.json() == unknown.json()
        # a caseworker token picks public sites only, too
        r = client.get("/api/v1/whatif", params={"add_at": pid}, headers=auth)
        assert r.json() == unknown.json()
        assert pid not in r.text and f["properties"]["name"] not in r.text


@pytest.mark.parametrize(
    "params",
    [
        {"add_at": PRECISE, "add": "-3.9,14.5"},
        {"add_facility": "who:517a99b6db", "remove": "osc-gao"},
        {"add_at": PRECISE, "add_facility": "who:517a99b6db"},
    ],
)
def test_one_change_at_a_time(client, params):
    r = client.get("/api/v1/whatif", params=params)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["code"] == "add_or_remove" and detail["parameter"] == "add"
    assert "add_at=" in detail["message"] and "add_facility=" in detail["message"]


def test_errors_in_the_language_asked(client):
    r = client.get("/api/v1/whatif", params={"add_facility": "who:0000000000", "lang": "en"})
    assert r.status_code == 422 and r.json()["detail"]["parameter"] == "add_facility"
    assert "no health facility" in r.json()["detail"]["message"]
    assert "0000000000" not in r.text  # the id asked is not repeated
    r = client.get("/api/v1/whatif", params={"add_facility": "who:0000000000"})
    assert "aucun établissement de santé" in r.json()["detail"]["message"]


def test_the_page_offers_public_sites_only_in_its_language(client):
    page = unescape(client.get("/planifier", params={"service": "psychosocial"}).text)
    assert 'id="whatif-at"' in page and 'id="w-facility"' in page
    assert "Ajouter un centre sur un site existant" in page
    assert f'<option value="{APPROXIMATE}">' in page and f'<option value="{PRECISE}">' in page
    for f in _confidential():
        assert f'value="{f["properties"]["id"]}"' not in page
        assert f["properties"]["name"] not in page
    english = unescape(client.get("/planifier", params={"lang": "en"}).text)
    assert "Add a centre at an existing site" in english and "Health facility (name)" in english
    assert '"js_approx_locality": "Approximate location' in english


@pytest.fixture()
def run(settings, cli_settings):
    """``orienter site <args> --format json`` on the same build, as parsed JSON."""
    cli_settings(settings)

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["site", *args])
        return result.exit_code, result.output

    return invoke


@pytest.mark.parametrize(
    ("cli_args", "params"),
    [
        (
            ["--add-at", APPROXIMATE, "--service", "psychosocial", "--level", "adm2"],
            {"add_at": APPROXIMATE, "service": "psychosocial", "level": "adm2"},
        ),
        (
            ["--add-facility", "who:517a99b6db", "--threshold-min", "60", "--level", "adm3"],
            {"add_facility": "who:517a99b6db", "threshold_min": 60, "level": "adm3"},
        ),
    ],
)
def test_the_cli_answers_what_the_api_answers(run, client, cli_args, params):
    api = client.get("/api/v1/whatif", params=params)
    assert api.status_code == 200, api.text
    code, out = run(*cli_args, "--format", "json")
    assert code == 0, out
    assert _untimed(json.loads(out)) == _untimed(api.json())
    code, table = run(*cli_args)
    picked = api.json()["meta"]["picked"]
    assert code == 0 and picked["name"] in table and picked["id"] in table
    assert ("approximate" in table) is picked["approximate"]


def test_the_cli_refuses_a_confidential_id_as_an_unknown_one(run):
    unknown = run("--add-at", "no-such-provider")
    assert unknown[0] == 1 and "--add-at" in unknown[1]
    for f in _confidential()[:3]:
        assert run("--add-at", f["properties"]["id"]) == unknown
    code, out = run("--add-at", PRECISE, "--remove", "osc-gao")
    assert code == 2 and "give one" in out
