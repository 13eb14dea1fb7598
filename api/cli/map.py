"""`orienter map`: one standalone interactive map (HTML, every asset inlined) to e-mail.

Layers: public providers, the coverage choropleth of ``--level`` (figures from
:mod:`api.services.analysis`, the same as ``orienter coverage``), the travel-time surface of public
providers, isochrones, conflict zones and service deserts.  The file opens offline.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import typer

from api.build.layers import NotBuiltError
from api.cli._console import check_writable, err_console, fail
from api.services.analysis import Analysis, ChoiceError, read_surface
from api.settings import get_settings
from geo.coverage import coverage_layer, service_deserts
from geo.errors import DataFileError, DataValidationError
from geo.store import atomic_path
from web.i18n import LANGS, translate
from web.maps import build_map, map_html, uncertainty_from_units

LEVELS = ("adm1", "adm2", "adm3")


def _check_out(out: Path) -> None:
    """Fail before any computation when ``--out`` cannot be written."""
    if out.suffix.lower() not in (".html", ".htm"):
        raise fail(f"--out {out}: the map is an HTML file; give a name ending in .html")
    check_writable(out)


def _choice_error(exc: ChoiceError, build_dir: Path) -> typer.Exit:
    allowed = ", ".join(exc.allowed) or "none"
    if exc.parameter in ("mode", "scenario"):
        return fail(
            f"--{exc.parameter} {exc.value!r} is not built in {build_dir} (built: {allowed}); "
            f"run `orienter build --{exc.parameter} {exc.value}`"
        )
    return fail(f"--{exc.parameter} {exc.value!r}: use one of {allowed}")


def map_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")],
    service: Annotated[
        str, typer.Option("--service", help="one_stop_centre or a service key.")
    ] = "one_stop_centre",
    mode: Annotated[str, typer.Option("--mode", help="walk, motorbike or car.")] = "car",
    scenario: Annotated[
        str, typer.Option("--scenario", help="baseline, slowed or avoid.")
    ] = "baseline",
    level: Annotated[
        str, typer.Option("--level", help="Coverage choropleth level: adm1, adm2, adm3.")
    ] = "adm1",
    lang: Annotated[str, typer.Option("--lang", help="fr (default) or en.")] = "fr",
    threshold_min: Annotated[
        float,
        typer.Option(
            "--threshold-min", min=1, max=1440, help="Coverage and desert threshold (minutes)."
        ),
    ] = 120,
    min_desert_population: Annotated[
        float,
        typer.Option("--min-desert-population", min=0, help="Leave out smaller deserts."),
    ] = 1000,
    tiles: Annotated[
        bool,
        typer.Option(
            "--tiles/--no-tiles",
            help="Add an OpenStreetMap tile layer (online only; the map reads without it).",
        ),
    ] = False,
) -> None:
    """Write a standalone interactive map (HTML, works offline) to e-mail or archive.

    Confidential providers are never on it; approximate locations are dashed circles.
    """
    started = time.perf_counter()
    if lang not in LANGS:
        raise fail(f"--lang {lang!r}: use one of {', '.join(LANGS)}")
    if level not in LEVELS:
        raise fail(f"--level {level!r}: use one of {', '.join(LEVELS)}")
    _check_out(out)
    settings = get_settings()
    root = settings.build_dir
    try:
        analysis = Analysis.load(settings)
        analysis.check(service=service, mode=mode, scenario=scenario, level=level)
    except NotBuiltError as exc:
        raise fail(str(exc)) from exc
    except ChoiceError as exc:
        raise _choice_error(exc, root) from exc
    name = f"{service}-{mode}-{scenario}"
    surface = root / "surfaces" / "public" / f"{name}.tif"
    if not surface.is_file():
        raise fail(f"{surface} is not built; run `orienter build --mode {mode}`")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inputs = analysis.inputs
            result = analysis.coverage(level=level, service=service, mode=mode, scenario=scenario)
            coverage = coverage_layer(result.table, result.units)
            if threshold_min not in (30, 60, 120, 300):
                ranked = analysis.underserved(
                    level=level,
                    service=service,
                    mode=mode,
                    scenario=scenario,
                    threshold_min=threshold_min,
                )
                coverage = coverage_layer(ranked.table, ranked.units)
            units = {lvl: analysis.units(f"adm{lvl}") for lvl in (1, 2, 3)}
            # deserts from the public surface, like the travel-time image: a desert
            # never has a hole around a confidential provider
            public_minutes = read_surface(root, inputs.grid, name, audience="public")
            deserts = service_deserts(
                public_minutes,
                inputs.population,
                inputs.grid,
                threshold_min=threshold_min,
                min_population=min_desert_population,
            )
    except (DataFileError, DataValidationError, ValueError) as exc:
        raise fail(str(exc)) from exc
    providers = inputs.providers
    iso_path = root / "isochrones" / f"{mode}-{scenario}.parquet"
    isochrones = gpd.read_parquet(iso_path) if iso_path.is_file() else None
    if isochrones is not None and "service" in isochrones.columns:
        isochrones = isochrones[isochrones["service"] == service]  # the map's service only
    zones_path = root / "conflict" / "zones.parquet"
    zones = gpd.read_parquet(zones_path) if zones_path.is_file() else None
    built_at = str(analysis.manifest.get("built_at") or "?")[:10]
    notes = [
        translate(
            "maps.sources_note",
            lang,
            providers=Path(str(settings.providers)).name,
            built_at=built_at,
        )
    ]
    m = build_map(
        boundaries=units[1],
        providers=providers,
        coverage=coverage,
        surface=surface,
        isochrones=isochrones,
        conflict_zones=zones,
        deserts=deserts,
        service=service,
        mode=mode,
        scenario=scenario,
        threshold_min=threshold_min,
        lang=lang,
        uncertainty_m=uncertainty_from_units(providers, units),
        tiles=tiles,
        notes=notes,
    )
    title = translate(
        "maps.title_service",
        lang,
        service=translate(f"maps.service_{service}", lang),
        mode=translate(f"maps.mode_{mode}", lang),
        scenario=translate(f"maps.scenario_{scenario}", lang),
    )
    html = map_html(m, standalone=True, lang=lang, title=title)
    try:
        with atomic_path(out) as tmp:
            tmp.write_text(html, encoding="utf-8")
            tmp.chmod(0o644)  # a document to share, not mkstemp's private 0600
    except OSError as exc:
        raise fail(f"--out {out}: cannot be written ({exc})") from exc
    err_console.print(
        f"wrote {out} ({len(html.encode('utf-8')) / 1e6:.1f} MB, "
        f"{time.perf_counter() - started:.1f} s): {service}, {mode}, {scenario}, "
        f"coverage by {level}, {len(deserts)} deserts beyond {threshold_min:g} min"
        + ("" if isochrones is not None else f"; no isochrones built for {mode}-{scenario}")
        + ("" if zones is not None else "; no conflict zones in the build")
    )
