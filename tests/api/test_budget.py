"""The heavy-work budget (api.http.budget): a few at once, a short queue, Busy beyond."""

from __future__ import annotations

import threading
import time

import pytest

from api.http.budget import Busy, WorkBudget


def test_runs_at_most_workers_at_once_queues_the_next_and_refuses_the_rest():
    budget = WorkBudget("test", workers=2, queue=2)
    running, peak, results = [0], [0], []
    lock = threading.Lock()

    def request() -> None:
        try:
            with budget.slot():
                with lock:
                    running[0] += 1
                    peak[0] = max(peak[0], running[0])
                time.sleep(0.3)
                with lock:
                    running[0] -= 1
            results.append("ok")
        except Busy as exc:
            results.append(exc)

    threads = [threading.Thread(target=request) for _ in range(6)]
    for t in threads:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join()
    refused = [r for r in results if isinstance(r, Busy)]
    assert results.count("ok") == 4 and len(refused) == 2  # 2 run, 2 wait, 2 refused
    assert peak[0] == 2
    assert all(1 <= r.retry_after <= 60 for r in refused)
    state = budget.state()
    assert state["refused"] == 2 and state["done"] == 4 and state["running"] == 0


def test_errors_pass_through_and_free_the_place():
    budget = WorkBudget("test", workers=1, queue=0)
    with pytest.raises(KeyError), budget.slot():
        raise KeyError("x")
    with budget.slot():
        pass
    assert budget.state()["done"] == 2
    with pytest.raises(ValueError, match="workers"):
        WorkBudget("bad", workers=0)


def test_a_request_waiting_too_long_is_refused():
    budget = WorkBudget("test", workers=1, queue=1, wait_s=0.2)
    hold = threading.Event()

    def long() -> None:
        with budget.slot():
            hold.wait(2)

    t = threading.Thread(target=long)
    t.start()
    time.sleep(0.05)
    with pytest.raises(Busy), budget.slot():
        pass
    hold.set()
    t.join()
