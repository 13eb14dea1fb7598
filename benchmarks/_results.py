"""Shared by the benchmark scripts: timing a command, writing one section of RESULTS.md."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server a benchmark starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running ``orienter serve``: its process, base URL, command and how long it took
    to be ready (seconds)."""

    proc: subprocess.Popen
    base: str
    cmd: list[str]
    ready_s: float


@contextmanager
def serving(
    args: list[str],
    env: dict,
    *,
    ready: Callable[[dict], bool] = lambda health: True,
    stop_s: float = 30.0,
) -> Iterator[Served]:
    """``orienter serve --port <free port> <args>`` with ``env``, once ``/api/v1/health``
    answers with a JSON that ``ready`` accepts; stopped with SIGINT on leaving (killed
    after ``stop_s``).  SystemExit with its last error lines if it exits first."""
    orienter = Path(sys.executable).with_name("orienter")
    cmd = [str(orienter), "serve", "--port", str(free_port()), *args]
    base = f"http://127.0.0.1:{cmd[3]}"
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            if proc.poll() is not None:
                tail = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                raise SystemExit(f"orienter serve exited: {tail}")
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=2) as r:
                    if ready(json.loads(r.read())):
                        break
            except OSError:
                pass
            time.sleep(0.2)
        yield Served(proc, base, cmd, time.monotonic() - started)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=stop_s)
        except subprocess.TimeoutExpired:
            proc.kill()


def tree_memory(pid: int) -> dict:
    """RSS, PSS and USS of a process and all its children, GB (PSS splits the pages that
    forked workers share; RSS counts them once per process)."""
    import psutil

    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    rss = pss = uss = 0
    for p in procs:
        try:
            full = p.memory_full_info()
        except psutil.Error:
            continue
        rss += full.rss
        pss += getattr(full, "pss", full.rss)
        uss += full.uss
    gb = 1024**3
    return {"processes": len(procs), "rss_gb": rss / gb, "pss_gb": pss / gb, "uss_gb": uss / gb}


RESULTS = Path(__file__).resolve().with_name("RESULTS.md")
_HEADER = (
    "# Benchmark results\n\nFigures written by the scripts in `benchmarks/`; each script "
    "rewrites only its own section.\n\n"
)


def write_section(tag: str, body: str) -> Path:
    """Put ``body`` between ``<!-- BEGIN tag -->`` and ``<!-- END tag -->`` (appended if new)."""
    begin, end = f"<!-- BEGIN {tag} -->", f"<!-- END {tag} -->"
    block = f"{begin}\n{body.strip()}\n{end}\n"
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else _HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _m: block, old)
    else:
        new = old.rstrip() + "\n\n" + block
    RESULTS.write_text(new, encoding="utf-8")
    return RESULTS


def timed(args: list[str], env: dict, cwd: Path) -> tuple[float, float, int, str]:
    """Run ``args`` under /usr/bin/time: wall s, peak RSS GB, exit code, stdout."""
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "TIME %e %M", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"TIME ([\d.]+) (\d+)", proc.stderr)
    if match is None:
        raise RuntimeError(f"{args}: no timing in stderr:\n{proc.stderr[-2000:]}")
    return float(match[1]), int(match[2]) / 1024**2, proc.returncode, proc.stdout


def points_in_adm0(adm0: Path, n: int, seed: int):
    """``n`` points uniform by area inside the country polygon of ``adm0``: (lon, lat) arrays.

    Seeded, so every benchmark run queries the same points.
    """
    import geopandas as gpd
    import numpy as np
    import shapely
    from pyproj import Transformer

    from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS

    poly = gpd.read_file(adm0).to_crs(METRIC_CRS).union_all()
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = poly.bounds
    xs, ys = [], []
    while sum(len(v) for v in xs) < n:
        x = rng.uniform(minx, maxx, 4 * n)
        y = rng.uniform(miny, maxy, 4 * n)
        inside = shapely.contains_xy(poly, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
    x = np.concatenate(xs)[:n]
    y = np.concatenate(ys)[:n]
    lon, lat = Transformer.from_crs(METRIC_CRS, GEOGRAPHIC_CRS, always_xy=True).transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def cpu_model(default: str = "unknown") -> str:
    """The CPU's model name from /proc/cpuinfo (``default`` where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default


def run_info(argv: list[str]) -> dict:
    """Where and when a benchmark ran: the command, date, commit, processors and the load
    average (other processes on the machine slow wall-clock figures: say so)."""
    import datetime
    import os
    import sys

    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    script = Path(argv[0]).resolve()
    try:
        script_name = str(script.relative_to(repo))
    except ValueError:
        script_name = script.name
    return {
        "command": " ".join(["python", script_name, *argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "unknown",
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "python": sys.version.split()[0],
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
