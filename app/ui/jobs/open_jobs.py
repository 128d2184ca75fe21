"""Opening on the worker: a network (with a clip), another clip of the session, a session file or an autosave.

Each reads files (and hashes them) or runs a forward pass, so none runs on the GUI thread. The values come back
through the `JobHandle`; the controller adopts what it keeps (`Controller.open_model`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.ui import compute
from app.ui.compute import ModelSource, ModelSummary
from app.ui.jobs.handle import JobHandle, submit_job
from app.ui.worker import OPEN, ComputeWorker

if TYPE_CHECKING:
    from app.core.session import Session


def start_open_model(
    worker: ComputeWorker,
    source: ModelSource,
    clip_path: Path | None,
    *,
    apply: Callable[[compute.Opened], bool],
    owner: set[JobHandle],
) -> JobHandle:
    """Open ``source`` and, if given, analyse ``clip_path`` with it; ``finished(Opened)``. A newer open wins."""
    handle = JobHandle(OPEN)

    def body(progress, cancelled) -> compute.Opened:
        return compute.open_session(source, clip_path, cancelled=cancelled)

    text = f"Opening model {source.display_name}…"
    return submit_job(worker, handle, body, busy_text=text, apply=apply, owner=owner)


def submit_clip(
    worker: ComputeWorker,
    handle: JobHandle,
    model: compute.Handle,
    summary: ModelSummary,
    path: Path,
    *,
    apply: Callable[[compute.Opened], bool],
    owner: set[JobHandle],
) -> JobHandle:
    """Analyse the clip at ``path`` with the open ``model`` into ``handle`` (lane CLIP: several clips added at once
    are all analysed, none supersedes another); ``finished(Opened)``."""

    def body(progress, cancelled) -> compute.Opened:
        return compute.open_session(None, path, model=model, summary=summary, cancelled=cancelled)

    busy = f"Analysing {path.name}…"
    return submit_job(worker, handle, body, busy_text=busy, replace=False, apply=apply, owner=owner)


def start_read_session(
    worker: ComputeWorker, read: Callable[[], Session], busy_text: str, owner: set[JobHandle]
) -> JobHandle:
    """``read()`` a session (a file or an autosave: it hashes the session's files) on the worker;
    ``finished(Session)``."""
    return submit_job(worker, JobHandle(OPEN), lambda progress, cancelled: read(), busy_text=busy_text, owner=owner)
