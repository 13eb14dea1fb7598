"""No error message repeats what the client sent, on any route (issue 14).

Every GET route of the app, found by walking it (a new route is covered without being
listed), is asked with each of its parameters, path and query, set to a marker value
that no route accepts; the query parameters the pages read themselves are added.  No
answer of 400 or more may contain the marker (not even in a link), and every such answer
is in French with the security headers: the one JSON error shape, or for a page an HTML
error page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_noninterference import PAGE_PARAMS, get_routes

from api.http.app import create_app

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
MARKER = "Zq7echo<b>"
#: Parameters a route may rightly repeat in a successful answer (a search's own query).
FREE_TEXT = {"q", "place", "from", "to"}


@pytest.fixture(scope="module")
def client(car_settings):
    settings = car_settings()
    with TestClient(create_app(settings)) as c:
        yield c


def _asks(client) -> list[tuple[str, str, str, dict]]:
    """(route, parameter, path, query) for every parameter of every GET route."""
    out = []
    for route in get_routes(client.app):
        if route.path in {"/docs", "/openapi.json"}:
            continue
        path_names = re.findall(r"{(\w+)}", route.path)
        base_path = route.path
        for n in path_names:
            base_path = base_path.replace("{" + n + "}", "ML05" if n == "pcode" else "adm1")
        names = [p.alias or p.name for p in route.dependant.query_params]
        names += [n for n in PAGE_PARAMS.get(route.path, []) if n not in names]
        for n in path_names:
            out.append((route.path, n, route.path.replace("{" + n + "}", MARKER), {}))
        for n in names:
            out.append((route.path, n, base_path, {n: MARKER}))
    return out


def test_no_error_repeats_the_value_sent(client):
    asks = _asks(client)
    assert len(asks) > 40  # the walk found the routes
    refused = 0
    for route, name, path, query in asks:
        r = client.get(path, params=query)
        if r.status_code < 400:
            # a search may repeat its own text in its answer; nothing else may
            assert name in FREE_TEXT or MARKER not in r.text, (route, name, r.status_code)
            continue
        refused += 1
        assert MARKER not in r.text and "Zq7echo" not in r.text, (route, name, r.text[:300])
        assert "frame-ancestors" in r.headers["content-security-policy"]
        if r.headers["content-type"].startswith("text/html"):
            assert not route.startswith("/api/"), (route, name)
            continue
        assert r.headers["content-type"].startswith("application/json"), (route, name)
        detail = r.json()["detail"]
        assert detail["code"] and detail["message"], (route, name)
        # French by default, on pages and API alike
        assert r.headers.get("content-language", "fr") == "fr", (route, name)
    assert refused > 20
