"""A bounded budget for heavy work: a few at once, a short queue, and 503 beyond.

What-ifs, siting, briefings and coverage tables computed on demand take from a tenth of
a second to several seconds and hundreds of megabytes.  Run at will in the server's
shared thread pool, a flood of them starved the pages, and nothing bounded their memory.
A :class:`WorkBudget` lets ``workers`` of them run at once and ``queue`` more wait, and
refuses anything beyond with :class:`Busy` (a 503 with ``Retry-After``).  The pages and
``/api/v1/nearest`` never enter it, so they keep the rest of the pool however many heavy
requests arrive.

Usage in a route (:func:`api.http.deps.heavy_work`)::

    with budget.slot():
        answer = compute()
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Busy", "WorkBudget"]


class Busy(Exception):
    """The budget is full: answer 503 and ask the client to retry after ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy; retry after {retry_after} s")
        self.retry_after = retry_after


class WorkBudget:
    """At most ``workers`` heavy computations at once and ``queue`` waiting.

    A route runs its heavy work inside :meth:`slot`; the thread waits there for a free
    worker while fewer than ``queue`` others wait, and gets :class:`Busy` otherwise (or
    after ``wait_s`` seconds of waiting).  So heavy requests occupy at most
    ``workers + queue`` threads of the server's pool, and the pages keep the others.

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
        self._running = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()
        self._admitted = 0  # running + waiting
        self._seconds = 1.0  # running mean of a computation's duration
        self.refused = 0
        self.done = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Run the ``with`` block as one heavy computation, or raise :class:`Busy`."""
        with self._lock:
            if self._admitted >= self.workers + self.queue:
                self.refused += 1
                raise Busy(self._retry_after())
            self._admitted += 1
        try:
            if not self._running.acquire(timeout=self.wait_s):
                with self._lock:
                    self.refused += 1
                raise Busy(self._retry_after())
            started = time.perf_counter()
            try:
                yield
            finally:
                self._running.release()
                seconds = time.perf_counter() - started
                with self._lock:
                    self._seconds = 0.8 * self._seconds + 0.2 * seconds
                    self.done += 1
        finally:
            with self._lock:
                self._admitted -= 1

    def _retry_after(self) -> int:
        """Seconds until a place is likely free: the queue ahead times a computation."""
        waves = (self._admitted + 1) / self.workers
        return max(1, min(60, math.ceil(waves * self._seconds)))

    def state(self) -> dict:
        """Figures for ``/api/v1/health``."""
        with self._lock:
            running = min(self._admitted, self.workers)
            return {
                "workers": self.workers,
                "queue": self.queue,
                "running": running,
                "waiting": self._admitted - running,
                "done": self.done,
                "refused": self.refused,
                "mean_seconds": round(self._seconds, 2),
            }
