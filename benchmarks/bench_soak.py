"""Soak and flood of a real ``orienter serve``: memory over time, errors, latencies.

Starts ``orienter serve --workers N`` on a build, then runs a mixed load for
``--duration`` seconds from client threads in this process:

- ``--nearest`` clients asking ``/api/v1/nearest`` (seeded points inside Mali, every
  service, with and without routes) back to back;
- one client for places (``/api/v1/places``), pages (``/``, ``/trouver``, ``/planifier``,
  ``/regions/<pcode>``) and coverage tables, in turn;
- ``--heavy`` clients asking what-ifs, siting and briefing PDFs with varied parameters
  (so caches cannot answer for them), honouring ``Retry-After`` on 503.

Every ``--sample-s`` seconds it records the memory of the server's whole process tree
(PSS: shared pages split between the processes that map them; and the RSS sum).  It
reports the latency percentiles per kind, the statuses, and memory growth: the mean of
the last fifth of the run against the mean of the fifth after ``--warm-s``; and draws
memory over time (PNG).

``--heavy 8 --nearest 1 --duration 40`` is the flood of issue 14; the default is the
10-minute soak.  ``report "Title=run.json" ...`` writes the ``bench_soak`` section of
RESULTS.md from runs (with ``--plot`` beside each JSON as ``run.png``, copied into
``benchmarks/load_<run>.png``).

Usage::

    ORIENTER_DATA_DIR=../shared/data python benchmarks/bench_soak.py \\
        --build /tmp/orienter-bench/who-all/build --workers 2 --duration 600 \\
        --json soak.json --plot benchmarks/soak_memory.png
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _results import points_in_adm0, run_info, serving, tree_memory, write_section  # noqa: E402

SERVICES = ["one_stop_centre", "medical", "psychosocial", "legal", "reintegration", "shelter"]
REGIONS = [f"ML0{i}" for i in range(1, 10)]


class Recorder:
    """Latencies and statuses per kind of request, from every client thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: dict[str, Counter] = defaultdict(Counter)
        self.failures: list[str] = []

    def add(self, kind: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latency[kind].append(seconds)
            self.status[kind][status] += 1

    def fail(self, kind: str, what: str) -> None:
        with self.lock:
            self.status[kind]["transport-error"] += 1
            self.failures.append(f"{kind}: {what}")


def _nearest_client(base, stop, rec, lon, lat, seed) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=30) as c:
        i = seed
        while time.monotonic() < stop:
            i = (i + 1) % len(lon)
            params = {"lon": f"{lon[i]:.5f}", "lat": f"{lat[i]:.5f}", "k": 5}
            service = rng.choice([None, *SERVICES[:-1]])
            if service:
                params["service"] = service
            if rng.random() < 0.3:
                params["routes"] = "true"
            t = time.perf_counter()
            try:
                r = c.get("/api/v1/nearest", params=params)
            except httpx.HTTPError as exc:
                rec.fail("nearest", type(exc).__name__)
                continue
            rec.add("nearest", time.perf_counter() - t, r.status_code)


def _light_client(base, stop, rec, seed) -> None:
    rng = random.Random(seed)
    asks = [
        ("places", "/api/v1/places", lambda: {"q": rng.choice(["Mopti", "Sev", "Gao", "Kayes"])}),
        ("page /", "/", lambda: {}),
        ("page /trouver", "/trouver", lambda: {}),
        ("page /planifier", "/planifier", lambda: {"service": rng.choice(SERVICES[:-1])}),
        ("page /regions", lambda: f"/regions/{rng.choice(REGIONS)}", lambda: {}),
        ("coverage", "/api/v1/coverage", lambda: {"level": rng.choice(["adm1", "adm2", "adm3"])}),
    ]
    with httpx.Client(base_url=base, timeout=60) as c:
        while time.monotonic() < stop:
            kind, path, params = rng.choice(asks)
            path = path() if callable(path) else path
            t = time.perf_counter()
            try:
                r = c.get(path, params=params())
            except httpx.HTTPError as exc:
                rec.fail(kind, type(exc).__name__)
                continue
            rec.add(kind, time.perf_counter() - t, r.status_code)
            time.sleep(0.05)


def _point(lon, lat, rng) -> str:
    """One of the seeded points inside Mali, as ``LON,LAT`` (a what-if outside is refused)."""
    i = rng.randrange(len(lon))
    return f"{lon[i]:.4f},{lat[i]:.4f}"


def _heavy_client(base, stop, rec, lon, lat, seed) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=180) as c:
        while time.monotonic() < stop:
            kind = rng.choice(["whatif", "whatif", "site", "brief"])
            if kind == "whatif":
                path, params = (
                    "/api/v1/whatif",
                    {
                        "add": _point(lon, lat, rng),
                        "service": rng.choice(SERVICES[:-1]),
                        "threshold_min": rng.choice([30, 60, 120, 300]),
                        "level": rng.choice(["adm1", "adm2", "adm3"]),
                    },
                )
            elif kind == "site":
                path, params = (
                    "/api/v1/site",
                    {
                        "service": rng.choice(SERVICES[:-1]),
                        "n": rng.randint(1, 3),
                        "threshold_min": rng.choice([60, 120, 300]),
                    },
                )
            else:
                path, params = (
                    f"/regions/{rng.choice(REGIONS)}/brief.pdf",
                    {"lang": rng.choice(["fr", "en"])},
                )
            t = time.perf_counter()
            try:
                r = c.get(path, params=params)
            except httpx.HTTPError as exc:
                rec.fail(kind, type(exc).__name__)
                continue
            rec.add(kind, time.perf_counter() - t, r.status_code)
            if r.status_code in (429, 503):
                if "retry-after" not in r.headers or r.json()["detail"]["code"] != "busy":
                    rec.fail(kind, "a refusal without Retry-After or the busy code")
                time.sleep(min(float(r.headers.get("retry-after", "1")), 5.0))


def _warm(health: dict) -> bool:
    """The start-up tables are computed: load starts on a warm server."""
    return health.get("warm_up") != "running"


def run(args) -> dict:
    data = Path(os.environ.get("ORIENTER_DATA_DIR", REPO.parent / "shared" / "data")).resolve()
    env = {
        **os.environ,
        "ORIENTER_DATA_DIR": str(data),
        "ORIENTER_BUILD_DIR": str(args.build),
        "ORIENTER_WARM_UP": "true",
    }
    if args.providers:
        env["ORIENTER_PROVIDERS"] = str(args.providers.resolve())
    workers = ["--workers", str(args.workers)]
    with serving(workers, env, ready=_warm, stop_s=40) as served:
        base, cmd, ready_s, proc = served.base, served.cmd, served.ready_s, served.proc
        lon, lat = points_in_adm0(data / "boundaries" / "mli_adm0_ocha_cod_2015.geojson", 5000, 11)
        rec = Recorder()
        samples: list[dict] = []
        t0 = time.monotonic()
        stop = t0 + args.duration
        idle = tree_memory(proc.pid)
        threads = [
            threading.Thread(target=_nearest_client, args=(base, stop, rec, lon, lat, i))
            for i in range(args.nearest)
        ]
        threads += [threading.Thread(target=_light_client, args=(base, stop, rec, 100))]
        threads += [
            threading.Thread(target=_heavy_client, args=(base, stop, rec, lon, lat, 200 + i))
            for i in range(args.heavy)
        ]
        for t in threads:
            t.start()
        while time.monotonic() < stop:
            samples.append({"t": round(time.monotonic() - t0, 1), **tree_memory(proc.pid)})
            time.sleep(args.sample_s)
        for t in threads:
            t.join(240)
        health = httpx.get(f"{base}/api/v1/health", timeout=10).json()
    return _summary(args, cmd, ready_s, idle, samples, rec, health)


def _summary(args, cmd, ready_s, idle, samples, rec, health) -> dict:
    pss = np.array([s["pss_gb"] for s in samples])
    t = np.array([s["t"] for s in samples])
    fifth = max(1, len(samples) // 5)
    after_warm = pss[t >= args.warm_s]
    early = float(after_warm[:fifth].mean()) if len(after_warm) else float("nan")
    late = float(pss[-fifth:].mean())
    kinds = {}
    for kind, values in rec.latency.items():
        ms = np.array(values) * 1000
        kinds[kind] = {
            "requests": len(values),
            "median_ms": float(np.median(ms)),
            "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max()),
            "statuses": {str(k): v for k, v in sorted(rec.status[kind].items(), key=str)},
        }
    unexpected = {
        kind: {k: v for k, v in c.items() if k not in (200, 503)} for kind, c in rec.status.items()
    }
    return {
        "command": " ".join(cmd[1:2] + cmd[4:]),
        "build": str(args.build),
        "duration_s": args.duration,
        "clients": {"nearest": args.nearest, "light": 1, "heavy": args.heavy},
        "ready_seconds": round(ready_s, 1),
        "idle": idle,
        "memory": {
            "peak_pss_gb": float(pss.max()),
            "peak_over_idle_gb": float(pss.max() - idle["pss_gb"]),
            "early_mean_pss_gb": early,
            "late_mean_pss_gb": late,
            "growth_gb": late - early,
        },
        "kinds": kinds,
        "unexpected_statuses": {k: v for k, v in unexpected.items() if v},
        "failures": rec.failures[:20],
        "heavy_work": health.get("heavy_work"),
        "caches": health.get("caches"),
        "samples": samples,
    }


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] / 60 for s in result["samples"]]
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    ax.plot(t, [s["pss_gb"] for s in result["samples"]], label="PSS (what the tree holds)")
    ax.plot(t, [s["rss_gb"] for s in result["samples"]], label="RSS summed", alpha=0.6)
    ax.axhline(result["idle"]["pss_gb"], color="grey", lw=0.8, ls="--", label="idle PSS")
    ax.set_xlabel("minutes under load")
    ax.set_ylabel("GB")
    clients = result["clients"]
    ax.set_title(
        f"orienter serve {result['command'].split('serve')[-1].strip()}: "
        f"{clients['nearest']} nearest, 1 pages/places, {clients['heavy']} heavy clients",
        fontsize=9,
    )
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def _run_block(title: str, r: dict, plot_name: str | None) -> list[str]:
    """One run as Markdown: the command, memory, statuses and latencies per kind."""
    run, mem, idle = r["run"], r["memory"], r["idle"]
    lines = [
        f"### {title}",
        "",
        f"`ORIENTER_DATA_DIR=../shared/data {run['command']}` ({run['date']}, git "
        f"{run['commit']}, {run['cpus']} CPUs {run['cpu']}, load average "
        f"{run['load_average'][0]:.2f} at start)",
        "",
        f"`orienter {r['command']}`, {r['duration_s']:.0f} s under load from "
        f"{r['clients']['nearest']} nearest, 1 pages/places/coverage and "
        f"{r['clients']['heavy']} heavy clients, started once warm ({r['ready_seconds']} s). "
        f"Memory of the process tree (PSS): idle {idle['pss_gb']:.2f} GB, peak "
        f"{mem['peak_pss_gb']:.2f} GB ({mem['peak_over_idle_gb']:+.2f} GB over idle); mean of "
        f"the last fifth {mem['late_mean_pss_gb']:.2f} GB against {mem['early_mean_pss_gb']:.2f} "
        f"GB after warm-up ({mem['growth_gb']:+.2f} GB). Statuses other than 200 and 503: "
        f"{r['unexpected_statuses'] or 'none'}; client failures: {len(r['failures'])}. "
        f"Heavy-work budget at the end: {r['heavy_work']}.",
        "",
        "| kind | requests | median ms | p99 ms | max ms | statuses |",
        "|---|---|---|---|---|---|",
    ]
    for kind, k in sorted(r["kinds"].items()):
        statuses = ", ".join(f"{c}: {n}" for c, n in k["statuses"].items())
        lines.append(
            f"| {kind} | {k['requests']:,} | {k['median_ms']:.0f} | {k['p99_ms']:.0f} | "
            f"{k['max_ms']:.0f} | {statuses} |"
        )
    if plot_name:
        lines += ["", f"![memory over time]({plot_name})"]
    return [*lines, ""]


def report(runs: list[tuple[str, Path]]) -> str:
    """The ``bench_soak`` section of RESULTS.md from ``(title, JSON)`` pairs."""
    lines = [
        "## The server under load: flood and soak (`benchmarks/bench_soak.py`, issue 14)",
        "",
        "Written by `python benchmarks/bench_soak.py report` from the JSON of each run. The "
        "clients run on the same 2 cores as the server; a load average above 2 means other "
        "work shared the machine, so latencies are upper bounds. The build is the 9-layer "
        "build of the WHO/KEMRI directory of the engine section (`benchmarks/run_engine.sh` "
        "makes it as `$OUT/who-all/build`). Issue 14 asks, under the flood: memory within "
        "1.5 GB of idle, `/api/v1/nearest` p99 <= 250 ms, every refusal a 503 with "
        "Retry-After (the clients count any other as a failure); under the soak: flat "
        "memory after warm-up and no error but the documented 503s.",
        "",
    ]
    for title, path in runs:
        r = json.loads(path.read_text())
        png = path.with_suffix(".png")
        plot_name = None
        if png.is_file():
            target = REPO / "benchmarks" / f"load_{path.stem}.png"
            target.write_bytes(png.read_bytes())
            plot_name = target.name
        lines += _run_block(title, r, plot_name)
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["report"]:
        # report TITLE=FILE.json ...: the section of RESULTS.md (plots beside each JSON)
        pairs = [a.split("=", 1) for a in sys.argv[2:]]
        write_section("bench_soak", report([(t, Path(f)) for t, f in pairs]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--providers", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--warm-s", type=float, default=60.0)
    parser.add_argument("--nearest", type=int, default=4)
    parser.add_argument("--heavy", type=int, default=2)
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    info = run_info(sys.argv)
    result = run(args)
    result["run"] = info
    if args.plot:
        plot(result, args.plot)
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
