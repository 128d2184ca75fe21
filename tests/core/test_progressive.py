"""A map's whole-clip rendering filled window first, then in chunks: the same audio as the whole-clip pass."""

from __future__ import annotations

import numpy as np
import pytest
from test_windowing import RATE, _clip

from app.core.analysis import Analysis
from app.core.model import Model
from app.core.progressive import ProgressiveRendering, chunk_order, whole_rendering


def test_chunk_order_is_window_then_onwards_then_the_wrap() -> None:
    # after the window: as long as the window, doubling up to the chunk size; the wrap in full chunks
    assert chunk_order(100, (40, 45), 20) == [(40, 45), (45, 50), (50, 60), (60, 80), (80, 100), (0, 20), (20, 40)]
    assert chunk_order(100, (0, 100), 20) == [(0, 100)]
    with pytest.raises(ValueError, match="empty first window"):
        chunk_order(100, (100, 120), 20)


@pytest.mark.parametrize("layer", [2, 5])
def test_filled_rendering_equals_the_whole_clip(small_model: Model, layer: int) -> None:
    analysis = Analysis(_clip(seed=7), small_model, device="cpu")
    n = analysis.clip.samples.shape[0]
    fill = ProgressiveRendering(layer, 3, n, RATE, (2 * RATE + 5, 3 * RATE + 9), chunk_seconds=1.3)
    assert fill.window == (2 * RATE + 5, 3 * RATE + 9)
    first = fill.fill_next(analysis)
    assert first is not None and (first.first, first.last) == fill.window
    assert fill.ready_from(2 * RATE + 5) == RATE + 4 and fill.ready_from(0) == 0
    # margins are exact samples too, for the player's chunk-by-chunk resampler
    whole = next(analysis.render_many(layer, [3])).audio
    np.testing.assert_allclose(
        first.audio, whole[first.padded_first : first.padded_first + len(first.audio)], atol=1e-5
    )
    chunks = 1
    while fill.fill_next(analysis) is not None:
        chunks += 1
    assert fill.complete and chunks == len(chunk_order(n, fill.window, round(1.3 * RATE)))
    assert fill.filled == [(0, n)] and fill.filled_fraction() == 1.0
    scale = max(1.0, float(np.max(np.abs(whole))))
    assert float(np.max(np.abs(fill.audio - whole))) / scale < 1e-5
    # the display arrays and figures of the whole clip's rendering, from the chunks
    reference = next(analysis.render_many(layer, [3]))
    assembled = whole_rendering(fill, analysis)
    d_scale = max(1.0, float(np.max(np.abs(reference.deconv))))
    assert float(np.max(np.abs(assembled.deconv - reference.deconv))) / d_scale < 1e-5
    np.testing.assert_allclose(assembled.spectrogram_db, reference.spectrogram_db, atol=1e-3)
    np.testing.assert_array_equal(assembled.activation, reference.activation)
    assert assembled.loudness_lufs == pytest.approx(reference.loudness_lufs, abs=1e-3)
