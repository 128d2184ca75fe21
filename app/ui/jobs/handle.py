"""A long job seen from the window: one `JobHandle` per export, characterisation, report, opening or measurement.

The controller starts the job on its worker and returns the handle; the view connects to its signals (all
delivered on the GUI thread) and may call `JobHandle.cancel`. The job's body never sees the handle's QObject: it
gets plain ``progress(done, total)`` and ``cancelled()`` callables (`submit_job`), so the same core routines
serve the CLI.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from app.core.jobs import Job
from app.ui.worker import ComputeWorker

T = TypeVar("T")  # what a job's body returns: the handle's ``finished`` value

#: a job's body on the worker: ``body(progress, cancelled) -> value``
Body = Callable[[Callable[[int, int], None], Callable[[], bool]], T]


class JobHandle(QObject):
    """What one job reports, in this order, on the GUI thread:

    ``started()`` when the worker begins it; ``progress(done, total)`` as it goes (units are the job's: files,
    (clip, map) pairs); then either ``finished(value)`` with the job's typed result (see the controller method
    that returned the handle) or ``failed(error)`` with the exception (a core error names its file and reason);
    ``ended()`` always comes last, also when the result was dropped (superseded, or for a network no longer
    open), so a progress dialog can always close.
    """

    started = Signal()
    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(object)  # BaseException
    ended = Signal()

    def __init__(self, lane: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lane = lane
        self._stop = threading.Event()
        self.job: Job[Any] | None = None  # a handle's signals carry any job's value: the submitter knows its type
        self.done = False

    def cancel(self) -> None:
        """Ask the job to stop at its next check; what it finished is kept and delivered as ``finished``."""
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        """The listener asked the job to stop (a result delivered after that is partial)."""
        return self._stop.is_set()

    def _end(self) -> None:
        self.done = True
        self.ended.emit()


def submit_job(
    worker: ComputeWorker,
    handle: JobHandle,
    body: Body[T],
    *,
    busy_text: str | None = None,
    replace: bool = True,
    apply: Callable[[T], bool] = lambda value: True,
    owner: set[JobHandle] | None = None,
) -> JobHandle:
    """Run ``body(progress, cancelled)`` on ``worker`` in ``handle``'s lane and report through ``handle``.

    ``apply(value)`` runs on the GUI thread before ``finished``: the controller takes what it keeps of the result,
    and says whether it still applies (False drops it: the handle only ends). A handle submitted again from there
    (a retry) ends with its newer submission. ``owner`` holds the handle until it has ended (the view may keep no
    reference to it).
    """
    if owner is not None:
        owner.add(handle)

    def run(job: Job[T]) -> T:
        worker.post(job, lambda _: handle.started.emit(), None)

        def progress(done: int, total: int) -> None:
            worker.post(job, lambda value: handle.progress.emit(*value), (done, total))

        return body(progress, lambda: handle.cancelled or job.cancelled)

    def finished(value: T) -> None:
        try:
            if apply(value):
                handle.finished.emit(value)
        except Exception as err:  # the controller could not take the result: the job failed (said, not a traceback)
            handle.failed.emit(err)
        finally:
            _ended()

    def failed(error: BaseException) -> None:
        try:
            handle.failed.emit(error)
        finally:
            _ended()

    def _ended() -> None:
        if handle.job is not submitted:
            return  # submitted again meanwhile: that submission ends the handle
        if owner is not None:
            owner.discard(handle)
        handle._end()

    handle.job = submitted = worker.submit(
        handle.lane,
        run,
        on_result=finished,
        on_error=failed,
        on_dropped=_ended,
        busy_text=busy_text,
        replace=replace,
    )
    return handle
