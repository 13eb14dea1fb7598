"""The HTTP edge (api.http.edge) against a real uvicorn server, with raw sockets.

Each limit gets the one JSON error shape with the security headers, and no answer
repeats what the client sent.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import uvicorn

from api.http import edge
from api.http.app import create_app
from api.settings import Settings


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("edge")
    settings = Settings(build_dir=root / "nothing-built", data_dir=root, warm_up=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        http=edge.EdgeProtocol,
        log_level="critical",
        access_log=False,
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield port
    srv.should_exit = True
    thread.join(5)


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(edge, "REQUEST_TIMEOUT_S", 0.6)
    monkeypatch.setattr(edge, "IDLE_TIMEOUT_S", 0.6)


def _exchange(port: int, data: bytes, *, pause: float = 0.0, wait: float = 3.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        if pause:
            time.sleep(pause)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def _parse(raw: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body)


def _assert_json_error(raw: bytes, status: int, code: str, *, never: bytes = b"") -> dict:
    got, headers, body = _parse(raw)
    assert got == status, raw[:300]
    assert headers["content-type"].startswith("application/json")
    assert headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert body["detail"]["code"] == code and body["detail"]["message"]
    if never:
        assert never not in raw  # nothing the client sent comes back
    return body


def test_an_oversized_header_is_refused_before_it_is_read_whole(server):
    secret = b"X" * 40_000
    raw = _exchange(
        server, b"GET /api/v1/health HTTP/1.1\r\nHost: a\r\nX-Big: " + secret + b"\r\n\r\n"
    )
    _assert_json_error(raw, 431, "headers_too_large", never=b"XXXXXXXX")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/v1/health?x=\x00secret HTTP/1.1\r\nHost: a\r\n\r\n",  # a NUL byte
        b"G@T /secret HTTP/1.1\r\nHost: a\r\n\r\n",  # a bad method
        b"POST /secret HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"GET /secret HTTP/1.1\r\nHost: a\r\nBad Header Name: x\r\n\r\n",
    ],
)
def test_requests_the_parser_refuses_get_the_json_error(server, request_bytes):
    raw = _exchange(server, request_bytes)
    _assert_json_error(raw, 400, "invalid_request", never=b"secret")


def test_a_slow_body_is_cut_off(server, quick):
    start = time.perf_counter()
    raw = _exchange(
        server,
        b"POST /api/v1/health HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789",
        wait=5,
    )
    assert time.perf_counter() - start < 4
    _assert_json_error(raw, 408, "request_timeout", never=b"0123456789")


def test_partial_headers_do_not_keep_a_connection_open(server, quick):
    start = time.perf_counter()
    raw = _exchange(server, b"GET /api/v1/health HTTP/1.1\r\nHost: a\r\nX-Slow: ", wait=5)
    assert time.perf_counter() - start < 4
    _assert_json_error(raw, 408, "request_timeout")


def test_an_idle_connection_is_closed_quietly(server, quick):
    with socket.create_connection(("127.0.0.1", server), timeout=5) as s:
        start = time.perf_counter()
        assert s.recv(100) == b""  # closed, nothing written
        assert time.perf_counter() - start < 4


def test_too_many_connections_get_503_with_retry_after(server, monkeypatch):
    monkeypatch.setattr(edge, "MAX_CONNECTIONS", 3)
    held = [socket.create_connection(("127.0.0.1", server)) for _ in range(3)]
    try:
        time.sleep(0.2)
        raw = _exchange(server, b"GET /api/v1/health HTTP/1.1\r\nHost: a\r\n\r\n")
        _assert_json_error(raw, 503, "busy")
        assert _parse(raw)[1]["retry-after"] == "5"
    finally:
        for s in held:
            s.close()


def test_normal_requests_still_work_and_keep_alive(server):
    with socket.create_connection(("127.0.0.1", server), timeout=5) as s:
        for _ in range(3):
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: a\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                data += s.recv(65536)
            assert data.startswith(b"HTTP/1.1 200")


def test_too_many_parameters_get_400_naming_the_limit_not_the_values(server):
    query = "&".join(f"p{i}=secret{i}" for i in range(10_000))
    raw = _exchange(server, f"GET /api/v1/health?{query} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    # 10,000 parameters make a head larger than 16 KiB: the edge refuses it first
    _assert_json_error(raw, 431, "headers_too_large", never=b"secret")
    query = "&".join(f"p{i}={i}" for i in range(60))
    raw = _exchange(
        server, f"GET /api/v1/health?{query}&s=secret HTTP/1.1\r\nHost: a\r\n\r\n".encode()
    )
    body = _assert_json_error(raw, 400, "too_many_parameters", never=b"secret")
    assert "50" in body["detail"]["message"]


@pytest.mark.parametrize(
    ("path", "framed_by"),
    [
        ("/api/v1/health", "'none'"),
        ("/static/vendor/leaflet/leaflet.css", "'none'"),
        ("/no/such/page", "'none'"),
        ("/regions/ML05/carte", "'self'"),
    ],
)
def test_every_answer_says_who_may_frame_it(server, path, framed_by):
    raw = _exchange(server, f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
    assert f"frame-ancestors {framed_by}" in head, head
    assert (
        "x-frame-options: sameorigin" if framed_by == "'self'" else "x-frame-options: deny"
    ) in head
