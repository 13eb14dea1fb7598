"""`orienter export`: one GeoPackage of the public layers that opens styled in QGIS.

The work is :func:`api.services.export.export_package`; this module reads the options,
reports progress and maps errors to exit codes: 2 for a bad option (it names the
option), 1 for missing data (no build, a mode or scenario not built, a missing file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.build.manifest import NotBuiltError
from api.cli._console import err_console, fail
from api.services.export import (
    LEVELS,
    ExportRequest,
    ExportUsageError,
    export_package,
)
from api.settings import get_settings
from geo.errors import DataFileError, DataValidationError

USAGE_ERROR = 2
DATA_ERROR = 1


def _levels(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return LEVELS
    parts = [p.strip().lower() for v in values for p in v.split(",") if p.strip()]
    return tuple(dict.fromkeys(parts))


def export_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="The GeoPackage to write (.gpkg).")],
    service: Annotated[
        str, typer.Option("--service", help="one_stop_centre or a service key.")
    ] = "one_stop_centre",
    mode: Annotated[
        str, typer.Option("--mode", help="A built mode: walk, motorbike or car.")
    ] = "car",
    scenario: Annotated[
        str, typer.Option("--scenario", help="baseline, slowed or avoid (built).")
    ] = "baseline",
    level: Annotated[
        list[str] | None,
        typer.Option(
            "--level",
            help="Coverage layers: adm1, adm2, adm3 (repeat or comma-separate; default all).",
        ),
    ] = None,
    threshold_min: Annotated[
        int,
        typer.Option(
            "--threshold-min",
            help="Threshold of the coverage style and the deserts: 30, 60, 120 or 300.",
        ),
    ] = 120,
    min_desert_population: Annotated[
        float, typer.Option("--min-desert-population", help="Leave out smaller deserts.")
    ] = 1000,
    lang: Annotated[
        str, typer.Option("--lang", help="Language of the layer titles and legends: fr, en.")
    ] = "fr",
) -> None:
    """Write one GeoPackage (styled for QGIS) of the public layers, and the rasters beside
    it as Cloud-Optimised GeoTIFFs with .qml styles.

    Confidential providers are never in it, and no value in it depends on them.
    """
    request = ExportRequest(
        out=out,
        service=service,
        mode=mode,
        scenario=scenario,
        levels=_levels(level),
        threshold_min=threshold_min,
        min_desert_population=min_desert_population,
        lang=lang,
    )
    settings = get_settings()

    def step(text: str) -> None:
        err_console.print(f"[dim]…[/] {text}", highlight=False)

    try:
        report = export_package(settings, request, progress=step)
    except ExportUsageError as exc:
        raise fail(str(exc), code=USAGE_ERROR) from exc
    except (NotBuiltError, DataFileError, DataValidationError) as exc:
        raise fail(str(exc), code=DATA_ERROR) from exc
    except OSError as exc:
        raise fail(f"--out {out}: cannot be written ({exc})", code=DATA_ERROR) from exc
    size_mb = report.size_bytes / 1e6
    err_console.print(
        f"wrote {out} and {len(report.files) - 1} file(s) beside it ({size_mb:.1f} MB, "
        f"{report.seconds:.1f} s): layers {', '.join(report.layers)}; "
        f"rasters {', '.join(report.rasters)}",
        highlight=False,
    )
    for text in report.notes:
        err_console.print(f"note: {text}", highlight=False)
