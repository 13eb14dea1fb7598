"""`orienter nearest`: providers ranked by travel time from a point or a place."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.table import Table

from api.build.layers import answer_nearest, load_layers
from api.build.manifest import NotBuiltError
from api.choices import Scenario, Service
from api.cli._console import console, fail, say, usage_error
from api.cli._options import JsonFlag, ModeOption, ScenarioOption, TableFormat, TableFormatOption
from api.services.audience import Audience, audience_of
from api.services.places import load_gazetteer
from api.settings import get_settings
from geo.errors import DataFileError

__all__ = ["nearest"]


def nearest(
    lat: Annotated[float | None, typer.Option("--lat", help="Latitude, decimal degrees.")] = None,
    lon: Annotated[float | None, typer.Option("--lon", help="Longitude, decimal degrees.")] = None,
    place: Annotated[
        str | None, typer.Option("--place", help="Settlement name or P-code instead of lat/lon.")
    ] = None,
    service: Annotated[
        Service | None, typer.Option("--service", help="The service; any if absent.")
    ] = None,
    mode: ModeOption = "car",
    scenario: ScenarioOption = Scenario.baseline,
    k: Annotated[int, typer.Option("--k", min=1, max=20, help="How many providers.")] = 5,
    fmt: TableFormatOption = TableFormat.table,
    as_json: JsonFlag = False,
    routes: Annotated[
        bool, typer.Option("--routes", help="With --format json: each route as a GeoJSON line.")
    ] = False,
) -> None:
    """The nearest providers by travel time from a point or a place.

    Confidential providers are shown only when ORIENTER_CASEWORKER_TOKEN holds a valid
    caseworker token.  Nothing about the query is logged or stored.
    """
    settings = get_settings()
    if place is None and (lat is None or lon is None):
        raise usage_error("give --lat and --lon, or --place")
    place_info = None
    if place is not None:
        try:
            gaz = load_gazetteer(settings)
        except DataFileError as exc:
            raise fail(str(exc)) from exc
        try:
            place_info = gaz.resolve(place)
        except ValueError as exc:
            raise fail(f"--place {place!r}: {exc}") from exc
        if place_info is None:
            raise fail(f"--place {place!r}: no settlement matches; try `orienter places search`")
        lon, lat = place_info["lon"], place_info["lat"]
    try:
        layers = load_layers(settings, freeze=False)
    except NotBuiltError as exc:
        raise fail(str(exc)) from exc
    if mode not in layers.modes:
        raise fail(f"--mode {mode!r} is not built; built: {', '.join(layers.modes)}")
    audience = audience_of(
        os.environ.get("ORIENTER_CASEWORKER_TOKEN"), settings.caseworker_token_hashes
    )
    try:
        answer = answer_nearest(
            layers,
            lon=float(lon),  # type: ignore[arg-type]
            lat=float(lat),  # type: ignore[arg-type]
            service=None if service is None else service.value,
            mode=mode,
            scenario=scenario.value,
            k=k,
            include_confidential=audience is Audience.caseworker,
            place=place_info,
            routes=routes,
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if as_json or fmt is TableFormat.json:
        typer.echo(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    _print_table(answer, place_info["name"] if place_info else f"{lat:.4f}, {lon:.4f}")


def _print_table(answer: dict, where: str) -> None:
    q = answer["query"]
    say(
        f"From {where} by {q['mode']} ({q['scenario']}); off-road leg "
        f"{q['offroad_leg_km']} km / {q['offroad_leg_min']} min to the {q['snapped_to']}."
    )
    table = Table("#", "provider", "type", "services", "time", "km", "precision")
    for i, r in enumerate(answer["results"], 1):
        t = "unreachable" if r["travel_time_min"] is None else _hours(r["travel_time_min"])
        table.add_row(
            str(i),
            r["name"],
            r["type"],
            ", ".join(r["services"] or []),
            t,
            "" if r["distance_km"] is None else f"{r['distance_km']:.0f}",
            str(r.get("location_precision")),
        )
    console.print(table)
    if not answer["results"]:
        say("No provider of this service is known.", err=True)


def _hours(minutes: float) -> str:
    h, m = divmod(round(minutes), 60)
    return f"{h} h {m:02d}" if h else f"{m} min"
