"""`orienter build`: every travel-time and conflict layer, cached under the build directory.

Each step has a key: the SHA-256 of what it depends on (input file hashes and
parameters).  ``build/manifest.json`` records the key and outputs of every step; a step
whose key is unchanged and whose outputs exist is skipped.  So a rebuild with unchanged
inputs takes seconds, and a changed provider file rebuilds the labels, surfaces and
isochrones but not the graphs.

Per (mode, scenario): the graph (``graphs/<tag>/``, no provider in it), the label sets
(``labels/<tag>/<audience>/<service>/``: the k nearest providers of every place, see
:mod:`geo.layers`), the surfaces and allocation rasters, and in the baseline the
isochrones of every service.

Confidentiality: nothing public may depend on a confidential record.  Public label sets,
``surfaces/public/``, the isochrones, the loss-of-access tables and ``providers.parquet``
are computed from public providers only, so they are byte for byte the same whether or
not the directory holds confidential records.  The confidential sets, ``surfaces/all/``
(every provider, for caseworkers) and ``providers_confidential.parquet`` serve answers
given to a caseworker token only.  Only providers whose status enters results
(``ORIENTER_STATUSES``, default operating and reported) are built.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from rasterio import features

from api.datasets import find_dataset
from api.settings import Settings
from geo.boundaries import read_boundaries
from geo.conflict import clip_to_country, filter_events, read_conflict_events
from geo.costgraph import build_cost_graph, densify_roads
from geo.crs import METRIC_CRS
from geo.demand import population_on_grid
from geo.errors import DataFileError
from geo.freshness import parse_statuses, status_mask
from geo.grid import Grid, make_grid
from geo.layers import Layer, ProviderTables, compute_sets, load_sets, save_sets
from geo.population import read_population_raster
from geo.providers import SERVICES, read_providers
from geo.roads import read_intercity_network, read_road_segments
from geo.speeds import read_speed_table
from geo.store import atomic_path, load_graph, save_graph, write_raster
from geo.traveltime import isochrones
from geo.zones import (
    DEFAULT_BANDWIDTH_M,
    DEFAULT_EVENT_TYPES,
    ConflictSurface,
    admin_summary,
    conflict_surface,
    default_window,
    scenario_cell_factor,
    zone_at,
    zone_polygons,
)

__all__ = [
    "SERVICE_KEYS",
    "BuildReport",
    "ConflictOptions",
    "build_all",
    "choose_roads",
    "load_conflict",
    "sha256_file",
]

SERVICE_KEYS: tuple[str, ...] = ("one_stop_centre", *SERVICES)
ISOCHRONE_MIN = (30, 60, 120, 300)
LOSS_THRESHOLDS_MIN = (60, 120, 300)
GRID_BUFFER_M = 5000.0
#: Bump when the label files change meaning (forces a rebuild of the labels).
LABELS_VERSION = 1
MANIFEST_VERSION = 3

Progress = Callable[[str, int, int], None]


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _frame_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of a provider table's content (its records as JSON, geometry as WKT)."""
    plain = pd.DataFrame(frame.drop(columns="geometry", errors="ignore")).astype(object)
    if "geometry" in frame:
        plain["geometry"] = [None if g is None else g.wkt for g in frame.geometry]
    text = plain.to_json(orient="records", force_ascii=False, default_handler=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


@dataclass(frozen=True)
class ConflictOptions:
    """Which events make the conflict zones (defaults: see ``geo.zones``)."""

    start: date | None = None
    end: date | None = None
    event_types: tuple[str, ...] = DEFAULT_EVENT_TYPES
    bandwidth_m: float = DEFAULT_BANDWIDTH_M
    weight: str = "count"


def load_conflict(
    settings: Settings, grid: Grid, country, options: ConflictOptions
) -> tuple[ConflictSurface, gpd.GeoDataFrame, int] | None:
    """Zones from the data directory's conflict events; None when there is no event file.

    Returns the surface, the events used (window and types) and how many events were
    dropped for lying outside Mali.
    """
    path = find_dataset(settings, "conflict")
    if path is None:
        return None
    events = read_conflict_events(path)
    inside, dropped = clip_to_country(events, country)
    start, end = options.start, options.end
    if start is None or end is None:
        d_start, d_end = default_window(inside)
        start, end = start or d_start, end or d_end
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        used = filter_events(inside, start=start, end=end, event_types=list(options.event_types))
    surface = conflict_surface(
        used, grid, start=start, end=end, bandwidth_m=options.bandwidth_m, weight=options.weight
    )
    return surface, used, dropped


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


@dataclass
class _Context:
    settings: Settings
    root: Path
    manifest: _Manifest
    report: BuildReport
    progress: Progress
    grid: Grid
    tables: ProviderTables
    inputs: dict


def build_all(
    settings: Settings,
    *,
    modes: list[str] | None = None,
    scenarios: list[str] | None = None,
    conflict: ConflictOptions | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Build graphs, provider matrices, surfaces, isochrones, conflict zones and loss of
    access for every mode and scenario.  ``progress(label, done, total)`` reports work."""
    root = settings.build_dir
    root.mkdir(parents=True, exist_ok=True)
    manifest = _Manifest(root / "manifest.json")
    report = BuildReport(manifest_path=manifest.path)
    tick = progress or (lambda label, done, total: None)
    conflict = conflict or ConflictOptions()

    adm0_path = find_dataset(settings, "adm0")
    if adm0_path is None:
        raise DataFileError(f"no country boundary (ADM0) under {settings.data_dir / 'boundaries'}")
    road_kind, road_paths = choose_roads(settings)
    speeds = read_speed_table(settings.speeds, profile=settings.speed_profile)
    providers = read_providers(settings.providers)
    statuses = parse_statuses(settings.statuses, parameter="ORIENTER_STATUSES")
    located = providers[
        providers.geometry.notna() & ~providers.geometry.is_empty & status_mask(providers, statuses)
    ].reset_index(drop=True)
    public_rows = ProviderTables.split(located).public
    conflict_path = find_dataset(settings, "conflict")
    pop_path = find_dataset(settings, "population_raster")
    inputs = {
        "adm0": {"path": str(adm0_path.resolve()), "sha256": sha256_file(adm0_path)},
        "roads": {
            "kind": road_kind,
            "paths": [str(p.resolve()) for p in road_paths],
            "sha256": [sha256_file(p) for p in road_paths],
        },
        "speeds": {
            "path": speeds.source,
            "sha256": sha256_file(Path(speeds.source)),
            "profile": speeds.profile.name,
        },
        # what public outputs rest on (public records only: a count or a hash of the whole
        # file would change with a confidential record); the file's hash keys the cache
        "providers": {
            "path": str(settings.providers.resolve()),
            "public_sha256": _frame_sha256(public_rows),
            "located_public": len(public_rows),
            "statuses": list(statuses),
        },
        "conflict": None
        if conflict_path is None
        else {"path": str(conflict_path.resolve()), "sha256": sha256_file(conflict_path)},
        "population": None
        if pop_path is None
        else {"path": str(pop_path.resolve()), "sha256": sha256_file(pop_path)},
    }
    manifest.data["inputs"] = inputs
    manifest.data["parameters"] = {
        "cell_m": settings.grid_cell_m,
        "season": settings.season,
        "grid_buffer_m": GRID_BUFFER_M,
        "isochrones_min": list(ISOCHRONE_MIN),
        "nearest_k": settings.nearest_k,
    }
    manifest.save()
    modes = list(speeds.modes) if modes is None else modes
    for m in modes:
        speeds.mode(m)

    t0 = time.perf_counter()
    country_4326 = read_boundaries(adm0_path, level=0).union_all()
    adm0 = read_boundaries(adm0_path, level=0).to_crs(METRIC_CRS)
    country = adm0.union_all()
    grid = make_grid(country, crs=METRIC_CRS, cell_m=settings.grid_cell_m, buffer_m=GRID_BUFFER_M)
    roads = densify_roads(
        load_roads(road_kind, road_paths).to_crs(METRIC_CRS), max_segment_m=settings.grid_cell_m / 2
    )
    report.add("grid and roads", "built", time.perf_counter() - t0)

    # conflict zones (scenarios exist only when there is conflict data)
    zones = None
    wanted = ["baseline", "slowed", "avoid"] if scenarios is None else list(scenarios)
    unknown = [s for s in wanted if s not in ("baseline", "slowed", "avoid")]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; allowed: baseline, slowed, avoid")
    if "baseline" not in wanted:
        wanted.insert(0, "baseline")  # scenarios are compared with it
    scenarios = ["baseline"]
    if conflict_path is not None:
        t = time.perf_counter()
        loaded = load_conflict(settings, grid, country_4326, conflict)
        assert loaded is not None
        zones, used, dropped = loaded
        _write_conflict(root, settings, zones, used, dropped)
        manifest.data["conflict"] = {
            **zones.describe(),
            "dropped_outside_mali": dropped,
            "event_types": list(conflict.event_types),
        }
        scenarios = wanted
        report.add("conflict zones", "built", time.perf_counter() - t)
        located = located.assign(zone_class=zone_at(zones, located.geometry).to_numpy())
    earlier_modes = [m for m in manifest.data.get("modes", []) if m not in modes]
    manifest.data["modes"] = modes
    manifest.data["scenarios"] = scenarios
    manifest.data["services"] = list(SERVICE_KEYS)
    manifest.save()

    tables = ProviderTables.split(located)
    for frame in (tables.public, tables.confidential):
        metric = frame.to_crs(METRIC_CRS)
        outside = frame["name"][
            grid.locate(metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy()) < 0
        ]
        if len(outside):
            raise DataFileError(
                f"{settings.providers}: provider(s) outside the travel-time grid "
                f"(outside Mali?): {', '.join(map(str, outside.astype(str).tolist()[:5]))}"
            )
    with atomic_path(root / "providers.parquet") as tmp:
        tables.public.to_parquet(tmp)
    with atomic_path(root / "providers_confidential.parquet") as tmp:
        tables.confidential.to_parquet(tmp)
    ctx = _Context(
        settings=settings,
        root=root,
        manifest=manifest,
        report=report,
        progress=tick,
        grid=grid,
        tables=tables,
        inputs={**inputs, "_providers_file_sha256": sha256_file(settings.providers)},
    )
    population: list[np.ndarray] = []  # computed once, only if a loss table is rebuilt

    def get_population() -> np.ndarray:
        if not population:
            population.append(
                population_on_grid(read_population_raster(pop_path), grid, area=country)
            )
        return population[0]

    conflict_key = _key(inputs["conflict"], zones.describe() if zones else None)
    total = len(modes) * len(scenarios)
    done = 0
    for mode in modes:
        keys: dict[str, str] = {}
        for scenario in scenarios:
            factor = scenario_cell_factor(zones, scenario) if zones is not None else None
            keys[scenario] = _graph_labels_surfaces(
                ctx,
                roads,
                speeds,
                mode,
                scenario,
                factor,
                conflict_key if scenario != "baseline" else None,
            )
            if scenario != "baseline" and pop_path is not None and zones is not None:
                _loss_of_access(
                    ctx, get_population, keys["baseline"], keys[scenario], mode, scenario
                )
            done += 1
            tick("modes x scenarios", done, total)
    # Modes built earlier into this directory stay listed while every layer of theirs still
    # matches the inputs (building car after walk must not hide walk).
    manifest.data["modes"] = modes + [
        m
        for m in earlier_modes
        if all(
            _layer_fresh(ctx, m, s, conflict_key if s != "baseline" else None) for s in scenarios
        )
    ]
    manifest.data["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    manifest.save()
    return report


def _layer_keys(
    ctx: _Context, mode: str, scenario: str, conflict_key: str | None
) -> tuple[str, str, str]:
    """The cache keys of one (mode, scenario)'s graph, labels and surfaces."""
    inputs = ctx.inputs
    gkey = _key(
        "graph",
        inputs["adm0"]["sha256"],
        inputs["roads"]["sha256"],
        inputs["speeds"]["sha256"],
        inputs["speeds"]["profile"],
        ctx.settings.grid_cell_m,
        ctx.settings.season,
        GRID_BUFFER_M,
        mode,
        scenario,
        conflict_key,
    )
    lkey = _key(
        "labels",
        gkey,
        inputs["_providers_file_sha256"],
        inputs["providers"]["statuses"],
        ctx.settings.nearest_k,
        LABELS_VERSION,
    )
    skey = _key("surfaces", lkey, SERVICE_KEYS, ISOCHRONE_MIN, 3)
    return gkey, lkey, skey


def _layer_fresh(ctx: _Context, mode: str, scenario: str, conflict_key: str | None) -> bool:
    """True when the graph, labels and surfaces of (mode, scenario) on disk match the inputs."""
    tag = f"{mode}-{scenario}"
    gkey, lkey, skey = _layer_keys(ctx, mode, scenario, conflict_key)
    return (
        ctx.manifest.fresh(f"graph:{tag}", gkey, ctx.root)
        and ctx.manifest.fresh(f"labels:{tag}", lkey, ctx.root)
        and ctx.manifest.fresh(f"surfaces:{tag}", skey, ctx.root)
    )


def _graph_labels_surfaces(
    ctx: _Context, roads, speeds, mode: str, scenario: str, factor, conflict_key: str | None
) -> str:
    """Graph, label sets and surfaces of one (mode, scenario); returns the labels' key.

    Nothing is loaded when every output is fresh, so a rebuild with unchanged inputs
    only hashes them.
    """
    tag = f"{mode}-{scenario}"
    root, manifest = ctx.root, ctx.manifest
    gkey, lkey, skey = _layer_keys(ctx, mode, scenario, conflict_key)
    gdir, ldir = f"graphs/{tag}", f"labels/{tag}"
    if _layer_fresh(ctx, mode, scenario, conflict_key):
        ctx.report.add(f"graph, labels, surfaces {tag}", "reused", 0.0)
        return lkey
    t = time.perf_counter()
    if manifest.fresh(f"graph:{tag}", gkey, root):
        graph = load_graph(root / gdir)
        ctx.report.add(f"graph {tag}", "reused", time.perf_counter() - t)
    else:
        graph = build_cost_graph(
            ctx.grid, roads, speeds, mode=mode, season=ctx.settings.season, cell_factor=factor
        )
        save_graph(graph, root / gdir)
        manifest.record(f"graph:{tag}", gkey, [f"{gdir}/meta.json"], time.perf_counter() - t)
        ctx.report.add(f"graph {tag}", "built", time.perf_counter() - t)
    t = time.perf_counter()
    if manifest.fresh(f"labels:{tag}", lkey, root):
        sets = load_sets(root / ldir)
        ctx.report.add(f"labels {tag}", "reused", time.perf_counter() - t)
    else:

        def on_set(done: int, total: int) -> None:
            ctx.progress(f"labels {tag}", done, total)

        sets = compute_sets(
            graph, ctx.tables, k=ctx.settings.nearest_k, workers=_workers(), progress=on_set
        )
        save_sets(sets, root / ldir)
        manifest.record(f"labels:{tag}", lkey, [ldir], time.perf_counter() - t)
        ctx.report.add(f"labels {tag}", "built", time.perf_counter() - t)
    if not manifest.fresh(f"surfaces:{tag}", skey, root):
        _write_surfaces(ctx, Layer(graph, sets), mode, scenario, skey)
    return lkey


def _workers() -> int:
    """Label sets computed at once: the machine's cores, at most 4 (each holds ~0.3 GB)."""
    return max(1, min(4, os.cpu_count() or 1))


def _write_surfaces(ctx: _Context, layer: Layer, mode: str, scenario: str, skey: str) -> None:
    """Surfaces and allocation rasters per audience and service; baseline isochrones.

    ``public/`` rasters come from the public sets (allocation: rows of providers.parquet);
    ``all/`` from every set (allocation: rows of the public table then the confidential
    one), for caseworkers.
    """
    tag = f"{mode}-{scenario}"
    t = time.perf_counter()
    graph = layer.graph
    outputs: list[str] = []
    for audience in ("public", "all"):
        for service in SERVICE_KEYS:
            minutes, nearest = layer.surface(service, caseworker=audience == "all")
            cells = np.asarray(minutes[: graph.n_cells], dtype=np.float32)
            band = graph.grid.to_raster(np.where(np.isfinite(cells), cells, np.nan), fill=np.nan)
            alloc = graph.grid.to_raster(nearest[: graph.n_cells].astype(np.int32), fill=-1)
            base = f"surfaces/{audience}/{service}-{tag}"
            tags = {
                "units": "minutes",
                "service": service,
                "scenario": scenario,
                "mode": mode,
                "audience": audience,
            }
            write_raster(
                ctx.root / f"{base}.tif",
                graph.grid,
                band.astype(np.float32),
                nodata=np.nan,
                tags=tags,
            )
            rows = "providers.parquet" + (
                "" if audience == "public" else " then providers_confidential.parquet"
            )
            write_raster(
                ctx.root / f"{base}-allocation.tif",
                graph.grid,
                alloc.astype(np.int32),
                nodata=-1,
                tags={**tags, "values": f"provider row of {rows}"},
            )
            outputs += [f"{base}.tif", f"{base}-allocation.tif"]
    if scenario == "baseline":  # each service's isochrones, from its public surface
        frames = []
        for service in SERVICE_KEYS:
            minutes, _ = layer.surface(service)
            iso = isochrones(graph, minutes, ISOCHRONE_MIN)
            iso.insert(0, "service", service)
            frames.append(iso)
        iso_path = f"isochrones/{tag}.parquet"
        all_iso = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
        with atomic_path(ctx.root / iso_path) as tmp:
            all_iso.to_parquet(tmp)
        outputs.append(iso_path)
    ctx.manifest.record(f"surfaces:{tag}", skey, outputs, time.perf_counter() - t)
    ctx.report.add(f"surfaces {tag}", "built", time.perf_counter() - t)


def _write_conflict(
    root: Path, settings: Settings, zones: ConflictSurface, events: gpd.GeoDataFrame, dropped: int
) -> None:
    out = root / "conflict"
    out.mkdir(parents=True, exist_ok=True)
    for name, array in (("zone", zones.zone), ("density", zones.density)):
        with atomic_path(out / f"{name}.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, array)
    polygons = zone_polygons(zones, events)
    with atomic_path(out / "zones.parquet") as tmp:
        polygons.to_parquet(tmp)
    for level in (1, 2, 3):
        path = find_dataset(settings, f"adm{level}")
        if path is None:
            continue
        summary = admin_summary(zones, events, read_boundaries(path, level=level))
        with atomic_path(out / f"summary_adm{level}.csv") as tmp:
            summary.to_csv(tmp, index=False)
    with atomic_path(out / "meta.json") as tmp:
        tmp.write_text(
            json.dumps({**zones.describe(), "dropped_outside_mali": dropped}, indent=2),
            encoding="utf-8",
        )


def _loss_of_access(
    ctx: _Context, get_population, base_mkey: str, scen_mkey: str, mode: str, scenario: str
) -> None:
    """Population newly beyond 1, 2 and 5 hours per région and cercle; map layer.

    Surfaces are the public ones (``surfaces/public/``): these tables are published.
    """
    tag = f"{mode}-{scenario}"
    out = ctx.root / "conflict"
    table_path = f"conflict/loss_{tag}.csv"
    tif_path = f"conflict/loss_one_stop_centre_{tag}.tif"
    lkey = _key(
        "loss",
        base_mkey,
        scen_mkey,
        ctx.inputs["population"],
        ctx.inputs.get("conflict"),
        LOSS_THRESHOLDS_MIN,
    )
    if ctx.manifest.fresh(f"loss:{tag}", lkey, ctx.root):
        ctx.report.add(f"loss of access {tag}", "reused", 0.0)
        return
    t = time.perf_counter()
    population = get_population()
    n_cells = ctx.grid.n_cells
    surfaces = {
        service: tuple(
            _public_surface(ctx, f"{service}-{mode}-{s}") for s in ("baseline", scenario)
        )
        for service in SERVICE_KEYS
    }
    frames = []
    for level in (1, 2):
        path = find_dataset(ctx.settings, f"adm{level}")
        if path is None:
            continue
        units = read_boundaries(path, level=level).to_crs(ctx.grid.crs).reset_index(drop=True)
        label = features.rasterize(
            ((g, i + 1) for i, g in enumerate(units.geometry)),
            out_shape=(ctx.grid.nrows, ctx.grid.ncols),
            transform=ctx.grid.transform,
            fill=0,
            dtype="int32",
        )[ctx.grid.active]
        n = len(units) + 1
        pop_unit = np.bincount(label, weights=population, minlength=n)[1:]
        for service, (base, scen) in surfaces.items():
            cols = {}
            for thr in LOSS_THRESHOLDS_MIN:
                before = np.bincount(label, weights=population * (base > thr), minlength=n)[1:]
                after = np.bincount(label, weights=population * (scen > thr), minlength=n)[1:]
                cols[f"pop_beyond_{thr}_baseline"] = np.round(before)
                cols[f"pop_beyond_{thr}_scenario"] = np.round(after)
                cols[f"pop_lost_{thr}"] = np.round(after - before)
                with np.errstate(invalid="ignore", divide="ignore"):
                    cols[f"share_lost_{thr}"] = np.round(
                        np.where(pop_unit > 0, (after - before) / pop_unit, 0.0), 4
                    )
            frames.append(
                pd.DataFrame(
                    {
                        "level": level,
                        "pcode": units["pcode"].astype(str),
                        "name": units["name"].astype(str),
                        "mode": mode,
                        "service": service,
                        "scenario": scenario,
                        "population": np.round(pop_unit),
                        **cols,
                    }
                )
            )
    if frames:
        with atomic_path(ctx.root / table_path) as tmp:
            pd.concat(frames, ignore_index=True).to_csv(tmp, index=False)
    base, scen = surfaces["one_stop_centre"]
    newly = np.zeros(n_cells, dtype=np.int16)
    for thr in sorted(LOSS_THRESHOLDS_MIN, reverse=True):
        newly[(base <= thr) & (scen > thr)] = thr
    write_raster(
        out / f"loss_one_stop_centre_{tag}.tif",
        ctx.grid,
        ctx.grid.to_raster(newly, fill=0).astype(np.int16),
        nodata=-1,
        tags={
            "values": "smallest threshold (min) newly exceeded vs baseline, 0 none",
            "population_source": Path(ctx.inputs["population"]["path"]).name,
        },
    )
    ctx.manifest.record(
        f"loss:{tag}",
        lkey,
        [table_path, tif_path] if frames else [tif_path],
        time.perf_counter() - t,
    )
    ctx.report.add(f"loss of access {tag}", "built", time.perf_counter() - t)


def _public_surface(ctx: _Context, name: str) -> np.ndarray:
    """Minutes per active cell of the built ``surfaces/public/<name>.tif`` (inf: none)."""
    with rasterio.open(ctx.root / "surfaces" / "public" / f"{name}.tif") as src:
        band = src.read(1)[ctx.grid.active].astype(np.float64)
    return np.where(np.isnan(band), np.inf, band)
