"""``GET /api/v1/nearest`` answers a plain query directly, without the router
(:class:`api.http.routes.nearest.PlainNearest`), and leaves anything else, and every
error, to FastAPI: both paths must give the same answer, status, headers and error for
every query, and the direct path must really be the one plain queries take."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from test_noninterference import get_routes

import api.http.routes.nearest as nearest_module
from api.http.app import create_app
from api.http.params import allowed_parameters

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TOKEN = "direct-path-token"

#: Queries the direct path reads (each must take it) ...
PLAIN = [
    "lat=14.4974&lon=-4.1967",
    "lat=14.4974&lon=-4.1967&k=3&service=medical",
    "lat=12.6392&lon=-8.0029&k=20&service=one_stop_centre&scenario=baseline&mode=car",
    "lat=16.2667&lon=-0.05&k=1&routes=true",
    "lat=16.2667&lon=-0.05&routes=false&lang=en",
    "lat=16.2667&lon=-0.05&routes=1&service=legal",
    "place=Konna",
    "place=Kona&k=2",
    "place=Sévaré&service=psychosocial",
    "place=zzzzqqq",  # not found: the endpoint's own 404
    "lat=14.4974",  # no lon: the endpoint's own 422
    "lat=90&lon=180",  # the bounds themselves, outside Mali
    "lat=-0&lon=0",
    "lat=14.4974&lon=-4.1967&scenario=slowed",  # not built here: the endpoint's 422
    "lat=14.4974&lon=-4.1967&mode=walk",  # not built here
    "",
]
#: ... and queries it leaves to FastAPI (each must not).
CHECKED = [
    "lat=91&lon=-4",
    "lat=14.5&lon=-181",
    "lat=abc&lon=-4",
    "lat=1e1&lon=-4",
    "lat=14.&lon=-4",
    "lat=+14.5&lon=-4",
    "lat=%2014.5&lon=-4",
    "lat=14.5&lat=14.6&lon=-4",
    "lat=14.5&lon=-4&k=0",
    "lat=14.5&lon=-4&k=21",
    "lat=14.5&lon=-4&k=05",
    "lat=14.5&lon=-4&k=%EF%BC%95",  # a full-width digit
    "lat=14.5&lon=-4&k=",
    "lat=14.5&lon=-4&service=shelters",
    "lat=14.5&lon=-4&service=",
    "lat=14.5&lon=-4&scenario=Avoid",
    "lat=14.5&lon=-4&mode=Car",
    "lat=14.5&lon=-4&routes=yes",
    "lat=14.5&lon=-4&routes=",
    "lat=14.5&lon=-4&unknown=1",
    "lat=14.5&lon=-4&utm_source=x",
    "place=" + "a" * 101,
    "place=",
    "lat&lon",
]


@pytest.fixture(scope="module")
def client(car_settings):
    settings = car_settings(TOKEN)
    with TestClient(create_app(settings)) as c:
        yield c


def _ask(client, monkeypatch, query: str, *, direct: bool, headers: dict | None = None):
    """The answer, with the direct path allowed or not, and whether it was taken."""
    taken = []
    plain = nearest_module.plain_query

    def spy(request):
        found = plain(request) if direct else None
        taken.append(found is not None)
        return found

    with monkeypatch.context() as m:
        m.setattr(nearest_module, "plain_query", spy)
        r = client.get(f"/api/v1/nearest?{query}", headers=headers or {})
    return r, any(taken)


def _same(a, b) -> None:
    assert a.status_code == b.status_code
    assert json.loads(a.content) == json.loads(b.content)
    for name in ("content-type", "cache-control", "vary", "content-security-policy"):
        assert a.headers.get(name) == b.headers.get(name), name


@pytest.mark.parametrize("query", PLAIN)
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_plain_query_is_read_directly_and_answered_as_fastapi_would(
    client, monkeypatch, query, lang
):
    headers = {"Accept-Language": lang}
    fast, took = _ask(client, monkeypatch, query, direct=True, headers=headers)
    slow, _ = _ask(client, monkeypatch, query, direct=False, headers=headers)
    assert took, query
    _same(fast, slow)


def test_the_plain_queries_include_answers(client, monkeypatch):
    """The list is not all errors: most plain queries are answered."""
    ok = [q for q in PLAIN if _ask(client, monkeypatch, q, direct=True)[0].status_code == 200]
    assert len(ok) >= 8


@pytest.mark.parametrize("query", CHECKED)
def test_anything_else_goes_through_fastapi(client, monkeypatch, query):
    fast, took = _ask(client, monkeypatch, query, direct=True)
    slow, _ = _ask(client, monkeypatch, query, direct=False)
    assert not took, query
    _same(fast, slow)


def test_a_token_always_goes_through_fastapi(client, monkeypatch):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    query = "lat=14.4974&lon=-4.1967&service=shelter"
    fast, took = _ask(client, monkeypatch, query, direct=True, headers=headers)
    assert not took and fast.status_code == 200
    assert fast.json()["query"]["includes_confidential"] is True
    public, took = _ask(client, monkeypatch, query, direct=True)
    assert took and public.json()["query"]["includes_confidential"] is False


def test_the_direct_path_reads_every_parameter_of_the_route(client):
    route = next(r for r in get_routes(client.app) if r.path == "/api/v1/nearest")
    assert set(nearest_module._PLAIN) == set(allowed_parameters(route))
    nearest_module.check_plain_parameters()


def test_the_direct_path_runs_inside_the_request_guard(client):
    """The guard (limits, security headers) wraps the plain path: it is added first, so
    it sits inside the guard in the stack."""
    names = [m.cls.__name__ for m in client.app.user_middleware]
    assert names.index("RequestGuard") < names.index("PlainNearest")


def test_a_plain_answer_does_not_reach_the_router(client, monkeypatch):
    """The plain path answers by itself: the route's handler is not called for it."""
    calls = []
    kind = type(client.app.router)
    original = kind.__call__

    async def counting(self, scope, receive, send):
        calls.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(kind, "__call__", counting)
    assert client.get("/api/v1/nearest?lat=14.4974&lon=-4.1967").status_code == 200
    assert calls == []
    assert client.get("/api/v1/nearest?lat=14.4974&lon=-4.1967&k=05").status_code == 200
    assert calls == ["/api/v1/nearest"]


@given(
    lat=st.floats(-95, 95, allow_nan=False).map(lambda v: f"{v:.{abs(hash(v)) % 9}f}"),
    lon=st.floats(-185, 185, allow_nan=False).map(lambda v: f"{v:.{abs(hash(v)) % 9}f}"),
    k=st.integers(-1, 22),
)
@hyp_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_number_is_read_alike_on_both_paths(client, monkeypatch, lat, lon, k):
    query = f"lat={lat}&lon={lon}&k={k}"
    fast, _ = _ask(client, monkeypatch, query, direct=True)
    slow, _ = _ask(client, monkeypatch, query, direct=False)
    _same(fast, slow)
