"""Eight clients flood the heavy endpoints of a real ``orienter serve``.

For a bounded time, 8 threads ask what-ifs, siting and briefings (varied parameters, so
the caches do not answer for them) while one client asks ``/api/v1/nearest`` and the
pages.  The server must stay within 1.5 GB of its idle memory (the whole process tree),
keep answering ``/api/v1/nearest`` and the pages, and refuse only with 503 (or 429)
carrying ``Retry-After`` and the one JSON error shape.  Every point asked lies inside Mali
(seeded), so any other status is a failure.  How fast the light requests stay under the
flood is measured by ``benchmarks/bench_soak.py`` (no timing asserted here).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
FLOOD_S = 40.0
CLIENTS = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree_rss(pid: int) -> float:
    """Resident memory of the process and its children, GB (shared pages once: PSS)."""
    total = 0
    for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            info = p.memory_full_info()
        except psutil.Error:
            continue
        total += getattr(info, "pss", info.rss)
    return total / 1024**3


@pytest.fixture(scope="module")
def server(data_dir, car_build, tmp_path_factory):
    port = _free_port()
    logs = tmp_path_factory.mktemp("flood")
    env = {
        **os.environ,
        "ORIENTER_DATA_DIR": str(data_dir),
        "ORIENTER_BUILD_DIR": str(car_build),
        "ORIENTER_PROVIDERS": str(REPO / "data" / "providers.geojson"),
        "ORIENTER_BOUNDARIES_DIR": str(logs / "no-user-boundaries"),
        "ORIENTER_WARM_UP": "true",
    }
    orienter = Path(sys.executable).with_name("orienter")
    with (logs / "err.txt").open("wb") as err:
        proc = subprocess.Popen(
            [str(orienter), "serve", "--port", str(port)],
            cwd=logs,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 240
            while True:
                assert proc.poll() is None, (logs / "err.txt").read_text()
                try:
                    if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "no health within 240 s"
                time.sleep(0.5)
            # warm: the tables the pages open with, and the heavy paths compiled once
            with httpx.Client(base_url=base, timeout=120) as c:
                c.get("/api/v1/whatif", params={"add": "-4.0,14.0"})
                c.get("/planifier")
            time.sleep(5)
            yield base, proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def mali_points(data_dir) -> list[tuple[float, float]]:
    """500 seeded points inside Mali's ADM0 polygon (lon, lat)."""
    import geopandas as gpd
    import shapely

    mali = gpd.read_file(data_dir / "boundaries" / "mli_adm0_ocha_cod_2015.geojson")
    shape = mali.to_crs("EPSG:4326").union_all()
    rng = np.random.default_rng(2026)
    minx, miny, maxx, maxy = shape.bounds
    lon, lat = rng.uniform(minx, maxx, 4000), rng.uniform(miny, maxy, 4000)
    inside = shapely.contains_xy(shape, lon, lat)
    return list(zip(lon[inside][:500].tolist(), lat[inside][:500].tolist(), strict=True))


def _heavy_request(rng: random.Random, points: list) -> tuple[str, dict]:
    kind = rng.choice(["whatif", "whatif", "site", "brief"])
    if kind == "whatif":
        lon, lat = rng.choice(points)
        service = rng.choice(["one_stop_centre", "medical", "psychosocial", "legal"])
        return "/api/v1/whatif", {
            "add": f"{lon:.4f},{lat:.4f}",
            "service": service,
            "threshold_min": rng.choice([30, 60, 120, 300]),
            "level": rng.choice(["adm1", "adm2", "adm3"]),
        }
    if kind == "site":
        return "/api/v1/site", {
            "service": rng.choice(["one_stop_centre", "medical", "legal"]),
            "n": rng.randint(1, 4),
            "threshold_min": rng.choice([60, 120]),
        }
    pcode = rng.choice(["ML01", "ML02", "ML03", "ML04", "ML05", "ML06", "ML07"])
    return f"/regions/{pcode}/brief.pdf", {"lang": rng.choice(["fr", "en"])}


def test_a_flood_of_heavy_work_stays_bounded(server, mali_points):
    base, proc = server
    idle = _tree_rss(proc.pid)
    stop = time.monotonic() + FLOOD_S
    statuses: list[int] = []
    refusals: list[httpx.Response] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=120) as c:
            while time.monotonic() < stop:
                path, params = _heavy_request(rng, mali_points)
                r = c.get(path, params=params)
                with lock:
                    statuses.append(r.status_code)
                    if r.status_code in (429, 503):
                        refusals.append(r)
                if r.status_code in (429, 503):
                    time.sleep(min(float(r.headers.get("retry-after", "1")), 2.0))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    answered, pages, peak = 0, 0, idle
    with httpx.Client(base_url=base, timeout=30) as c:
        while time.monotonic() < stop:
            lon, lat = mali_points[answered % len(mali_points)]
            r = c.get("/api/v1/nearest", params={"lon": f"{lon:.4f}", "lat": f"{lat:.4f}"})
            assert r.status_code == 200, r.text
            answered += 1
            if answered % 20 == 0:
                assert c.get("/trouver").status_code == 200
                pages += 1
                peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.02)
    for t in threads:
        t.join(180)
    peak = max(peak, _tree_rss(proc.pid))
    assert answered >= 20 and pages >= 1, "the light client was starved"
    assert peak - idle <= 1.5, f"memory grew {peak - idle:.2f} GB (idle {idle:.2f} GB)"
    assert set(statuses) <= {200, 429, 503}, sorted(set(statuses))
    assert statuses.count(200) > 0 and refusals, "the flood was not heavy enough to test"
    for r in refusals:
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["detail"]["code"] == "busy"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    health = httpx.get(f"{base}/api/v1/health").json()
    assert health["heavy_work"]["refused"] >= len(refusals)
    assert health["caches"]["planner"]["reach"] <= health["caches"]["planner"]["reach_limit"]
