"""The main window: clips and tree | views, layer gallery, kernels | inspector; the transport below.

The window is a view of what the worker computed: it keeps handles to the model and the clips' analyses,
sends every request to the compute worker (`ComputeWorker`; newest request wins, stale results are dropped),
and drives the `PlaybackEngine` from the GUI thread, polling its playhead at ~30 Hz. What the listener says
about the maps lives in the listening session (`SessionKeeper`), autosaved after every change.
"""

from __future__ import annotations

import copy
import gc
import json
import math
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, QSignalBlocker, Qt, QTimer, QUrl, Signal
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
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.abx import LevelMismatchError
from app.core.audio import AUDIO_EXTENSIONS
from app.core.errors import AudioLoadError, ClipTooShortError, ModelFormatError, SessionError, UnsupportedModelError
from app.core.files import write_text
from app.core.loudness import Level, common_gains, peak_dbfs
from app.core.session import SUFFIX as SESSION_SUFFIX
from app.core.session import FileStatus
from app.core.session import Session as ListeningSession
from app.core.types import FeatureRef, Loudness, Method, Mode, member_or
from app.playback import AudioDeviceError, PlaybackEngine, Slot
from app.ui import compute
from app.ui import settings as keys
from app.ui.abx_dialog import AbxDialog, measure_match
from app.ui.clip_list import ClipEntry, ClipList
from app.ui.compute import Auralisation, ClipSummary, ModelSource, Session
from app.ui.controller import Controller, Thumbnails
from app.ui.display import format_time, is_silent
from app.ui.export_dialog import ExportDialog, ExportRequest
from app.ui.feature_tree import FeatureTree, ref_text
from app.ui.gallery import LayerGallery
from app.ui.inspector import Inspector
from app.ui.kernels_view import KernelsView
from app.ui.model_source_dialog import ModelSourceDialog, ModuleSourceRequest
from app.ui.predictions import PredictionStrip
from app.ui.report_dialog import ClipChoice, ReportDialog, ReportRequest
from app.ui.session_files import SessionKeeper
from app.ui.settings import Key, Settings
from app.ui.transport import RenderOptions, TransportBar
from app.ui.views import SpectrogramStack
from app.ui.worker import CHARACTERISE, CLIP, EXPORT, LOUDNESS, OPEN, REPORT, THUMBNAILS

MODEL_EXTENSIONS = (".safetensors", ".onnx")
TAB_VIEWS, TAB_GALLERY, TAB_KERNELS = 0, 1, 2
POLL_MS = 33
STATE_FILE_ENV = "AURASCOPE_STATE_FILE"
A_MEASURE_INLINE_S = 60.0  # slot A longer than this is measured for loudness matching on the worker, not here


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

    def __init__(self, parent: QWidget | None = None, button: str = "Try again") -> None:
        super().__init__(parent)
        self.setStyleSheet(
            "Banner { background: #5a3d12; border: 1px solid #c08a2e; border-radius: 4px; }QLabel { color: #ffe7b8; }"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry = QPushButton(button)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.retry)
        self.hide()


def _controlled(name: str) -> property:
    """A window attribute that is the controller's (`Controller` owns the state; the window shows it)."""
    return property(
        lambda self: getattr(self.controller, name),
        lambda self, value: setattr(self.controller, name, value),
        doc=f"The controller's ``{name}``.",
    )


class MainWindow(QMainWindow):
    """``featureReady(ref)`` is emitted when slot B holds the selected map's rendering (audio ready)."""

    featureReady = Signal(object)
    sessionReady = Signal()
    exportFinished = Signal(object)  # list of written paths
    errorShown = Signal(str)

    # the state the window shows lives in its controller; these read and write it there
    worker = _controlled("worker")
    model_handle = _controlled("model_handle")
    model_source = _controlled("model_source")
    summary = _controlled("summary")
    analysis = _controlled("analysis")
    clip = _controlled("clip")
    analyses = _controlled("analyses")
    selected = _controlled("selected")
    feature = _controlled("feature")
    residual = _controlled("residual")
    compare = _controlled("compare")
    compared = _controlled("compared")
    thumbnails_enabled = _controlled("thumbnails_enabled")
    render_requested_at = _controlled("render_requested_at")
    last_ready_seconds = _controlled("last_ready_seconds")
    first_ready_at = _controlled("first_ready_at")

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        engine: PlaybackEngine | None = None,
        thumbnails: bool = True,
        ask_to_save: bool = True,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Aurascope")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        device = self.settings.get(keys.DEVICE)
        # a starved callback (a long GIL hold) is not a lost device: give it 3 s before saying so
        self.engine = engine if engine is not None else PlaybackEngine(device or None, stall_timeout_s=3.0)
        self.controller = Controller(self, thumbnails=thumbnails)

        self.ask_to_save = ask_to_save
        self.keeper = SessionKeeper(self.settings, parent=self)
        self.keeper.changed.connect(self._session_changed)
        self.keeper.autosaveFailed.connect(lambda reason: self.statusBar().showMessage(f"Autosave failed: {reason}"))
        self.clip_entries: dict[str, ClipEntry] = {}
        self.pending_audio: Path | None = None
        self._a_level: tuple[object, Level] | None = None  # slot A's buffer (an array) and its measured level
        self._a_level_pending: object = None  # slot A's buffer being measured on the worker
        self.abx_dialog: AbxDialog | None = None
        self._shown: Auralisation | None = None
        self._resume_after_render = False
        self._replacing: dict[Path, str] = {}  # a file chosen for a missing clip -> that clip's key
        self._wanted_clip: str | None = None  # the clip last asked for (an older request's result is only kept)
        self._quiet = False  # settings applied from the store or a session are not the listener's edits
        self._pending_selection: dict | None = None  # a session's selection, applied once its model is open
        self.restore_box: QMessageBox | None = None
        self.consent_box: QMessageBox | None = None  # asking whether a session's module may run
        self.error_box: QMessageBox | None = None
        self.last_error: str = ""
        self.shown_at: float | None = None  # wall-clock time of the first show
        self._play_queued = False  # Space before anything is playable: play as soon as a map is
        self._holding_shown = False
        self._device_ok = False
        self._was_playing = False
        self._shown_playing = False
        self._underflows_seen = 0
        self.underflows_playing = 0  # shown in the transport
        self.underflows_idle = 0
        self._open_device_when_idle = False
        self._closing = False

        c = self.controller
        c.featureWindowReady.connect(self._feature_window)
        c.featureRendered.connect(self._feature_rendered)
        c.residualRendered.connect(self._residual_rendered)
        c.comparedRendered.connect(self._compared_rendered)
        c.renderFailed.connect(lambda ref, reason: self.show_error(f"Cannot render {ref_text(ref)}", reason))
        c.thumbnailsMade.connect(self._show_thumbnails)
        c.thumbnailProgress.connect(
            lambda done, total: self.thumb_label.setText(f"thumbnails {done}/{total}" if total else "")
        )
        c.thumbnailsFailed.connect(self._thumbnails_failed)

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
        self.act_new_session = a("&New session", self.new_session, QKeySequence.StandardKey.New)
        self.act_open_session = a("&Open session…", self.choose_session, "Ctrl+Alt+O")
        self.act_save_session = a("&Save session", self.save_session, QKeySequence.StandardKey.Save)
        self.act_save_session_as = a("Save session as…", self.save_session_as, "Ctrl+Shift+S")
        self.act_open_audio = a("Add &clip…", self.choose_audio, QKeySequence.StandardKey.Open)
        self.act_open_model = a("Open &model…", self.choose_model, "Ctrl+Shift+O")
        self.act_open_module = a("Open PyTorch mo&dule…", self.choose_module)
        self.act_export = a("&Export selected features…", self.export_selected, "Ctrl+E")
        self.act_report = a("Export listening &report…", self.export_report, "Ctrl+Shift+R")
        self.act_characterise_layer = a("Characterise this &layer's maps", lambda: self.characterise(True), "Ctrl+K")
        self.act_characterise_all = a("Characterise &all maps", lambda: self.characterise(False), "Ctrl+Shift+K")
        self.act_abx = a("Blind A/B/&X test of this map…", self.start_abx, "Ctrl+T")
        self.act_compare = a(
            "Compare: hold this map as C",
            self.toggle_compare,
            "C",
            tip="Keep the selected map as C; then B toggles between the map you move to and C",
        )
        self.act_next_clip = a("Next clip", lambda: self.step_clip(1), "]", tip="Same map, next clip, same playhead")
        self.act_prev_clip = a("Previous clip", lambda: self.step_clip(-1), "[")
        self.act_tab_views = a("Spectrograms", lambda: self.centre.setCurrentIndex(TAB_VIEWS), "Ctrl+1")
        self.act_tab_gallery = a("Layer gallery", lambda: self.centre.setCurrentIndex(TAB_GALLERY), "Ctrl+2")
        self.act_tab_kernels = a("Layer-1 kernels", lambda: self.centre.setCurrentIndex(TAB_KERNELS), "Ctrl+3")
        self.act_quit = a("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_play = a("Play", self.toggle_play, "Space", True, "Play / pause")
        self.act_play.setIcon(self.icon_play)
        self.act_start = a("Go to start", lambda: self.seek(0.0), "Home")
        self.act_slot_a = a("A original", lambda: self.select_slot(Slot.A), "A", True, "Hear the original clip")
        self.act_slot_b = a("B feature", lambda: self.select_slot(Slot.B), None, True, "Hear the auralised feature")
        self.act_slot_r = a(
            "R residual", lambda: self.select_slot(Slot.R), None, True, "Hear what the feature leaves out"
        )
        self.act_slot_c = a("C compared", lambda: self.select_slot(Slot.C), None, True, "Hear the map held as C")
        group = QActionGroup(self)
        for act in (self.act_slot_a, self.act_slot_b, self.act_slot_r, self.act_slot_c):
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
        self.act_sort = a("Sort maps by energy", self._sort_changed, "Ctrl+Shift+E", True)
        self.act_follow = a("Follow playhead", self._follow_changed, "F", True)
        self.act_reset_zoom = a("Show whole clip", self.reset_zoom, "Ctrl+0")
        self.act_keys = a("Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self.act_about = a("About Aurascope", self.show_about)

    def _build_widgets(self) -> None:
        self.banner = Banner()
        self.banner.retry.clicked.connect(self.retry_device)
        self.model_banner = Banner(button="Dismiss")  # what a network's graph keeps the method from doing faithfully
        self.model_banner.retry.clicked.connect(self.model_banner.hide)
        self.tree = FeatureTree()
        self.tree.currentChanged.connect(self._tree_current_changed)
        self.tree.activated.connect(self._tree_activated)
        self.clip_list = ClipList()
        self.clip_list.clipChosen.connect(self.show_clip)
        self.clip_list.addRequested.connect(self.choose_audio)
        self.clip_list.removeRequested.connect(self.remove_clip)
        self.clip_list.locateRequested.connect(self.locate_clip)
        self.left = QSplitter(Qt.Orientation.Vertical)
        self.left.addWidget(self.clip_list)
        self.left.addWidget(self.tree)
        self.left.setStretchFactor(1, 1)
        self.left.setSizes([150, 700])
        self.left.setChildrenCollapsible(False)
        self.gallery = LayerGallery()
        self.gallery.mapClicked.connect(self._map_clicked)
        self.gallery.activated.connect(self._tree_activated)
        self.gallery.compareRequested.connect(self.set_compare)
        self.gallery.layerChanged.connect(self._gallery_layer_changed)
        self.kernels_view = KernelsView()
        self.kernels_view.mapClicked.connect(self._map_clicked)
        self.predictions = PredictionStrip()
        self.stack = SpectrogramStack()
        self.stack.seekRequested.connect(self.seek)
        self.stack.loopChanged.connect(self._loop_region_changed)
        self.inspector = Inspector()
        self.inspector.annotationChanged.connect(self._annotation_changed)
        self.inspector.ratingChanged.connect(self._rating_changed)
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
        self.centre = QTabWidget()
        self.centre.setDocumentMode(True)
        self.centre.addTab(self.stack, "Spectrograms")
        self.centre.addTab(self.gallery, "Layer gallery")
        self.centre.addTab(self.kernels_view, "Layer-1 kernels")
        self.centre.setTabToolTip(TAB_GALLERY, "Every map of a layer: click to hear, Shift-click to compare (Ctrl+2)")
        self.centre.setTabToolTip(TAB_KERNELS, "The first layer's kernels, vertical edges to horizontal (Ctrl+3)")
        self.centre.currentChanged.connect(lambda index: self.settings.set(keys.CENTRE_TAB, index))
        centre_layout.addWidget(self.centre, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.left)
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
                "slot_c": self.act_slot_c,
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
        layout.addWidget(self.model_banner)
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
        self.controller.workerIdle.connect(self._worker_drained)

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.act_new_session)
        menu.addAction(self.act_open_session)
        self.recent_session_menu = menu.addMenu("Recent sessions")
        menu.addAction(self.act_save_session)
        menu.addAction(self.act_save_session_as)
        menu.addSeparator()
        menu.addAction(self.act_open_audio)
        self.recent_audio_menu = menu.addMenu("Recent audio")
        menu.addAction(self.act_open_model)
        menu.addAction(self.act_open_module)
        self.recent_model_menu = menu.addMenu("Recent models")
        menu.addSeparator()
        menu.addAction(self.act_export)
        menu.addAction(self.act_report)
        menu.addSeparator()
        menu.addAction(self.act_quit)
        menu = self.menuBar().addMenu("&Analyse")
        for act in (self.act_characterise_layer, self.act_characterise_all, None, self.act_abx, self.act_compare):
            menu.addSeparator() if act is None else menu.addAction(act)
        menu = self.menuBar().addMenu("&Playback")
        for act in (
            self.act_play,
            self.act_start,
            None,
            self.act_slot_a,
            self.act_slot_b,
            self.act_slot_r,
            self.act_slot_c,
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
            self.act_next_clip,
            self.act_prev_clip,
            None,
            self.act_tab_views,
            self.act_tab_gallery,
            self.act_tab_kernels,
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
        for key, splitter in (
            (keys.SPLITTER, self.splitter),
            (keys.VIEW_SPLITTER, self.stack.splitter),
            (keys.LEFT_SPLITTER, self.left),
        ):
            state = s.get(key)
            if not state.isEmpty():
                splitter.restoreState(state)
        self._quiet = True  # the stored settings seed the untitled session: not an edit
        self.transport.set_volume(s.get(keys.VOLUME))
        self.act_match.setChecked(s.get(keys.LOUDNESS_MATCH))
        self.act_full_a.setChecked(s.get(keys.FULL_QUALITY_A))
        self.options.set_mode(s.get(keys.MODE))
        self.options.set_method(s.get(keys.METHOD))
        self.act_follow.setChecked(s.get(keys.FOLLOW))
        self.stack.follow = self.act_follow.isChecked()
        self.act_sort.setChecked(s.get(keys.SORT_BY_ENERGY))
        self._sort_changed()
        self.centre.setCurrentIndex(min(max(0, s.get(keys.CENTRE_TAB)), self.centre.count() - 1))
        self.engine.select(Slot.B)
        self.engine.set_looping(False)
        self._quiet = False
        self._session_changed(False)

    # ==== start-up ========================================================================================
    def start(self, audio: Path | None, model: Path | None, session: Path | None = None) -> None:
        """After the window is shown: offer to restore what a crashed run left, else open the files (a session,
        or a model then a clip)."""
        crashed = self.keeper.crash_autosave()
        if crashed is not None:
            self._offer_restore(crashed, lambda: self._start_files(audio, model, session))
            return
        self._start_files(audio, model, session)

    def _start_files(self, audio: Path | None, model: Path | None, session: Path | None) -> None:
        if session is not None:
            self._open_device_when_idle = True
            self.open_session_file(session)
        elif model is not None:
            # the device opens once the worker has loaded torch: loading its libraries holds the GIL for
            # about a second, which would starve a running audio callback
            self._open_device_when_idle = True
            self.open_model(model, audio)
        else:
            QTimer.singleShot(0, self.open_device)
            if audio is not None:
                self.open_audio(audio)

    def _offer_restore(self, autosave: Path, otherwise) -> None:
        """Ask (without blocking the event loop) whether to restore the session a crashed run left."""
        try:
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(autosave.stat().st_mtime))
        except OSError:
            stamp = "?"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Restore the last session?",
            f"Aurascope did not close cleanly last time. Its session was autosaved at {stamp}:\n{autosave}",
            QMessageBox.StandardButton.NoButton,
            self,
        )
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.setInformativeText("Discard starts afresh and deletes the autosave.")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.restore_box = box

        def answered() -> None:
            self.restore_box = None
            if box.clickedButton() is restore:
                self._restore(autosave, otherwise)
            else:
                self.keeper.discard_autosaves()
                otherwise()

        box.finished.connect(lambda _: answered())
        box.open()

    def _restore(self, autosave: Path, otherwise) -> None:
        from app.core.session import restore_autosave

        def failed(err: BaseException) -> None:
            # never overwrite it: keep the damaged file aside for the listener, out of the autosave's way
            kept = autosave.with_name(f"{autosave.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                os.replace(autosave, kept)
            except OSError:
                kept = autosave  # cannot move it: left where it is, and named
            self.show_error("Cannot restore the autosaved session", getattr(err, "reason", str(err)), kept)
            otherwise()

        def restored(session: ListeningSession) -> None:
            self._apply_session(session)
            self.statusBar().showMessage("Restored the autosaved session (unsaved: Ctrl+S saves it)", 8000)

        self._open_device_when_idle = True
        self.worker.submit(
            OPEN,
            lambda job: restore_autosave(autosave),  # hashes the session's files: off the GUI thread
            on_result=restored,
            on_error=failed,
            busy_text="Restoring the autosaved session…",
        )

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.shown_at is None:
            self.shown_at = time.time()

    # ==== sessions ========================================================================================
    @property
    def session(self) -> ListeningSession:
        return self.keeper.session

    def new_session(self) -> None:
        """A fresh session (no labels) on what is open: the model and the clip on screen."""
        if not self._may_discard("start a new session"):
            return
        fresh = ListeningSession(playback=self.session.playback)
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

        self.worker.submit(
            OPEN,
            lambda job: ListeningSession.load(path),  # hashes its files: off the GUI thread
            on_result=self._apply_session,
            on_error=failed,
            busy_text=f"Opening session {path.name}…",
        )
        return True

    def _apply_session(self, session: ListeningSession, open_files: bool = True) -> None:
        """Make ``session`` the open one: its clips in the list, its model and current clip opened."""
        self.inspector.flush()  # what is being typed belongs to the session it was typed in
        self.keeper.replace(session)
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
        """Files from the command line, a drop, or the desktop: sessions, models by extension, else audio."""
        sessions = [p for p in paths if p.suffix.lower() == SESSION_SUFFIX]
        if sessions:
            if self._may_discard("open another session"):
                self.open_session_file(sessions[-1])
            return
        models = [p for p in paths if p.suffix.lower() in MODEL_EXTENSIONS]
        audio = [p for p in paths if p.suffix.lower() not in MODEL_EXTENSIONS]
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

        def run(job):
            return compute.open_session(source, clip_path, cancelled=lambda: job.cancelled)

        label = source.display_name
        self._start_open(run, f"Opening model {label}…", source, clip_path)

    def open_audio(self, path: Path) -> None:
        """Add a clip to the session (or show it, if it is there already) and analyse it with the model."""
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

        def done(opened: Session) -> None:
            if opened.model is not self.model_handle:
                self.open_audio(path)  # a model was opened meanwhile: analyse with that one
                return
            self._session_opened(opened, None, path)

        self.worker.submit(
            CLIP,
            run,
            on_result=done,
            on_error=lambda err: self._open_failed(err, None, path),
            busy_text=f"Analysing {path.name}…",
            replace=False,  # several clips added at once are all analysed
        )

    def _start_open(self, run, text: str, model: ModelSource | None, audio_path: Path | None) -> None:
        self.worker.submit(
            OPEN,
            run,
            on_result=lambda opened: self._session_opened(opened, model, audio_path),
            on_error=lambda err: self._open_failed(err, model, audio_path),
            busy_text=text,
        )

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

    def _session_opened(self, opened: Session, model: ModelSource | None, audio_path: Path | None) -> None:
        if opened.model is not self.model_handle:
            self._model_opened(opened, model)
        if opened.clip is None:
            self._rebuild_recent()
            self.sessionReady.emit()
            return
        self.pending_audio = None
        self._keep_analysis(opened.analysis, opened.clip)
        self.show_clip(opened.clip.sha256)
        self.sessionReady.emit()

    def _model_opened(self, opened: Session, source: ModelSource | None) -> None:
        self.model_handle, self.summary = opened.model, opened.summary
        summary = opened.summary
        self.model_source = source
        self.analyses.clear()  # analysed with the previous model
        self.controller.forget_thumbnails()
        self.clip = self.analysis = None
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
        """Remember an analysed clip (least recently shown ones are dropped beyond MAX_ANALYSES)."""
        self.controller.keep_analysis(analysis, clip)
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
        top = max(clip.predictions, key=lambda p: p[1]) if clip.predictions else None
        detail = f"{top[0]} {top[1]:.2f}" if top else ""
        self._set_entry(ClipEntry(clip.sha256, clip.path.name, clip.path, clip.duration, "ready", detail))

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
        model, summary, path = self.model_handle, self.summary, entry.path

        def run(job):
            return compute.analyse_clip(model, summary, path)

        self._wanted_clip = key

        def done(value) -> None:
            analysis, clip = value
            if key not in self.clip_entries:
                return  # removed from the session meanwhile
            if model is not self.model_handle:
                self._set_entry(replace(entry, status="ready", detail=""))
                return
            self._keep_analysis(analysis, clip)
            if self._wanted_clip == key:
                self._show_analysed(clip.sha256)

        def failed(err: BaseException) -> None:
            if key in self.clip_entries:
                self._set_entry(replace(entry, status="error", detail=getattr(err, "reason", str(err))))
            self._open_failed(err, None, path)

        self.worker.submit(
            CLIP, run, on_result=done, on_error=failed, busy_text=f"Analysing {path.name}…", replace=False
        )

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
        self.analysis, self.clip = analysis, clip
        self.engine.pause()
        settle_garbage()  # while nothing plays
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
        self.tree.set_energies(clip.energies)
        self.tree.set_thumbnail_span(clip.thumbnail_span_s, clip.duration)
        self.gallery.set_energies(clip.energies)
        self.predictions.set_predictions(list(clip.predictions), summary.output, summary.task)
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

    # ==== rendering =======================================================================================
    def _tree_current_changed(self, ref: FeatureRef | None) -> None:
        if ref is not None and ref != self.selected:
            self.request_render(ref)
            self.gallery.set_selected(ref)
            self.kernels_view.set_selected(ref[1] if ref[0] == 1 else None)

    def _map_clicked(self, ref: FeatureRef) -> None:
        """A click in the gallery or the kernels view: select the map and hear it from the playhead."""
        if ref != self.selected:
            self.tree.select(ref)
        self.select_slot(Slot.B)
        self.play()

    def _gallery_layer_changed(self, layer: int) -> None:
        self.controller.thumbnails_first(layer)  # the layer on screen gets its thumbnails first

    def _tree_activated(self, ref: FeatureRef) -> None:
        if ref != self.selected:
            self.request_render(ref)
        self.select_slot(Slot.B)
        self.seek(0.0)
        self.play()

    def request_render(self, ref: FeatureRef) -> None:
        """Select map ``ref``: the inspector at once, the rendering from the worker (newest request wins)."""
        ref = FeatureRef.of(ref)
        mode, method, rate = self.options.current_mode(), self.options.current_method(), self.engine.sample_rate
        # a long clip is heard first where the playhead is (or over a loop region of up to 30 s)
        start_s, end_s = self.engine.position(), None
        loop = self.engine.loop_region if self.engine.looping else None
        if loop is not None and (loop[1] - loop[0]) / rate <= 30.0:
            start_s, end_s = loop[0] / rate, loop[1] / rate
        rendering = self.controller.render(ref, mode, method, rate, start_s=start_s, end_s=end_s)
        self._show_selection(ref)
        if rendering:
            self.stack.set_busy(True, f"Rendering {ref_text(ref)} ({mode}, {method})…")

    def _show_selection(self, ref: FeatureRef) -> None:
        layer = self.summary.layers[ref.layer - 1] if self.summary else None
        energy, rank = self.controller.energy_of(ref)
        note = self.session.notes_for(ref)
        self.inspector.show_feature(ref, layer, note.label, note.notes, energy, rank, note.rating)
        self._show_session_notes(ref)
        sel = self.session.selection
        if (sel.layer, sel.index) != ref:
            self.session.select(layer=ref.layer, index=ref.index)
            self._edited()

    def _feature_window(self, window: compute.FirstWindow) -> None:
        """A long clip's first window is rendered: slot B plays it now while the rest fills in."""
        try:
            self.engine.attach_progressive(Slot.B, window.buffer)
            self.residual = None  # the previous map's residual must not play as this one's
            if window.residual is not None:
                self.engine.attach_progressive(Slot.R, window.residual)
            else:
                self.engine.unload(Slot.R)  # R comes with the complete rendering (non-Choi modes)
        except ValueError:
            return  # the device rate changed meanwhile: the complete rendering loads normally
        self.render_label.setText(f"window {1000 * window.seconds:.0f} ms")
        self.render_label.setToolTip(
            f"{ref_text(window.ref)}: {format_time(window.first_s)} – {format_time(window.last_s)} rendered first "
            f"({1000 * window.seconds:.0f} ms on the worker); the rest of the clip fills in behind the playhead, "
            "which waits (silent, 'preparing…') if it ever catches up"
        )
        if self._resume_after_render or self._play_queued:
            self._resume_after_render = self._play_queued = False
            self.play()

    def _feature_rendered(self, result: Auralisation) -> None:
        filled = self.engine.progressive(Slot.B)
        progressive = filled is not None and filled.audio is result.audio  # the filled buffer is this audio
        if not progressive:
            self.engine.load(Slot.B, result.audio, result.device_rate)
            self.last_ready_seconds = time.perf_counter() - self.render_requested_at
        self._apply_gains()
        self._show_rendering()
        self.inspector.show_rendering(result)
        if progressive:
            self.render_label.setText(f"{self.render_label.text()} · whole clip {result.seconds:.1f} s")
        else:
            self.render_label.setText(f"render {1000 * result.seconds:.0f} ms")
        self.render_label.setToolTip(
            f"{ref_text(result.ref)}: {1000 * result.seconds:.0f} ms on the worker, "
            f"{1000 * self.last_ready_seconds:.0f} ms from the click to audio in slot B"
            + (" (its first window; the rest filled in behind the playhead)" if progressive else "")
        )
        if self._resume_after_render or self._play_queued:
            self._resume_after_render = self._play_queued = False
            self.play()
        self.featureReady.emit(result.ref)

    def _residual_rendered(self, result: Auralisation) -> None:
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
        frame = self.controller.frame_seconds()
        label = self.session.notes_for(shown.ref).label
        how = shown.mode if shown.method is Method.DECONVNET else f"{shown.mode}, {shown.method}"
        what = "Residual (original − feature)" if shown.mode is Mode.RESIDUAL else f"Auralised feature ({how})"
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

    # ==== compare: a second map held as C =====================================================================
    def toggle_compare(self) -> None:
        """C: hold the selected map as the comparison (or let it go, if it is the one held)."""
        if self.selected is None:
            return
        self.set_compare(None if self.compare == self.selected else self.selected)

    def set_compare(self, ref: FeatureRef | None) -> None:
        """Shift-click in the gallery: compare ``ref`` (slot C) with the selected map (slot B); B toggles them."""
        if ref is not None and ref == self.compare:
            ref = None
        self._set_compare(ref)
        if self.session.selection.compare != ref:
            self.session.select(compare=ref)
            self._edited()
        if ref is not None:
            self.statusBar().showMessage(f"Comparing with {ref_text(ref)}: B toggles between the two maps", 6000)

    def _set_compare(self, ref: FeatureRef | None) -> None:
        self.engine.unload(Slot.C)
        self.controller.set_compare(
            ref, self.options.current_mode(), self.options.current_method(), self.engine.sample_rate
        )
        self.gallery.set_compare(ref)
        button = self.transport.slot_c
        button.setVisible(ref is not None)
        self.act_slot_c.setText(f"C {ref_text(ref)}" if ref is not None else "C compared")
        if ref is None:
            if self.engine.selected is Slot.C:
                self.select_slot(Slot.B)
            self._apply_gains()

    def _compared_rendered(self, result: Auralisation) -> None:
        self.engine.load(Slot.C, result.audio, result.device_rate)
        self._apply_gains()

    # ==== what the session says about a map ====================================================================
    def _show_session_notes(self, ref: FeatureRef) -> None:
        tags = self.session.suggestions_for(ref)
        self.inspector.show_suggestions([(t.tag, t.text().split(": ", 1)[-1]) for t in tags])
        runs = self.session.abx_for(ref)
        if runs:
            last = runs[-1]
            self.inspector.show_abx(
                f"{last.correct} of {last.trials} correct, p = {last.p_value:.3g} on {last.clip_name}"
                + (f" ({len(runs)} runs)" if len(runs) > 1 else "")
            )

    # ==== thumbnails (background, one short job at a time) ====================================================
    def _start_thumbnails(self, first_layer: int) -> None:
        if self.centre.currentIndex() == TAB_GALLERY:
            first_layer = self.gallery.layer() or first_layer
        cached = self.controller.start_thumbnails(first_layer, self.options.current_method())
        self.tree.clear_thumbnails()
        self.gallery.clear_thumbnails()
        self._show_thumbnails(cached)

    def _show_thumbnails(self, made: Thumbnails) -> None:
        self.tree.set_thumbnails({ref: small for ref, (small, _) in made.items()})
        self.gallery.set_thumbnails({ref: large for ref, (_, large) in made.items()})

    def _thumbnails_failed(self, reason: str) -> None:
        self.thumb_label.setText("thumbnails stopped")
        self.thumb_label.setToolTip(reason)

    def _worker_drained(self) -> None:
        if self._open_device_when_idle:
            self._open_device_when_idle = False
            settle_garbage()
            self.open_device()

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
        self._update_rate_label()  # "no device", not the lost device's rate
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
        ready = self.engine.loaded(Slot.B) or self.engine.progressive(Slot.B) is not None
        if self.clip is None or (self.analysis is not None and not ready):  # opening: play once a map is ready
            self._play_queued = True
            self.statusBar().showMessage("preparing… (playback starts when the first map is ready)")
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
        self._play_queued = False
        self.engine.pause()
        self._was_playing = False

    def seek(self, seconds: float) -> None:
        if self.clip is not None:
            self.engine.seek(seconds)
            self.stack.set_playhead(seconds)

    def select_slot(self, slot: Slot) -> None:
        if slot is Slot.C and self.compare is None:
            slot = Slot.B
        self.engine.select(slot)
        actions = {Slot.A: self.act_slot_a, Slot.B: self.act_slot_b, Slot.R: self.act_slot_r, Slot.C: self.act_slot_c}
        actions[slot].setChecked(True)
        self._show_rendering()
        if slot is not Slot.C and self.session.playback.slot != slot.value:
            self.session.set_playback(slot=slot.value)
            self._edited()

    def toggle_ab(self) -> None:
        """A <-> B; while a map is held as C, B <-> C (A stays on its own key)."""
        current = self.engine.selected
        if self.compare is not None and current in (Slot.B, Slot.C):
            self.select_slot(Slot.C if current is Slot.B else Slot.B)
        else:
            self.select_slot(Slot.B if current is Slot.A else Slot.A)

    def toggle_residual(self) -> None:
        self.select_slot(Slot.B if self.engine.selected is Slot.R else Slot.R)

    def set_looping(self) -> None:
        self.engine.set_looping(self.act_loop.isChecked())
        self._playback_edited(loop=self.act_loop.isChecked())

    def _playback_edited(self, **changes) -> None:
        current = self.session.playback
        if all(getattr(current, k) == v for k, v in changes.items()):
            return
        if self._quiet:
            self.session.playback = replace(current, **changes)
            return
        self.session.set_playback(**changes)
        self._edited()

    def _loop_region_changed(self, region) -> None:
        start, end = region
        self.engine.set_loop(start, end)
        if self.clip is not None:
            start, end = round(start, 4), round(end, 4)
            known = self.session.loops.get(self.clip.sha256)
            if known is None or (known.start_s, known.end_s) != (start, end):
                self.session.set_loop(self.clip.sha256, start, end)
                self._edited()
        if not self.act_loop.isChecked():
            self.act_loop.setChecked(True)
            self.set_looping()
        self.statusBar().showMessage(
            f"Loop {format_time(start)} – {format_time(end)} (L toggles, Shift+L clears)", 4000
        )

    def clear_loop_region(self) -> None:
        self.stack.set_loop(None)
        self.engine.clear_loop()
        if self.clip is not None and self.clip.sha256 in self.session.loops:
            self.session.clear_loop(self.clip.sha256)
            self._edited()

    def set_loudness_match(self) -> None:
        self.settings.set(keys.LOUDNESS_MATCH, self.act_match.isChecked())
        self._apply_gains()
        self._playback_edited(loudness_match=self.act_match.isChecked())

    def _apply_gains(self) -> None:
        """Every loaded slot at one loudness when matching is on, none above -0.1 dBFS ever (`common_gains`): when
        a rendering cannot be raised to the original's loudness without clipping, the original is turned down
        with it, so B is never left quieter than A by a capped gain. A is measured as it plays (its device-rate
        buffer, which may be the file at its own rate), the renderings by their BS.1770 loudness and device peak.
        """
        on = self.act_match.isChecked()
        levels: dict[Slot, Level] = {}
        a_level = self._slot_a_level()
        if a_level is not None:
            levels[Slot.A] = a_level
        for slot, shown in ((Slot.B, self.feature), (Slot.R, self.residual), (Slot.C, self.compared)):
            if shown is not None:
                levels[slot] = Level(shown.loudness_lufs, shown.device_peak_db)
        gains = common_gains(levels, Slot.A, match=on) if Slot.A in levels else {}
        for slot in Slot:
            self.engine.set_slot_gain_db(slot, gains.get(slot, 0.0) if slot in levels else 0.0)
        if Slot.B not in levels:
            self.transport.set_gain(None, on)
            return
        shown = {slot.value: gains.get(slot, 0.0) for slot in (Slot.A, Slot.B, Slot.R) if slot in levels}
        self.transport.set_gain(shown, on)

    def _slot_a_level(self) -> Level | None:
        """Loudness and peak of what slot A plays (measured once per buffer: a clip, the full-rate file, a device
        rate change each load a new one). A buffer over `A_MEASURE_INLINE_S` is measured on the worker (about
        0.15 s of CPU per minute of audio); until then only its peak is known, so nothing is matched to it yet
        (nothing clips either), and the gains are applied again when the measurement arrives."""
        source = self.engine.source(Slot.A)
        if source is None:
            return None
        if self._a_level is not None and self._a_level[0] is source:
            return self._a_level[1]
        rate = self.engine.sample_rate
        if len(source) <= A_MEASURE_INLINE_S * rate:
            self._a_level = (source, Level.of(source, rate))
            return self._a_level[1]
        if self._a_level_pending is not source:
            self._a_level_pending = source

            def measured(level: Level) -> None:
                if self.engine.source(Slot.A) is source:
                    self._a_level = (source, level)
                    self._apply_gains()

            self.worker.submit(LOUDNESS, lambda job: Level.of(source, rate), on_result=measured)
        return Level(-math.inf, peak_dbfs(source))

    def _volume_changed(self, volume: float) -> None:
        self.engine.set_volume(volume)
        self.settings.set(keys.VOLUME, volume)
        self._playback_edited(volume=round(volume, 3))

    def _mode_changed(self, mode: Mode) -> None:
        self.settings.set(keys.MODE, mode.value)
        self._playback_edited(mode=mode.value)
        if self.selected is not None:
            ref = self.controller.forget_selection()
            self.request_render(ref)
        if self.compare is not None:
            self._set_compare(self.compare)

    def _method_changed(self, method: Method) -> None:
        self.settings.set(keys.METHOD, method.value)
        if self.selected is not None:
            ref = self.controller.forget_selection()
            self.request_render(ref)
            if self.analysis is not None:
                self._start_thumbnails(ref[0])  # the thumbnails show the method in use
        if self.compare is not None:
            self._set_compare(self.compare)

    def _full_quality_changed(self) -> None:
        self.settings.set(keys.FULL_QUALITY_A, self.act_full_a.isChecked())
        self._load_slot_a()
        self._playback_edited(full_quality_a=self.act_full_a.isChecked())

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
        if count != self._underflows_seen:  # the mixer knows which gaps interrupted sound (heard) and which not
            self._underflows_seen = count
            self.underflows_playing = engine.heard_underflows
            self.underflows_idle = count - self.underflows_playing
            self.transport.set_underflows(self.underflows_playing, self.underflows_idle)
        holding = engine.waiting_for_fill
        if holding != self._holding_shown:
            self._holding_shown = holding
            if holding:
                self.statusBar().showMessage("preparing… (the rendering is catching up with the playhead)")
            else:
                self.statusBar().clearMessage()

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
    def _annotation_changed(self, ref: FeatureRef, label: str, notes: str) -> None:
        before = self.session.notes_for(ref)
        if (before.label, before.notes) == (label, notes):
            return
        self.session.set_label(ref, label)
        self.session.set_notes(ref, notes)
        self._edited()
        self.tree.set_label(ref, label)
        self.gallery.set_label(ref, label)
        self.kernels_view.set_labels({r: n.label for r, n in self.session.maps.items() if r[0] == 1 and n.label})
        if self.feature is not None and self.feature.ref == ref:
            self._show_rendering(force=True)

    def _rating_changed(self, ref: FeatureRef, rating: int | None) -> None:
        self.session.set_rating(ref, rating)
        self._edited()

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
        """Write the request's files on the worker, with a progress dialog that can cancel."""
        s = self.settings
        s.set(keys.EXPORT_DIR, str(request.folder))
        s.set(keys.EXPORT_MODES, [m.value for m in request.modes])
        s.set(keys.EXPORT_FORMAT, request.subtype)
        s.set(keys.EXPORT_LOUDNESS, request.loudness.value)
        total = len(request.refs) * len(request.modes)
        progress, stop = self._progress("Export", f"Exporting {total} file(s) to {request.folder}…", total)
        self.export_progress = progress
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
            progress.deleteLater()
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
            progress.deleteLater()
            self.show_error("Export failed", f"{type(err).__name__}: {err}", request.folder)

        self.worker.submit(EXPORT, run, on_result=finished, on_error=failed, busy_text="Exporting…")

    # ==== characterisation, listening report, A/B/X ==========================================================
    def _session_analyses(self, keys_wanted: list[str] | None = None):
        """A worker-side function giving (analysis, ...) for the session's available clips: the analysed ones
        as they are, the others analysed on the worker (and not kept: memory stays bounded)."""
        model, summary = self.model_handle, self.summary
        known = {k: a for k, (a, _) in self.analyses.items()}
        entries = [e for e in self.clip_entries.values() if e.status != "missing" and e.status != "error"]
        if keys_wanted is not None:
            entries = [e for e in entries if e.key in keys_wanted]

        def analyses() -> list:
            return [
                known[e.key] if e.key in known else compute.analyse_clip(model, summary, e.path)[0] for e in entries
            ]

        return analyses, len(entries)

    def characterise(self, layer_only: bool) -> None:
        """Measure each map against each of the session's clips and suggest tags (never touching labels)."""
        if self.analysis is None or self.summary is None:
            self.show_error("Nothing to characterise", "Open a model and an audio clip first.")
            return
        layer = (self.selected or self.controller.default_ref())[0]
        refs = [(layer, k) for k in range(self.summary.layers[layer - 1].n_maps)] if layer_only else None
        analyses, n_clips = self._session_analyses()
        n_maps = len(refs) if refs is not None else sum(x.n_maps for x in self.summary.layers)
        text = f"Characterising {n_maps} map(s) on {n_clips} clip(s)…"
        progress, stop = self._progress("Characterise maps", text, n_maps * n_clips)
        self.characterise_progress = progress
        method, model = self.options.current_method(), self.model_handle

        def run(job):
            return compute.characterise(
                analyses(),
                refs,
                method=method,
                progress=lambda done, n: self.worker.post(job, progress.setValue, done),
                cancelled=lambda: stop.is_set() or job.cancelled,
            )

        def finished(result) -> None:
            progress.reset()
            progress.deleteLater()
            if model is not self.model_handle:
                return
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

        def failed(err: BaseException) -> None:
            progress.reset()
            progress.deleteLater()
            self.show_error("Characterisation failed", f"{type(err).__name__}: {err}")

        self.worker.submit(CHARACTERISE, run, on_result=finished, on_error=failed, busy_text="Characterising…")

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
            parent=self,
        )
        if dialog.exec() != ReportDialog.DialogCode.Accepted:
            return
        self.run_report(dialog.request())

    def run_report(self, request: ReportRequest) -> None:
        """Write the listening report on the worker (the CLI's ``aurascope report``), with a cancellable progress."""
        self.settings.set(keys.REPORT_DIR, str(request.folder))
        analyses, n_clips = self._session_analyses(list(request.clips))
        n_maps = len(request.refs) if request.refs is not None else sum(x.n_maps for x in self.summary.layers)
        text = f"Writing the report to {request.folder}…"
        progress, stop = self._progress("Listening report", text, n_maps * n_clips)
        self.report_progress = progress
        self._sync_playhead()
        session = copy.deepcopy(self.session)  # the worker reads a snapshot while the listener goes on editing

        def run(job):
            return compute.write_report(
                request.folder,
                analyses(),
                list(request.refs) if request.refs is not None else None,
                session,
                title=request.title,
                method=request.method,
                progress=lambda done, n: self.worker.post(job, progress.setValue, done),
                cancelled=lambda: stop.is_set() or job.cancelled,
            )

        def finished(report) -> None:
            progress.reset()
            progress.deleteLater()
            self.last_report = report
            self.statusBar().showMessage(
                f"Wrote the report: {report.maps} map(s) × {report.clips} clip(s), {report.files} files, "
                f"in {report.seconds:.1f} s: {report.index}",
                10000,
            )
            if request.open_when_done and not stop.is_set() and not os.environ.get("AURASCOPE_NO_EXPORT_DIALOG"):
                QDesktopServices.openUrl(QUrl.fromLocalFile(str(report.index)))

        def failed(err: BaseException) -> None:
            progress.reset()
            progress.deleteLater()
            self.show_error("Report failed", getattr(err, "reason", f"{type(err).__name__}: {err}"), request.folder)

        self.worker.submit(REPORT, run, on_result=finished, on_error=failed, busy_text="Writing the report…")

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
        if measured <= A_MEASURE_INLINE_S * rate:
            return self._open_abx(feature, clip, loop, None)
        engine, sources = self.engine, (self.engine.source(Slot.A), self.engine.source(Slot.B))

        def measure(job):
            try:
                return measure_match(engine, loop)
            except LevelMismatchError as err:
                return err

        def measured_then_open(match) -> None:
            now = (engine.source(Slot.A), engine.source(Slot.B))
            if self.feature is not feature or now[0] is not sources[0] or now[1] is not sources[1]:
                return  # the map or the clip changed meanwhile: the listener asks again
            self._open_abx(feature, clip, loop, match)

        self.worker.submit(LOUDNESS, measure, on_result=measured_then_open, busy_text="Matching A and B's loudness…")
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

    def _progress(self, title: str, text: str, total: int) -> tuple[QProgressDialog, threading.Event]:
        """A window-modal progress dialog for a long worker job, and the event its Cancel button sets."""
        progress = QProgressDialog(text, "Cancel", 0, total, self)
        progress.setWindowTitle(title)
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(300)
        progress.setValue(0)
        stop = threading.Event()
        progress.canceled.connect(stop.set)
        return progress, stop

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
        self.controller.stop_thumbnails()
        self.thumb_label.setText("")
        self.statusBar().showMessage("Cancelled; what was loaded stays loaded", 4000)

    # ==== recent files, drag and drop ===========================================================================
    def _rebuild_recent(self) -> None:
        for menu, key, opener in (
            (self.recent_session_menu, keys.RECENT_SESSIONS, self._open_recent_session),
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

    def _open_recent_session(self, path: Path) -> None:
        if self._may_discard("open another session"):
            self.open_session_file(path)

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
            ("[ / ]", "previous / next clip (same map, same playhead)"),
            ("C", "hold the selected map as C; then B toggles between the map you move to and C"),
            ("Shift+click", "in the layer gallery: compare that map with the selected one"),
            ("Ctrl+1 / 2 / 3", "spectrograms / layer gallery / layer-1 kernels"),
            ("Ctrl+K / Ctrl+Shift+K", "characterise this layer's maps / all maps (suggested tags)"),
            ("Ctrl+T", "blind A/B/X test of the selected map"),
            ("Ctrl+S / Ctrl+Shift+S", "save the session / save it as"),
            ("Ctrl+Shift+R", "export a listening report"),
            ("F", "follow the playhead"),
            ("Ctrl+0", "show the whole clip"),
            ("wheel / Ctrl+wheel", "zoom time / frequency"),
            ("Shift+drag", "pan"),
            ("Ctrl+E", "export the selected maps"),
            ("Ctrl+O / Ctrl+Shift+O", "add a clip / open a model"),
            ("Ctrl+Alt+O", "open a session"),
            ("Ctrl+N", "new session (on the model and clip that are open)"),
            ("Ctrl+Shift+E", "sort maps by energy"),
            ("F1", "this list"),
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
            "model_banner": self.model_banner.isVisible(),
            "session": str(self.session.path) if self.session.path else None,
            "session_dirty": self.session.dirty,
            "clips": [e.name for e in self.clip_entries.values()],
            "compare": f"L{self.compare[0]}F{self.compare[1]}" if self.compare else None,
            "restore_offered": self.restore_box is not None,
        }

    @staticmethod
    def _global_rect(widget: QWidget, rect) -> list[int]:
        top_left = widget.mapToGlobal(rect.topLeft())
        return [top_left.x(), top_left.y(), rect.width(), rect.height()]

    def _write_state(self) -> None:
        text = json.dumps(self.automation_state(), sort_keys=True)
        if text != self._state_text and self._state_file:
            write_text(self._state_file, text)
            self._state_text = text

    # ==== closing =========================================================================================
    def closeEvent(self, event) -> None:
        if self._closing:
            event.accept()
            return
        self.inspector.flush()
        if not self._may_discard("quit"):
            event.ignore()
            return
        self._closing = True
        self.keeper.close_clean()
        self.keeper.release()
        s = self.settings
        s.set(keys.GEOMETRY, self.saveGeometry())
        s.set(keys.SPLITTER, self.splitter.saveState())
        s.set(keys.VIEW_SPLITTER, self.stack.splitter.saveState())
        s.set(keys.LEFT_SPLITTER, self.left.saveState())
        s.sync()
        self.poll.stop()
        self.controller.cancel_all()
        self.engine.close()
        self.controller.shutdown()
        super().closeEvent(event)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self._poll()
