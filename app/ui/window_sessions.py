"""Listening sessions in the window: new, open, save, restore an autosave, apply one to the window. A part of
`MainWindow` (the session itself is `app.core.session.Session`, kept by `SessionKeeper`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import (
    QFileDialog,
    QMessageBox,
)

from app.core.errors import SessionError, UnsupportedModelError
from app.core.session import SUFFIX as SESSION_SUFFIX
from app.core.session import FileStatus
from app.core.session import Session as ListeningSession
from app.core.types import FeatureRef
from app.playback import Slot
from app.ui import settings as keys
from app.ui.clip_list import ClipEntry
from app.ui.compute import ModelSource


class SessionCommands:
    """Methods of `MainWindow` (mixed in); ``self`` is the window."""

    # ==== sessions ========================================================================================
    @property
    def session(self) -> ListeningSession:
        return self.keeper.session

    def new_session(self) -> None:
        """A fresh session (no labels) on what is open: the model and the clip on screen."""
        if not self._may_discard("start a new session"):
            return
        fresh = ListeningSession(playback=self.session.playback)
        if self.controller.atlas is not None:
            fresh.set_atlas(self.controller.atlas.path, self.controller.atlas.sha256)
        if self.summary is not None:
            self._record_model(fresh, self.model_source, self.summary.sha256)
        if self.clip is not None:
            fresh.add_clip(self.clip.path, self.clip.sha256)
            fresh.select(
                clip=self.clip.sha256,
                layer=self.selected[0] if self.selected else None,
                index=self.selected[1] if self.selected else None,
            )
        fresh.saved_revision = fresh.revision  # nothing the listener said yet: nothing to save
        kept = {k: v for k, v in self.analyses.items() if self.clip is not None and k == self.clip.sha256}
        self._apply_session(fresh, open_files=False)
        self.analyses.update(kept)
        for analysis, clip in kept.values():
            self._keep_analysis(analysis, clip)
        if self.clip is not None:
            self.clip_list.set_current(self.clip.sha256)
        self._refresh_labels()

    def choose_session(self) -> None:
        if not self._may_discard("open another session"):
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Open session", self._last_dir(), f"Aurascope sessions (*{SESSION_SUFFIX});;All files (*)"
        )
        if path:
            self.open_session_file(Path(path))

    def open_session_file(self, path: Path) -> bool:
        """Read a session file and open its model and clips; a damaged or newer file is reported, never written."""
        path = Path(path)
        self.settings.set(keys.LAST_DIR, str(path.parent))

        def failed(err: BaseException) -> None:
            if isinstance(err, SessionError):
                where = f" (field '{err.field}')" if err.field else ""
                self.show_error(f"Cannot open session {path.name}", f"{err.reason}{where}", path)
            else:
                self.show_error(f"Cannot open session {path.name}", f"{type(err).__name__}: {err}", path)

        handle = self.controller.open_session(path)  # hashes its files: off the GUI thread
        handle.finished.connect(self._apply_session)
        handle.failed.connect(failed)
        return True

    def _apply_session(self, session: ListeningSession, open_files: bool = True) -> None:
        """Make ``session`` the open one: its clips in the list, its model and current clip opened."""
        self.inspector.flush()  # what is being typed belongs to the session it was typed in
        self.keeper.replace(session)
        self._session_atlas(session)
        self._rebuild_recent()
        problems = session.problems()
        if problems:
            self.show_error("Some of the session's files moved or are missing", "\n".join(problems), session.path)
        self.analyses.clear()
        self.controller.forget_thumbnails()
        self.clip_entries = {}
        missing = {loc.path for loc in session.located if loc.status is FileStatus.MISSING}
        for ref in session.clips:
            status, detail = ("missing", f"not found: {ref.path}") if ref.path in missing else ("ready", "")
            self.clip_entries[ref.sha256] = ClipEntry(ref.sha256, ref.name, ref.path, None, status, detail)
        self.clip_list.set_clips(list(self.clip_entries.values()))
        self._apply_session_settings(session)
        self._refresh_labels()
        if not open_files:
            return
        current = session.selection.clip
        available = [c for c in session.clips if c.path not in missing]
        clip = next((c for c in available if c.sha256 == current), available[0] if available else None)
        self._pending_selection = {
            "ref": FeatureRef(session.selection.layer, session.selection.index) if session.selection.layer else None,
            "compare": session.selection.compare,
            "playhead": session.selection.playhead_s,
        }
        clip_path = clip.path if clip is not None else None
        module = session.model_module
        if module is not None:
            gone = [ref for ref in (module.front_end, module.weights) if ref is not None and ref.path in missing]
            if not gone:
                weights = module.weights.path if module.weights else None
                source = ModelSource(module.source, weights, module.front_end.path, module.search_folder)
                self._open_session_module(source, clip.path if clip is not None else None)
                return
        model = session.model
        if model is None or model.path in missing:
            if model is not None:
                self.show_error("The session's model is missing", f"{model.name} was not found", model.path)
            if clip is not None and self.model_handle is not None:
                self.open_audio(clip.path)
            return
        self.open_model(model.path, clip_path, keep_clip=False)

    def _open_session_module(self, source: ModelSource, clip_path: Path | None) -> None:
        """A session's ``module:callable`` runs only once the listener agrees: the files it would execute are shown
        with their SHA-256 (open once, always trust them by hash, or open the session without its model)."""
        from app.core.trust import Consent, describe_module
        from app.ui.module_consent import ask_module_consent

        try:
            description = describe_module(source.source, source.search_folder)
        except UnsupportedModelError as err:
            self.show_error("Cannot open the session's model", err.reason, source.search_folder)
            return

        def answered(consent: Consent) -> None:
            self.consent_box = None
            if consent is Consent.WITHOUT_MODEL:
                # nothing else is opened: another model would take the module's place in the session
                self.statusBar().showMessage(f"Opened the session without its model: {source.source} did not run")
                return
            self.open_model(replace(source, consented=description), clip_path, keep_clip=False)

        self.consent_box = ask_module_consent(self, description, answered)

    def _apply_session_settings(self, session: ListeningSession) -> None:
        """The session's transport settings on screen and in the engine, without counting them as edits."""
        p = session.playback
        with QSignalBlocker(self.options), QSignalBlocker(self.transport):
            self.transport.set_volume(p.volume)
            self.options.set_mode(p.mode)
        self.engine.set_volume(p.volume)
        self.act_match.setChecked(p.loudness_match)
        self.act_full_a.setChecked(p.full_quality_a)
        self.act_loop.setChecked(p.loop)
        self.engine.set_looping(p.loop)
        self._apply_gains()
        slot = Slot(p.slot) if p.slot in ("A", "B", "R") else Slot.B
        self.engine.select(slot)
        {Slot.A: self.act_slot_a, Slot.B: self.act_slot_b, Slot.R: self.act_slot_r}[slot].setChecked(True)

    def _refresh_labels(self) -> None:
        """Tree, gallery and kernels show the open session's labels."""
        labels = {ref: notes.label for ref, notes in self.session.maps.items() if notes.label}
        if self.summary is not None:
            for layer in self.summary.layers:
                for k in range(layer.n_maps):
                    self.tree.set_label((layer.number, k), labels.get((layer.number, k), ""))
        self.gallery.set_labels(labels)
        self.kernels_view.set_labels(labels)

    def save_session(self) -> bool:
        if self.session.path is None:
            return self.save_session_as()
        return self._save_to(None)

    def save_session_as(self) -> bool:
        start = (
            str(self.session.path) if self.session.path else str(Path(self._last_dir()) / f"listening{SESSION_SUFFIX}")
        )
        path, _ = QFileDialog.getSaveFileName(self, "Save session", start, f"Aurascope sessions (*{SESSION_SUFFIX})")
        if not path:
            return False
        target = Path(path)
        if target.suffix != SESSION_SUFFIX:
            target = target.with_name(target.name + SESSION_SUFFIX)
        return self._save_to(target)

    def _save_to(self, target: Path | None) -> bool:
        self._sync_playhead()
        try:
            written = self.keeper.save(target)
        except (SessionError, OSError) as err:
            self.show_error("Cannot save the session", getattr(err, "reason", str(err)), target or self.session.path)
            return False
        self._rebuild_recent()
        self.statusBar().showMessage(f"Saved {written}", 5000)
        return True

    def _sync_playhead(self) -> None:
        """The playhead goes into the session when it is written, not on every tick (that is no edit)."""
        if self.clip is not None:
            self.session.selection = replace(self.session.selection, playhead_s=round(self.engine.position(), 3))

    def _session_changed(self, dirty: bool) -> None:
        self.act_save_session.setEnabled(dirty or self.session.path is None)
        parts = [self.clip.name if self.clip else None, self.summary.name if self.summary else None]
        self.setWindowTitle(" — ".join([p for p in parts if p] + [self.keeper.title, "Aurascope"]))

    def _may_discard(self, what: str) -> bool:
        """Before the session is replaced or the window closes: ask whether to save what would be lost."""
        self.inspector.flush()
        s = self.session
        if not self.ask_to_save or not s.dirty or not (s.path is not None or self.keeper.has_listener_content):
            return True
        answer = QMessageBox.question(
            self,
            "Save the session?",
            f"The session has unsaved changes (labels, notes, ratings or tests). Save them before you {what}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save_session()
        return answer == QMessageBox.StandardButton.Discard

    def _edited(self) -> None:
        self.keeper.touch()
