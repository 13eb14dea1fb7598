"""The heavy-work budget (api.http.budget): a few at once, a short queue, Busy beyond."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from api.http.budget import Busy, WorkBudget


def test_runs_at_most_workers_at_once_queues_the_next_and_refuses_the_rest():
    budget = WorkBudget("test", workers=2, queue=2)
    running, peak = [0], [0]
    lock = threading.Lock()

    def work(seconds: float) -> str:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(seconds)
        with lock:
            running[0] -= 1
        return "ok"

    async def main():
        tasks = [asyncio.create_task(budget.run(work, 0.3)) for _ in range(6)]
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    done = [r for r in results if r == "ok"]
    refused = [r for r in results if isinstance(r, Busy)]
    assert len(done) == 4 and len(refused) == 2  # 2 running + 2 waiting, 2 refused
    assert peak[0] == 2
    assert all(1 <= r.retry_after <= 60 for r in refused)
    state = budget.state()
    assert state["refused"] == 2 and state["done"] == 4 and state["running"] == 0
    budget.shutdown()


def test_errors_pass_through_and_free_the_place():
    budget = WorkBudget("test", workers=1, queue=0)

    def boom():
        raise KeyError("x")

    async def main():
        with pytest.raises(KeyError):
            await budget.run(boom)
        return await budget.run(lambda: 7)

    assert asyncio.run(main()) == 7
    with pytest.raises(ValueError, match="workers"):
        WorkBudget("bad", workers=0)
