"""`app.core.jobs.LatestWins` (Qt-free; tested here with the window that relies on it): newest request wins,
priorities, every job reported once, errors kept."""

from __future__ import annotations

import threading
import time

import pytest

from app.core.jobs import CANCELLED, DONE, FAILED, LatestWins


@pytest.fixture
def executor():
    reported = []
    ex = LatestWins(reported.append)
    ex.reported = reported
    yield ex
    ex.shutdown()


def test_newest_request_on_a_lane_wins(executor) -> None:
    gate = threading.Event()
    blocker = executor.submit("render", lambda job: gate.wait(5) and "first")
    time.sleep(0.05)  # the first one is running now
    queued = [executor.submit("render", lambda job, i=i: i) for i in range(5)]
    gate.set()
    assert queued[-1].wait(5)
    assert blocker.state == CANCELLED and blocker.cancelled  # flagged while it ran: its result is dropped
    assert [j.state for j in queued[:-1]] == [CANCELLED] * 4  # superseded before they ran: never ran
    assert queued[-1].state == DONE and queued[-1].result == 4
    assert len(executor.reported) == 6 and set(executor.reported) == {blocker, *queued}


def test_a_running_job_sees_it_was_cancelled(executor) -> None:
    seen = []

    def long(job):
        for _ in range(200):
            if job.cancelled:
                seen.append("stopped early")
                return None
            time.sleep(0.005)
        return "ran to the end"

    first = executor.submit("render", long)
    time.sleep(0.05)
    executor.submit("render", lambda job: "newer")
    assert first.wait(5) and seen == ["stopped early"] and first.state == CANCELLED


def test_lower_priority_number_runs_first_and_other_lanes_are_untouched(executor) -> None:
    gate = threading.Event()
    order: list[str] = []
    executor.submit("busy", lambda job: gate.wait(5))
    time.sleep(0.05)
    for i in range(3):
        executor.submit("thumbnails", lambda job, i=i: order.append(f"t{i}"), priority=10, replace=False)
    last = executor.submit("render", lambda job: order.append("render"), priority=1)
    gate.set()
    assert last.wait(5)
    executor.submit("x", lambda job: None).wait(5)
    assert order == ["render", "t0", "t1", "t2"]  # the click jumps the background queue; chunks keep their order


def test_errors_are_kept_not_swallowed(executor) -> None:
    job = executor.submit("open", lambda job: 1 / 0)
    assert job.wait(5) and job.state == FAILED and isinstance(job.error, ZeroDivisionError)
    assert executor.submit("open", lambda job: "still alive").wait(5)  # the worker survives


def test_shutdown_stops_the_worker(executor) -> None:
    executor.shutdown()
    with pytest.raises(RuntimeError):
        executor.submit("render", lambda job: None)
