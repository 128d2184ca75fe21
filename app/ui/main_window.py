"""The main window: clips and tree | views, layer gallery, kernels | inspector; the transport below.

The window is a view of what the worker computed: it keeps handles to the model and the clips' analyses,
sends every request to the compute worker (`ComputeWorker`; newest request wins, stale results are dropped),
and drives the `PlaybackEngine` from the GUI thread, polling its playhead at ~30 Hz. What the listener says
about the maps lives in the listening session (`SessionKeeper`), autosaved after every change.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.display import format_time, is_silent
from app.core.loudness import Level
from app.core.session import Session as ListeningSession
from app.core.types import FeatureRef, Method, Mode
from app.playback import PlaybackEngine, Slot
from app.ui import settings as keys
from app.ui.abx_dialog import AbxDialog
from app.ui.automation import install_automation
from app.ui.clip_list import ClipEntry, ClipList
from app.ui.compute import Auralisation, FirstWindow
from app.ui.controller import Controller, Thumbnails
from app.ui.feature_tree import FeatureTree, ref_text
from app.ui.gallery import LayerGallery
from app.ui.inspector import Inspector
from app.ui.kernels_view import KernelsView
from app.ui.long_jobs import LongJobs
from app.ui.playback_panel import PlaybackPanel
from app.ui.predictions import PredictionStrip
from app.ui.session_files import SessionKeeper
from app.ui.settings import Settings
from app.ui.transport import RenderOptions, TransportBar
from app.ui.views import SpectrogramStack
from app.ui.window_actions import TAB_GALLERY, TAB_KERNELS, WindowActions
from app.ui.window_atlas import AtlasCommands
from app.ui.window_opening import OpeningCommands, settle_garbage
from app.ui.window_sessions import SessionCommands

POLL_MS = 33


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


class MainWindow(WindowActions, SessionCommands, OpeningCommands, PlaybackPanel, LongJobs, AtlasCommands, QMainWindow):
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
        excerpt_engine: PlaybackEngine | None = None,
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
        self.painted_at: float | None = None  # ... of the first complete paint (set by app.main)
        self.opened_at: float | None = None  # ... when the first clip was opened (model loaded, STFT done)
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
        c.findingsReady.connect(self._findings_ready)
        c.findingsFailed.connect(self._findings_failed)
        c.featureRendered.connect(self._feature_rendered)
        c.residualRendered.connect(self._residual_rendered)
        c.comparedRendered.connect(self._compared_rendered)
        c.renderFailed.connect(lambda ref, reason: self.show_error(f"Cannot render {ref_text(ref)}", reason))
        c.thumbnailsMade.connect(self._show_thumbnails)
        c.thumbnailProgress.connect(
            lambda done, total: self.thumb_label.setText(f"thumbnails {done}/{total}" if total else "")
        )
        c.thumbnailsFailed.connect(self._thumbnails_failed)
        c.modelOpened.connect(self._model_opened)

        self._build_actions()
        self._build_widgets()
        self._build_atlas_panel(excerpt_engine)
        self._build_menus()
        self._restore_settings()

        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self._poll)
        self.poll.start()
        self.automation = install_automation(self)  # only when AURASCOPE_STATE_FILE names a file

    # ==== construction ===================================================================================
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
        self.setCentralWidget(root)
        # the transport in a fixed bottom tool bar spans the whole window, under the docks too: its ~1230 px do not
        # add to a dock's width (inside the central widget, the Top excerpts dock made the window ~1600 px wide,
        # past the edge of a 1280-px screen, where its rows could not be clicked)
        transport_bar = QToolBar("Transport")
        transport_bar.setObjectName("transportBar")
        transport_bar.setMovable(False)
        transport_bar.setFloatable(False)
        transport_bar.toggleViewAction().setVisible(False)
        transport_bar.addWidget(self.transport)
        self.addToolBar(Qt.ToolBarArea.BottomToolBarArea, transport_bar)

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
        self.controller.busyChanged.connect(self._busy_changed)
        self.controller.workerIdle.connect(self._worker_drained)

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
        handle = self.controller.restore_autosave(autosave)  # hashes the session's files: off the GUI thread
        handle.finished.connect(restored)
        handle.failed.connect(failed)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.shown_at is None:
            self.shown_at = time.time()

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
        if self.controller.atlas is not None:
            self._list_excerpts(ref)
        sel = self.session.selection
        if (sel.layer, sel.index) != ref:
            self.session.select(layer=ref.layer, index=ref.index)
            self._edited()

    def _feature_window(self, window: FirstWindow) -> None:
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
            settle_garbage(collect=not self.engine.is_playing)  # Space pressed while opening: it plays already
            self.open_device()

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
        self.excerpt_engine.close()
        self.controller.shutdown()
        super().closeEvent(event)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self._poll()
