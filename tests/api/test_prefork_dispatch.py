"""``serve_forked`` shares the connections out evenly, survives a worker's death, and
its workers share one heavy-work budget.

A tiny ASGI app that answers with its worker's process id stands in for Orienter (no
data needed): each connection is kept open, so the process id it answers names the
worker that was handed that connection.  Its ``/heavy?S`` holds a place of a budget of
one (made before the fork, as Orienter's is) for S seconds, 503 when none is free.
"""

from __future__ import annotations

import collections
import http.client
import json
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

SERVER = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    from api.http.budget import Busy, WorkBudget
    from api.http.prefork import bind, serve_forked

    budget = WorkBudget("test", workers=1, queue=0)

    def heavy(seconds):
        try:
            with budget.slot():
                time.sleep(seconds)
            return 200
        except Busy:
            return 503

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        status, body = 200, str(os.getpid()).encode()
        if scope["path"] == "/heavy":
            status = await asyncio.to_thread(heavy, float(scope["query_string"].decode()))
        elif scope["path"] == "/budget":
            body = json.dumps(budget.state()).encode()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})

    sock = bind("127.0.0.1", 0)
    print(sock.getsockname()[1], flush=True)
    options = {"log_level": "warning", "access_log": False,
               "http": "api.http.edge:EdgeProtocol"}
    sys.exit(serve_forked(lambda: app, sock, workers=int(sys.argv[1]), options=options,
                          ended=lambda _app, pid: budget.recover(pid)))
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


def _ask(port: int, path: str) -> tuple[int, bytes]:
    """One request on a new connection (the next worker's turn): status and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_the_workers_share_one_heavy_work_budget(server):
    port, proc = server
    workers = {w.pid for w in _workers(proc)}
    holder = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    holder.request("GET", "/")
    busy_worker = int(holder.getresponse().read())
    holder.request("GET", "/heavy?60")  # its answer is never read: the worker dies first
    try:
        _wait(lambda: json.loads(_ask(port, "/budget")[1])["running"] == 1, "the place taken")
        # the one place is held in one worker: both workers refuse the next heavy request
        answers = [_ask(port, "/heavy?0") for _ in range(4)]
        assert [status for status, _ in answers] == [503] * 4
        assert {int(body) for _, body in answers} == workers
        # the worker dies in the middle of its heavy work: the parent gives its place back
        dying = psutil.Process(busy_worker)
        dying.kill()
        dying.wait(10)  # gone: no connection is handed to it any more
        _wait(lambda: json.loads(_ask(port, "/budget")[1])["running"] == 0, "the place back")
        _wait(lambda: len(_workers(proc)) == 2, "a new worker in place of the dead one")
        assert [_ask(port, "/heavy?0")[0] for _ in range(2)] == [200, 200]
    finally:
        holder.close()
