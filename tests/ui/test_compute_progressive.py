"""The worker's progressive render (no Qt): the first window at once, then the whole clip, equal to the
whole-clip render; thumbnails of a long clip show its loudest stretch, exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from test_windowing import RATE, _clip

from app.core.analysis import Analysis
from app.core.model import Model
from app.core.progressive import FIRST_WINDOW_SECONDS
from app.core.types import FeatureRef, Method, Mode
from app.ui import compute


def test_progressive_render_plays_the_window_first_and_ends_equal_to_the_whole_render(small_model: Model) -> None:
    analysis = Analysis(_clip(seed=9), small_model, device="cpu")
    summary = compute.summarise_model(small_model)
    ref = FeatureRef(4, 2)
    windows: list[compute.FirstWindow] = []
    firsts: list[compute.Auralisation] = []

    def on_window(window: compute.FirstWindow) -> None:
        windows.append(window)
        # at this moment only the window is in the playback buffer
        share = (window.last_s - window.first_s) / analysis.clip.duration
        assert window.buffer.ready_fraction() == pytest.approx(share, abs=0.01)

    residual = compute.render_feature_progressive(
        analysis, summary, ref, Mode.CHOI, 48000, 2.0, on_window=on_window, on_first=firsts.append
    )
    assert len(windows) == 1 and windows[0].first_s == pytest.approx(2.0)
    assert windows[0].last_s == pytest.approx(min(2.0 + FIRST_WINDOW_SECONDS, analysis.clip.duration))
    (feature,) = firsts
    whole_r = compute.render_feature(analysis, summary, ref, Mode.CHOI, 48000)
    whole_b = compute.render_feature(analysis, summary, ref, Mode.CHOI, 48000, residual=False)
    assert windows[0].buffer.complete and feature.audio is windows[0].buffer.audio
    scale = max(1.0, float(np.max(np.abs(whole_b.audio))))
    assert float(np.max(np.abs(feature.audio - whole_b.audio))) / scale < 1e-5
    assert residual is not None and residual.mode is Mode.RESIDUAL
    assert float(np.max(np.abs(residual.audio - whole_r.audio))) / scale < 1e-5
    # slot R filled alongside B, chunk by chunk, as original minus B
    assert windows[0].residual.complete
    assert float(np.max(np.abs(windows[0].residual.audio - whole_r.audio))) / scale < 1e-5
    assert feature.loudness_lufs == pytest.approx(whole_b.loudness_lufs, abs=1e-3)
    assert feature.activation_peak == pytest.approx(whole_b.activation_peak, rel=1e-6)


def test_a_cancelled_progressive_render_stops_between_chunks(small_model: Model) -> None:
    analysis = Analysis(_clip(seed=10), small_model, device="cpu")
    summary = compute.summarise_model(small_model)
    seen: list[compute.FirstWindow] = []
    result = compute.render_feature_progressive(
        analysis, summary, FeatureRef(2, 0), Mode.CHOI, 48000, 0.0, 1.0, on_window=seen.append, cancelled=lambda: True
    )
    assert result is None and len(seen) == 1 and not seen[0].buffer.complete


def test_thumbnails_of_a_long_clip_show_its_loudest_stretch(small_model: Model, monkeypatch) -> None:
    analysis = Analysis(_clip(seed=11), small_model, device="cpu")
    summary = compute.summarise_model(small_model)
    monkeypatch.setattr(compute, "THUMB_SECONDS", 2.0)
    first, last = compute.thumbnail_span(analysis)
    assert last - first == 2 * RATE
    energy = np.square(analysis.clip.samples.astype(np.float64))
    assert energy[first:last].sum() >= max(
        energy[a : a + 2 * RATE].sum() for a in range(0, len(energy) - 2 * RATE, 2048)
    )
    thumbs = compute.thumbnails(analysis, summary, 3, [0, 1], method=Method.DECONVNET)
    # the same images as thumbnails cut from the whole-clip deconvolution over those frames
    from app.core.display import LogFrequencyGrid, linear_bin_hz, thumbnail
    from app.core.resynth import to_db

    frames = analysis.frames_for_samples(first, last)
    d = analysis.deconv(3, [1])[0, :, frames[0] : frames[1]]
    db = to_db(analysis.spectrum[:, frames[0] : frames[1]].abs() * d.abs())
    grid = LogFrequencyGrid(summary.grid.fmin, summary.grid.fmax, compute.THUMB_ROWS)
    expected = thumbnail(db, grid, linear_bin_hz(summary.sample_rate, summary.n_fft), compute.THUMB_COLS)
    assert np.abs(thumbs[FeatureRef(3, 1)][0].astype(int) - expected.astype(int)).max() <= 1
