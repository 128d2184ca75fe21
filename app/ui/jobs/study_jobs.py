"""Jobs over the session's clips: characterising maps (suggested tags) and the listening report, as the CLI's
``aurascope characterise`` and ``aurascope report`` do them.

A clip already analysed is used as it is; the others are analysed on the worker for the job only (and not kept:
memory stays bounded by the controller's `MAX_ANALYSES`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.types import DEFAULT_EXCERPTS, FeatureRef, Method
from app.ui import compute
from app.ui.compute import ModelSummary
from app.ui.jobs.handle import JobHandle, submit_job
from app.ui.worker import CHARACTERISE, REPORT, ComputeWorker

if TYPE_CHECKING:
    from app.core.characterise import Characterisation
    from app.core.report import Report
    from app.core.session import Session


def clip_analyses(
    model: object, summary: ModelSummary, known: Mapping[str, object], clips: Mapping[str, Path]
) -> Callable[[], list]:
    """A worker-side function giving one `Analysis` per clip of ``clips`` (sha256 -> file, in order): those in
    ``known`` (sha256 -> analysis) as they are, the others analysed with ``model``."""
    known, clips = dict(known), dict(clips)

    def analyses() -> list:
        return [
            known[key] if key in known else compute.analyse_clip(model, summary, path)[0] for key, path in clips.items()
        ]

    return analyses


def start_characterise(
    worker: ComputeWorker,
    analyses: Callable[[], list],
    refs: Sequence[FeatureRef] | None,
    method: Method,
    *,
    apply: Callable[[Characterisation], bool],
    owner: set[JobHandle],
) -> JobHandle:
    """Measure ``refs`` (None: every map) on each clip; ``finished(Characterisation)``, progress in (clip, map)
    pairs. ``apply`` drops a result that no longer applies (another network was opened meanwhile)."""
    handle = JobHandle(CHARACTERISE)

    def body(progress, cancelled) -> Characterisation:
        return compute.characterise(analyses(), refs, method=method, progress=progress, cancelled=cancelled)

    return submit_job(worker, handle, body, busy_text="Characterising…", apply=apply, owner=owner)


def start_report(
    worker: ComputeWorker,
    folder: Path,
    analyses: Callable[[], list],
    refs: Sequence[FeatureRef] | None,
    session: Session,
    *,
    title: str,
    method: Method,
    owner: set[JobHandle],
    atlas: Path | None = None,
    excerpts: int = DEFAULT_EXCERPTS,
) -> JobHandle:
    """Write the listening report of ``refs`` (None: every map) on each clip into ``folder``, with ``session``'s
    labels and notes (and with ``atlas``, each map's top ``excerpts`` excerpts of that corpus); ``finished(Report)``,
    progress in (clip, map) pairs."""
    handle = JobHandle(REPORT)

    def body(progress, cancelled) -> Report:
        return compute.write_report(
            folder,
            analyses(),
            list(refs) if refs is not None else None,
            session,
            title=title,
            method=method,
            progress=progress,
            cancelled=cancelled,
            atlas=atlas,
            excerpts=excerpts,
        )

    return submit_job(worker, handle, body, busy_text="Writing the report…", owner=owner)
