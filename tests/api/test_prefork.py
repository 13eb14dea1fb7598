"""``orienter serve --workers 2``: one loaded copy shared by forked workers.

The parent loads the layers and the opening tables, then forks; the workers answer,
hold little memory of their own, are replaced when one dies, and all stop on SIGINT.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture
def server(data_dir, car_build, tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "ORIENTER_DATA_DIR": str(data_dir),
        "ORIENTER_BUILD_DIR": str(car_build),
        "ORIENTER_PROVIDERS": str(REPO / "data" / "providers.geojson"),
        "ORIENTER_BOUNDARIES_DIR": str(tmp_path / "no-user-boundaries"),
        "ORIENTER_WARM_UP": "true",  # as users run it (the tests' default is off)
    }
    orienter = Path(sys.executable).with_name("orienter")
    with (tmp_path / "err.txt").open("wb") as err:
        proc = subprocess.Popen(
            [str(orienter), "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert proc.poll() is None, (tmp_path / "err.txt").read_text()
            try:
                return httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        try:
            _wait_for(healthy, 240, "no health within 240 s")
            yield base, proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _workers(proc) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children()


def test_workers_share_the_parent_and_are_replaced_and_stopped(server):
    base, proc = server
    _wait_for(lambda: len(_workers(proc)) == 2, 30, "two workers")
    with httpx.Client(base_url=base, timeout=60) as c:
        for _ in range(20):
            r = c.get("/api/v1/nearest", params={"lon": "-4.19", "lat": "14.48"})
            assert r.status_code == 200
        assert c.get("/api/v1/coverage", params={"level": "adm2"}).status_code == 200
    parent = psutil.Process(proc.pid).memory_full_info()
    for worker in _workers(proc):
        # the tables and layers are the parent's pages: a worker's own memory is small
        assert worker.memory_full_info().uss < 0.5 * parent.rss, worker.memory_full_info()

    first, _second = _workers(proc)
    first.kill()
    _wait_for(
        lambda: len(_workers(proc)) == 2 and first.pid not in {w.pid for w in _workers(proc)},
        30,
        "a new worker replaces the one that died",
    )
    with httpx.Client(base_url=base, timeout=60) as c:
        for _ in range(10):
            assert (
                c.get("/api/v1/nearest", params={"lon": "-8.0", "lat": "12.6"}).status_code == 200
            )

    children = _workers(proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=40) == 0
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive


def test_a_port_in_use_fails_before_loading(data_dir, car_build, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        orienter = Path(sys.executable).with_name("orienter")
        result = subprocess.run(
            [str(orienter), "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env={
                **os.environ,
                "ORIENTER_DATA_DIR": str(data_dir),
                "ORIENTER_BUILD_DIR": str(car_build),
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode != 0
    assert "address already in use" in (result.stdout + result.stderr).lower()
