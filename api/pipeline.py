"""`orienter build`: every travel-time layer, cached under the build directory.

Each step has a key: the SHA-256 of what it depends on (input file hashes and
parameters).  ``build/manifest.json`` records the key and outputs of every step; a step
whose key is unchanged and whose outputs exist is skipped.  So a rebuild with unchanged
inputs takes seconds, and a changed provider file rebuilds the matrices, surfaces and
isochrones but not the graphs.

Confidentiality: the graphs and matrices hold every locatable provider (the caseworker
API needs them) and stay in the build directory.  Surfaces and isochrones meant for maps
are written twice: ``public/`` from public providers only, ``all/`` from every provider
for coverage statistics, which describe access and may count confidential services.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from api.datasets import find_dataset
from api.settings import Settings
from geo.boundaries import read_boundaries
from geo.costgraph import attach_points, build_cost_graph, densify_roads
from geo.crs import METRIC_CRS
from geo.errors import DataFileError
from geo.grid import make_grid
from geo.nearest import providers_offering
from geo.providers import SERVICES, public_providers, read_providers
from geo.roads import read_intercity_network, read_road_segments
from geo.speeds import read_speed_table
from geo.store import atomic_path, load_graph, save_graph, save_matrix, write_raster
from geo.traveltime import isochrones, source_time_matrix, surface_from_matrix

__all__ = ["SERVICE_KEYS", "BuildReport", "build_all", "choose_roads", "sha256_file"]

SERVICE_KEYS: tuple[str, ...] = ("one_stop_centre", *SERVICES)
SCENARIOS: tuple[str, ...] = ("baseline",)
ISOCHRONE_MIN = (30, 60, 120, 300)
GRID_BUFFER_M = 5000.0
MANIFEST_VERSION = 1

Progress = Callable[[str, int, int], None]


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def choose_roads(settings: Settings) -> tuple[str, list[Path]]:
    """The best road data in the data directory: OSM extract > road segments > inter-city."""
    osm = find_dataset(settings, "roads_osm")
    if osm is not None:
        return "osm", [osm]
    seg = find_dataset(settings, "roads_segments")
    if seg is not None:
        return "segments", [seg]
    edges = find_dataset(settings, "roads_intercity")
    if edges is not None and (edges.parent / "AfricaNetworkNodes.csv").is_file():
        return "intercity", [edges.parent / "AfricaNetworkNodes.csv", edges]
    raise DataFileError(
        f"no road data under {settings.data_dir / 'roads'}: add an OpenStreetMap extract "
        "(.osm.pbf) or run `orienter data fetch`"
    )


def load_roads(kind: str, paths: list[Path]) -> gpd.GeoDataFrame:
    """Read the road layer chosen by :func:`choose_roads`."""
    if kind == "osm":
        from geo.osm import read_osm_roads

        return read_osm_roads(paths[0])
    if kind == "segments":
        return read_road_segments(paths[0])
    return read_intercity_network(paths[0], paths[1])


@dataclass
class BuildReport:
    """What a build did: steps run or reused, with seconds."""

    steps: list[dict] = field(default_factory=list)
    manifest_path: Path | None = None

    def add(self, name: str, status: str, seconds: float) -> None:
        self.steps.append({"step": name, "status": status, "seconds": round(seconds, 2)})


class _Manifest:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict = {"version": MANIFEST_VERSION, "inputs": {}, "steps": {}}
        if path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if loaded.get("version") == MANIFEST_VERSION:
                    self.data = loaded
            except json.JSONDecodeError:
                pass  # a corrupt manifest only means everything is rebuilt

    def fresh(self, step: str, key: str, root: Path) -> bool:
        entry = self.data["steps"].get(step)
        return bool(
            entry and entry["key"] == key and all((root / o).exists() for o in entry["outputs"])
        )

    def record(self, step: str, key: str, outputs: list[str], seconds: float) -> None:
        self.data["steps"][step] = {
            "key": key,
            "outputs": outputs,
            "seconds": round(seconds, 2),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        self.save()

    def save(self) -> None:
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(self.data, indent=2, ensure_ascii=False), encoding="utf-8")


def build_all(
    settings: Settings,
    *,
    modes: list[str] | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Build graphs, provider matrices, surfaces and isochrones for every mode.

    ``progress(label, done, total)`` is called as work advances.
    """

    def tick(label: str, done: int, total: int) -> None:
        if progress is not None:
            progress(label, done, total)

    root = settings.build_dir
    root.mkdir(parents=True, exist_ok=True)
    manifest = _Manifest(root / "manifest.json")
    report = BuildReport(manifest_path=manifest.path)

    adm0_path = find_dataset(settings, "adm0")
    if adm0_path is None:
        raise DataFileError(f"no country boundary (ADM0) under {settings.data_dir / 'boundaries'}")
    road_kind, road_paths = choose_roads(settings)
    speeds_path = settings.speeds
    speeds = read_speed_table(speeds_path)
    providers_path = settings.providers
    providers = read_providers(providers_path)
    located = providers[providers.geometry.notna() & ~providers.geometry.is_empty]
    located = located.reset_index(drop=True)
    inputs = {
        "adm0": {"path": str(adm0_path), "sha256": sha256_file(adm0_path)},
        "roads": {
            "kind": road_kind,
            "paths": [str(p) for p in road_paths],
            "sha256": [sha256_file(p) for p in road_paths],
        },
        "speeds": {"path": speeds.source, "sha256": sha256_file(Path(speeds.source))},
        "providers": {
            "path": str(providers_path),
            "sha256": sha256_file(providers_path),
            "located": len(located),
            "total": len(providers),
        },
    }
    manifest.data["inputs"] = inputs
    manifest.data["parameters"] = {
        "cell_m": settings.grid_cell_m,
        "season": settings.season,
        "grid_buffer_m": GRID_BUFFER_M,
        "isochrones_min": list(ISOCHRONE_MIN),
    }
    manifest.save()
    modes = list(speeds.modes) if modes is None else modes
    for m in modes:
        speeds.mode(m)

    t0 = time.perf_counter()
    adm0 = read_boundaries(adm0_path, level=0).to_crs(METRIC_CRS)
    grid = make_grid(
        adm0.union_all(), crs=METRIC_CRS, cell_m=settings.grid_cell_m, buffer_m=GRID_BUFFER_M
    )
    roads = densify_roads(
        load_roads(road_kind, road_paths).to_crs(METRIC_CRS), max_segment_m=settings.grid_cell_m / 2
    )
    report.add("grid and roads", "built", time.perf_counter() - t0)

    # the providers as built, aligned with the matrix columns
    table_path = root / "providers.parquet"
    with atomic_path(table_path) as tmp:
        located.to_parquet(tmp)
    px, py = _project(located)
    public_mask = located.index.isin(public_providers(located).index)

    total_steps = len(modes) * len(SCENARIOS)
    done = 0
    for mode in modes:
        for scenario in SCENARIOS:
            tag = f"{mode}-{scenario}"
            gkey = _key(
                "graph",
                inputs["adm0"]["sha256"],
                inputs["roads"]["sha256"],
                inputs["speeds"]["sha256"],
                settings.grid_cell_m,
                settings.season,
                GRID_BUFFER_M,
                mode,
                scenario,
            )
            gfile = f"graphs/{tag}.npz"
            t = time.perf_counter()
            if manifest.fresh(f"graph:{tag}", gkey, root):
                graph = load_graph(root / gfile)
                report.add(f"graph {tag}", "reused", time.perf_counter() - t)
            else:
                graph = build_cost_graph(grid, roads, speeds, mode=mode, season=settings.season)
                save_graph(graph, root / gfile)
                manifest.record(f"graph:{tag}", gkey, [gfile], time.perf_counter() - t)
                report.add(f"graph {tag}", "built", time.perf_counter() - t)

            def tick_matrix(tag: str, total: int, n: int) -> None:
                tick(f"matrix {tag}", n, total)

            mkey = _key("matrix", gkey, inputs["providers"]["sha256"])
            mdir = f"matrices/{tag}"
            t = time.perf_counter()
            if manifest.fresh(f"matrix:{tag}", mkey, root):
                report.add(f"matrix {tag}", "reused", time.perf_counter() - t)
                from geo.store import load_matrix

                matrix = load_matrix(root / mdir)
                attached, _ = attach_points(graph, px, py)
            else:
                attached, ids = attach_points(graph, px, py)
                outside = np.flatnonzero(ids < 0)
                if len(outside):
                    names = ", ".join(located["name"].iloc[outside].astype(str)[:5])
                    raise DataFileError(
                        f"{providers_path}: provider(s) outside the travel-time grid: {names}"
                    )
                matrix = source_time_matrix(
                    attached,
                    ids,
                    progress=functools.partial(tick_matrix, tag, len(ids)),
                )
                save_matrix(matrix, root / mdir)
                manifest.record(
                    f"matrix:{tag}",
                    mkey,
                    [f"{mdir}/minutes.npy", f"{mdir}/pred.npy", f"{mdir}/sources.npy"],
                    time.perf_counter() - t,
                )
                report.add(f"matrix {tag}", "built", time.perf_counter() - t)

            skey = _key("surfaces", mkey, SERVICE_KEYS, ISOCHRONE_MIN)
            t = time.perf_counter()
            if manifest.fresh(f"surfaces:{tag}", skey, root):
                report.add(f"surfaces {tag}", "reused", time.perf_counter() - t)
            else:
                outputs = _write_surfaces(root, attached, matrix, located, public_mask, tag)
                manifest.record(f"surfaces:{tag}", skey, outputs, time.perf_counter() - t)
                report.add(f"surfaces+isochrones {tag}", "built", time.perf_counter() - t)
            done += 1
            tick("modes", done, total_steps)
    manifest.data["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    manifest.data["modes"] = modes
    manifest.data["scenarios"] = list(SCENARIOS)
    manifest.data["services"] = list(SERVICE_KEYS)
    manifest.save()
    return report


def _project(providers: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    metric = providers.to_crs(METRIC_CRS)
    return metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy()


def _write_surfaces(root, graph, matrix, providers, public_mask, tag) -> list[str]:
    outputs: list[str] = []
    for audience, allowed in (("public", public_mask), ("all", np.ones(len(providers), bool))):
        for service in SERVICE_KEYS:
            cols = np.flatnonzero(allowed & providers_offering(providers, service))
            minutes, nearest = surface_from_matrix(matrix, cols)
            cells = minutes[: graph.n_cells]
            band = graph.grid.to_raster(
                np.where(np.isfinite(cells), cells, np.nan).astype(np.float32), fill=np.nan
            )
            alloc = graph.grid.to_raster(nearest[: graph.n_cells].astype(np.int32), fill=-1)
            base = f"surfaces/{audience}/{service}-{tag}"
            tags = {
                "units": "minutes",
                "service": service,
                "scenario": tag,
                "providers": len(cols),
                "audience": audience,
            }
            write_raster(
                root / f"{base}.tif", graph.grid, band.astype(np.float32), nodata=np.nan, tags=tags
            )
            write_raster(
                root / f"{base}-allocation.tif",
                graph.grid,
                alloc.astype(np.int32),
                nodata=-1,
                tags={**tags, "values": "provider column, see providers.parquet"},
            )
            outputs += [f"{base}.tif", f"{base}-allocation.tif"]
    # isochrones around each public provider only (they reveal where a provider is)
    frames = []
    for j in np.flatnonzero(public_mask):
        iso = isochrones(graph, matrix.minutes[:, j], ISOCHRONE_MIN)
        iso.insert(0, "provider_id", providers["id"].iloc[j])
        frames.append(iso)
    iso_path = f"isochrones/{tag}.parquet"
    if frames:
        all_iso = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
    else:
        all_iso = gpd.GeoDataFrame(
            {"provider_id": [], "threshold_min": []}, geometry=[], crs="EPSG:4326"
        )
    (root / "isochrones").mkdir(exist_ok=True)
    with atomic_path(root / iso_path) as tmp:
        all_iso.to_parquet(tmp)
    outputs.append(iso_path)
    return outputs
