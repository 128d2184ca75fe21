"""The blind A/B/X test on one feature map: can the listener tell the auralisation (B) from the original (A)?

The dialog runs an `app.core.abx.AbxTrial` and drives the window's `PlaybackEngine` while it is open: A is
slot A and B slot B, each at the gain that makes them equally loud over what the test plays (the loop or the
clip), measured on the engine's own buffers when the dialog opens (`measure_match`); when they cannot be matched
within `app.core.loudness.TOLERANCE_LU` the dialog refuses to open (`LevelMismatchError`).
X is whichever of the two the trial's seeded coin
chose. Switching between A, B and X keeps the playhead, as on a hardware ABX comparator. Nothing on screen
depends on what X is until the run is over (no feedback unless the listener asks for it before starting), and
the window's transport is left alone, so it cannot give X away either. On close the engine gets back the slot,
gains and loop it had, paused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QFont, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.abx import DEFAULT_TRIALS, AbxResult, AbxTrial, Choice, LevelMismatchError
from app.core.display import format_time
from app.core.loudness import TOLERANCE_LU, PairMatch, match_pair
from app.playback import AudioDeviceError, PlaybackEngine, Slot

#: the listener "can hear a difference" when the one-sided binomial p-value is below this
SIGNIFICANCE = 0.05
MIN_TRIALS, MAX_TRIALS = 5, 30
POLL_MS = 33
SLOT_OF = {Choice.A: Slot.A, Choice.B: Slot.B}
#: keys the dialog's shortcuts use; a focused spin box must not swallow them (digits it may keep: it is a number)
_SHORTCUT_KEYS = (Qt.Key.Key_A, Qt.Key.Key_B, Qt.Key.Key_X, Qt.Key.Key_Space)


def format_p(p: float) -> str:
    """A p-value as shown: two significant figures below 0.1 (``0.011``, ``0.00098``), else two decimals."""
    return f"{p:.2g}" if p < 0.1 else f"{p:.2f}"


def verdict(result: AbxResult) -> str:
    """``9 of 10 correct, p = 0.011: you can hear a difference`` (exact one-sided binomial test at 0.05)."""
    p = result.p_value
    head = f"{result.correct} of {result.trials} correct, p = {format_p(p)}"
    if p < SIGNIFICANCE:
        odds = f"a guesser does this well about 1 time in {round(1 / p)}"
        return f"{head}: you can hear a difference ({odds})"
    return f"{head}: not distinguishable from guessing at p < {SIGNIFICANCE:g}"


def reveal(result: AbxResult) -> str:
    """The sequence of X and the answers, one trial a line (shown only after the run)."""
    lines = [f"X was: {' '.join(a.x_is.value for a in result.answers)}"]
    for i, a in enumerate(result.answers, 1):
        mark = "✓" if a.correct else "✗"
        lines.append(f"{i:>2}.  X was {a.x_is.value}, you said {a.answer.value}  {mark}")
    if result.trials < result.planned_trials:
        lines.append(f"Stopped after {result.trials} of {result.planned_trials} planned trials.")
    return "\n".join(lines)


def measure_match(engine: PlaybackEngine, loop: tuple[float, float] | None = None) -> PairMatch:
    """Gains that make slot A and slot B equally loud over ``loop`` (seconds) or the whole clip, measured on the
    engine's device-rate buffers (what the mixer plays). Raises `LevelMismatchError` when a slot is empty."""
    return match_pair(*pair_to_match(engine, loop))


def pair_to_match(
    engine: PlaybackEngine, loop: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """What `measure_match` measures: slot A's and slot B's buffers over ``loop`` (views, no copy) and their rate.
    Raises `LevelMismatchError` when a slot is empty or still being rendered."""
    a, b = engine.source(Slot.A), engine.source(Slot.B)
    if a is None or b is None:
        raise LevelMismatchError("the original (A) and a rendered map (B) must both be loaded")
    for slot, name in ((Slot.A, "A (the original)"), (Slot.B, "B (the feature)")):
        filling = engine.progressive(slot)
        if filling is not None and not filling.complete:  # its loudness would be measured on silence
            raise LevelMismatchError(f"{name} is still being rendered: start the test once it is complete")
    if loop is not None:
        rate = engine.sample_rate
        start, end = round(loop[0] * rate), round(loop[1] * rate)
        a, b = a[start:end], b[start:end]
    return a, b, engine.sample_rate


@dataclass(frozen=True)
class _EngineState:
    """What the dialog changes on the engine, to put back on close."""

    selected: Slot
    gain_a_db: float
    gain_b_db: float
    looping: bool
    loop_region: tuple[int, int] | None

    @classmethod
    def of(cls, engine: PlaybackEngine) -> _EngineState:
        return cls(
            engine.selected,
            engine.slot_gain_db(Slot.A),
            engine.slot_gain_db(Slot.B),
            engine.looping,
            engine.loop_region,
        )

    def restore(self, engine: PlaybackEngine) -> None:
        engine.select(self.selected)
        engine.set_slot_gain_db(Slot.A, self.gain_a_db)
        engine.set_slot_gain_db(Slot.B, self.gain_b_db)
        if self.loop_region is None:
            engine.clear_loop()
        else:
            engine.set_loop_samples(*self.loop_region)
        engine.set_looping(self.looping)


class _LetShortcutsThrough(QObject):
    """Event filter: a focused spin box would take A, B, X and Space as typing; leave those to the shortcuts."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        override = event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent)
        if override and event.key() in _SHORTCUT_KEYS and not event.modifiers():
            event.ignore()  # not accepted: the dialog's shortcut fires instead of the spin box typing
            return True
        return False


class AbxDialog(QDialog):
    """A blind A/B/X run of ``trials`` trials on map ``map_name`` of clip ``clip_name``.

    ``engine`` must hold the original in slot A and the feature's rendering in slot B; the dialog measures them
    (`measure_match`) and raises `LevelMismatchError` before touching the engine when they cannot be played
    equally loud within `TOLERANCE_LU`. ``match``, when given, is that measurement made already (on the
    worker, for a long clip) by `measure_match` on the same buffers and loop.
    ``loop`` is the region to loop in seconds ``(start, end)`` or None for the whole clip
    as the engine has it. ``finishedRun(AbxResult)`` is emitted once, when the last trial is answered or when
    the listener stops (or closes the dialog) after at least one answer.
    """

    finishedRun = Signal(object)

    def __init__(
        self,
        engine: PlaybackEngine,
        *,
        layer: int,
        index: int,
        clip_sha256: str,
        clip_name: str,
        map_name: str,
        mode: str = "choi",
        loop: tuple[float, float] | None = None,
        trials: int = DEFAULT_TRIALS,
        seed: int | None = None,
        match: PairMatch | None = None,
        parent: QWidget | None = None,
    ) -> None:
        region = (float(loop[0]), float(loop[1])) if loop is not None else None
        if match is None:
            match = measure_match(engine, region)
        problem = match.problem()
        if problem is not None:
            raise LevelMismatchError(problem)
        super().__init__(parent)
        self.engine = engine
        self.map_name = map_name
        self.match = match
        self._trial = AbxTrial(
            layer=layer,
            index=index,
            clip_sha256=clip_sha256,
            clip_name=clip_name,
            trials=trials,
            seed=seed,
            gain_db=match.gain_b_db,
            gain_a_db=match.gain_a_db,
            level_difference_lu=match.difference_lu,
            mode=mode,
            loop=region,
        )
        self.result: AbxResult | None = None
        self._started = False
        self._ended = False
        self._restored = False
        self._source: str | None = None  # the A/B/X button last pressed
        self._trial_began = 0.0
        self._saved = _EngineState.of(engine)
        # the window's keys (A, B, Space) must not reach the engine behind the dialog's back
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setWindowTitle(f"Blind A/B/X test · {map_name}")
        self.setStyleSheet("QPushButton:checked { background: #3d6fb5; color: white; }")  # which source is on
        self._build(trials)
        self._build_shortcuts()
        self._take_over(loop)
        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self._poll)
        self.poll.start()
        self._refresh()
        self._poll()

    # ==== public ===========================================================================================
    def trial(self) -> AbxTrial:
        """The running trial (its ``sequence`` is what X is: for tests and for the reveal, never the screen)."""
        return self._trial

    @property
    def started(self) -> bool:
        return self._started

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def source(self) -> str | None:
        """The A/B/X button last pressed ("A", "B", "X"), or None."""
        return self._source

    def start(self) -> None:
        """Begin the run: the trial count and the feedback choice are fixed from here on."""
        if self._started:
            return
        self._started = True
        self._trial_began = time.monotonic()
        self._refresh()

    def play_source(self, button: str) -> None:
        """Play A, B or X from the current playhead (switching while playing keeps the position).

        Pressing X starts the run if it has not started; after the run X does nothing (A and B still play).
        """
        key = button.upper()
        if key not in ("A", "B", "X"):
            raise ValueError(f"unknown A/B/X button {button!r}: use 'A', 'B' or 'X'")
        if key == "X":
            if self._ended:
                return
            self.start()
            which, _ = self._trial.source("X")
        else:
            which = Choice(key)
        # set on every press: A and B (and X) always at the trial's gains, whatever the window did since
        self.engine.set_slot_gain_db(Slot.A, self._trial.gain_a_db)
        self.engine.set_slot_gain_db(Slot.B, self._trial.gain_db)
        self.engine.select(SLOT_OF[which])
        self._source = key
        self._play()
        self._refresh()

    def toggle_play(self) -> None:
        """Pause, or play the source last chosen (A if none)."""
        if self.engine.is_playing:
            self.engine.pause()
            self._poll()
        else:
            self.play_source(self._source or "A")

    def answer(self, choice: str) -> None:
        """Answer the current trial: ``"A"`` = "X is A", ``"B"`` = "X is B". Ignored once the run is over."""
        picked = Choice(choice.upper())
        if self._ended:
            return
        self.start()
        if self._source == "X":
            # the next X may be the other slot: switching it under the listener's ears would tell them so
            self.engine.pause()
        seconds = round(time.monotonic() - self._trial_began, 3)
        number = self._trial.number + 1
        right = self._trial.answer(picked, seconds)
        self._trial_began = time.monotonic()
        if self.feedback.isChecked():
            was = self._trial.answers[-1].x_is.value
            self.feedback_text.setText(f"Trial {number}: {'right' if right else 'wrong'} (X was {was})")
        if self._trial.finished:
            self._end()
        else:
            self._refresh()

    def stop(self) -> None:
        """End the run early; with at least one answer it is scored and `finishedRun` emitted."""
        if self._started and not self._ended:
            self._end()

    # ==== QDialog ===========================================================================================
    def done(self, result: int) -> None:
        self._close_run()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        if event.isAccepted():
            self._close_run()  # a hidden dialog's close does not go through done()

    # ==== internals =========================================================================================
    def _build(self, trials: int) -> None:
        layout = QVBoxLayout(self)
        title = QLabel(f"{self.map_name} · {self._trial.mode} · {self._trial.clip_name}")
        title.setTextFormat(Qt.TextFormat.PlainText)
        font = QFont(title.font())
        font.setBold(True)
        title.setFont(font)
        layout.addWidget(title)
        region = self._trial.loop
        where = f"the loop {format_time(region[0])} – {format_time(region[1])}" if region else "the clip"
        m = self.match
        self.about = about = QLabel(
            f"A is the original, played at {m.gain_a_db:+.1f} dB, and B the auralised feature, at {m.gain_b_db:+.1f} "
            f"dB, so that both are equally loud without clipping: measured over {where}, A is "
            f"{m.played_a.loudness_lufs:.1f} LUFS and B {m.played_b.loudness_lufs:.1f} LUFS, a difference of "
            f"{m.difference_lu:.2f} LU (a blind test allows {TOLERANCE_LU:g}). "
            f"In each trial X is A or B, drawn at random. Play A, B and X as often as you like (they share the "
            f"playhead; {where} plays), then say what X is. You learn whether you were right at the end, "
            "unless you ask for feedback below."
        )
        about.setWordWrap(True)
        about.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(about)

        self.setup = QWidget()
        setup_row = QHBoxLayout(self.setup)
        setup_row.setContentsMargins(0, 0, 0, 0)
        self.count = QSpinBox()
        self.count.setRange(min(MIN_TRIALS, trials), max(MAX_TRIALS, trials))
        self.count.setValue(trials)
        self.count.setSuffix(" trials")
        self.count.setToolTip("How many trials to run; more trials can show a subtler difference")
        self.count.valueChanged.connect(self._count_changed)
        self.count.installEventFilter(_LetShortcutsThrough(self.count))
        self.count.findChild(QLineEdit).installEventFilter(_LetShortcutsThrough(self.count))
        self.feedback = QCheckBox("Show feedback after each answer")
        self.feedback.setToolTip("Off is standard ABX practice: feedback lets you learn a cue during the run")
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        setup_row.addWidget(QLabel("Run"))
        setup_row.addWidget(self.count)
        setup_row.addWidget(self.feedback)
        setup_row.addStretch(1)
        setup_row.addWidget(self.start_button)
        layout.addWidget(self.setup)

        self.progress = QLabel()
        progress_font = QFont(self.progress.font())
        progress_font.setPointSizeF(progress_font.pointSizeF() * 1.3)
        self.progress.setFont(progress_font)
        layout.addWidget(self.progress)

        listen = QGroupBox("Listen")
        listen_row = QHBoxLayout(listen)
        self.sources = QButtonGroup(self)
        self.source_buttons: dict[str, QPushButton] = {}
        for key, text, tip in (
            ("A", "A  original", "Play A, the original clip (key A)"),
            ("B", "B  feature", "Play B, the auralised feature at the matched loudness (key B)"),
            ("X", "X  ?", "Play X: A or B, drawn at random for each trial (key X)"),
        ):
            b = QPushButton(text)
            b.setCheckable(True)
            b.setToolTip(tip)
            b.setMinimumHeight(40)
            b.clicked.connect(lambda _=False, k=key: self.play_source(k))
            self.sources.addButton(b)
            self.source_buttons[key] = b
            listen_row.addWidget(b)
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("Play / pause the source last chosen (Space)")
        self.play_button.clicked.connect(self.toggle_play)
        listen_row.addWidget(self.play_button)
        self.time = QLabel("0:00.000 / 0:00.000")
        self.time.setObjectName("abx_time")
        self.time.setStyleSheet("font-family: monospace;")
        listen_row.addWidget(self.time)
        layout.addWidget(listen)

        answer_box = QGroupBox("Answer")
        answer_row = QHBoxLayout(answer_box)
        self.answer_buttons: dict[str, QPushButton] = {}
        for key, shortcut in (("A", "1"), ("B", "2")):
            b = QPushButton(f"X is {key}  ({shortcut})")
            b.setMinimumHeight(40)
            b.clicked.connect(lambda _=False, k=key: self.answer(k))
            self.answer_buttons[key] = b
            answer_row.addWidget(b)
        layout.addWidget(answer_box)

        self.feedback_text = QLabel()
        self.feedback_text.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.feedback_text)
        self.device_text = QLabel()
        self.device_text.setWordWrap(True)
        self.device_text.setTextFormat(Qt.TextFormat.PlainText)
        self.device_text.setStyleSheet("color: #ff7a5a;")
        self.device_text.hide()
        layout.addWidget(self.device_text)

        self.verdict_text = QLabel()
        self.verdict_text.setTextFormat(Qt.TextFormat.PlainText)
        self.verdict_text.setWordWrap(True)
        verdict_font = QFont(self.verdict_text.font())
        verdict_font.setBold(True)
        self.verdict_text.setFont(verdict_font)
        self.verdict_text.hide()
        layout.addWidget(self.verdict_text)
        self.reveal_text = QPlainTextEdit()
        self.reveal_text.setReadOnly(True)
        self.reveal_text.setStyleSheet("font-family: monospace;")
        line = self.reveal_text.fontMetrics().lineSpacing()
        self.reveal_text.setMinimumHeight(6 * line)
        self.reveal_text.hide()
        layout.addWidget(self.reveal_text)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.stop_button = self.buttons.addButton("Stop and score", QDialogButtonBox.ButtonRole.ActionRole)
        self.stop_button.setToolTip("End the run now; the trials answered so far are scored and saved")
        self.stop_button.clicked.connect(self.stop)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for b in self.findChildren(QPushButton):
            b.setAutoDefault(False)  # Return must not press whichever button Qt made the default
        self.resize(620, self.sizeHint().height())

    def _build_shortcuts(self) -> None:
        keys = (
            ("A", lambda: self.play_source("A")),
            ("B", lambda: self.play_source("B")),
            ("X", lambda: self.play_source("X")),
            ("1", lambda: self.answer("A")),
            ("2", lambda: self.answer("B")),
            ("Space", self.toggle_play),
        )
        self.shortcuts: dict[str, QShortcut] = {}
        for key, slot in keys:
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.setAutoRepeat(False)  # a held key must not toggle or answer repeatedly
            shortcut.activated.connect(slot)
            self.shortcuts[key] = shortcut

    def _take_over(self, loop: tuple[float, float] | None) -> None:
        engine = self.engine
        engine.pause()
        engine.set_slot_gain_db(Slot.A, self._trial.gain_a_db)
        engine.set_slot_gain_db(Slot.B, self._trial.gain_db)
        engine.select(Slot.A)
        if loop is not None:
            start, end = loop
            engine.set_loop(start, end)
            engine.set_looping(True)
            if not start <= engine.position() < end:
                engine.seek(start)

    def _count_changed(self, count: int) -> None:
        if self._started:
            return
        # a new trial (its sequence of X drawn again from the same seed for the new count), nothing answered yet
        self._trial = replace(self._trial, trials=count, answers=[])
        self._refresh()

    def _play(self) -> None:
        if self.engine.is_playing:
            return
        try:
            self.engine.play()
        except AudioDeviceError as err:
            self._show_device_error(err)
            return
        self.device_text.hide()
        self._poll()

    def _show_device_error(self, err: AudioDeviceError) -> None:
        self.device_text.setText(
            f"No audio output: {err.reason}. Nothing can be heard here; answers are still recorded. "
            "Pick an output device in the main window, then run the test again."
        )
        self.device_text.show()

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._source == "X":
            self.engine.pause()
            self._source = None
        if self._trial.answers:
            self.result = self._trial.result()
            self.verdict_text.setText(verdict(self.result))
            self.reveal_text.setPlainText(reveal(self.result))
            self.reveal_text.show()
        else:
            self.verdict_text.setText("Stopped before any answer: nothing to score.")
        self.verdict_text.show()
        self._refresh()
        if self.result is not None:
            self.finishedRun.emit(self.result)

    def _close_run(self) -> None:
        """Score a run left mid-way (if anything was answered) and give the engine back as it was, paused."""
        if self._started and not self._ended and self._trial.answers:
            self._end()
        if self._restored:
            return
        self._restored = True
        self.poll.stop()
        self.engine.pause()
        self._saved.restore(self.engine)

    def _refresh(self) -> None:
        """Enable and label the controls for the run's phase. Depends on the phase only, never on X."""
        t = self._trial
        running = self._started and not self._ended
        self.setup.setVisible(not self._started)
        if not self._started:
            self.progress.setText(f"{t.trials} trials. Listen to A and B first if you like, then Start (or X).")
        elif running:
            self.progress.setText(f"Trial {t.number + 1} of {t.trials}")
        else:
            self.progress.setText(f"Done: {t.number} of {t.trials} trials answered")
        self.source_buttons["X"].setEnabled(not self._ended)
        for b in self.answer_buttons.values():
            b.setEnabled(not self._ended)
        self.stop_button.setVisible(running)
        self.stop_button.setEnabled(running and t.number > 0)
        self.feedback_text.setVisible(self.feedback.isChecked() and self._started)
        if self._source is None:
            self.sources.setExclusive(False)
            for b in self.source_buttons.values():
                b.setChecked(False)
            self.sources.setExclusive(True)
        else:
            self.source_buttons[self._source].setChecked(True)

    def _poll(self) -> None:
        """~30 Hz: play state, playhead, and a device that failed or was lost."""
        engine = self.engine
        err = engine.device_error
        if err is not None:
            self._show_device_error(err)
        playing = engine.is_playing
        self.play_button.setText("Pause" if playing else "Play")
        self.time.setText(f"{format_time(engine.position())} / {format_time(engine.duration)}")
