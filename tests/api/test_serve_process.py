"""A real ``orienter serve`` process over HTTP: every endpoint answers, and nothing of a
query (coordinates, place name, token) appears in what the process prints."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TOKEN = "serve-test-caseworker-token-7f3a"
# values that must never reach the process output
LAT, LON = "14.48213", "-4.19177"
PLACE = "Douentza"
QUERY_TEXT = "Tenenkou"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=[1, 2], ids=["one-worker", "two-workers"])
def server(request, data_dir, car_build, tmp_path_factory):
    port = _free_port()
    logs = tmp_path_factory.mktemp("serve")
    env = {
        **os.environ,
        "ORIENTER_DATA_DIR": str(data_dir),
        "ORIENTER_BUILD_DIR": str(car_build),
        "ORIENTER_PROVIDERS": str(REPO / "data" / "providers.geojson"),
        "ORIENTER_BOUNDARIES_DIR": str(logs / "no-user-boundaries"),
        "ORIENTER_CASEWORKER_TOKEN_HASHES": f'["{hashlib.sha256(TOKEN.encode()).hexdigest()}"]',
        "PYTHONUNBUFFERED": "1",
    }
    out, err = (logs / "stdout.txt").open("wb"), (logs / "stderr.txt").open("wb")
    orienter = Path(sys.executable).with_name("orienter")
    proc = subprocess.Popen(
        [
            str(orienter),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(request.param),
        ],
        cwd=logs,  # nothing relative to the repository
        env=env,
        stdout=out,
        stderr=err,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"orienter serve exited: {(logs / 'stderr.txt').read_text()}")
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("orienter serve did not answer /api/v1/health within 180 s")
            time.sleep(0.5)
        with httpx.Client(base_url=base, timeout=60) as client:
            yield client, proc, logs
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # uvicorn's clean shutdown
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out.close()
        err.close()


def test_every_endpoint_over_http_and_nothing_in_the_output(server):
    client, proc, logs = server
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    health = client.get("/api/v1/health")
    assert health.json()["status"] == "ok" and health.json()["modes"] == ["car"]
    assert health.headers["referrer-policy"] == "no-referrer"

    r = client.get("/api/v1/nearest", params={"lat": LAT, "lon": LON, "k": 3})
    assert r.status_code == 200 and len(r.json()["results"]) == 3
    r = client.get(
        "/api/v1/nearest", params={"place": PLACE, "service": "psychosocial"}, headers=bearer
    )
    assert r.status_code == 200 and r.json()["query"]["place"]["name"] == PLACE
    r = client.get("/api/v1/nearest", params={"lat": LON, "lon": LAT}, headers=bearer)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "swapped"
    r = client.get("/api/v1/nearest", params={"lat": LAT, "lon": LON, "k": 0})
    assert r.status_code == 422 and r.json()["detail"]["parameter"] == "k"

    r = client.get("/api/v1/providers", headers=bearer)
    assert r.status_code == 200 and len(r.json()["features"]) >= 50
    r = client.get("/api/v1/places", params={"q": QUERY_TEXT})
    assert r.status_code == 200 and r.json()["results"]
    r = client.get("/api/v1/conflict/zones")
    assert r.status_code == 200 and r.json()["features"]
    r = client.get("/api/v1/coverage", params={"level": "adm1"})
    assert r.status_code == 200 and len(r.json()["units"]) == 9
    r = client.get("/api/v1/coverage", params={"level": "adm2", "format": "csv", "hxl": "true"})
    # the HXL hashtag row: each cercle's région first, then the cercle
    hashtags = r.text.splitlines()[1].split(",")
    assert r.status_code == 200 and hashtags[:3] == ["#adm1+code", "#adm1+name", "#adm2+code"]
    r = client.get("/api/v1/places", params={"q": QUERY_TEXT * 300})
    assert r.status_code == 414
    r = client.post("/api/v1/nearest", content=b"z" * 100_000)
    assert r.status_code == 413 and r.json()["detail"]["code"] == "body_too_large"
    r = client.get("/docs")
    assert r.status_code == 200
    r = client.get("/openapi.json")
    assert "/api/v1/coverage" in r.json()["paths"]

    # stop the server cleanly, then read everything it printed
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    printed = (logs / "stdout.txt").read_text(errors="replace") + (logs / "stderr.txt").read_text(
        errors="replace"
    )
    assert f"127.0.0.1:{client.base_url.port}" in printed  # the output was captured
    for secret in (LAT, LON, PLACE, QUERY_TEXT, TOKEN, "GET /api"):
        assert secret not in printed, secret
