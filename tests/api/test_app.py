"""Contract tests of every API endpoint (TestClient on the session car build).

Covers answers, the one JSON error shape (French by default, English on
``Accept-Language: en``), bounded requests, security headers and that nothing about a
query reaches a log.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import api.http.routes.nearest as nearest_module
from api.http.app import MAX_BODY_BYTES, MAX_URL_CHARS, create_app
from api.services.analysis import Analysis
from api.settings import Settings

pytestmark = pytest.mark.integration
TOKEN = "caseworker-test-token"
REPO = Path(__file__).resolve().parents[2]
EN = {"Accept-Language": "en"}


def _directory() -> list[dict]:
    text = (REPO / "data" / "providers.geojson").read_text(encoding="utf-8")
    return [f["properties"] for f in json.loads(text)["features"]]


def _confidential_ids() -> set[str]:
    return {p["id"] for p in _directory() if p["confidential"]}


@pytest.fixture(scope="module")
def settings(car_settings) -> Settings:
    return car_settings(TOKEN)


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


def _error(r, status: int, code: str, parameter: str | None = None) -> dict:
    """Assert the one error shape and return its detail."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert detail["code"] == code, detail
    assert isinstance(detail["message"], str) and detail["message"]
    assert detail["parameter"] == parameter, detail
    return detail


# ------------------------------------------------------------------ health, nearest


def test_health_and_security_headers(client):
    r = client.get("/api/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["modes"] == ["car"]
    assert set(r.json()["scenarios"]) == {"baseline", "slowed", "avoid"}
    for answer in (r, client.get("/api/v1/nearest", params={"k": 0}), client.get("/nope")):
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "default-src" in answer.headers["content-security-policy"]


def test_nearest_by_place_and_point(client):
    r = client.get("/api/v1/nearest", params={"place": "Kidal", "service": "one_stop_centre"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["results"][0]["id"] == "osc-gao"
    assert answer["query"]["place"]["name"] == "Kidal"
    for key in ("offroad_leg_km", "offroad_leg_min"):
        assert key in answer["query"]
    first = answer["results"][0]
    for key in ("travel_time_min", "distance_km", "location_precision", "lat", "lon", "name"):
        assert key in first
    by_code = client.get(
        "/api/v1/nearest",
        params={"place": answer["query"]["place"]["pcode"], "service": "one_stop_centre"},
    )
    assert by_code.json()["results"][0]["id"] == "osc-gao"
    _error(
        client.get("/api/v1/nearest", params={"place": "ML9999999"}),
        404,
        "place_not_found",
        "place",
    )
    r = client.get("/api/v1/nearest", params={"lat": 12.65, "lon": -8.0, "k": 3})
    times = [x["travel_time_min"] for x in r.json()["results"]]
    assert len(times) == 3 and times == sorted(times) and times[0] < 60


def test_nearest_under_a_scenario_says_what_changed(client):
    r = client.get(
        "/api/v1/nearest",
        params={"place": "Douentza", "service": "one_stop_centre", "scenario": "avoid", "k": 2},
    )
    assert r.status_code == 200, r.text
    for item in r.json()["results"]:
        assert item["scenario_effect"] and "baseline_travel_time_min" in item


def test_confidential_only_with_a_valid_token(client):
    confidential = _confidential_ids()
    for service in ("shelter", "psychosocial", None):
        params = {"lat": 12.65, "lon": -8.0, "k": 5, **({"service": service} if service else {})}
        anon = client.get("/api/v1/nearest", params=params)
        public = {x["id"] for x in anon.json()["results"]}
        bad = client.get("/api/v1/nearest", params=params, headers={"Authorization": "Bearer nope"})
        assert not public & confidential and bad.json() == anon.json()
        assert anon.json()["query"]["includes_confidential"] is False
        assert "no-store" not in anon.headers.get("cache-control", "")
    ok = client.get(
        "/api/v1/nearest",
        params={"lat": 12.65, "lon": -8.0, "k": 5, "service": "shelter"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert {x["id"] for x in ok.json()["results"]} & confidential
    assert ok.json()["query"]["includes_confidential"] is True
    assert (
        ok.headers["cache-control"] == "no-store" and "authorization" in ok.headers["vary"].lower()
    )


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("params", "code", "parameter", "needle"),
    [
        ({"lat": 48.85, "lon": 2.35}, "out_of_mali", "lat", "hors du Mali"),
        ({"lat": -8.0, "lon": 12.65}, "swapped", "lat", "inversées"),
        (
            {"lat": 12.65, "lon": -8.0, "service": "spa"},
            "unknown_value",
            "service",
            "valeurs permises",
        ),
        ({"lat": 12.65, "lon": -8.0, "mode": "plane"}, "unknown_value", "mode", "car"),
        ({"lat": 12.65, "lon": -8.0, "scenario": "x"}, "unknown_value", "scenario", "avoid"),
        ({"lat": 12.65, "lon": -8.0, "k": 99}, "too_large", "k", "20"),
        ({"lat": 12.65, "lon": -8.0, "k": 6}, "k_above_build", "k", "5"),
        ({"lat": 12.65, "lon": -8.0, "k": 0}, "too_small", "k", "1"),
        ({"lat": "abc", "lon": -8.0}, "not_number", "lat", "nombre"),
        ({"lat": "nan", "lon": -8.0}, "not_number", "lat", "nombre"),
        ({"lat": 12.65}, "point_or_place", "lon", "place"),
        ({"place": "?!"}, "no_letters", "place", "lettre"),
    ],
)
def test_bad_input_is_a_french_422_naming_the_parameter(client, params, code, parameter, needle):
    r = client.get("/api/v1/nearest", params=params)
    detail = _error(r, 422, code, parameter)
    assert needle in detail["message"]
    assert r.headers["content-language"] == "fr"


@pytest.mark.parametrize(
    ("url", "params", "status", "code", "parameter", "english"),
    [
        ("/api/v1/nearest", {"lat": 48.85, "lon": 2.35}, 422, "out_of_mali", "lat", "outside Mali"),
        ("/api/v1/nearest", {"lat": -8.0, "lon": 12.65}, 422, "swapped", "lat", "look swapped"),
        ("/api/v1/nearest", {"lat": 12.6, "lon": -8, "k": 0}, 422, "too_small", "k", "at least 1"),
        ("/api/v1/nearest", {"lat": "abc", "lon": -8}, 422, "not_number", "lat", "a number"),
        ("/api/v1/places", {}, 422, "missing", "q", "q is required"),
        ("/api/v1/places", {"q": "x" * 101}, 422, "too_long", "q", "at most 100"),
        ("/api/v1/providers", {"type": "spa"}, 422, "unknown_value", "type", "allowed values"),
        ("/api/v1/coverage", {"level": "adm9"}, 422, "unknown_value", "level", "adm1, adm2"),
        ("/api/v1/nearest", {"place": "Nulle Part Xyzzy"}, 404, "place_not_found", "place", "no"),
        ("/api/v1/nowhere", {}, 404, "not_found", None, "no such address"),
    ],
)
def test_errors_in_english_on_accept_language(
    client, url, params, status, code, parameter, english
):
    r = client.get(url, params=params, headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
    assert english in _error(r, status, code, parameter)["message"]
    assert r.headers["content-language"] == "en"
    french = client.get(url, params=params)
    assert french.json()["detail"]["message"] != r.json()["detail"]["message"]


def test_every_invalid_parameter_is_listed(client):
    r = client.get("/api/v1/nearest", params={"lat": 12.6, "lon": -8, "k": "x", "routes": "maybe"})
    detail = _error(r, 422, "not_integer", "k")
    assert {e["parameter"] for e in detail["errors"]} == {"k", "routes"}


def test_unknown_values_list_the_allowed_ones(client):
    detail = _error(
        client.get("/api/v1/nearest", params={"lat": 12.6, "lon": -8, "service": "spa"}),
        422,
        "unknown_value",
        "service",
    )
    assert "one_stop_centre" in detail["allowed"] and "shelter" in detail["allowed"]
    assert "spa" not in detail["message"]  # the value sent is never repeated


def test_post_is_405_and_errors_never_echo_the_query(client):
    _error(client.post("/api/v1/nearest"), 405, "method_not_allowed")
    r = client.get("/api/v1/nearest", params={"lat": 48.8566, "lon": 2.3522})
    assert "48.8566" not in r.text and "2.3522" not in r.text


def test_an_unexpected_error_is_a_json_500_that_repeats_nothing(client, monkeypatch, caplog):
    def broken(layers, **kwargs):
        raise RuntimeError(f"boom at {kwargs['lat']},{kwargs['lon']}")

    monkeypatch.setattr(nearest_module, "answer_nearest", broken)
    caplog.set_level(logging.DEBUG)
    r = client.get("/api/v1/nearest", params={"lat": 14.4935, "lon": -4.1987}, headers=EN)
    assert _error(r, 500, "internal")["message"].startswith("internal error")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "14.4935" not in r.text and "boom" not in r.text
    server_side = [rec.getMessage() for rec in caplog.records if not rec.name.startswith("httpx")]
    assert any("RuntimeError" in line for line in server_side)  # the failure is logged ...
    assert not any("14.4935" in line or "boom" in line for line in server_side)  # ... not the query


# ------------------------------------------------------------------ bounded requests


def test_a_large_body_is_413(client):
    r = client.request("GET", "/api/v1/health", content=b"x" * (MAX_BODY_BYTES + 1))
    assert "16384" in _error(r, 413, "body_too_large")["message"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(8):
            yield b"y" * (MAX_BODY_BYTES // 4)

    _error(client.post("/api/v1/nearest", content=chunks()), 413, "body_too_large")
    small = client.request("GET", "/api/v1/health", content=b"x" * 100)
    assert small.status_code == 200


def test_a_long_url_is_414(client):
    r = client.get("/api/v1/places", params={"q": "a" * MAX_URL_CHARS}, headers=EN)
    assert "2048" in _error(r, 414, "url_too_long")["message"]
    assert client.get("/api/v1/places", params={"q": "segou"}).status_code == 200


# ------------------------------------------------------------------ privacy of logs


def test_no_query_in_any_log(client, caplog):
    caplog.set_level(logging.DEBUG)
    client.get("/api/v1/nearest", params={"lat": 14.4935, "lon": -4.1987})
    client.get("/api/v1/nearest", params={"place": "Douentza"})
    client.get("/api/v1/nearest", params={"lat": 44.4935, "lon": -4.1987})  # an error
    client.get("/api/v1/places", params={"q": "Douentza"})
    # the finder's form without JavaScript (its place in the URL), and the referral sheet's
    # option, which is no parameter at all: whatever a URL of the finder holds
    client.get("/trouver", params={"place": "Douentza", "service": "medical"})
    client.get("/trouver", params={"lat": 14.4935, "lon": -4.1987, "sheet-no-place": "on"})
    client.get("/api/v1/facilities", params={"q": "Douentza"})
    client.get("/api/v1/providers", headers={"Authorization": f"Bearer {TOKEN}"})
    client_side = [r for r in caplog.records if r.name.startswith("httpx")]
    assert any("14.4935" in r.getMessage() for r in client_side)  # capture works
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    for secret in ("14.4935", "-4.1987", "44.4935", "Douentza", TOKEN):
        assert secret not in text


def test_fastapi_telemetry_stays_off_whatever_the_environment_asks(settings, monkeypatch):
    """FastAPI's native OpenTelemetry would put each request's address (a point, a
    place) in spans and logs for an exporter: off, even when the environment turns it on."""
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    app = create_app(settings)
    config = app._telemetry
    assert not any(config[k] for k in ("tracing", "metrics", "logs", "operation_spans"))
    assert config["auto_configure"] is False
    assert not app._native_telemetry.enabled()


# ------------------------------------------------------------------ providers, places, zones


def test_providers_geojson_hides_confidential_without_token(client):
    r = client.get("/api/v1/providers")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    public = r.json()["features"]
    ids = {f["properties"]["id"] for f in public}
    expected = {p["id"] for p in _directory() if p["confidential"] is False}
    assert ids == expected and not ids & _confidential_ids()
    shelters = client.get("/api/v1/providers", params={"service": "shelter"}).json()
    assert shelters["features"] == []  # every shelter is confidential
    # nothing of a confidential record leaks through the raw text either
    assert not any(pid in r.text for pid in _confidential_ids())
    full = client.get("/api/v1/providers", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert {f["properties"]["id"] for f in full["features"]} >= _confidential_ids()
    osc_mopti = client.get(
        "/api/v1/providers", params={"type": "one_stop_centre", "adm1": "ml05"}
    ).json()["features"]
    assert [f["properties"]["id"] for f in osc_mopti] == ["osc-mopti"]
    bad = client.get("/api/v1/providers", params={"type": "spa"})
    assert "valeurs permises" in _error(bad, 422, "unknown_value", "type")["message"]


def test_places_autocomplete_and_conflict_zones(client):
    r = client.get("/api/v1/places", params={"q": "seva", "limit": 3})
    assert r.status_code == 200 and "Sevare" in [p["name"] for p in r.json()["results"]]
    _error(client.get("/api/v1/places", params={"q": ""}), 422, "too_short", "q")
    _error(client.get("/api/v1/places", params={"q": "..."}), 422, "no_letters", "q")
    zones = client.get("/api/v1/conflict/zones")
    assert zones.status_code == 200
    classes = {f["properties"]["zone_class"] for f in zones.json()["features"]}
    assert {"low", "elevated", "high"} <= classes
    assert all(
        set(f["properties"]) == {"zone_class", "events", "fatalities", "area_km2"}
        for f in zones.json()["features"]
    )  # aggregates only, no event rows


# ------------------------------------------------------------------ coverage


def test_coverage_json_matches_the_shared_analysis(client, settings):
    r = client.get("/api/v1/coverage", params={"level": "adm2", "service": "medical"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    meta, units = r.json()["meta"], r.json()["units"]
    assert len(units) == 50
    assert meta["population_source"].endswith(".tif") and "/" not in meta["population_source"]
    assert meta["built_at"] and meta["roads"] and meta["figures"] and meta["population_sha256"]
    assert (meta["level"], meta["service"], meta["mode"], meta["scenario"]) == (
        "adm2",
        "medical",
        "car",
        "baseline",
    )
    expected = Analysis.load(settings).coverage(level="adm2", service="medical").table
    assert [u["pcode"] for u in units] == expected["pcode"].tolist()
    assert [u["pop_within_120"] for u in units] == expected["pop_within_120"].tolist()
    assert [u["nearest_provider_name"] for u in units] == expected["nearest_provider_name"].tolist()
    assert sum(u["population"] for u in units) == pytest.approx(meta["population_total"], abs=10)
    # a unit no one can leave within 5 h: its median is null, not "Infinity"
    assert "Infinity" not in r.text and "NaN" not in r.text


def test_coverage_csv_and_hxl(client):
    r = client.get("/api/v1/coverage", params={"level": "adm1", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    # French Excel: a byte-order mark, ";" between fields, a decimal comma, whole people
    assert r.content.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(io.BytesIO(r.content), sep=";", decimal=",", encoding="utf-8-sig")
    assert len(table) == 9 and {"pcode", "pop_within_60", "pop_beyond_60"} <= set(table)
    assert table["population_source"].str.endswith(".tif").all()
    assert not table["population_source"].str.contains("/").any()  # a name, not a path
    assert (table["pop_within_120"] + table["pop_beyond_120"] == table["population"]).all()
    assert table["pct_within_120"].between(0, 100).all()  # per cent, not fractions
    assert ".0;" not in r.text  # people are integers
    english = client.get(
        "/api/v1/coverage", params={"level": "adm1", "format": "csv", "lang": "en"}
    )
    assert english.text.lstrip("\ufeff").startswith("pcode,name,population,")
    hxl = client.get("/api/v1/coverage", params={"level": "adm1", "format": "hxl"})
    lines = hxl.text.splitlines()
    assert lines[1].startswith("#adm1+code,#adm1+name,#population") and len(lines) == 2 + 9
    assert "#org+name+nearest" in lines[1]
    # the old spelling of the HXL file
    old = client.get("/api/v1/coverage", params={"level": "adm1", "format": "csv", "hxl": "true"})
    assert old.text == hxl.text


def test_coverage_of_some_regions_and_its_workbook(client):
    r = client.get(
        "/api/v1/coverage",
        params={"level": "adm2", "region": ["ML05", "Ségou"], "threshold_min": 120},
    )
    units = r.json()["units"]
    assert r.status_code == 200 and r.json()["meta"]["regions"] == ["ML05", "ML04"]
    assert {u["pcode"][:4] for u in units} == {"ML05", "ML04"} and len(units) == 8 + 7
    beyond = [u["pop_beyond_120"] for u in units]
    assert beyond == sorted(beyond, reverse=True)  # ranked, worst first
    book = client.get(
        "/api/v1/coverage",
        params={"level": "adm2", "region": "ML05,ML04", "format": "xlsx", "threshold_min": 120},
    )
    assert book.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = pd.read_excel(io.BytesIO(book.content), sheet_name="coverage")
    assert sheet["pcode"].tolist() == [u["pcode"] for u in units]
    assert sheet["region_name"].isin(["Mopti", "Ségou"]).all()
    assert sheet["pop_beyond_120"].tolist() == beyond
    _error(
        client.get("/api/v1/coverage", params={"region": "Atlantis"}),
        422,
        "region_not_found",
        "region",
    )
    _error(
        client.get("/api/v1/coverage", params={"regoin": "ML05"}),
        422,
        "unknown_parameter",
        "regoin",
    )


def test_coverage_of_shelters_rests_on_no_confidential_record(client):
    r = client.get("/api/v1/coverage", params={"level": "adm3", "service": "shelter"})
    units = r.json()["units"]
    assert sum(u["pop_within_300"] for u in units) == 0  # every shelter is confidential
    assert all(u["nearest_provider_id"] is None and u["n_providers"] == 0 for u in units)
    confidential = _confidential_ids()
    names = {p["name"] for p in _directory() if p["confidential"]}
    assert not any(x in r.text for x in confidential | names)
    assert r.json()["meta"]["providers_public"] == 0 and "providers" not in r.json()["meta"]
    assert r.json()["meta"]["confidential_counted"] is False


@pytest.mark.parametrize(
    ("params", "parameter", "allowed"),
    [
        ({"level": "adm0"}, "level", ["adm1", "adm2", "adm3"]),
        ({"service": "spa"}, "service", None),
        ({"mode": "walk"}, "mode", ["car"]),
        ({"scenario": "flood"}, "scenario", ["avoid", "baseline", "slowed"]),
        ({"format": "xml"}, "format", ["json", "csv", "hxl", "xlsx"]),
        ({"threshold_min": 90}, "threshold_min", ["30", "60", "120", "300"]),
        ({"hxl": "maybe"}, "hxl", None),
    ],
)
def test_coverage_rejects_unknown_values(client, params, parameter, allowed):
    r = client.get("/api/v1/coverage", params=params)
    assert r.status_code == 422 and r.json()["detail"]["parameter"] == parameter
    if allowed is not None:
        assert sorted(r.json()["detail"]["allowed"]) == sorted(allowed)


def test_without_built_layers_the_api_says_so(tmp_path, data_dir):
    settings = Settings(
        data_dir=data_dir, build_dir=tmp_path, providers=REPO / "data" / "providers.geojson"
    )
    with TestClient(create_app(settings)) as c:
        assert c.get("/api/v1/health").json()["status"] == "not built"
        detail = _error(c.get("/api/v1/nearest", params={"place": "Kidal"}), 503, "not_built")
        assert "orienter build" in detail["message"]
        _error(c.get("/api/v1/coverage"), 503, "not_built")
        _error(c.get("/api/v1/conflict/zones"), 404, "no_conflict_zones")
        assert c.get("/api/v1/providers").status_code == 200  # the directory needs no build


def test_a_bare_http_error_still_gets_the_one_shape(tmp_path, data_dir):
    """Routes raise RequestError; a bare HTTPException (a library's) is mapped by its
    status to a catalogue message, its own text never passed on (it may echo input)."""
    from fastapi import HTTPException

    app = create_app(Settings(data_dir=data_dir, build_dir=tmp_path))

    def own_message():
        raise HTTPException(404, "pas de région ML99")

    def odd_status():
        raise HTTPException(599)

    app.add_api_route("/test-own", own_message)
    app.add_api_route("/test-odd", odd_status)
    with TestClient(app) as c:
        detail = _error(c.get("/test-own"), 404, "not_found")
        assert "ML99" not in detail["message"]
        _error(c.get("/test-odd"), 599, "invalid_request")


def test_nearest_names_the_place_used_the_lines_and_the_model(client):
    """A name searched without a pick: which place, the others; the national lines and
    their caveat; the conflict events' dates; what the scenario assumes; the flags."""
    r = client.get("/api/v1/nearest", params={"place": "Kona", "k": 3, "scenario": "slowed"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"]["place"]["adm2"] == "Yorosso"
    assert body["query"]["place_alternatives"][0]["pcode"] == "ML050105000"  # Konna
    assert body["query"]["road_km"] is not None
    data = body["data"]
    assert {line["phone"] for line in data["national_lines"]["lines"]} >= {"80333"}
    assert not {line["id"] for line in data["national_lines"]["lines"]} & _confidential_ids()
    assert set(data["national_lines"]["caveat"]) == {"fr", "en"}
    assert data["conflict"]["start"] < data["conflict"]["end"]
    assert (
        "12,5" in data["scenario_assumes"]["fr"]
        and data["conflict"]["end"] in (data["scenario_assumes"]["en"])
    )
    for result in body["results"]:
        assert isinstance(result["time_flags"], list) and result["same_site"] in (True, False)
    by_code = client.get("/api/v1/nearest", params={"place": "ML050105000", "k": 1}).json()
    assert by_code["query"]["place_alternatives"] == []
