"""The main window: tree | stacked views | inspector, the transport below, predictions above the views.

The window is a view of what the worker computed: it keeps handles to the model and the analysis, sends
every request to the compute worker (`ComputeWorker`; newest request wins, stale results are dropped), and
drives the `PlaybackEngine` from the GUI thread, polling its playhead at ~30 Hz.
"""

from __future__ import annotations

import gc
import json
import math
import os
import threading
import time
from collections import deque
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.audio import AUDIO_EXTENSIONS
from app.core.errors import AudioLoadError, ClipTooShortError, ModelFormatError
from app.playback import AudioDeviceError, PlaybackEngine, Slot
from app.ui import compute
from app.ui import settings as keys
from app.ui.compute import Auralisation, ModelSummary, Ref, Session
from app.ui.display import format_time, is_silent
from app.ui.export_dialog import ExportDialog, ExportRequest
from app.ui.feature_tree import FeatureTree, ref_text
from app.ui.images import thumbnail_pixmap
from app.ui.inspector import Inspector
from app.ui.predictions import PredictionStrip
from app.ui.settings import Settings
from app.ui.transport import RenderOptions, TransportBar
from app.ui.views import SpectrogramStack
from app.ui.worker import EXPORT, OPEN, RENDER, THUMBNAILS, ComputeWorker

MODEL_EXTENSIONS = (".safetensors", ".onnx")
POLL_MS = 33
THUMBNAIL_TARGET_S = 0.12  # one background job's length: a click waits at most about this long
PEAK_HEADROOM_DB = 0.1  # B and R never peak above -0.1 dBFS (before the volume, which is at most 1)
THUMBNAIL_PAUSE_S = 1.5  # no background job starts this soon after a click: browsing comes in bursts
STATE_FILE_ENV = "AURASCOPE_STATE_FILE"


def settle_garbage() -> None:
    """Collect, then freeze what survives (torch, Qt, pyqtgraph: ~300k objects) out of the cyclic collector.

    A full collection of that heap holds the GIL for 150-200 ms, longer than the output latency, so the audio
    callback would miss its turn (an underflow) whenever the collector happened to run; after the freeze a
    collection only walks what was created since, which takes well under a millisecond.
    """
    gc.collect()
    gc.freeze()


class Banner(QFrame):
    """A strip across the top of the window for problems the user should know about (no audio device)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet(
            "Banner { background: #5a3d12; border: 1px solid #c08a2e; border-radius: 4px; }QLabel { color: #ffe7b8; }"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry = QPushButton("Try again")
        layout.addWidget(self.text, 1)
        layout.addWidget(self.retry)
        self.hide()


class MainWindow(QMainWindow):
    """``featureReady(ref)`` is emitted when slot B holds the selected map's rendering (audio ready)."""

    featureReady = Signal(object)
    sessionReady = Signal()
    exportFinished = Signal(object)  # list of written paths
    errorShown = Signal(str)

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        engine: PlaybackEngine | None = None,
        thumbnails: bool = True,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Aurascope")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        device = self.settings.get(keys.DEVICE)
        # a starved callback (a long GIL hold) is not a lost device: give it 3 s before saying so
        self.engine = engine if engine is not None else PlaybackEngine(device or None, stall_timeout_s=3.0)
        self.worker = ComputeWorker(self)
        self.thumbnails_enabled = thumbnails

        self.model_handle = None
        self.summary: ModelSummary | None = None
        self.analysis = None
        self.clip: compute.ClipSummary | None = None
        self.pending_audio: Path | None = None
        self.selected: Ref | None = None
        self.feature: Auralisation | None = None
        self.residual: Auralisation | None = None
        self._shown: Auralisation | None = None
        self.annotations: dict[str, dict[str, str]] = {}
        self.error_box: QMessageBox | None = None
        self.last_error: str = ""
        self.render_requested_at = 0.0
        self.last_ready_seconds = math.nan
        self.shown_at: float | None = None  # wall-clock time of the first show, and of the first map ready
        self.first_ready_at: float | None = None
        self._thumb_queue: deque[Ref] = deque()
        self._thumb_analysis = None  # the analysis (and method) the queued thumbnails belong to
        self._thumb_method = "deconvnet"
        self._thumb_per_map: dict[int, float] = {}  # seconds per map, measured per layer
        self._thumb_done = 0
        self._thumb_total = 0
        self._device_ok = False
        self._was_playing = False
        self._shown_playing = False
        self._shown_playing_before = False
        self._underflows_seen = 0
        self.underflows_playing = 0  # shown in the transport
        self.underflows_idle = 0
        self._open_device_when_idle = False
        self._closing = False

        self._thumb_timer = QTimer(self)
        self._thumb_timer.setSingleShot(True)
        self._thumb_timer.timeout.connect(self._next_thumbnails)

        self._build_actions()
        self._build_widgets()
        self._build_menus()
        self._restore_settings()

        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self._poll)
        self.poll.start()
        self._state_file = os.environ.get(STATE_FILE_ENV)
        self._state_text = ""
        if self._state_file:
            self._state_timer = QTimer(self)
            self._state_timer.setInterval(100)
            self._state_timer.timeout.connect(self._write_state)
            self._state_timer.start()

    # ==== construction ===================================================================================
    def _action(self, text: str, slot=None, shortcut=None, checkable=False, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        if tip:
            action.setToolTip(tip + (f"  ({action.shortcut().toString()})" if shortcut else ""))
            action.setStatusTip(tip)
        if slot is not None:
            action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work wherever the focus is in the window
        return action

    def _build_actions(self) -> None:
        style = self.style()
        self.icon_play = style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self.icon_pause = style.standardIcon(QStyle.StandardPixmap.SP_MediaPause)
        a = self._action
        self.act_open_audio = a("Open &audio…", self.choose_audio, QKeySequence.StandardKey.Open)
        self.act_open_model = a("Open &model…", self.choose_model, "Ctrl+Shift+O")
        self.act_export = a("&Export selected features…", self.export_selected, "Ctrl+E")
        self.act_quit = a("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_play = a("Play", self.toggle_play, "Space", True, "Play / pause")
        self.act_play.setIcon(self.icon_play)
        self.act_start = a("Go to start", lambda: self.seek(0.0), "Home")
        self.act_slot_a = a("A original", lambda: self.select_slot(Slot.A), "A", True, "Hear the original clip")
        self.act_slot_b = a("B feature", lambda: self.select_slot(Slot.B), None, True, "Hear the auralised feature")
        self.act_slot_r = a(
            "R residual", lambda: self.select_slot(Slot.R), None, True, "Hear what the feature leaves out"
        )
        group = QActionGroup(self)
        for act in (self.act_slot_a, self.act_slot_b, self.act_slot_r):
            group.addAction(act)
        self.act_slot_b.setChecked(True)
        self.act_toggle_ab = a("Toggle A/B", self.toggle_ab, "B", tip="Switch between original and feature")
        self.act_slot_b.setToolTip("Hear the auralised feature  (B toggles A/B)")
        self.act_toggle_r = a("Residual on/off", self.toggle_residual, "R", tip="Switch to the residual and back")
        self.act_slot_r.setToolTip("Hear what the feature leaves out  (R)")
        self.act_loop = a("Loop", self.set_looping, "L", True, "Loop the region dragged on the views (or the clip)")
        self.act_clear_loop = a("Clear loop region", self.clear_loop_region, "Shift+L")
        self.act_match = a("Match loudness", self.set_loudness_match, "M", True, "Play B and R at the original's LUFS")
        self.act_full_a = a("A plays the file at its own rate", self._full_quality_changed, None, True)
        self.act_full_a.setToolTip("Off: A is the mono clip at the model's rate, as the network hears it")
        self.act_next_map = a("Next map", lambda: self.step_map(1), "Down")
        self.act_prev_map = a("Previous map", lambda: self.step_map(-1), "Up")
        self.act_next_layer = a("Next layer", lambda: self.step_layer(1), "Right")
        self.act_prev_layer = a("Previous layer", lambda: self.step_layer(-1), "Left")
        self.act_sort = a("Sort maps by energy", self._sort_changed, "Ctrl+Shift+S", True)
        self.act_follow = a("Follow playhead", self._follow_changed, "F", True)
        self.act_reset_zoom = a("Show whole clip", self.reset_zoom, "Ctrl+0")
        self.act_keys = a("Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self.act_about = a("About Aurascope", self.show_about)

    def _build_widgets(self) -> None:
        self.banner = Banner()
        self.banner.retry.clicked.connect(self.retry_device)
        self.tree = FeatureTree()
        self.tree.currentChanged.connect(self._tree_current_changed)
        self.tree.activated.connect(self._tree_activated)
        self.predictions = PredictionStrip()
        self.stack = SpectrogramStack()
        self.stack.seekRequested.connect(self.seek)
        self.stack.loopChanged.connect(self._loop_region_changed)
        self.inspector = Inspector()
        self.inspector.annotationChanged.connect(self._annotation_changed)
        inspector_scroll = QScrollArea()
        inspector_scroll.setWidget(self.inspector)
        inspector_scroll.setWidgetResizable(True)
        inspector_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inspector_scroll.setMinimumWidth(300)

        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(2)
        self.options = RenderOptions()
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 4, 0)
        top.addWidget(self.predictions, 1)
        top.addWidget(self.options)
        centre_layout.addLayout(top)
        centre_layout.addWidget(self.stack, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.tree)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(inspector_scroll)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([290, 880, 310])
        self.splitter.setChildrenCollapsible(False)

        self.transport = TransportBar(
            {
                "play": self.act_play,
                "slot_a": self.act_slot_a,
                "slot_b": self.act_slot_b,
                "slot_r": self.act_slot_r,
                "loop": self.act_loop,
                "match": self.act_match,
            }
        )
        self.transport.volumeChanged.connect(self._volume_changed)
        self.options.modeChanged.connect(self._mode_changed)
        self.options.methodChanged.connect(self._method_changed)
        self.transport.deviceChosen.connect(self.choose_device)
        self.transport.rescanRequested.connect(self.refresh_devices)

        root = QWidget()
        layout = QVBoxLayout(root)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.setSpacing(4)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        layout.addWidget(line)
        layout.addWidget(self.transport)
        self.setCentralWidget(root)

        bar = self.statusBar()
        self.hover_label = QLabel("")
        self.hover_label.setStyleSheet("font-family: monospace;")
        bar.addWidget(self.hover_label, 1)
        self.busy_label = QLabel("")
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedWidth(90)
        self.busy_bar.setMaximumHeight(14)
        self.busy_cancel = QToolButton()
        self.busy_cancel.setText("Cancel")
        self.busy_cancel.setToolTip("Stop the work in progress (opening a file, thumbnails)")
        self.busy_cancel.clicked.connect(self.cancel_work)
        self.thumb_label = QLabel("")
        self.model_label = QLabel("no model")
        self.clip_label = QLabel("no clip")
        self.rate_label = QLabel("")
        self.render_label = QLabel("")
        for widget in (self.busy_label, self.busy_bar, self.busy_cancel):
            widget.hide()
            bar.addPermanentWidget(widget)
        for widget in (self.thumb_label, self.model_label, self.clip_label, self.rate_label, self.render_label):
            widget.setStyleSheet("padding: 0 8px; border-left: 1px solid #44444f;")
            bar.addPermanentWidget(widget)
        self.stack.hoverText.connect(self.hover_label.setText)
        self.worker.busyChanged.connect(self._busy_changed)
        self.worker.drained.connect(self._worker_drained)

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.act_open_audio)
        menu.addAction(self.act_open_model)
        self.recent_audio_menu = menu.addMenu("Recent audio")
        self.recent_model_menu = menu.addMenu("Recent models")
        menu.addSeparator()
        menu.addAction(self.act_export)
        menu.addSeparator()
        menu.addAction(self.act_quit)
        menu = self.menuBar().addMenu("&Playback")
        for act in (
            self.act_play,
            self.act_start,
            None,
            self.act_slot_a,
            self.act_slot_b,
            self.act_slot_r,
            self.act_toggle_ab,
            self.act_toggle_r,
            None,
            self.act_loop,
            self.act_clear_loop,
            self.act_match,
            self.act_full_a,
        ):
            menu.addSeparator() if act is None else menu.addAction(act)
        menu = self.menuBar().addMenu("&View")
        for act in (
            self.act_next_map,
            self.act_prev_map,
            self.act_next_layer,
            self.act_prev_layer,
            None,
            self.act_sort,
            self.act_follow,
            self.act_reset_zoom,
        ):
            menu.addSeparator() if act is None else menu.addAction(act)
        menu = self.menuBar().addMenu("&Help")
        menu.addAction(self.act_keys)
        menu.addAction(self.act_about)
        self._rebuild_recent()

    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.get(keys.GEOMETRY)
        if not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            screen = QApplication.primaryScreen()
            area = screen.availableGeometry() if screen is not None else None
            w, h = (min(1480, int(area.width() * 0.95)), min(900, int(area.height() * 0.92))) if area else (1400, 860)
            self.resize(w, h)
        for key, splitter in ((keys.SPLITTER, self.splitter), (keys.VIEW_SPLITTER, self.stack.splitter)):
            state = s.get(key)
            if not state.isEmpty():
                splitter.restoreState(state)
        self.transport.set_volume(s.get(keys.VOLUME))
        self.act_match.setChecked(s.get(keys.LOUDNESS_MATCH))
        self.act_full_a.setChecked(s.get(keys.FULL_QUALITY_A))
        self.options.set_mode(s.get(keys.MODE))
        self.options.set_method(s.get(keys.METHOD))
        self.act_follow.setChecked(s.get(keys.FOLLOW))
        self.stack.follow = self.act_follow.isChecked()
        self.act_sort.setChecked(s.get(keys.SORT_BY_ENERGY))
        self._sort_changed()
        self.engine.select(Slot.B)
        self.engine.set_looping(False)

    # ==== start-up ========================================================================================
    def start(self, audio: Path | None, model: Path | None) -> None:
        """After the window is shown: open the device, then the files (model first, then audio)."""
        if model is not None:
            # the device opens once the worker has loaded torch: loading its libraries holds the GIL for
            # about a second, which would starve a running audio callback
            self._open_device_when_idle = True
            self.open_model(model, audio)
        else:
            QTimer.singleShot(0, self.open_device)
            if audio is not None:
                self.open_audio(audio)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.shown_at is None:
            self.shown_at = time.time()

    # ==== opening files ===================================================================================
    def choose_audio(self) -> None:
        exts = " ".join(f"*{e}" for e in AUDIO_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self, "Open audio", self._last_dir(), f"Audio ({exts});;All files (*)")
        if path:
            self.open_audio(Path(path))

    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open model",
            self._last_dir(),
            "Models (*.safetensors *.onnx);;Aurascope models (*.safetensors);;ONNX + <name>.json front end (*.onnx)",
        )
        if path:
            self.open_model(Path(path))

    def _last_dir(self) -> str:
        return self.settings.get(keys.LAST_DIR) or str(Path.home())

    def open_files(self, paths: list[Path]) -> None:
        """Files from the command line, a drop, or the desktop: models by extension, everything else as audio."""
        models = [p for p in paths if p.suffix.lower() in MODEL_EXTENSIONS]
        audio = [p for p in paths if p.suffix.lower() not in MODEL_EXTENSIONS]
        if models:
            self.open_model(models[-1], audio[-1] if audio else None)
        elif audio:
            self.open_audio(audio[-1])

    def open_model(self, path: Path, audio: Path | None = None) -> None:
        """Load a model (and re-analyse the current clip, or ``audio``, with it) on the worker."""
        path = Path(path)
        clip_path = Path(audio) if audio is not None else (self.clip.path if self.clip else self.pending_audio)
        self.settings.set(keys.LAST_DIR, str(path.parent))

        def run(job):
            return compute.open_session(path, clip_path, cancelled=lambda: job.cancelled)

        self._start_open(run, f"Opening model {path.name}…", path, clip_path)

    def open_audio(self, path: Path) -> None:
        path = Path(path)
        self.settings.set(keys.LAST_DIR, str(path.parent))
        if self.model_handle is None:
            self.pending_audio = path
            self.clip_label.setText(f"{path.name} (waiting for a model)")
            self.statusBar().showMessage("Open a model (Ctrl+Shift+O) to analyse this clip", 8000)
            return
        model, summary = self.model_handle, self.summary

        def run(job):
            return compute.open_session(None, path, model=model, summary=summary, cancelled=lambda: job.cancelled)

        self._start_open(run, f"Analysing {path.name}…", None, path)

    def _start_open(self, run, text: str, model_path: Path | None, audio_path: Path | None) -> None:
        self.worker.submit(
            OPEN,
            run,
            on_result=lambda session: self._session_opened(session, model_path, audio_path),
            on_error=lambda err: self._open_failed(err, model_path, audio_path),
            busy_text=text,
        )

    def _open_failed(self, err: BaseException, model_path: Path | None, audio_path: Path | None) -> None:
        """Say which file and what is wrong with it; the loaded model and clip stay as they were."""
        if isinstance(err, ModelFormatError):
            path = err.path or model_path
            where = f" (field '{err.field}')" if err.field else ""
            reason = f"This is not a model Aurascope can read{where}: {err.reason}"
        elif isinstance(err, AudioLoadError):
            path, reason = err.path, f"This audio file cannot be read: {err.reason}"
        elif isinstance(err, ClipTooShortError):
            path, reason = err.path, str(err)
        else:
            path = audio_path if model_path is None else model_path
            reason = f"{type(err).__name__}: {err}"
        self.show_error(f"Cannot open {Path(path).name if path else 'the file'}", reason, path)

    def show_error(self, title: str, reason: str, path: Path | None = None) -> None:
        """A window-modal message that does not block the event loop (the worker keeps delivering)."""
        self.last_error = f"{title}\n{reason}\n{path or ''}"
        box = QMessageBox(QMessageBox.Icon.Warning, title, reason, QMessageBox.StandardButton.Ok, self)
        if path is not None:
            box.setInformativeText(str(path))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _: setattr(self, "error_box", None))
        self.error_box = box
        box.open()
        self.errorShown.emit(self.last_error)

    def _session_opened(self, session: Session, model_path: Path | None, audio_path: Path | None) -> None:
        new_model = session.model is not self.model_handle
        if new_model:
            self.model_handle, self.summary = session.model, session.summary
            self.annotations = self.settings.annotations(session.summary.sha256)
            labels = {self._parse_key(k): v.get("label", "") for k, v in self.annotations.items()}
            self.tree.set_model(session.summary, {r: v for r, v in labels.items() if r is not None})
            summary = session.summary
            notes = "".join(f"\n⚠ {text}" for text in summary.warnings)
            kind = "" if summary.kind == "safetensors" else f" ({summary.kind}: autograd route)"
            self.model_label.setText(f"model {summary.name}{kind}" + (" ⚠" if summary.warnings else ""))
            self.model_label.setToolTip(f"{summary.path}\n{summary.front_end_text}{notes}")
            if summary.warnings:
                self.statusBar().showMessage(
                    f"{len(summary.warnings)} note(s) on how faithfully this network can be attributed: "
                    "hover over the model's name below",
                    10000,
                )
            if model_path is not None:
                self.settings.add_recent(keys.RECENT_MODELS, str(Path(model_path).resolve()))
        if session.clip is None:
            self._rebuild_recent()
            self.sessionReady.emit()
            return
        self.pending_audio = None
        self.analysis, self.clip = session.analysis, session.clip
        self.settings.add_recent(keys.RECENT_AUDIO, str(session.clip.path))
        self._rebuild_recent()
        summary, clip = self.summary, self.clip
        self.engine.stop()
        settle_garbage()  # while nothing plays
        self.engine.unload(Slot.B)
        self.engine.unload(Slot.R)
        self.feature = self.residual = None
        self._load_slot_a()
        self.stack.set_clip(summary.grid, clip.duration, self._frame_seconds(), clip.original_db)
        self.act_loop.setChecked(False)
        self.engine.set_looping(False)
        self.engine.clear_loop()
        self.tree.set_energies(clip.energies)
        self.predictions.set_predictions(list(clip.predictions), summary.output, summary.task)
        channels = "mono" if clip.channels == 1 else f"{clip.channels} ch"
        self.clip_label.setText(f"clip {clip.name} · {clip.duration:.1f} s · {clip.original_rate} Hz {channels}")
        self.clip_label.setToolTip(str(clip.path))
        self.setWindowTitle(f"{clip.name} — {summary.name} — Aurascope")
        self._update_rate_label()
        self.statusBar().showMessage(f"Analysed {clip.name} in {clip.analysis_seconds:.2f} s", 5000)
        ref = self.selected if self.selected is not None and self._valid(self.selected) else self._default_ref()
        self.request_render(ref)
        self.tree.select(ref)  # already selected: the tree's signal is ignored
        self._start_thumbnails(ref[0])
        self.sessionReady.emit()

    def _default_ref(self) -> Ref:
        return (2, 0) if self.summary and len(self.summary.layers) >= 2 else (1, 0)

    def _valid(self, ref: Ref) -> bool:
        return (
            self.summary is not None
            and 1 <= ref[0] <= len(self.summary.layers)
            and (0 <= ref[1] < self.summary.layers[ref[0] - 1].n_maps)
        )

    def _frame_seconds(self) -> float:
        return self.summary.hop_length / self.summary.sample_rate if self.summary else 0.0

    @staticmethod
    def _parse_key(key: str) -> Ref | None:
        try:
            layer, index = key[1:].split("F")
            return int(layer), int(index)
        except ValueError:
            return None

    # ==== rendering =======================================================================================
    def _tree_current_changed(self, ref: Ref | None) -> None:
        if ref is not None and ref != self.selected:
            self.request_render(ref)

    def _tree_activated(self, ref: Ref) -> None:
        if ref != self.selected:
            self.request_render(ref)
        self.select_slot(Slot.B)
        self.seek(0.0)
        self.play()

    def request_render(self, ref: Ref) -> None:
        """Select map ``ref``: the inspector at once, the rendering from the worker (newest request wins)."""
        self.selected = ref
        if self._thumb_queue and self._thumb_queue[0][0] != ref[0]:  # the layer being looked at goes first
            ahead = [r for r in self._thumb_queue if r[0] == ref[0]]
            rest = [r for r in self._thumb_queue if r[0] != ref[0]]
            self._thumb_queue = deque(ahead + rest)
        layer = self.summary.layers[ref[0] - 1] if self.summary else None
        energy, rank = self._energy_of(ref)
        key = f"L{ref[0]}F{ref[1]}"
        note = self.annotations.get(key, {})
        self.inspector.show_feature(ref, layer, note.get("label", ""), note.get("notes", ""), energy, rank)
        if self.analysis is None:
            return
        mode, method = self.options.mode.currentData(), self.options.method.currentData()
        summary, analysis, rate = self.summary, self.analysis, self.engine.sample_rate
        self.stack.set_busy(True, f"Rendering {ref_text(ref)} ({mode}, {method})…")
        self.render_requested_at = time.perf_counter()

        def run(job):
            return compute.render_feature(
                analysis,
                summary,
                ref,
                mode,
                rate,
                method=method,
                on_first=lambda result: self.worker.post(job, self._feature_rendered, result),
                cancelled=lambda: job.cancelled,
            )

        self.worker.submit(
            RENDER,
            run,
            on_result=self._residual_rendered,
            on_error=lambda err: self.show_error(f"Cannot render {ref_text(ref)}", f"{type(err).__name__}: {err}"),
        )

    def _energy_of(self, ref: Ref) -> tuple[float | None, str]:
        if self.clip is None or ref[0] not in self.clip.energies:
            return None, ""
        values = self.clip.energies[ref[0]]
        rank = 1 + int((values > values[ref[1]]).sum())
        return float(values[ref[1]]), f"{rank} of {len(values)}"

    def _feature_rendered(self, result: Auralisation) -> None:
        if (result.ref, result.mode, result.method) != (
            self.selected,
            self.options.mode.currentData(),
            self.options.method.currentData(),
        ):
            return  # a stale result: the user has moved on
        self.feature = result
        self.engine.load(Slot.B, result.audio, result.device_rate)
        self._apply_gains()
        self.last_ready_seconds = time.perf_counter() - self.render_requested_at
        self._show_rendering()
        self.inspector.show_rendering(result)
        self.render_label.setText(f"render {1000 * result.seconds:.0f} ms")
        self.render_label.setToolTip(
            f"{ref_text(result.ref)}: {1000 * result.seconds:.0f} ms on the worker, "
            f"{1000 * self.last_ready_seconds:.0f} ms from the click to audio in slot B"
        )
        if self.first_ready_at is None:
            self.first_ready_at = time.time()
        self.featureReady.emit(result.ref)

    def _residual_rendered(self, result: Auralisation | None) -> None:
        if result is None or (result.ref, result.mode, result.method) != (
            self.selected,
            "residual",
            self.options.method.currentData(),
        ):
            return
        self.residual = result
        self.engine.load(Slot.R, result.audio, result.device_rate)
        self._apply_gains()
        if self.engine.selected is Slot.R:
            self._show_rendering()

    def _show_rendering(self, force: bool = False) -> None:
        """The middle view shows what the selected slot plays (B's rendering, or R's when R is selected)."""
        shown = self.residual if self.engine.selected is Slot.R and self.residual is not None else self.feature
        if shown is None or (shown is self._shown and not force):
            return  # A/B toggles do not redraw what is already there
        self._shown = shown
        frame = self._frame_seconds()
        label = self.annotations.get(f"L{shown.ref[0]}F{shown.ref[1]}", {}).get("label", "")
        how = shown.mode if shown.method == "deconvnet" else f"{shown.mode}, {shown.method}"
        what = "Residual (original − feature)" if shown.mode == "residual" else f"Auralised feature ({how})"
        title = f"{what} · {ref_text(shown.ref)}" + (f" · {label}" if label else "")
        if is_silent(shown.display_db):
            title += " · silent: this map does not fire on this clip"
        self.stack.set_feature(shown.display_db, title, frame)
        feature = self.feature or shown
        self.stack.set_activation(
            feature.activation_display,
            feature.activation_seconds,
            f"Activation of {ref_text(feature.ref)} (layer {feature.ref[0]}: "
            f"{feature.activation.shape[0]}×{feature.activation.shape[1]}, peak {feature.activation_peak:.3g})",
            frame,
        )

    # ==== thumbnails (background, one short job at a time) ====================================================
    def _start_thumbnails(self, first_layer: int) -> None:
        self.worker.cancel(THUMBNAILS)
        self._thumb_queue.clear()
        self._thumb_per_map.clear()
        if not self.thumbnails_enabled or self.summary is None:
            return
        order = [first_layer] + [layer.number for layer in self.summary.layers if layer.number != first_layer]
        for number in order:
            self._thumb_queue.extend((number, k) for k in range(self.summary.layers[number - 1].n_maps))
        self._thumb_total, self._thumb_done = len(self._thumb_queue), 0
        self._thumb_analysis = self.analysis
        self._thumb_method = self.options.method.currentData()
        self._next_thumbnails()

    def _worker_drained(self) -> None:
        if self._open_device_when_idle:
            self._open_device_when_idle = False
            settle_garbage()
            self.open_device()
        self._next_thumbnails()

    def _next_thumbnails(self) -> None:
        if not self._thumb_queue or self.analysis is None or self._thumb_analysis is not self.analysis:
            self.thumb_label.setText("")
            return
        if not self.worker.idle:
            return  # resumed when the worker has drained (interactive work goes first)
        quiet = time.perf_counter() - self.render_requested_at
        if quiet < THUMBNAIL_PAUSE_S:
            self._thumb_timer.start(int(1000 * (THUMBNAIL_PAUSE_S - quiet)) + 20)
            return
        layer = self._thumb_queue[0][0]
        per_map = self._thumb_per_map.get(layer)
        size = 1 if per_map is None else max(1, min(16, int(THUMBNAIL_TARGET_S / max(per_map, 1e-3))))
        chunk: list[int] = []
        while self._thumb_queue and self._thumb_queue[0][0] == layer and len(chunk) < size:
            chunk.append(self._thumb_queue.popleft()[1])
        analysis, summary, method = self.analysis, self.summary, self._thumb_method

        def run(job):
            started = time.perf_counter()
            images = compute.thumbnails(analysis, summary, layer, chunk, method)
            return analysis, images, (time.perf_counter() - started) / len(chunk)

        def done(value) -> None:
            owner, images, per_map = value
            if owner is not self.analysis:
                return
            self._thumb_per_map[layer] = per_map
            self._thumb_done += len(images)
            self.tree.set_thumbnails({ref: thumbnail_pixmap(img) for ref, img in images.items()})
            self.thumb_label.setText(f"thumbnails {self._thumb_done}/{self._thumb_total}" if self._thumb_queue else "")

        def failed(err: BaseException) -> None:
            self._thumb_queue.clear()
            self.thumb_label.setText("thumbnails stopped")
            self.thumb_label.setToolTip(f"{type(err).__name__}: {err}")

        self.worker.submit(THUMBNAILS, run, on_result=done, on_error=failed, replace=False)

    # ==== playback ========================================================================================
    def _load_slot_a(self) -> None:
        if self.clip is None:
            return
        if self.act_full_a.isChecked():
            self.engine.load(Slot.A, self.clip.original, self.clip.original_rate)
        else:
            self.engine.load(Slot.A, self.clip.samples, self.summary.sample_rate)

    def open_device(self) -> bool:
        """Open the output stream (kept open while the app runs); a banner says so if there is none."""
        self.refresh_devices()  # before the stream runs: PortAudio's ALSA probe of every device is slow
        try:
            self.engine.open()
        except AudioDeviceError as err:
            self._device_failed(err)
            return False
        self._device_ok = True
        self.banner.hide()
        self._update_rate_label()
        return True

    def _device_failed(self, err: AudioDeviceError, lost: bool = False) -> None:
        self._device_ok = False
        what = "The audio device was lost" if lost else "No audio output"
        self.banner.text.setText(
            f"<b>{what}</b>: {err.reason}<br>Everything else works, export included. Pick an output device at "
            "the bottom right (⟳ looks again) or press <i>Try again</i>; playback resumes there."
        )
        self.banner.show()
        self._poll()

    def retry_device(self) -> None:
        self.refresh_devices()
        self.choose_device(self.settings.get(keys.DEVICE))

    def refresh_devices(self) -> None:
        try:
            devices = self.engine.list_output_devices()
        except AudioDeviceError as err:
            self.transport.set_devices([("no output device", "")], "")
            self.transport.device.setToolTip(err.reason)
            return
        names = [("System default", "")] + [(f"{d.name} ({d.host_api})", d.name) for d in devices]
        self.transport.set_devices(names, self.settings.get(keys.DEVICE))

    def choose_device(self, name: str) -> None:
        was_playing = self._was_playing or self.engine.is_playing
        try:
            self.engine.set_device(name or None)
            self.engine.open()
        except AudioDeviceError as err:
            self._device_failed(err)
            return
        self.settings.set(keys.DEVICE, name)
        self._device_ok = True
        self.banner.hide()
        self._update_rate_label()
        if was_playing and not self.engine.is_playing:
            self.play()
        self.statusBar().showMessage(f"Playing through {self.engine.device.name if self.engine.device else name}", 4000)

    def toggle_play(self) -> None:
        if self.engine.is_playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.clip is None:
            return
        try:
            self.engine.play()
        except AudioDeviceError as err:
            self._device_failed(err)
            return
        self._was_playing = True
        self._device_ok = True
        self.banner.hide()

    def pause(self) -> None:
        self.engine.pause()
        self._was_playing = False

    def seek(self, seconds: float) -> None:
        if self.clip is not None:
            self.engine.seek(seconds)
            self.stack.set_playhead(seconds)

    def select_slot(self, slot: Slot) -> None:
        self.engine.select(slot)
        {Slot.A: self.act_slot_a, Slot.B: self.act_slot_b, Slot.R: self.act_slot_r}[slot].setChecked(True)
        self._show_rendering()

    def toggle_ab(self) -> None:
        self.select_slot(Slot.B if self.engine.selected is Slot.A else Slot.A)

    def toggle_residual(self) -> None:
        self.select_slot(Slot.B if self.engine.selected is Slot.R else Slot.R)

    def set_looping(self) -> None:
        self.engine.set_looping(self.act_loop.isChecked())

    def _loop_region_changed(self, region) -> None:
        start, end = region
        self.engine.set_loop(start, end)
        if not self.act_loop.isChecked():
            self.act_loop.setChecked(True)
            self.set_looping()
        self.statusBar().showMessage(
            f"Loop {format_time(start)} – {format_time(end)} (L toggles, Shift+L clears)", 4000
        )

    def clear_loop_region(self) -> None:
        self.stack.set_loop(None)
        self.engine.clear_loop()

    def set_loudness_match(self) -> None:
        self.settings.set(keys.LOUDNESS_MATCH, self.act_match.isChecked())
        self._apply_gains()

    def _apply_gains(self) -> None:
        """B and R at the original's loudness (if asked), never above full scale: a gain that would push a
        rendering's peak over -0.1 dBFS is capped there (volume only lowers it further), as the export caps
        integer formats; the transport says when it is capped."""
        on = self.act_match.isChecked()
        gains: dict[Slot, tuple[float, float, bool] | None] = {}
        for slot, shown in ((Slot.B, self.feature), (Slot.R, self.residual)):
            if shown is None:
                gains[slot] = None
                continue
            wanted = shown.gain_db if on else 0.0
            peak = shown.device_peak_db
            ceiling = -peak - PEAK_HEADROOM_DB if math.isfinite(peak) else math.inf
            applied = min(wanted, ceiling)
            gains[slot] = (wanted, applied, applied < wanted)
            self.engine.set_slot_gain_db(slot, applied)
        for slot, value in gains.items():
            if value is None:
                self.engine.set_slot_gain_db(slot, 0.0)
        self.transport.set_gain(gains[Slot.B], gains[Slot.R], on)

    def _volume_changed(self, volume: float) -> None:
        self.engine.set_volume(volume)
        self.settings.set(keys.VOLUME, volume)

    def _mode_changed(self, mode: str) -> None:
        self.settings.set(keys.MODE, mode)
        if self.selected is not None:
            ref, self.selected = self.selected, None
            self.request_render(ref)

    def _method_changed(self, method: str) -> None:
        self.settings.set(keys.METHOD, method)
        if self.selected is not None:
            ref, self.selected = self.selected, None
            self.request_render(ref)
            if self.analysis is not None:
                self._start_thumbnails(ref[0])  # the thumbnails show the method in use

    def _full_quality_changed(self) -> None:
        self.settings.set(keys.FULL_QUALITY_A, self.act_full_a.isChecked())
        self._load_slot_a()

    def _update_rate_label(self) -> None:
        if self.summary is None:
            return
        device = f"device {self.engine.sample_rate} Hz" if self._device_ok else "no device"
        self.rate_label.setText(f"model {self.summary.sample_rate} Hz · {device}")

    def _poll(self) -> None:
        """~30 Hz: the playhead (latency-compensated by the engine), play state, underflows, a lost device."""
        engine = self.engine
        err = engine.device_error
        if err is not None and self._device_ok:
            self._device_failed(err, lost=True)
        playing = engine.is_playing
        if playing != self._shown_playing or playing != self.act_play.isChecked():
            self._shown_playing = playing
            self.act_play.setChecked(playing)
            self.act_play.setIcon(self.icon_pause if playing else self.icon_play)
            self.act_play.setText("Pause" if playing else "Play")
            if not playing and err is None:
                self._was_playing = False
        if self.clip is not None:
            position = engine.position()
            self.stack.set_playhead(position, playing)
            self.transport.set_time(position, self.clip.duration)
        count = engine.underflows
        if count != self._underflows_seen:  # a gap is only heard while playing (or fading out of it)
            if playing or self._shown_playing_before:
                self.underflows_playing += count - self._underflows_seen
            else:
                self.underflows_idle += count - self._underflows_seen
            self._underflows_seen = count
            self.transport.set_underflows(self.underflows_playing, self.underflows_idle)
        self._shown_playing_before = playing

    # ==== navigation ======================================================================================
    def step_map(self, step: int) -> None:
        ref = self.tree.step_map(step)
        if ref is not None:
            self.tree.select(ref)

    def step_layer(self, step: int) -> None:
        ref = self.tree.step_layer(step)
        if ref is not None:
            self.tree.select(ref)

    def _sort_changed(self) -> None:
        on = self.act_sort.isChecked()
        self.settings.set(keys.SORT_BY_ENERGY, on)
        self.tree.sort_by_energy() if on else self.tree.sort_by_index()

    def _follow_changed(self) -> None:
        self.stack.follow = self.act_follow.isChecked()
        self.settings.set(keys.FOLLOW, self.stack.follow)

    def reset_zoom(self) -> None:
        if self.clip is not None and self.summary is not None:
            grid = self.summary.grid
            self.stack.original.setRange(xRange=(0, self.clip.duration), yRange=(grid.y_min, grid.y_max), padding=0)

    # ==== annotations =====================================================================================
    def _annotation_changed(self, ref: Ref, label: str, notes: str) -> None:
        if self.summary is None:
            return
        self.annotations[f"L{ref[0]}F{ref[1]}"] = {"label": label, "notes": notes}
        self.settings.set_annotations(self.summary.sha256, self.annotations)
        self.tree.set_label(ref, label)
        if self.feature is not None and self.feature.ref == ref:
            self._show_rendering(force=True)

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
            modes=s.get(keys.EXPORT_MODES),
            subtype=s.get(keys.EXPORT_FORMAT),
            loudness=s.get(keys.EXPORT_LOUDNESS),
            method=self.options.method.currentData(),
            parent=self,
        )
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return
        self.run_export(dialog.request())

    def run_export(self, request: ExportRequest) -> None:
        """Write the request's files on the worker, with a progress dialog that can cancel."""
        s = self.settings
        s.set(keys.EXPORT_DIR, str(request.folder))
        s.set(keys.EXPORT_MODES, list(request.modes))
        s.set(keys.EXPORT_FORMAT, request.subtype)
        s.set(keys.EXPORT_LOUDNESS, request.loudness)
        total = len(request.refs) * len(request.modes)
        progress = QProgressDialog(f"Exporting {total} file(s) to {request.folder}…", "Cancel", 0, total, self)
        progress.setWindowTitle("Export")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(300)
        progress.setValue(0)
        self.export_progress = progress
        stop = threading.Event()
        progress.canceled.connect(stop.set)
        analysis = self.analysis

        def run(job):
            return compute.export(
                analysis,
                request.refs,
                request.modes,
                request.folder,
                subtype=request.subtype,
                loudness=request.loudness,
                method=request.method,
                progress=lambda done, n: self.worker.post(job, progress.setValue, done),
                cancelled=lambda: stop.is_set() or job.cancelled,
            )

        def finished(written: list[Path]) -> None:
            progress.reset()
            cancelled = stop.is_set()
            what = "Cancelled after" if cancelled else "Wrote"
            self.statusBar().showMessage(f"{what} {len(written)} file(s) (+ sidecars) in {request.folder}", 8000)
            self.exportFinished.emit(written)
            if written and not cancelled and not os.environ.get("AURASCOPE_NO_EXPORT_DIALOG"):
                box = QMessageBox(
                    QMessageBox.Icon.Information,
                    "Export finished",
                    f"Wrote {len(written)} WAV file(s) with JSON sidecars to\n{request.folder}",
                    QMessageBox.StandardButton.Ok,
                    self,
                )
                open_button = box.addButton("Open folder", QMessageBox.ButtonRole.ActionRole)
                open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(request.folder))))
                box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                box.open()

        def failed(err: BaseException) -> None:
            progress.reset()
            self.show_error("Export failed", f"{type(err).__name__}: {err}", request.folder)

        self.worker.submit(EXPORT, run, on_result=finished, on_error=failed, busy_text="Exporting…")

    # ==== busy indicator, cancel ==========================================================================
    def _busy_changed(self, busy: bool, text: str) -> None:
        self.busy_label.setText(text)
        for widget in (self.busy_label, self.busy_bar):
            widget.setVisible(busy)
        self.busy_cancel.setVisible(busy and text.startswith(("Opening", "Analysing")))
        if busy:
            self.setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.unsetCursor()

    def cancel_work(self) -> None:
        self.worker.cancel(OPEN)
        self.worker.cancel(THUMBNAILS)
        self._thumb_queue.clear()
        self.thumb_label.setText("")
        self.statusBar().showMessage("Cancelled; what was loaded stays loaded", 4000)

    # ==== recent files, drag and drop ===========================================================================
    def _rebuild_recent(self) -> None:
        for menu, key, opener in (
            (self.recent_audio_menu, keys.RECENT_AUDIO, self.open_audio),
            (self.recent_model_menu, keys.RECENT_MODELS, self.open_model),
        ):
            menu.clear()
            items = self.settings.get(key)
            for path in items:
                action = menu.addAction(Path(path).name)
                action.setToolTip(path)
                action.triggered.connect(lambda _=False, p=path, o=opener: o(Path(p)))
            menu.setEnabled(bool(items))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_files(paths)

    # ==== help ============================================================================================
    def show_shortcuts(self) -> None:
        rows = [
            ("Space", "play / pause"),
            ("A", "original"),
            ("B", "toggle original / feature"),
            ("R", "residual on / off"),
            ("L", "loop on / off (drag on a view to set the region)"),
            ("Shift+L", "clear the loop region"),
            ("M", "loudness match on / off"),
            ("Home", "go to start"),
            ("↑ / ↓", "previous / next map (in the tree's order)"),
            ("← / →", "previous / next layer"),
            ("F", "follow the playhead"),
            ("Ctrl+0", "show the whole clip"),
            ("wheel / Ctrl+wheel", "zoom time / frequency"),
            ("Shift+drag", "pan"),
            ("Ctrl+E", "export the selected maps"),
            ("Ctrl+O / Ctrl+Shift+O", "open audio / model"),
        ]
        html = (
            "<table>" + "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in rows) + "</table>"
        )
        QMessageBox.information(self, "Keyboard shortcuts", html)

    def show_about(self) -> None:
        from app import __version__

        QMessageBox.about(
            self,
            "About Aurascope",
            f"<b>Aurascope {__version__}</b><br>Listen to what a music CNN has learned: each feature map is "
            "projected back to the spectrogram with a deconvnet and resynthesised with the original phase "
            "(Choi, Kim, Fazekas &amp; Sandler, ISMIR 2015).",
        )

    # ==== automation (end-to-end tests and benchmarks) ====================================================
    def automation_state(self) -> dict:
        """Where things are and what is ready, for tests that drive the real process from outside."""
        maps = {}
        for layer in self.summary.layers if self.summary else ():
            for k in range(layer.n_maps):
                rect = self.tree.visual_rect((layer.number, k))
                if rect is not None and self.tree.view.viewport().rect().contains(rect.center()):
                    centre = self.tree.view.viewport().mapToGlobal(rect.center())
                    maps[f"L{layer.number}F{k}"] = [centre.x(), centre.y()]
        return {
            "pid": os.getpid(),
            "window_id": int(self.winId()),
            "shown_at": self.shown_at,
            "first_ready_at": self.first_ready_at,
            "model": str(self.summary.path) if self.summary else None,
            "clip": str(self.clip.path) if self.clip else None,
            "selected": f"L{self.selected[0]}F{self.selected[1]}" if self.selected else None,
            "feature_ready": f"L{self.feature.ref[0]}F{self.feature.ref[1]}" if self.feature else None,
            "residual_ready": self.residual is not None,
            "device_rate": self.engine.sample_rate,
            "device_ok": self._device_ok,
            "playing": self.engine.is_playing,
            "slot": self.engine.selected.value,
            "position": round(self.engine.position(), 4),
            "underflows": self.underflows_playing,
            "underflows_idle": self.underflows_idle,
            "busy": not self.worker.idle,
            "maps": maps,
            "panes": {
                name: self._global_rect(pane, pane.mapFromScene(pane.vb.sceneBoundingRect()).boundingRect())
                for name, pane in (
                    ("original", self.stack.original),
                    ("feature", self.stack.feature),
                    ("activation", self.stack.activation),
                )
            },
            "error": self.last_error,
            "banner": self.banner.isVisible(),
        }

    @staticmethod
    def _global_rect(widget: QWidget, rect) -> list[int]:
        top_left = widget.mapToGlobal(rect.topLeft())
        return [top_left.x(), top_left.y(), rect.width(), rect.height()]

    def _write_state(self) -> None:
        text = json.dumps(self.automation_state(), sort_keys=True)
        if text != self._state_text and self._state_file:
            tmp = f"{self._state_file}.tmp"
            Path(tmp).write_text(text)
            os.replace(tmp, self._state_file)
            self._state_text = text

    # ==== closing =========================================================================================
    def closeEvent(self, event) -> None:
        if self._closing:
            event.accept()
            return
        self._closing = True
        self.inspector._flush()
        s = self.settings
        s.set(keys.GEOMETRY, self.saveGeometry())
        s.set(keys.SPLITTER, self.splitter.saveState())
        s.set(keys.VIEW_SPLITTER, self.stack.splitter.saveState())
        s.sync()
        self.poll.stop()
        self.worker.cancel_all()
        self.engine.close()
        self.worker.shutdown()
        super().closeEvent(event)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self._poll()
