#!/usr/bin/env python
"""Benchmarks of Orienter's travel-time engine, side by side with networkx, pandana and scipy.

Run from the repository root::

    .venv/bin/python benchmarks/bench_traveltime.py            # 1,000,000-node synthetic graph
    .venv/bin/python benchmarks/bench_traveltime.py --quick    # 100,000 nodes, no full build

It measures, in one run:

1. all-nodes nearest-provider times (multi-source) on the AUN inter-city graph (Mali subset
   and all of Africa) and on a seeded synthetic road graph over Mali's extent, with
   Orienter (``geo.traveltime.nearest_source_times``), scipy's ``dijkstra(min_only=True)``
   alone, networkx ``multi_source_dijkstra_path_length`` and pandana ``nearest_pois``;
2. per-query k=5 nearest providers on the real built layers (``api.build.layers.answer_nearest``
   and ``geo.traveltime.rank_sources``) against a per-query networkx Dijkstra;
3. the national 1 km surface of one (service, mode);
4. a full ``orienter build`` (wall time, peak RSS) and the cached rebuild.

It prints a table and rewrites its own section of ``benchmarks/RESULTS.md`` (between the
``<!-- BEGIN bench_traveltime -->`` / ``<!-- END bench_traveltime -->`` markers; ``--quick``
runs use a separate section).  Nothing here is a unit test: no timing is ever asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
from _results import cpu_model, points_in_adm0, write_section

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import networkx as nx  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from pyproj import Transformer  # noqa: E402
from scipy.sparse.csgraph import dijkstra  # noqa: E402

from geo.costgraph import _MIN_MINUTES, CostGraph, _symmetric_csr, point_entries  # noqa: E402
from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS  # noqa: E402
from geo.grid import Grid  # noqa: E402
from geo.speeds import read_speed_table  # noqa: E402
from geo.traveltime import nearest_source_times, rank_sources, surface_from_matrix  # noqa: E402

SHARED = Path("/work/shared/data")
AUN_NODES = SHARED / "roads" / "AfricaNetworkNodes.csv"
AUN_EDGES = SHARED / "roads" / "AfricaNetworkEdges.csv"
ADM0 = SHARED / "boundaries" / "mli_adm0_ocha_cod_2015.geojson"
RESULTS = REPO / "benchmarks" / "RESULTS.md"
#: lon_min, lat_min, lon_max, lat_max of the synthetic graph (Mali's extent)
MALI_EXTENT = (-12.2, 10.1, 4.2, 25.0)
N_PROVIDERS = 50
#: pandana's search radius / value for "no POI found", minutes: far above any time here
PANDANA_MAX_MIN = 1.0e6
#: share of grid edges removed from the synthetic graph (2.0 M -> ~1.9 M edges)
SYNTH_DROP = 0.05
#: road hierarchy of the synthetic graph (speeds: car mode of speeds.toml)
SYNTH_TRUNK_EVERY, SYNTH_PRIMARY_EVERY, SYNTH_SECONDARY_EVERY = 50, 10, 5
SYNTH_MINOR = (("tertiary", 0.3), ("unclassified", 0.4), ("track", 0.3))

TARGETS = {
    "orienter_over_floor": 1.5,  # <=
    "nx_over_orienter": 8.0,  # >=
    "pandana_over_orienter": 10.0,  # >=
    "query_speedup": 100.0,  # >=
    "surface_s": 5.0,  # <=
    "build_s": 180.0,  # <=
    "build_rss_gb": 4.0,  # <=
}


# --------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def timed(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1):
    """Median wall seconds (perf_counter) of ``repeat`` runs after ``warmup`` runs.

    Returns (median wall, all wall times, last result, median CPU seconds of this process).
    CPU below wall means the run waited for a core: other processes share the machine.
    """
    out = None
    for _ in range(warmup):
        out = fn()
    times, cpu = [], []
    for _ in range(repeat):
        c = time.process_time()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return float(np.median(times)), times, out, float(np.median(cpu))


def compare(ref: np.ndarray, other: np.ndarray) -> dict:
    """Max relative and absolute difference over nodes finite in both; reachability mismatches."""
    ref = np.asarray(ref, dtype=np.float64)
    other = np.asarray(other, dtype=np.float64)
    fr, fo = np.isfinite(ref), np.isfinite(other)
    both = fr & fo
    diff = np.abs(ref[both] - other[both])
    pos = ref[both] > 0
    rel = diff[pos] / ref[both][pos]
    return {
        "max_rel": float(rel.max()) if rel.size else 0.0,
        "max_abs_min": float(diff.max()) if diff.size else 0.0,
        "reach_mismatch": int((fr != fo).sum()),
        "compared": int(both.sum()),
    }


def fmt_s(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_x(ratio: float | None) -> str:
    return "n/a" if ratio is None or not np.isfinite(ratio) else f"{ratio:.2f}x"


def verdict(value: float | None, target: float, *, at_most: bool) -> str:
    if value is None or not np.isfinite(value):
        return "NOT MEASURED"
    ok = value <= target if at_most else value >= target
    return "met" if ok else "**MISSED**"


def machine_info() -> dict:
    cpu = cpu_model()
    mem_gb = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = int(line.split()[1]) / 1024**2
    except OSError:
        pass

    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "geo", "api"],
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        head, dirty = "unknown", []
    return {
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "mem_gb": mem_gb,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "networkx": nx.__version__,
        "pandana": version("pandana"),
        "geopandas": version("geopandas"),
        "git": head,
        "dirty": len(dirty),
        "platform": platform.platform(),
    }


# ---------------------------------------------------------------------- graphs (part 1)


class Bench:
    """An undirected graph given once, as the engine's CostGraph and as an edge list."""

    def __init__(self, name: str, x, y, a, b, minutes, metres, sources, note: str):
        self.name = name
        self.note = note
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.a = np.asarray(a, dtype=np.int64)
        self.b = np.asarray(b, dtype=np.int64)
        # the engine never stores a zero-minute road piece; give every tool the same weights
        self.w = np.maximum(np.asarray(minutes, dtype=np.float64), _MIN_MINUTES)
        self.sources = np.asarray(sources, dtype=np.int64)
        n = len(self.x)
        # the engine's own CSR builder (build_cost_graph uses it); a 1x1 grid with no active
        # cell makes every node a "road" node, so node ids are unchanged
        mins, length = _symmetric_csr(
            [self.a], [self.b], [self.w], [np.asarray(metres, dtype=np.float64)], n
        )
        grid = Grid(
            crs=METRIC_CRS,
            x0=0.0,
            y0=0.0,
            cell_m=1000.0,
            nrows=1,
            ncols=1,
            active=np.zeros((1, 1), dtype=bool),
        )
        self.graph = CostGraph(
            grid=grid,
            node_x=self.x,
            node_y=self.y,
            minutes=mins,
            metres=length,
            cell_pace=np.empty(0),
            n_road=n,
            mode="car",
            description={"benchmark": name},
        )

    @property
    def n_nodes(self) -> int:
        return len(self.x)

    @property
    def n_edges(self) -> int:
        return len(self.a)


def aun_bench(speeds, *, bbox, name: str, seed: int) -> Bench:
    from geo.roads import read_intercity_network

    roads = read_intercity_network(AUN_NODES, AUN_EDGES, bbox=bbox)
    ids, inv = np.unique(
        np.concatenate([roads["u"].to_numpy(), roads["v"].to_numpy()]), return_inverse=True
    )
    m = len(roads)
    a, b = inv[:m], inv[m:]
    kph = np.array([speeds.road_speed_kph("car", c, None, "dry") for c in roads["road_class"]])
    length = roads["length_m"].to_numpy(float)
    minutes = length * 60.0 / (kph * 1000.0)
    # node positions (only pandana uses them: it snaps POIs by x/y)
    start = np.array([g.coords[0] for g in roads.geometry.values])
    end = np.array([g.coords[-1] for g in roads.geometry.values])
    lonlat = np.empty((len(ids), 2))
    lonlat[a], lonlat[b] = start, end
    x, y = Transformer.from_crs(GEOGRAPHIC_CRS, METRIC_CRS, always_xy=True).transform(
        lonlat[:, 0], lonlat[:, 1]
    )
    # the same weight the AUN ships in its `time` column (minutes)?
    import pandas as pd

    raw = pd.read_csv(AUN_EDGES, encoding="latin-1")
    raw = raw.set_index([raw["from"].astype("int64"), raw["to"].astype("int64")])["time"]
    aun_time = raw.loc[list(zip(roads["u"], roads["v"], strict=True))].to_numpy(float)
    same = float(np.max(np.abs(aun_time - minutes) / aun_time))
    rng = np.random.default_rng(seed)
    sources = rng.choice(len(ids), size=min(N_PROVIDERS, len(ids)), replace=False)
    note = (
        f"weights = length_m at the car class speed of speeds.toml (max rel. diff. to the "
        f"AUN `time` column: {same:.1e})"
    )
    return Bench(name, x, y, a, b, minutes, length, sources, note)


def synthetic_bench(n: int, speeds, *, seed: int) -> Bench:
    """A perturbed lon/lat lattice over Mali's extent, 4-neighbour edges, 5 % removed."""
    rng = np.random.default_rng(seed)
    to_m = Transformer.from_crs(GEOGRAPHIC_CRS, METRIC_CRS, always_xy=True)
    lon0, lat0, lon1, lat1 = MALI_EXTENT
    xs, _ = to_m.transform([lon0, lon1], [(lat0 + lat1) / 2] * 2)
    _, ys = to_m.transform([(lon0 + lon1) / 2] * 2, [lat0, lat1])
    ncols = max(2, round(np.sqrt(n * (xs[1] - xs[0]) / (ys[1] - ys[0]))))
    nrows = -(-n // ncols)
    idx = np.arange(n)
    r, c = idx // ncols, idx % ncols
    lon = lon0 + (c + 0.5 + rng.uniform(-0.35, 0.35, n)) * (lon1 - lon0) / ncols
    lat = lat1 - (r + 0.5 + rng.uniform(-0.35, 0.35, n)) * (lat1 - lat0) / nrows
    x, y = to_m.transform(lon, lat)
    x, y = np.asarray(x), np.asarray(y)
    right = idx[(c < ncols - 1) & (idx + 1 < n)]
    down = idx[idx + ncols < n]
    a = np.concatenate([right, down])
    b = np.concatenate([right + 1, down + ncols])
    keep = rng.random(len(a)) >= SYNTH_DROP
    a, b = a[keep], b[keep]
    length = np.hypot(x[a] - x[b], y[a] - y[b]) * rng.uniform(1.0, 1.3, len(a))
    # a road hierarchy: every SYNTH_TRUNK_EVERY-th lattice row and column is a trunk road,
    # every SYNTH_PRIMARY_EVERY-th a primary, every SYNTH_SECONDARY_EVERY-th a secondary;
    # the other edges are tertiary / unclassified / track at random
    horizontal = np.concatenate([np.ones(len(right), bool), np.zeros(len(down), bool)])[keep]
    line = np.where(horizontal, r[a], c[a])  # the lattice row (column) the edge runs along
    names = ["trunk", "primary", "secondary"] + [k for k, _ in SYNTH_MINOR]
    cls = np.full(len(a), -1)
    for i, every in enumerate((SYNTH_TRUNK_EVERY, SYNTH_PRIMARY_EVERY, SYNTH_SECONDARY_EVERY)):
        cls[(cls < 0) & (line % every == 0)] = i
    minor = cls < 0
    shares = np.array([s for _, s in SYNTH_MINOR])
    cls[minor] = 3 + rng.choice(len(SYNTH_MINOR), size=int(minor.sum()), p=shares / shares.sum())
    kph = np.array([speeds.road_speed_kph("car", cname, None, "dry") for cname in names])[cls]
    minutes = length * 60.0 / (kph * 1000.0)
    sources = rng.choice(n, size=N_PROVIDERS, replace=False)
    counts = np.bincount(cls, minlength=len(names)) / len(cls)
    note = (
        f"seeded (seed {seed}) perturbed {nrows}x{ncols} lon/lat lattice over lon "
        f"{lon0}..{lon1}, lat {lat0}..{lat1}, projected to METRIC_CRS; 4-neighbour edges, "
        f"{SYNTH_DROP:.0%} removed at random; length = straight line x U(1, 1.3); speed = "
        f"car speed of the class: every {SYNTH_TRUNK_EVERY}th lattice line trunk, every "
        f"{SYNTH_PRIMARY_EVERY}th primary, every {SYNTH_SECONDARY_EVERY}th secondary, the "
        f"rest tertiary / unclassified / track at random; edge shares "
        + ", ".join(f"{k} {v:.1%}" for k, v in zip(names, counts, strict=True))
    )
    return Bench(f"synthetic {n:,} nodes", x, y, a, b, minutes, length, sources, note)


def _pandana_child(bench: Bench, repeat: int, warmup: int, conn) -> None:
    """Run in a forked process so a pandana crash or hang cannot take the benchmark down.

    Sends one message per finished stage, so a timeout still reports what finished.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # pandana's C++ prints progress on stdout
        import pandana
        import pandas as pd

        c, t = time.process_time(), time.perf_counter()
        net = pandana.Network(
            bench.x, bench.y, bench.a, bench.b, pd.DataFrame({"minutes": bench.w}), twoway=True
        )
        conn.send(
            {
                "stage": "build",
                "build": time.perf_counter() - t,
                "build_cpu": time.process_time() - c,
            }
        )
        px = pd.Series(bench.x[bench.sources])
        py = pd.Series(bench.y[bench.sources])
        snapped = net.get_node_ids(px, py).to_numpy()
        t = time.perf_counter()
        net.set_pois("providers", maxdist=PANDANA_MAX_MIN, maxitems=1, x_col=px, y_col=py)
        conn.send(
            {
                "stage": "pois",
                "pois": time.perf_counter() - t,
                "snapped_ok": bool(np.array_equal(snapped, bench.sources)),
            }
        )

        def query():
            return net.nearest_pois(PANDANA_MAX_MIN, "providers", num_pois=1, max_distance=np.inf)

        t_query, runs, df, cpu_query = timed(query, repeat=repeat, warmup=warmup)
        conn.send(
            {
                "stage": "query",
                "ok": True,
                "query": t_query,
                "query_runs": runs,
                "query_cpu": cpu_query,
                "dist": df[1].to_numpy(dtype=np.float64),
                "dtype": str(df[1].dtype),
            }
        )
    except BaseException as exc:  # report anything, including import errors
        conn.send(
            {
                "stage": "error",
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc(),
            }
        )
    finally:
        conn.close()


def run_pandana(bench: Bench, *, repeat: int, warmup: int, timeout: float) -> dict:
    """pandana in a child process; killed (by its pid) after ``timeout`` seconds."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_pandana_child, args=(bench, repeat, warmup, child))
    proc.start()
    child.close()
    result: dict = {"ok": False, "timeout": timeout}
    deadline = time.perf_counter() + timeout
    while True:
        left = deadline - time.perf_counter()
        if left <= 0 or not parent.poll(left):
            if proc.is_alive():
                proc.kill()
                done = [k for k in ("build", "pois") if k in result]
                result["error"] = (
                    f"did not finish within {timeout:.0f} s (killed; finished: "
                    f"{', '.join(done) or 'nothing'})"
                )
                result["timed_out"] = True
            break
        try:
            msg = parent.recv()
        except EOFError:
            break
        result.update(msg)
        if msg["stage"] in ("query", "error"):
            break
    proc.join()
    if not result.get("ok") and "error" not in result:
        code = proc.exitcode
        sig = f", signal {-code}" if code is not None and code < 0 else ""
        result["error"] = f"pandana process died (exit code {code}{sig})"
    return result


def bench_all_nodes(
    bench: Bench,
    *,
    repeat: int,
    nx_repeat: int,
    pandana_repeat: int,
    pandana_warmup: int,
    pandana_timeout: float,
) -> dict:
    g = bench.graph
    src = bench.sources
    log(f"[1] {bench.name}: {bench.n_nodes:,} nodes, {bench.n_edges:,} edges, {len(src)} sources")
    out: dict = {
        "name": bench.name,
        "nodes": bench.n_nodes,
        "edges": bench.n_edges,
        "sources": len(src),
        "note": bench.note,
        "repeats": {
            "fast": repeat,
            "nx": nx_repeat,
            "pandana": pandana_repeat,
            "pandana_warmup": pandana_warmup,
        },
    }

    t, runs, (o_min, o_pos), cpu = timed(lambda: nearest_source_times(g, src), repeat=repeat)
    out["orienter"], out["orienter_runs"], out["orienter_cpu"] = t, runs, cpu

    def floor():
        return dijkstra(
            g.minutes, directed=True, indices=src, min_only=True, return_predecessors=True
        )

    t, runs, (f_min, _pred, f_src), cpu = timed(floor, repeat=repeat)
    out["floor"], out["floor_runs"], out["floor_cpu"] = t, runs, cpu
    t, runs, _, _ = timed(
        lambda: dijkstra(g.minutes, directed=True, indices=src, min_only=True), repeat=repeat
    )
    out["floor_dist_only"] = t
    out["check_orienter"] = compare(f_min, o_min)
    alloc = np.where(o_pos >= 0, src[np.maximum(o_pos, 0)], -9999)
    out["alloc_same"] = bool(np.array_equal(alloc, np.where(f_src >= 0, f_src, -9999)))
    out["unreachable"] = int((~np.isfinite(f_min)).sum())

    # diagnostic: the engine's only work besides the scipy call is mapping each node's
    # nearest source (a node id) to its position in `sources`; time that step alone, with
    # np.vectorize over a dict (the engine up to f117c11) and numpy searchsorted (since)
    reached = f_src >= 0

    def map_engine():
        lookup = {int(node): i for i, node in enumerate(src)}
        return np.vectorize(lookup.__getitem__, otypes=[np.int64])(f_src[reached])

    def map_numpy():
        order = np.argsort(src, kind="stable")
        return order[np.searchsorted(src, f_src[reached], sorter=order)]

    out["map_engine"], _, m1, _ = timed(map_engine, repeat=repeat)
    out["map_numpy"], _, m2, _ = timed(map_numpy, repeat=repeat)
    out["map_same"] = bool(np.array_equal(m1, m2))
    log(f"    orienter {fmt_s(out['orienter'])}, floor {fmt_s(out['floor'])}")

    # networkx: graph built outside the timer
    t = time.perf_counter()
    G = nx.Graph()
    G.add_nodes_from(range(bench.n_nodes))
    G.add_weighted_edges_from(
        zip(bench.a.tolist(), bench.b.tolist(), bench.w.tolist(), strict=True)
    )
    out["nx_build"] = time.perf_counter() - t
    srcset = set(src.tolist())
    t, runs, d, cpu = timed(
        lambda: nx.multi_source_dijkstra_path_length(G, srcset), repeat=nx_repeat, warmup=0
    )
    out["nx"], out["nx_runs"], out["nx_cpu"] = t, runs, cpu
    nx_min = np.full(bench.n_nodes, np.inf)
    nx_min[np.fromiter(d.keys(), dtype=np.int64, count=len(d))] = np.fromiter(
        d.values(), dtype=np.float64, count=len(d)
    )
    out["check_nx"] = compare(f_min, nx_min)
    G = d = nx_min = None  # free the networkx graph before pandana forks
    gc.collect()
    log(f"    networkx {fmt_s(out['nx'])} (graph build {fmt_s(out['nx_build'])})")

    pdn = run_pandana(bench, repeat=pandana_repeat, warmup=pandana_warmup, timeout=pandana_timeout)
    out["pandana"] = pdn
    if pdn.get("ok"):
        dist = pdn.pop("dist")
        dist[dist >= PANDANA_MAX_MIN] = np.inf
        out["check_pandana"] = compare(f_min, dist)
        log(
            f"    pandana CH build {fmt_s(pdn['build'])}, POIs {fmt_s(pdn['pois'])}, "
            f"query {fmt_s(pdn['query'])}"
        )
    else:
        log(f"    pandana FAILED: {pdn.get('error')} (CH build: {fmt_s(pdn.get('build'))})")
    return out


# ------------------------------------------------------------------ real layers (2, 3)


def sample_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform by area inside Mali's ADM0 polygon: lon, lat."""
    return points_in_adm0(ADM0, n, seed)


def bench_queries(layers, *, n_points: int, nx_queries: int, seed: int) -> dict:
    from api.build.layers import answer_nearest

    graph = layers.graphs[("car", "baseline")]
    matrix = layers.matrices[("car", "baseline")]
    lon, lat = sample_points(n_points, seed)
    to_m = Transformer.from_crs(GEOGRAPHIC_CRS, METRIC_CRS, always_xy=True)
    x, y = to_m.transform(lon, lat)
    out: dict = {
        "points": n_points,
        "graph_nodes": graph.n_nodes,
        "graph_edges": graph.minutes.nnz // 2,
    }
    log(f"[2] {n_points} queries, k=5, car, on {graph.n_nodes:,} nodes")

    for i in range(min(5, n_points)):  # warm-up: imports, transformer cache, page cache
        answer_nearest(layers, lon=float(lon[i]), lat=float(lat[i]), service=None, mode="car", k=5)
    times, cpu, failed = [], [], 0
    for i in range(n_points):
        c = time.process_time()
        t = time.perf_counter()
        try:
            answer_nearest(
                layers, lon=float(lon[i]), lat=float(lat[i]), service=None, mode="car", k=5
            )
        except ValueError:
            failed += 1
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    a = np.array(times)
    out["answer"] = {
        "median": float(np.median(a)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        "cpu_median": float(np.median(cpu)),
        "failed": failed,
    }

    visible = ~layers.providers["confidential"].astype(bool).to_numpy()
    cols = np.flatnonzero(visible)  # what answer_nearest ranks for service=None
    for i in range(min(5, n_points)):
        rank_sources(graph, matrix, x[i], y[i], columns=cols, k=5)
    times, cpu = [], []
    for i in range(n_points):
        c = time.process_time()
        t = time.perf_counter()
        rank_sources(graph, matrix, x[i], y[i], columns=cols, k=5)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    a = np.array(times)
    out["rank"] = {
        "median": float(np.median(a)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        "cpu_median": float(np.median(cpu)),
    }
    log(
        f"    answer_nearest median {fmt_s(out['answer']['median'])}, rank_sources median "
        f"{fmt_s(out['rank']['median'])}"
    )

    # networkx: the same graph (providers attached), built outside the timer
    t = time.perf_counter()
    upper = sp.triu(graph.minutes, k=1).tocoo()
    G = nx.Graph()
    G.add_nodes_from(range(graph.n_nodes))
    G.add_weighted_edges_from(
        zip(upper.row.tolist(), upper.col.tolist(), upper.data.tolist(), strict=True)
    )
    del upper
    out["nx_build"] = time.perf_counter() - t
    log(f"    networkx graph built in {fmt_s(out['nx_build'])}; {nx_queries} queries")
    times, cpu, worst_rel, worst_abs, compared = [], [], 0.0, 0.0, 0
    for i in range(nx_queries):
        nodes, _leg, _m = point_entries(graph, float(x[i]), float(y[i]))
        cell = int(nodes[0])  # the entry cell node
        c = time.process_time()
        t = time.perf_counter()
        d = nx.single_source_dijkstra_path_length(G, cell)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        # check: the matrix row of that node against networkx (matrix is float32)
        ref = np.array([d.get(int(s), np.inf) for s in matrix.sources[cols]])
        got = np.asarray(matrix.minutes[cell, cols], dtype=np.float64)
        c = compare(ref, got)
        worst_rel, worst_abs = max(worst_rel, c["max_rel"]), max(worst_abs, c["max_abs_min"])
        compared += c["compared"]
        if c["reach_mismatch"]:
            out.setdefault("nx_reach_mismatch", 0)
            out["nx_reach_mismatch"] += c["reach_mismatch"]
        del d
    a = np.array(times)
    out["nx"] = {
        "median": float(np.median(a)),
        "p95": float(np.percentile(a, 95)),
        "mean": float(a.mean()),
        "n": len(a),
        "cpu_median": float(np.median(cpu)),
    }
    out["check_nx"] = {"max_rel": worst_rel, "max_abs_min": worst_abs, "compared": compared}
    del G
    gc.collect()
    log(f"    networkx per query median {fmt_s(out['nx']['median'])}")
    return out


def bench_surface(layers, build_dir: Path, *, repeat: int) -> dict:
    from geo.costgraph import attach_points
    from geo.nearest import providers_offering
    from geo.store import load_graph

    providers = layers.providers
    graph = layers.graphs[("car", "baseline")]
    matrix = layers.matrices[("car", "baseline")]
    log("[3] national surface, one_stop_centre, car")
    t = time.perf_counter()
    base = load_graph(build_dir / "graphs" / "car-baseline.npz")
    t_load = time.perf_counter() - t
    metric = providers.to_crs(METRIC_CRS)
    px, py = metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy()
    t = time.perf_counter()
    attached, ids = attach_points(base, px, py)
    t_attach = time.perf_counter() - t
    cols = np.flatnonzero(providers_offering(providers, "one_stop_centre"))
    sources = ids[cols]
    sources = sources[sources >= 0]
    assert attached.n_nodes == graph.n_nodes
    tm, runs, (minutes, _pos), cpu = timed(
        lambda: nearest_source_times(attached, sources), repeat=repeat
    )
    tf, _, _, _ = timed(
        lambda: dijkstra(
            attached.minutes,
            directed=True,
            indices=sources,
            min_only=True,
            return_predecessors=True,
        ),
        repeat=repeat,
    )
    ref, _ = surface_from_matrix(matrix, cols)
    return {
        "nodes": attached.n_nodes,
        "edges": attached.minutes.nnz // 2,
        "cells": attached.n_cells,
        "road": attached.n_road,
        "attached": attached.n_nodes - base.n_nodes,
        "sources": len(sources),
        "surface": tm,
        "surface_runs": runs,
        "surface_cpu": cpu,
        "floor": tf,
        "load_graph": t_load,
        "attach": t_attach,
        "check_matrix": compare(ref, minutes),
        "cells_unreachable": int((~np.isfinite(minutes[: attached.n_cells])).sum()),
    }


# ------------------------------------------------------------------------ build (4)


def run_build(build_dir: Path, log_path: Path) -> dict:
    # COLUMNS: a wide console, so the step table the build prints is not wrapped
    env = dict(
        os.environ, ORIENTER_DATA_DIR=str(SHARED), ORIENTER_BUILD_DIR=str(build_dir), COLUMNS="200"
    )
    cmd = ["/usr/bin/time", "-v", str(REPO / ".venv" / "bin" / "orienter"), "build"]
    t = time.perf_counter()
    with open(log_path, "w") as fh:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    err = proc.stderr
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    user = re.search(r"User time \(seconds\): ([\d.]+)", err)
    system = re.search(r"System time \(seconds\): ([\d.]+)", err)
    # the step table `orienter build` prints (rich box drawing): step, status, seconds
    steps = []
    try:
        for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            m = re.match(r"^\W*(.+?)\s*[│|]\s*(built|reused)\s*[│|]\s*([\d.]+)", line)
            if m:
                steps.append((m.group(1).strip(), m.group(2), float(m.group(3))))
    except OSError:
        pass
    elapsed = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", err)
    secs = None
    if elapsed:
        parts = [float(p) for p in elapsed.group(1).split(":")]
        secs = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    return {
        "rc": proc.returncode,
        "wall": secs if secs is not None else wall,
        "rss_gb": int(rss.group(1)) / 1024**2 if rss else None,
        "cpu": (float(user.group(1)) + float(system.group(1))) if user and system else None,
        "steps": steps,
        "stderr_tail": "\n".join(line for line in err.splitlines() if not line.startswith("\t"))[
            -2000:
        ],
        "log": str(log_path),
    }


def bench_build(keep: bool) -> dict:
    build_dir = Path(tempfile.mkdtemp(prefix="orienter-bench-build-", dir="/tmp"))
    log(f"[4] orienter build (all modes) into fresh {build_dir}")
    try:
        fresh = run_build(build_dir, build_dir.with_suffix(".fresh.log"))
        log(
            f"    fresh build rc={fresh['rc']} {fmt_s(fresh['wall'])}, peak RSS "
            f"{fresh['rss_gb'] or float('nan'):.2f} GB"
        )
        cached = run_build(build_dir, build_dir.with_suffix(".cached.log"))
        log(f"    cached rebuild rc={cached['rc']} {fmt_s(cached['wall'])}")
        manifest = {}
        if (build_dir / "manifest.json").is_file():
            manifest = json.loads((build_dir / "manifest.json").read_text())
        return {
            "fresh": fresh,
            "cached": cached,
            "dir": str(build_dir),
            "modes": manifest.get("modes"),
            "scenarios": manifest.get("scenarios"),
            "roads": manifest.get("inputs", {}).get("roads", {}).get("kind"),
        }
    finally:
        if not keep:
            shutil.rmtree(build_dir, ignore_errors=True)
            for suffix in (".fresh.log", ".cached.log"):
                build_dir.with_suffix(suffix).unlink(missing_ok=True)


# -------------------------------------------------------------------------- report


def ratio(num, den):
    try:
        return num / den if num and den else None
    except TypeError:
        return None


def render(res: dict, args, command: str) -> str:
    m = res["machine"]
    L: list[str] = []
    label = "quick" if args.quick else "full"
    L.append(f"## Travel-time engine benchmarks ({label} run)")
    L.append("")
    L.append(
        f"Produced by `benchmarks/bench_traveltime.py` on {res['date']}, "
        f"total {res['total_s']:.0f} s."
    )
    L.append("")
    L.append("```")
    L.append(command)
    L.append("```")
    L.append("")
    L.append(
        f"Machine: {m['nproc']} CPUs (nproc; {m['affinity']} usable), {m['cpu']}, "
        f"{m['mem_gb']:.1f} GiB RAM, {m['platform']}.  Python {m['python']}, numpy "
        f"{m['numpy']}, scipy {m['scipy']}, networkx {m['networkx']}, pandana "
        f"{m['pandana']}.  Code: git {m['git']}"
        + (
            f" plus uncommitted changes to {m['dirty']} file(s) under geo/ and api/ "
            "(other work in progress in the tree)"
            if m["dirty"]
            else ""
        )
        + ".  "
        f"Load average at start / end: {res['load_start']} / {res['load_end']} "
        "(other processes share the machine)."
    )
    L.append("")

    # ---- targets
    L.append("### Targets")
    L.append("")
    L.append("| target | measured | verdict |")
    L.append("|---|---|---|")
    for row in res.get("targets", []):
        L.append(f"| {row[0]} | {row[1]} | {row[2]} |")
    L.append("")

    # ---- part 1
    L.append("### 1. Nearest-provider time for every node (multi-source, all nodes)")
    L.append("")
    L.append("Timed, on the same graph and weights (minutes, undirected):")
    L.append("")
    L.append(
        "- **Orienter**: `geo.traveltime.nearest_source_times(graph, sources)`, the "
        "engine's own entry point, on a `geo.costgraph.CostGraph` whose CSR matrix is "
        "built by the engine's `_symmetric_csr` (a 1x1 grid with no active cell, so every "
        "node is a road node).  Includes the engine's mapping of the nearest source back "
        "to its position."
    )
    L.append(
        "- **floor**: `scipy.sparse.csgraph.dijkstra(csr, directed=True, indices=sources, "
        "min_only=True, return_predecessors=True)` alone, exactly the call the engine "
        "makes (also shown without predecessors)."
    )
    L.append(
        "- **networkx**: `nx.multi_source_dijkstra_path_length(G, sources)` on an "
        "`nx.Graph` built outside the timer."
    )
    L.append(
        "- **pandana**: `pandana.Network(...)` (contraction-hierarchy build), `set_pois` "
        f"and `nearest_pois(distance={PANDANA_MAX_MIN:.0e}, num_pois=1)` timed "
        f"separately, run in a forked process; the search radius {PANDANA_MAX_MIN:.0e} "
        "minutes is far above any travel time here, so no node is cut off by it.  "
        "pandana returns float32 and uses both cores (OpenMP) for its CH build and "
        "query; Orienter, scipy and networkx use one core."
    )
    L.append("")
    L.append(
        "Repeats: Orienter and scipy: median of 5 after one warm-up; networkx and "
        "pandana: see the repeats column (big graphs are run once, without warm-up, to "
        f"keep the total time down).  {N_PROVIDERS} providers = random nodes (seeded)."
    )
    L.append("")
    L.append(
        "| graph | nodes | edges | Orienter | floor (scipy) | floor, no pred. | "
        "networkx | pandana CH build | pandana POIs | pandana query | repeats "
        "(fast / nx / pandana query) | Orienter / floor | networkx / Orienter | "
        "pandana (CH+POIs+query) / Orienter | pandana query / Orienter |"
    )
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for g in res.get("all_nodes", []):
        if "error" in g:
            L.append(f"| {g['name']} | failed: {g['error']} |" + " |" * 13)
            continue
        p = g["pandana"]
        pb = fmt_s(p["build"]) if "build" in p else "—"
        pp = fmt_s(p["pois"]) if "pois" in p else "—"
        if p.get("ok"):
            pq = fmt_s(p["query"])
            ptot = fmt_x(ratio(p["build"] + p["pois"] + p["query"], g["orienter"]))
            pqr = fmt_x(ratio(p["query"], g["orienter"]))
        elif p.get("timed_out"):
            pq = f"> {p['timeout']:.0f} s total, killed"
            ptot = f"> {fmt_x(ratio(p['timeout'], g['orienter']))}"
            pqr = "n/a"
        else:
            pq = ptot = pqr = "failed"
        rp = g["repeats"]
        L.append(
            f"| {g['name']} | {g['nodes']:,} | {g['edges']:,} | {fmt_s(g['orienter'])} | "
            f"{fmt_s(g['floor'])} | {fmt_s(g['floor_dist_only'])} | {fmt_s(g['nx'])} | "
            f"{pb} | {pp} | {pq} | {rp['fast']} / {rp['nx']} / {rp['pandana']} | "
            f"{fmt_x(ratio(g['orienter'], g['floor']))} | "
            f"{fmt_x(ratio(g['nx'], g['orienter']))} | {ptot} | {pqr} |"
        )
    L.append("")
    L.append(
        "CPU seconds of the same runs (process time; below wall time means the run "
        "waited for a core, other processes sharing the machine; pandana's CPU counts "
        "both of its threads):"
    )
    L.append("")
    L.append(
        "| graph | Orienter CPU | floor CPU | networkx CPU | pandana CH build CPU | "
        "pandana query CPU | networkx / Orienter (CPU) |"
    )
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for g in res.get("all_nodes", []):
        if "error" in g:
            continue
        p = g["pandana"]
        L.append(
            f"| {g['name']} | {fmt_s(g['orienter_cpu'])} | {fmt_s(g['floor_cpu'])} | "
            f"{fmt_s(g['nx_cpu'])} | {fmt_s(p.get('build_cpu'))} | "
            f"{fmt_s(p.get('query_cpu'))} | "
            f"{fmt_x(ratio(g['nx_cpu'], g['orienter_cpu']))} |"
        )
    L.append("")
    L.append(
        "Agreement with the scipy floor (max relative difference over nodes reachable in "
        "both; reachability mismatches; nodes unreachable from every provider):"
    )
    L.append("")
    L.append(
        "| graph | Orienter | same nearest provider | networkx | pandana (float32) | "
        "unreachable nodes |"
    )
    L.append("|---|---|---|---|---|---:|")
    for g in res.get("all_nodes", []):
        if "error" in g:
            continue

        def chk(c):
            return (
                (
                    f"{c['max_rel']:.1e} rel, {c['max_abs_min']:.1e} min abs, "
                    f"{c['reach_mismatch']} mismatches"
                )
                if c
                else "n/a"
            )

        pd_c = (
            chk(g.get("check_pandana"))
            if g["pandana"].get("ok")
            else f"not compared: {g['pandana'].get('error')}"
        )
        L.append(
            f"| {g['name']} | {chk(g['check_orienter'])} | "
            f"{'yes' if g['alloc_same'] else 'NO'} | {chk(g['check_nx'])} | {pd_c} | "
            f"{g['unreachable']:,} |"
        )
    L.append("")
    L.append(
        "Where Orienter's time over the floor goes: besides the scipy call, the engine "
        "maps each node's nearest source (a node id) to its position in `sources`.  "
        "`Orienter - floor` is the engine's whole overhead as measured; for reference, "
        "that mapping step alone done two ways (diagnostic code in the benchmark): "
        "`np.vectorize` over a dict (the engine up to commit f117c11) and numpy "
        "`searchsorted` (the engine since f117c11):"
    )
    L.append("")
    L.append(
        "| graph | Orienter - floor | np.vectorize mapping | numpy searchsorted "
        "mapping | same result | floor + searchsorted mapping / floor |"
    )
    L.append("|---|---:|---:|---:|---|---:|")
    for g in res.get("all_nodes", []):
        if "error" in g or "map_engine" not in g:
            continue
        L.append(
            f"| {g['name']} | {fmt_s(g['orienter'] - g['floor'])} | "
            f"{fmt_s(g['map_engine'])} | {fmt_s(g['map_numpy'])} | "
            f"{'yes' if g['map_same'] else 'NO'} | "
            f"{fmt_x(ratio(g['floor'] + g['map_numpy'], g['floor']))} |"
        )
    L.append("")
    for g in res.get("all_nodes", []):
        extra = ""
        if "nx_build" in g:
            extra = f" networkx graph build (outside the timer): {fmt_s(g['nx_build'])}."
        if "snapped_ok" in g.get("pandana", {}) and not g["pandana"]["snapped_ok"]:
            extra += " pandana snapped some POIs to another node than the provider node!"
        L.append(f"- {g['name']}: {g.get('note', '')}.{extra}")
    L.append("")

    # ---- part 2
    q = res.get("queries")
    L.append("### 2. Per query: k=5 nearest providers by car from random points in Mali")
    L.append("")
    if q is None:
        L.append("Not run.")
    elif "error" in q:
        L.append(f"Failed: {q['error']}")
    else:
        L.append(
            f"Real layers from `{res['build_dir']}` (built {res.get('built_at')}, roads: "
            f"{res.get('roads_kind')}), loaded with `api.build.layers.load_layers` in "
            f"{fmt_s(res.get('load_layers_s'))}.  Car graph with providers attached: "
            f"{q['graph_nodes']:,} nodes, {q['graph_edges']:,} edges.  {q['points']} "
            "points uniform by area inside the ADM0 polygon (seeded), each timed once "
            "after 5 warm-up queries; `service=None`, public providers only (the default "
            "API audience)."
        )
        L.append("")
        L.append("| what | median | p95 | p99 | mean |")
        L.append("|---|---:|---:|---:|---:|")
        a, r, n = q["answer"], q["rank"], q["nx"]
        L.append(
            f"| `api.build.layers.answer_nearest(k=5)` (ranking, routes, JSON) | "
            f"{fmt_s(a['median'])} | {fmt_s(a['p95'])} | {fmt_s(a['p99'])} | "
            f"{fmt_s(a['mean'])} |"
        )
        L.append(
            f"| `geo.traveltime.rank_sources(k=5)` alone | {fmt_s(r['median'])} | "
            f"{fmt_s(r['p95'])} | {fmt_s(r['p99'])} | {fmt_s(r['mean'])} |"
        )
        L.append(
            f"| networkx `single_source_dijkstra_path_length` from the entry cell "
            f"({n['n']} queries) | {fmt_s(n['median'])} | {fmt_s(n['p95'])} | n/a | "
            f"{fmt_s(n['mean'])} |"
        )
        L.append("")
        L.append(
            f"Speed-up (median networkx / median answer_nearest): "
            f"**{fmt_x(ratio(n['median'], a['median']))}**; networkx / rank_sources: "
            f"{fmt_x(ratio(n['median'], r['median']))}.  On CPU time (medians): "
            f"answer_nearest {fmt_s(a['cpu_median'])}, rank_sources "
            f"{fmt_s(r['cpu_median'])}, networkx {fmt_s(n['cpu_median'])}, networkx / "
            f"answer_nearest {fmt_x(ratio(n['cpu_median'], a['cpu_median']))}.  "
            f"networkx graph build (outside "
            f"the timer): {fmt_s(q['nx_build'])}.  Check: the matrix row of the entry cell "
            f"vs networkx, max rel. diff. {q['check_nx']['max_rel']:.1e} "
            f"({q['check_nx']['compared']} node-provider pairs; the matrix is float32)"
            + (
                f"; {q['nx_reach_mismatch']} reachability mismatches!"
                if q.get("nx_reach_mismatch")
                else ""
            )
            + ".  "
            f"Queries that raised: {a['failed']}."
        )
    L.append("")

    # ---- part 3
    s = res.get("surface")
    L.append("### 3. National 1 km surface, one (service, mode): one_stop_centre by car")
    L.append("")
    if s is None:
        L.append("Not run.")
    elif "error" in s:
        L.append(f"Failed: {s['error']}")
    else:
        L.append(
            f"`nearest_source_times` on the real car graph with every located provider "
            f"attached by `attach_points` (as `api/build/pipeline.py` does): {s['nodes']:,} "
            f"nodes ({s['cells']:,} grid cells, {s['road']:,} road vertices, "
            f"{s['attached']} attached providers), {s['edges']:,} undirected edges; "
            f"{s['sources']} One-Stop Centre sources."
        )
        L.append("")
        L.append("| what | time |")
        L.append("|---|---:|")
        L.append(
            f"| `nearest_source_times` (median of {args.repeat}) | "
            f"**{fmt_s(s['surface'])}** (CPU {fmt_s(s['surface_cpu'])}) |"
        )
        L.append(f"| scipy floor, same call | {fmt_s(s['floor'])} |")
        L.append(f"| `load_graph` (npz, once) | {fmt_s(s['load_graph'])} |")
        L.append(f"| `attach_points` of the providers (once) | {fmt_s(s['attach'])} |")
        L.append("")
        c = s["check_matrix"]
        L.append(
            f"Check against `surface_from_matrix` of the built matrix (float32): max rel. "
            f"diff. {c['max_rel']:.1e}, {c['reach_mismatch']} reachability mismatches; "
            f"{s['cells_unreachable']:,} grid cells unreachable."
        )
    L.append("")

    # ---- part 4
    b = res.get("build")
    L.append("### 4. Full `orienter build`, all modes")
    L.append("")
    if b is None:
        L.append("Not run (`--quick` or `--skip-build`).")
    elif "error" in b:
        L.append(f"Failed: {b['error']}")
    else:
        f, c = b["fresh"], b["cached"]
        L.append(
            f"`/usr/bin/time -v env ORIENTER_DATA_DIR={SHARED} ORIENTER_BUILD_DIR=<fresh "
            f"dir in /tmp> .venv/bin/orienter build`, then the same command again "
            f"(cached).  Roads: {b.get('roads')}; modes: {b.get('modes')}; scenarios: "
            f"{b.get('scenarios')}."
        )
        L.append("")
        L.append("| run | exit | wall time | CPU time (user + sys) | peak RSS |")
        L.append("|---|---:|---:|---:|---:|")
        for name, r in (("fresh", f), ("cached rebuild", c)):
            rss = f"{r['rss_gb']:.2f} GB" if r.get("rss_gb") is not None else "n/a"
            L.append(f"| {name} | {r['rc']} | {fmt_s(r['wall'])} | {fmt_s(r.get('cpu'))} | {rss} |")
        L.append("")
        if f.get("steps") or c.get("steps"):
            L.append("Steps as `orienter build` reports them (seconds; fresh / cached):")
            L.append("")
            L.append("| step | fresh | cached |")
            L.append("|---|---:|---:|")
            cached_steps = {k: (st, sec) for k, st, sec in c.get("steps", [])}
            for k, st, sec in f.get("steps", []):
                cs = cached_steps.get(k)
                L.append(
                    f"| {k} | {st} {sec:.1f} | " + (f"{cs[0]} {cs[1]:.1f}" if cs else "—") + " |"
                )
            L.append("")
        if f["rc"] != 0:
            L.append("")
            L.append("Build stderr (tail):")
            L.append("")
            L.append("```")
            L.append(f["stderr_tail"])
            L.append("```")
    L.append("")
    if res.get("errors"):
        L.append("### Errors")
        L.append("")
        for e in res["errors"]:
            L.append(f"- {e}")
        L.append("")
    return "\n".join(L)


def targets(res: dict) -> list[tuple[str, str, str]]:
    rows = []
    for g in res.get("all_nodes", []):
        if "error" in g:
            rows.append((f"all-nodes comparisons ({g['name']})", g["error"], "NOT MEASURED"))
            continue
        tag = g["name"]
        r = ratio(g["orienter"], g["floor"])
        rows.append(
            (
                f"Orienter / floor <= {TARGETS['orienter_over_floor']}x ({tag})",
                fmt_x(r),
                verdict(r, TARGETS["orienter_over_floor"], at_most=True),
            )
        )
        r = ratio(g["nx"], g["orienter"])
        rows.append(
            (
                f"networkx / Orienter >= {TARGETS['nx_over_orienter']:.0f}x ({tag})",
                fmt_x(r),
                verdict(r, TARGETS["nx_over_orienter"], at_most=False),
            )
        )
        p = g["pandana"]
        want = TARGETS["pandana_over_orienter"]
        if p.get("ok"):
            tot = ratio(p["build"] + p["pois"] + p["query"], g["orienter"])
            rows.append(
                (
                    f"pandana / Orienter >= {want:.0f}x, CH build + POIs + query ({tag})",
                    fmt_x(tot),
                    verdict(tot, want, at_most=False),
                )
            )
            qr = ratio(p["query"], g["orienter"])
            rows.append(
                (
                    f"pandana / Orienter >= {want:.0f}x, query only, CH prebuilt ({tag})",
                    fmt_x(qr),
                    verdict(qr, want, at_most=False),
                )
            )
        elif p.get("timed_out"):
            lo = ratio(p["timeout"], g["orienter"])
            rows.append(
                (
                    f"pandana / Orienter >= {want:.0f}x, CH build + POIs + query ({tag})",
                    f"> {fmt_x(lo)} (pandana killed after {p['timeout']:.0f} s)",
                    verdict(lo, want, at_most=False),
                )
            )
            rows.append(
                (
                    f"pandana / Orienter >= {want:.0f}x, query only ({tag})",
                    "query not finished",
                    "NOT MEASURED",
                )
            )
        else:
            rows.append(
                (
                    f"pandana / Orienter >= {want:.0f}x ({tag})",
                    f"pandana failed: {p.get('error')}",
                    "NOT MEASURED",
                )
            )
    q = res.get("queries")
    if q and "error" not in q:
        r = ratio(q["nx"]["median"], q["answer"]["median"])
        rows.append(
            (
                f"per query: networkx / answer_nearest >= "
                f"{TARGETS['query_speedup']:.0f}x (medians)",
                fmt_x(r),
                verdict(r, TARGETS["query_speedup"], at_most=False),
            )
        )
    elif q:
        rows.append(("per query >= 100x", q["error"], "NOT MEASURED"))
    s = res.get("surface")
    if s and "error" not in s:
        rows.append(
            (
                f"national surface <= {TARGETS['surface_s']:.0f} s",
                fmt_s(s["surface"]),
                verdict(s["surface"], TARGETS["surface_s"], at_most=True),
            )
        )
    elif s:
        rows.append(("national surface <= 5 s", s["error"], "NOT MEASURED"))
    b = res.get("build")
    if b and "error" not in b:
        f = b["fresh"]
        ok = f["rc"] == 0
        rows.append(
            (
                f"full build <= {TARGETS['build_s']:.0f} s",
                fmt_s(f["wall"]) + ("" if ok else f" (exit {f['rc']})"),
                verdict(f["wall"] if ok else None, TARGETS["build_s"], at_most=True),
            )
        )
        rows.append(
            (
                f"full build peak RSS <= {TARGETS['build_rss_gb']:.0f} GB",
                f"{f['rss_gb']:.2f} GB" if f["rss_gb"] is not None else "n/a",
                verdict(f["rss_gb"], TARGETS["build_rss_gb"], at_most=True),
            )
        )
    elif b:
        rows.append(("full build", b["error"], "NOT MEASURED"))
    else:
        rows.append(("full build <= 180 s and <= 4 GB", "not run", "NOT MEASURED"))
    return rows


def write_results(text: str, quick: bool) -> None:
    write_section("bench_traveltime" + (":quick" if quick else ""), text)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--nodes",
        type=int,
        default=None,
        help="synthetic graph size (default 1,000,000; 100,000 with --quick)",
    )
    p.add_argument(
        "--quick", action="store_true", help="100,000 nodes, 3 networkx queries, no full build"
    )
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--repeat", type=int, default=5, help="runs of fast things (median)")
    p.add_argument(
        "--nx-repeat",
        type=int,
        default=None,
        help="networkx all-nodes runs on the synthetic graph (default 2; 1 with "
        "500,000+ nodes); 5 on the small AUN graphs",
    )
    p.add_argument(
        "--pandana-repeat",
        type=int,
        default=3,
        help="pandana query runs on graphs under 500,000 nodes (1 above)",
    )
    p.add_argument(
        "--pandana-timeout",
        type=float,
        default=900.0,
        help="kill pandana after this many seconds per graph",
    )
    p.add_argument("--queries", type=int, default=200)
    p.add_argument(
        "--nx-queries",
        type=int,
        default=None,
        help="per-query networkx runs on the real graph (default 20, 3 with --quick; "
        "each is a full Dijkstra over 1.3 M nodes)",
    )
    p.add_argument(
        "--build-dir",
        type=Path,
        default=Path("/tmp/obuild"),
        help="built layers for parts 2 and 3 (built there if missing)",
    )
    p.add_argument("--skip-build", action="store_true", help="skip part 4")
    p.add_argument("--build", action="store_true", help="run part 4 even with --quick")
    p.add_argument("--keep-build", action="store_true", help="keep part 4's build dir")
    p.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = p.parse_args(argv)
    if args.nodes is None:
        args.nodes = 100_000 if args.quick else 1_000_000
    if args.nx_repeat is None:
        args.nx_repeat = 1 if args.nodes >= 500_000 else 2
    if args.nx_queries is None:
        args.nx_queries = 3 if args.quick else 20
    do_build = (not args.skip_build) and (args.build or not args.quick)
    command = ".venv/bin/python benchmarks/bench_traveltime.py" + (
        " " + shlex.join(sys.argv[1:]) if len(sys.argv) > 1 else ""
    )

    t_start = time.perf_counter()
    res: dict = {
        "machine": machine_info(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "errors": [],
    }
    log(f"machine: {res['machine']}")

    # part 4 first, while this process holds nothing big
    if do_build:
        try:
            res["build"] = bench_build(keep=args.keep_build)
        except Exception as exc:
            res["build"] = {"error": f"{type(exc).__name__}: {exc}"}
            res["errors"].append(f"build: {traceback.format_exc()}")

    speeds = read_speed_table()
    res["all_nodes"] = []
    makers = [
        (
            lambda: aun_bench(
                speeds,
                bbox=(-12.8, 9.6, 4.8, 25.5),
                seed=args.seed,
                name="AUN inter-city, Mali bbox",
            )
        ),
        (lambda: aun_bench(speeds, bbox=None, seed=args.seed, name="AUN inter-city, Africa")),
        (lambda: synthetic_bench(args.nodes, speeds, seed=args.seed)),
    ]
    for make in makers:
        try:
            t = time.perf_counter()
            bench = make()
            log(f"graph {bench.name} made in {fmt_s(time.perf_counter() - t)}")
            big = bench.n_nodes >= 500_000
            res["all_nodes"].append(
                bench_all_nodes(
                    bench,
                    repeat=args.repeat,
                    nx_repeat=args.nx_repeat if bench.n_nodes >= 50_000 else 5,
                    pandana_repeat=1 if big else args.pandana_repeat,
                    pandana_warmup=0 if big else 1,
                    pandana_timeout=args.pandana_timeout,
                )
            )
            del bench
            gc.collect()
        except Exception as exc:
            res["all_nodes"].append(
                {
                    "name": getattr(make, "__name__", "graph"),
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
            res["errors"].append(f"all-nodes: {traceback.format_exc()}")

    # parts 2 and 3 on the real layers
    try:
        from api.build.layers import load_layers
        from api.settings import Settings

        build_dir = args.build_dir
        if not (build_dir / "manifest.json").is_file():
            log(f"no layers in {build_dir}: building them (not timed)")
            env = dict(os.environ, ORIENTER_DATA_DIR=str(SHARED), ORIENTER_BUILD_DIR=str(build_dir))
            subprocess.run(
                [str(REPO / ".venv" / "bin" / "orienter"), "build"],
                cwd=REPO,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        res["build_dir"] = str(build_dir)
        t = time.perf_counter()
        layers = load_layers(Settings(data_dir=SHARED, build_dir=build_dir))
        res["load_layers_s"] = time.perf_counter() - t
        res["built_at"] = layers.manifest.get("built_at")
        res["roads_kind"] = layers.manifest.get("inputs", {}).get("roads", {}).get("kind")
        try:
            res["surface"] = bench_surface(layers, build_dir, repeat=args.repeat)
            log(f"    surface {fmt_s(res['surface']['surface'])}")
        except Exception as exc:
            res["surface"] = {"error": f"{type(exc).__name__}: {exc}"}
            res["errors"].append(f"surface: {traceback.format_exc()}")
        gc.collect()
        try:
            res["queries"] = bench_queries(
                layers, n_points=args.queries, nx_queries=args.nx_queries, seed=args.seed
            )
        except Exception as exc:
            res["queries"] = {"error": f"{type(exc).__name__}: {exc}"}
            res["errors"].append(f"queries: {traceback.format_exc()}")
    except Exception as exc:
        res["errors"].append(f"real layers: {traceback.format_exc()}")
        res.setdefault("queries", {"error": f"{type(exc).__name__}: {exc}"})
        res.setdefault("surface", {"error": f"{type(exc).__name__}: {exc}"})

    res["load_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    res["total_s"] = time.perf_counter() - t_start
    res["targets"] = targets(res)
    text = render(res, args, command)
    print()
    print(text)
    if not args.no_write:
        write_results(text, args.quick)
        log(f"wrote {RESULTS}")
    for e in res["errors"]:
        print(e, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
