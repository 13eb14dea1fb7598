"""`orienter route` (and api.services.routing) on the session car build.

Point to point equals an independent computation (the k-label engine seeded at the
destination, read at the origin's entries); a provider destination equals the nearest
answer's time to it; places resolve; confidential providers only with a token; errors
name the option.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from api.build.layers import answer_nearest, load_layers
from api.cli import app
from api.services.routing import Endpoint, RouteError, answer_route
from api.settings import Settings, get_settings
from geo.costgraph import point_entries
from geo.labels import nearest_labels
from geo.nearest import to_metric

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TOKEN = "route-test-token"


@pytest.fixture(scope="module")
def layers(car_build, data_dir):
    return load_layers(Settings(data_dir=data_dir, build_dir=car_build))


@pytest.fixture
def env(car_build, data_dir, monkeypatch):
    monkeypatch.setenv("ORIENTER_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ORIENTER_BUILD_DIR", str(car_build))
    monkeypatch.setenv("ORIENTER_PROVIDERS", str(REPO / "data" / "providers.geojson"))
    monkeypatch.setenv(
        "ORIENTER_CASEWORKER_TOKEN_HASHES", json.dumps([hashlib.sha256(TOKEN.encode()).hexdigest()])
    )
    monkeypatch.delenv("ORIENTER_CASEWORKER_TOKEN", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _independent_minutes(layers, scenario, a, b) -> float:
    """Minutes from point a to point b by the label engine: b is a source, a a query."""
    graph = layers.layers[("car", scenario)].graph
    (xa, ya), (xb, yb) = to_metric(graph, *a), to_metric(graph, *b)
    labels = nearest_labels(graph, np.array([xb]), np.array([yb]), k=1)
    nodes, leg, _ = point_entries(graph, xa, ya)
    via = leg + np.asarray(labels.minutes[nodes, 0], dtype=float)
    direct = np.hypot(xa - xb, ya - yb)
    best = float(via.min())
    if direct <= 2 * graph.grid.cell_m:
        best = min(best, direct * float(graph.cell_pace[nodes[0]]))
    return best


@pytest.mark.parametrize(
    ("a", "b", "scenario"),
    [
        ((-7.99, 12.64), (-4.19, 14.49), "baseline"),  # Bamako to Mopti
        ((-5.67, 11.32), (-8.02, 12.66), "baseline"),  # Sikasso to Bamako
        ((-1.45, 15.32), (0.04, 16.27), "avoid"),  # Hombori to Gao, high zones closed
        ((-6.27, 13.44), (-6.28, 13.45), "slowed"),  # 1.5 km: straight across country
    ],
)
def test_point_to_point_equals_an_independent_computation(layers, a, b, scenario):
    answer = answer_route(
        layers, Endpoint("point", *a), Endpoint("point", *b), mode="car", scenario=scenario
    )
    expected = _independent_minutes(layers, scenario, a, b)
    if not np.isfinite(expected):
        assert answer["reachable"] is False and answer["travel_time_min"] is None
        return
    assert answer["travel_time_min"] == pytest.approx(round(expected, 1), abs=0.051)
    km = answer["route_conflict"]["km_by_class"]
    assert sum(km.values()) == pytest.approx(answer["distance_km"], abs=0.3)
    line = answer["route"]["coordinates"]
    assert line[0] == pytest.approx(list(a), abs=1e-5) and line[-1] == pytest.approx(
        list(b), abs=1e-5
    )
    assert answer["distance_km"] >= answer["straight_km"] - 0.1
    assert (
        "saison"
        in answer_route(
            layers, Endpoint("point", *a), Endpoint("point", *b), mode="car", lang="fr"
        )["time_meaning"]
    )


def test_a_provider_destination_equals_the_nearest_answer(layers):
    start = (-3.9, 14.9)  # near Konna
    found = answer_nearest(layers, lon=start[0], lat=start[1], service="medical", mode="car", k=3)[
        "results"
    ]
    for r in found:
        table = layers.table(False)
        i = table.frame["id"].astype(str).tolist().index(r["id"])
        end = Endpoint("provider", float(table.lon[i]), float(table.lat[i]), provider=r)
        answer = answer_route(layers, Endpoint("point", *start), end, mode="car")
        assert answer["travel_time_min"] == pytest.approx(r["travel_time_min"], abs=0.051)
        assert answer["distance_km"] == pytest.approx(r["distance_km"], abs=0.2)


def test_cli_places_providers_and_privacy(env):
    runner = CliRunner()
    ok = runner.invoke(app, ["route", "--from", "Bamako", "--to", "osc-mopti", "--json"])
    assert ok.exit_code == 0, ok.output
    answer = json.loads(ok.output)
    assert answer["from"]["place"]["name"] == "Bamako"
    assert answer["to"]["provider"]["id"] == "osc-mopti" and answer["travel_time_min"] > 60
    confidential = next(
        f["properties"]["id"]
        for f in json.loads((REPO / "data" / "providers.geojson").read_text())["features"]
        if f["properties"]["confidential"] and f["geometry"]
    )
    hidden = runner.invoke(app, ["route", "--from", "Bamako", "--to", confidential])
    unknown = runner.invoke(app, ["route", "--from", "Bamako", "--to", "no-such-provider"])
    assert hidden.exit_code == unknown.exit_code == 1
    # the same refusal for a confidential id and an unknown one
    assert hidden.output.replace(confidential, "X") == unknown.output.replace(
        "no-such-provider", "X"
    )
    seen = runner.invoke(
        app,
        ["route", "--from", "Bamako", "--to", confidential, "--json"],
        env={"ORIENTER_CASEWORKER_TOKEN": TOKEN},
    )
    assert seen.exit_code == 0, seen.output and json.loads(seen.output)["to"]["provider"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--from", "zzqxwv", "--to", "Mopti"], "--from"),
        (["--from", "Bamako", "--to", "48.85,2.35"], "--to"),
        (["--from", "Bamako", "--to", "Mopti", "--scenario", "flood"], "--scenario"),
        (["--from", "Bamako", "--to", "Mopti", "--lang", "de"], "--lang"),
        (["--from", "nan,12", "--to", "Mopti"], "--from"),
    ],
)
def test_cli_errors_name_the_option(env, args, needle):
    result = CliRunner().invoke(app, ["route", *args])
    # 1: the command refused the value; 2: Click's usage error (choices)
    assert result.exit_code in (1, 2) and needle in result.output, result.output


def test_route_errors_are_typed(layers):
    with pytest.raises(RouteError) as info:
        answer_route(
            layers, Endpoint("point", -8.0, 12.6), Endpoint("point", 2.35, 48.85), mode="car"
        )
    assert info.value.parameter == "to"


# ------------------------------------------------------------------ GET /api/v1/route


@pytest.fixture(scope="module")
def client(car_settings):
    from fastapi.testclient import TestClient

    from api.http.app import create_app

    settings = car_settings(TOKEN)
    with TestClient(create_app(settings)) as c:
        yield c


def _confidential_id() -> str:
    return next(
        f["properties"]["id"]
        for f in json.loads((REPO / "data" / "providers.geojson").read_text())["features"]
        if f["properties"]["confidential"] and f["geometry"]
    )


def test_http_route_equals_the_command(client, env):
    r = client.get("/api/v1/route", params={"from": "Bamako", "to": "osc-mopti"})
    assert r.status_code == 200, r.text
    cli = CliRunner().invoke(app, ["route", "--from", "Bamako", "--to", "osc-mopti", "--json"])
    expected = json.loads(cli.output)
    got = r.json()
    for key in ("travel_time_min", "distance_km", "offroad_km", "route_conflict", "to", "from"):
        assert got[key] == expected[key], key
    assert got["route"]["type"] == "LineString"
    assert "saison" in got["time_meaning"]  # French unless asked otherwise
    english = client.get(
        "/api/v1/route",
        params={"from": "-7.99,12.64", "to": "-4.19,14.49"},
        headers={"Accept-Language": "en"},
    ).json()
    assert "season" in english["time_meaning"]


def test_http_route_hides_confidential_destinations(client):
    hidden_id = _confidential_id()
    hidden = client.get("/api/v1/route", params={"from": "Bamako", "to": hidden_id})
    unknown = client.get("/api/v1/route", params={"from": "Bamako", "to": "no-such-provider"})
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()
    assert hidden_id not in hidden.text
    assert hidden.json()["detail"]["parameter"] == "to"
    seen = client.get(
        "/api/v1/route",
        params={"from": "Bamako", "to": hidden_id},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert seen.status_code == 200 and seen.json()["to"]["provider"]["id"] == hidden_id
    assert seen.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("params", "status", "code", "parameter"),
    [
        ({"from": "zzqxwv", "to": "Mopti"}, 404, "place_not_found", "from"),
        ({"from": "Bamako", "to": "48.85,2.35"}, 422, "route_outside", "to"),
        ({"from": "nan,12", "to": "Mopti"}, 422, "route_end", "from"),
        ({"from": "!!!", "to": "Mopti"}, 422, "no_letters", "from"),
        ({"from": "Bamako", "to": "Mopti", "mode": "boat"}, 422, "unknown_value", "mode"),
        ({"from": "Bamako", "to": "Mopti", "scenario": "flood"}, 422, "unknown_value", "scenario"),
        ({"to": "Mopti"}, 422, "missing", "from"),
    ],
)
def test_http_route_errors_name_the_parameter_not_the_value(
    client, params, status, code, parameter
):
    r = client.get("/api/v1/route", params=params)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert (detail["code"], detail["parameter"]) == (code, parameter)
    for value in params.values():
        if len(value) > 3:
            assert value not in detail["message"]


def test_a_what_if_centre_in_a_closed_zone_says_so(client, layers):
    """Under ``avoid`` a centre added inside a closed conflict zone is refused as closed,
    in the asker's language; a point off the grid is refused as unreachable."""
    graph = layers.graphs[("car", "avoid")]
    closed = np.flatnonzero(~np.isfinite(graph.cell_pace))
    assert len(closed), "the avoid scenario closes no cell"
    xs, ys = graph.grid.cell_centres()
    middle = closed[len(closed) // 2]
    lon, lat = graph_lonlat(float(xs[middle]), float(ys[middle]))
    params = {"add": f"{lon:.5f},{lat:.5f}", "scenario": "avoid", "service": "medical"}
    r = client.get("/api/v1/whatif", params=params)
    assert r.status_code == 422, r.text
    assert (r.json()["detail"]["code"], r.json()["detail"]["parameter"]) == ("add_closed", "add")
    assert "zone fermée" in r.json()["detail"]["message"]
    english = client.get("/api/v1/whatif", params=params, headers={"Accept-Language": "en"})
    assert "closed" in english.json()["detail"]["message"]
    # the same point under the baseline is a centre like any other
    ok = client.get("/api/v1/whatif", params={**params, "scenario": "baseline"})
    assert ok.status_code == 200, ok.text


def graph_lonlat(x: float, y: float) -> tuple[float, float]:
    from pyproj import Transformer

    from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS

    lon, lat = Transformer.from_crs(METRIC_CRS, GEOGRAPHIC_CRS, always_xy=True).transform(x, y)
    return float(lon), float(lat)
