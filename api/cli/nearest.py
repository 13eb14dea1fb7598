"""`orienter build` and `orienter nearest`."""

from __future__ import annotations

import json
import os
import time
from typing import Annotated

import typer
from rich.table import Table

from api.build.layers import NotBuiltError, answer_nearest, load_layers, token_is_valid
from api.build.pipeline import SERVICE_KEYS, build_all
from api.cli._console import console, err_console, fail, progress
from api.settings import get_settings
from geo.errors import DataFileError, DataValidationError


def build(
    mode: Annotated[
        list[str] | None, typer.Option("--mode", help="Only these modes (repeat the option).")
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", help="Only these scenarios (baseline, slowed, avoid; repeat)."),
    ] = None,
) -> None:
    """Build every travel-time layer (graphs, provider matrices, surfaces, isochrones)."""
    settings = get_settings()
    start = time.perf_counter()
    try:
        with progress() as bar:
            tasks: dict[str, int] = {}

            def on_progress(label: str, done: int, total: int) -> None:
                if label not in tasks:
                    tasks[label] = bar.add_task(label, total=total)
                bar.update(tasks[label], completed=done, total=total)

            report = build_all(settings, modes=mode, scenarios=scenario, progress=on_progress)
    except (DataFileError, DataValidationError, ValueError) as exc:
        raise fail(str(exc)) from exc
    table = Table("step", "status", "seconds")
    for step in report.steps:
        table.add_row(step["step"], step["status"], f"{step['seconds']:.1f}")
    console.print(table)
    console.print(f"Built in {time.perf_counter() - start:.1f} s; manifest: {report.manifest_path}")


def nearest(
    lat: Annotated[float | None, typer.Option("--lat", help="Latitude, decimal degrees.")] = None,
    lon: Annotated[float | None, typer.Option("--lon", help="Longitude, decimal degrees.")] = None,
    place: Annotated[
        str | None, typer.Option("--place", help="Settlement name or P-code instead of lat/lon.")
    ] = None,
    service: Annotated[
        str | None, typer.Option("--service", help=f"One of: {', '.join(SERVICE_KEYS)}.")
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="Travel mode: walk, motorbike, car.")] = "car",
    scenario: Annotated[str, typer.Option("--scenario", help="Scenario.")] = "baseline",
    k: Annotated[int, typer.Option("--k", min=1, max=20, help="How many providers.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    routes: Annotated[
        bool, typer.Option("--routes", help="With --json: each route as a GeoJSON line.")
    ] = False,
) -> None:
    """The nearest providers by travel time from a point or a place.

    Confidential providers are shown only when ORIENTER_CASEWORKER_TOKEN holds a valid
    caseworker token.  Nothing about the query is logged or stored.
    """
    settings = get_settings()
    if service is not None and service not in SERVICE_KEYS:
        raise fail(f"--service {service!r} is unknown; allowed: {', '.join(SERVICE_KEYS)}")
    if place is None and (lat is None or lon is None):
        raise fail("give --lat and --lon, or --place")
    place_info = None
    if place is not None:
        from api.cli.places import load_gazetteer

        try:
            gaz = load_gazetteer()
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
        layers = load_layers(settings)
    except NotBuiltError as exc:
        raise fail(str(exc)) from exc
    if mode not in layers.modes:
        raise fail(f"--mode {mode!r} is not built; built: {', '.join(layers.modes)}")
    caseworker = token_is_valid(
        os.environ.get("ORIENTER_CASEWORKER_TOKEN"), settings.caseworker_token_hashes
    )
    try:
        answer = answer_nearest(
            layers,
            lon=float(lon),
            lat=float(lat),
            service=service,
            mode=mode,
            scenario=scenario,
            k=k,
            include_confidential=caseworker,
            place=place_info,
            routes=routes,
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    q = answer["query"]
    where = place_info["name"] if place_info else f"{lat:.4f}, {lon:.4f}"
    console.print(
        f"From [bold]{where}[/] by {mode} ({scenario}); off-road leg "
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
        err_console.print("No provider of this service is known.")


def _hours(minutes: float) -> str:
    h, m = divmod(round(minutes), 60)
    return f"{h} h {m:02d}" if h else f"{m} min"


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=16,
            help="Worker processes; each loads the layers (about 1-2 GB each for a car "
            "build with three scenarios).  Two use both cores of a small machine.",
        ),
    ] = 1,
) -> None:
    """Serve the API on http://HOST:PORT (no access log: queries are never recorded)."""
    import uvicorn

    console.print(
        f"Orienter on http://{host}:{port}/  (pages: /, /trouver, /planifier, /regions/ML05;"
        " API: /api/v1/..., documentation: /docs)"
    )
    options = {
        "host": host,
        "port": port,
        "access_log": False,
        "log_level": "warning",
        # the edge's limits: head size, slow requests, connections (api/http/edge.py)
        "http": "api.http.edge:EdgeProtocol",
        "timeout_keep_alive": 5,
    }
    if workers == 1:
        from api.http.app import create_app

        uvicorn.run(create_app(), **options)
    else:
        # each worker process builds its own app (and loads the layers in its lifespan)
        uvicorn.run("api.http.app:create_app", factory=True, workers=workers, **options)


def up(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
) -> None:
    """The main job: obtain the data, build every layer, then serve the app."""
    from api.cli_data import fetch

    try:
        fetch()
    except typer.Exit as exc:
        if exc.exit_code:
            raise
    build()
    serve(host=host, port=port)
