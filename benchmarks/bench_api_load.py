"""Load benchmark of ``GET /api/v1/nearest``: wrk over loopback against ``orienter serve``,
and the same queries against a naive server that runs a full Dijkstra per request.

Run (about 4-5 minutes; writes its section of benchmarks/RESULTS.md)::

    ORIENTER_DATA_DIR=/work/shared/data ORIENTER_BUILD_DIR=/tmp/obuild4 \\
        .venv/bin/python benchmarks/bench_api_load.py --workers 2

Steps, all in one run:

1. ``--points`` random points uniform by area inside Mali's ADM0 polygon (seeded), each
   with a service from a fixed cycle (none, then each service key), ``k=5``, car,
   baseline, no token (the public audience): one query string per line of a points file.
2. ``orienter serve --workers N`` (the real command, access log off); wait for health.
   A few answers are kept for the correctness check; wrk warms up for ``--warmup`` s, then
   ``wrk -t T -c C -d D -s benchmarks/wrk_nearest.lua`` is recorded, with the CPU time of
   wrk and of every server process, and the servers' memory.
3. The naive server (``--serve-naive``, started by this script): the same layers, a
   FastAPI route that answers with ``api.build.layers.answer_nearest(method="dijkstra")``, i.e.
   ``scipy.sparse.csgraph.dijkstra`` from the point over the whole graph per request (and
   the same ranking, route and conflict rules).  Same points, same seed, same workers;
   fewer connections (each request takes about a second; 64 would only queue).
4. The answers of both servers for the same points are compared (ids and order equal,
   figures within one 0.1 rounding step: the matrix stores float32).

wrk runs on the same 2 cores as the servers: its CPU time is reported beside theirs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import Query

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _results import cpu_model, points_in_adm0, write_section  # noqa: E402

LUA = REPO / "benchmarks" / "wrk_nearest.lua"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
TARGET_RPS, TARGET_P99_MS = 2500.0, 25.0  # issue 14 (issue 6 asked 1,000 and 50 ms)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------ points


def sample_points(data_dir: Path, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform by area inside Mali's ADM0 polygon: lon, lat."""
    adm0 = sorted((data_dir / "boundaries").glob("*adm0*.geojson"))
    if not adm0:
        raise SystemExit(f"no ADM0 boundary in {data_dir / 'boundaries'}")
    return points_in_adm0(adm0[0], n, seed)


def write_points(path: Path, data_dir: Path, n: int, seed: int) -> list[str]:
    from api.choices import SERVICE_KEYS

    lon, lat = sample_points(data_dir, n, seed)
    cycle = [None, *SERVICE_KEYS]
    lines = []
    for i in range(n):
        q = f"lat={lat[i]:.6f}&lon={lon[i]:.6f}&k=5"
        service = cycle[i % len(cycle)]
        lines.append(q if service is None else f"{q}&service={service}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


# ------------------------------------------------------------------ servers


def naive_app():
    """A FastAPI app answering /api/v1/nearest with a full Dijkstra per request."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, HTTPException

    from api.build.layers import answer_nearest, load_layers
    from api.settings import get_settings

    state: dict = {}

    @asynccontextmanager
    async def lifespan(app):
        state["layers"] = load_layers(get_settings())
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/api/v1/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/api/v1/nearest")
    def nearest(
        lat: Annotated[float, Query(ge=-90, le=90)],
        lon: Annotated[float, Query(ge=-180, le=180)],
        service: str | None = None,
        mode: str = "car",
        scenario: str = "baseline",
        k: Annotated[int, Query(ge=1, le=20)] = 5,
    ) -> dict:
        try:
            return answer_nearest(
                state["layers"],
                lon=lon,
                lat=lat,
                service=service,
                mode=mode,
                scenario=scenario,
                k=k,
                method="dijkstra",
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    return app


def serve_naive(port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "bench_api_load:naive_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
        app_dir=str(REPO / "benchmarks"),
    )


def start(args: list[str], env: dict, port: int, timeout: float = 600.0) -> tuple:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{args} exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as r:
                if json.loads(r.read()).get("status") == "ok":
                    # with several workers, every one must have loaded: ask a few times
                    time.sleep(2.0)
                    return proc, time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"{args}: not healthy after {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tree(pid: int) -> list:
    import psutil

    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except Exception:
            pass
    return total


def memory(pid: int) -> list[dict]:
    out = []
    for p in tree(pid):
        try:
            info = p.memory_full_info()
            out.append({"pid": p.pid, "rss_gb": info.rss / 1024**3, "uss_gb": info.uss / 1024**3})
        except Exception:
            pass
    return out


def fetch(port: int, query: str) -> dict:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/api/v1/nearest?{query}", timeout=120
    ) as r:
        return json.loads(r.read())


# ------------------------------------------------------------------ wrk


def run_wrk(
    port: int,
    points: Path,
    *,
    threads: int,
    connections: int,
    seconds: int,
    seed: int,
    timeout_s: int,
) -> dict:
    cmd = [
        WRK,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout_s}s",
        "--latency",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}",
        "--",
        str(points),
        str(seed),
    ]
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "WRKTIME %U %S %e", *cmd],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    match = re.search(r"WRK_JSON (\{.*\})", proc.stdout)
    if match is None:
        raise RuntimeError(f"wrk gave no result:\n{proc.stdout}\n{proc.stderr}")
    out = json.loads(match[1])
    t = re.search(r"WRKTIME ([\d.]+) ([\d.]+) ([\d.]+)", proc.stderr)
    out["wrk_cpu_s"] = float(t[1]) + float(t[2]) if t else None
    out["wall_s"] = out["duration_us"] / 1e6
    out["rps"] = out["requests"] / out["wall_s"]
    out["errors"] = sum(out[k] for k in out if k.startswith("errors_"))
    out["command"] = " ".join([Path(c).name if c == WRK else c for c in cmd]).replace(
        str(REPO) + "/", ""
    )
    out["stdout"] = proc.stdout
    return out


def phase(
    name: str,
    server_args: list[str],
    env: dict,
    port: int,
    points: Path,
    check_queries: list[str],
    *,
    threads: int,
    connections: int,
    seconds: int,
    warmup: int,
    seed: int,
    timeout_s: int,
) -> dict:
    log(f"{name}: starting {' '.join(server_args[-6:])}")
    proc, startup = start(server_args, env, port)
    try:
        log(f"{name}: healthy after {startup:.1f} s; fetching {len(check_queries)} answers")
        answers = [fetch(port, q) for q in check_queries]
        if warmup:
            log(f"{name}: wrk warm-up {warmup} s")
            run_wrk(
                port,
                points,
                threads=threads,
                connections=connections,
                seconds=warmup,
                seed=seed + 1,
                timeout_s=timeout_s,
            )
        load_before = os.getloadavg()
        cpu0 = cpu_seconds(proc.pid)
        log(f"{name}: wrk -t{threads} -c{connections} -d{seconds}s")
        res = run_wrk(
            port,
            points,
            threads=threads,
            connections=connections,
            seconds=seconds,
            seed=seed,
            timeout_s=timeout_s,
        )
        res["server_cpu_s"] = cpu_seconds(proc.pid) - cpu0
        res["load_before"] = load_before
        res["load_after"] = os.getloadavg()
        res["memory"] = memory(proc.pid)
        res["startup_s"] = startup
        res["answers"] = answers
        log(
            f"{name}: {res['rps']:.1f} req/s, p50 {res['p50_us'] / 1e3:.1f} ms, "
            f"p99 {res['p99_us'] / 1e3:.1f} ms, errors {res['errors']}"
        )
        return res
    finally:
        stop(proc)


def in_process(settings, queries: list[str], n: int) -> dict:
    """``api.build.layers.answer_nearest`` timed in this process on the first ``n`` queries,
    after one untimed pass over them (which fills the route index they need)."""
    from urllib.parse import parse_qs

    from api.build.layers import answer_nearest, load_layers

    t = time.perf_counter()
    layers = load_layers(settings)
    load_s = time.perf_counter() - t
    parsed = [parse_qs(q) for q in queries[:n]]

    def ask(d: dict) -> None:
        answer_nearest(
            layers,
            lon=float(d["lon"][0]),
            lat=float(d["lat"][0]),
            service=d.get("service", [None])[0],
            mode="car",
            k=int(d["k"][0]),
        )

    for d in parsed:
        ask(d)
    times = []
    cpu0 = time.process_time()
    for d in parsed:
        t = time.perf_counter()
        ask(d)
        times.append(time.perf_counter() - t)
    cpu = (time.process_time() - cpu0) / len(parsed)
    a = np.array(times)
    return {
        "n": len(parsed),
        "load_s": load_s,
        "median": float(np.median(a)),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "cpu_mean": cpu,
    }


# ------------------------------------------------------------------ checks and report


def compare_answers(fast: list[dict], naive: list[dict]) -> dict:
    """Ids and order equal; figures within one 0.1 rounding step; the rest identical."""
    rounded = {"travel_time_min", "distance_km", "straight_km"}
    worst_step, mismatches, compared = 0.0, [], 0
    for i, (a, b) in enumerate(zip(fast, naive, strict=True)):
        if [r["id"] for r in a["results"]] != [r["id"] for r in b["results"]]:
            mismatches.append(f"point {i}: order {a['results']} vs {b['results']}")
            continue
        for ra, rb in zip(a["results"], b["results"], strict=True):
            compared += 1
            for key in ra:
                va, vb = ra[key], rb.get(key)
                if key in rounded and va is not None and vb is not None:
                    worst_step = max(worst_step, abs(va - vb))
                    if abs(va - vb) > 0.1 + 1e-9:
                        mismatches.append(f"point {i} {ra['id']} {key}: {va} vs {vb}")
                elif key == "route_conflict" and va is not None and vb is not None:
                    if va["worst_class"] != vb["worst_class"]:
                        mismatches.append(f"point {i} {ra['id']} worst class")
                elif va != vb:
                    mismatches.append(f"point {i} {ra['id']} {key}: {va!r} vs {vb!r}")
    return {"compared": compared, "mismatches": mismatches, "worst_step": worst_step}


def machine() -> str:
    cpu = cpu_model("unknown CPU")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    import fastapi
    import uvicorn

    wrk_version = subprocess.run([WRK, "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mem:.1f} GiB RAM, {platform.platform()}.  "
        f"Python {platform.python_version()}, FastAPI {fastapi.__version__}, uvicorn "
        f"{uvicorn.__version__} (uvloop + httptools), {wrk_version.strip()}."
    )


def git_rev() -> str:
    """The commit, and whether tracked files differ from it (RESULTS.md aside)."""
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    )
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!*RESULTS.md"],
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout.strip()
    rev = out.stdout.strip() or "unknown"
    return f"{rev} (with uncommitted changes)" if changed else rev


def fmt_ms(us: float) -> str:
    return f"{us / 1e3:.1f} ms"


def render(res: dict, args, command: str) -> str:
    fast, naive, check = res["fast"], res["naive"], res["check"]
    met_rps = fast["rps"] >= TARGET_RPS
    met_p99 = fast["p99_us"] / 1e3 <= TARGET_P99_MS
    met_err = fast["errors"] == 0
    ratio = fast["rps"] / naive["rps"] if naive["rps"] else float("inf")
    cpu_fast = fast["server_cpu_s"] / max(fast["requests"], 1)
    cpu_naive = naive["server_cpu_s"] / max(naive["requests"], 1)
    cpu_ratio = cpu_naive / cpu_fast if cpu_fast else float("inf")
    mem = fast["memory"]
    workers = [m for m in mem[1:]] if len(mem) > 1 else mem
    L = [
        "## Nearest-service API under load (`benchmarks/bench_api_load.py`)",
        "",
        "Produced by `benchmarks/bench_api_load.py` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"code at git {res['git']}.",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {res['machine']}",
        "",
        "### Targets (issue 14)",
        "",
        "| target | measured | verdict |",
        "|---|---:|---|",
        f"| >= {TARGET_RPS:,.0f} requests/s, 64 connections, 60 s | {fast['rps']:,.0f} req/s | "
        f"{'met' if met_rps else '**MISSED**'} |",
        f"| p99 <= {TARGET_P99_MS:.0f} ms | {fmt_ms(fast['p99_us'])} | "
        f"{'met' if met_p99 else '**MISSED**'} |",
        f"| 0 errors (non-2xx, socket errors, timeouts) | {fast['errors']} | "
        f"{'met' if met_err else '**MISSED**'} |",
        f"| naive per-request Dijkstra, same queries: the ratio to beat | "
        f"{ratio:,.0f}x the throughput; {cpu_ratio:,.0f}x less server CPU per request | "
        "reported |",
        "",
        "### In process (no HTTP)",
        "",
        "`api.build.layers.answer_nearest` on the first "
        f"{res['inproc']['n']:,} of the same points, "
        "after one untimed pass over them: median "
        f"{res['inproc']['median'] * 1e3:.2f} ms, p90 {res['inproc']['p90'] * 1e3:.2f} ms, "
        f"p99 {res['inproc']['p99'] * 1e3:.2f} ms, CPU {res['inproc']['cpu_mean'] * 1e3:.2f} ms "
        f"per answer (`load_layers` {res['inproc']['load_s']:.1f} s).  Before this work the "
        "same call took a median 13.9 ms (section 2 of the travel-time benchmarks above).",
        "",
        "### Runs",
        "",
        "| server | workers | wrk | requests | req/s | p50 | p90 | p99 | p99.9 | max | errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in (
        ("`orienter serve` (nearest labels)", fast),
        ("naive: full Dijkstra per request", naive),
    ):
        L.append(
            f"| {name} | {args.workers} | -t{r['threads']} -c{r['connections']} "
            f"-d{r['seconds']}s | {r['requests']:,} | {r['rps']:,.1f} | {fmt_ms(r['p50_us'])} | "
            f"{fmt_ms(r['p90_us'])} | {fmt_ms(r['p99_us'])} | {fmt_ms(r['p999_us'])} | "
            f"{fmt_ms(r['lat_max_us'])} | {r['errors']} |"
        )
    L += [
        "",
        "Exact commands (the script starts the servers, then runs wrk from the repository root):",
        "",
        "```",
        f"orienter serve --host 127.0.0.1 --port {args.port} --workers {args.workers}",
        f"{fast['command']}",
        "python benchmarks/bench_api_load.py --serve-naive "
        f"--port {args.port + 1} --workers {args.workers}",
        f"{naive['command']}",
        "```",
        "",
        f"Points: {args.points:,} random points uniform by area inside Mali's ADM0 polygon "
        f"(numpy seed {args.seed}); service cycling through none, one_stop_centre, medical, "
        "psychosocial, legal, reintegration, shelter; `k=5`, car, baseline, no token.  Each "
        f"wrk thread draws from the list with its own seeded generator (wrk seed {args.seed}); "
        f"{args.warmup} s of wrk warm-up before the recorded run (not counted): it also brings "
        "the memory-mapped labels the queries read into the page cache.  The pages' coverage "
        "warm-up (`ORIENTER_WARM_UP`) is off: it is a one-off start-up job, not request load.",
        "",
        "CPU during the recorded runs (user + system seconds; 2 cores give at most "
        f"{2 * args.duration} s per 60 s):",
        "",
        "| run | server processes | wrk | server CPU per request |",
        "|---|---:|---:|---:|",
    ]
    for name, r in (("fast", fast), ("naive", naive)):
        per = r["server_cpu_s"] / r["requests"] * 1e3 if r["requests"] else float("nan")
        wrk_cpu = "n/a" if r["wrk_cpu_s"] is None else f"{r['wrk_cpu_s']:.1f} s"
        L.append(f"| {name} | {r['server_cpu_s']:.1f} s | {wrk_cpu} | {per:.2f} ms |")
    L += [
        "",
        f"Load average (1, 5, 15 min) before / after the recorded fast run: "
        f"{' '.join(f'{v:.2f}' for v in fast['load_before'])} / "
        f"{' '.join(f'{v:.2f}' for v in fast['load_after'])}; naive run: "
        f"{' '.join(f'{v:.2f}' for v in naive['load_before'])} / "
        f"{' '.join(f'{v:.2f}' for v in naive['load_after'])}.  Other sessions' test runs "
        "shared the 2 cores during these runs whenever the load is above ~2.5 "
        "(wrk and the servers account for about 2).",
        "",
        "Start-up (until /api/v1/health answers, all workers loaded): "
        f"fast {fast['startup_s']:.1f} s, "
        f"naive {naive['startup_s']:.1f} s.  Memory of the fast server after the run, per "
        "process (RSS includes the shared page cache of the memory-mapped matrices; USS is "
        "what the process alone holds): "
        + ", ".join(f"{m['rss_gb']:.2f} GB RSS / {m['uss_gb']:.2f} GB USS" for m in workers)
        + ".",
        "",
        f"Same answers: {check['compared']} results of {args.check} points compared between "
        f"the two servers (ids and order equal, every field equal, times and distances within "
        f"one 0.1 rounding step; largest difference {check['worst_step']:.1f}); "
        f"mismatches: {len(check['mismatches'])}.",
    ]
    if check["mismatches"]:
        L += ["", "```", *check["mismatches"][:20], "```"]
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=15)
    ap.add_argument("--naive-connections", type=int, default=2)
    ap.add_argument("--naive-duration", type=int, default=60)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--check", type=int, default=12, help="points compared between servers")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--in-process", type=int, default=1000, help="answers timed in process")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--serve-naive", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = ap.parse_args(argv)
    if args.serve_naive:
        serve_naive(args.port, args.workers)
        return 0
    from api.settings import get_settings

    settings = get_settings()
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    # the pages' coverage warm-up is a one-off start-up job, not request load: off here
    env["ORIENTER_WARM_UP"] = "false"
    tmp = Path(tempfile.mkdtemp(prefix="orienter-load-"))
    try:
        points = tmp / "points.txt"
        queries = write_points(points, settings.data_dir, args.points, args.seed)
        check = queries[: args.check]
        log(f"{len(queries)} points in {points}; build {settings.build_dir}")
        orienter = str(Path(sys.executable).with_name("orienter"))
        fast = phase(
            "fast",
            [
                orienter,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.port),
                "--workers",
                str(args.workers),
            ],
            env,
            args.port,
            points,
            check,
            threads=args.threads,
            connections=args.connections,
            seconds=args.duration,
            warmup=args.warmup,
            seed=args.seed,
            timeout_s=10,
        )
        naive = phase(
            "naive",
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--serve-naive",
                "--port",
                str(args.port + 1),
                "--workers",
                str(args.workers),
            ],
            env,
            args.port + 1,
            points,
            check,
            threads=1,
            connections=args.naive_connections,
            seconds=args.naive_duration,
            warmup=0,
            seed=args.seed,
            timeout_s=60,
        )
        for r, threads, conns, secs in (
            (fast, args.threads, args.connections, args.duration),
            (naive, 1, args.naive_connections, args.naive_duration),
        ):
            r.update(threads=threads, connections=conns, seconds=secs)
        log(f"in process: answer_nearest x {args.in_process}")
        inproc = in_process(settings, queries, args.in_process)
        res = {
            "inproc": inproc,
            "fast": fast,
            "naive": naive,
            "check": compare_answers(fast["answers"], naive["answers"]),
            "machine": machine(),
            "git": git_rev(),
        }
        command = (
            f"ORIENTER_DATA_DIR={settings.data_dir} ORIENTER_BUILD_DIR={settings.build_dir} "
            f".venv/bin/python benchmarks/bench_api_load.py "
            + " ".join(a for a in (argv if argv is not None else sys.argv[1:]))
        ).strip()
        text = render(res, args, command)
        print(text)
        for r in (fast, naive):
            r.pop("answers", None)
            r.pop("stdout", None)
        (tmp / "result.json").write_text(json.dumps(res, indent=2, default=str))
        if not args.no_write:
            log(f"wrote {write_section('bench_api_load', text)}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
