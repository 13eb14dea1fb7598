"""`orienter route`: the travel time between two points, places, or to a chosen provider."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from api.build.layers import NotBuiltError, load_layers, token_is_valid
from api.cli._console import console, fail
from api.services.routing import RouteError, answer_route, parse_endpoint
from api.settings import get_settings
from geo.errors import DataFileError


def route(
    origin: Annotated[
        str,
        typer.Option("--from", help="LON,LAT (decimal degrees, longitude first) or a place."),
    ],
    destination: Annotated[
        str,
        typer.Option("--to", help="LON,LAT, a place, or a provider id (orienter providers)."),
    ],
    mode: Annotated[str, typer.Option("--mode", help="A built travel mode.")] = "car",
    scenario: Annotated[str, typer.Option("--scenario", help="A built scenario.")] = "baseline",
    lang: Annotated[str, typer.Option("--lang", help="fr or en (the time's meaning).")] = "fr",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (with the line).")] = False,
) -> None:
    """Travel time, distance, off-road legs and conflict km from one point to another.

    For the provider a survivor chooses, not only the nearest ones.  Confidential
    providers are a destination only when ORIENTER_CASEWORKER_TOKEN holds a valid
    caseworker token.  Nothing about the query is logged or stored.
    """
    if lang not in ("fr", "en"):
        raise fail(f"--lang {lang!r}: use fr or en")
    settings = get_settings()
    try:
        layers = load_layers(settings)
    except NotBuiltError as exc:
        raise fail(str(exc)) from exc
    caseworker = token_is_valid(
        os.environ.get("ORIENTER_CASEWORKER_TOKEN"), settings.caseworker_token_hashes
    )
    gazetteer = None
    if not _is_point(origin) or not _is_point(destination):
        from api.cli.places import load_gazetteer

        try:
            gazetteer = load_gazetteer()
        except DataFileError:
            gazetteer = None
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
        answer = answer_route(layers, start, end, mode=mode, scenario=scenario, lang=lang)
    except RouteError as exc:
        name = {"from": "--from", "to": "--to", "scenario": "--mode/--scenario"}
        raise fail(f"{name.get(exc.parameter, exc.parameter)}: {exc.message}") from exc
    if as_json:
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
    console.print(f"From {_where(a['from'])} to {_where(a['to'])}, {a['mode']} ({a['scenario']})")
    if not a["reachable"]:
        console.print(f"Unreachable: {a['unreachable_reason']}")
        return
    minutes = a["travel_time_min"]
    console.print(
        f"{int(minutes // 60)} h {int(round(minutes % 60)):02d} ({minutes:.0f} min): "
        f"{a['distance_km']:.1f} km, of which {a['offroad_km']:.1f} km off-road "
        f"(legs {a['start_leg_km']:.1f} and {a['end_leg_km']:.1f} km); "
        f"{a['straight_km']:.1f} km in a straight line"
    )
    conflict = a.get("route_conflict")
    if conflict:
        km = conflict["km_by_class"]
        console.print(
            f"Conflict zones on the way: worst {conflict['worst_class']}; "
            f"{km['elevated']:.1f} km elevated, {km['high']:.1f} km high"
        )
    console.print(f"Time: {a['time_meaning']}")
