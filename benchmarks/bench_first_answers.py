"""The first answers after start-up: what a user waits for when the server has just started.

Starts ``orienter serve`` on a build, with the start-up warm-up on or off, waits for
``/api/v1/health``, then asks once each, in this order and nothing in between: a what-if
(add a centre), a siting question, the planning page, a région page, its briefing PDF and
a nearest query.  Each first answer is timed from the client (HTTP included).  Issue 20
asks a first what-if within 5 s after start-up whatever the warm-up setting.

Usage::

    ORIENTER_DATA_DIR=../shared/data python benchmarks/bench_first_answers.py \\
        --build build [--write]   # both warm-up settings, one after the other
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _results import run_info, serving, write_section  # noqa: E402

TARGET_WHATIF_S = 5.0
ASKS = [
    (
        "what-if (add a centre, 2 h, cercles)",
        "/api/v1/whatif",
        {"service": "one_stop_centre", "add": "-3.9,14.35", "threshold_min": 120, "level": "adm2"},
    ),
    ("siting (3 centres, 2 h)", "/api/v1/site", {"service": "medical", "n": 3}),
    ("planning page", "/planifier", {"service": "medical"}),
    ("région page (Mopti)", "/regions/ML05", {}),
    ("région briefing PDF (Mopti)", "/regions/ML05/brief.pdf", {}),
    ("nearest (k=5, routes)", "/api/v1/nearest", {"lat": 14.5, "lon": -4.2, "routes": "true"}),
]


def run(build: Path, warm_up: bool) -> dict:
    """Start a server, time each first answer, stop it."""
    env = {
        **os.environ,
        "ORIENTER_BUILD_DIR": str(build),
        "ORIENTER_WARM_UP": "true" if warm_up else "false",
    }
    with serving([], env) as served:
        answers = []
        with httpx.Client(base_url=served.base, timeout=300) as client:
            for label, path, params in ASKS:
                t = time.perf_counter()
                r = client.get(path, params=params)
                answers.append(
                    {"ask": label, "status": r.status_code, "seconds": time.perf_counter() - t}
                )
    return {"warm_up": warm_up, "ready_seconds": served.ready_s, "answers": answers}


def report(runs: list[dict], info: dict) -> str:
    """The ``bench_first_answers`` section of RESULTS.md."""
    lines = [
        "## First answers after start-up (`benchmarks/bench_first_answers.py`)",
        "",
        f"`ORIENTER_DATA_DIR=../shared/data {info['command']}` ({info['date']}, git "
        f"{info['commit']}, {info['cpus']} CPUs {info['cpu']}, load average "
        f"{info['load_average'][0]:.2f} at start). One request of each kind, in this order, "
        "right after `/api/v1/health` first answers; timed at the client.",
        "",
        "| warm-up | ready (s) | " + " | ".join(a[0] for a in ASKS) + " |",
        "|---|---|" + "---|" * len(ASKS),
    ]
    for r in runs:
        cells = [f"{a['seconds']:.2f} s ({a['status']})" for a in r["answers"]]
        lines.append(
            f"| {'on' if r['warm_up'] else 'off'} | {r['ready_seconds']:.1f} | "
            + " | ".join(cells)
            + " |"
        )
    whatif = max(r["answers"][0]["seconds"] for r in runs)
    verdict = "met" if whatif <= TARGET_WHATIF_S else "**MISSED**"
    lines += [
        "",
        f"First what-if within {TARGET_WHATIF_S:.0f} s whatever the warm-up (issue 20): "
        f"{whatif:.2f} s at worst: {verdict}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--write", action="store_true", help="write the RESULTS.md section")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    info = run_info(sys.argv)
    runs = [run(args.build.resolve(), warm_up=False), run(args.build.resolve(), warm_up=True)]
    text = report(runs, info)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "run": info}, indent=2))
    if args.write:
        write_section("bench_first_answers", text)


if __name__ == "__main__":
    main()
