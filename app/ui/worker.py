"""The one compute worker, seen from Qt: jobs go to `app.core.jobs.LatestWins`, results come back as signals.

The executor reports each job on its worker thread; emitting a signal from there to this QObject (which
lives on the GUI thread) makes Qt queue the call, so every handler runs on the GUI thread. Handlers are
given at submit time; a result is delivered only if its job was not superseded (newest request wins), and a
job that failed is delivered to ``on_error`` with the exception. ``progress`` and ``partial`` let a running job
send intermediate values the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from app.core.jobs import CANCELLED, FAILED, Job, LatestWins

#: lanes and their priority (lower runs first); background lanes yield to interactive ones between chunks
OPEN, RENDER, EXPORT, THUMBNAILS = "open", "render", "export", "thumbnails"
COMPARE, CLIP, CHARACTERISE, REPORT = "compare", "clip", "characterise", "report"
# slot A's loudness for matching (when the clip is too long to measure on the GUI thread), and A/B's matched gains
# before a blind test: two lanes, so that neither request supersedes the other (the newest wins within a lane)
LEVEL, LOUDNESS = "level", "loudness"
ATLAS, EXCERPTS, EXCERPT = "atlas", "excerpts", "excerpt"  # the Top excerpts panel: open, list a map's, render one
FINDINGS = "findings"  # a clip's energies and predictions: after its first map is playable
PRIORITY = {
    OPEN: 0,
    CLIP: 0,
    RENDER: 1,
    COMPARE: 1,
    LEVEL: 1,
    LOUDNESS: 1,
    ATLAS: 1,
    EXCERPTS: 1,
    EXCERPT: 1,
    FINDINGS: 2,
    EXPORT: 2,
    CHARACTERISE: 2,
    REPORT: 2,
    THUMBNAILS: 10,
}


T = TypeVar("T")  # a job's result
V = TypeVar("V")  # a value a running job posts to the GUI thread

#: a job's handlers: on_result(value), on_error(exc), on_dropped() (superseded or cancelled: no result). Kept per
#: job in one dict, so its result type is erased here: `submit` ties each on_result to its own job's type.
_Handlers = tuple[Callable[[Any], None] | None, Callable[[BaseException], None] | None, Callable[[], None] | None]


class ComputeWorker(QObject):
    """Submit work with handlers; they are called on the GUI thread. ``busyChanged(bool, str)`` follows the
    interactive lanes (not thumbnails), for the busy indicator."""

    _finished = Signal(object)
    _message = Signal(object, object)
    busyChanged = Signal(bool, str)
    backgroundChanged = Signal(int)
    drained = Signal()  # nothing left queued or running

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._handlers: dict[Job, _Handlers] = {}
        self._busy: dict[Job, str] = {}
        self._latest: dict[str, Job] = {}
        self._background = 0
        self._closed = False
        self._finished.connect(self._deliver)
        self._message.connect(self._deliver_message)
        self._executor = LatestWins(self._finished.emit)

    def submit(
        self,
        lane: str,
        fn: Callable[[Job[T]], T],
        *,
        on_result: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        busy_text: str | None = None,
        replace: bool = True,
        on_dropped: Callable[[], None] | None = None,
    ) -> Job[T]:
        """Run ``fn(job)`` on the worker; ``on_result(value)`` / ``on_error(exc)`` on the GUI thread, or
        ``on_dropped()`` when the job was cancelled or superseded and has no result to give.

        After `shutdown` (the window is closing) nothing runs: the job comes back cancelled and no handler is
        called, so a timer or a late result that asks for more work on the way out is simply ignored.
        """
        if self._closed:
            job: Job[T] = Job(lane, fn, PRIORITY.get(lane, 3), state=CANCELLED)
            job.cancel()
            return job
        job = self._executor.submit(lane, fn, priority=PRIORITY.get(lane, 3), replace=replace)
        self._handlers[job] = (on_result, on_error, on_dropped)
        if replace:
            self._latest[lane] = job
        if busy_text is not None:
            self._busy[job] = busy_text
            self.busyChanged.emit(True, busy_text)
        elif lane == THUMBNAILS:
            self._background += 1
            self.backgroundChanged.emit(self._background)
        return job

    def post(self, job: Job[T], fn: Callable[[V], None], value: V) -> None:
        """From a running job: call ``fn(value)`` on the GUI thread (partial results, progress), unless the job
        has been superseded by then."""
        self._message.emit((job, fn), value)

    def is_current(self, job: Job[T]) -> bool:
        """Not cancelled, and no newer request on its lane (for lanes where the newest wins)."""
        latest = self._latest.get(job.lane)
        return not job.cancelled and (latest is None or latest is job or job.lane == THUMBNAILS)

    def _deliver_message(self, target: tuple[Job[T], Callable[[V], None]], value: V) -> None:
        job, fn = target
        if self.is_current(job):
            fn(value)

    def cancel(self, lane: str) -> None:
        self._executor.cancel_lane(lane)

    def cancel_all(self) -> None:
        self._executor.cancel_all()

    @property
    def busy(self) -> bool:
        return bool(self._busy)

    @property
    def busy_lanes(self) -> frozenset[str]:
        """The lanes of the interactive jobs queued or running (those submitted with a busy text)."""
        return frozenset(job.lane for job in self._busy)

    @property
    def idle(self) -> bool:
        """Nothing queued or running at all (tests and benchmarks wait for this)."""
        return not self._handlers

    def shutdown(self) -> None:
        """Stop: cancel everything, wait for the running job, and deliver nothing more (no handler runs after)."""
        self._closed = True
        self._executor.shutdown(wait=True, timeout=10.0)

    def _deliver(self, job: Job) -> None:
        try:
            self._deliver_job(job)
        finally:
            if not self._handlers and not self._closed:
                self.drained.emit()

    def _deliver_job(self, job: Job) -> None:
        on_result, on_error, on_dropped = self._handlers.pop(job, (None, None, None))
        if self._closed:
            return  # the window is gone or going: its handlers must not run (or ask for more work)
        if job.lane == THUMBNAILS and job not in self._busy:
            self._background = max(0, self._background - 1)
            self.backgroundChanged.emit(self._background)
        if self._busy.pop(job, None) is not None:
            texts = list(self._busy.values())
            self.busyChanged.emit(bool(texts), texts[-1] if texts else "")
        if self._latest.get(job.lane) is job:
            del self._latest[job.lane]
        elif job.lane in self._latest and job.lane != THUMBNAILS:
            if on_dropped is not None:
                on_dropped()
            return  # a newer request on this lane is on its way: this result is stale
        if job.state == CANCELLED:
            if on_dropped is not None:
                on_dropped()
            return
        if job.state == FAILED:
            if on_error is not None:
                on_error(job.error)  # type: ignore[arg-type]
            else:
                raise job.error  # type: ignore[misc]  (Qt prints it; never silently dropped)
            return
        if on_result is not None:
            on_result(job.result)
