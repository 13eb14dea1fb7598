"""Benchmarks of whole commands, as a user runs them: baseline build, conflict summary.

Run: ``ORIENTER_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_build_conflict.py``

- ``orienter build --scenario baseline`` (5 services x 3 modes, the issue's build target:
  <= 180 s, <= 4 GB), fresh then cached;
- ``orienter conflict summary`` over the whole event file (ten years) at each admin level
  (target: zones and summary in <= 10 s).

Wall time and peak RSS come from ``/usr/bin/time``.  The figures are written between this
script's markers in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import timed, write_section

REPO = Path(__file__).resolve().parents[1]
ORIENTER = str(Path(sys.executable).with_name("orienter"))
BEGIN, END = "<!-- BEGIN bench_build_conflict -->", "<!-- END bench_build_conflict -->"


def main() -> None:
    env = dict(os.environ)
    env.setdefault("ORIENTER_DATA_DIR", str(REPO.parent / "shared" / "data"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="orienter-bench-") as build:
        env["ORIENTER_BUILD_DIR"] = build
        for label in ("fresh", "cached"):
            wall, rss, rc, _ = timed([ORIENTER, "build", "--scenario", "baseline"], env, REPO)
            rows.append(
                (
                    f"`orienter build --scenario baseline` ({label})",
                    wall,
                    rss,
                    rc,
                    "<= 180 s, <= 4 GB" if label == "fresh" else "seconds",
                )
            )
            print(rows[-1], flush=True)
    for level in ("adm1", "adm2", "adm3"):
        wall, rss, rc, _ = timed(
            [
                ORIENTER,
                "conflict",
                "summary",
                "--from",
                "2010-01-01",
                "--to",
                "2020-12-31",
                "--level",
                level,
                "--format",
                "csv",
            ],
            env,
            REPO,
        )
        rows.append(
            (
                f"`orienter conflict summary --from 2010-01-01 --to 2020-12-31 --level {level}`",
                wall,
                rss,
                rc,
                "<= 10 s",
            )
        )
        print(rows[-1], flush=True)
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    lines = [
        BEGIN,
        "## Whole commands: baseline build and ten-year conflict summary",
        "",
        f"Produced by `benchmarks/bench_build_conflict.py` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, git {git}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, data directory "
        f"`{env['ORIENTER_DATA_DIR']}` (roads: Krantz segments; 50 located providers).",
        "",
        "```",
        "ORIENTER_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_build_conflict.py",
        "```",
        "",
        "| command | wall time | peak RSS | exit | target |",
        "|---|---:|---:|---:|---|",
        *[f"| {c} | {w:.1f} s | {r:.2f} GB | {rc} | {t} |" for c, w, r, rc, t in rows],
        "",
        "The full build with the two conflict scenarios (3 modes x 3 scenarios) is measured by",
        "`bench_traveltime.py` part 4 above.  Wall times include Python start-up and reading",
        "the input files.",
        END,
    ]
    results = write_section("bench_build_conflict", "\n".join(lines[1:-1]))
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
