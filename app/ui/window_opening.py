"""Opening models and clips in the window, and moving between the session's clips: a part of `MainWindow`.

The window asks the controller (`Controller.open_model`, `add_clip`, `analyse_clip`), which runs the job and holds
what it opened; this shows the result, or says which file and what is wrong with it."""

from __future__ import annotations

import gc
import json
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QMessageBox,
)

from app.core.audio import AUDIO_EXTENSIONS
from app.core.errors import AudioLoadError, ClipTooShortError, ModelFormatError, SessionError, UnsupportedModelError
from app.core.session import SUFFIX as SESSION_SUFFIX
from app.core.session import Session as ListeningSession
from app.playback import Slot
from app.ui import settings as keys
from app.ui.clip_list import ClipEntry
from app.ui.compute import ClipSummary, ModelSource, ModelSummary, Opened
from app.ui.model_source_dialog import ModelSourceDialog, ModuleSourceRequest
from app.ui.settings import Key
from app.ui.window_atlas import ATLAS_SUFFIX

MODEL_EXTENSIONS = (".safetensors", ".onnx")


def settle_garbage(collect: bool = True) -> None:
    """Collect (unless ``collect`` is False), then freeze what survives (torch, Qt, pyqtgraph: ~300k objects) out
    of the cyclic collector.

    A full collection of that heap holds the GIL for 150-300 ms, longer than the output latency, so the audio
    callback would miss its turn (an underflow) whenever the collector happened to run; after the freeze a
    collection only walks what was created since, which takes well under a millisecond. Freezing alone takes
    microseconds: at start-up (little garbage yet, the first map waiting) and while audio plays it is enough.
    """
    if collect:
        gc.collect()
    gc.freeze()


class OpeningCommands:
    """Methods of `MainWindow` (mixed in); ``self`` is the window."""

    # ==== opening files ===================================================================================
    def choose_audio(self) -> None:
        exts = " ".join(f"*{e}" for e in AUDIO_EXTENSIONS)
        start = self._last_dir(keys.RECENT_AUDIO)  # where the last clip came from, not the last model
        paths, _ = QFileDialog.getOpenFileNames(self, "Add clips", start, f"Audio ({exts});;All files (*)")
        for path in paths:
            self.open_audio(Path(path))

    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open model",
            self._last_dir(keys.RECENT_MODELS),
            "Models (*.safetensors *.onnx);;Aurascope models (*.safetensors);;ONNX + <name>.json front end (*.onnx)",
        )
        if path:
            self.open_model(Path(path))

    def choose_module(self) -> None:
        last = None
        text = self.settings.get(keys.MODULE_SOURCE)
        if text:
            try:
                raw = json.loads(text)
                last = ModuleSourceRequest(
                    raw["source"],
                    Path(raw["search_folder"]) if raw.get("search_folder") else None,
                    Path(raw["weights"]) if raw.get("weights") else None,
                    Path(raw["front_end"]),
                )
            except (ValueError, KeyError, TypeError):
                last = None
        dialog = ModelSourceDialog(last=last, start_dir=self._last_dir(), parent=self)
        if dialog.exec() != ModelSourceDialog.DialogCode.Accepted:
            return
        self.open_module(dialog.request())

    def open_module(self, request: ModuleSourceRequest) -> None:
        """Open the user's own ``package.module:callable`` network (trusted code) with its front end."""
        self.settings.set(
            keys.MODULE_SOURCE,
            json.dumps(
                {
                    "source": request.source,
                    "search_folder": str(request.search_folder) if request.search_folder else "",
                    "weights": str(request.weights) if request.weights else "",
                    "front_end": str(request.front_end),
                }
            ),
        )
        self.open_model(ModelSource(request.source, request.weights, request.front_end, request.search_folder))

    def _last_dir(self, recent: Key | None = None) -> str:
        """The folder of the newest file in the ``recent`` list (audio, models) if it still exists, else the
        folder of the last file dialog, else home."""
        for entry in self.settings.get(recent) if recent is not None else []:
            if Path(entry).parent.is_dir():
                return str(Path(entry).parent)
            break
        return self.settings.get(keys.LAST_DIR) or str(Path.home())

    def open_files(self, paths: list[Path]) -> None:
        """Files from the command line, a drop, or the desktop: sessions, models and atlases by extension, else
        audio."""
        sessions = [p for p in paths if p.suffix.lower() == SESSION_SUFFIX]
        if sessions:
            if self._may_discard("open another session"):
                self.open_session_file(sessions[-1])
            return
        models = [p for p in paths if p.suffix.lower() in MODEL_EXTENSIONS]
        atlases = [p for p in paths if p.suffix.lower() == ATLAS_SUFFIX]
        audio = [p for p in paths if p.suffix.lower() not in (*MODEL_EXTENSIONS, ATLAS_SUFFIX)]
        if atlases:
            self.open_atlas(atlases[-1], after_model=bool(models))
        if models:
            self.open_model(models[-1], audio[0] if audio else None)
            audio = audio[1:]
        for path in audio:
            self.open_audio(path)

    def open_model(self, path: Path | ModelSource, audio: Path | None = None, *, keep_clip: bool = True) -> None:
        """Load a model (and re-analyse ``audio``, or with ``keep_clip`` the current clip, with it) on the worker."""
        source = path if isinstance(path, ModelSource) else ModelSource(str(Path(path)))
        clip_path = Path(audio) if audio is not None else None
        if clip_path is None and keep_clip:
            clip_path = self.clip.path if self.clip else self.pending_audio
        if not source.is_module:
            self.settings.set(keys.LAST_DIR, str(Path(source.source).parent))
        handle = self.controller.open_model(source, clip_path)
        handle.finished.connect(lambda opened: self._session_opened(opened, source, clip_path))
        handle.failed.connect(lambda err: self._open_failed(err, source, clip_path))

    def open_audio(self, path: Path) -> None:
        """Add a clip to the session (or show it, if it is there already) and analyse it with the model."""
        path = Path(path)
        self.settings.set(keys.LAST_DIR, str(path.parent))
        if self.model_handle is None:
            self.pending_audio = path
            self.clip_label.setText(f"{path.name} (waiting for a model)")
            self.statusBar().showMessage("Open a model (Ctrl+Shift+O) to analyse this clip", 8000)
            return
        handle = self.controller.add_clip(path)  # a model opened meanwhile: the controller analyses with that one
        handle.finished.connect(lambda opened: self._session_opened(opened, None, path))
        handle.failed.connect(lambda err: self._open_failed(err, None, path))

    def _open_failed(self, err: BaseException, model: ModelSource | None, audio_path: Path | None) -> None:
        """Say which file and what is wrong with it; the loaded model and clips stay as they were."""
        model_path = Path(model.source) if model is not None and not model.is_module else None
        if isinstance(err, ModelFormatError):
            path = err.path or model_path
            where = f" (field '{err.field}')" if err.field else ""
            reason = f"This is not a model Aurascope can read{where}: {err.reason}"
        elif isinstance(err, UnsupportedModelError):
            path = model_path
            where = f" at '{err.node}'" if err.node else ""
            reason = f"Aurascope cannot use the network {err.source}{where}: {err.reason}"
        elif isinstance(err, AudioLoadError):
            path, reason = err.path, f"This audio file cannot be read: {err.reason}"
        elif isinstance(err, ClipTooShortError):
            path, reason = err.path, str(err)
        else:
            path = audio_path if model is None else model_path
            reason = f"{type(err).__name__}: {err}"
        what = Path(path).name if path else (model.display_name if model is not None else "the file")
        self.show_error(f"Cannot open {what}", reason, path)

    def show_error(self, title: str, reason: str, path: Path | None = None) -> None:
        """A window-modal message that does not block the event loop (the worker keeps delivering)."""
        self.last_error = f"{title}\n{reason}\n{path or ''}"
        box = QMessageBox(QMessageBox.Icon.Warning, title, reason, QMessageBox.StandardButton.Ok, self)
        if path is not None:
            box.setInformativeText(str(path))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _, b=box: self.error_box is b and setattr(self, "error_box", None))
        self.error_box = box
        box.open()
        self.errorShown.emit(self.last_error)

    def _session_opened(self, opened: Opened, model: ModelSource | None, audio_path: Path | None) -> None:
        """An open job's result, the controller holding it already (a new network was shown by `_model_opened`)."""
        if opened.clip is None:
            self._rebuild_recent()
            self.sessionReady.emit()
            return
        self.pending_audio = None
        if self.opened_at is None:
            self.opened_at = time.time()
        self._keep_analysis(opened.analysis, opened.clip)
        self.show_clip(opened.clip.sha256)
        self.sessionReady.emit()

    def _model_opened(self, summary: ModelSummary, source: ModelSource | None) -> None:
        """The controller holds another network (its clips and thumbnails forgotten): show it."""
        self._set_compare(None)
        if self._record_model(self.session, source, summary.sha256):
            self._edited()
        labels = {ref: notes.label for ref, notes in self.session.maps.items() if notes.label}
        self.tree.set_model(summary, labels)
        self.gallery.set_layers([layer.n_maps for layer in summary.layers])
        self.gallery.set_labels(labels)
        self.kernels_view.set_kernels(summary.layers[0].kernels if summary.layers else None)
        self.kernels_view.set_labels(labels)
        lines = [f"⚠ {text}" for text in summary.warnings] + [f"ℹ {text}" for text in summary.remarks]
        notes = "".join(f"\n{line}" for line in lines)
        kind = "" if summary.kind == "safetensors" else f" ({summary.kind}: autograd route)"
        self.model_label.setText(f"model {summary.name}{kind}" + (" ⚠" if summary.warnings else ""))
        self.model_label.setToolTip(f"{summary.path}\n{summary.front_end_text}{notes}")
        self.model_banner.setVisible(bool(lines))
        if lines:
            self.model_banner.text.setText(
                f"<b>How faithful the attribution is on {summary.name}</b>:<br>" + "<br>".join(lines)
            )
        if summary.warnings:
            self.statusBar().showMessage(
                f"{len(summary.warnings)} note(s) on how faithfully this network can be attributed", 10000
            )
        if source is not None and not source.is_module:
            self.settings.add_recent(keys.RECENT_MODELS, str(Path(source.source).resolve()))
        # clips already in the session are analysed again with this model when shown
        for entry in list(self.clip_entries.values()):
            if entry.status == "ready" and entry.duration is not None:
                self._set_entry(replace(entry, duration=None, detail=""))
        self._open_pending_atlas()

    @staticmethod
    def _record_model(session: ListeningSession, source: ModelSource | None, sha256: str) -> bool:
        """Name the open network in ``session`` (a file, or the user's module); True if that changed it."""
        if source is None:
            return False
        if not source.is_module:
            path, known = Path(source.source).resolve(), session.model
            if known is not None and (known.path, known.sha256) == (path, sha256):
                return False
            session.set_model(path, sha256 or None)
            return True
        if source.front_end is None:
            return False
        module = session.model_module
        wanted = (source.source, source.front_end.resolve(), source.weights.resolve() if source.weights else None)
        have = None
        if module is not None:
            have = (module.source, module.front_end.path, module.weights.path if module.weights else None)
        if have == wanted:
            return False
        weights_sha = sha256 or None if source.weights is not None else None  # the loader hashed the weights
        session.set_module_model(source.source, source.front_end, source.weights, source.search_folder, weights_sha)
        return True

    def _keep_analysis(self, analysis, clip: ClipSummary) -> None:
        """An analysed clip the controller keeps, in the session and the clip list."""
        if clip.sha256 not in {c.sha256 for c in self.session.clips}:
            self.session.add_clip(clip.path, clip.sha256)
            self._edited()
        replaced = self._replacing.pop(Path(clip.path).resolve(), None)
        if replaced is not None and replaced != clip.sha256 and replaced in self.clip_entries:
            self.session.remove_clip(replaced)
            del self.clip_entries[replaced]
            self.clip_list.set_clips(list(self.clip_entries.values()))
            self._edited()
        self.settings.add_recent(keys.RECENT_AUDIO, str(clip.path))  # once per analysis, not on every "]"
        self._rebuild_recent()
        self._set_entry(ClipEntry(clip.sha256, clip.path.name, clip.path, clip.duration, "ready", _top_of(clip)))

    def _findings_ready(self, clip: ClipSummary) -> None:
        """A clip's energies and predictions are in (computed after its first map): show them."""
        entry = self.clip_entries.get(clip.sha256)
        if entry is not None and entry.status == "ready":
            self._set_entry(replace(entry, detail=_top_of(clip)))
        if self.clip is None or self.clip.sha256 != clip.sha256:
            return  # shown when that clip is
        self._show_findings(clip)

    def _findings_failed(self, clip: ClipSummary, reason: str) -> None:
        """Said once; the views show no energies or predictions for it instead of "…" (not asked for again)."""
        entry = self.clip_entries.get(clip.sha256)
        if entry is not None and entry.status == "ready":
            self._set_entry(replace(entry, detail=""))
        if self.clip is not None and self.clip.sha256 == clip.sha256:
            self._show_findings(self.clip)
        self.show_error(f"Cannot analyse {Path(clip.path).name}", reason, Path(clip.path))

    def _show_findings(self, clip: ClipSummary) -> None:
        """The clip's energies in the tree, gallery and inspector, its predictions above the views ("…" while
        they are being computed, nothing if they failed)."""
        if clip.findings is None and not self.controller.findings_failed(clip.sha256):
            self.tree.set_energies_pending()
            self.predictions.set_pending()
        else:
            self.tree.set_energies(clip.energies)
            self.predictions.set_predictions(list(clip.predictions), self.summary.output, self.summary.task)
        self.gallery.set_energies(clip.energies)
        if self.selected is not None:
            self.inspector.show_energy(*self.controller.energy_of(self.selected))

    def _set_entry(self, entry: ClipEntry) -> None:
        self.clip_entries[entry.key] = entry
        self.clip_list.update_clip(entry)

    def _clear_clips(self) -> None:
        self.analyses.clear()
        self.controller.forget_thumbnails()
        self.clip_entries = {}
        self.clip_list.set_clips([])

    # ==== clips ===========================================================================================
    def show_clip(self, key: str) -> None:
        """Show clip ``key`` with the same map selected and the playhead where it was (if the clip is that long)."""
        if key in self.analyses:
            self._show_analysed(key)
            return
        entry = self.clip_entries.get(key)
        if entry is None or entry.status in ("missing", "loading") or self.model_handle is None:
            return
        self._set_entry(replace(entry, status="loading", detail="analysing…"))
        path = entry.path
        self._wanted_clip = key

        def done(opened: Opened) -> None:
            if key not in self.clip_entries:
                self.analyses.pop(opened.clip.sha256, None)  # removed from the session meanwhile
                return
            self._keep_analysis(opened.analysis, opened.clip)
            if self._wanted_clip == key:
                self._show_analysed(opened.clip.sha256)

        def failed(err: BaseException) -> None:
            if key in self.clip_entries:
                self._set_entry(replace(entry, status="error", detail=getattr(err, "reason", str(err))))
            self._open_failed(err, None, path)

        def ended() -> None:  # dropped (another network opened meanwhile): it can be asked for again
            now = self.clip_entries.get(key)
            if now is not None and now.status == "loading":
                self._set_entry(replace(entry, status="ready", detail=""))

        handle = self.controller.analyse_clip(path)
        handle.finished.connect(done)
        handle.failed.connect(failed)
        handle.ended.connect(ended)

    def _show_analysed(self, key: str) -> None:
        self._wanted_clip = key
        analysis, clip = self.analyses[key]
        self.analyses.move_to_end(key)
        summary = self.summary
        same_clip = self.clip is not None and self.clip.sha256 == key
        was_playing = self.engine.is_playing
        position = self.engine.position() if self.clip is not None else 0.0
        pending = self._pending_selection
        self._pending_selection = None
        if pending is not None:
            position, was_playing = pending["playhead"], False
        first_clip = self.clip is None
        self.analysis, self.clip = analysis, clip
        self.engine.pause()
        settle_garbage(collect=not first_clip)  # while nothing plays (the first clip: only freeze, it is waited for)
        for slot in (Slot.B, Slot.R, Slot.C):
            self.engine.unload(slot)
        self.feature = self.residual = self.compared = None
        self._shown = None
        self._load_slot_a()
        self.stack.set_clip(summary.grid, clip.duration, self.controller.frame_seconds(), clip.original_db)
        loop = self.session.loops.get(key)
        if loop is not None and loop.end_s <= clip.duration:
            self.stack.set_loop((loop.start_s, loop.end_s))
            self.engine.set_loop(loop.start_s, loop.end_s)
        else:
            self.stack.set_loop(None)
            self.engine.clear_loop()
            if not same_clip:
                self.act_loop.setChecked(False)
                self.engine.set_looping(False)
                self._playback_edited(loop=False)
        self.engine.seek(position if position < clip.duration - 0.05 else 0.0)
        self._resume_after_render = was_playing
        self._show_findings(clip)
        self.tree.set_thumbnail_span(clip.thumbnail_span_s, clip.duration)
        channels = "mono" if clip.channels == 1 else f"{clip.channels} ch"
        self.clip_label.setText(f"clip {clip.name} · {clip.duration:.1f} s · {clip.original_rate} Hz {channels}")
        self.clip_label.setToolTip(str(clip.path))
        self.clip_list.set_current(key)
        self._update_rate_label()
        self.statusBar().showMessage(f"Analysed {clip.name} in {clip.analysis_seconds:.2f} s", 5000)
        if self.session.selection.clip != key:
            self.session.select(clip=key)
            self._edited()
        self._session_changed(self.session.dirty)
        wanted = pending["ref"] if pending and pending["ref"] else self.selected
        ref = wanted if wanted is not None and self.controller.valid(wanted) else self.controller.default_ref()
        self.selected = None  # render again: same map, new clip
        self.request_render(ref)
        self.tree.select(ref)  # already selected: the tree's signal is ignored
        self.gallery.set_selected(ref)
        compare = pending["compare"] if pending else self.compare
        self._set_compare(compare if compare is not None and self.controller.valid(compare) else None)
        self.controller.find(key)  # energies and predictions: after the first map's render
        self._start_thumbnails(ref[0])

    def step_clip(self, step: int) -> None:
        """The next (or previous) clip of the session, same map, same playhead: one key press."""
        key = self.clip_list.step(step)
        if key is not None:
            self.show_clip(key)

    def remove_clip(self, key: str) -> None:
        if self.clip is not None and self.clip.sha256 == key:
            other = self.clip_list.step(1)
            if other is None or other == key:
                self.statusBar().showMessage("The clip on screen is the session's only clip: add another first", 6000)
                return
            self.show_clip(other)
        self.analyses.pop(key, None)
        self.clip_entries.pop(key, None)
        self.session.remove_clip(key)
        self._edited()
        self.clip_list.set_clips(list(self.clip_entries.values()))

    def locate_clip(self, key: str) -> None:
        entry = self.clip_entries.get(key)
        if entry is None:
            return
        exts = " ".join(f"*{e}" for e in AUDIO_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(
            self, f"Where is {entry.name}?", self._last_dir(), f"Audio ({exts});;All files (*)"
        )
        if not path:
            return
        found = Path(path).resolve()
        try:
            self.session.relocate_clip(key, found)  # the same file moved: keeps its place, loop and results
        except SessionError:
            self._replacing[found] = key  # another file: it takes the missing one's place once it opens
            self.open_audio(found)
            return
        self._edited()
        self._set_entry(replace(entry, path=found, status="ready", detail=""))
        self.show_clip(key)


def _top_of(clip: ClipSummary) -> str:
    """The clip list's detail: the model's top prediction, "…" until the findings are in."""
    if clip.findings is None:
        return "…"
    top = max(clip.predictions, key=lambda p: p[1]) if clip.predictions else None
    return f"{top[0]} {top[1]:.2f}" if top else ""
