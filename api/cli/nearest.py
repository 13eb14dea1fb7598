"""`orienter nearest`: providers ranked by travel time from a point or a place."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from api.build.layers import answer_nearest, load_layers
from api.build.manifest import NotBuiltError
from api.choices import Scenario, Service
from api.cli._console import console, fail, say, usage_error
from api.cli._options import JsonFlag, ModeOption, ScenarioOption, TableFormat, TableFormatOption
from api.services.audience import Audience, audience_of
from api.services.hotlines import complete_answer, in_language
from api.services.places import load_gazetteer, resolve_place
from api.settings import get_settings
from geo.errors import DataFileError
from geo.providers import localized

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
    others: list[dict] = []
    if place is not None:
        try:
            gaz = load_gazetteer(settings)
        except DataFileError as exc:
            raise fail(str(exc)) from exc
        try:
            place_info, others = resolve_place(gaz, place)
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
    # as the API: the other places of that name, the national lines
    complete_answer(answer, settings.providers, others if place_info is not None else None)
    if as_json or fmt is TableFormat.json:
        typer.echo(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    _print_table(answer, f"{lat:.4f}, {lon:.4f}")


#: What a time flag means, as the page says it.
FLAG_NOTES = {
    "offroad": "most of this time is off the modelled roads (across country at off-road "
    "speeds): check the way with someone who knows it",
    "detour": "the route is at least twice the straight line: check it is the way people go",
}


def _place_lines(query: dict, where: str) -> list[str]:
    """Which place the answer is for, the others the name could mean, and how far the
    start is from a road."""
    out = []
    found = query.get("place")
    if found:
        out.append(f"Place used: {_place_text(found)}.")
        others = query.get("place_alternatives") or []
        if others:
            listed = "; ".join(f"{o['name']} ({_place_text(o, named=False)})" for o in others)
            out.append(f"Other places of that name: {listed} (pick one by its P-code).")
    else:
        out.append(f"From the point {where}.")
    if query.get("road_km") is not None:
        minutes = query.get("road_offroad_min")
        pace = "" if minutes is None else f", {_hours(minutes)} off-road"
        out.append(f"The start is {query['road_km']:.1f} km from the nearest road{pace}.")
    return out


def _place_text(place: dict, named: bool = True) -> str:
    parts = [
        place.get("adm3") or place.get("adm3_name"),
        place.get("adm2") or place.get("adm2_name"),
        place.get("adm1") or place.get("adm1_name"),
    ]
    where = ", ".join(dict.fromkeys(p for p in parts if p))
    code = place["pcode"]
    return f"{place['name']}, {where} ({code})" if named else f"{where}, {code}"


def _print_table(answer: dict, where: str) -> None:
    q, data = answer["query"], answer["data"]
    for line in _place_lines(q, where):
        say(line)
    say(f"By {q['mode']}, scenario {q['scenario']}.")
    if (data.get("scenario_assumes") or {}).get("en"):
        say(data["scenario_assumes"]["en"])
    window = data.get("conflict")
    if window and not data.get("scenario_assumes"):  # else the assumption names it
        source = f" ({window['source']})" if window.get("source") else ""
        say(
            f"Conflict zones drawn from the events of {window['start']} to {window['end']}{source}."
        )
    table = Table("#", "provider", "time", "km", "conflict", "phone", "status", "dated", "flags")
    notes: dict[str, None] = {}
    for i, raw in enumerate(answer["results"], 1):
        r = localized(raw, "en")
        time = "unreachable" if r["travel_time_min"] is None else _hours(r["travel_time_min"])
        if r.get("same_site"):
            time = "on site"
        notes.update(dict.fromkeys(r.get("time_flags") or []))
        table.add_row(
            str(i),
            escape(
                f"{r['name']} [{r['type']}; {', '.join(r['services'] or [])}; "
                f"located: {r.get('location_precision')}]"
            ),
            time,
            "" if r["distance_km"] is None else f"{r['distance_km']:.1f}",
            str(
                r.get("route_worst_class")
                or (r.get("route_conflict") or {}).get("worst_class")
                or "-"
            ),
            r.get("phone") or "not given",
            r.get("status") or "-",
            r.get("last_verified") or r.get("source_date") or "-",
            ", ".join(r.get("time_flags") or []) or "-",
        )
    console.print(table)
    for flag in notes:
        say(f"{flag}: {FLAG_NOTES.get(flag, flag)}.")
    if not answer["results"]:
        say("No provider of this service is known.", err=True)
    lines = in_language(data["national_lines"]["lines"], "en")
    if lines:
        say("National lines (no place, not ranked):")
        for number in lines:
            dated = number.get("last_verified") or number.get("source_date") or "undated"
            hours = f", {number['opening_hours']}" if number.get("opening_hours") else ""
            state = f"{number.get('status')}, {dated}"
            say(f"  {number['phone']}: {number['name']}{hours} ({state})")
        say(data["national_lines"]["caveat"]["en"])


def _hours(minutes: float) -> str:
    h, m = divmod(round(minutes), 60)
    return f"{h} h {m:02d}" if h else f"{m} min"
