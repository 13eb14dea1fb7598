"""`orienter serve` (the app) and `orienter up` (fetch, build, serve)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from api.cli._console import fail, say
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
            help="Worker processes; they share one copy of the layers and tables (loaded "
            "once, then forked).  Two use both cores of a small machine.",
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
        return
    from api.http.prefork import bind, can_fork, serve_forked

    if not can_fork():  # each worker process builds its own app and loads everything
        uvicorn.run("api.http.app:create_app", factory=True, workers=workers, **options)
        return
    from api.http.app import preload_app, worker_ended

    # one process loads the layers and computes the opening tables, then forks the
    # workers, which share those pages instead of each holding a copy (api/http/prefork.py)
    del options["host"], options["port"]
    try:  # first: a port in use fails before the long load
        sock = bind(host, port)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise fail(f"--port: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    code = serve_forked(preload_app, sock, workers=workers, options=options, ended=worker_ended)
    if code:
        raise typer.Exit(code)


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
