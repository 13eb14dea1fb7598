"""The request guard's security headers (:mod:`api.http.guard`), header by header, on
answers that carry none of them and on answers that already carry some: the quick path
for the first kind and the general path for the second give the headers spelled here."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from api.http.guard import RequestGuard

PLAIN = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("vary", "Authorization"),
    ("content-security-policy", "default-src 'self'; frame-ancestors 'none'"),
    ("x-frame-options", "DENY"),
]


def _app() -> Starlette:
    def plain(request):
        return PlainTextResponse("ok")

    def own_policy(request):
        return PlainTextResponse(
            "ok", headers={"Content-Security-Policy": "default-src 'self'; img-src data:"}
        )

    def varies(request):
        return PlainTextResponse("ok", headers={"Vary": "Accept-Language"})

    routes = [
        Route("/plain", plain),
        Route("/own", own_policy),
        Route("/varies", varies),
        Route("/regions/ML01/carte", plain),
    ]
    return Starlette(routes=routes, middleware=[])


@pytest.fixture(scope="module")
def client():
    app = RequestGuard(_app(), max_body=1000, max_url=1000)
    return TestClient(app)


def _guarded(response) -> list[tuple[str, str]]:
    names = {name for name, _ in PLAIN} | {"cache-control"}
    return [(k.lower(), v) for k, v in response.headers.items() if k.lower() in names]


def test_an_answer_without_them_gets_each_header_once_in_order(client):
    assert _guarded(client.get("/plain")) == PLAIN


def test_a_token_adds_no_store(client):
    got = _guarded(client.get("/plain", headers={"Authorization": "Bearer x"}))
    assert got == [*PLAIN[:3], ("cache-control", "no-store"), *PLAIN[3:]]


def test_a_page_framed_by_its_own_site_allows_its_origin(client):
    got = dict(_guarded(client.get("/regions/ML01/carte")))
    assert got["content-security-policy"] == "default-src 'self'; frame-ancestors 'self'"
    assert got["x-frame-options"] == "SAMEORIGIN"


def test_an_answers_own_policy_and_vary_are_extended_not_replaced(client):
    own = dict(_guarded(client.get("/own")))
    assert own["content-security-policy"] == (
        "default-src 'self'; img-src data:; frame-ancestors 'none'"
    )
    varies = dict(_guarded(client.get("/varies")))
    assert varies["vary"] == "Accept-Language, Authorization"
    assert varies["x-frame-options"] == "DENY"
