"""The heavy-work budget (api.http.budget): a few at once, a short queue, Busy beyond."""

from __future__ import annotations

import os
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


def _in_child(work) -> int:
    """Run ``work()`` in a forked child; its exit status (0 when it returned True)."""
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        code = 1
        try:
            code = 0 if work() else 1
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _refused(budget: WorkBudget) -> bool:
    try:
        with budget.slot():
            return False
    except Busy:
        return True


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forked workers are POSIX only")
def test_processes_forked_after_it_share_one_budget():
    budget = WorkBudget("test", workers=1, queue=0)
    with budget.slot():  # this process holds the only place: a forked worker is refused
        assert _in_child(lambda: _refused(budget)) == 0
        assert budget.state()["refused"] == 1  # counted for the whole budget
    # and what the child does is counted here
    assert _in_child(lambda: not _refused(budget)) == 0
    assert budget.state()["done"] == 2 and budget.state()["running"] == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forked workers are POSIX only")
def test_the_places_of_a_process_that_died_are_given_back():
    budget = WorkBudget("test", workers=1, queue=1, wait_s=0.2)

    def die_inside() -> bool:
        with budget.slot():
            os._exit(3)  # killed in the middle of its heavy work: nothing released

    pid = os.fork()
    if pid == 0:
        try:
            die_inside()
        finally:
            os._exit(1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 3
    assert budget.state()["running"] == 1
    with pytest.raises(Busy), budget.slot():  # waits its 0.2 s in the queue, refused
        pass
    assert budget.recover(os.getpid()) == 0  # nothing of a live process is touched
    assert budget.recover(pid) == 1
    assert budget.state()["running"] == 0 and budget.state()["waiting"] == 0
    with budget.slot():
        pass
