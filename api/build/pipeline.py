"""`orienter build`: every travel-time and conflict layer, cached under the build directory.

Each step has a key: the SHA-256 of what it depends on (input file hashes and
parameters).  ``build/manifest.json`` records the key and outputs of every step
(:mod:`api.build.manifest`); a step whose key is unchanged and whose outputs exist is
skipped.  So a rebuild with unchanged inputs takes seconds, and a changed provider file
rebuilds the matrices, surfaces and isochrones but not the graphs.

Steps: inputs and parameters into the manifest, the grid and roads
(:mod:`api.build.roads`), the conflict zones (:mod:`api.build.conflict`), then per mode
and scenario the graph, the per-provider time matrix and the surfaces
(:func:`_graph_matrix_surfaces`, the calls into the travel-time engine), and the loss of
access under each conflict scenario.

Confidentiality: the graphs and matrices hold every locatable provider (the caseworker
API needs them) and stay in the build directory.  Surfaces and isochrones meant for maps
are written twice: ``public/`` from public providers only, ``all/`` from every provider
for coverage statistics, which describe access and may count confidential services.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio import features
from shapely.geometry.base import BaseGeometry

from api.build.conflict import ConflictOptions, load_conflict, write_conflict
from api.build.inputs import BuildSources, find_sources, record_inputs
from api.build.manifest import (
    GRID_BUFFER_M,
    ISOCHRONE_MIN,
    LOSS_THRESHOLDS_MIN,
    BuildReport,
    Manifest,
    step_key,
)
from api.build.roads import load_roads
from api.choices import SCENARIOS, SERVICE_KEYS
from api.datasets import find_dataset
from api.settings import Settings
from geo.boundaries import read_boundaries
from geo.costgraph import attach_points, build_cost_graph, densify_roads
from geo.crs import METRIC_CRS
from geo.demand import population_on_grid
from geo.errors import DataFileError
from geo.grid import Grid, make_grid
from geo.nearest import providers_offering
from geo.population import read_population_raster
from geo.providers import public_mask
from geo.speeds import SpeedTable
from geo.store import atomic_path, load_graph, load_matrix, save_graph, save_matrix, write_raster
from geo.traveltime import isochrones, source_time_matrix, surface_from_matrix
from geo.zones import ConflictSurface, scenario_cell_factor, zone_at

__all__ = ["BuildReport", "Progress", "build_all"]

#: ``progress(label, done, total)``: how a caller follows the work.
Progress = Callable[[str, int, int], None]


@dataclass
class _Context:
    settings: Settings
    root: Path
    manifest: Manifest
    report: BuildReport
    progress: Progress
    grid: Grid
    providers: gpd.GeoDataFrame
    public_mask: np.ndarray
    px: np.ndarray
    py: np.ndarray
    inputs: dict


def _no_progress(label: str, done: int, total: int) -> None:
    """The default :data:`Progress`: say nothing."""


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
    manifest = Manifest(root / "manifest.json")
    report = BuildReport(manifest_path=manifest.path)
    tick = progress or _no_progress
    conflict = conflict or ConflictOptions()
    wanted = _wanted_scenarios(scenarios)
    sources = find_sources(settings)
    inputs = record_inputs(manifest, settings, sources)
    modes = list(sources.speeds.modes) if modes is None else modes
    for m in modes:
        sources.speeds.mode(m)  # an unknown mode fails here, before any work
    country_4326, country, grid, roads = _grid_and_roads(settings, sources, report)
    located, zones = sources.located, None
    built_scenarios = ["baseline"]  # scenarios exist only when there is conflict data
    if sources.conflict is not None:
        zones = _conflict_zones(settings, manifest, report, grid, country_4326, conflict)
        built_scenarios = wanted
        located = located.assign(zone_class=zone_at(zones, located.geometry).to_numpy())
    earlier_modes = [m for m in manifest.data.get("modes", []) if m not in modes]
    manifest.data["modes"] = modes
    manifest.data["scenarios"] = built_scenarios
    manifest.data["services"] = list(SERVICE_KEYS)
    manifest.save()
    ctx = _context(settings, manifest, report, tick, grid, located, inputs)
    conflict_key = step_key(inputs["conflict"], zones.describe() if zones else None)
    population = _Population(sources.population, grid, country)
    _build_layers(
        ctx, roads, sources.speeds, modes, built_scenarios, zones, conflict_key, population
    )
    # Modes built earlier into this directory stay listed while every layer of theirs still
    # matches the inputs (building car after walk must not hide walk).
    manifest.data["modes"] = modes + [
        m
        for m in earlier_modes
        if all(
            _layer_fresh(ctx, m, s, conflict_key if s != "baseline" else None)
            for s in built_scenarios
        )
    ]
    manifest.data["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    manifest.save()
    return report


def _wanted_scenarios(scenarios: list[str] | None) -> list[str]:
    """The scenarios asked for, baseline first (the others are compared with it)."""
    wanted = list(SCENARIOS) if scenarios is None else list(scenarios)
    unknown = [s for s in wanted if s not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; allowed: {', '.join(SCENARIOS)}")
    if "baseline" not in wanted:
        wanted.insert(0, "baseline")
    return wanted


def _grid_and_roads(
    settings: Settings, sources: BuildSources, report: BuildReport
) -> tuple[BaseGeometry, BaseGeometry, Grid, gpd.GeoDataFrame]:
    """Country (EPSG:4326 and metric), travel-time grid, and the roads densified on it."""
    t0 = time.perf_counter()
    country_4326 = read_boundaries(sources.adm0, level=0).union_all()
    country = read_boundaries(sources.adm0, level=0).to_crs(METRIC_CRS).union_all()
    grid = make_grid(country, crs=METRIC_CRS, cell_m=settings.grid_cell_m, buffer_m=GRID_BUFFER_M)
    roads = densify_roads(
        load_roads(sources.road_kind, sources.road_paths).to_crs(METRIC_CRS),
        max_segment_m=settings.grid_cell_m / 2,
    )
    report.add("grid and roads", "built", time.perf_counter() - t0)
    return country_4326, country, grid, roads


def _conflict_zones(
    settings: Settings,
    manifest: Manifest,
    report: BuildReport,
    grid: Grid,
    country_4326: BaseGeometry,
    options: ConflictOptions,
) -> ConflictSurface:
    """Conflict zones from the event file, written under ``conflict/``."""
    t = time.perf_counter()
    loaded = load_conflict(settings, grid, country_4326, options)
    if loaded is None:  # the event file went away since it was found
        raise DataFileError(f"no conflict event file under {settings.data_dir / 'conflict'}")
    zones, used, dropped = loaded
    write_conflict(settings.build_dir, settings, zones, used, dropped)
    manifest.data["conflict"] = {
        **zones.describe(),
        "dropped_outside_mali": dropped,
        "event_types": list(options.event_types),
    }
    report.add("conflict zones", "built", time.perf_counter() - t)
    return zones


def _context(
    settings: Settings,
    manifest: Manifest,
    report: BuildReport,
    progress: Progress,
    grid: Grid,
    located: gpd.GeoDataFrame,
    inputs: dict,
) -> _Context:
    """Write ``providers.parquet`` (rows = matrix columns) and check every one is on the grid."""
    root = settings.build_dir
    with atomic_path(root / "providers.parquet") as tmp:
        located.to_parquet(tmp)
    metric = located.to_crs(METRIC_CRS)
    px, py = metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy()
    outside = located["name"][grid.locate(px, py) < 0].astype(str).tolist()
    if outside:
        raise DataFileError(
            f"{settings.providers}: provider(s) outside the travel-time grid "
            f"(outside Mali?): {', '.join(map(str, outside[:5]))}"
        )
    return _Context(
        settings=settings,
        root=root,
        manifest=manifest,
        report=report,
        progress=progress,
        grid=grid,
        providers=located,
        public_mask=public_mask(located),
        px=px,
        py=py,
        inputs=inputs,
    )


class _Population:
    """People per grid cell, read only if a loss-of-access table is rebuilt, then kept."""

    def __init__(self, path: Path | None, grid: Grid, country: BaseGeometry) -> None:
        self.path, self.grid, self.country = path, grid, country
        self._cells: np.ndarray | None = None

    def __call__(self) -> np.ndarray:
        if self._cells is None:
            if self.path is None:
                raise DataFileError("no population raster: loss of access cannot be computed")
            raster = read_population_raster(self.path)
            self._cells = population_on_grid(raster, self.grid, area=self.country)
        return self._cells


def _build_layers(
    ctx: _Context,
    roads: gpd.GeoDataFrame,
    speeds: SpeedTable,
    modes: list[str],
    scenarios: list[str],
    zones: ConflictSurface | None,
    conflict_key: str,
    population: _Population,
) -> None:
    """Graph, matrix and surfaces of every (mode, scenario); loss of access per scenario."""
    total = len(modes) * len(scenarios)
    done = 0
    for mode in modes:
        keys: dict[str, str] = {}
        for scenario in scenarios:
            factor = scenario_cell_factor(zones, scenario) if zones is not None else None
            keys[scenario] = _graph_matrix_surfaces(
                ctx,
                roads,
                speeds,
                mode,
                scenario,
                factor,
                conflict_key if scenario != "baseline" else None,
            )
            if scenario != "baseline" and population.path is not None and zones is not None:
                _loss_of_access(ctx, population, keys["baseline"], keys[scenario], mode, scenario)
            done += 1
            ctx.progress("modes x scenarios", done, total)


def _layer_keys(
    ctx: _Context, mode: str, scenario: str, conflict_key: str | None
) -> tuple[str, str, str]:
    """The cache keys of one (mode, scenario)'s graph, matrix and surfaces."""
    inputs = ctx.inputs
    gkey = step_key(
        "graph",
        inputs["adm0"]["sha256"],
        inputs["roads"]["sha256"],
        inputs["speeds"]["sha256"],
        ctx.settings.grid_cell_m,
        ctx.settings.season,
        GRID_BUFFER_M,
        mode,
        scenario,
        conflict_key,
    )
    mkey = step_key("matrix", gkey, inputs["providers"]["sha256"])
    skey = step_key("surfaces", mkey, SERVICE_KEYS, ISOCHRONE_MIN, 2)
    return gkey, mkey, skey


def _layer_fresh(ctx: _Context, mode: str, scenario: str, conflict_key: str | None) -> bool:
    """True when the graph, matrix and surfaces of (mode, scenario) on disk match the inputs."""
    tag = f"{mode}-{scenario}"
    gkey, mkey, skey = _layer_keys(ctx, mode, scenario, conflict_key)
    return (
        ctx.manifest.fresh(f"graph:{tag}", gkey, ctx.root)
        and ctx.manifest.fresh(f"matrix:{tag}", mkey, ctx.root)
        and ctx.manifest.fresh(f"surfaces:{tag}", skey, ctx.root)
    )


def _graph_matrix_surfaces(
    ctx: _Context, roads, speeds, mode: str, scenario: str, factor, conflict_key: str | None
) -> str:
    """Graph, per-provider matrix and surfaces of one (mode, scenario); returns the matrix key.

    Nothing is loaded when every output is fresh, so a rebuild with unchanged inputs
    only hashes them.
    """
    tag = f"{mode}-{scenario}"
    root, manifest = ctx.root, ctx.manifest
    gkey, mkey, skey = _layer_keys(ctx, mode, scenario, conflict_key)
    gfile, mdir = f"graphs/{tag}.npz", f"matrices/{tag}"
    if _layer_fresh(ctx, mode, scenario, conflict_key):
        ctx.report.add(f"graph, matrix, surfaces {tag}", "reused", 0.0)
        return mkey
    t = time.perf_counter()
    if manifest.fresh(f"graph:{tag}", gkey, root):
        graph = load_graph(root / gfile)
        ctx.report.add(f"graph {tag}", "reused", time.perf_counter() - t)
    else:
        graph = build_cost_graph(
            ctx.grid, roads, speeds, mode=mode, season=ctx.settings.season, cell_factor=factor
        )
        save_graph(graph, root / gfile)
        manifest.record(f"graph:{tag}", gkey, [gfile], time.perf_counter() - t)
        ctx.report.add(f"graph {tag}", "built", time.perf_counter() - t)
    attached, ids = attach_points(graph, ctx.px, ctx.py, keep_isolated=True)
    t = time.perf_counter()
    if manifest.fresh(f"matrix:{tag}", mkey, root):
        matrix = load_matrix(root / mdir)
        ctx.report.add(f"matrix {tag}", "reused", time.perf_counter() - t)
    else:

        def on_chunk(n: int) -> None:
            ctx.progress(f"matrix {tag}", n, len(ids))

        matrix = source_time_matrix(attached, ids, progress=on_chunk)
        save_matrix(matrix, root / mdir)
        manifest.record(
            f"matrix:{tag}",
            mkey,
            [f"{mdir}/minutes.npy", f"{mdir}/pred.npy", f"{mdir}/sources.npy"],
            time.perf_counter() - t,
        )
        ctx.report.add(f"matrix {tag}", "built", time.perf_counter() - t)
    if not manifest.fresh(f"surfaces:{tag}", skey, root):
        _write_surfaces(ctx, attached, matrix, mode, scenario, skey)
    return mkey


def _write_surfaces(ctx: _Context, graph, matrix, mode: str, scenario: str, skey: str) -> None:
    """Surfaces and allocation rasters per audience and service; baseline isochrones."""
    tag = f"{mode}-{scenario}"
    t = time.perf_counter()
    providers = ctx.providers
    outputs: list[str] = []
    for audience, allowed in (("public", ctx.public_mask), ("all", np.ones(len(providers), bool))):
        for service in SERVICE_KEYS:
            cols = np.flatnonzero(allowed & providers_offering(providers, service))
            minutes, nearest = surface_from_matrix(matrix, cols)
            cells = np.asarray(minutes[: graph.n_cells], dtype=np.float32)
            band = graph.grid.to_raster(np.where(np.isfinite(cells), cells, np.nan), fill=np.nan)
            alloc = graph.grid.to_raster(nearest[: graph.n_cells].astype(np.int32), fill=-1)
            base = f"surfaces/{audience}/{service}-{tag}"
            tags = {
                "units": "minutes",
                "service": service,
                "scenario": scenario,
                "mode": mode,
                "providers": len(cols),
                "audience": audience,
            }
            write_raster(
                ctx.root / f"{base}.tif",
                graph.grid,
                band.astype(np.float32),
                nodata=np.nan,
                tags=tags,
            )
            write_raster(
                ctx.root / f"{base}-allocation.tif",
                graph.grid,
                alloc.astype(np.int32),
                nodata=-1,
                tags={**tags, "values": "provider row of providers.parquet"},
            )
            outputs += [f"{base}.tif", f"{base}-allocation.tif"]
    if scenario == "baseline":  # isochrones of public providers (they reveal locations)
        frames = []
        for j in np.flatnonzero(ctx.public_mask):
            iso = isochrones(graph, matrix.minutes[:, j], ISOCHRONE_MIN)
            iso.insert(0, "provider_id", providers["id"].iloc[j])
            frames.append(iso)
        iso_path = f"isochrones/{tag}.parquet"
        all_iso = (
            gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
            if frames
            else gpd.GeoDataFrame(
                {"provider_id": [], "threshold_min": []}, geometry=[], crs="EPSG:4326"
            )
        )
        (ctx.root / "isochrones").mkdir(exist_ok=True)
        with atomic_path(ctx.root / iso_path) as tmp:
            all_iso.to_parquet(tmp)
        outputs.append(iso_path)
    ctx.manifest.record(f"surfaces:{tag}", skey, outputs, time.perf_counter() - t)
    ctx.report.add(f"surfaces {tag}", "built", time.perf_counter() - t)


def _loss_of_access(
    ctx: _Context, get_population, base_mkey: str, scen_mkey: str, mode: str, scenario: str
) -> None:
    """Population newly beyond 1, 2 and 5 hours per région and cercle; map layer.

    Surfaces come from the matrices ('all' providers: coverage counts every service).
    """
    tag = f"{mode}-{scenario}"
    out = ctx.root / "conflict"
    table_path = f"conflict/loss_{tag}.csv"
    tif_path = f"conflict/loss_one_stop_centre_{tag}.tif"
    lkey = step_key(
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
    everyone = np.arange(len(ctx.providers))
    base_m = load_matrix(ctx.root / "matrices" / f"{mode}-baseline")
    scen_m = load_matrix(ctx.root / "matrices" / tag)
    surfaces = {}
    for service in SERVICE_KEYS:
        cols = everyone[providers_offering(ctx.providers, service)]
        surfaces[service] = tuple(
            np.asarray(surface_from_matrix(m, cols)[0][:n_cells], dtype=np.float64)
            for m in (base_m, scen_m)
        )
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
            "population_source": str(ctx.inputs["population"]["path"]),
        },
    )
    ctx.manifest.record(
        f"loss:{tag}",
        lkey,
        [table_path, tif_path] if frames else [tif_path],
        time.perf_counter() - t,
    )
    ctx.report.add(f"loss of access {tag}", "built", time.perf_counter() - t)
