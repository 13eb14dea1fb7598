"""Several worker processes that share one loaded copy of the app (``--workers N``).

The parent loads everything the routes share (layers, coverage tables, gazetteer) and
computes the warm-up tables once, takes them out of the cyclic garbage collector's reach
(``gc.freeze``, so no collection writes to their pages), then forks the workers.  The
children inherit those pages copy-on-write: a second worker costs its own request
handling, not another copy of the tables (uvicorn's own ``--workers`` starts each worker
from scratch, each loading and computing everything again).  The memory-mapped build
files are shared either way.

The parent binds the socket, forks ``workers`` children that each serve it with
uvicorn, restarts a child that dies (at most :data:`MAX_RESTARTS` a minute), and on
SIGINT or SIGTERM stops them gracefully (uvicorn finishes the requests in flight) and
exits.  Linux and macOS only (``os.fork``); elsewhere uvicorn's workers are used.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_RESTARTS", "bind", "can_fork", "serve_forked"]

log = logging.getLogger(__name__)

#: Children that may die and be restarted within a minute before the server gives up.
MAX_RESTARTS = 5
#: Seconds the children get to finish after SIGTERM before they are killed.
STOP_GRACE_S = 30.0


def can_fork() -> bool:
    """True where workers can share the parent's memory (POSIX ``fork``)."""
    return hasattr(os, "fork")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` the forked workers inherit (OSError when
    the port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _child(app: Any, sock: socket.socket, options: dict[str, Any]) -> None:
    """Serve ``sock`` with uvicorn until SIGINT/SIGTERM (uvicorn installs the handlers)."""
    import uvicorn

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    config = uvicorn.Config(app, **options)
    uvicorn.Server(config).run(sockets=[sock])


def serve_forked(
    make_app: Callable[[], Any],
    sock: socket.socket,
    *,
    workers: int,
    options: dict[str, Any],
) -> int:
    """Load the app with ``make_app()`` (its state loaded and warmed), fork ``workers``
    children serving ``sock`` (from :func:`bind`, before the long load), supervise them;
    the exit status of the server."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    app = make_app()
    gc.collect()
    gc.freeze()  # the loaded state stays untouched by collections: shared, not copied
    children: dict[int, float] = {}
    stopping = False
    restarts: list[float] = []

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                _child(app, sock, options)
            except BaseException:  # the child must never return into the parent's CLI
                log.exception("worker failed")
                code = 1
            finally:
                os._exit(code)
        children[pid] = time.monotonic()

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for _ in range(workers):
            spawn()
        deadline: float | None = None
        while children:
            if stopping and deadline is None:
                deadline = time.monotonic() + STOP_GRACE_S
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if deadline is not None and time.monotonic() > deadline:
                    for child in list(children):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(child, signal.SIGKILL)
                time.sleep(0.2)
                continue
            children.pop(pid, None)
            if stopping:
                continue
            now = time.monotonic()
            restarts[:] = [t for t in restarts if now - t < 60.0] + [now]
            log.warning("a worker ended (status %s); starting another", status)
            if len(restarts) > MAX_RESTARTS:
                log.error("workers keep ending; stopping the server")
                stop(signal.SIGTERM, None)
                continue
            spawn()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sock.close()
    return 0 if stopping else 1
