"""One worker thread where the newest request wins (as napari runs its heavy work): no Qt, no torch.

Every request names a *lane* (``"render"``, ``"open"``, ``"thumbnails"``...). A new request on a lane cancels
the lane's older pending request and flags its running one (the function sees ``job.cancelled`` and may stop
early; either way the caller drops its result). Among pending requests the worker runs the lowest
``priority`` number first, first come first served among equals, so a click waits at most for the one job
already running, never behind a queue of background work.

Every submitted job is reported exactly once, on the worker thread, through ``on_done`` (a cancelled job that
never ran too, with ``state == "cancelled"``), so a caller can count what is outstanding.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"

T = TypeVar("T")  # what a job's function returns


@dataclass(eq=False)
class Job(Generic[T]):
    """One request. ``fn(job)`` runs on the worker; it may read ``job.cancelled`` to stop early; its value is
    ``result`` once ``state == "done"`` (None before)."""

    lane: str
    fn: Callable[[Job[T]], T]
    priority: int = 0
    seq: int = 0
    state: str = PENDING
    result: T | None = None
    error: BaseException | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once a newer request on the lane (or `cancel`) has superseded this one."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has been reported; False on timeout (tests and the CLI, never the GUI)."""
        return self._finished.wait(timeout)


class LatestWins:
    """A single-worker executor with per-lane latest-wins cancellation and priorities.

    ``on_done(job)`` is called on the worker thread after each job, whatever its state; exceptions raised by
    a job are kept in ``job.error`` (state ``"failed"``), never lost.
    """

    def __init__(self, on_done: Callable[[Job], None] | None = None, *, name: str = "aurascope-compute") -> None:
        self._on_done = on_done
        self._cond = threading.Condition()
        self._heap: list[tuple[int, int, Job]] = []
        self._lanes: set[str] = set()
        self._running: Job | None = None
        self._seq = itertools.count()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # --- caller side -------------------------------------------------------------------------------------
    def submit(self, lane: str, fn: Callable[[Job[T]], T], *, priority: int = 0, replace: bool = True) -> Job[T]:
        """Queue ``fn`` on ``lane``. With ``replace`` (the default) older jobs of the lane are cancelled;
        ``replace=False`` queues behind them (chunks of one background task)."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("the executor has been shut down")
            if replace:
                self._cancel_lane_locked(lane)
            job = Job(lane, fn, priority, next(self._seq))
            heapq.heappush(self._heap, (priority, job.seq, job))
            self._lanes.add(lane)
            self._cond.notify()
            return job

    def cancel_lane(self, lane: str) -> None:
        """Cancel every pending job of ``lane`` and flag its running one."""
        with self._cond:
            self._cancel_lane_locked(lane)

    def cancel_all(self) -> None:
        with self._cond:
            for lane in self._lanes:
                self._cancel_lane_locked(lane)

    def _cancel_lane_locked(self, lane: str) -> None:
        for _, _, job in self._heap:
            if job.lane == lane:
                job.cancel()
        if self._running is not None and self._running.lane == lane:
            self._running.cancel()

    @property
    def busy(self) -> bool:
        """A job is running or waiting."""
        with self._cond:
            return self._running is not None or any(not j.cancelled for _, _, j in self._heap)

    def shutdown(self, wait: bool = True, timeout: float | None = 5.0) -> None:
        """Cancel everything and stop the worker (after the job it is running, if ``wait``)."""
        with self._cond:
            self._stopping = True
            for _, _, job in self._heap:
                job.cancel()
            if self._running is not None:
                self._running.cancel()
            self._cond.notify_all()
        if wait and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # --- worker side ----------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._stopping:
                    self._cond.wait()
                if not self._heap:
                    return
                _, _, job = heapq.heappop(self._heap)
                if not job.cancelled:
                    job.state = RUNNING
                    self._running = job
            if job.state == RUNNING:
                try:
                    job.result = job.fn(job)
                    job.state = CANCELLED if job.cancelled else DONE
                except BaseException as err:  # reported to the caller through job.error, never swallowed
                    job.error = err
                    job.state = CANCELLED if job.cancelled else FAILED
                with self._cond:
                    self._running = None
            else:
                job.state = CANCELLED
            self._report(job)

    def _report(self, job: Job) -> None:
        try:
            if self._on_done is not None:
                self._on_done(job)
        except Exception:  # a broken receiver must not kill the worker; say so on stderr
            traceback.print_exc()
        finally:
            job._finished.set()
