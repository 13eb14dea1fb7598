"""`orienter build`: every travel-time and conflict layer, cached under the build directory.

Each step has a key: the SHA-256 of what it depends on (input file hashes and
parameters).  ``build/manifest.json`` records the key and outputs of every step
(:mod:`api.build.manifest`); a step whose key is unchanged and whose outputs exist is
skipped.  So a rebuild with unchanged inputs takes seconds, and a changed provider file
rebuilds the labels, surfaces and isochrones but not the graphs.

Steps: inputs and parameters into the manifest, the grid and roads
(:mod:`api.build.roads`), the conflict zones (:mod:`api.build.conflict`), then per mode
and scenario the graph (``graphs/<tag>/``, no provider in it), the label sets
(``labels/<tag>/<audience>/<service>/``: the k nearest providers of every place, see
:mod:`geo.layers`) and the surfaces (:func:`_graph_labels_surfaces`, the calls into the
travel-time engine), and the loss of access under each conflict scenario.

Confidentiality: nothing public may depend on a confidential record.  Public label sets,
``surfaces/public/``, the isochrones, the loss-of-access tables and ``providers.parquet``
are computed from public providers only, so they are byte for byte the same whether or
not the directory holds confidential records.  The confidential sets, ``surfaces/all/``
(every provider, for caseworkers) and ``providers_confidential.parquet`` serve answers
given to a caseworker token only.  Only providers whose status enters results
(``ORIENTER_STATUSES``, default operating and reported) are built.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
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
    sha256_file,
    step_key,
)
from api.build.roads import load_roads
from api.choices import SCENARIOS, SERVICE_KEYS
from api.datasets import find_dataset
from api.settings import Settings
from geo.boundaries import read_boundaries
from geo.costgraph import CostGraph, build_cost_graph, densify_roads
from geo.crs import METRIC_CRS
from geo.demand import population_on_grid
from geo.errors import DataFileError
from geo.grid import Grid, make_grid
from geo.layers import Layer, ProviderTables, compute_sets, load_sets, save_sets
from geo.population import read_population_raster
from geo.route_summary import EVERY, SUMMARY_VERSION, save_summaries, summarize, zone_fingerprint
from geo.routes import node_classes
from geo.speeds import SpeedTable
from geo.store import atomic_path, load_graph, save_graph, write_raster
from geo.traveltime import isochrones
from geo.zones import ConflictSurface, scenario_cell_factor, zone_at

__all__ = ["BuildReport", "Progress", "build_all"]

#: Bump when the label files change meaning (forces a rebuild of the labels).
LABELS_VERSION = 1
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
    tables: ProviderTables
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
    """Split the located providers by audience, write them (``providers.parquet``: public
    rows, ``providers_confidential.parquet``) and check every one is on the grid."""
    root = settings.build_dir
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
    return _Context(
        settings=settings,
        root=root,
        manifest=manifest,
        report=report,
        progress=progress,
        grid=grid,
        tables=tables,
        # the whole file's hash keys the labels' cache; it is never written where a public
        # output could show it (it changes with a confidential record)
        inputs={**inputs, "_providers_file_sha256": sha256_file(settings.providers)},
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
    """Graph, labels and surfaces of every (mode, scenario); loss of access per scenario."""
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
                None if zones is None else zones.zone,
            )
            if scenario != "baseline" and population.path is not None and zones is not None:
                _loss_of_access(ctx, population, keys["baseline"], keys[scenario], mode, scenario)
            done += 1
            ctx.progress("modes x scenarios", done, total)


def _layer_keys(
    ctx: _Context, mode: str, scenario: str, conflict_key: str | None
) -> tuple[str, str, str]:
    """The cache keys of one (mode, scenario)'s graph, labels and surfaces."""
    inputs = ctx.inputs
    gkey = step_key(
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
    lkey = step_key(
        "labels",
        gkey,
        inputs["_providers_file_sha256"],
        inputs["providers"]["statuses"],
        ctx.settings.nearest_k,
        LABELS_VERSION,
    )
    skey = step_key("surfaces", lkey, SERVICE_KEYS, ISOCHRONE_MIN, 3)
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
    ctx: _Context,
    roads,
    speeds,
    mode: str,
    scenario: str,
    factor,
    conflict_key: str | None,
    zone: np.ndarray | None,
) -> str:
    """Graph, label sets, route summaries and surfaces of one (mode, scenario); returns
    the labels' key.

    Nothing is loaded when every output is fresh, so a rebuild with unchanged inputs
    only hashes them.
    """
    tag = f"{mode}-{scenario}"
    root, manifest = ctx.root, ctx.manifest
    gkey, lkey, skey = _layer_keys(ctx, mode, scenario, conflict_key)
    gdir, ldir = f"graphs/{tag}", f"labels/{tag}"
    if _layer_fresh(ctx, mode, scenario, conflict_key):
        ctx.report.add(f"graph, labels, surfaces {tag}", "reused", 0.0)
        _route_summaries(ctx, tag, lkey, zone)
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
    _route_summaries(ctx, tag, lkey, zone, graph, sets)
    if not manifest.fresh(f"surfaces:{tag}", skey, root):
        _write_surfaces(ctx, Layer(graph, sets), mode, scenario, skey)
    return lkey


def _route_summaries(
    ctx: _Context,
    tag: str,
    lkey: str,
    zone: np.ndarray | None,
    graph: CostGraph | None = None,
    sets: dict | None = None,
) -> None:
    """The route summaries of every label set of ``tag`` (:mod:`geo.route_summary`),
    made with these labels and these conflict zones, unless already there."""
    fingerprint = zone_fingerprint(zone)
    key = step_key("summaries", lkey, fingerprint, SUMMARY_VERSION, EVERY)
    out = f"summaries/{tag}"
    if ctx.manifest.fresh(f"summaries:{tag}", key, ctx.root):
        return
    t = time.perf_counter()
    graph = graph if graph is not None else load_graph(ctx.root / "graphs" / tag)
    sets = sets if sets is not None else load_sets(ctx.root / "labels" / tag)
    classes = None if zone is None else node_classes(graph, zone)
    made = {}
    for i, (name, labels) in enumerate(sets.items()):
        made[name] = summarize(graph, labels, classes)
        ctx.progress(f"route summaries {tag}", i + 1, len(sets))
    save_summaries(made, ctx.root / out, {"zone": fingerprint, "labels": lkey})
    ctx.manifest.record(f"summaries:{tag}", key, [f"{out}/meta.json"], time.perf_counter() - t)
    ctx.report.add(f"route summaries {tag}", "built", time.perf_counter() - t)


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
            cols: dict[str, np.ndarray] = {}
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
