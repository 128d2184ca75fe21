"""Quitting is quiet: closing the window while background work (thumbnails) computes raises nothing, and nothing
is submitted to the stopped worker afterwards."""

from __future__ import annotations

import sys

from app.core.jobs import CANCELLED


def test_quitting_while_thumbnails_compute_raises_nothing(make_window, qtbot, wav_file, model_file) -> None:
    errors: list[BaseException] = []
    hook = sys.excepthook
    sys.excepthook = lambda kind, value, tb: errors.append(value)  # what Qt would print from a slot
    try:
        for attempt in range(3):  # the issue saw it 3 times in 3 tries
            window = make_window(wav_file, model_file, thumbnails=True, wait=False)
            closed: list[int] = []

            def close_once_a_thumbnail_job_is_out(count: int, w=window, closed=closed) -> None:
                if count > 0 and not closed:  # the job is queued or running right now
                    closed.append(count)
                    w.close()

            window.worker.backgroundChanged.connect(close_once_a_thumbnail_job_is_out)
            qtbot.waitUntil(lambda closed=closed: bool(closed), timeout=60000)
            qtbot.wait(1500)  # queued results, the drained signal and the thumbnail timer all get their turn
            assert window.worker.idle, f"try {attempt + 1}: handlers left behind"
            late = window.worker.submit("thumbnails", lambda job: None)  # as a late timer or handler would
            assert late.state == CANCELLED and late.cancelled
    finally:
        sys.excepthook = hook
    assert errors == []
