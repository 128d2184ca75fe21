"""The window on a long clip (PROGRESSIVE_SECONDS lowered so the fixture clip counts as one): slot B plays the
window first and fills in while it plays, what was heard is the whole rendering; Space before anything is ready
queues playback and says so; the tree's tooltip says what the thumbnails show."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.playback import Slot
from app.ui import compute


@pytest.fixture
def long_clips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compute, "PROGRESSIVE_SECONDS", 1.0)
    monkeypatch.setattr(compute, "THUMB_SECONDS", 1.0)


def test_a_long_clip_plays_its_window_first_and_fills_in(
    make_window, qtbot, long_clips, wav_file: Path, model_file: Path
) -> None:
    window = make_window(wav_file, model_file)
    windows: list[compute.FirstWindow] = []
    original = window._feature_window
    window._feature_window = lambda w: (windows.append(w), original(w))
    window.seek(0.5)
    window.tree.select((3, 4))
    qtbot.waitUntil(lambda: window.feature is not None and window.feature.ref == (3, 4), timeout=60000)
    assert len(windows) == 1 and windows[0].first_s == pytest.approx(0.5, abs=0.01)
    buffer = window.engine.progressive(Slot.B)
    assert buffer is windows[0].buffer and buffer.complete
    assert window.feature.audio is buffer.audio  # the filled buffer is the rendering: not loaded a second time
    whole = compute.render_feature(
        window.analysis, window.summary, (3, 4), "choi", window.engine.sample_rate, residual=False
    )
    assert float(np.max(np.abs(buffer.audio - whole.audio))) < 1e-5 * max(1.0, float(np.max(np.abs(whole.audio))))
    assert "window" in window.render_label.text()
    # the tooltip says which stretch the thumbnails show
    tip = window.tree.view.toolTip()
    assert "loudest 1 s" in tip and "same stretch for every map" in tip


def test_space_before_the_first_map_is_ready_queues_playback(
    make_window, qtbot, wav_file: Path, model_file: Path
) -> None:
    window = make_window(wav_file, model_file, wait=False)
    window.play()  # as Space does, while the clip and model are still opening
    assert window._play_queued and "preparing" in window.statusBar().currentMessage()
    assert not window.engine.is_playing
    qtbot.waitUntil(lambda: window.engine.is_playing, timeout=60000)
    assert window.feature is not None or window.engine.progressive(Slot.B) is not None
    assert not window._play_queued
