"""`orienter conflict ...`: conflict zones and per-admin summaries from the event file."""

from __future__ import annotations

import json
import sys
import warnings
from datetime import date
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from api.build.conflict import ConflictOptions, load_conflict
from api.build.manifest import GRID_BUFFER_M
from api.choices import Level
from api.cli._console import console, fail, say, usage_error, warn
from api.cli._options import ConflictFormat
from api.datasets import find_dataset
from api.settings import get_settings
from geo.boundaries import read_boundaries
from geo.crs import METRIC_CRS
from geo.errors import DataFileError, DataValidationError
from geo.grid import make_grid
from geo.zones import DEFAULT_BANDWIDTH_M, DEFAULT_EVENT_TYPES, admin_summary, zone_polygons

app = typer.Typer(help="Conflict zones and summaries.", no_args_is_help=True)


class Weight(StrEnum):
    """What a conflict event weighs in the density: one, or its fatalities."""

    events = "count"
    fatalities = "fatalities"


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise usage_error(f"{value!r} is not a date (YYYY-MM-DD)", option=option) from exc


@app.command("summary")
def summary(
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
    level: Annotated[Level, typer.Option("--level", help="Admin level.")] = Level.adm2,
    fmt: Annotated[ConflictFormat, typer.Option("--format", help="Output format.")] = (
        ConflictFormat.table
    ),
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            help="Event type (repeat); default: battles, "
            "violence against civilians, explosions/remote violence.",
        ),
    ] = None,
    bandwidth_km: Annotated[float, typer.Option("--bandwidth-km", min=1, max=200)] = (
        DEFAULT_BANDWIDTH_M / 1000
    ),
    weight: Annotated[
        Weight, typer.Option("--weight", help="Weigh events by count or fatalities.")
    ] = Weight.events,
) -> None:
    """Per admin unit: events, fatalities, share of area per zone class, highest class.

    The window defaults to the last 12 months present in the data.  ``--format geojson``
    prints the zone polygons instead, with their events and fatalities.
    """
    settings = get_settings()
    options = ConflictOptions(
        start=_parse_date(start, "--from"),
        end=_parse_date(end, "--to"),
        event_types=tuple(types) if types else DEFAULT_EVENT_TYPES,
        bandwidth_m=bandwidth_km * 1000,
        weight=weight.value,
    )
    adm0_path = find_dataset(settings, "adm0")
    units_path = find_dataset(settings, level.value)
    if adm0_path is None or units_path is None:
        raise fail(f"boundaries missing under {settings.data_dir / 'boundaries'}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            adm0 = read_boundaries(adm0_path, level=0)
            grid = make_grid(
                adm0.to_crs(METRIC_CRS).union_all(),
                crs=METRIC_CRS,
                cell_m=settings.grid_cell_m,
                buffer_m=GRID_BUFFER_M,
            )
            loaded = load_conflict(settings, grid, adm0.union_all(), options)
            if loaded is None:
                raise fail(f"no conflict event file under {settings.data_dir / 'conflict'}")
            surface, events, dropped = loaded
            units = read_boundaries(units_path, level=int(level.value[-1]))
            table = admin_summary(surface, events, units)
        except (DataFileError, DataValidationError, ValueError, TypeError) as exc:
            raise fail(str(exc)) from exc
    for w in caught:
        warn(str(w.message))
    say(
        f"{len(events)} events from {surface.start} to {surface.end}; {dropped} events outside "
        f"Mali dropped; bandwidth {surface.bandwidth_m / 1000:g} km; thresholds "
        f"elevated >= {surface.thresholds[0]:g}, high >= {surface.thresholds[1]:g} events per "
        "1,000 km² per year.",
        err=True,
    )
    table = table.sort_values(["share_high", "mean_density"], ascending=False)
    if fmt is ConflictFormat.csv:
        table.to_csv(sys.stdout, index=False)
    elif fmt is ConflictFormat.json:
        meta = {**surface.describe(), "dropped_outside_mali": dropped, "level": level.value}
        typer.echo(
            json.dumps(
                {"meta": meta, "units": table.to_dict("records")}, ensure_ascii=False, indent=2
            )
        )
    elif fmt is ConflictFormat.geojson:
        typer.echo(zone_polygons(surface, events).to_json(drop_id=True, ensure_ascii=False))
    else:
        out = Table("P-code", "name", "events", "fatalities", "high %", "elevated %", "max")
        for r in table.head(30).itertuples(index=False):
            out.add_row(
                r.pcode,
                r.name,
                str(r.events),
                str(r.fatalities),
                f"{100 * r.share_high:.0f}",
                f"{100 * r.share_elevated:.0f}",
                r.max_class,
            )
        console.print(out)
