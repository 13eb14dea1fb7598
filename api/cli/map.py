"""`orienter map`: one standalone interactive map (HTML, every asset inlined) to e-mail.

Layers: public providers, the coverage choropleth of ``--level`` (figures from
:mod:`api.services.analysis`, the same as ``orienter coverage``), the travel-time surface of public
providers, isochrones, conflict zones and service deserts.  The file opens offline.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import typer

from api.choices import THRESHOLDS_MIN, ChoiceError, Lang, Level, Scenario, Service
from api.cli._console import check_writable, fail, say, usage_error, write_output
from api.cli._options import ModeOption, ScenarioOption, ServiceOption
from api.cli.coverage import analysis_or_fail, built_choice_failed
from api.services.analysis import Analysis
from api.services.inputs import read_surface
from api.settings import get_settings
from geo.coverage import coverage_layer
from geo.deserts import service_deserts
from geo.errors import DataFileError, DataValidationError
from web.i18n import translate
from web.maps import build_map, map_html, uncertainty_from_units

__all__ = ["map_command"]


def map_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")],
    service: ServiceOption = Service.one_stop_centre,
    mode: ModeOption = "car",
    scenario: ScenarioOption = Scenario.baseline,
    level: Annotated[
        Level, typer.Option("--level", help="Level of the coverage choropleth.")
    ] = Level.adm1,
    lang: Annotated[Lang, typer.Option("--lang", help="Language of the map.")] = Lang.fr,
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
    if out.suffix.lower() not in (".html", ".htm"):
        raise usage_error(
            f"{out}: the map is an HTML file; give a name ending in .html", option="--out"
        )
    check_writable(out)
    settings = get_settings()
    analysis = analysis_or_fail(settings)
    try:
        analysis.check(mode=mode, scenario=scenario.value)
    except ChoiceError as exc:
        raise built_choice_failed(exc, settings.build_dir) from exc
    what = _What(service.value, mode, scenario.value, level.value, lang.value, threshold_min)
    layers = _layers(analysis, what, min_desert_population)
    m = build_map(
        boundaries=layers.units[1],
        providers=layers.providers,
        coverage=layers.coverage,
        surface=layers.surface,
        isochrones=layers.isochrones,
        conflict_zones=layers.zones,
        deserts=layers.deserts,
        service=what.service,
        mode=what.mode,
        scenario=what.scenario,
        threshold_min=threshold_min,
        lang=what.lang,
        uncertainty_m=uncertainty_from_units(layers.providers, layers.units),
        tiles=tiles,
        notes=[
            translate(
                "maps.sources_note",
                what.lang,
                providers=Path(str(settings.providers)).name,
                built_at=str(analysis.manifest.get("built_at") or "?")[:10],
            )
        ],
    )
    title = translate(
        "maps.title_service",
        what.lang,
        service=translate(f"maps.service_{what.service}", what.lang),
        mode=translate(f"maps.mode_{what.mode}", what.lang),
        scenario=translate(f"maps.scenario_{what.scenario}", what.lang),
    )
    html = map_html(m, standalone=True, lang=what.lang, title=title)
    write_output(out, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    say(
        f"wrote {out} ({len(html.encode('utf-8')) / 1e6:.1f} MB, "
        f"{time.perf_counter() - started:.1f} s): {what.service}, {what.mode}, "
        f"{what.scenario}, coverage by {what.level}, {len(layers.deserts)} deserts beyond "
        f"{threshold_min:g} min"
        + ("" if layers.isochrones is not None else f"; no isochrones built for {what.tag}")
        + ("" if layers.zones is not None else "; no conflict zones in the build"),
        err=True,
    )


@dataclass(frozen=True)
class _What:
    service: str
    mode: str
    scenario: str
    level: str
    lang: str
    threshold_min: float

    @property
    def tag(self) -> str:
        return f"{self.mode}-{self.scenario}"


@dataclass(frozen=True)
class _Layers:
    units: dict[int, gpd.GeoDataFrame]
    providers: gpd.GeoDataFrame
    coverage: gpd.GeoDataFrame
    surface: Path
    deserts: gpd.GeoDataFrame
    isochrones: gpd.GeoDataFrame | None
    zones: gpd.GeoDataFrame | None


def _layers(analysis: Analysis, what: _What, min_desert_population: float) -> _Layers:
    """Every layer of the map, read from the build (figures from the shared analysis)."""
    root = analysis.settings.build_dir
    name = f"{what.service}-{what.tag}"
    surface = root / "surfaces" / "public" / f"{name}.tif"
    if not surface.is_file():
        raise fail(f"{surface} is not built; run `orienter build --mode {what.mode}`")
    query = {"level": what.level, "service": what.service, "mode": what.mode}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inputs = analysis.inputs
            result = analysis.coverage(**query, scenario=what.scenario)
            if what.threshold_min not in THRESHOLDS_MIN:
                result = analysis.underserved(
                    **query, scenario=what.scenario, threshold_min=what.threshold_min
                )
            # deserts from the public surface, like the travel-time image: a desert
            # never has a hole around a confidential provider
            deserts = service_deserts(
                read_surface(root, inputs.grid, name, audience="public"),
                inputs.population,
                inputs.grid,
                threshold_min=what.threshold_min,
                min_population=min_desert_population,
            )
            units = {lvl: analysis.units(f"adm{lvl}") for lvl in (1, 2, 3)}
    except (DataFileError, DataValidationError, ValueError) as exc:
        raise fail(str(exc)) from exc
    iso_path = root / "isochrones" / f"{what.tag}.parquet"
    isochrones = gpd.read_parquet(iso_path) if iso_path.is_file() else None
    if isochrones is not None and "service" in isochrones.columns:
        isochrones = isochrones[isochrones["service"] == what.service]  # the map's service
    zones_path = root / "conflict" / "zones.parquet"
    return _Layers(
        units=units,
        providers=inputs.providers,
        coverage=coverage_layer(result.table, result.units),
        surface=surface,
        deserts=deserts,
        isochrones=isochrones,
        zones=gpd.read_parquet(zones_path) if zones_path.is_file() else None,
    )
