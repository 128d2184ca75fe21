"""The window's long jobs as the listener sees them: export, characterisation, the listening report and the A/B/X
test gather their input from dialogs, start through the controller, and show its `JobHandle`'s progress, result or
error. A part of `MainWindow`; the jobs themselves are the controller's (`app.ui.jobs`)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QMessageBox,
    QProgressDialog,
)

from app.core.abx import LevelMismatchError
from app.core.types import ExportRequest, FeatureRef, Loudness, Mode, member_or
from app.playback import Slot
from app.ui import playback_panel
from app.ui import settings as keys
from app.ui.abx_dialog import AbxDialog, pair_to_match
from app.ui.export_dialog import ExportDialog
from app.ui.feature_tree import ref_text
from app.ui.jobs.export_job import Exported
from app.ui.jobs.handle import JobHandle
from app.ui.report_dialog import ClipChoice, ReportDialog, ReportRequest


class LongJobs:
    """Methods of `MainWindow` (mixed in); ``self`` is the window."""

    # ==== export ==========================================================================================
    def export_selected(self) -> None:
        if self.analysis is None or self.clip is None:
            self.show_error("Nothing to export", "Open a model and an audio clip first.")
            return
        refs = self.tree.selected_refs() or ([self.selected] if self.selected else [])
        if not refs:
            self.show_error("Nothing to export", "Select one or more feature maps in the tree.")
            return
        s = self.settings
        dialog = ExportDialog(
            refs,
            self.clip.name,
            folder=s.get(keys.EXPORT_DIR),
            modes=[m for m in Mode if m.value in s.get(keys.EXPORT_MODES)],
            subtype=s.get(keys.EXPORT_FORMAT),
            loudness=member_or(Loudness, s.get(keys.EXPORT_LOUDNESS), Loudness.NONE),
            method=self.options.current_method(),
            parent=self,
        )
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return
        self.run_export(dialog.request())

    def run_export(self, request: ExportRequest) -> None:
        """Export through the controller, with a progress dialog that can cancel."""
        s = self.settings
        s.set(keys.EXPORT_DIR, str(request.folder))
        s.set(keys.EXPORT_MODES, [m.value for m in request.modes])
        s.set(keys.EXPORT_FORMAT, request.subtype)
        s.set(keys.EXPORT_LOUDNESS, request.loudness.value)
        total = len(request.refs) * len(request.modes)
        handle = self.controller.export(request)
        self.export_progress = self._progress(
            handle, "Export", f"Exporting {total} file(s) to {request.folder}…", total
        )
        handle.finished.connect(self._exported)
        handle.failed.connect(
            lambda err: self.show_error("Export failed", f"{type(err).__name__}: {err}", request.folder)
        )

    def _exported(self, exported: Exported) -> None:
        what = "Cancelled after" if exported.cancelled else "Wrote"
        n, folder = len(exported.files), exported.folder
        self.statusBar().showMessage(f"{what} {n} file(s) (+ sidecars) in {folder}", 8000)
        self.exportFinished.emit(list(exported.files))
        if n and not exported.cancelled and not os.environ.get("AURASCOPE_NO_EXPORT_DIALOG"):
            box = QMessageBox(
                QMessageBox.Icon.Information,
                "Export finished",
                f"Wrote {n} WAV file(s) with JSON sidecars to\n{folder}",
                QMessageBox.StandardButton.Ok,
                self,
            )
            open_button = box.addButton("Open folder", QMessageBox.ButtonRole.ActionRole)
            open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))))
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()

    # ==== characterisation, listening report, A/B/X ==========================================================
    def _session_clips(self, keys_wanted: list[str] | None = None) -> dict[str, Path]:
        """The session's clips a job can use (sha256 -> file, in the list's order): not missing, not unreadable."""
        entries = [e for e in self.clip_entries.values() if e.status != "missing" and e.status != "error"]
        return {e.key: e.path for e in entries if keys_wanted is None or e.key in keys_wanted}

    def characterise(self, layer_only: bool) -> None:
        """Measure each map against each of the session's clips and suggest tags (never touching labels)."""
        if self.analysis is None or self.summary is None:
            self.show_error("Nothing to characterise", "Open a model and an audio clip first.")
            return
        layer = (self.selected or self.controller.default_ref())[0]
        refs = [FeatureRef(layer, k) for k in range(self.summary.layers[layer - 1].n_maps)] if layer_only else None
        clips = self._session_clips()
        n_maps = len(refs) if refs is not None else sum(x.n_maps for x in self.summary.layers)
        text = f"Characterising {n_maps} map(s) on {len(clips)} clip(s)…"
        handle = self.controller.characterise(refs, clips, self.options.current_method())
        self.characterise_progress = self._progress(handle, "Characterise maps", text, n_maps * len(clips))
        handle.finished.connect(self._characterised)
        handle.failed.connect(lambda err: self.show_error("Characterisation failed", f"{type(err).__name__}: {err}"))

    def _characterised(self, result) -> None:
        found = result.suggestions()
        self.session.set_suggestions(found)
        self._edited()
        tagged = sum(1 for tags in found.values() if tags)
        what = "Stopped after" if result.cancelled else "Characterised"
        self.statusBar().showMessage(
            f"{what} {len(result.maps)} rendering(s) in {result.seconds:.1f} s: {tagged} map(s) with suggested "
            "tags (shown in the inspector; your labels are untouched)",
            10000,
        )
        if self.selected is not None:
            self._show_session_notes(self.selected)

    def export_report(self) -> None:
        if self.analysis is None or self.summary is None or self.clip is None:
            self.show_error("Nothing to report", "Open a model and an audio clip first.")
            return
        clips = [ClipChoice(e.key, e.name, e.status not in ("missing", "error")) for e in self.clip_entries.values()]
        s = self.settings
        dialog = ReportDialog(
            selected=self.tree.selected_refs() or ([self.selected] if self.selected else []),
            current_layer=(self.selected or self.controller.default_ref())[0],
            layer_sizes=[layer.n_maps for layer in self.summary.layers],
            clips=clips,
            current_clip=self.clip.sha256,
            method=self.options.current_method(),
            folder=s.get(keys.REPORT_DIR) or str(Path(self._last_dir()) / "aurascope-report"),
            title=f"Listening report — {self.summary.name}",
            atlas=self.controller.atlas.path if self.controller.atlas is not None else None,
            parent=self,
        )
        if dialog.exec() != ReportDialog.DialogCode.Accepted:
            return
        self.run_report(dialog.request())

    def run_report(self, request: ReportRequest) -> None:
        """Write the listening report through the controller (the CLI's ``aurascope report``), with a cancellable
        progress dialog."""
        self.settings.set(keys.REPORT_DIR, str(request.folder))
        clips = self._session_clips(list(request.clips))
        n_maps = len(request.refs) if request.refs is not None else sum(x.n_maps for x in self.summary.layers)
        self._sync_playhead()
        handle = self.controller.write_report(
            request.folder,
            request.refs,
            clips,
            self.session,
            title=request.title,
            method=request.method,
            atlas=request.atlas,
            excerpts=request.excerpts,
        )
        text = f"Writing the report to {request.folder}…"
        self.report_progress = self._progress(handle, "Listening report", text, n_maps * len(clips))

        def finished(report) -> None:
            self.last_report = report
            self.statusBar().showMessage(
                f"Wrote the report: {report.maps} map(s) × {report.clips} clip(s), {report.files} files, "
                f"in {report.seconds:.1f} s: {report.index}",
                10000,
            )
            if request.open_when_done and not handle.cancelled and not os.environ.get("AURASCOPE_NO_EXPORT_DIALOG"):
                QDesktopServices.openUrl(QUrl.fromLocalFile(str(report.index)))

        handle.finished.connect(finished)
        handle.failed.connect(
            lambda err: self.show_error(
                "Report failed", getattr(err, "reason", f"{type(err).__name__}: {err}"), request.folder
            )
        )

    def start_abx(self) -> AbxDialog | None:
        """A blind A/B/X test of the selected map against the original, loudness-matched; saved in the session.

        A and B are measured as they will play (over the loop, or the whole clip) before the dialog opens; when
        that is over `A_MEASURE_INLINE_S` of audio the measurement runs on the worker and the dialog opens when
        it arrives (None is returned then), if the map and the buffers are still the same."""
        feature, clip = self.feature, self.clip
        if feature is None or clip is None or feature.ref != self.selected:
            self.show_error("No map ready", "Select a map and wait until it is rendered (it plays as B).")
            return None
        region = self.engine.loop_region
        rate = self.engine.sample_rate
        loop = (region[0] / rate, region[1] / rate) if region is not None and self.engine.looping else None
        measured = (region[1] - region[0]) if loop is not None and region is not None else self.engine.length
        if measured <= playback_panel.A_MEASURE_INLINE_S * rate:  # one threshold for A and for A/B/X
            return self._open_abx(feature, clip, loop, None)
        engine, sources = self.engine, (self.engine.source(Slot.A), self.engine.source(Slot.B))
        try:
            pair = pair_to_match(engine, loop)
        except LevelMismatchError as err:
            return self._open_abx(feature, clip, loop, err)

        def measured_then_open(match) -> None:
            now = (engine.source(Slot.A), engine.source(Slot.B))
            if self.feature is not feature or now[0] is not sources[0] or now[1] is not sources[1]:
                return  # the map or the clip changed meanwhile: the listener asks again
            self._open_abx(feature, clip, loop, match)

        handle = self.controller.match_loudness(*pair)
        handle.finished.connect(measured_then_open)
        handle.failed.connect(lambda err: self.show_error("Cannot start a blind test", str(err)))
        return None

    def _open_abx(self, feature, clip, loop, match) -> AbxDialog | None:
        try:  # refuses when A and B cannot be equally loud (`match` measured already, or measured here)
            if isinstance(match, LevelMismatchError):
                raise match
            dialog = AbxDialog(
                self.engine,
                layer=feature.ref[0],
                index=feature.ref[1],
                clip_sha256=clip.sha256,
                clip_name=clip.name,
                map_name=" · ".join(x for x in (ref_text(feature.ref), self.session.notes_for(feature.ref).label) if x),
                mode=feature.mode,
                loop=loop,
                match=match,
                parent=self,
            )
        except LevelMismatchError as err:
            self.show_error("Cannot start a blind test", f"{err.reason}. Pick another map or loop region.")
            return None
        dialog.finishedRun.connect(self._abx_finished)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.abx_dialog = dialog
        dialog.finished.connect(lambda _: (setattr(self, "abx_dialog", None), self._apply_gains()))
        dialog.open()
        return dialog

    def _abx_finished(self, result) -> None:
        self.session.add_abx(result)
        self._edited()
        self.statusBar().showMessage(
            f"A/B/X on {ref_text((result.layer, result.index))}: {result.correct} of {result.trials}, "
            f"p = {result.p_value:.3g} (saved in the session)",
            10000,
        )
        if self.selected == (result.layer, result.index):
            self._show_session_notes(self.selected)

    def _progress(self, handle: JobHandle, title: str, text: str, total: int) -> QProgressDialog:
        """A window-modal progress dialog following ``handle``: its Cancel button cancels the job, and it closes
        when the job has ended, whatever the outcome."""
        progress = QProgressDialog(text, "Cancel", 0, total, self)
        progress.setWindowTitle(title)
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(300)
        progress.setValue(0)
        progress.canceled.connect(handle.cancel)
        handle.progress.connect(lambda done, _: progress.setValue(done))
        handle.ended.connect(progress.reset)
        handle.ended.connect(progress.deleteLater)
        return progress

    # ==== busy indicator, cancel ==========================================================================
    def _busy_changed(self, busy: bool, text: str) -> None:
        self.busy_label.setText(text)
        for widget in (self.busy_label, self.busy_bar):
            widget.setVisible(busy)
        self.busy_cancel.setVisible(busy and self.controller.opening)  # by lane: Cancel stops exactly those
        if busy:
            self.setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.unsetCursor()

    def cancel_work(self) -> None:
        self.controller.cancel_opening()
        self.thumb_label.setText("")
        self.statusBar().showMessage("Cancelled; what was loaded stays loaded", 4000)
