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

from _results import cpu_model, points_in_adm0  # noqa: E402

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
    elif engine in ("scipy-floor", "scipy-floor-k"):
        from scipy.sparse.csgraph import dijkstra

        from geo.labels import source_seeds

        seeds = source_seeds(graph, x, y)
        passes = K if engine == "scipy-floor-k" else 1
        for _ in range(passes):
            dijkstra(graph.minutes, indices=np.unique(seeds.node), min_only=True)
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
    for i in range(args.exact):
        for service in (None, "medical", "psychosocial"):
            q = {**kw, "service": service, "routes": False}
            fast = answer_nearest(layers, lon=float(lon[i]), lat=float(lat[i]), **q)
            ref = answer_nearest(
                layers, lon=float(lon[i]), lat=float(lat[i]), method="dijkstra", **q
            )
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


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("peers")
    p.add_argument("--providers", type=Path, required=True)
    p.add_argument(
        "--engines",
        nargs="+",
        default=["orienter", "scipy-floor", "scipy-floor-k", "per-provider", "pandana"],
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
    args = parser.parse_args()
    if args.cmd == "_peer":
        print(json.dumps(_one_peer(args.engine, args.providers, args.cell_m, 0)))
        return
    result = {"peers": cmd_peers, "query": cmd_query, "build": cmd_build}[args.cmd](args)
    payload = {"cpu": cpu_model(), "result": result}
    print(json.dumps(payload, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
