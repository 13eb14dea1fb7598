"""How fast `orienter serve` starts on a build, and how much memory it holds idle.

Starts the real command (``orienter serve --workers N``) on a build directory, times
the first successful ``/api/v1/health``, waits for the start-up warm-up, then reads the
memory of the whole process tree with psutil: the sum of RSS (which counts the shared,
memory-mapped layers once per process), of PSS (shared pages split between the processes
that map them: what the tree really holds) and of USS (private pages).  The same after
a round of nearest queries that touch the label sets of every layer.

Usage::

    ORIENTER_DATA_DIR=../shared/data python benchmarks/bench_serve_memory.py \\
        --build /tmp/orienter-bench/who-all/build --workers 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _results import cpu_model, points_in_adm0, run_info, serving, tree_memory  # noqa: E402


def _get(url: str, timeout: float = 30.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return bytes(r.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--settle-s", type=float, default=20.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    data = Path(os.environ.get("ORIENTER_DATA_DIR", REPO.parent / "shared" / "data")).resolve()
    info = run_info(sys.argv)
    env = {**os.environ, "ORIENTER_DATA_DIR": str(data), "ORIENTER_BUILD_DIR": str(args.build)}
    workers = ["--workers", str(args.workers)]
    with serving(workers, env, ready=lambda health: health.get("status") == "ok") as served:
        base, cmd, ready_s = served.base, served.cmd, served.ready_s
        time.sleep(args.settle_s)  # let the warm-up finish
        idle = tree_memory(served.proc.pid)
        manifest = json.loads((args.build / "manifest.json").read_text())
        lon, lat = points_in_adm0(
            data / "boundaries" / "mli_adm0_ocha_cod_2015.geojson", args.queries, seed=3
        )
        t = time.perf_counter()
        for i in range(args.queries):
            mode = manifest["modes"][i % len(manifest["modes"])]
            scenario = manifest["scenarios"][i % len(manifest["scenarios"])]
            _get(
                f"{base}/api/v1/nearest?lon={lon[i]:.5f}&lat={lat[i]:.5f}&mode={mode}"
                f"&scenario={scenario}&k=5"
            )
        queries_s = time.perf_counter() - t
        after = tree_memory(served.proc.pid)
    result = {
        "cpu": cpu_model(),
        "run": info,
        "command": " ".join(cmd[1:]),
        "build": str(args.build),
        "layers": len(manifest["modes"]) * len(manifest["scenarios"]),
        "ready_seconds": round(ready_s, 1),
        "idle": idle,
        "after_queries": after,
        "queries": args.queries,
        "queries_seconds": round(queries_s, 1),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
