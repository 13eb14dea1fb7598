"""`orienter data ...` commands."""

from __future__ import annotations

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

from api._console import console, err_console, fail
from api.fetch import (
    CATALOGUE,
    FetchError,
    Outcome,
    Status,
    fetch_sources,
    missing_required,
    select_sources,
)
from api.settings import get_settings

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


def _show(outcome: Outcome) -> None:
    console.print(
        f"{_MARKS[outcome.status]} [bold]{outcome.key}[/]: {outcome.status.value}"
        + (f" — {escape(outcome.message)}" if outcome.message else ""),
        highlight=False,
        soft_wrap=True,
    )


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
) -> None:
    """Download the data directory from the original publishers, verified.

    Files land in the folders of ORIENTER_DATA_DIR (see docs/data.md).
    Interrupted downloads resume; present files are skipped (--force fetches them again).
    Exits non-zero when a required dataset is still missing or a file failed.
    """
    settings = get_settings()
    keys = _split_keys(only)
    try:
        select_sources(keys)
    except ValueError as exc:
        raise fail(str(exc), code=2) from exc
    if from_dir is not None and not from_dir.is_dir():
        raise fail(f"--from {from_dir}: not a directory", code=2)
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
