"""`orienter serve` (the app) and `orienter up` (fetch, build, serve)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from api.cli._console import say
from api.cli.build import build

__all__ = ["serve", "up"]


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=16,
            help="Worker processes; the layers are memory-mapped, so workers share one "
            "copy of them.  Two use both cores of a small machine.",
        ),
    ] = 1,
) -> None:
    """Serve the API on http://HOST:PORT (no access log: queries are never recorded)."""
    import uvicorn

    say(
        f"Orienter on http://{host}:{port}/  (pages: /, /trouver, /planifier, /regions/ML05;"
        " API: /api/v1/..., documentation: /docs)"
    )
    options: dict[str, Any] = {
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
    from api.cli.data import fetch

    try:
        fetch()
    except typer.Exit as exc:
        if exc.exit_code:
            raise
    build()
    serve(host=host, port=port)
