"""`orienter providers ...` commands: the provider directory as a living record.

``validate`` and ``import`` keep the file sound; ``status`` shows how fresh it is per
région; ``round`` writes a verification round (XLSForm for KoboToolbox / ODK, and a
paper sheet); ``apply`` brings the answers back; ``export`` shares public records.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import typer
from shapely.geometry.base import BaseGeometry

from api.cli._console import check_writable, console, err_console, fail
from api.datasets import find_dataset
from api.services import places
from api.settings import Settings, get_settings
from geo.errors import DataFileError, DataProblem, DataValidationError
from geo.freshness import DEFAULT_MAX_AGE_MONTHS, freshness_by_region
from geo.provider_export import EXPORT_FORMATS, export_providers
from geo.provider_import import GazetteerLike, import_providers, write_import_report
from geo.providers import find_possible_duplicates, provider_summary, read_providers
from geo.round_apply import ApplyResult, apply_round
from geo.rounds import round_form_sheets, round_paper_sheet, write_round_form, write_round_paper

app = typer.Typer(
    help="Validate, import, verify (rounds) and export the provider directory.",
    no_args_is_help=True,
)


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
        gdf = read_providers(path, country=country, as_of=date.today())
    except DataValidationError as exc:
        _say(f"{path}: {len(exc.problems)} problem(s)")
        _print_problems(exc.problems)
        raise fail(f"{path} is not valid; fix the rows above.") from exc
    except DataFileError as exc:
        raise fail(str(exc)) from exc
    summary = provider_summary(gdf)
    precision = ", ".join(f"{k} {v}" for k, v in summary["by_precision"].items())
    status = ", ".join(f"{k} {v}" for k, v in summary["by_status"].items())
    _say(
        f"{path}: OK, {summary['total']} providers ({summary['public']} public, "
        f"{summary['confidential']} confidential); by precision: {precision}; "
        f"by status: {status}."
    )
    _print_possible_duplicates(gdf)
    if country is None:
        _say("Points were not checked against Mali's outline (no ADM0 file).")


def _print_possible_duplicates(gdf: gpd.GeoDataFrame) -> None:
    """Records of one type within 100 m that may be one site: notes, not errors."""
    pairs = find_possible_duplicates(gdf)
    if pairs.empty:
        return
    _say(
        f"{len(pairs)} possible duplicate(s) to check (same type within 100 m; set same_as on "
        "one of them if the sources say they are one site):"
    )
    for pair in pairs.itertuples(index=False):
        _say(
            f"  - {pair.type}: {pair.id_a} (row {pair.row_a}) and {pair.id_b} "
            f"(row {pair.row_b}), {pair.reason}"
        )


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
        return places.load_gazetteer(get_settings())
    except DataFileError as exc:
        err_console.print(
            f"[yellow]Warning:[/] {exc}; rows located by settlement cannot be imported.",
            highlight=False,
        )
        return None


def _read_directory(settings: Settings) -> gpd.GeoDataFrame:
    try:
        return read_providers(settings.providers, as_of=date.today())
    except DataValidationError as exc:
        _print_problems(exc.problems)
        raise fail(
            f"{settings.providers} is not valid; run `orienter providers validate`."
        ) from exc
    except DataFileError as exc:
        raise fail(str(exc)) from exc


@app.command("status")
def status(
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    max_age_months: Annotated[
        float,
        typer.Option(
            "--max-age-months",
            min=1,
            help="Evidence older than this is 'à vérifier' (default 12).",
        ),
    ] = DEFAULT_MAX_AGE_MONTHS,
) -> None:
    """Freshness per région: records, counts per status, share verified, oldest evidence.

    Counts include confidential records (this is the coordinator's view of the file).
    Shares and 'to verify' count the records that are not historic.
    """
    if fmt not in ("table", "csv", "json"):
        raise fail(f"--format {fmt!r}: use table, csv or json")
    settings = get_settings()
    gdf = _read_directory(settings)
    today = date.today()
    table = freshness_by_region(gdf, as_of=today, max_age_months=max_age_months)
    if fmt == "csv":
        table.to_csv(sys.stdout, index=False, lineterminator="\n")
        return
    if fmt == "json":
        records = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in table.to_dict("records")
        ]
        meta = {"as_of": today.isoformat(), "max_age_months": max_age_months}
        typer.echo(json.dumps({"meta": meta, "regions": records}, ensure_ascii=False, indent=2))
        return
    shown = table.assign(
        verified_6m_share=table["verified_6m_share"].map(_share),
        verified_12m_share=table["verified_12m_share"].map(_share),
        oldest_evidence=table["oldest_evidence"].map(lambda v: v or "—"),
    ).rename(
        columns={
            "adm1_pcode": "P-code",
            "verified_6m_share": "verified ≤6 m",
            "verified_12m_share": "verified ≤12 m",
            "to_verify": "à vérifier",
            "oldest_evidence": "oldest evidence",
        }
    )
    _say(shown.to_string(index=False))  # plain text: readable at any terminal width
    _say(
        f"As of {today.isoformat()}; 'à vérifier': evidence (source date or last verification) "
        f"older than {max_age_months:g} months, or undated."
    )


def _share(value: float) -> str:
    return "—" if math.isnan(value) else f"{100 * value:.0f} %"


@app.command("round")
def round_(
    region: Annotated[
        str, typer.Option("--region", help="Région to verify: ADM1 P-code (ML05) or name.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The XLSForm to write (.xlsx).")],
    paper: Annotated[
        Path | None,
        typer.Option(
            "--paper", help="The paper sheet to write (.xlsx; default: <out>-papier.xlsx)."
        ),
    ] = None,
    include_confidential: Annotated[
        bool,
        typer.Option(
            "--include-confidential",
            help="Also list confidential records (shelters). Both files must then be handled "
            "as confidential: do not upload them to a shared or public server.",
        ),
    ] = False,
) -> None:
    """Write a verification round for one région: an XLSForm and a paper sheet.

    The XLSForm (sheets survey, choices, settings) loads in KoboToolbox or ODK Central:
    one repeat per provider, pre-filled with its id, name, town and current values.  The
    paper sheet asks the same questions in a table.  Bring the answers back with
    `orienter providers apply`.
    """
    paper = paper or out.with_name(f"{out.stem}-papier.xlsx")
    for path, option in ((out, "--out"), (paper, "--paper")):
        if path.suffix.lower() != ".xlsx":
            raise fail(f"{option} {path}: must end in .xlsx")
        check_writable(path, option=option)
    settings = get_settings()
    gdf = _read_directory(settings)
    today = date.today()
    try:
        sheets = round_form_sheets(
            gdf, region, as_of=today, include_confidential=include_confidential
        )
        table = round_paper_sheet(gdf, region, include_confidential=include_confidential)
    except ValueError as exc:
        raise fail(str(exc).replace("region:", "--region", 1)) from exc
    write_round_form(sheets, out)
    write_round_paper(table, paper)
    note = " (confidential records included)" if include_confidential else ""
    _say(f"Round of {len(table)} provider(s){note}: XLSForm {out}, paper sheet {paper}.")
    if include_confidential:
        err_console.print(
            "[yellow]These files name confidential providers: handle them as confidential.[/]"
        )


@app.command("apply")
def apply(
    answers: Annotated[
        Path, typer.Argument(help="Returned round: KoboToolbox/ODK export or paper sheet.")
    ],
    by: Annotated[
        str | None,
        typer.Option(
            "--by", help="Organisation that ran the round (written to verified_by and the log)."
        ),
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Apply the valid rows and report the others."),
    ] = False,
) -> None:
    """Apply a returned verification round to the provider directory.

    Prints each record's changes and appends them to <directory>.changes.jsonl (who,
    when, record id, field, old, new).  Nothing is written unless every row is valid
    (or --skip-invalid is given); the directory is replaced atomically and the previous
    version kept as a backup.  Notes are never copied from the answers.
    """
    settings = get_settings()
    try:
        country = load_country(settings)
        result = apply_round(
            answers,
            settings.providers,
            by=by,
            now=datetime.now(UTC),
            skip_invalid=skip_invalid,
            country=country,
        )
    except DataValidationError as exc:
        _say(f"{exc.source}: {len(exc.problems)} problem(s)")
        _print_problems(exc.problems)
        raise fail(
            f"nothing was written to {settings.providers}; fix the rows above or use "
            "--skip-invalid."
        ) from exc
    except DataFileError as exc:
        raise fail(str(exc)) from exc
    _report_apply(result, settings.providers)


def _report_apply(result: ApplyResult, target: Path) -> None:
    if result.problems:
        _say(f"Skipped {len(result.skipped_rows)} invalid row(s):")
        _print_problems(result.problems)
    for change in result.changes:
        _say(f"{change.ident} (row {change.row}, verified {change.verified_on} by {change.by}):")
        for field, old, new in change.changes:
            _say(f"  {field}: {_show(old)} -> {_show(new)}")
    if result.written is None:
        _say(f"No change; {target} is unchanged.")
        return
    backup = f" (previous file kept as {result.backup})" if result.backup else ""
    _say(
        f"Updated {len(result.changes)} record(s) in {result.written}{backup}; "
        f"changes appended to {result.log}."
    )


def _show(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "[]"
    return str(value)


@app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help=f"{', '.join(EXPORT_FORMATS)}.")] = "csv",
    include_confidential: Annotated[
        bool,
        typer.Option(
            "--include-confidential",
            help="Also write confidential records (shelters). The file must then be handled "
            "as confidential: share it only with caseworkers, never publish it.",
        ),
    ] = False,
) -> None:
    """Export the directory as CSV, XLSX, HXL-tagged CSV or GeoJSON: public records only.

    Confidential records are left out unless --include-confidential is given.
    """
    if fmt not in EXPORT_FORMATS:
        raise fail(f"--format {fmt!r}: use {', '.join(EXPORT_FORMATS)}")
    check_writable(out)
    settings = get_settings()
    gdf = _read_directory(settings)
    try:
        count = export_providers(gdf, out, fmt=fmt, include_confidential=include_confidential)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    kind = "records (confidential included)" if include_confidential else "public records"
    _say(f"Wrote {count} {kind} to {out} ({fmt}).")
    if include_confidential:
        err_console.print(
            f"[yellow]{out} holds confidential providers: handle it as confidential.[/]"
        )
