"""The controller's long jobs and its opening: methods of `Controller` (mixed in), apart so it stays readable.

Each takes plain arguments (`FeatureRef`, `Method`, an `ExportRequest`, paths, a `Session` to snapshot), starts
its job on the controller's worker (the bodies are in `app.ui.jobs`) and returns the job's `JobHandle`, whose
signals the view follows: started, progress, finished (the typed value each method names), failed, ended. What
the controller keeps of a result (an opened network, an analysed clip) it takes before ``finished``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.types import DEFAULT_EXCERPTS, ExportRequest, FeatureRef, Method
from app.ui import compute
from app.ui.compute import ModelSource
from app.ui.jobs.export_job import start_export
from app.ui.jobs.handle import JobHandle
from app.ui.jobs.loudness_jobs import start_level, start_pair_match
from app.ui.jobs.open_jobs import start_open_model, start_read_session, submit_clip
from app.ui.jobs.study_jobs import clip_analyses, start_characterise, start_report
from app.ui.worker import CLIP

if TYPE_CHECKING:
    import numpy as np

    from app.core.session import Session


class JobStarts:
    """Methods of `Controller` (mixed in); ``self`` is the controller (its worker, ``jobs``, network and clips)."""

    # ==== long jobs: each returns its JobHandle (app.ui.jobs) ======================================================
    def export(self, request: ExportRequest) -> JobHandle:
        """Write ``request``'s WAVs and sidecars from the clip on screen; ``finished(Exported)``."""
        if self.analysis is None:
            raise RuntimeError("nothing to export: no clip is analysed")
        return start_export(self.worker, self.analysis, request, self.jobs)

    def characterise(self, refs: Sequence[FeatureRef] | None, clips: Mapping[str, Path], method: Method) -> JobHandle:
        """Measure ``refs`` (None: every map) with ``method`` on ``clips`` (sha256 -> file, analysed when not yet);
        ``finished(Characterisation)``, dropped (only ``ended``) if another network is opened meanwhile."""
        if self.model_handle is None or self.summary is None:
            raise RuntimeError("nothing to characterise: no network is open")
        model = self.model_handle
        return start_characterise(
            self.worker,
            self._clip_analyses(clips),
            [FeatureRef.of(r) for r in refs] if refs is not None else None,
            Method(method),
            apply=lambda _: model is self.model_handle,
            owner=self.jobs,
        )

    def write_report(
        self,
        folder: Path,
        refs: Sequence[FeatureRef] | None,
        clips: Mapping[str, Path],
        session: Session,
        *,
        title: str,
        method: Method,
        atlas: Path | None = None,
        excerpts: int = DEFAULT_EXCERPTS,
    ) -> JobHandle:
        """The listening report of ``refs`` (None: every map) on ``clips`` into ``folder``, showing ``session``'s
        labels (a snapshot: the listener goes on editing), and with ``atlas`` each map's top ``excerpts`` excerpts
        of that corpus; ``finished(Report)``."""
        if self.model_handle is None or self.summary is None:
            raise RuntimeError("nothing to report: no network is open")
        return start_report(
            self.worker,
            Path(folder),
            self._clip_analyses(clips),
            [FeatureRef.of(r) for r in refs] if refs is not None else None,
            copy.deepcopy(session),
            title=title,
            method=Method(method),
            owner=self.jobs,
            atlas=atlas,
            excerpts=excerpts,
        )

    def _clip_analyses(self, clips: Mapping[str, Path]):
        known = {key: analysis for key, (analysis, _) in self.analyses.items()}
        return clip_analyses(self.model_handle, self.summary, known, clips)

    def measure_level(self, audio: np.ndarray, sample_rate: int) -> JobHandle:
        """Loudness and peak of mono ``audio`` on the worker; ``finished(Level)``."""
        return start_level(self.worker, audio, sample_rate, self.jobs)

    def match_loudness(self, a: np.ndarray, b: np.ndarray, sample_rate: int) -> JobHandle:
        """Gains making ``a`` and ``b`` equally loud, on the worker; ``finished(PairMatch | LevelMismatchError)``."""
        return start_pair_match(self.worker, a, b, sample_rate, self.jobs)

    # ==== opening: networks, clips, sessions (app.ui.jobs.open_jobs) =================================================
    def open_model(self, source: ModelSource, clip_path: Path | None = None) -> JobHandle:
        """Open ``source`` (and analyse ``clip_path`` with it) on the worker; a newer open wins. The controller
        holds the network (``modelOpened``) and the clip before the handle's ``finished(Opened)``."""
        return start_open_model(
            self.worker, source, clip_path, apply=lambda opened: self._adopt(opened, source), owner=self.jobs
        )

    def _adopt(self, opened: compute.Opened, source: ModelSource | None) -> bool:
        if opened.model is not self.model_handle:
            self.model_handle, self.summary, self.model_source = opened.model, opened.summary, source
            self.analyses.clear()  # analysed with the previous network
            self.forget_thumbnails()
            self.forget_excerpts()  # rendered by the previous network
            self.clip = self.analysis = None
            self.modelOpened.emit(opened.summary, source)
        if opened.clip is not None:
            self.keep_analysis(opened.analysis, opened.clip)
        return True

    def add_clip(self, path: Path) -> JobHandle:
        """Analyse the clip at ``path`` with the open network (with a newer one, if one opens meanwhile); the clip
        is kept among the analysed ones before the handle's ``finished(Opened)``."""
        if self.model_handle is None:
            raise RuntimeError(f"cannot analyse {Path(path).name}: no network is open")
        return self._submit_clip(JobHandle(CLIP), Path(path), again=True)

    def analyse_clip(self, path: Path) -> JobHandle:
        """Analyse a clip of the session again (to show it); ``finished(Opened)`` once kept, dropped (only
        ``ended``) if another network opened meanwhile."""
        if self.model_handle is None:
            raise RuntimeError(f"cannot analyse {Path(path).name}: no network is open")
        return self._submit_clip(JobHandle(CLIP), Path(path), again=False)

    def _submit_clip(self, handle: JobHandle, path: Path, *, again: bool) -> JobHandle:
        def apply(opened: compute.Opened) -> bool:
            if opened.model is self.model_handle:
                if opened.clip is not None:
                    self.keep_analysis(opened.analysis, opened.clip)
                return opened.clip is not None
            if again and self.model_handle is not None:
                self._submit_clip(handle, path, again=True)  # a network opened meanwhile: analyse with that one
            return False

        return submit_clip(self.worker, handle, self.model_handle, self.summary, path, apply=apply, owner=self.jobs)

    def open_session(self, path: Path) -> JobHandle:
        """Read the session file at ``path`` (hashing its clips and model); ``finished(Session)``; a damaged or
        newer file fails with `SessionError` naming the file and field."""
        from app.core.session import Session

        path = Path(path)
        return start_read_session(self.worker, lambda: Session.load(path), f"Opening session {path.name}…", self.jobs)

    def restore_autosave(self, path: Path) -> JobHandle:
        """Read the autosaved session at ``path``; ``finished(Session)``."""
        from app.core.session import restore_autosave

        path = Path(path)
        return start_read_session(
            self.worker, lambda: restore_autosave(path), "Restoring the autosaved session…", self.jobs
        )
