"""The blind A/B/X dialog on the real PlaybackEngine with the real-time stand-in device (no sound card)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QShortcut
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QWidget
from ui_fakes import BLOCK, DEVICE_RATE, RealTimeStream

from app.core.abx import AbxResult, AbxTrial, Choice, LevelMismatchError
from app.playback import PlaybackEngine, Slot
from app.ui.abx_dialog import AbxDialog, format_p

RATE = 11025
SEED = 20240611
GAIN_DB = -4.5  # B is built 4.5 dB louder than A, so matching turns it down by about that (A stays at 0 dB)
SLOT = {Choice.A: Slot.A, Choice.B: Slot.B}
ONE_BLOCK_S = BLOCK / DEVICE_RATE
TIME_TEXT = re.compile(r"\d+:\d\d\.\d{3}")


def _clip(freq: float, seconds: float = 3.0, level_db: float = 0.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (0.2 * 10 ** (level_db / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _loaded_engine() -> PlaybackEngine:
    engine = PlaybackEngine()
    engine.load(Slot.A, _clip(440.0), RATE)
    engine.load(Slot.B, _clip(660.0, level_db=-GAIN_DB), RATE)
    return engine


@pytest.fixture
def engines(fake_device):
    made: list[PlaybackEngine] = []

    def make(open_device: bool = True) -> PlaybackEngine:
        engine = _loaded_engine()
        if open_device:
            engine.open()
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


@pytest.fixture
def engine(engines) -> PlaybackEngine:
    return engines()


@pytest.fixture
def make_dialog(qtbot):
    def make(engine: PlaybackEngine, activate: bool = True, **overrides) -> AbxDialog:
        kwargs = {
            "layer": 2,
            "index": 7,
            "clip_sha256": "ab" * 32,
            "clip_name": "clip.wav",
            "map_name": "L2 F7",
            "seed": SEED,
        }
        kwargs.update(overrides)
        dialog = AbxDialog(engine, **kwargs)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        if activate:
            dialog.activateWindow()
            qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
        return dialog

    return make


def _answer_all(dialog: AbxDialog, wrong: int = 0) -> None:
    """Answer every remaining trial, the first ``wrong`` of them wrongly."""
    trial = dialog.trial()
    for n in range(trial.number, trial.trials):
        x = trial.sequence[n]
        other = Choice.B if x is Choice.A else Choice.A
        dialog.answer((other if n < wrong else x).value)


def _screen(dialog: AbxDialog) -> list[tuple]:
    """Everything the dialog shows or says about itself, widget by widget (times of day masked)."""
    rows: list[tuple] = []
    for w in [dialog, *dialog.findChildren(QWidget)]:
        row = [
            type(w).__name__,
            w.objectName(),
            w.isVisibleTo(dialog),
            w.isEnabled(),
            w.windowTitle(),
            w.toolTip(),
            w.statusTip(),
            w.whatsThis(),
            w.accessibleName(),
            w.accessibleDescription(),
            w.styleSheet(),
        ]
        for name in ("text", "toPlainText", "isChecked", "value"):
            getter = getattr(w, name, None)
            if callable(getter):
                row.append(getter())
        rows.append(tuple(TIME_TEXT.sub("m:ss.mmm", v) if isinstance(v, str) else v for v in row))
    rows += [(s.key().toString(), s.isEnabled(), s.whatsThis()) for s in dialog.findChildren(QShortcut)]
    return rows


def _seed_pair(trials: int = 6) -> tuple[int, int]:
    """Two seeds whose X differ in trial 1 and in at least half of the first ``trials`` trials."""

    def seq(seed: int) -> tuple[Choice, ...]:
        return AbxTrial(layer=0, index=0, clip_sha256="", trials=trials, seed=seed).sequence

    base = seq(SEED)
    for other in range(SEED + 1, SEED + 500):
        s = seq(other)
        differ = [a is not b for a, b in zip(base, s, strict=True)]
        if differ[0] and sum(differ) >= trials // 2:
            return SEED, other
    raise AssertionError("no seed pair found")


# ---- playback ----------------------------------------------------------------------------------------------


def test_x_plays_the_sequence_slot_and_b_always_at_the_trial_gain(engine, make_dialog) -> None:
    dialog = make_dialog(engine)
    trial = dialog.trial()
    assert set(trial.sequence) == {Choice.A, Choice.B}  # the seed exercises both identities
    # measured on the engine's buffers: B (built 4.5 dB louder) turned down to A, A left alone
    assert trial.gain_db == pytest.approx(GAIN_DB, abs=0.3) and trial.gain_a_db == 0.0
    assert trial.level_difference_lu is not None and trial.level_difference_lu <= 0.01
    for n, x in enumerate(trial.sequence):
        engine.set_slot_gain_db(Slot.B, 0.0)  # as the window does when a rendering arrives behind the dialog
        engine.set_slot_gain_db(Slot.A, 2.0)
        dialog.play_source("X")
        assert engine.selected is SLOT[x], f"trial {n + 1}"
        assert engine.slot_gain_db(Slot.B) == trial.gain_db
        assert engine.slot_gain_db(Slot.A) == 0.0
        dialog.play_source("A")
        assert engine.selected is Slot.A
        dialog.play_source("B")
        assert engine.selected is Slot.B
        assert engine.slot_gain_db(Slot.B) == trial.gain_db
        dialog.answer("A")
    assert trial.finished


def test_switching_a_b_x_keeps_the_playhead(engine, make_dialog, qtbot) -> None:
    dialog = make_dialog(engine)
    dialog.play_source("A")
    qtbot.waitUntil(lambda: engine.position() > 0.3, timeout=5000)
    for button in "BXAXB":
        before = engine.position()
        dialog.play_source(button)
        after = engine.position()
        assert engine.is_playing
        assert 0.0 <= after - before <= ONE_BLOCK_S, button
        qtbot.wait(60)
    assert engine.position() > 0.5  # still going forward, never restarted

    dialog.toggle_play()  # pause
    qtbot.waitUntil(lambda: not engine.is_playing, timeout=2000)
    qtbot.wait(100)
    held = engine.position()
    dialog.play_source("X")  # resumes where it was paused, as the other slot or the same
    assert engine.is_playing
    assert abs(engine.position() - held) <= ONE_BLOCK_S
    qtbot.wait(150)
    assert engine.position() > held


def test_the_loop_region_is_looped_and_everything_put_back_on_close(engine, make_dialog, qtbot) -> None:
    engine.select(Slot.R)
    engine.set_slot_gain_db(Slot.A, 1.5)
    engine.set_slot_gain_db(Slot.B, -2.0)
    engine.set_loop(2.0, 2.5)
    engine.set_looping(False)
    dialog = make_dialog(engine, loop=(0.5, 0.8))
    assert engine.looping
    assert engine.loop_region == (round(0.5 * engine.sample_rate), round(0.8 * engine.sample_rate))
    assert engine.slot_gain_db(Slot.A) == 0.0 and engine.slot_gain_db(Slot.B) == dialog.trial().gain_db
    assert dialog.trial().gain_db == pytest.approx(GAIN_DB, abs=0.3)
    dialog.play_source("X")
    qtbot.waitUntil(lambda: engine.position() >= 0.5, timeout=2000)  # the output latency after a seek
    seen = []
    for _ in range(12):  # 0.6 s: past the 0.3 s loop's end at least once
        qtbot.wait(50)
        seen.append(engine.position())
    assert all(0.5 - ONE_BLOCK_S <= p <= 0.8 + ONE_BLOCK_S for p in seen), seen
    assert min(seen) < 0.6 and max(seen) > 0.7  # it did wrap, not stall
    dialog.play_source("B")

    dialog.close()
    assert not engine.is_playing
    assert engine.selected is Slot.R
    assert engine.slot_gain_db(Slot.A) == 1.5
    assert engine.slot_gain_db(Slot.B) == -2.0
    assert engine.loop_region == (round(2.0 * engine.sample_rate), round(2.5 * engine.sample_rate))
    assert not engine.looping


def test_close_without_a_loop_leaves_no_loop_behind(engine, make_dialog) -> None:
    engine.select(Slot.B)
    dialog = make_dialog(engine, loop=(0.1, 0.4))
    dialog.play_source("A")
    dialog.reject()  # Esc
    assert engine.loop_region is None and not engine.looping
    assert engine.selected is Slot.B and not engine.is_playing


def test_answering_while_x_plays_pauses_so_the_next_x_is_not_heard_switching(engine, make_dialog, qtbot) -> None:
    dialog = make_dialog(engine)
    dialog.play_source("X")
    dialog.answer("A")
    assert not engine.is_playing
    dialog.toggle_play()  # Space resumes "X", which is now trial 2's X
    assert engine.is_playing and engine.selected is SLOT[dialog.trial().sequence[1]]
    dialog.play_source("A")
    dialog.answer("B")
    assert engine.is_playing and engine.selected is Slot.A  # A is A in every trial: nothing to hide


# ---- scoring -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wrong", "correct", "p", "shown", "words"),
    [
        (0, 10, 1 / 1024, "0.00098", "you can hear a difference"),
        (1, 9, 11 / 1024, "0.011", "you can hear a difference"),
        (3, 7, 176 / 1024, "0.17", "not distinguishable from guessing at p < 0.05"),
        (10, 0, 1.0, "1.00", "not distinguishable from guessing at p < 0.05"),
    ],
)
def test_a_full_run_is_scored_revealed_and_emitted_once(
    engine, make_dialog, qtbot, wrong, correct, p, shown, words
) -> None:
    dialog = make_dialog(engine)
    results: list[AbxResult] = []
    dialog.finishedRun.connect(results.append)
    with qtbot.waitSignal(dialog.finishedRun, timeout=1000):
        _answer_all(dialog, wrong=wrong)
    assert len(results) == 1
    result = results[0]
    assert isinstance(result, AbxResult)
    assert (result.correct, result.trials, result.planned_trials, result.seed) == (correct, 10, 10, SEED)
    assert result.p_value == p
    assert (result.layer, result.index, result.clip_name) == (2, 7, "clip.wav")
    assert result.gain_db == round(dialog.trial().gain_db, 4) and result.gain_a_db == 0.0
    assert result.level_difference_lu == round(dialog.trial().level_difference_lu, 4)
    assert format_p(p) == shown
    text = dialog.verdict_text.text()
    assert f"{correct} of 10 correct, p = {shown}" in text and words in text
    assert dialog.verdict_text.isVisible() and dialog.reveal_text.isVisible()
    assert "X was: " + " ".join(x.value for x in dialog.trial().sequence) in dialog.reveal_text.toPlainText()
    assert not dialog.source_buttons["X"].isEnabled()
    assert not any(b.isEnabled() for b in dialog.answer_buttons.values())
    dialog.answer("A")  # a stray key after the end
    dialog.play_source("X")
    dialog.stop()
    dialog.close()
    assert len(results) == 1 and dialog.trial().number == 10


def test_stopping_after_three_answers_scores_those_three(engine, make_dialog) -> None:
    dialog = make_dialog(engine)
    results: list[AbxResult] = []
    dialog.finishedRun.connect(results.append)
    assert not dialog.stop_button.isEnabled()  # nothing to score yet
    seq = dialog.trial().sequence
    for n in range(3):
        dialog.answer(seq[n].value)
    assert dialog.stop_button.isEnabled()
    dialog.stop_button.click()
    assert len(results) == 1
    assert (results[0].trials, results[0].planned_trials, results[0].correct) == (3, 10, 3)
    assert results[0].p_value == 1 / 8
    assert "3 of 3 correct, p = 0.12" in dialog.verdict_text.text()
    assert "Stopped after 3 of 10" in dialog.reveal_text.toPlainText()
    dialog.close()
    assert len(results) == 1


def test_closing_mid_run_keeps_the_answers_and_closing_before_any_emits_nothing(engines, make_dialog) -> None:
    dialog = make_dialog(engines())
    results: list[AbxResult] = []
    dialog.finishedRun.connect(results.append)
    dialog.answer("A")
    dialog.answer("B")
    dialog.close()
    assert [r.trials for r in results] == [2]

    untouched = make_dialog(engines())
    untouched.finishedRun.connect(results.append)
    untouched.play_source("X")
    untouched.close()
    assert [r.trials for r in results] == [2]


def test_progress_and_the_trial_count_chooser(engine, make_dialog) -> None:
    dialog = make_dialog(engine)
    assert (dialog.count.minimum(), dialog.count.maximum(), dialog.count.value()) == (5, 30, 10)
    dialog.count.setValue(20)
    trial = dialog.trial()
    assert (trial.trials, trial.seed) == (20, SEED)
    dialog.start_button.click()
    assert not dialog.setup.isVisible()
    assert dialog.progress.text() == "Trial 1 of 20"
    for choice in "ABA":
        dialog.answer(choice)
    assert dialog.progress.text() == "Trial 4 of 20"
    assert dialog.feedback_text.text() == "" and not dialog.feedback_text.isVisible()


def test_feedback_after_each_answer_only_when_asked(engine, make_dialog) -> None:
    dialog = make_dialog(engine)
    dialog.feedback.setChecked(True)
    x = dialog.trial().sequence[0]
    dialog.answer(x.value)
    assert dialog.feedback_text.isVisible()
    assert dialog.feedback_text.text() == f"Trial 1: right (X was {x.value})"


# ---- keys --------------------------------------------------------------------------------------------------


def test_keys_work_wherever_the_focus_is(engine, make_dialog, qtbot) -> None:
    dialog = make_dialog(engine)
    seq = dialog.trial().sequence
    spin_text = dialog.count.findChild(QLineEdit)

    spin_text.setFocus()  # typing in the spin box must not eat A/B/X/Space
    qtbot.keyClick(spin_text, Qt.Key.Key_A)
    assert engine.selected is Slot.A and engine.is_playing and dialog.source == "A"
    qtbot.keyClick(spin_text, Qt.Key.Key_B)
    assert engine.selected is Slot.B
    qtbot.keyClick(spin_text, Qt.Key.Key_Space)
    assert not engine.is_playing
    assert dialog.count.value() == 10 and not dialog.started

    dialog.feedback.setFocus()
    qtbot.keyClick(dialog.feedback, Qt.Key.Key_X)  # X starts the run
    assert dialog.started and engine.selected is SLOT[seq[0]] and engine.is_playing

    button = dialog.answer_buttons["B"]
    button.setFocus()
    qtbot.keyClick(button, Qt.Key.Key_1)  # "X is A" even though "X is B" has the focus
    assert [a.answer for a in dialog.trial().answers] == [Choice.A]
    qtbot.keyClick(button, Qt.Key.Key_Space)  # play/pause, not a click on "X is B"
    assert dialog.trial().number == 1 and engine.is_playing
    qtbot.keyClick(button, Qt.Key.Key_2)
    assert [a.answer for a in dialog.trial().answers] == [Choice.A, Choice.B]

    dialog.play_button.setFocus()
    qtbot.keyClick(dialog.play_button, Qt.Key.Key_X)
    assert engine.selected is SLOT[seq[2]]


# ---- blindness ---------------------------------------------------------------------------------------------


def _run_side_by_side(engines, make_dialog, feedback: bool) -> list[int]:
    """Two runs whose X differ, answered identically; the trials after which their screens differed."""
    seed_1, seed_2 = _seed_pair()
    one = make_dialog(engines(), activate=False, seed=seed_1)
    two = make_dialog(engines(), activate=False, seed=seed_2)
    assert one.trial().sequence[0] is not two.trial().sequence[0]
    differed = []
    for dialog in (one, two):
        dialog.feedback.setChecked(feedback)
    for n, (button, choice) in enumerate(zip("XAXBXX", "AABBAB", strict=True)):
        for dialog in (one, two):
            dialog.play_source(button)
            dialog.play_source("X")
            dialog._poll()
        if _screen(one) != _screen(two):
            differed.append(n)
        for dialog in (one, two):
            dialog.answer(choice)
            dialog._poll()
        if _screen(one) != _screen(two):
            differed.append(n)
    assert not one.ended and not two.ended  # still during the run (planned 10 trials)
    return differed


def test_nothing_on_screen_depends_on_what_x_is(engines, make_dialog) -> None:
    assert _run_side_by_side(engines, make_dialog, feedback=False) == []


def test_the_blindness_check_catches_a_give_away(engines, make_dialog) -> None:
    # feedback on shows what X was after each answer: the same comparison must see it
    assert _run_side_by_side(engines, make_dialog, feedback=True) != []
    seed_1, seed_2 = _seed_pair()
    one = make_dialog(engines(), activate=False, seed=seed_1)
    two = make_dialog(engines(), activate=False, seed=seed_2)
    assert _screen(one) == _screen(two)
    for dialog in (one, two):
        QLabel(f"now playing: {dialog.trial().sequence[0].value}", dialog)  # a leak planted in a child label
    assert _screen(one) != _screen(two)


# ---- no device ---------------------------------------------------------------------------------------------


def test_without_a_device_the_dialog_says_so_and_answers_still_count(fake_device, engines, make_dialog, qtbot) -> None:
    def refuse(**kwargs):
        raise fake_device.PortAudioError("Device unavailable")

    fake_device.OutputStream = refuse
    engine = engines(open_device=False)
    dialog = make_dialog(engine)
    qtbot.keyClick(dialog.answer_buttons["A"], Qt.Key.Key_X)
    assert dialog.device_text.isVisible()
    assert "No audio output" in dialog.device_text.text()
    assert "Device unavailable" in dialog.device_text.text()
    assert engine.selected is SLOT[dialog.trial().sequence[0]] and not engine.is_playing
    dialog.play_source("A")
    qtbot.keyClick(dialog.answer_buttons["A"], Qt.Key.Key_Space)
    with qtbot.waitSignal(dialog.finishedRun, timeout=1000):
        _answer_all(dialog)
    assert "10 of 10 correct" in dialog.verdict_text.text()


def test_a_device_lost_mid_run_is_reported(engine, make_dialog, qtbot) -> None:
    dialog = make_dialog(engine)
    dialog.play_source("X")
    assert not dialog.device_text.isVisible()
    RealTimeStream.instances[-1].close()  # the stream ends by itself, as when a USB device is unplugged
    qtbot.waitUntil(dialog.device_text.isVisible, timeout=2000)
    assert "No audio output" in dialog.device_text.text()
    dialog.answer("A")
    assert dialog.trial().number == 1


# ---- loudness: matched as played, or no test at all ----------------------------------------------------------


def test_the_dialog_states_the_measured_level_difference(engine, make_dialog) -> None:
    dialog = make_dialog(engine, loop=(0.5, 0.8))
    m = dialog.match
    text = dialog.about.text()
    assert f"A is {m.played_a.loudness_lufs:.1f} LUFS and B {m.played_b.loudness_lufs:.1f} LUFS" in text
    assert f"a difference of {m.difference_lu:.2f} LU" in text and m.difference_lu <= 0.01
    assert f"A is the original, played at {m.gain_a_db:+.1f} dB" in text


def test_a_b_that_cannot_be_matched_refuses_to_start_and_leaves_the_engine_alone(engine, qtbot) -> None:
    rate = engine.sample_rate
    silent_middle = _clip(660.0)
    silent_middle[RATE : 2 * RATE] = 0.0  # B is silent from 1 s to 2 s
    engine.load(Slot.B, silent_middle, RATE)
    engine.select(Slot.B)
    engine.set_slot_gain_db(Slot.B, -2.0)
    with pytest.raises(LevelMismatchError, match="B .the feature. is silent here"):
        AbxDialog(engine, layer=2, index=7, clip_sha256="ab" * 32, clip_name="c.wav", map_name="L2 F7", loop=(1.2, 1.8))
    assert engine.selected is Slot.B and engine.slot_gain_db(Slot.B) == -2.0 and not engine.looping
    assert engine.loop_region is None and rate == engine.sample_rate
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, AbxDialog) and w.isVisible()]


def test_a_b_still_being_rendered_refuses_to_start(engine) -> None:
    buffer = engine.load_progressive(Slot.B, 3 * RATE, RATE)  # nothing written yet: B is silence so far
    assert not buffer.complete
    with pytest.raises(LevelMismatchError, match="B .the feature. is still being rendered"):
        AbxDialog(engine, layer=2, index=7, clip_sha256="ab" * 32, clip_name="c.wav", map_name="L2 F7")
