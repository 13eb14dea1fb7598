"""Benchmarks of `orienter coverage` and `orienter site` on a full build.

Run (after ``orienter build``, all modes)::

    ORIENTER_DATA_DIR=../shared/data ORIENTER_BUILD_DIR=build \\
        .venv/bin/python benchmarks/bench_coverage.py

1. Coverage tables for every level (adm1, adm2, adm3) x 5 services x 3 modes (baseline),
   in one process calling the functions `orienter coverage` uses (``load_inputs``,
   ``read_surface``, ``assign_cells``, ``provider_units``, ``coverage_table``): the
   population grid and the boundaries are loaded once, so the figure is the computation
   (target <= 30 s).  One whole `orienter coverage --level adm3 --format csv` run is timed
   for reference.
2. `orienter site --n 5` with every WHO/KEMRI facility (>= 1,000) as candidates, as a
   user runs it (target <= 60 s).

The figures are written between this script's markers in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _results import timed, write_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ORIENTER = str(Path(sys.executable).with_name("orienter"))
BEGIN, END = "<!-- BEGIN bench_coverage -->", "<!-- END bench_coverage -->"
LEVELS = ("adm1", "adm2", "adm3")
SERVICES = ("medical", "psychosocial", "legal", "reintegration", "shelter")
MODES = ("walk", "motorbike", "car")


def coverage_in_process() -> dict:
    from api.datasets import find_dataset
    from api.services.inputs import load_inputs, read_surface
    from api.settings import get_settings
    from geo.boundaries import read_boundaries
    from geo.coverage import coverage_table
    from geo.nearest import providers_offering
    from geo.units import assign_cells, provider_units

    settings = get_settings()
    t0 = time.perf_counter()
    inputs = load_inputs(settings)
    providers = inputs.providers
    ids = providers["id"].astype(str).tolist()
    levels = {}
    for level in LEVELS:
        units = read_boundaries(find_dataset(settings, level), level=int(level[-1]))
        levels[level] = (
            units,
            assign_cells(inputs.grid, units, inputs.population),
            provider_units(providers.to_crs(units.crs), units),
        )
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    surfaces = {}
    for service in SERVICES:
        for mode in MODES:
            name = f"{service}-{mode}-baseline"
            minutes = read_surface(settings.build_dir, inputs.grid, name)
            alloc = read_surface(settings.build_dir, inputs.grid, f"{name}-allocation")
            surfaces[service, mode] = (np.where(np.isnan(minutes), np.inf, minutes), alloc)
    read_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    tables = 0
    rows = 0
    for level in LEVELS:
        units, pieces, where = levels[level]
        for service in SERVICES:
            offering = providers_offering(providers, service)
            for mode in MODES:
                minutes, alloc = surfaces[service, mode]
                table = coverage_table(
                    minutes[pieces.cell],
                    pieces.population,
                    pieces.unit,
                    units,
                    allocation_per_cell=np.asarray(alloc, dtype=np.int64)[pieces.cell],
                    provider_ids=ids,
                    provider_unit=np.where(offering, where, -1),
                )
                tables += 1
                rows += len(table)
    compute_s = time.perf_counter() - t2
    return {
        "load_s": load_s,
        "read_s": read_s,
        "compute_s": compute_s,
        "tables": tables,
        "rows": rows,
    }


def facility_csv(settings, directory: Path) -> tuple[Path, int]:
    from api.datasets import find_dataset
    from geo.facilities import read_who_facilities

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fac = read_who_facilities(find_dataset(settings, "facilities_who"))
    path = directory / "who_kemri_candidates.csv"
    fac.assign(lon=fac.geometry.x, lat=fac.geometry.y)[["name", "lon", "lat"]].to_csv(
        path, index=False
    )
    return path, len(fac)


def main() -> None:
    os.environ.setdefault("ORIENTER_DATA_DIR", str(REPO.parent / "shared" / "data"))
    os.environ.setdefault("ORIENTER_BUILD_DIR", str(REPO / "build"))
    env = dict(os.environ)
    from api.settings import get_settings

    cov = coverage_in_process()
    print(cov, flush=True)
    cmd_cov = [ORIENTER, "coverage", "--level", "adm3", "--service", "medical", "--format", "csv"]
    wall_cov, rss_cov, rc_cov, _ = timed(cmd_cov, env, REPO)
    print("whole coverage", wall_cov, rss_cov, rc_cov, flush=True)
    with tempfile.TemporaryDirectory(prefix="orienter-bench-") as tmp:
        csv, n_cand = facility_csv(get_settings(), Path(tmp))
        cmd_site = [ORIENTER, "site", "--n", "5", "--candidates", str(csv), "--json"]
        wall_site, rss_site, rc_site, out = timed(cmd_site, env, REPO)
    site = json.loads(out) if rc_site == 0 else {"meta": {}, "sites": []}
    print("site", wall_site, rss_site, rc_site, site["meta"], flush=True)
    meta = site["meta"]
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    total_cov = cov["read_s"] + cov["compute_s"]
    picks = ", ".join(f"{s['name']} +{s['gain_population']:,}" for s in site["sites"])
    lines = [
        BEGIN,
        "## Coverage tables and siting (`orienter coverage`, `orienter site`)",
        "",
        f"Produced by `benchmarks/bench_coverage.py` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, git {git}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, data directory "
        f"`{env['ORIENTER_DATA_DIR']}`, build `{env['ORIENTER_BUILD_DIR']}` (3 modes x 3 "
        "scenarios; population: WorldPop 2020 10').",
        "",
        "```",
        "ORIENTER_DATA_DIR=../shared/data ORIENTER_BUILD_DIR=build \\",
        "    .venv/bin/python benchmarks/bench_coverage.py",
        "```",
        "",
        "| what | time | target |",
        "|---|---:|---|",
        f"| {cov['tables']} coverage tables (adm1, adm2, adm3 x 5 services x 3 modes, "
        f"{cov['rows']:,} unit rows), one process: reading 30 surface/allocation rasters "
        f"| {cov['read_s']:.1f} s | |",
        f"| same: `coverage_table` x {cov['tables']} | {cov['compute_s']:.1f} s | |",
        f"| same: rasters + tables | **{total_cov:.1f} s** | <= 30 s |",
        f"| same, once per process: build inputs, population on the grid, boundaries and "
        f"cell assignment of the 3 levels | {cov['load_s']:.1f} s | |",
        f"| whole command `orienter coverage --level adm3 --service medical --format csv` "
        f"(exit {rc_cov}, peak RSS {rss_cov:.2f} GB) | {wall_cov:.1f} s | reference |",
        f"| `orienter site --n 5 --candidates <{n_cand:,} WHO/KEMRI facilities, CSV> --json` "
        f"(exit {rc_site}, peak RSS {rss_site:.2f} GB) | **{wall_site:.1f} s** | <= 60 s |",
        f"| same: scoring + greedy inside the command | "
        f"{meta.get('seconds_scoring_and_greedy', float('nan')):.1f} s | |",
        "",
        f"Siting (one_stop_centre, car, 2 h): {meta.get('n_candidates', 0):,} candidates "
        f"({meta.get('candidates_outside_grid', 0)} outside the grid); within 2 h "
        f"{meta.get('covered_before', 0):,} people before; chosen: {picks}.",
        END,
    ]
    results = write_section("bench_coverage", "\n".join(lines[1:-1]))
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
