"""Fuzzing the app from its OpenAPI schema (schemathesis): no input gives a 5xx, and
every answer is what the OpenAPI says it is (status, media type and body schema).

Bounded: the API endpoints get a few dozen generated requests each (valid and invalid
values, boundaries, odd strings), the heavier planning and briefing operations a few;
in-process over ASGI on the session car build.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.http.app import create_app

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TOKEN = "fuzz-caseworker-token"
API = r"^/api/v1/(health|nearest|providers|coverage|places|conflict/zones)$"

# The operations come from the app's own schema (no layers needed to list them); the
# requests go to an app on the session car build, started once (its lifespan).
schema = schemathesis.openapi.from_dict(create_app().openapi())


@pytest.fixture(scope="module")
def fuzz_app(car_settings):
    return create_app(car_settings(TOKEN))


def _header(response, name: str) -> str:
    value = response.headers.get(name, [""])
    return value[0] if isinstance(value, list) else value


#: What every answer must satisfy: no 5xx, a documented status and media type, and a
#: body that the documented schema accepts (the real error body, GeoJSON, the models).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _check(case, app, caplog) -> None:
    caplog.set_level(logging.WARNING)
    response = case.call(base_url="http://localhost", app=app)
    case.validate_response(response, checks=CHECKS)
    assert _header(response, "x-content-type-options") == "nosniff"
    if response.status_code >= 400 and case.path.startswith("/api/"):
        # every API error in the one documented shape
        assert _header(response, "content-type").startswith("application/json"), response.text
        detail = response.json()["detail"]
        assert {"code", "message", "parameter"} <= set(detail), detail
    # whatever was sent, no API log line but, at most, an error's type
    for record in caplog.records:
        assert not record.name.startswith("api.") or record.getMessage().startswith(
            ("unexpected ", "coverage unavailable")
        ), record.getMessage()


@schema.include(path_regex=API).parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_api_input_gives_a_server_error(case, fuzz_app, caplog):
    _check(case, fuzz_app, caplog)


@schema.exclude(path_regex=API).parametrize()
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_page_or_planning_input_gives_a_server_error(case, fuzz_app, caplog):
    _check(case, fuzz_app, caplog)


def test_openapi_documents_the_real_error_body_and_geojson():
    doc = create_app().openapi()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ErrorBody" in schemas
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
    for path in ("/api/v1/providers", "/api/v1/conflict/zones"):
        ok = doc["paths"][path]["get"]["responses"]["200"]["content"]
        assert list(ok) == ["application/geo+json"], path
    parameters = {
        p["name"]: p["schema"] for p in doc["paths"]["/api/v1/coverage"]["get"]["parameters"]
    }
    assert parameters["mode"]["enum"] == ["walk", "motorbike", "car"]
    for name in ("level", "service", "scenario", "format"):
        ref = parameters[name]["$ref"].rsplit("/", 1)[1]
        assert schemas[ref]["enum"], name
