"""The "Top excerpts" dock: for the selected map, the corpus's strongest excerpts from the open atlas, each playable
as original (A) and as the map's auralisation (B) at one playhead.

A view: it shows what the controller's atlas jobs deliver (rows as they are read, then each excerpt's audio) and
asks for more through its signals; it never touches the atlas or torch. It plays through its own `PlaybackEngine`
(the same A/B slots, crossfade and latency-compensated playhead as the main transport), so auditioning an excerpt
leaves the main views' clip, renderings and playhead as they were; the window pauses one engine when the other
starts. While an excerpt plays (or the panel has the focus), the window hands B and Space to the panel.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.display import format_time
from app.core.loudness import common_gains
from app.core.types import FeatureRef
from app.playback import AudioDeviceError, PlaybackEngine, Slot
from app.ui.jobs.atlas_jobs import AtlasSummary, Excerpt, ExcerptAudio, Listing

POLL_MS = 33
COLUMNS = ("#", "Clip", "Time", "Peak", "Peak at", "Labels")
RANK, CLIP, TIME, PEAK, PEAK_AT, LABELS = range(len(COLUMNS))
LINK = QColor("#7fb2ff")


def excerpt_cells(excerpt: Excerpt) -> tuple[str, ...]:
    """A row's text: rank, clip name, window, peak activation, the peak's time and frequency, corpus labels."""
    hit = excerpt.hit
    return (
        str(excerpt.rank),
        excerpt.name,
        f"{format_time(hit.start)} – {format_time(hit.end)}",
        f"{hit.peak:.4g}",
        f"{format_time(hit.peak_time)} · {hit.peak_frequency:.0f} Hz",
        ", ".join(excerpt.labels),
    )


class ExcerptsPanel(QDockWidget):
    """``renderRequested(Excerpt)``: make it audible (the window asks the controller); ``openRequested(Excerpt)``:
    open its clip at its start in the main views; ``auditionStarted()``: an excerpt is about to play."""

    renderRequested = Signal(object)
    openRequested = Signal(object)
    auditionStarted = Signal()

    def __init__(self, engine: PlaybackEngine, parent: QWidget | None = None) -> None:
        super().__init__("Top excerpts", parent)
        self.setObjectName("topExcerpts")
        self.engine = engine
        self.atlas: AtlasSummary | None = None
        self.ref: FeatureRef | None = None
        self.excerpts: list[Excerpt] = []
        self.loaded: ExcerptAudio | None = None  # what the engine's A and B hold
        self._wanted: Excerpt | None = None  # the excerpt asked for last (its audio may still be on the worker)
        self._play_when_ready = False
        self._match = True
        self._shown_playing = False

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        self.header = QLabel("No atlas open: File › Open atlas…")
        self.header.setWordWrap(True)
        self.header.setMinimumWidth(1)  # as the status line: a long atlas name does not widen the window
        layout.addWidget(self.header)
        self.table = QTreeWidget()
        self.table.setColumnCount(len(COLUMNS))
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setAllColumnsShowFocus(True)
        self.table.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.header().setStretchLastSection(True)
        self.table.itemClicked.connect(self._clicked)
        # a double click and Enter (not itemDoubleClicked too: a double click emits both, and played twice the first
        # rendering was superseded and started again)
        self.table.itemActivated.connect(lambda item, _column: self.play_excerpt(self._excerpt_of(item)))
        self.table.currentItemChanged.connect(self._current_changed)
        layout.addWidget(self.table, 1)

        row = QHBoxLayout()
        self.play_button = QToolButton()
        self.play_button.setText("Play")
        self.play_button.setToolTip("Play the selected excerpt (Space while an excerpt plays)")
        self.play_button.clicked.connect(self.toggle_play)
        self.slot_a = QToolButton()
        self.slot_a.setText("A original")
        self.slot_b = QToolButton()
        self.slot_b.setText("B feature")
        for button, slot in ((self.slot_a, Slot.A), (self.slot_b, Slot.B)):
            button.setCheckable(True)
            button.setAutoExclusive(True)
            button.clicked.connect(lambda _=False, s=slot: self.select_slot(s))
        self.slot_b.setChecked(True)
        self.slot_b.setToolTip("The map's auralisation of the excerpt (B toggles A/B while an excerpt plays)")
        self.open_button = QPushButton("Open in main view")
        self.open_button.setToolTip("Open the excerpt's clip in the main views, the playhead at the excerpt's start")
        self.open_button.clicked.connect(self._open_current)
        self.time_label = QLabel("")
        self.time_label.setStyleSheet("font-family: monospace;")
        for widget in (self.play_button, self.slot_a, self.slot_b):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.open_button)
        layout.addLayout(row)
        # the playhead on the status line, not beside the buttons: there its ~150 px widened the dock, and the window
        # past a 1280-px screen's edge, as soon as an excerpt played
        line = QHBoxLayout()
        line.addWidget(self.time_label, 0, Qt.AlignmentFlag.AlignTop)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setMinimumWidth(1)  # a long clip name is cut, rather than widening the window past the screen
        line.addWidget(self.status, 1)
        layout.addLayout(line)
        self.tags: tuple = ()  # the map's over-represented corpus labels (app.core.atlas.tags.CorpusTag)
        self.tags_label = QLabel("")
        self.tags_label.setWordWrap(True)
        self.tags_label.setToolTip("One-sided hypergeometric test against the whole corpus (aurascope atlas tags)")
        self.tags_label.hide()
        layout.addWidget(self.tags_label)
        self.setWidget(body)
        self._enable()

        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self._poll)

    # ==== what the controller delivers ========================================================================
    def set_atlas(self, atlas: AtlasSummary | None) -> None:
        """Show ``atlas`` (None: none open); the rows wait for `show_map`."""
        self.pause()
        self.atlas = atlas
        self.excerpts, self.loaded, self._wanted = [], None, None
        self.table.clear()
        self.tags = ()
        self.tags_label.hide()
        self.status.setText("")
        if atlas is None:
            self.header.setText("No atlas open: File › Open atlas…")
            self.header.setToolTip("")
        else:
            labelled = ", with corpus labels" if atlas.labelled else ""
            self.header.setText(f"Atlas <b>{atlas.name}</b>: {atlas.clips} clips, top {atlas.k} per map{labelled}")
            self.header.setToolTip(
                f"{atlas.path}\nbuilt with {atlas.model_name} (SHA-256 {atlas.model_sha256[:12]}…)\n"
                f"{atlas.skipped} clip(s) skipped as unreadable"
            )
        self._enable()

    def show_map(self, ref: FeatureRef) -> None:
        """Map ``ref`` is selected: its rows follow (`add_excerpt`, then `set_listed`)."""
        ref = FeatureRef.of(ref)
        if ref == self.ref and self.excerpts:
            return
        self.ref = ref
        self.excerpts = []
        self.table.clear()
        self.tags = ()
        self.tags_label.hide()
        if self.atlas is not None:
            self.status.setText(f"Reading layer {ref.layer} feature {ref.index}'s excerpts…")
        self._enable()

    def add_excerpt(self, excerpt: Excerpt) -> None:
        """One row, as it is read from the atlas (the panel fills as results come)."""
        if excerpt.ref != self.ref or any(e.key == excerpt.key for e in self.excerpts):
            return
        self.excerpts.append(excerpt)
        item = QTreeWidgetItem(list(excerpt_cells(excerpt)))
        item.setData(RANK, Qt.ItemDataRole.UserRole, len(self.excerpts) - 1)
        for column in (RANK, PEAK):
            item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if excerpt.found:
            font = QFont(item.font(CLIP))
            font.setUnderline(True)
            item.setFont(CLIP, font)
            item.setForeground(CLIP, QBrush(LINK))
            item.setToolTip(CLIP, f"{excerpt.clip_path}\nClick: open it here in the main views")
        else:
            for column in range(len(COLUMNS)):
                item.setForeground(column, QBrush(QColor("#777777")))
            item.setToolTip(CLIP, f"not found: {excerpt.clip_path}")
        self.table.addTopLevelItem(item)
        if self.table.currentItem() is None:
            self.table.setCurrentItem(item)
        self._enable()

    def set_listed(self, listing: Listing) -> None:
        """Every excerpt of the map has been read: the rows are exactly these; the corpus labels over-represented
        among their clips (a suggested tag from the corpus, beside the acoustic ones) under them."""
        if listing.ref != self.ref:
            return
        excerpts = listing.excerpts
        if [e.key for e in excerpts] != [e.key for e in self.excerpts]:
            self.excerpts = []
            self.table.clear()
            for excerpt in excerpts:
                self.add_excerpt(excerpt)
        clips = len({e.clip_sha256 for e in excerpts})
        if excerpts:
            self.status.setText(f"{len(excerpts)} excerpts from {clips} clip(s), strongest first")
        else:
            self.status.setText("No excerpts for this map in the atlas")
        self.tags = listing.tags
        self.tags_label.setText(
            "Corpus labels over-represented here: "
            + "; ".join(
                f"<b>{t.label}</b> ({t.hits} of {t.top} clips vs {t.labelled} of {t.corpus}, p = {t.p_value:.2g})"
                for t in listing.tags
            )
            if listing.tags
            else ""
        )
        self.tags_label.setVisible(bool(listing.tags))

    def set_audio(self, audio: ExcerptAudio) -> None:
        """An excerpt's original and feature are ready: load them at one playhead (from the excerpt's start)."""
        if self._wanted is None or audio.excerpt.key != self._wanted.key:
            return  # the listener moved on
        self.engine.pause()
        self.engine.load(Slot.A, audio.original, audio.device_rate)
        self.engine.load(Slot.B, audio.feature, audio.device_rate)
        self.loaded = audio
        self._apply_gains()
        self.engine.seek(0.0)
        self.status.setText(f"#{audio.excerpt.rank} {audio.excerpt.name}: rendered in {audio.seconds:.2f} s")
        if self._play_when_ready:
            self._play_when_ready = False
            self._start()
        self._enable()

    def forget_audio(self) -> None:
        """What is loaded no longer answers (another mode or method): render again, and go on playing if it was."""
        playing, loaded = self.engine.is_playing, self.loaded
        self.loaded = None
        if playing and loaded is not None:
            self.play_excerpt(loaded.excerpt)

    def show_failure(self, excerpt: Excerpt, reason: str) -> None:
        if self._wanted is not None and excerpt.key == self._wanted.key:
            self._play_when_ready = False
            self.status.setText(f"Cannot play #{excerpt.rank} {excerpt.name}: {reason}")

    # ==== playback ============================================================================================
    def current(self) -> Excerpt | None:
        item = self.table.currentItem()
        return self._excerpt_of(item) if item is not None else None

    def play_excerpt(self, excerpt: Excerpt | None = None) -> None:
        """Play ``excerpt`` (default: the selected row) from its start, in the slot shown (A or B)."""
        excerpt = excerpt or self.current()
        if excerpt is None:
            return
        if not excerpt.found:
            self.status.setText(f"Cannot play #{excerpt.rank}: {excerpt.clip_path} is not there any more")
            return
        self._wanted = excerpt
        if self.loaded is not None and self.loaded.excerpt.key == excerpt.key:
            self.engine.seek(0.0)
            self._start()
            return
        self.engine.pause()
        self._play_when_ready = True
        self.status.setText(f"Rendering #{excerpt.rank} {excerpt.name}…")
        self.renderRequested.emit(excerpt)

    def toggle_play(self) -> None:
        if self.engine.is_playing:
            self.pause()
        elif self.loaded is not None and self.current() is not None and self.loaded.excerpt.key == self.current().key:
            self._start()  # resume where it was
        else:
            self.play_excerpt()

    def pause(self) -> None:
        self._play_when_ready = False
        if self.engine.is_playing:
            self.engine.pause()

    def select_slot(self, slot: Slot) -> None:
        """A (the excerpt) or B (the map's auralisation of it), switched at the next block like the main B."""
        self.engine.select(slot)
        (self.slot_a if slot is Slot.A else self.slot_b).setChecked(True)

    def toggle_ab(self) -> None:
        self.select_slot(Slot.B if self.engine.selected is Slot.A else Slot.A)

    def has_keys(self) -> bool:
        """Whether B and Space belong to the panel: an excerpt is playing, or the focus is inside the panel."""
        focus = QApplication.focusWidget()
        return self.engine.is_playing or (focus is not None and self.isAncestorOf(focus))

    def set_loudness_match(self, on: bool) -> None:
        """A and B at one loudness (the main transport's M), none above -0.1 dBFS either way (`common_gains`)."""
        self._match = bool(on)
        self._apply_gains()

    def set_volume(self, volume: float) -> None:
        self.engine.set_volume(volume)

    def _apply_gains(self) -> None:
        if self.loaded is None:
            return
        levels = {Slot.A: self.loaded.original_level, Slot.B: self.loaded.feature_level}
        for slot, gain in common_gains(levels, Slot.A, match=self._match).items():
            self.engine.set_slot_gain_db(slot, gain)

    def _start(self) -> None:
        self.auditionStarted.emit()  # the window pauses the main transport and hands over volume and matching
        self.engine.select(Slot.A if self.slot_a.isChecked() else Slot.B)
        try:
            self.engine.play()
        except AudioDeviceError as err:
            self.status.setText(f"No audio output for the excerpts: {err.reason}")
            return
        self.poll.start()
        self._poll()

    def _poll(self) -> None:
        playing = self.engine.is_playing
        if self.loaded is not None:
            self.time_label.setText(f"{format_time(self.engine.position())} / {format_time(self.engine.duration)}")
        if playing != self._shown_playing:
            self._shown_playing = playing
            self.play_button.setText("Pause" if playing else "Play")
        if not playing:
            self.poll.stop()

    # ==== rows ================================================================================================
    def _excerpt_of(self, item: QTreeWidgetItem) -> Excerpt | None:
        index = item.data(RANK, Qt.ItemDataRole.UserRole)
        return self.excerpts[index] if isinstance(index, int) and 0 <= index < len(self.excerpts) else None

    def _clicked(self, item: QTreeWidgetItem, column: int) -> None:
        excerpt = self._excerpt_of(item)
        if column == CLIP and excerpt is not None and excerpt.found:
            self.openRequested.emit(excerpt)

    def _open_current(self) -> None:
        excerpt = self.current()
        if excerpt is not None and excerpt.found:
            self.openRequested.emit(excerpt)

    def _current_changed(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        excerpt = self._excerpt_of(current) if current is not None else None
        if excerpt is not None and self.engine.is_playing:
            self.play_excerpt(excerpt)  # browsing while listening: the next excerpt plays
        self._enable()

    def _enable(self) -> None:
        excerpt = self.current()
        usable = excerpt is not None and excerpt.found
        self.play_button.setEnabled(usable or self.engine.is_playing)
        self.open_button.setEnabled(usable)
