"""A bounded budget for heavy work: a few at once, a short queue, and 503 beyond.

What-ifs, siting, briefings and coverage tables computed on demand take from a tenth of
a second to several seconds and hundreds of megabytes.  Run in the server's shared
thread pool, a flood of them starved the pages, and nothing bounded their memory.
A :class:`WorkBudget` runs them in a pool of its own (``workers`` threads), lets
``queue`` more wait, and refuses anything beyond with :class:`Busy` (a 503 with
``Retry-After``).  The pages and ``/api/v1/nearest`` never enter it, so they stay fast
however many heavy requests arrive.

Usage in an async route::

    result = await request.app.state.heavy.run(compute, arg1, arg2)
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["Busy", "WorkBudget"]

T = TypeVar("T")


class Busy(Exception):
    """The budget is full: answer 503 and ask the client to retry after ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy; retry after {retry_after} s")
        self.retry_after = retry_after


class WorkBudget:
    """At most ``workers`` heavy computations at once and ``queue`` waiting.

    Parameters
    ----------
    name
        Names the threads (``orienter-<name>``) and the budget in ``/api/v1/health``.
    workers
        Computations running at once (threads of the budget's own pool).
    queue
        Requests that may wait for a free worker; more are refused with :class:`Busy`.
    """

    def __init__(self, name: str, *, workers: int = 1, queue: int = 4) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(f"workers must be >= 1 and queue >= 0, got {workers}, {queue}")
        self.name = name
        self.workers = workers
        self.queue = queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"orienter-{name}")
        self._lock = threading.Lock()
        self._admitted = 0  # running + waiting
        self._seconds = 1.0  # running mean of a computation's duration
        self.refused = 0
        self.done = 0

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in the budget's pool, or raise :class:`Busy`."""
        with self._lock:
            if self._admitted >= self.workers + self.queue:
                self.refused += 1
                raise Busy(self._retry_after())
            self._admitted += 1
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._pool, functools.partial(self._timed, fn, *args, **kwargs)
            )
        finally:
            with self._lock:
                self._admitted -= 1

    def _timed(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds = time.perf_counter() - started
            with self._lock:
                self._seconds = 0.8 * self._seconds + 0.2 * seconds
                self.done += 1

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

    def shutdown(self) -> None:
        """Stop the pool (the app's shutdown)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
