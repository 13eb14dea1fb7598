"""`orienter providers ...` commands: validate and import the provider directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import geopandas as gpd
import typer
from shapely.geometry.base import BaseGeometry

from api import cli_places
from api._console import console, err_console, fail
from api.datasets import find_dataset
from api.settings import Settings, get_settings
from geo.errors import DataFileError, DataProblem, DataValidationError
from geo.provider_import import GazetteerLike, import_providers, write_import_report
from geo.providers import provider_summary, read_providers

app = typer.Typer(help="Validate and import the provider directory.", no_args_is_help=True)


def load_country(settings: Settings) -> BaseGeometry | None:
    """Mali's outline from the ADM0 dataset, or None (with a warning) when there is none."""
    path = find_dataset(settings, "adm0")
    if path is None:
        err_console.print(
            "[yellow]Warning:[/] no ADM0 boundary found "
            f"(looked in {settings.boundaries_dir} and {settings.data_dir / 'boundaries'}); "
            "points are NOT checked against Mali's outline.",
            highlight=False,
        )
        return None
    try:
        adm0 = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for corrupt files
        raise DataFileError(f"{path}: cannot be read as a vector layer ({exc})") from exc
    if adm0.empty:
        raise DataFileError(f"{path}: the ADM0 layer holds no features")
    adm0 = adm0.set_crs(4326) if adm0.crs is None else adm0.to_crs(4326)
    return adm0.union_all()


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _print_problems(problems: list[DataProblem]) -> None:
    for problem in problems:
        _say(f"  - {problem}")


@app.command("validate")
def validate(
    file: Annotated[
        Path | None,
        typer.Argument(help="Provider GeoJSON (default: the `providers` setting)."),
    ] = None,
) -> None:
    """Check every record; print each problem with its row, id and reason.

    Exits 1 when any record is invalid, 0 otherwise.
    """
    settings = get_settings()
    path = file or settings.providers
    try:
        country = load_country(settings)
        gdf = read_providers(path, country=country)
    except DataValidationError as exc:
        _say(f"{path}: {len(exc.problems)} problem(s)")
        _print_problems(exc.problems)
        raise fail(f"{path} is not valid; fix the rows above.") from exc
    except DataFileError as exc:
        raise fail(str(exc)) from exc
    summary = provider_summary(gdf)
    precision = ", ".join(f"{k} {v}" for k, v in summary["by_precision"].items())
    _say(
        f"{path}: OK, {summary['total']} providers ({summary['public']} public, "
        f"{summary['confidential']} confidential); by precision: {precision}."
    )
    if country is None:
        _say("Points were not checked against Mali's outline (no ADM0 file).")


@app.command("import")
def import_sheet(
    sheet: Annotated[Path, typer.Argument(help="Service-mapping sheet, .csv or .xlsx.")],
    into: Annotated[
        Path | None,
        typer.Option("--into", help="Provider GeoJSON to extend (default: `providers` setting)."),
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Write the valid rows and report the others."),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write the refused rows and reasons to this CSV file."),
    ] = None,
) -> None:
    """Add the rows of SHEET to the provider directory.

    Nothing is written unless every row is valid (or --skip-invalid is given).  The file
    is replaced atomically and the previous version kept as <file>.<timestamp>.bak.
    """
    settings = get_settings()
    target = into or settings.providers
    try:
        country = load_country(settings)
        gazetteer = _gazetteer_or_none()
        result = import_providers(
            sheet, target, gazetteer, skip_invalid=skip_invalid, country=country
        )
    except DataValidationError as exc:
        _say(f"{exc.source}: {len(exc.problems)} problem(s)")
        _print_problems(exc.problems)
        if report is not None:
            write_import_report(exc.problems, report)
            _say(f"Report written to {report}.")
        raise fail(
            f"nothing was written to {target}; fix the rows above or use --skip-invalid."
        ) from exc
    except DataFileError as exc:
        raise fail(str(exc)) from exc
    if result.problems:
        _say(f"Skipped {len(result.skipped_rows)} invalid row(s):")
        _print_problems(result.problems)
        if report is not None:
            write_import_report(result.problems, report)
            _say(f"Report written to {report}.")
    if result.written is None:
        _say(f"No valid row; {target} is unchanged.")
        raise typer.Exit(1)
    backup = f" (previous file kept as {result.backup})" if result.backup else ""
    _say(f"Imported {len(result.added_ids)} provider(s) into {result.written}{backup}.")


def _gazetteer_or_none() -> GazetteerLike | None:
    """The settlements gazetteer, or None with a warning (rows by coordinates still work)."""
    try:
        return cli_places.load_gazetteer()
    except DataFileError as exc:
        err_console.print(
            f"[yellow]Warning:[/] {exc}; rows located by settlement cannot be imported.",
            highlight=False,
        )
        return None
