"""`orienter conflict ...`: conflict zones and per-admin summaries from the event file."""

from __future__ import annotations

import json
import sys
import warnings
from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from api.build.pipeline import GRID_BUFFER_M, ConflictOptions, load_conflict
from api.cli._console import console, err_console, fail
from api.datasets import find_dataset
from api.settings import get_settings
from geo.boundaries import read_boundaries
from geo.crs import METRIC_CRS
from geo.errors import DataFileError, DataValidationError
from geo.grid import make_grid
from geo.zones import DEFAULT_BANDWIDTH_M, DEFAULT_EVENT_TYPES, admin_summary, zone_polygons

app = typer.Typer(help="Conflict zones and summaries.", no_args_is_help=True)


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"{option} {value!r} is not a date (YYYY-MM-DD)") from exc


@app.command("summary")
def summary(
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
    level: Annotated[str, typer.Option("--level", help="adm1, adm2 or adm3.")] = "adm2",
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or geojson.")] = "table",
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
    weight: Annotated[str, typer.Option("--weight", help="count or fatalities.")] = "count",
) -> None:
    """Per admin unit: events, fatalities, share of area per zone class, highest class.

    The window defaults to the last 12 months present in the data.  ``--format geojson``
    prints the zone polygons instead, with their events and fatalities.
    """
    if level not in ("adm1", "adm2", "adm3"):
        raise fail(f"--level {level!r}: use adm1, adm2 or adm3")
    if fmt not in ("table", "csv", "json", "geojson"):
        raise fail(f"--format {fmt!r}: use table, csv, json or geojson")
    if weight not in ("count", "fatalities"):
        raise fail(f"--weight {weight!r}: use count or fatalities")
    settings = get_settings()
    options = ConflictOptions(
        start=_parse_date(start, "--from"),
        end=_parse_date(end, "--to"),
        event_types=tuple(types) if types else DEFAULT_EVENT_TYPES,
        bandwidth_m=bandwidth_km * 1000,
        weight=weight,
    )
    adm0_path = find_dataset(settings, "adm0")
    units_path = find_dataset(settings, level)
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
            units = read_boundaries(units_path, level=int(level[-1]))
            table = admin_summary(surface, events, units)
        except (DataFileError, DataValidationError, ValueError, TypeError) as exc:
            raise fail(str(exc)) from exc
    for w in caught:
        err_console.print(f"[yellow]Warning:[/] {w.message}")
    err_console.print(
        f"{len(events)} events from {surface.start} to {surface.end}; {dropped} events outside "
        f"Mali dropped; bandwidth {surface.bandwidth_m / 1000:g} km; thresholds "
        f"elevated >= {surface.thresholds[0]:g}, high >= {surface.thresholds[1]:g} events per "
        "1,000 km² per year."
    )
    table = table.sort_values(["share_high", "mean_density"], ascending=False)
    if fmt == "csv":
        table.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        meta = {**surface.describe(), "dropped_outside_mali": dropped, "level": level}
        typer.echo(
            json.dumps(
                {"meta": meta, "units": table.to_dict("records")}, ensure_ascii=False, indent=2
            )
        )
    elif fmt == "geojson":
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
