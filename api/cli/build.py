"""`orienter build`: every travel-time and conflict layer of the build directory."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import TaskID
from rich.table import Table

from api.build.pipeline import build_all
from api.choices import Scenario, values
from api.cli._console import console, fail, progress, say
from api.cli._options import MODE_HELP, parse_mode
from api.settings import get_settings
from geo.errors import DataFileError, DataValidationError

__all__ = ["build"]


def build(
    mode: Annotated[
        list[str] | None,
        typer.Option("--mode", parser=parse_mode, help=f"Only these modes (repeat).  {MODE_HELP}"),
    ] = None,
    scenario: Annotated[
        list[Scenario] | None,
        typer.Option("--scenario", help="Only these scenarios (repeat)."),
    ] = None,
) -> None:
    """Build every travel-time layer (graphs, label sets, surfaces, isochrones)."""
    settings = get_settings()
    start = time.perf_counter()
    scenarios = list(values(scenario)) if scenario else None
    try:
        with progress() as bar:
            tasks: dict[str, TaskID] = {}

            def on_progress(label: str, done: int, total: int) -> None:
                if label not in tasks:
                    tasks[label] = bar.add_task(label, total=total)
                bar.update(tasks[label], completed=done, total=total)

            report = build_all(settings, modes=mode, scenarios=scenarios, progress=on_progress)
    except (DataFileError, DataValidationError, ValueError) as exc:
        raise fail(str(exc)) from exc
    table = Table("step", "status", "seconds")
    for step in report.steps:
        table.add_row(step["step"], step["status"], f"{step['seconds']:.1f}")
    console.print(table)
    say(f"Built in {time.perf_counter() - start:.1f} s; manifest: {report.manifest_path}")
