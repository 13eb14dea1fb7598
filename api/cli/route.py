"""`orienter route`: the travel time between two points, places, or to a chosen provider."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from api.build.layers import load_layers
from api.build.manifest import NotBuiltError
from api.choices import Lang, Scenario
from api.cli._console import fail, say
from api.cli._options import JsonFlag, ModeOption, ScenarioOption, TableFormat, TableFormatOption
from api.services.audience import Audience, audience_of
from api.services.places import find_gazetteer
from api.services.routing import RouteError, answer_route, parse_endpoint
from api.settings import get_settings

__all__ = ["route"]


def route(
    origin: Annotated[
        str,
        typer.Option("--from", help="LON,LAT (decimal degrees, longitude first) or a place."),
    ],
    destination: Annotated[
        str,
        typer.Option("--to", help="LON,LAT, a place, or a provider id (orienter providers)."),
    ],
    mode: ModeOption = "car",
    scenario: ScenarioOption = Scenario.baseline,
    lang: Annotated[Lang, typer.Option("--lang", help="Language of the time's meaning.")] = Lang.fr,
    fmt: TableFormatOption = TableFormat.table,
    as_json: JsonFlag = False,
) -> None:
    """Travel time, distance, off-road legs and conflict km from one point to another.

    For the provider a survivor chooses, not only the nearest ones.  Confidential
    providers are a destination only when ORIENTER_CASEWORKER_TOKEN holds a valid
    caseworker token.  Nothing about the query is logged or stored.
    """
    settings = get_settings()
    try:
        layers = load_layers(settings, freeze=False)
    except NotBuiltError as exc:
        raise fail(str(exc)) from exc
    caseworker = (
        audience_of(os.environ.get("ORIENTER_CASEWORKER_TOKEN"), settings.caseworker_token_hashes)
        is Audience.caseworker
    )
    gazetteer = None
    if not _is_point(origin) or not _is_point(destination):
        gazetteer = find_gazetteer(settings)
    try:
        start = parse_endpoint(
            origin,
            "--from",
            layers=layers,
            gazetteer=gazetteer,
            include_confidential=caseworker,
            providers_allowed=False,
        )
        end = parse_endpoint(
            destination,
            "--to",
            layers=layers,
            gazetteer=gazetteer,
            include_confidential=caseworker,
            providers_allowed=True,
        )
        answer = answer_route(
            layers, start, end, mode=mode, scenario=scenario.value, lang=lang.value
        )
    except RouteError as exc:
        name = {"from": "--from", "to": "--to", "scenario": "--mode/--scenario"}
        raise fail(f"{name.get(exc.parameter, exc.parameter)}: {exc.message}") from exc
    if as_json or fmt is TableFormat.json:
        typer.echo(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    _print(answer)


def _is_point(text: str) -> bool:
    parts = text.split(",")
    if len(parts) != 2:
        return False
    try:
        float(parts[0]), float(parts[1])
    except ValueError:
        return False
    return True


def _where(end: dict) -> str:
    if "provider" in end:
        return f"{end['provider']['name']} ({end['provider']['id']})"
    if "place" in end:
        return f"{end['place']['name']} ({end['place']['pcode']})"
    return f"{end['lon']:.5f}, {end['lat']:.5f}"


def _print(a: dict) -> None:
    say(f"From {_where(a['from'])} to {_where(a['to'])}, {a['mode']} ({a['scenario']})")
    if not a["reachable"]:
        say(f"Unreachable: {a['unreachable_reason']}")
        return
    minutes = a["travel_time_min"]
    hours, rest = divmod(round(minutes), 60)
    say(
        f"{hours} h {rest:02d} ({minutes:.0f} min): "
        f"{a['distance_km']:.1f} km, of which {a['offroad_km']:.1f} km off-road "
        f"(legs {a['start_leg_km']:.1f} and {a['end_leg_km']:.1f} km); "
        f"{a['straight_km']:.1f} km in a straight line"
    )
    conflict = a.get("route_conflict")
    if conflict:
        km = conflict["km_by_class"]
        say(
            f"Conflict zones on the way: worst {conflict['worst_class']}; "
            f"{km['elevated']:.1f} km elevated, {km['high']:.1f} km high"
        )
    say(f"Time: {a['time_meaning']}")
