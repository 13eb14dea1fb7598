"""Reading OpenStreetMap roads: OSM XML through pyosmium vs osmnx, and a national PBF extract.

Run (about 4 minutes; generates its inputs under ``benchmarks/data/``, ignored by git)::

    ORIENTER_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_osm_read.py

1. OSM XML (issue 18): a seeded regional extract of about 24 MB (``make_osm_extract.py``
   with ``--bbox``) read by ``geo.osm.read_osm_roads`` (pyosmium, the path ``.pbf`` files
   take) and by ``geo.osm.oracle.read_osm_roads_osmnx`` (osmnx, the former ``.osm``
   path).  Each runs in its own process under ``/usr/bin/time``: wall time and peak RSS of
   the whole process (imports included), plus the time of the call alone.  The rows of
   both must be identical (a digest of every column and geometry is compared).
2. National size (issue 13): the seeded synthetic national extract of Mali
   (``make_osm_extract.py``, >= 500,000 highway ways, >= 300,000 km) read by
   ``read_osm_roads``, wall time and peak RSS from ``/usr/bin/time -v``.

The figures are written between this script's markers in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from _results import cpu_model, write_section

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "benchmarks" / "data"
XML_BBOX = (-8.3, 12.4, -7.3, 13.2)  # Bamako, Kati, Koulikoro and the villages around
XML_SCALE = 0.075
SEED = 2026


def _child(kind: str, path: str) -> None:
    """In a subprocess: read ``path`` one way, print JSON (seconds of the call, digest)."""
    import numpy as np
    import pandas as pd
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if kind == "pyosmium":
        from geo.osm import read_osm_roads as read
    else:
        from geo.osm.oracle import read_osm_roads_osmnx as read
    started = time.perf_counter()
    roads = read(path)
    seconds = time.perf_counter() - started
    table = roads.drop(columns=["geometry", "source"])
    digest = hashlib.sha256(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
    for wkb in roads.geometry.to_wkb():
        digest.update(wkb)
    ids, inverse = np.unique(np.r_[roads["u"], roads["v"]], return_inverse=True)
    n, m = len(ids), len(roads)
    graph = coo_matrix((np.ones(m), (inverse[:m], inverse[m:])), shape=(n, n))
    summary = {
        "components": int(connected_components(graph, directed=False)[0]),
        "seconds_call": round(seconds, 2),
        "rows": len(roads),
        "km": round(float(roads["length_m"].sum()) / 1000, 1),
        "ways": int(roads["osm_way_id"].nunique()),
        "digest": digest.hexdigest(),
    }
    print(json.dumps(summary))


def _timed_child(kind: str, path: Path, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, __file__, "--child", kind, str(path)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} on {path} failed:\n{proc.stderr[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    assert wall is not None and rss is not None, proc.stderr
    parts = [float(p) for p in wall[1].split(":")]
    seconds = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result | {"seconds_process": round(seconds, 2), "peak_rss_gb": int(rss[1]) / 1024**2}


def _generate(out: Path, env: dict[str, str], *extra: str) -> dict:
    stats_file = Path(str(out) + ".json")
    args = [sys.executable, str(REPO / "benchmarks/make_osm_extract.py"), "--out", str(out)]
    args += ["--seed", str(SEED), *extra]
    if not (out.is_file() and stats_file.is_file()):
        subprocess.run(args, env=env, cwd=REPO, check=True, capture_output=True)
    stats = json.loads(stats_file.read_text())
    stats["command"] = " ".join([".venv/bin/python", *[str(a) for a in args[1:]]]).replace(
        str(REPO) + "/", ""
    )
    return stats


def _xml_section(stats: dict, fast: dict, slow: dict) -> str:
    same = fast["digest"] == slow["digest"]
    return "\n".join(
        [
            f"Input: `{Path(stats['file']).name}`, {stats['bytes'] / 1e6:.1f} MB of OSM XML, "
            f"{stats['nodes']:,} nodes, {stats['highway_ways']:,} highway ways "
            f"({stats['highway_km']:,.0f} km), made by `{stats['command']}`.",
            "",
            "| reader | whole process (s) | the call alone (s) | peak RSS (GB) | rows |",
            "|---|---|---|---|---|",
            f"| `read_osm_roads` (pyosmium, as for .pbf) | {fast['seconds_process']:.1f} | "
            f"{fast['seconds_call']:.1f} | {fast['peak_rss_gb']:.2f} | {fast['rows']:,} |",
            f"| `read_osm_roads_osmnx` (osmnx, the former .osm path) | "
            f"{slow['seconds_process']:.1f} | {slow['seconds_call']:.1f} | "
            f"{slow['peak_rss_gb']:.2f} | {slow['rows']:,} |",
            "",
            f"Identical rows (digest of every column and geometry): **{'yes' if same else 'NO'}**. "
            f"Speed-up of the call: {slow['seconds_call'] / fast['seconds_call']:.0f}x; "
            f"memory: {slow['peak_rss_gb'] / fast['peak_rss_gb']:.1f}x less.",
        ]
    )


def _national_section(stats: dict, fast: dict) -> str:
    shares = ", ".join(f"{k} {v:.1%}" for k, v in stats["share_of_ways"].items())
    km = ", ".join(f"{k} {v:,.0f}" for k, v in stats["km_by_class"].items())
    within = fast["seconds_process"] <= 600 and fast["peak_rss_gb"] <= 4
    return "\n".join(
        [
            f"Input: `{Path(stats['file']).name}`, {stats['bytes'] / 1e6:.0f} MB PBF, "
            f"{stats['nodes']:,} nodes, **{stats['highway_ways']:,} highway ways, "
            f"{stats['highway_km']:,.0f} km of road** over Mali's ADM0 polygon, plus "
            f"{stats['other_ways']:,} ways and {stats['tagged_nodes']:,} tagged nodes the reader "
            f"must skip; made in {stats['seconds']:.0f} s by `{stats['command']}`.",
            "",
            f"Share of highway ways by class (assumed mix, see the generator): {shares}.",
            "",
            f"Kilometres by class: {km}.",
            "",
            f"Connected components of the road graph read back: {fast['components']}.",
            "",
            "| step | wall (s) | the call alone (s) | peak RSS (GB) | road stretches |",
            "|---|---|---|---|---|",
            f"| `read_osm_roads` | {fast['seconds_process']:.1f} | {fast['seconds_call']:.1f} | "
            f"{fast['peak_rss_gb']:.2f} | {fast['rows']:,} ({fast['km']:,.0f} km) |",
            "",
            f"Target (load well within 10 min and a few GB, leaving the build its share of "
            f"10 min / 8 GB): **{'met' if within else 'MISSED'}**.",
        ]
    )


def main() -> None:
    """Generate the inputs if needed, time the readers, write RESULTS.md."""
    parser = argparse.ArgumentParser(description="OSM reading benchmarks")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--skip-national", action="store_true", help="only the XML comparison")
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    env = dict(os.environ)
    env.setdefault("ORIENTER_DATA_DIR", str(REPO.parent / "shared" / "data"))
    env["PYTHONPATH"] = str(REPO)
    started = time.time()
    bbox = [str(c) for c in XML_BBOX]
    xml = DATA / "bench-region.osm"
    xml_stats = _generate(xml, env, "--scale", str(XML_SCALE), "--bbox", *bbox)
    fast = _timed_child("pyosmium", xml, env)
    slow = _timed_child("osmnx", xml, env)
    print("xml", fast, slow, flush=True)
    body = [
        "## Reading OpenStreetMap roads (`benchmarks/bench_osm_read.py`)",
        "",
        f"Produced on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with",
        "",
        "```",
        "ORIENTER_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_osm_read.py",
        "```",
        "",
        f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}, "
        f"Python {platform.python_version()}.  Load average at start: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (other processes share the machine).",
        "",
        "### OSM XML: pyosmium (now) vs osmnx (before)",
        "",
        _xml_section(xml_stats, fast, slow),
    ]
    if not args.skip_national:
        pbf = DATA / "mali-synthetic.osm.pbf"
        national = _generate(pbf, env)
        big = _timed_child("pyosmium", pbf, env)
        print("national", big, flush=True)
        body += [
            "",
            "### National size: synthetic Mali extract",
            "",
            _national_section(national, big),
        ]
    body += ["", f"Total {time.time() - started:.0f} s."]
    write_section("bench_osm_read", "\n".join(body))


if __name__ == "__main__":
    main()
