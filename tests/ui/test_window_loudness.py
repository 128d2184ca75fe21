"""Loudness matching in the window when slot A is too long to measure on the GUI thread: measured on the worker,
and the gains applied again when it arrives (every slot then at one loudness, none above -0.1 dBFS)."""

from __future__ import annotations

import threading

import numpy as np

from app.core.loudness import Level, apply_gain, loudness_lufs
from app.playback import Slot
from app.ui import playback_panel
from app.ui.jobs import loudness_jobs


def test_a_long_original_is_measured_on_the_worker_then_matched(make_window, qtbot, monkeypatch, wav_file, model_file):
    monkeypatch.setattr(playback_panel, "A_MEASURE_INLINE_S", 1.0)  # the 3 s test clip counts as long
    window = make_window(wav_file, model_file)
    window.act_match.setChecked(True)
    window.set_loudness_match()
    engine = window.engine
    source = engine.source(Slot.A)
    qtbot.waitUntil(lambda: window._a_level is not None and window._a_level[0] is source, timeout=30000)
    qtbot.waitUntil(lambda: window.worker.idle, timeout=30000)
    played = {}
    for slot in (Slot.A, Slot.B, Slot.R):
        gain = engine.slot_gain_db(slot)
        audio = engine.source(slot)
        assert float(np.max(np.abs(audio))) * 10 ** (gain / 20) <= 10 ** (-0.1 / 20) + 1e-4
        played[slot] = loudness_lufs(apply_gain(audio, gain), engine.sample_rate)
    assert max(played.values()) - min(played.values()) <= 0.5, played


def test_abx_on_a_long_clip_is_measured_on_the_worker(make_window, qtbot, monkeypatch, wav_file, model_file):
    monkeypatch.setattr(playback_panel, "A_MEASURE_INLINE_S", 1.0)  # the 3 s test clip counts as long
    window = make_window(wav_file, model_file)
    assert window.start_abx() is None  # not yet: A and B are being measured on the worker
    qtbot.waitUntil(lambda: window.abx_dialog is not None, timeout=30000)
    dialog = window.abx_dialog
    trial = dialog.trial()
    assert dialog.match.matched() and trial.level_difference_lu == dialog.match.difference_lu <= 0.5
    assert window.engine.slot_gain_db(Slot.A) == trial.gain_a_db
    assert window.engine.slot_gain_db(Slot.B) == trial.gain_db
    assert f"a difference of {dialog.match.difference_lu:.2f} LU" in dialog.about.text()
    dialog.close()


def test_slot_a_level_and_abx_match_asked_together_both_arrive(make_window, qtbot, monkeypatch, wav_file, model_file):
    monkeypatch.setattr(playback_panel, "A_MEASURE_INLINE_S", 1.0)  # the 3 s test clip counts as long
    window = make_window(wav_file, model_file)
    qtbot.waitUntil(lambda: window.worker.idle, timeout=30000)
    source = window.engine.source(Slot.A)
    window._a_level = window._a_level_pending = None  # as if slot A had just been loaded
    window._apply_gains()  # slot A's level goes to the worker ...
    assert window._a_level_pending is source
    assert window.start_abx() is None  # ... and so does the blind test's pair match
    qtbot.waitUntil(lambda: window.abx_dialog is not None, timeout=30000)
    qtbot.waitUntil(lambda: window._a_level is not None and window._a_level[0] is source, timeout=30000)
    window.abx_dialog.close()


def test_a_cancelled_slot_a_measurement_is_asked_again(make_window, qtbot, monkeypatch, wav_file, model_file):
    monkeypatch.setattr(playback_panel, "A_MEASURE_INLINE_S", 1.0)
    window = make_window(wav_file, model_file)
    qtbot.waitUntil(lambda: window.worker.idle, timeout=30000)
    source = window.engine.source(Slot.A)
    window._a_level = window._a_level_pending = None
    asked = []
    measure = window.controller.measure_level
    monkeypatch.setattr(window.controller, "measure_level", lambda *a: asked.append(measure(*a)) or asked[-1])
    gate = threading.Event()

    class HeldLevel:  # the first measurement waits until it has been cancelled, so it cannot win the race
        @staticmethod
        def of(audio, rate):
            gate.wait(30)
            return Level.of(audio, rate)

    monkeypatch.setattr(loudness_jobs, "Level", HeldLevel)
    window._apply_gains()
    window.worker.cancel(asked[0].lane)
    gate.set()
    qtbot.waitUntil(lambda: asked[0].done, timeout=30000)
    monkeypatch.setattr(loudness_jobs, "Level", Level)
    assert window._a_level_pending is None  # not left pending forever: the next gains ask again
    window._apply_gains()
    assert len(asked) == 2
    qtbot.waitUntil(lambda: window._a_level is not None and window._a_level[0] is source, timeout=30000)


def test_a_pair_match_that_fails_is_said(make_window, qtbot, monkeypatch, wav_file, model_file):
    monkeypatch.setattr(playback_panel, "A_MEASURE_INLINE_S", 1.0)
    window = make_window(wav_file, model_file)
    qtbot.waitUntil(lambda: window.worker.idle, timeout=30000)

    def broken(a, b, rate):
        raise ValueError("the meter broke")

    monkeypatch.setattr(loudness_jobs, "match_pair", broken)
    assert window.start_abx() is None
    qtbot.waitUntil(lambda: "the meter broke" in window.last_error, timeout=30000)
    assert window.abx_dialog is None
