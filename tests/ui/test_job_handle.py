"""`app.ui.jobs.handle.submit_job`: what a job reports through its `JobHandle`, on the GUI thread, when the
controller's ``apply`` cannot take the result (it is the job's failure, and the handle still ends)."""

from __future__ import annotations

from app.ui.jobs.handle import JobHandle, submit_job
from app.ui.worker import ComputeWorker


def test_a_result_the_controller_cannot_take_is_the_jobs_failure(qtbot) -> None:
    worker = ComputeWorker()
    owner: set[JobHandle] = set()
    seen: list[tuple] = []

    def refuse(value: int) -> bool:
        raise ValueError(f"cannot keep {value}")

    handle = JobHandle("test")
    handle.finished.connect(lambda value: seen.append(("finished", value)))
    handle.failed.connect(lambda err: seen.append(("failed", str(err))))
    handle.ended.connect(lambda: seen.append(("ended",)))
    submit_job(worker, handle, lambda progress, cancelled: 42, apply=refuse, owner=owner)
    try:
        qtbot.waitUntil(lambda: handle.done, timeout=30000)
    finally:
        worker.shutdown()
    assert seen == [("failed", "cannot keep 42"), ("ended",)]
    assert handle not in owner
