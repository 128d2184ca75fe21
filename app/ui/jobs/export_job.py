"""Export on the worker: the CLI's exporter (`app.core.export.export_features`), the same files and sidecars."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.core.types import ExportRequest
from app.ui import compute
from app.ui.jobs.handle import JobHandle, submit_job
from app.ui.worker import EXPORT, ComputeWorker


@dataclass(frozen=True)
class Exported:
    """What an export wrote: each WAV (its JSON sidecar beside it), in ``folder``; ``cancelled``: stopped early,
    every file listed is whole (nothing half-written is left)."""

    files: tuple[Path, ...]
    folder: Path
    cancelled: bool


def start_export(worker: ComputeWorker, analysis: object, request: ExportRequest, owner: set[JobHandle]) -> JobHandle:
    """Write ``request``'s files from ``analysis`` (the clip's `Analysis`); ``finished(Exported)``, progress in
    files written of ``len(refs) * len(modes)``."""
    handle = JobHandle(EXPORT)

    def body(progress, cancelled) -> Exported:
        written = compute.export(
            analysis,
            request.refs,
            request.modes,
            request.folder,
            subtype=request.subtype,
            loudness=request.loudness,
            method=request.method,
            progress=progress,
            cancelled=cancelled,
        )
        return Exported(tuple(written), request.folder, handle.cancelled)

    return submit_job(worker, handle, body, busy_text="Exporting…", owner=owner)
