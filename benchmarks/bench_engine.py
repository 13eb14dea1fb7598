"""The travel-time engine at the size of a real directory and road network (issue 13).

Sub-commands, each printing a Markdown block (and writing JSON with ``--json F``):

``peers``
    On the national 1 km car graph and one set of N providers (the WHO/KEMRI list, or a
    seeded synthetic set): Orienter's k-label Dijkstra (k = 5) against the scipy floor
    (one multi-source ``dijkstra(min_only=True)`` pass, and k of them), today's engine
    before this change (one Dijkstra per provider into an n_nodes x N matrix: measured
    on a sample of providers and scaled, its memory computed) and pandana's
    ``nearest_pois(num_pois=k)`` (run under a time bound).  Each measured in its own
    process for a clean peak RSS.
``query``
    ``answer_nearest`` (k = 5, routes, conflict classes) on a build: median and p99 in
    process over seeded points, and exactness against the full-Dijkstra reference
    (``method="dijkstra"``) on seeded points, ties included; what-if "remove" against a
    recomputation without the provider.
``build``
    ``orienter build`` as a user runs it, under ``/usr/bin/time``: wall time, peak RSS and
    the size of the build directory, for a directory (``--providers``), modes, scenarios,
    a grid cell and a data directory (an OSM extract brought in, say).

Usage (the commands of benchmarks/RESULTS.md)::

    ORIENTER_DATA_DIR=../shared/data python benchmarks/make_directories.py who
    ORIENTER_DATA_DIR=../shared/data python benchmarks/bench_engine.py peers \\
        --providers benchmarks/data/providers_who.geojson
    ORIENTER_DATA_DIR=../shared/data python benchmarks/bench_engine.py build \\
        --providers benchmarks/data/providers_who.geojson --mode car --scenario baseline
    ORIENTER_DATA_DIR=../shared/data python benchmarks/bench_engine.py query \\
        --build /tmp/orienter-bench/build
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _results import cpu_model, points_in_adm0, run_info  # noqa: E402

K = 5


def _data_dir() -> Path:
    return Path(os.environ.get("ORIENTER_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


# ----------------------------------------------------------------------------- peers


def _graph_and_sources(providers: Path, cell_m: float):
    """The car baseline graph (as the build makes it) and the providers' metric points."""
    import geopandas as gpd

    from geo.boundaries import read_boundaries
    from geo.costgraph import build_cost_graph, densify_roads
    from geo.crs import METRIC_CRS
    from geo.grid import make_grid
    from geo.providers import read_providers
    from geo.roads import read_road_segments
    from geo.speeds import read_speed_table

    data = _data_dir()
    adm0 = read_boundaries(data / "boundaries" / "mli_adm0_ocha_cod_2015.geojson", level=0)
    grid = make_grid(
        adm0.to_crs(METRIC_CRS).union_all(), crs=METRIC_CRS, cell_m=cell_m, buffer_m=5000
    )
    roads = read_road_segments(next((data / "roads").glob("*road_segments*.gpkg")))
    rv = densify_roads(roads.to_crs(METRIC_CRS), max_segment_m=cell_m / 2)
    graph = build_cost_graph(grid, rv, read_speed_table(), mode="car")
    frame = read_providers(providers)
    frame = frame[frame.geometry.notna()]
    metric = gpd.GeoSeries(frame.geometry, crs=frame.crs).to_crs(METRIC_CRS)
    x, y = metric.x.to_numpy(), metric.y.to_numpy()
    inside = graph.grid.locate(x, y) >= 0
    return graph, x[inside], y[inside]


def _one_peer(engine: str, providers: Path, cell_m: float, bound_s: float) -> dict:
    """Run one engine in this process (called in a child): seconds, peak RSS."""
    graph, x, y = _graph_and_sources(providers, cell_m)
    base_rss = _rss_gb()
    out = {"engine": engine, "nodes": graph.n_nodes, "sources": len(x), "cell_m": cell_m}
    started = time.perf_counter()
    cpu = time.process_time()
    if engine in ("orienter", "orienter-k1"):
        from geo.labels import nearest_labels

        labels = nearest_labels(graph, x, y, k=K if engine == "orienter" else 1)
        out["label_bytes"] = int(labels.source.nbytes + labels.minutes.nbytes + labels.pred.nbytes)
    elif engine in ("scipy-floor", "scipy-floor-pred", "scipy-floor-k"):
        from scipy.sparse.csgraph import dijkstra

        from geo.labels import source_seeds

        seeds = source_seeds(graph, x, y)
        passes = K if engine == "scipy-floor-k" else 1
        for _ in range(passes):
            # with predecessors: what a nearest answer needs to draw its route
            dijkstra(
                graph.minutes,
                indices=np.unique(seeds.node),
                min_only=True,
                return_predecessors=engine != "scipy-floor",
            )
    elif engine == "per-provider":
        # the engine before this change: every provider attached as a node of the graph,
        # then one Dijkstra per provider (8 at a time) into an n_nodes x N matrix
        import scipy.sparse as sp
        from scipy.sparse.csgraph import dijkstra

        from geo.labels import source_seeds

        seeds = source_seeds(graph, x, y)
        n = graph.n_nodes
        extra = sp.csr_matrix(
            (np.maximum(seeds.minutes, 1e-9), (n + seeds.source, seeds.node)),
            shape=(n + len(x), n + len(x)),
        )
        base = graph.minutes.tocsr(copy=True)
        base.resize((n + len(x), n + len(x)))
        attached = (base + extra + extra.T).tocsr()
        started = time.perf_counter()  # attaching is not counted
        sample = min(len(x), 64)
        for start in range(0, sample, 8):
            rows = np.arange(start, min(start + 8, sample)) + n
            block = dijkstra(attached, indices=rows)
            del block
        seconds = time.perf_counter() - started
        out["sample"] = sample
        out["scaled_seconds"] = seconds * len(x) / sample
        # float32 minutes + int32 predecessors per (node, provider), as that engine stored
        out["matrix_bytes"] = int(graph.n_nodes) * len(x) * 8
    elif engine == "networkx":
        # the reference library: one multi-source Dijkstra (the nearest provider only, k=1)
        import networkx as nx

        from geo.labels import source_seeds

        coo = graph.minutes.tocoo()
        g = nx.DiGraph()
        g.add_weighted_edges_from(
            zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True)
        )
        started = time.perf_counter()  # building the networkx graph is not counted
        seeds = source_seeds(graph, x, y)
        nx.multi_source_dijkstra_path_length(g, set(np.unique(seeds.node).tolist()))
    elif engine == "pandana":
        import pandana
        import pandas as pd

        coo = graph.minutes.tocoo()
        keep = coo.row < coo.col
        net = pandana.Network(
            pd.Series(graph.node_x),
            pd.Series(graph.node_y),
            pd.Series(coo.row[keep]),
            pd.Series(coo.col[keep]),
            pd.DataFrame({"w": coo.data[keep]}),
            twoway=True,
        )
        out["network_seconds"] = time.perf_counter() - started
        net.set_pois("p", 3000.0, K, pd.Series(x), pd.Series(y))
        net.nearest_pois(3000.0, "p", num_pois=K)
    out["seconds"] = time.perf_counter() - started
    out["cpu_seconds"] = time.process_time() - cpu
    out["peak_rss_gb"] = _rss_gb()
    out["rss_over_graph_gb"] = out["peak_rss_gb"] - base_rss
    return out


def cmd_peers(args) -> list[dict]:
    rows = []
    for engine in args.engines:
        for cell in args.cell_m:
            if engine == "pandana" and cell < args.pandana_min_cell_m:
                rows.append({"engine": engine, "cell_m": cell, "skipped": True})
                continue
            cmd = [
                sys.executable,
                __file__,
                "_peer",
                engine,
                "--providers",
                str(args.providers),
                "--cell-m",
                str(cell),
            ]
            started = time.perf_counter()
            try:
                proc = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=args.bound_s, check=False
                )
            except subprocess.TimeoutExpired:
                rows.append({"engine": engine, "cell_m": cell, "dnf_after_s": round(args.bound_s)})
                continue
            if proc.returncode != 0:
                raise RuntimeError(f"{engine}: {proc.stderr[-3000:]}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["process_seconds"] = time.perf_counter() - started
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


# ----------------------------------------------------------------------------- query


def cmd_query(args) -> dict:
    from api.build.layers import answer_nearest, load_layers
    from api.settings import Settings
    from geo.labels import labels_surface, nearest_labels

    settings = Settings(data_dir=_data_dir(), build_dir=args.build)
    started = time.perf_counter()
    layers = load_layers(settings)
    load_s = time.perf_counter() - started
    lon, lat = points_in_adm0(
        _data_dir() / "boundaries" / "mli_adm0_ocha_cod_2015.geojson", args.points, seed=7
    )
    kw = dict(service=None, mode="car", scenario="baseline", k=K, routes=True)
    answer_nearest(layers, lon=float(lon[0]), lat=float(lat[0]), **kw)  # compile, warm
    times = []
    for i in range(args.points):
        t = time.perf_counter()
        answer_nearest(layers, lon=float(lon[i]), lat=float(lat[i]), **kw)
        times.append(time.perf_counter() - t)
    times_ms = np.array(times) * 1000
    mismatches, checked, ties = 0, 0, 0
    ref_times = []
    for i in range(args.exact):
        for service in (None, "medical", "psychosocial"):
            q = {**kw, "service": service, "routes": False}
            fast = answer_nearest(layers, lon=float(lon[i]), lat=float(lat[i]), **q)
            t = time.perf_counter()
            ref = answer_nearest(
                layers, lon=float(lon[i]), lat=float(lat[i]), method="dijkstra", **q
            )
            ref_times.append(time.perf_counter() - t)
            checked += 1
            a = [(r["id"], r["travel_time_min"]) for r in fast["results"]]
            b = [(r["id"], r["travel_time_min"]) for r in ref["results"]]
            times_b = [t for _, t in b]
            ties += len(times_b) - len(set(times_b))
            mismatches += a != b
    # what-if remove: the labels' second-nearest against a recomputation without it
    layer = layers.layers[("car", "baseline")]
    labels = layer.sets[("public", "medical")]
    remove_checked, remove_max_diff = 0, 0.0
    for remove in labels.ids[:: max(1, labels.n_sources // 3)][:3]:
        fast = layer.surface_without("medical", int(remove))
        keep = labels.ids != remove
        again, _ = labels_surface(nearest_labels(layer.graph, labels.x[keep], labels.y[keep], k=1))
        both = np.isfinite(again)
        assert (np.isfinite(fast) == both).all()
        remove_max_diff = max(remove_max_diff, float(np.abs(fast[both] - again[both]).max()))
        remove_checked += 1
    return {
        "build": str(args.build),
        "providers_public": len(layers.providers),
        "providers_confidential": len(layers.confidential),
        "load_seconds": load_s,
        "points": args.points,
        "median_ms": float(np.median(times_ms)),
        "p99_ms": float(np.percentile(times_ms, 99)),
        "max_ms": float(times_ms.max()),
        # the reference: one full Dijkstra from the query point per answer (the way a
        # per-request router works), timed on the exactness checks
        "reference_median_ms": float(np.median(ref_times)) * 1000,
        "exact_checked": checked,
        "exact_mismatches": mismatches,
        "reference_ties": ties,
        "remove_checked": remove_checked,
        "remove_max_abs_diff_min": remove_max_diff,
    }


# ----------------------------------------------------------------------------- build


def cmd_build(args) -> dict:
    build = args.out / "build"
    if build.exists():
        shutil.rmtree(build)
    env = {
        **os.environ,
        "ORIENTER_DATA_DIR": str(args.data_dir or _data_dir()),
        "ORIENTER_BUILD_DIR": str(build),
        "ORIENTER_PROVIDERS": str(args.providers.resolve()),
        "ORIENTER_GRID_CELL_M": str(args.cell_m),
        "ORIENTER_WARM_UP": "false",
    }
    cmd = [str(Path(sys.executable).with_name("orienter")), "build"]
    for m in args.mode:
        cmd += ["--mode", m]
    for s in args.scenario:
        cmd += ["--scenario", s]
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "TIME %e %M", *cmd],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    line = [x for x in proc.stderr.splitlines() if x.startswith("TIME ")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(proc.stderr[-3000:])
    wall, rss_kb = line[-1].split()[1:]
    size = sum(p.stat().st_size for p in build.rglob("*") if p.is_file())
    manifest = json.loads((build / "manifest.json").read_text())
    return {
        "command": " ".join(cmd[1:]),
        "providers": str(args.providers),
        "located_public": manifest["inputs"]["providers"]["located_public"],
        "cell_m": args.cell_m,
        "roads": manifest["inputs"]["roads"]["kind"],
        "wall_seconds": float(wall),
        "peak_rss_gb": int(rss_kb) / 1024**2,
        "build_dir_gb": size / 1024**3,
    }


# ----------------------------------------------------------------------------- report

#: The result files ``report`` reads from ``--results`` (each written by ``--json``).
RESULT_FILES = {
    "peers_who": "peers on the WHO/KEMRI directory",
    "peers_syn": "peers on 5,000 synthetic providers",
    "build_who_car_baseline": "build, WHO, car baseline",
    "build_who_all": "build, WHO, 3 modes x 3 scenarios",
    "build_syn_car_baseline": "build, 5,000 synthetic, car baseline",
    "build_syn_all": "build, 5,000 synthetic, 3 modes x 3 scenarios",
    "build_osm_car_baseline": "build, national OSM extract, car baseline",
    "build_grid500": "build, 500 m grid, car baseline",
    "build_dir_baseline": "build, the directory, 3 modes baseline",
    "query_who": "answers on the WHO build",
    "query_syn": "answers on the synthetic build",
    "serve_w2": "orienter serve --workers 2 on the WHO 9-layer build",
    "serve_w1": "orienter serve --workers 1 on the WHO 9-layer build",
}


def _no_port(command: str) -> str:
    """``serve --port 36565 --workers 2`` without the free port the benchmark picked."""
    words = command.split()
    if "--port" in words:
        i = words.index("--port")
        del words[i : i + 2]
    return " ".join(words)


def _load_results(folder: Path) -> dict[str, dict]:
    out = {}
    for name in RESULT_FILES:
        path = folder / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text())
    return out


def _verdict(value: float | None, limit: float, *, at_most: bool = True) -> str:
    if value is None:
        return "not measured"
    ok = value <= limit if at_most else value >= limit
    return "met" if ok else "**MISSED**"


def _peer(rows: list[dict], engine: str, cell: float = 1000.0) -> dict | None:
    return next((r for r in rows if r["engine"] == engine and r["cell_m"] == cell), None)


def _secs(row: dict | None) -> float | None:
    if row is None or ("seconds" not in row and "scaled_seconds" not in row):
        return None
    return float(row.get("scaled_seconds") or row["seconds"])


def _targets(res: dict[str, dict]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []

    def r(name):
        return res.get(name, {}).get("result")

    def build_rows(tag, label, seconds, rss, disk, factor=1.0):
        b = r(tag)
        if b is None:
            rows.append((label, "not run", "not measured"))
            return
        rows.append(
            (
                f"{label}: wall <= {seconds * factor:.0f} s",
                f"{b['wall_seconds']:.0f} s",
                _verdict(b["wall_seconds"], seconds * factor),
            )
        )
        if rss is not None:
            rows.append(
                (
                    f"{label}: peak RSS <= {rss * factor:g} GB",
                    f"{b['peak_rss_gb']:.2f} GB",
                    _verdict(b["peak_rss_gb"], rss * factor),
                )
            )
        rows.append(
            (
                f"{label}: build directory <= {disk * factor:g} GB",
                f"{b['build_dir_gb']:.2f} GB",
                _verdict(b["build_dir_gb"], disk * factor),
            )
        )

    build_rows("build_who_car_baseline", "WHO directory, car baseline", 180, 4, 2)
    build_rows("build_who_all", "WHO directory, 9 layers", 900, None, 8)
    build_rows("build_syn_car_baseline", "5,000 synthetic, car baseline (2x)", 180, 4, 2, 2.0)
    build_rows("build_syn_all", "5,000 synthetic, 9 layers (2x)", 900, None, 8, 2.0)
    build_rows("build_osm_car_baseline", "national OSM extract, car baseline", 600, 8, 8)
    for tag, label in (("query_who", "WHO"), ("query_syn", "5,000 synthetic")):
        q = r(tag)
        if q is None:
            continue
        rows.append(
            (
                f"answer_nearest k=5 with routes, p99 <= 20 ms ({label})",
                f"{q['p99_ms']:.1f} ms (median {q['median_ms']:.2f})",
                _verdict(q["p99_ms"], 20),
            )
        )
        rows.append(
            (
                f"exact against the per-query Dijkstra ({label})",
                f"{q['exact_mismatches']} of {q['exact_checked']} differ",
                "met" if q["exact_mismatches"] == 0 else "**MISSED**",
            )
        )
        rows.append(
            (
                f"what-if remove exact ({label})",
                f"largest difference {q['remove_max_abs_diff_min']:.4f} min over "
                f"{q['remove_checked']} removals",
                "met" if q["remove_max_abs_diff_min"] < 1e-3 else "**MISSED**",
            )
        )
        if "reference_median_ms" in q:
            ratio = q["reference_median_ms"] / q["median_ms"]
            rows.append(
                (
                    f"per query: full Dijkstra / answer_nearest >= 100x, medians ({label})",
                    f"{ratio:,.0f}x",
                    _verdict(ratio, 100, at_most=False),
                )
            )
    serve = r("serve_w2")
    if serve is not None:
        rows.append(
            (
                "serve, 9 layers: ready <= 20 s",
                f"{serve['ready_seconds']:.1f} s",
                _verdict(serve["ready_seconds"], 20),
            )
        )
        rows.append(
            (
                "serve --workers 2: idle memory of the whole server <= 2 GB (PSS)",
                f"{serve['idle']['pss_gb']:.2f} GB (RSS sum {serve['idle']['rss_gb']:.2f})",
                _verdict(serve["idle"]["pss_gb"], 2),
            )
        )
    peers = r("peers_who")
    if peers is not None:
        k1, floor = _secs(_peer(peers, "orienter-k1")), _secs(_peer(peers, "scipy-floor-pred"))
        nx_s, pan = _secs(_peer(peers, "networkx")), _peer(peers, "pandana", 5000.0)
        if k1 and floor:
            rows.append(
                (
                    "previous: Orienter (k=1) / scipy floor (with predecessors) <= 1.5x",
                    f"{k1 / floor:.2f}x",
                    _verdict(k1 / floor, 1.5),
                )
            )
        if k1 and nx_s:
            rows.append(
                (
                    "previous: networkx / Orienter (k=1) >= 8x",
                    f"{nx_s / k1:.1f}x",
                    _verdict(nx_s / k1, 8, at_most=False),
                )
            )
        if k1:
            rows.append(
                (
                    "previous: national 1 km surface, one service and mode <= 5 s",
                    f"{k1:.2f} s",
                    _verdict(k1, 5),
                )
            )
        if pan is not None:
            o5 = _secs(_peer(peers, "orienter", 5000.0))
            if "dnf_after_s" in pan and o5:
                rows.append(
                    (
                        "previous: pandana / Orienter >= 10x (5 km graph, k=5)",
                        f"pandana unfinished after {pan['dnf_after_s']} s; Orienter {o5:.2f} s",
                        "met",
                    )
                )
            elif _secs(pan) and o5:
                ratio = _secs(pan) / o5
                rows.append(
                    (
                        "previous: pandana / Orienter >= 10x (5 km graph, k=5)",
                        f"{ratio:.1f}x",
                        _verdict(ratio, 10, at_most=False),
                    )
                )
    return rows


def _peers_table(rows: list[dict]) -> list[str]:
    out = [
        "| engine | grid | nodes | sources | seconds | peak RSS | memory it needs |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        grid = f"{row['cell_m'] / 1000:g} km"
        if row.get("skipped"):
            out.append(f"| {row['engine']} | {grid} | | | skipped (too slow at this size) | | |")
            continue
        if "dnf_after_s" in row:
            out.append(
                f"| {row['engine']} | {grid} | | | unfinished after {row['dnf_after_s']} s | | |"
            )
            continue
        seconds = f"{row['seconds']:.2f}"
        need = ""
        if "scaled_seconds" in row:
            seconds = f"{row['scaled_seconds']:,.0f} (scaled from {row['sample']} providers)"
            need = f"{row['matrix_bytes'] / 1024**3:.1f} GB matrix"
        elif "label_bytes" in row:
            need = f"{row['label_bytes'] / 1024**2:.0f} MB labels"
        out.append(
            f"| {row['engine']} | {grid} | {row['nodes']:,} | {row['sources']:,} | {seconds} "
            f"| {row['peak_rss_gb']:.2f} GB | {need} |"
        )
    return out


def cmd_report(args) -> None:
    from _results import write_section

    res = _load_results(args.results)
    lines = [
        "## Travel-time engine at real sizes (`benchmarks/bench_engine.py`, issue 13)",
        "",
        "Written by `python benchmarks/bench_engine.py report --results DIR` from the JSON "
        "of the runs below (each run's command, date, commit and load average are listed; "
        "a load average above 2 on these 2 cores means other work shared the machine, and "
        "wall-clock figures are then upper bounds).",
        "",
        "### Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in _targets(res)]
    for name in ("peers_who", "peers_syn"):
        if name in res:
            lines += ["", f"### {RESULT_FILES[name][0].upper()}{RESULT_FILES[name][1:]}", ""]
            lines += _peers_table(res[name]["result"])
    builds = [n for n in RESULT_FILES if n.startswith("build_") and n in res]
    if builds:
        lines += [
            "",
            "### Builds (`orienter build` under /usr/bin/time)",
            "",
            "| run | providers located (public) | roads | grid | wall | peak RSS | directory |",
            "|---|---|---|---|---|---|---|",
        ]
        for n in builds:
            b = res[n]["result"]
            lines.append(
                f"| {RESULT_FILES[n]} | {b['located_public']:,} | {b['roads']} | "
                f"{b['cell_m'] / 1000:g} km | {b['wall_seconds']:.0f} s | "
                f"{b['peak_rss_gb']:.2f} GB | {b['build_dir_gb']:.2f} GB |"
            )
    for n in ("query_who", "query_syn"):
        if n in res:
            q = res[n]["result"]
            lines += [
                "",
                f"### {RESULT_FILES[n][0].upper()}{RESULT_FILES[n][1:]}",
                "",
                f"{q['points']:,} seeded points, k=5 with routes: median {q['median_ms']:.2f} ms, "
                f"p99 {q['p99_ms']:.1f} ms, max {q['max_ms']:.1f} ms; layers loaded in "
                f"{q['load_seconds']:.1f} s; {q['providers_public']:,} public providers.  "
                f"Exactness: {q['exact_checked']} answers against a full Dijkstra from the "
                f"point ({q['reference_ties']} ties among the references), "
                f"{q['exact_mismatches']} differ.  What-if remove: {q['remove_checked']} "
                f"providers, largest difference {q['remove_max_abs_diff_min']:.4f} min.",
            ]
    for n in ("serve_w2", "serve_w1"):
        if n in res:
            s = res[n]
            lines += [
                "",
                f"### {RESULT_FILES[n][0].upper()}{RESULT_FILES[n][1:]}",
                "",
                f"`orienter {_no_port(s['command'])}` on {s['layers']} layers: ready (first health "
                f"answer) in {s['ready_seconds']} s; idle, {s['idle']['processes']} processes: "
                f"PSS {s['idle']['pss_gb']:.2f} GB, USS {s['idle']['uss_gb']:.2f} GB, RSS "
                f"summed {s['idle']['rss_gb']:.2f} GB; after {s['queries']} nearest queries "
                f"over every layer: PSS {s['after_queries']['pss_gb']:.2f} GB.",
            ]
    lines += ["", "### Runs", ""]
    for n in RESULT_FILES:
        if n in res and "run" in res[n]:
            run = res[n]["run"]
            load = run["load_average"][0]
            lines.append(
                f"- {RESULT_FILES[n]}: `{run['command']}` ({run['date']}, git {run['commit']}, "
                f"{run['cpus']} CPUs {run['cpu']}, load average {load:.2f} at start)"
            )
        elif n in res:  # measured before runs recorded themselves
            lines.append(
                f"- {RESULT_FILES[n]}: the `{n}.json` step of `benchmarks/run_engine.sh`, run "
                f"by hand before runs recorded their command, commit and load ({res[n]['cpu']}; "
                "other work shared the machine)"
            )
    write_section("bench_engine", "\n".join(lines))
    print("\n".join(lines))


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("peers")
    p.add_argument("--providers", type=Path, required=True)
    p.add_argument(
        "--engines",
        nargs="+",
        default=[
            "orienter",
            "orienter-k1",
            "scipy-floor",
            "scipy-floor-pred",
            "scipy-floor-k",
            "networkx",
            "per-provider",
            "pandana",
        ],
    )
    p.add_argument("--cell-m", type=float, nargs="+", default=[1000.0, 5000.0])
    p.add_argument("--bound-s", type=float, default=900.0)
    p.add_argument("--pandana-min-cell-m", type=float, default=5000.0)
    p.add_argument("--json", type=Path)
    one = sub.add_parser("_peer")
    one.add_argument("engine")
    one.add_argument("--providers", type=Path, required=True)
    one.add_argument("--cell-m", type=float, default=1000.0)
    q = sub.add_parser("query")
    q.add_argument("--build", type=Path, required=True)
    q.add_argument("--points", type=int, default=1000)
    q.add_argument("--exact", type=int, default=50)
    q.add_argument("--json", type=Path)
    b = sub.add_parser("build")
    b.add_argument("--providers", type=Path, required=True)
    b.add_argument("--mode", action="append", default=[])
    b.add_argument("--scenario", action="append", default=[])
    b.add_argument("--cell-m", type=float, default=1000.0)
    b.add_argument("--data-dir", type=Path)
    b.add_argument("--out", type=Path, default=Path("/tmp/orienter-bench"))
    b.add_argument("--json", type=Path)
    r = sub.add_parser("report")
    r.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    if args.cmd == "_peer":
        print(json.dumps(_one_peer(args.engine, args.providers, args.cell_m, 0)))
        return
    if args.cmd == "report":
        cmd_report(args)
        return
    info = run_info(sys.argv)
    result = {"peers": cmd_peers, "query": cmd_query, "build": cmd_build}[args.cmd](args)
    info["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    payload = {"cpu": cpu_model(), "run": info, "result": result}
    print(json.dumps(payload, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
