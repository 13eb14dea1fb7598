"""`orienter data ...` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from api.build.datacheck import CheckReport, DatasetCheck, check_data
from api.build.fetch import (
    CATALOGUE,
    Action,
    CatalogueEntry,
    FetchError,
    Outcome,
    Status,
    fetch_sources,
    list_catalogue,
    missing_required,
    plan_fetch,
    select_sources,
)
from api.cli._console import console, err_console, fail
from api.settings import Settings, get_settings

app = typer.Typer(help="Data commands.", no_args_is_help=True)

_MARKS = {
    Status.DOWNLOADED: "[green]✓[/]",
    Status.RESUMED: "[green]✓[/]",
    Status.COPIED: "[green]✓[/]",
    Status.VERIFIED: "[green]✓[/]",
    Status.PRESENT: "[yellow]•[/]",
    Status.ALTERNATIVE: "[yellow]•[/]",
    Status.MANUAL: "[yellow]![/]",
    Status.NOT_IN_MIRROR: "[yellow]![/]",
    Status.FAILED: "[bold red]✗[/]",
}


class _RichTransfer:
    """Byte progress bars (size, speed, time left) for the fetch engine."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._task: TaskID | None = None

    def start(self, label: str, total_bytes: int | None, done_bytes: int) -> None:
        self._task = self._bar.add_task(label, total=total_bytes, completed=done_bytes)

    def advance(self, n_bytes: int) -> None:
        if self._task is not None:
            self._bar.advance(self._task, n_bytes)

    def stop(self) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
            self._task = None


def _split_keys(values: list[str] | None) -> list[str] | None:
    keys = [k.strip() for v in values or [] for k in v.split(",") if k.strip()]
    return keys or None


_ACTION_MARKS = {
    Action.SKIP: "[green]·[/]",
    Action.DOWNLOAD: "[cyan]↓[/]",
    Action.COPY: "[cyan]→[/]",
    Action.MANUAL: "[yellow]![/]",
    Action.NOT_IN_MIRROR: "[bold red]✗[/]",
}


def _show_entry(entry: CatalogueEntry) -> None:
    size = (
        f"{entry.size_bytes:,} bytes" if entry.size_bytes is not None else "unknown until fetched"
    )
    present = f"yes: {entry.present}" if entry.present is not None else "no"
    lines = [
        f"[bold]{escape(entry.key)}[/] (dataset {escape(entry.dataset)}"
        + ("" if entry.default else ", only with --only")
        + ")",
        f"  publisher: {escape(entry.publisher)}",
        f"  url: {escape(entry.url) if entry.url else 'none: ' + escape(entry.manual or '')}",
        f"  licence: {escape(entry.licence)}",
        f"  size: {size}",
        f"  verified by: {escape(entry.verification)}",
        f"  present: {escape(present)}",
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


def _list_and_plan(
    settings: Settings,
    keys: list[str] | None,
    *,
    listing: bool,
    from_dir: Path | None,
    force: bool,
    mirror_url: str | None,
) -> None:
    """``--list`` and ``--dry-run``: print, touch nothing, exit 0."""
    try:
        if listing:
            console.print(
                f"Catalogue (data directory: {settings.data_dir}); nothing is fetched.",
                highlight=False,
                soft_wrap=True,
            )
            for entry in list_catalogue(settings, keys=keys):
                _show_entry(entry)
            return
        steps = plan_fetch(
            settings, keys=keys, force=force, mirror_dir=from_dir, mirror_url=mirror_url
        )
    except FetchError as exc:  # unreadable manifest
        raise fail(str(exc)) from exc
    console.print(
        f"Dry run (data directory: {settings.data_dir}): nothing is downloaded or written.",
        highlight=False,
        soft_wrap=True,
    )
    for step in steps:
        console.print(
            f"{_ACTION_MARKS[step.action]} [bold]{step.key}[/]: {step.action.value} — "
            f"{escape(step.message)}",
            highlight=False,
            soft_wrap=True,
        )


def _show(outcome: Outcome) -> None:
    console.print(
        f"{_MARKS[outcome.status]} [bold]{outcome.key}[/]: {outcome.status.value}"
        + (f" — {escape(outcome.message)}" if outcome.message else ""),
        highlight=False,
        soft_wrap=True,
    )


def _run_fetch(
    settings: Settings,
    keys: list[str] | None,
    *,
    force: bool,
    from_dir: Path | None,
    mirror_url: str | None,
) -> list[Outcome]:
    """Fetch with byte progress bars, printing one line per source."""
    console.print(f"Data directory: {settings.data_dir}", highlight=False, soft_wrap=True)
    outcomes: list[Outcome] = []
    try:
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            for outcome in fetch_sources(
                settings,
                keys=keys,
                force=force,
                mirror_dir=from_dir,
                mirror_url=mirror_url,
                progress=_RichTransfer(bar),
            ):
                outcomes.append(outcome)
                _show(outcome)
    except FetchError as exc:  # unreadable manifest
        raise fail(str(exc)) from exc
    return outcomes


@app.command("fetch")
def fetch(
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Copy from this local mirror (laid out like the data directory, or holding "
            "the publishers' file names) instead of downloading.",
            show_default=False,
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="KEY",
            help="Fetch only these datasets (repeat, or separate with commas). "
            f"Keys: {', '.join(s.key for s in CATALOGUE)}.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Fetch again even when the dataset is present.")
    ] = False,
    mirror_url: Annotated[
        str | None,
        typer.Option(
            "--mirror-url",
            metavar="URL",
            help="Download https://HOST/PATH from URL/HOST/PATH instead (an HTTP mirror of the "
            "publishers, e.g. an office server).",
            show_default=False,
        ),
    ] = None,
    listing: Annotated[
        bool,
        typer.Option(
            "--list",
            help="List what can be fetched (publisher, URL, licence, size if known, how it "
            "is verified, whether it is present); touches nothing.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Say what a run with these options would do; downloads and writes nothing.",
        ),
    ] = False,
) -> None:
    """Download the data directory from the original publishers, verified.

    Files land in the folders of ORIENTER_DATA_DIR (see docs/data.md).
    Interrupted downloads resume; present files are skipped (--force fetches them again).
    Exits non-zero when a required dataset is still missing or a file failed.
    --list and --dry-run only read, and exit 0.
    """
    settings = get_settings()
    keys = _split_keys(only)
    try:
        select_sources(keys)
    except ValueError as exc:
        raise fail(str(exc), code=2) from exc
    if listing and dry_run:
        raise fail("--list and --dry-run: choose one", code=2)
    if from_dir is not None and not from_dir.is_dir():
        raise fail(f"--from {from_dir}: not a directory", code=2)
    if listing or dry_run:
        _list_and_plan(
            settings, keys, listing=listing, from_dir=from_dir, force=force, mirror_url=mirror_url
        )
        return
    outcomes = _run_fetch(settings, keys, force=force, from_dir=from_dir, mirror_url=mirror_url)
    failed = [o.key for o in outcomes if o.failed]
    missing = missing_required(settings, keys)
    if failed or missing:
        parts = []
        if failed:
            parts.append(f"failed: {', '.join(failed)}")
        if missing:
            parts.append(f"required datasets still missing: {', '.join(missing)}")
        raise fail("; ".join(parts) + ". See the lines above and docs/data.md.")
    console.print("[green]Every required dataset is present.[/]", highlight=False)


def _rows_text(check: DatasetCheck) -> str:
    if check.shape is not None:
        text = "×".join(str(n) for n in check.shape) + " cells"
        if check.total_population is not None:
            text += f", {check.total_population:,.0f} people"
        return text
    return f"{check.rows:,}" if check.rows is not None else ""


_STATUS_STYLE = {
    "ok": "[green]ok[/]",
    "error": "[bold red]error[/]",
    "missing": "[bold red]missing[/]",
    "missing (optional)": "[yellow]missing (optional)[/]",
}


_DATE_SOURCE = {"validOn field": "validOn", "event dates": "events", "file modified": "file mtime"}


def _check_table(report: CheckReport) -> Table:
    table = Table(title=f"Data directory: {escape(report.data_dir)}", show_lines=False)
    table.add_column("Dataset", no_wrap=True)
    for name in ("Status", "File / folder", "Rows", "CRS", "Date", "Licence", "Problems"):
        table.add_column(name, overflow="fold")
    for c in report.datasets:
        where = c.file if c.found else "searched " + " or ".join(c.searched)
        date = (
            f"{c.date} ({_DATE_SOURCE.get(c.date_source or '', c.date_source)})" if c.date else ""
        )
        notes = []
        if c.problems:
            notes.append("[red]error[/]" if c.found else "[red]not found[/]")
        if c.warnings:
            notes.append(f"[yellow]{len(c.warnings)} warning(s)[/]")
        table.add_row(
            escape(c.key) + ("" if c.required else "\n[dim]optional[/]"),
            _STATUS_STYLE.get(c.status, c.status),
            escape(where or ""),
            _rows_text(c),
            escape(c.crs or ""),
            escape(date),
            escape(c.licence),
            ", ".join(notes),
        )
    return table


@app.command("check")
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Find and load every dataset of the data directory and report what is there.

    For each dataset: found or missing (and the folders searched), file, rows (or raster
    shape and total population), CRS, date, licence, and the loader's errors and warnings.
    Exits 1 when a required dataset is missing or does not load, or when no road layer
    loads; every dataset is reported first.
    """
    settings = get_settings()
    if as_json:
        report = check_data(settings)
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        with err_console.status("Checking datasets…") as status:
            report = check_data(settings, progress=lambda key: status.update(f"Checking {key}…"))
        console.print(_check_table(report))
        details = [c for c in report.datasets if c.problems or c.warnings]
        if details:
            console.print("\n[bold]Problems and warnings[/]", highlight=False)
        for c in details:
            for line in c.problems:
                console.print(
                    f"[red]✗[/] [bold]{escape(c.key)}[/]: {escape(line)}",
                    highlight=False,
                    soft_wrap=True,
                )
            for line in c.warnings:
                console.print(
                    f"[yellow]![/] [bold]{escape(c.key)}[/]: {escape(line)}",
                    highlight=False,
                    soft_wrap=True,
                )
        roads = (
            f"Roads: the build will use {report.roads_build_uses}"
            if report.roads_build_uses
            else "Roads: no road data found"
        )
        roads += f"; loading: {', '.join(report.roads_loaded) or 'none'}"
        console.print(roads, highlight=False, soft_wrap=True)
        if report.roads_problem:
            console.print(
                f"[yellow]![/] roads: {escape(report.roads_problem)}",
                highlight=False,
                soft_wrap=True,
            )
    if not report.ok:
        raise fail(
            "the data directory is not usable: "
            + "; ".join(report.failures)
            + ". See the report above and docs/data.md."
        )
    if not as_json:
        console.print("[green]Every required dataset is present and loads.[/]", highlight=False)
