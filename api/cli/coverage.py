"""`orienter coverage` and `orienter site`: population within reach, and where to add centres.

Both read the built layers (``ORIENTER_BUILD_DIR``) and the population raster the build
recorded (``manifest.json`` ``inputs.population``); every output names that source.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import numpy as np
import pandas as pd
import typer
from rich.table import Table

from api.build.layers import NotBuiltError
from api.build.pipeline import SERVICE_KEYS
from api.cli._console import check_writable, console, err_console, fail
from api.datasets import find_dataset
from api.services.analysis import (
    NOTE,
    Analysis,
    AnalysisInputs,
    CoverageResult,
    demand_meta,
    public_mask,
    read_surface,
    to_records,
)
from api.settings import Settings, get_settings
from geo.boundaries import read_boundaries
from geo.costgraph import CostGraph
from geo.coverage import (
    DEFAULT_THRESHOLDS_MIN,
    assign_cells,
    coverage_layer,
    service_deserts,
    to_hxl,
    underserved,
)
from geo.crs import METRIC_CRS
from geo.demand import DEMAND_MODELS
from geo.errors import DataFileError, DataValidationError
from geo.facilities import read_who_facilities
from geo.grid import Grid
from geo.labels import labels_surface, nearest_labels
from geo.layers import Layer, load_sets
from geo.nearest import providers_offering
from geo.settlements import read_settlements
from geo.siting import candidate_reach, site_centres, what_if_add
from geo.store import load_graph

LEVELS = ("adm1", "adm2", "adm3")
FORMATS = ("table", "csv", "hxl", "json", "geojson")
#: Facility types of the WHO/KEMRI list offered as candidate sites by default.
SITING_FACILITY_TYPES = ("csref", "hospital", "regional_hospital", "university_hospital")


def _public(providers: pd.DataFrame) -> np.ndarray:
    """True for providers that may be named in public outputs (all, without the column)."""
    return public_mask(providers)


def load_inputs(settings: Settings) -> AnalysisInputs:
    """Manifest, grid, population on the grid and providers of the build directory.

    :func:`api.services.analysis.load_inputs` with the CLI's error exits and warnings on stderr.
    """
    return _inputs(_analysis(settings))


def _analysis(settings: Settings) -> Analysis:
    try:
        return Analysis.load(settings)
    except NotBuiltError as exc:
        raise fail(str(exc)) from exc


def _inputs(analysis: Analysis) -> AnalysisInputs:
    """``analysis.inputs``, printing data caveats on stderr and failing cleanly."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            inputs = analysis.inputs
    except (NotBuiltError, DataFileError) as exc:
        raise fail(str(exc)) from exc
    for w in caught:
        err_console.print(f"[yellow]Warning:[/] {w.message}")
    return inputs


def _read_surface(root: Path, grid: Grid, name: str) -> np.ndarray:
    try:
        return read_surface(root, grid, name)
    except DataFileError as exc:
        raise fail(str(exc)) from exc


def _facility_surface(
    settings: Settings, mode: str, scenario: str
) -> tuple[np.ndarray, np.ndarray, gpd.GeoDataFrame, np.ndarray]:
    """Minutes and allocation per cell to the nearest WHO/KEMRI facility (one Dijkstra)."""
    path = find_dataset(settings, "facilities_who")
    if path is None:
        raise fail(f"no WHO/KEMRI facility list under {settings.data_dir / 'facilities'}")
    graph = _graph(settings, mode, scenario)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fac = read_who_facilities(path)
    fac = fac.rename(columns={"facility_id": "id"})
    metric = fac.to_crs(METRIC_CRS)
    x, y = metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy()
    inside = graph.grid.locate(x, y) >= 0
    fac = fac[inside].reset_index(drop=True)
    labels = nearest_labels(graph, x[inside], y[inside], k=1)
    minutes, nearest = labels_surface(labels)
    err_console.print(
        f"{len(fac)} WHO/KEMRI facilities from {path} ({int((~inside).sum())} outside the grid)"
    )
    cells = graph.n_cells
    return minutes[:cells], nearest[:cells].astype(float), fac, np.ones(len(fac), dtype=bool)


def _graph(settings: Settings, mode: str, scenario: str) -> CostGraph:
    """The built graph of (mode, scenario), or a usage error naming the build to run."""
    path = settings.build_dir / "graphs" / f"{mode}-{scenario}"
    if not (path / "meta.json").is_file():
        raise fail(f"{path} is not built; run `orienter build --mode {mode}`")
    return load_graph(path)


def _check_choice(value: str, allowed: tuple[str, ...] | list[str], option: str) -> None:
    if value not in allowed:
        raise fail(f"{option} {value!r}: use one of {', '.join(allowed)}")


def coverage(
    level: Annotated[str, typer.Option("--level", help="adm1, adm2 or adm3.")] = "adm1",
    service: Annotated[
        str, typer.Option("--service", help="one_stop_centre or a service key.")
    ] = "one_stop_centre",
    mode: Annotated[str, typer.Option("--mode", help="walk, motorbike or car.")] = "car",
    scenario: Annotated[str, typer.Option("--scenario", help="baseline, slowed, avoid.")] = (
        "baseline"
    ),
    fmt: Annotated[
        str, typer.Option("--format", help="table, csv, hxl (CSV + hashtag row), json, geojson.")
    ] = "table",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", "--out", help="Write to this file (.gpkg for a GeoPackage)."
        ),
    ] = None,
    providers_from: Annotated[
        str,
        typer.Option(
            "--providers",
            help="'directory' (the built provider surfaces) or 'who-kemri' (every facility "
            "of the WHO/KEMRI health-facility list, one multi-source run on the built graph; "
            "--service is then ignored).",
        ),
    ] = "directory",
    show_underserved: Annotated[
        bool,
        typer.Option(
            "--underserved",
            help="Rank the units by the people beyond --threshold-min (and their share), "
            "with the conflict max_class beside them.",
        ),
    ] = False,
    deserts: Annotated[
        bool,
        typer.Option(
            "--deserts",
            help="Service deserts: contiguous areas beyond --threshold-min as polygons with "
            "their people, most people first (GeoJSON to stdout, or --out .geojson/.gpkg).",
        ),
    ] = False,
    threshold_min: Annotated[
        float,
        typer.Option(
            "--threshold-min", min=1, max=1440, help="Threshold for --underserved/--deserts."
        ),
    ] = 120,
    min_population: Annotated[
        float, typer.Option("--min-population", min=0, help="--deserts: drop smaller ones.")
    ] = 0,
    demand: Annotated[
        str | None,
        typer.Option(
            "--demand",
            help="Population model: 'grid' (raster spread over the 1 km grid) or "
            "'settlements' (each raster cell's people shared among its settlements); "
            "default ORIENTER_DEMAND, else grid.  ORIENTER_POPULATION_TABLE calibrates "
            "either to a census table.",
        ),
    ] = None,
) -> None:
    """Population within 30 min, 1 h, 2 h and 5 h of a service, per admin unit.

    Public providers only: no figure depends on a confidential record.  Times are from
    the built surfaces; people from the build's population raster spread over the
    travel-time grid.
    """
    _check_choice(level, LEVELS, "--level")
    _check_choice(fmt, FORMATS, "--format")
    _check_choice(service, SERVICE_KEYS, "--service")
    settings = get_settings()
    if demand is not None:
        _check_choice(demand, DEMAND_MODELS, "--demand")
        settings = settings.model_copy(update={"demand": demand})
    analysis = _analysis(settings)
    _check_choice(mode, analysis.choices["mode"], "--mode")
    _check_choice(scenario, analysis.choices["scenario"], "--scenario")
    _check_choice(providers_from, ("directory", "who-kemri"), "--providers")
    if deserts and show_underserved:
        raise fail("--deserts and --underserved: choose one")
    if deserts and output is not None and output.suffix.lower() not in (".geojson", ".gpkg"):
        raise fail(f"--out {output}: service deserts are written as .geojson or .gpkg")
    if output is not None:
        check_writable(output)
    inputs = _inputs(analysis)
    if deserts:
        if providers_from == "who-kemri":
            minutes = _facility_surface(settings, mode, scenario)[0]
            service = "health_facility (WHO/KEMRI)"
        else:
            minutes = _read_surface(settings.build_dir, inputs.grid, f"{service}-{mode}-{scenario}")
        _emit_deserts(
            inputs, minutes, service, mode, scenario, threshold_min, min_population, output
        )
        return
    try:
        if providers_from == "who-kemri":
            result = _facility_coverage(
                analysis, level, mode, scenario, threshold_min if show_underserved else None
            )
        elif show_underserved:
            result = analysis.underserved(
                level=level,
                service=service,
                mode=mode,
                scenario=scenario,
                threshold_min=threshold_min,
            )
        else:
            result = analysis.coverage(level=level, service=service, mode=mode, scenario=scenario)
    except (DataFileError, DataValidationError, ValueError, TypeError) as exc:
        raise fail(str(exc)) from exc
    meta = {k: v for k, v in result.meta.items() if k in CLI_META}
    table = result.table.drop(columns=["nearest_provider_name"], errors="ignore")
    _emit(table, result.units, meta, fmt, output, level)


#: Meta keys the CLI prints (``Analysis`` meta holds a few more for the API).
CLI_META = (
    "level",
    "service",
    "mode",
    "scenario",
    "population_source",
    "population_total",
    "demand",
    "population_table",
    "calibrated",
    "providers",
    "built_at",
    "note",
    "threshold_min",
    "conflict_source",
)


def _facility_coverage(
    analysis: Analysis, level: str, mode: str, scenario: str, threshold_min: float | None
) -> CoverageResult:
    """Coverage by every WHO/KEMRI facility (one multi-source run on the built graph)."""
    minutes, alloc, fac, offering = _facility_surface(analysis.settings, mode, scenario)
    thresholds = sorted({*DEFAULT_THRESHOLDS_MIN, *([threshold_min] if threshold_min else [])})
    table = analysis.table_from_surface(
        level, minutes, alloc, fac, offering, thresholds_min=thresholds, named=offering
    )
    summary_path = analysis.settings.build_dir / "conflict" / f"summary_{level}.csv"
    conflict = pd.read_csv(summary_path) if summary_path.is_file() else None
    if threshold_min is not None:
        table = underserved(table, threshold_min=threshold_min, conflict=conflict)
    elif conflict is not None:
        ranked = underserved(table, threshold_min=120, conflict=conflict)
        table["max_class"] = table["pcode"].map(ranked.set_index("pcode")["max_class"])
    inputs = analysis.inputs
    meta = {
        "level": level,
        "service": "health_facility (WHO/KEMRI)",
        "mode": mode,
        "scenario": scenario,
        "population_source": inputs.population_source,
        "population_total": round(float(inputs.population.sum())),
        **demand_meta(inputs),
        "providers": int(offering.sum()),
        "built_at": inputs.manifest.get("built_at"),
        "note": NOTE,
    }
    if threshold_min is not None:
        meta["threshold_min"] = threshold_min
        meta["conflict_source"] = str(summary_path) if conflict is not None else None
        meta["note"] = (
            "units ranked by the people beyond the threshold (rank_people) and by their "
            "share (rank_share); max_class: highest conflict class of the unit"
        )
    return CoverageResult(table, analysis.units(level), meta, level)


def _write_atomic(output: Path, write) -> None:
    """Call ``write(tmp_path)`` then move the file into place; nothing half-written."""
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=output.suffix, dir=output.parent)
    os.close(fd)
    os.unlink(tmp)  # GDAL drivers want to create the file themselves
    try:
        write(Path(tmp))
        os.replace(tmp, output)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise fail(f"--out {output}: cannot be written ({exc})") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _emit_deserts(
    inputs: AnalysisInputs,
    minutes: np.ndarray,
    service: str,
    mode: str,
    scenario: str,
    threshold_min: float,
    min_population: float,
    output: Path | None,
) -> None:
    try:
        layer = service_deserts(
            minutes,
            inputs.population,
            inputs.grid,
            threshold_min=threshold_min,
            min_population=min_population,
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    layer = layer.replace([np.inf, -np.inf], np.nan)
    layer["population"] = layer["population"].round(0)
    layer["population_source"] = inputs.population_source
    meta = {
        "service": service,
        "mode": mode,
        "scenario": scenario,
        "threshold_min": threshold_min,
        "min_population": min_population,
        "deserts": len(layer),
        "population_in_deserts": round(float(layer["population"].sum())),
        "population_total": round(float(inputs.population.sum())),
        "population_source": inputs.population_source,
        **demand_meta(inputs),
        "note": "max_time_min null: part of the desert cannot reach any provider",
    }
    if output is not None and output.suffix.lower() == ".gpkg":
        _write_atomic(output, lambda tmp: layer.to_file(tmp, driver="GPKG", layer="deserts"))
    else:
        data = json.loads(layer.to_json(drop_id=True, ensure_ascii=False))
        data["meta"] = meta
        text = json.dumps(data, ensure_ascii=False)
        if output is None:
            sys.stdout.write(text + "\n")
            return
        _write_atomic(output, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    err_console.print(
        f"wrote {output}: {len(layer)} deserts beyond {threshold_min:g} min, "
        f"{meta['population_in_deserts']:,} people (population: {inputs.population_source})"
    )


_records = to_records


def _population_text(meta: dict) -> str:
    """The raster, the demand model and the census table a table rests on, in words."""
    text = f"{meta['population_source']} ({meta.get('demand', 'grid')} demand"
    if meta.get("population_table"):
        text += f", calibrated to {meta['population_table']}"
    return text + ")"


def _emit(
    table: pd.DataFrame,
    units: gpd.GeoDataFrame,
    meta: dict,
    fmt: str,
    output: Path | None,
    level: str,
) -> None:
    table = table.round(
        {c: 4 for c in table.columns if c.startswith("share_")}
        | {c: 0 for c in table.columns if c.startswith("pop") or c.endswith("_min")}
    )
    with_source = table.assign(
        population_source=meta["population_source"],
        demand=meta.get("demand", "grid"),
        population_table=meta.get("population_table"),
    )
    if output is not None and output.suffix.lower() == ".gpkg":
        layer = coverage_layer(with_source, units)
        _write_atomic(output, lambda tmp: layer.to_file(tmp, driver="GPKG", layer="coverage"))
        err_console.print(f"wrote {output} (population: {_population_text(meta)})")
        return
    if fmt == "table" and "rank_people" in table:
        _print_underserved(table, meta)
        return
    if fmt == "table":
        headers = ["P-code", "name", "people", "<= 1 h", "<= 2 h", "<= 5 h", "2 h %", "median min"]
        out = Table(*headers, *(["conflict"] if "max_class" in table else []))
        for r in table.to_dict("records"):
            med = r["median_time_min"]
            cells = [
                r["pcode"],
                r["name"],
                f"{r['population']:,.0f}",
                f"{r['pop_within_60']:,.0f}",
                f"{r['pop_within_120']:,.0f}",
                f"{r['pop_within_300']:,.0f}",
                "" if pd.isna(r["share_within_120"]) else f"{100 * r['share_within_120']:.1f}",
                "unreachable" if med == np.inf else ("" if pd.isna(med) else f"{med:.0f}"),
            ]
            if "max_class" in table:
                cells.append(str(r["max_class"] or ""))
            out.add_row(*cells)
        console.print(out)
        total = table["population"].sum()
        console.print(
            f"{meta['service']} by {meta['mode']} ({meta['scenario']}), {meta['providers']} "
            f"providers: {table['pop_within_60'].sum() / total:.1%} of {total:,.0f} people "
            f"within 1 h, {table['pop_within_120'].sum() / total:.1%} within 2 h.  "
            f"Population: {_population_text(meta)}.",
            highlight=False,
        )
        return
    if fmt in ("csv", "hxl"):
        frame = to_hxl(with_source, level=int(level[-1])) if fmt == "hxl" else with_source
        text = frame.to_csv(index=False)
    elif fmt == "json":
        text = json.dumps(
            {"meta": meta, "units": _records(table)}, ensure_ascii=False, indent=2, default=str
        )
    else:
        layer = coverage_layer(with_source, units)
        data = json.loads(layer.to_json(drop_id=True, ensure_ascii=False))
        data["meta"] = meta
        text = json.dumps(data, ensure_ascii=False)
    if output is not None:
        _write_atomic(output, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        err_console.print(f"wrote {output} (population: {meta['population_source']})")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _print_underserved(table: pd.DataFrame, meta: dict) -> None:
    t = f"{meta['threshold_min']:g}"
    beyond = next(c for c in table.columns if c.startswith("pop_beyond_"))
    share = next(c for c in table.columns if c.startswith("share_beyond_"))
    out = Table("rank", "P-code", "name", "people", f"> {t} min", "share", "share rank", "conflict")
    for r in table.to_dict("records"):
        out.add_row(
            str(r["rank_people"]),
            r["pcode"],
            r["name"],
            f"{r['population']:,.0f}",
            f"{r[beyond]:,.0f}",
            "" if pd.isna(r[share]) else f"{100 * r[share]:.1f} %",
            str(r["rank_share"]),
            str(r["max_class"] or ""),
        )
    console.print(out)
    total = table["population"].sum()
    console.print(
        f"{meta['service']} by {meta['mode']} ({meta['scenario']}): {table[beyond].sum():,.0f} "
        f"of {total:,.0f} people beyond {t} min.  Population: {_population_text(meta)}.",
        highlight=False,
    )


def _candidates(settings: Settings, spec: str) -> gpd.GeoDataFrame:
    """Candidate sites as points (EPSG:4326) with ``name`` and ``kind``."""
    if spec == "facilities":
        path = find_dataset(settings, "facilities_who")
        if path is None:
            raise fail(f"no WHO/KEMRI facility list under {settings.data_dir / 'facilities'}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fac = read_who_facilities(path)
        keep = fac["facility_type"].isin(SITING_FACILITY_TYPES)
        out = fac.loc[keep, ["name", "facility_type", "geometry"]]
        return out.rename(columns={"facility_type": "kind"}).reset_index(drop=True)
    if spec == "settlements":
        path = find_dataset(settings, "settlements")
        if path is None:
            raise fail(f"no settlements under {settings.data_dir / 'settlements'}")
        places = read_settlements(path)
        out = places[["name", "place_class", "geometry"]].rename(columns={"place_class": "kind"})
        return out.assign(kind="settlement class " + out["kind"].astype(str)).reset_index(drop=True)
    path = Path(spec)
    if not path.is_file():
        raise fail(f"--candidates {spec!r}: use facilities, settlements or an existing file")
    try:
        if path.suffix.lower() == ".csv":
            df = pd.read_csv(path)
            cols = {c.lower(): c for c in df.columns}
            lon = cols.get("lon") or cols.get("longitude") or cols.get("long")
            lat = cols.get("lat") or cols.get("latitude")
            if lon is None or lat is None:
                raise fail(f"{path}: needs lon and lat columns, has {list(df.columns)}")
            layer = gpd.GeoDataFrame(
                df, geometry=gpd.points_from_xy(df[lon], df[lat]), crs="EPSG:4326"
            )
        else:
            layer = gpd.read_file(path).to_crs("EPSG:4326")
    except (OSError, ValueError) as exc:
        raise fail(f"{path}: cannot be read ({exc})") from exc
    if not (layer.geom_type == "Point").all():
        raise fail(f"{path}: every candidate must be a point")
    name = (
        layer["name"].astype(str)
        if "name" in layer
        else pd.Series([f"site {i + 1}" for i in range(len(layer))], index=layer.index)
    )
    return gpd.GeoDataFrame(
        {"name": name.to_numpy(), "kind": "user file"}, geometry=layer.geometry.values, crs=4326
    )


def site(
    service: Annotated[str, typer.Option("--service", help="Service to add centres for.")] = (
        "one_stop_centre"
    ),
    n: Annotated[int, typer.Option("--n", min=1, max=100, help="Number of new centres.")] = 5,
    threshold_min: Annotated[
        float, typer.Option("--threshold-min", min=1, max=1440, help="Coverage threshold, min.")
    ] = 120,
    mode: Annotated[str, typer.Option("--mode", help="Travel mode.")] = "car",
    candidates: Annotated[
        str,
        typer.Option(
            "--candidates",
            help="'facilities' (CSRéf and hospitals of the WHO/KEMRI list), 'settlements' "
            "or a GeoJSON/GeoPackage/CSV (lon, lat) file of points.",
        ),
    ] = "facilities",
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    add: Annotated[
        str | None,
        typer.Option(
            "--add",
            help="What-if: one new provider at LON,LAT; prints the people within the "
            "threshold nationally and per région before and after (no rebuild, no greedy).",
        ),
    ] = None,
    remove: Annotated[
        str | None,
        typer.Option("--remove", help="What-if: without this provider id (see --add)."),
    ] = None,
) -> None:
    """Choose N new centres that bring the most people within the threshold (greedy MCLP).

    Existing providers of the service stay.  Each candidate is scored with one Dijkstra
    bounded at the threshold on the baseline graph; each step adds the candidate whose
    covered, not yet covered people are most, and reports that gain.
    """
    _check_choice(service, SERVICE_KEYS, "--service")
    if add is not None and remove is not None:
        raise fail("--add and --remove: give one")
    point = _parse_lonlat(add) if add is not None else None
    settings = get_settings()
    started = time.perf_counter()
    inputs = load_inputs(settings)
    _check_choice(mode, inputs.manifest.get("modes", []), "--mode")
    if add is not None or remove is not None:
        _what_if(settings, inputs, service, mode, threshold_min, point, remove, as_json, started)
        return
    graph = _graph(settings, mode, "baseline")
    cands = _candidates(settings, candidates)
    if cands.empty:
        raise fail(f"--candidates {candidates!r} gave no candidate site")
    providers = inputs.providers
    offering = providers_offering(providers, service)
    metric = providers[offering].to_crs(METRIC_CRS)
    cm = cands.to_crs(METRIC_CRS)
    t_solve = time.perf_counter()
    try:
        sites, reach, base = site_centres(
            graph,
            metric.geometry.x.to_numpy(),
            metric.geometry.y.to_numpy(),
            cm.geometry.x.to_numpy(),
            cm.geometry.y.to_numpy(),
            inputs.population,
            n=n,
            threshold_min=threshold_min,
        )
    except (ValueError, TypeError) as exc:
        raise fail(str(exc)) from exc
    solve_s = time.perf_counter() - t_solve
    total = float(inputs.population.sum())
    before = float(inputs.population[base <= threshold_min].sum())
    chosen = cands.iloc[sites["candidate"].to_numpy()].reset_index(drop=True)
    rows = [
        {
            "step": int(s.step),
            "name": str(c["name"]),
            "kind": str(c["kind"]),
            "lon": round(float(c.geometry.x), 5),
            "lat": round(float(c.geometry.y), 5),
            "gain_population": round(float(s.gain_population)),
            "covered_population": round(float(s.covered_population)),
            "covered_share": round(float(s.covered_population) / total, 4),
        }
        for s, (_, c) in zip(sites.itertuples(), chosen.iterrows(), strict=True)
    ]
    meta = {
        "service": service,
        "mode": mode,
        "threshold_min": threshold_min,
        "existing_providers": int(offering.sum()),
        "candidates": candidates,
        "n_candidates": len(cands),
        "candidates_outside_grid": int((~reach.entered).sum()),
        "population_source": inputs.population_source,
        **demand_meta(inputs),
        "population_total": round(total),
        "covered_before": round(before),
        "covered_before_share": round(before / total, 4),
        "seconds_scoring_and_greedy": round(solve_s, 1),
        "seconds_total": round(time.perf_counter() - started, 1),
    }
    if as_json:
        typer.echo(json.dumps({"meta": meta, "sites": rows}, ensure_ascii=False, indent=2))
        return
    out = Table("#", "site", "kind", "lon", "lat", "people gained", "covered", "share")
    for r in rows:
        out.add_row(
            str(r["step"]),
            r["name"],
            r["kind"],
            f"{r['lon']:.3f}",
            f"{r['lat']:.3f}",
            f"{r['gain_population']:,}",
            f"{r['covered_population']:,}",
            f"{100 * r['covered_share']:.1f} %",
        )
    console.print(out)
    console.print(
        f"{service} by {mode}, within {threshold_min:g} min: {meta['covered_before']:,} people "
        f"({100 * meta['covered_before_share']:.1f} %) with the {meta['existing_providers']} "
        f"existing providers; {len(cands)} candidates scored in {solve_s:.1f} s.  "
        f"Population: {_population_text(meta)}.",
        highlight=False,
    )


def _parse_lonlat(text: str) -> tuple[float, float]:
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError:
        raise fail(f"--add {text!r}: give LON,LAT in degrees, e.g. --add -5.67,13.45") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise fail(f"--add {text!r}: LON,LAT out of range (longitude first)")
    return lon, lat


def _what_if(
    settings: Settings,
    inputs: AnalysisInputs,
    service: str,
    mode: str,
    threshold_min: float,
    point: tuple[float, float] | None,
    remove: str | None,
    as_json: bool,
    started: float,
) -> None:
    """People within ``threshold_min`` before and after adding or removing one provider."""
    root = settings.build_dir
    providers = inputs.providers
    offering = providers_offering(providers, service)
    n_cells = inputs.grid.n_cells
    if remove is not None:
        ids = providers["id"].astype(str).to_numpy()
        hit = np.flatnonzero(ids == remove)
        if len(hit) == 0:
            raise fail(f"--remove {remove!r}: no provider with this id in {root}")
        j = int(hit[0])
        if not _public(providers)[j]:
            raise fail(
                f"--remove {remove!r}: a confidential provider cannot be used in a "
                "what-if, whose result would show where it is"
            )
        if not offering[j]:
            raise fail(f"--remove {remove!r}: this provider does not offer {service}")
        layer = Layer(
            _graph(settings, mode, "baseline"), load_sets(root / "labels" / f"{mode}-baseline")
        )
        before = np.asarray(layer.surface(service)[0][:n_cells], dtype=np.float64)
        after = np.asarray(layer.surface_without(service, j)[:n_cells], dtype=np.float64)
        change = {"remove": remove, "name": str(providers.loc[j].get("name", ""))}
    else:
        lon, lat = point
        where = gpd.GeoSeries(gpd.points_from_xy([lon], [lat]), crs="EPSG:4326").to_crs(METRIC_CRS)
        if not inputs.country.contains(where.iloc[0]):
            raise fail(f"--add {lon},{lat}: the point is outside Mali")
        before = _read_surface(root, inputs.grid, f"{service}-{mode}-baseline")
        before = np.where(np.isnan(before), np.inf, before).astype(np.float64)
        reach = candidate_reach(
            _graph(settings, mode, "baseline"),
            where.x.to_numpy(),
            where.y.to_numpy(),
            threshold_min=threshold_min,
        )
        if not reach.entered[0]:
            raise fail(f"--add {lon},{lat}: the point cannot join the travel-time graph")
        after = what_if_add(before, reach.times(0))
        change = {"add": [lon, lat]}
    pop = inputs.population
    rows = []
    units_path = find_dataset(settings, "adm1")
    if units_path is not None:
        units = read_boundaries(units_path, level=1)
        pieces = assign_cells(inputs.grid, units, pop)
        n = len(units)
        people = np.bincount(pieces.unit, weights=pieces.population, minlength=n)
        b = np.bincount(
            pieces.unit,
            weights=pieces.population * (before[pieces.cell] <= threshold_min),
            minlength=n,
        )
        a = np.bincount(
            pieces.unit,
            weights=pieces.population * (after[pieces.cell] <= threshold_min),
            minlength=n,
        )
        for k in range(n):
            rows.append(
                {
                    "pcode": str(units["pcode"].iloc[k]),
                    "name": str(units["name"].iloc[k]),
                    "population": round(float(people[k])),
                    "within_before": round(float(b[k])),
                    "within_after": round(float(a[k])),
                    "change": round(float(a[k] - b[k])),
                }
            )
        rows.sort(key=lambda r: (-abs(r["change"]), r["name"]))
    total = float(pop.sum())
    nat_b = float(pop[before <= threshold_min].sum())
    nat_a = float(pop[after <= threshold_min].sum())
    meta = {
        "service": service,
        "mode": mode,
        "scenario": "baseline",
        "threshold_min": threshold_min,
        **change,
        "existing_providers": int(offering.sum()),
        "population_source": inputs.population_source,
        **demand_meta(inputs),
        "population_total": round(total),
        "within_before": round(nat_b),
        "within_after": round(nat_a),
        "change": round(nat_a - nat_b),
        "share_before": round(nat_b / total, 4),
        "share_after": round(nat_a / total, 4),
        "seconds_total": round(time.perf_counter() - started, 1),
    }
    if as_json:
        typer.echo(json.dumps({"meta": meta, "regions": rows}, ensure_ascii=False, indent=2))
        return
    out = Table("P-code", "région", "people", "before", "after", "change")
    for r in rows:
        out.add_row(
            r["pcode"],
            r["name"],
            f"{r['population']:,}",
            f"{r['within_before']:,}",
            f"{r['within_after']:,}",
            f"{r['change']:+,}",
        )
    out.add_row(
        "",
        "Mali",
        f"{round(total):,}",
        f"{meta['within_before']:,}",
        f"{meta['within_after']:,}",
        f"{meta['change']:+,}",
    )
    console.print(out)
    what = f"adding a provider at {point[0]},{point[1]}" if point else f"removing {remove}"
    console.print(
        f"{service} by {mode}, within {threshold_min:g} min, {what}: "
        f"{100 * meta['share_before']:.1f} % -> {100 * meta['share_after']:.1f} % of "
        f"{round(total):,} people ({meta['seconds_total']:.1f} s).  "
        f"Population: {_population_text(meta)}.",
        highlight=False,
    )
