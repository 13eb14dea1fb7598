"""A bounded budget for heavy work: a few at once, a short queue, and 503 beyond.

What-ifs, siting, briefings and coverage tables computed on demand take from a tenth of
a second to several seconds and hundreds of megabytes.  Run at will in the server's
shared thread pool, a flood of them starved the pages, and nothing bounded their memory.
A :class:`WorkBudget` lets ``workers`` of them run at once and ``queue`` more wait, and
refuses anything beyond with :class:`Busy` (a 503 with ``Retry-After``).  The pages and
``/api/v1/nearest`` never enter it, so they keep the rest of the pool however many heavy
requests arrive.

One budget serves the whole server: its counters and its semaphore live in memory shared
with the processes forked after it is made (``orienter serve --workers N``,
:mod:`api.http.prefork`), so N workers run ``workers`` heavy computations between them,
not N times as many.  A worker that dies holding places gives them back through
:meth:`WorkBudget.recover`, called by the process that reaps it.

Usage in a route (:func:`api.http.deps.heavy_work`)::

    with budget.slot():
        answer = compute()
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Busy", "WorkBudget"]

#: Seconds a request waits for the budget's own lock (held for microseconds at a time)
#: before it is refused: only a process that died inside it holds it longer.
LOCK_WAIT_S = 5.0

# the shared counters (RawArray of doubles)
_REFUSED, _DONE, _SECONDS = range(3)


def _context() -> multiprocessing.context.BaseContext:
    """The fork context where there is one: its locks are unlinked at once and need no
    resource-tracker process (the workers are forked, never spawned)."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


class Busy(Exception):
    """The budget is full: answer 503 and ask the client to retry after ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy; retry after {retry_after} s")
        self.retry_after = retry_after


class WorkBudget:
    """At most ``workers`` heavy computations at once and ``queue`` waiting, in this
    process and every process forked from it after.

    A route runs its heavy work inside :meth:`slot`; the thread waits there for a free
    worker while fewer than ``queue`` others wait, and gets :class:`Busy` otherwise (or
    after ``wait_s`` seconds of waiting).  So heavy requests occupy at most
    ``workers + queue`` threads of the server's pools, and the pages keep the others.

    Each admitted request holds a place in a shared table (its process id, and whether
    it runs), so the places of a process that died can be given back (:meth:`recover`).

    Parameters
    ----------
    name
        Names the budget in ``/api/v1/health``.
    workers
        Computations running at once.
    queue
        Requests that may wait for a free worker; more are refused with :class:`Busy`.
    wait_s
        The longest a request waits in the queue before :class:`Busy`.
    """

    def __init__(
        self, name: str, *, workers: int = 1, queue: int = 4, wait_s: float = 60.0
    ) -> None:
        if workers < 1 or queue < 0 or not wait_s > 0:
            raise ValueError(
                f"workers must be >= 1, queue >= 0 and wait_s > 0, got {workers}, {queue}, {wait_s}"
            )
        self.name = name
        self.workers = workers
        self.queue = queue
        self.wait_s = wait_s
        # process-shared (fork): a semaphore for the running places, a lock for the table
        ctx = _context()
        self._running = ctx.BoundedSemaphore(workers)
        self._lock = ctx.Lock()
        self._holder = ctx.RawArray(ctypes.c_long, workers + queue)  # pid, 0 when free
        self._runs = ctx.RawArray(ctypes.c_byte, workers + queue)
        self._figures = ctx.RawArray(ctypes.c_double, 3)
        self._figures[_SECONDS] = 1.0  # running mean of a computation's duration

    @property
    def refused(self) -> int:
        """Requests refused so far, by every process of the budget."""
        return int(self._figures[_REFUSED])

    @property
    def done(self) -> int:
        """Computations finished so far, by every process of the budget."""
        return int(self._figures[_DONE])

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if not self._lock.acquire(timeout=LOCK_WAIT_S):
            raise Busy(1)
        try:
            yield
        finally:
            self._lock.release()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Run the ``with`` block as one heavy computation, or raise :class:`Busy`."""
        with self._locked():
            place = next((i for i, pid in enumerate(self._holder) if pid == 0), None)
            if place is None:
                self._figures[_REFUSED] += 1
                raise Busy(self._retry_after())
            self._holder[place] = os.getpid()
        try:
            if not self._running.acquire(timeout=self.wait_s):
                with self._locked():
                    self._figures[_REFUSED] += 1
                raise Busy(self._retry_after())
            self._runs[place] = 1
            started = time.perf_counter()
            try:
                yield
            finally:
                # released before the mark is cleared: a process dying in between leaves
                # a mark that recover() releases once more, which a bounded semaphore
                # refuses, never a place lost for good
                self._running.release()
                self._runs[place] = 0
                seconds = time.perf_counter() - started
                if self._lock.acquire(timeout=LOCK_WAIT_S):  # figures only: never raise here
                    self._figures[_SECONDS] = 0.8 * self._figures[_SECONDS] + 0.2 * seconds
                    self._figures[_DONE] += 1
                    self._lock.release()
        finally:
            self._holder[place] = 0  # one word: a place is free the moment it reads 0

    def recover(self, pid: int) -> int:
        """Give back the places of process ``pid``, which ended without releasing them
        (killed during a heavy computation); the number of places freed.  Called by the
        process that reaps it (:mod:`api.http.prefork`), never for a live process."""
        if not self._lock.acquire(timeout=1.0):
            # the lock is held for microseconds at a time: held a second, it was held by
            # the process that died; take it over
            self._lock.release()
            self._lock.acquire()
        try:
            freed = 0
            for place, holder in enumerate(self._holder):
                if holder != pid:
                    continue
                if self._runs[place]:
                    self._runs[place] = 0
                    # a ValueError: it had released its place before it died
                    with contextlib.suppress(ValueError):
                        self._running.release()
                self._holder[place] = 0
                freed += 1
            return freed
        finally:
            self._lock.release()

    def _retry_after(self) -> int:
        """Seconds until a place is likely free: the queue ahead times a computation."""
        admitted = sum(1 for pid in self._holder if pid)
        waves = (admitted + 1) / self.workers
        return max(1, min(60, math.ceil(waves * self._figures[_SECONDS])))

    def state(self) -> dict:
        """Figures for ``/api/v1/health``: the whole budget, every worker process's share."""
        with self._locked():
            admitted = sum(1 for pid in self._holder if pid)
            running = sum(self._runs)
            return {
                "workers": self.workers,
                "queue": self.queue,
                "running": running,
                "waiting": admitted - running,
                "done": self.done,
                "refused": self.refused,
                "mean_seconds": round(self._figures[_SECONDS], 2),
            }
