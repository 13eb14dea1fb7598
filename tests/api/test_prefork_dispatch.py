"""``serve_forked`` shares the connections out evenly and survives a worker's death.

A tiny ASGI app that answers with its worker's process id stands in for Orienter (no
data needed): each connection is kept open, so the process id it answers names the
worker that was handed that connection.
"""

from __future__ import annotations

import collections
import http.client
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

SERVER = textwrap.dedent(
    """
    import os, sys
    from api.http.prefork import bind, serve_forked

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(os.getpid()).encode()})

    sock = bind("127.0.0.1", 0)
    print(sock.getsockname()[1], flush=True)
    options = {"log_level": "warning", "access_log": False,
               "http": "api.http.edge:EdgeProtocol"}
    sys.exit(serve_forked(lambda: app, sock, workers=int(sys.argv[1]), options=options))
    """
)


@pytest.fixture
def server():
    proc = subprocess.Popen([sys.executable, "-c", SERVER, "2"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        _wait(lambda: len(_workers(proc)) == 2, "two workers")
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait(predicate, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _workers(proc) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children()


def _answered_by(port: int, n: int) -> collections.Counter:
    """Open ``n`` connections at once, ask once on each (they stay open meanwhile): how
    many each worker answered."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(n)]
    for conn in conns:
        conn.connect()
    try:
        pids = []
        for conn in conns:
            conn.request("GET", "/")
            response = conn.getresponse()
            assert response.status == 200
            pids.append(int(response.read()))
        return collections.Counter(pids)
    finally:
        for conn in conns:
            conn.close()


def test_connections_are_shared_out_evenly(server):
    port, proc = server
    workers = {w.pid for w in _workers(proc)}
    for _ in range(3):  # burst after burst: each is split evenly
        counts = _answered_by(port, 16)
        assert set(counts) == workers
        assert sorted(counts.values()) == [8, 8], counts


def test_a_dead_worker_is_skipped_then_replaced(server):
    port, proc = server
    first, _second = _workers(proc)
    first.kill()
    first.wait(10)
    counts = _answered_by(port, 8)  # every connection answered, none lost to the dead
    assert first.pid not in counts
    _wait(lambda: len(_workers(proc)) == 2, "a new worker in place of the dead one")
    counts = _answered_by(port, 8)
    assert {w.pid for w in _workers(proc)} == set(counts), counts
    assert sorted(counts.values()) == [4, 4], counts


def test_stopping_ends_every_worker(server):
    port, proc = server
    children = _workers(proc)
    assert _answered_by(port, 2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=40) == 0
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive
