"""One what-if and one siting, whoever asks: the command line, the API and the planning page
give the same answers (one computation, :mod:`api.services.planning`).

On the session car build of the real data.
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
from web.formats import format_people

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def settings(car_settings):
    return car_settings()


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture()
def run(settings, cli_settings):
    """``orienter <args> --format json`` on the same build, as parsed JSON."""
    cli_settings(settings)

    def invoke(*args: str) -> dict:
        result = CliRunner().invoke(cli, [*args, "--format", "json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return invoke


def _untimed(answer: dict) -> dict:
    return {**answer, "meta": {k: v for k, v in answer["meta"].items() if k != "seconds"}}


@pytest.mark.parametrize(
    ("cli_args", "params"),
    [
        (["--add", "-2.95,15.0", "--level", "adm2"], {"add": "-2.95,15.0", "level": "adm2"}),
        (
            ["--add", "-4.2,14.5", "--service", "medical", "--threshold-min", "60"],
            {"add": "-4.2,14.5", "service": "medical", "threshold_min": 60, "level": "adm1"},
        ),
        (
            ["--remove", "osc-gao", "--scenario", "avoid", "--level", "adm3"],
            {"remove": "osc-gao", "scenario": "avoid", "level": "adm3"},
        ),
    ],
)
def test_what_if_is_the_same_from_the_cli_and_the_api(run, client, cli_args, params):
    api = client.get("/api/v1/whatif", params=params)
    assert api.status_code == 200, api.text
    assert _untimed(run("site", *cli_args)) == _untimed(api.json())


def test_siting_is_the_same_from_the_cli_and_the_api(run, client):
    api = client.get("/api/v1/site", params={"n": 3, "threshold_min": 60})
    assert api.status_code == 200, api.text
    answer = run("site", "--n", "3", "--threshold-min", "60")
    assert _untimed(answer) == _untimed(api.json())
    assert len(answer["sites"]) == 3


def test_the_planning_page_shows_what_the_what_if_starts_from(run, client):
    """The page's national figure is the what-if's "before"; its list of providers to
    remove is the one the what-if accepts (its what-if then runs on /api/v1/whatif)."""
    answer = run("site", "--remove", "osc-gao", "--level", "adm1")
    page = unescape(client.get("/planifier", params={"threshold_min": "120"}).text)
    meta = answer["meta"]
    beyond = format_people(meta["population_total"] - meta["within_before"], "fr")
    assert beyond in page
    refused = client.get("/api/v1/whatif", params={"remove": "no-such-provider"}).json()
    for pid in refused["detail"]["allowed"]:
        assert f'<option value="{pid}">' in page
    assert page.count("<option value=") >= len(refused["detail"]["allowed"])
