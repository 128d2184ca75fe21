"""Loudness matching in the window when slot A is too long to measure on the GUI thread: measured on the worker,
and the gains applied again when it arrives (every slot then at one loudness, none above -0.1 dBFS)."""

from __future__ import annotations

import numpy as np

from app.core.loudness import apply_gain, loudness_lufs
from app.playback import Slot
from app.ui import playback_panel


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
