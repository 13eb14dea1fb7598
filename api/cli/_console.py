"""Console output shared by the CLI commands: Rich console, progress bars, error exits."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

console = Console()
err_console = Console(stderr=True)


@contextmanager
def progress() -> Iterator[Progress]:
    """A Rich progress bar for steps that can take more than a couple of seconds."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        yield bar


def fail(message: str, *, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False)
    return typer.Exit(code)


def check_writable(out: Path, *, option: str = "--out", directory_ok: bool = False) -> None:
    """Fail before any computation when ``out`` cannot be written.

    ``out`` is a file to create or replace (``directory_ok``: or a directory to create
    files in); its parent must exist and be writable.  Messages name ``option``.
    """
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir() and not directory_ok:
        raise fail(f"{option} {out}: is a directory")
    if not parent.is_dir():
        raise fail(f"{option} {out}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise fail(f"{option} {out}: directory {parent} is not writable")
