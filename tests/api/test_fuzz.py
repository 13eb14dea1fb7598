"""Fuzzing the app from its OpenAPI schema (schemathesis): no input gives a 5xx.

Bounded: the API endpoints get a few dozen generated requests each (valid and invalid
values, boundaries, odd strings), the heavier planning and briefing operations a few;
in-process over ASGI on the session car build.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.http.app import create_app
from api.settings import Settings

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TOKEN = "fuzz-caseworker-token"
API = r"^/api/v1/(health|nearest|providers|coverage|places|conflict/zones)$"

# The operations come from the app's own schema (no layers needed to list them); the
# requests go to an app on the session car build, started once (its lifespan).
schema = schemathesis.openapi.from_dict(create_app().openapi())


@pytest.fixture(scope="module")
def fuzz_app(data_dir, car_build):
    return create_app(
        Settings(
            data_dir=data_dir,
            build_dir=car_build,
            providers=REPO / "data" / "providers.geojson",
            boundaries_dir=car_build / "no-user-boundaries",
            caseworker_token_hashes=[hashlib.sha256(TOKEN.encode()).hexdigest()],
        )
    )


def _header(response, name: str) -> str:
    value = response.headers.get(name, [""])
    return value[0] if isinstance(value, list) else value


def _check(case, app, caplog) -> None:
    caplog.set_level(logging.WARNING)
    response = case.call(base_url="http://localhost", app=app)
    case.validate_response(response, checks=[not_a_server_error])
    assert _header(response, "x-content-type-options") == "nosniff"
    if response.status_code >= 400 and case.path.startswith("/api/"):
        # every API error in the one documented shape
        assert _header(response, "content-type").startswith("application/json"), response.text
        detail = response.json()["detail"]
        assert {"code", "message", "parameter"} <= set(detail), detail
    # whatever was sent, no API log line but, at most, an error's type
    for record in caplog.records:
        assert not record.name.startswith("api.http.app") or record.getMessage().startswith(
            ("unexpected ", "coverage unavailable")
        )


@schema.include(path_regex=API).parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_api_input_gives_a_server_error(case, fuzz_app, caplog):
    _check(case, fuzz_app, caplog)


@schema.exclude(path_regex=API).parametrize()
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_page_or_planning_input_gives_a_server_error(case, fuzz_app, caplog):
    _check(case, fuzz_app, caplog)
