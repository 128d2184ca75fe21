"""Display arrays for the views and thumbnails: a log-frequency grid and the remaps onto it. Numpy only.

Every spectrogram the window shows is resampled onto one `LogFrequencyGrid` (rows evenly spaced in
log2 Hz), so the views share a y axis in ``log2(Hz)`` units and the axis labels say Hz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: dB at or below which a rendering counts as silent (`app.core.resynth.to_db` floors at -120 dB)
SILENT_DB = -119.0


@dataclass(frozen=True)
class LogFrequencyGrid:
    """``n_rows`` rows from ``fmin`` to ``fmax`` Hz, evenly spaced in log2(Hz); row 0 is the lowest."""

    fmin: float
    fmax: float
    n_rows: int = 256

    @classmethod
    def for_rate(cls, sample_rate: int, n_fft: int, n_rows: int = 256) -> LogFrequencyGrid:
        """From just above the first STFT bin (no DC) to Nyquist."""
        fmin = max(20.0, 1.4 * sample_rate / n_fft)
        return cls(fmin, sample_rate / 2.0, n_rows)

    @property
    def y_min(self) -> float:
        return math.log2(self.fmin)

    @property
    def y_max(self) -> float:
        return math.log2(self.fmax)

    @property
    def edges_y(self) -> np.ndarray:
        """Row edges in log2(Hz) ``[shape=(n_rows + 1,)]``."""
        return np.linspace(self.y_min, self.y_max, self.n_rows + 1)

    @property
    def centres_hz(self) -> np.ndarray:
        """Row centres in Hz ``[shape=(n_rows,)]``."""
        e = self.edges_y
        return np.exp2(0.5 * (e[:-1] + e[1:]))

    def row_of_hz(self, hz: float) -> int:
        y = math.log2(max(hz, 1e-6))
        return int(np.clip((y - self.y_min) / (self.y_max - self.y_min) * self.n_rows, 0, self.n_rows - 1))

    def remap_linear(self, values: np.ndarray, bin_hz: np.ndarray) -> np.ndarray:
        """Rows of ``values`` ``[shape=(n_bins, n_frames)]`` at increasing ``bin_hz`` onto the grid.

        A grid row narrower than the bin spacing interpolates between the two nearest bins; a wider one (high
        frequencies) takes the largest bin inside it, so no peak falls between rows. Returns float32
        ``[shape=(n_rows, n_frames)]``.
        """
        v = np.asarray(values, dtype=np.float32)
        pos = np.interp(self.centres_hz, bin_hz, np.arange(len(bin_hz), dtype=np.float64))
        i0 = np.clip(np.floor(pos).astype(np.int64), 0, len(bin_hz) - 1)
        i1 = np.minimum(i0 + 1, len(bin_hz) - 1)
        w = (pos - i0).astype(np.float32)[:, None]
        out = (v[i0] * (1.0 - w) + v[i1] * w).astype(np.float32)
        edges_hz = np.exp2(self.edges_y)
        start = np.searchsorted(bin_hz, edges_hz[:-1], side="left")
        end = np.searchsorted(bin_hz, edges_hz[1:], side="left")
        spacing = float(bin_hz[1] - bin_hz[0]) if len(bin_hz) > 1 else 0.0
        wide = (end > start) & (np.diff(edges_hz) >= spacing)
        if wide.any():
            padded = np.vstack([v, np.full((1, v.shape[1]), -np.inf, dtype=np.float32)])
            bounds = np.stack([start[wide], end[wide]], axis=1).ravel()
            out[wide] = np.maximum.reduceat(padded, bounds, axis=0)[::2]
        return out

    def remap_bands(self, values: np.ndarray, band_edges_hz: np.ndarray) -> np.ndarray:
        """Rows of ``values`` ``[shape=(h, w)]``, row ``i`` covering ``band_edges_hz[i]..[i+1]``, onto the grid.

        Each grid row takes the band that holds its centre (blocks, not interpolation: a layer-5 map has only
        a few rows and should look like it). Returns float32 ``[shape=(n_rows, w)]``.
        """
        idx = np.searchsorted(np.asarray(band_edges_hz), self.centres_hz, side="right") - 1
        idx = np.clip(idx, 0, values.shape[0] - 1)
        return np.asarray(values, dtype=np.float32)[idx]


def linear_bin_hz(sample_rate: int, n_fft: int) -> np.ndarray:
    """Centre frequencies of the linear STFT bins ``[shape=(n_fft // 2 + 1,)]``."""
    return np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)


def band_edges(input_bin_hz: np.ndarray, n_rows: int, stride: int) -> np.ndarray:
    """Frequency edges ``[shape=(n_rows + 1,)]`` of a layer's rows, row ``i`` covering input bins
    ``[i * stride, (i + 1) * stride)``; bin ``j`` spans from ``j - 0.5`` to ``j + 0.5`` (extrapolated at the ends)."""
    pos = np.arange(n_rows + 1, dtype=np.float64) * stride - 0.5
    idx = np.arange(len(input_bin_hz), dtype=np.float64)
    inside = np.interp(pos, idx, input_bin_hz)
    lo_slope = input_bin_hz[1] - input_bin_hz[0] if len(input_bin_hz) > 1 else 1.0
    hi_slope = input_bin_hz[-1] - input_bin_hz[-2] if len(input_bin_hz) > 1 else 1.0
    below, above = pos < 0, pos > idx[-1]
    inside[below] = input_bin_hz[0] + pos[below] * lo_slope
    inside[above] = input_bin_hz[-1] + (pos[above] - idx[-1]) * hi_slope
    return inside


def thumbnail(db: np.ndarray, grid: LogFrequencyGrid, bin_hz: np.ndarray, cols: int, span_db: float = 45.0):
    """A small image of a dB spectrogram ``[shape=(n_bins, n_frames)]``: uint8 ``[shape=(grid.n_rows, cols)]``.

    Columns take the maximum over their frames (short events stay visible); 255 is the spectrogram's own
    peak and 0 is ``span_db`` below it; a silent rendering (nothing above ``SILENT_DB``) is all 0.
    """
    rows = grid.remap_linear(db, bin_hz)
    n = rows.shape[1]
    cols = max(1, min(cols, n))
    edges = np.linspace(0, n, cols + 1).astype(np.int64)
    pooled = np.maximum.reduceat(rows, edges[:-1], axis=1)
    top = float(pooled.max())
    if top <= SILENT_DB:
        return np.zeros(pooled.shape, dtype=np.uint8)
    scaled = (pooled - (top - span_db)) / span_db
    return (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def db_levels(db: np.ndarray, span_db: float = 80.0) -> tuple[float, float]:
    """Colour levels for a dB image: its peak and ``span_db`` below it (a silent image stays dark)."""
    top = float(np.max(db)) if db.size else 0.0
    top = max(top, SILENT_DB + span_db / 2)
    return top - span_db, top


def is_silent(db: np.ndarray) -> bool:
    """Nothing above ``SILENT_DB``: the map did not fire on this clip (its rendering is zero)."""
    return not db.size or float(np.max(db)) <= SILENT_DB


def format_hz(hz: float) -> str:
    """``440 Hz``, ``1.2 kHz``: axis labels and read-outs."""
    if hz >= 1000:
        text = f"{hz / 1000:.1f}".rstrip("0").rstrip(".")
        return f"{text} kHz"
    return f"{hz:.0f} Hz"


def format_time(seconds: float) -> str:
    """``m:ss.mmm``."""
    seconds = max(0.0, seconds)
    minutes = int(seconds // 60)
    return f"{minutes}:{seconds - 60 * minutes:06.3f}"
