"""Several worker processes that share one loaded copy of the app (``--workers N``).

The parent loads everything the routes share (layers, coverage tables, gazetteer) and
computes the warm-up tables once, takes them out of the cyclic garbage collector's reach
(``gc.freeze``, so no collection writes to their pages), then forks the workers.  The
children inherit those pages copy-on-write: a second worker costs its own request
handling, not another copy of the tables (uvicorn's own ``--workers`` starts each worker
from scratch, each loading and computing everything again).  The memory-mapped build
files are shared either way.

The parent binds the socket, forks ``workers`` children, restarts a child that dies (at
most :data:`MAX_RESTARTS` a minute), and on SIGINT or SIGTERM stops them gracefully
(uvicorn finishes the requests in flight) and exits.  Linux and macOS only (``os.fork``);
elsewhere uvicorn's workers are used.

The parent also accepts the connections and hands them to the workers in turn, each
over a Unix socket of its own (the descriptor itself is passed).  Left to themselves,
workers sharing a listening socket take connections unevenly: the one whose event loop
is free first takes a whole burst (a client opening 64 connections at once left 50 on one
worker and 14 on the other), so one core answers most requests while the other waits,
and every request on the busy worker waits longer.  (Handing a connection to the worker
holding the fewest was tried: a worker counts a closed connection only after answering
the requests in hand, so a burst right after another went to the wrong worker.)  A worker
serves the connections it is handed with uvicorn, as it would its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

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
    """A listening TCP socket on ``host:port`` (OSError when the port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


class _Dispatcher:
    """The parent's side: accepts connections and passes each to a worker."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.channels: dict[int, socket.socket] = {}  # worker: the parent's end
        self._turn = 0

    def attach(self, worker: int) -> socket.socket:
        """A channel to a new worker in place ``worker``; the worker's end is returned."""
        self.detach(worker)
        # a stream (macOS has no AF_UNIX SOCK_SEQPACKET): each descriptor travels with
        # one byte, so a read of up to 16 bytes takes at most 16 descriptors (_take)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setblocking(False)
        self.channels[worker] = ours
        return theirs

    def detach(self, worker: int) -> None:
        channel = self.channels.pop(worker, None)
        if channel is not None:
            channel.close()

    def close(self) -> None:
        for worker in list(self.channels):
            self.detach(worker)

    def dispatch(self) -> None:
        """Accept every waiting connection and hand each out."""
        while True:
            try:
                conn, _address = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors, a reset before accept...
                log.warning("accept failed: %s", type(exc).__name__)
                return
            with conn:  # the worker holds its own copy once passed
                self._hand(conn)

    def _hand(self, conn: socket.socket) -> None:
        """To the workers in turn (the next one if a worker is gone or not reading)."""
        workers = sorted(self.channels)
        for i in range(len(workers)):
            worker = workers[(self._turn + i) % len(workers)]
            try:
                socket.send_fds(self.channels[worker], [b"c"], [conn.fileno()])
            except OSError:
                continue
            self._turn = (self._turn + i + 1) % len(workers)
            return
        log.warning("no worker could take a connection")


class _SharingServer(uvicorn.Server):
    """uvicorn's server for the connections the parent hands this worker (lifespan,
    protocol and graceful shutdown are uvicorn's)."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self._channel = channel
        self._opening: set[asyncio.Task[None]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        self.servers = []  # no listening server: connections come over the channel
        self._channel.setblocking(False)
        asyncio.get_running_loop().add_reader(self._channel.fileno(), self._take)
        self.started = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().remove_reader(self._channel.fileno())
        self._channel.close()  # no more connections; the parent hands them elsewhere
        await super().shutdown(sockets=sockets)

    def _take(self) -> None:
        """Serve each connection waiting on the channel."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                msg, fds, _flags, _address = socket.recv_fds(self._channel, 16, 16)
            except (BlockingIOError, InterruptedError):
                return
            if not msg and not fds:  # the parent is gone
                loop.remove_reader(self._channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                conn = socket.socket(fileno=fd)
                conn.setblocking(False)
                # an answer is written in two pieces (head, body): without this, the
                # body waits for the client's delayed acknowledgement of the head
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                task = loop.create_task(self._open(conn))
                self._opening.add(task)
                task.add_done_callback(self._opening.discard)

    async def _open(self, conn: socket.socket) -> None:
        config = self.config
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: config.http_protocol_class(  # type: ignore[call-arg]
                    config=config, server_state=self.server_state, app_state=self.lifespan.state
                ),
                conn,
            )
        except OSError:  # the client left before its connection was set up
            conn.close()


def _child(app: Any, channel: socket.socket, options: dict[str, Any]) -> None:
    """Serve the connections handed over ``channel`` with uvicorn until SIGINT/SIGTERM
    (uvicorn installs the handlers)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    config = uvicorn.Config(app, **options)
    _SharingServer(config, channel).run()


def _after_worker(ended: Callable[[Any, int], object] | None, app: Any, pid: int) -> None:
    """Call ``ended(app, pid)`` for a worker that ended; the parent goes on whatever it
    raises (and says so)."""
    if ended is None:
        return
    try:
        ended(app, pid)
    except Exception as exc:
        log.warning("after a worker ended: %s", type(exc).__name__)


def serve_forked(
    make_app: Callable[[], Any],
    sock: socket.socket,
    *,
    workers: int,
    options: dict[str, Any],
    ended: Callable[[Any, int], object] | None = None,
) -> int:
    """Load the app with ``make_app()`` (its state loaded and warmed), fork ``workers``
    children, hand them the connections of ``sock`` (from :func:`bind`, before the long
    load), supervise them; the exit status.  ``ended(app, pid)``: for each that ends."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    app = make_app()
    gc.collect()
    gc.freeze()  # the loaded state stays untouched by collections: shared, not copied
    children: dict[int, int] = {}  # pid: the worker's place
    sock.setblocking(False)
    dispatcher = _Dispatcher(sock)
    stopping = False
    restarts: list[float] = []

    def spawn(worker: int) -> None:
        channel = dispatcher.attach(worker)
        pid = os.fork()
        if pid == 0:  # the worker: only its own channel
            code = 0
            try:
                sock.close()
                for other in dispatcher.channels.values():
                    other.close()
                _child(app, channel, options)
            except BaseException:  # the child must never return into the parent's CLI
                log.exception("worker failed")
                code = 1
            finally:
                os._exit(code)
        channel.close()  # the worker's end is the worker's
        children[pid] = worker

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def reap() -> None:
        """Replace each worker that ended (unless stopping)."""
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                return
            if pid == 0:
                return
            worker = children.pop(pid, -1)
            if worker < 0:
                continue
            dispatcher.detach(worker)
            _after_worker(ended, app, pid)
            if stopping:
                continue
            now = time.monotonic()
            restarts[:] = [t for t in restarts if now - t < 60.0] + [now]
            log.warning("a worker ended (status %s); starting another", status)
            if len(restarts) > MAX_RESTARTS:
                log.error("workers keep ending; stopping the server")
                stop(signal.SIGTERM, None)
                continue
            spawn(worker)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    selector = selectors.DefaultSelector()
    try:
        for worker in range(workers):
            spawn(worker)
        selector.register(sock, selectors.EVENT_READ)
        accepting = True
        deadline: float | None = None
        while children:
            if stopping and accepting:  # no new connections; the workers finish theirs
                selector.unregister(sock)
                accepting = False
                deadline = time.monotonic() + STOP_GRACE_S
            if selector.select(timeout=0.2) and accepting:
                dispatcher.dispatch()
            reap()
            if deadline is not None and time.monotonic() > deadline:
                for child in list(children):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child, signal.SIGKILL)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        selector.close()
        dispatcher.close()
        sock.close()
    return 0 if stopping else 1
