"""`orienter coverage`: people within reach of a service, per admin unit, and deserts.

Reads the built layers (``ORIENTER_BUILD_DIR``) and the population raster the build
recorded (``manifest.json`` ``inputs.population``) through the shared
:class:`api.services.analysis.Analysis`: the figures of ``/api/v1/coverage``, the pages
and the briefings.  Every output names the population it rests on.
"""

from __future__ import annotations

import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from api.build.manifest import NotBuiltError
from api.choices import ChoiceError, Lang, Level, Scenario, Service, Window
from api.cli._console import check_writable, fail, say, usage_error, warn
from api.cli._coverage_output import CLI_META, emit_bytes, emit_deserts, emit_table
from api.cli._options import (
    CoverageFormat,
    FrameOption,
    LevelOption,
    ModeOption,
    ScenarioOption,
)
from api.services.analysis import Analysis, CoverageResult
from api.services.exports import (
    RegionNotFoundError,
    export_file,
    export_frame,
    export_name,
    in_regions,
    parse_regions,
)
from api.services.frames import FrameError
from api.services.inputs import AnalysisInputs, read_surface
from api.services.planning import FacilitySurface, facility_coverage, facility_surface
from api.settings import Settings, get_settings
from geo.coverage import CLINICAL_WINDOWS_MIN
from geo.errors import DataFileError, DataValidationError

__all__ = ["ProvidersFrom", "analysis_or_fail", "built_choice_failed", "coverage", "inputs_or_fail"]

WHO_LABEL = "health_facility (WHO/KEMRI)"


class ProvidersFrom(StrEnum):
    """Whose coverage: the provider directory, or every WHO/KEMRI health facility."""

    directory = "directory"
    who_kemri = "who-kemri"


class DemandModel(StrEnum):
    """Where people are placed: the raster over the grid, or shared among settlements."""

    grid = "grid"
    settlements = "settlements"


ProvidersOption = Annotated[
    ProvidersFrom,
    typer.Option(
        "--providers",
        help="'directory' (the built provider surfaces) or 'who-kemri' (every facility "
        "of the WHO/KEMRI health-facility list, one multi-source run on the built graph; "
        "--service is then ignored).",
    ),
]
UnderservedFlag = Annotated[
    bool,
    typer.Option(
        "--underserved",
        help="Rank the units by the people beyond --threshold-min (and their share), "
        "with the conflict max_class beside them.",
    ),
]
DesertsFlag = Annotated[
    bool,
    typer.Option(
        "--deserts",
        help="Service deserts: contiguous areas beyond --threshold-min as polygons with "
        "their people, most people first (GeoJSON to stdout, or --out .geojson/.gpkg).",
    ),
]
ServiceChoice = Annotated[
    Service | None,
    typer.Option("--service", help="The service (default one_stop_centre; medical with --window)."),
]
WindowOption = Annotated[
    Window | None,
    typer.Option(
        "--window",
        help="Clinical window of medical care after a rape: pep (post-exposure "
        "prophylaxis, within 72 h) or ec (emergency contraception, within 120 h).  Reports "
        "medical care with the people within the window (--mode walk or motorbike for the "
        "figure that matters in the north); the window is then the --underserved and "
        "--deserts threshold.",
    ),
]
DemandOption = Annotated[
    DemandModel | None,
    typer.Option(
        "--demand",
        help="Population model: 'grid' (raster spread over the 1 km grid) or "
        "'settlements' (each raster cell's people shared among its settlements); "
        "default ORIENTER_DEMAND, else grid.  ORIENTER_POPULATION_TABLE calibrates "
        "either to a census table.",
    ),
]


def analysis_or_fail(settings: Settings) -> Analysis:
    """The analysis of the build directory, or exit 1 when nothing is built."""
    try:
        return Analysis.load(settings)
    except NotBuiltError as exc:
        raise fail(str(exc)) from exc


def inputs_or_fail(analysis: Analysis) -> AnalysisInputs:
    """``analysis.inputs``, printing data caveats on stderr and failing cleanly."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            inputs = analysis.inputs
    except (NotBuiltError, DataFileError) as exc:
        raise fail(str(exc)) from exc
    for w in caught:
        warn(str(w.message))
    return inputs


def built_choice_failed(exc: ChoiceError, build_dir: Path) -> typer.Exit:
    """A mode or scenario that is not built (exit 1, with the command that builds it)."""
    allowed = ", ".join(exc.allowed) or "none"
    return fail(
        f"--{exc.parameter} {exc.value!r} is not built in {build_dir} (built: {allowed}); "
        f"run `orienter build --{exc.parameter} {exc.value}`"
    )


def coverage(
    level: LevelOption = Level.adm1,
    service: ServiceChoice = None,
    mode: ModeOption = "car",
    scenario: ScenarioOption = Scenario.baseline,
    fmt: Annotated[
        CoverageFormat,
        typer.Option("--format", help="Output format (hxl: CSV with the hashtag row)."),
    ] = CoverageFormat.table,
    output: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", "--output", help="Write to this file (.gpkg for a GeoPackage)."
        ),
    ] = None,
    providers_from: ProvidersOption = ProvidersFrom.directory,
    show_underserved: UnderservedFlag = False,
    deserts: DesertsFlag = False,
    threshold_min: Annotated[
        float,
        typer.Option(
            "--threshold-min", min=1, max=1440, help="Threshold for --underserved/--deserts."
        ),
    ] = 120,
    min_population: Annotated[
        float, typer.Option("--min-population", min=0, help="--deserts: drop smaller ones.")
    ] = 0,
    demand: DemandOption = None,
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            help="Only the units of this région (P-code or name, of the --frame's régions); "
            "repeat it or separate with commas (--region ML05,ML04).",
        ),
    ] = None,
    lang: Annotated[
        Lang,
        typer.Option("--lang", help="--format csv: fr (';' and a decimal comma) or en."),
    ] = Lang.en,
    window: WindowOption = None,
    frame: FrameOption = None,
) -> None:
    """Population within 30 min, 1 h, 2 h and 5 h of a service, per admin unit.

    Medical care adds the clinical windows (72 h, 120 h).  Public providers only: no
    figure depends on a confidential record.  Times are from the built surfaces; people
    from the build's population raster spread over the travel-time grid.
    """
    service, threshold_min = _checked(
        service,
        window,
        threshold_min,
        deserts=deserts,
        underserved=show_underserved,
        who=providers_from is ProvidersFrom.who_kemri,
        region=region,
        frame=frame,
        output=output,
    )
    settings = get_settings()
    if demand is not None:
        settings = settings.model_copy(update={"demand": demand.value})
    analysis = analysis_or_fail(settings)
    try:
        analysis.check(mode=mode, scenario=scenario.value)
    except ChoiceError as exc:
        raise built_choice_failed(exc, settings.build_dir) from exc
    if output is not None:
        check_writable(output)
    inputs = inputs_or_fail(analysis)
    facilities = None
    if providers_from is ProvidersFrom.who_kemri:
        facilities = _facilities(settings, mode, scenario.value)
    if deserts:
        what = {"service": service.value, "mode": mode, "scenario": scenario.value}
        _emit_deserts(settings, inputs, facilities, what, output, threshold_min, min_population)
        return
    if fmt is CoverageFormat.xlsx and output is None:
        raise usage_error("an .xlsx workbook needs --out FILE.xlsx", option="--format")
    threshold, chosen = (threshold_min if show_underserved else None), frame and frame.value
    regions = parse_regions(region)
    result = _table(analysis, level, service, mode, scenario, facilities, threshold, chosen)
    try:
        result, _ = in_regions(result, analysis, regions)
    except RegionNotFoundError as exc:
        raise fail(f"--region: {exc}") from exc
    if fmt in (CoverageFormat.csv, CoverageFormat.hxl, CoverageFormat.xlsx):
        # the file of GET /api/v1/coverage?format=..., byte for byte
        full = result
        if threshold is not None:
            every = _table(analysis, level, service, mode, scenario, facilities, None, chosen)
            full, _ = in_regions(every, analysis, regions)
        _emit_file(analysis, full, result if threshold is not None else None, fmt, lang, output)
        return
    meta = _cli_meta(result.meta)
    if window is not None:
        meta |= {"window": window.value, "window_min": CLINICAL_WINDOWS_MIN[window.value]}
    table = result.table.drop(columns=["nearest_provider_name"], errors="ignore")
    emit_table(table, result.units, meta, fmt, output, level.value)


def _checked(
    service: Service | None,
    window: Window | None,
    threshold_min: float,
    *,
    deserts: bool,
    underserved: bool,
    who: bool,
    region: list[str] | None,
    frame: object | None,
    output: Path | None,
) -> tuple[Service, float]:
    """The service and threshold the options ask for, or a usage error naming the
    options that cannot go together."""
    if deserts and underserved:
        raise usage_error("--deserts and --underserved: choose one")
    if window is not None:
        if service not in (None, Service.medical):
            raise usage_error("--window is a window of medical care: use --service medical")
        service, threshold_min = Service.medical, CLINICAL_WINDOWS_MIN[window.value]
    service = service or Service.one_stop_centre
    if frame is not None and who:
        raise usage_error("--frame applies to the provider directory's tables", option="--frame")
    if deserts and (region or frame is not None):
        raise usage_error(
            "--deserts are areas of the whole grid, not per région: --region and --frame "
            "apply to the tables",
            option="--deserts",
        )
    if deserts and output is not None and output.suffix.lower() not in (".geojson", ".gpkg"):
        raise usage_error("service deserts are written as .geojson or .gpkg", option="--out")
    return service, threshold_min


def _emit_file(
    analysis: Analysis,
    result: CoverageResult,
    ranking: CoverageResult | None,
    fmt: CoverageFormat,
    lang: Lang,
    output: Path | None,
) -> None:
    """``--format csv|hxl|xlsx``: the planner's file (:mod:`api.services.exports`)."""
    threshold = None if ranking is None else ranking.meta["threshold_min"]
    done = export_file(
        export_frame(result, analysis, ranking=ranking),
        fmt.value,
        level=result.level,
        lang=lang.value,
        name=export_name(result.level, result.meta.get("regions", []), result.meta, threshold),
    )
    emit_bytes(done.content, output, result.meta)


def _cli_meta(meta: dict) -> dict:
    """The table's metadata the command line prints: file names, never local paths."""
    out = {k: v for k, v in meta.items() if k in CLI_META}
    for key in ("population_source", "conflict_source"):
        if out.get(key):
            out[key] = Path(str(out[key])).name
    return out


def _emit_deserts(
    settings: Settings,
    inputs: AnalysisInputs,
    facilities: FacilitySurface | None,
    what: dict[str, str],
    output: Path | None,
    threshold_min: float,
    min_population: float,
) -> None:
    """``coverage --deserts``: the service deserts of the built surface (or the WHO one)."""
    if facilities is not None:
        minutes = facilities.minutes
        what = {**what, "service": WHO_LABEL}
    else:
        name = f"{what['service']}-{what['mode']}-{what['scenario']}"
        try:
            minutes = read_surface(settings.build_dir, inputs.grid, name)
        except DataFileError as exc:
            raise fail(str(exc)) from exc
    emit_deserts(inputs, minutes, what, threshold_min, min_population, output)


def _facilities(settings: Settings, mode: str, scenario: str) -> FacilitySurface:
    """The WHO/KEMRI facility surface, said on stderr."""
    try:
        found = facility_surface(settings, mode, scenario)
    except DataFileError as exc:
        raise fail(str(exc)) from exc
    say(
        f"{len(found.facilities)} WHO/KEMRI facilities from {found.source} "
        f"({found.outside} outside the grid)",
        err=True,
    )
    return found


def _table(
    analysis: Analysis,
    level: Level,
    service: Service,
    mode: str,
    scenario: Scenario,
    facilities: FacilitySurface | None,
    threshold_min: float | None,
    frame: str | None = None,
) -> CoverageResult:
    """The coverage table the options ask for (ranked when ``threshold_min`` is given)."""
    try:
        if facilities is not None:
            return facility_coverage(
                analysis,
                facilities,
                level=level.value,
                mode=mode,
                scenario=scenario.value,
                threshold_min=threshold_min,
            )
        if threshold_min is not None:
            return analysis.underserved(
                level=level.value,
                service=service.value,
                mode=mode,
                scenario=scenario.value,
                threshold_min=threshold_min,
                frame=frame,
            )
        return analysis.coverage(
            level=level.value,
            service=service.value,
            mode=mode,
            scenario=scenario.value,
            frame=frame,
        )
    except FrameError as exc:
        raise fail(f"--frame: {exc}") from exc
    except (DataFileError, DataValidationError, ValueError, TypeError) as exc:
        raise fail(str(exc)) from exc
