"""The log-frequency grid and the remaps every view and thumbnail goes through (numbers, no Qt)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.core.display import (
    LogFrequencyGrid,
    band_edges,
    db_levels,
    format_hz,
    format_time,
    is_silent,
    linear_bin_hz,
    thumbnail,
)


def test_grid_rows_are_even_in_log_frequency() -> None:
    grid = LogFrequencyGrid.for_rate(11025, 512)
    assert grid.fmin == pytest.approx(1.4 * 11025 / 512) and grid.fmax == 5512.5
    ratios = grid.centres_hz[1:] / grid.centres_hz[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
    assert ratios[0] == pytest.approx((grid.fmax / grid.fmin) ** (1 / grid.n_rows))
    assert grid.row_of_hz(grid.fmin) == 0 and grid.row_of_hz(grid.fmax * 2) == grid.n_rows - 1


def test_a_sinusoid_lands_on_its_row() -> None:
    grid = LogFrequencyGrid.for_rate(11025, 512)
    bins = linear_bin_hz(11025, 512)
    for hz in (110.0, 440.0, 3000.0):
        column = np.where(np.abs(bins - hz) == np.abs(bins - hz).min(), 0.0, -80.0)[:, None]
        rows = grid.remap_linear(column, bins)[:, 0]
        peak_hz = grid.centres_hz[int(np.argmax(rows))]
        assert abs(math.log2(peak_hz / hz)) < 0.05  # within a twentieth of an octave (bin spacing 21.5 Hz)


def test_each_row_shows_its_own_frequencies() -> None:
    grid = LogFrequencyGrid(50.0, 5000.0, 64)
    bins = linear_bin_hz(11025, 512)
    ramp = np.repeat(bins[:, None], 3, axis=1)  # value = frequency
    rows = grid.remap_linear(ramp, bins)[:, 1]
    edges = np.exp2(grid.edges_y)
    narrow = np.diff(edges) < bins[1]
    np.testing.assert_allclose(rows[narrow], grid.centres_hz[narrow], rtol=1e-5)  # interpolated at the centre
    assert np.all((rows[~narrow] >= edges[:-1][~narrow]) & (rows[~narrow] < edges[1:][~narrow]))  # a bin inside
    assert narrow[:10].all() and not narrow[-10:].any()


def test_band_remap_keeps_blocks_of_a_pooled_layer() -> None:
    bins = linear_bin_hz(11025, 512)  # 257 input bins
    edges = band_edges(bins, 8, 32)  # layer 5: 8 rows of 32 bins
    assert len(edges) == 9 and edges[0] == pytest.approx(-0.5 * bins[1]) and np.all(np.diff(edges) > 0)
    assert edges[1] == pytest.approx(31.5 * bins[1])
    grid = LogFrequencyGrid.for_rate(11025, 512)
    values = np.arange(8, dtype=np.float32)[:, None] * np.ones((1, 4), dtype=np.float32)
    rows = grid.remap_bands(values, edges)
    assert set(np.unique(rows[:, 0])) <= set(range(8)) and np.all(np.diff(rows[:, 0]) >= 0)
    # the lowest band (0-680 Hz) fills the grid from fmin to 680 Hz
    assert np.all(rows[grid.centres_hz < edges[1], 0] == 0) and np.all(rows[grid.centres_hz > edges[1], 0] > 0)


def test_thumbnail_scale_and_silence() -> None:
    grid = LogFrequencyGrid(30.0, 5512.5, 18)
    bins = linear_bin_hz(11025, 512)
    db = np.full((257, 400), -90.0, dtype=np.float32)
    db[40, 200] = -10.0  # one loud point: max-pooled over time it survives the shrink to 64 columns
    img = thumbnail(db, grid, bins, 64)
    assert img.shape == (18, 64) and img.dtype == np.uint8 and img.max() == 255
    assert np.count_nonzero(img == 255) >= 1 and img[0, 0] == 0  # -90 dB is 80 dB below the peak: black
    silent = thumbnail(np.full((257, 400), -120.0, dtype=np.float32), grid, bins, 64)
    assert silent.max() == 0 and is_silent(np.full((4, 4), -120.0))
    assert db_levels(np.full((2, 2), -120.0)) == (-159.0, -79.0)  # a silent image stays at the dark end
    assert db_levels(np.array([[-10.0, 3.0]])) == (-77.0, 3.0)


def test_labels() -> None:
    assert format_hz(440) == "440 Hz" and format_hz(1000) == "1 kHz" and format_hz(5512.5) == "5.5 kHz"
    assert format_time(0) == "0:00.000" and format_time(61.5) == "1:01.500"
