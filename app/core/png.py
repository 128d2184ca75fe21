"""Spectrogram pictures as PNG files with numpy and zlib only (no Qt, no matplotlib, no Pillow).

The picture is what the window shows: a log-frequency axis (rows evenly spaced in log2 Hz from just above the
first STFT bin to Nyquist, low frequencies at the bottom), time left to right, an "inferno"-like colour map,
and a fixed dB window so two pictures drawn with the same ``top_db`` compare by colour.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from app.core.display import LogFrequencyGrid, linear_bin_hz
from app.core.files import write_bytes

# inferno (matplotlib, CC0) sampled at 0, 1/8, ..., 1; the 256-entry table interpolates between these
_INFERNO_ANCHORS = np.array(
    [
        (0, 0, 4),
        (31, 12, 72),
        (85, 15, 109),
        (136, 34, 106),
        (186, 54, 85),
        (227, 89, 51),
        (249, 140, 10),
        (249, 201, 50),
        (252, 255, 164),
    ],
    dtype=np.float64,
)
_POS = np.linspace(0.0, 1.0, len(_INFERNO_ANCHORS))
INFERNO = np.stack([np.interp(np.linspace(0, 1, 256), _POS, _INFERNO_ANCHORS[:, c]) for c in range(3)], axis=1)
INFERNO = np.round(INFERNO).astype(np.uint8)  # [shape=(256, 3)]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode_png(rgb: np.ndarray, *, level: int = 6) -> bytes:
    """PNG bytes of an 8-bit RGB image ``[shape=(height, width, 3)]`` (row 0 at the top)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"expected an RGB image (height, width, 3), got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    # filter type 1 ("sub") per row: spectrogram rows change slowly along time, so differences compress well
    diff = rgb.astype(np.int16)
    diff[:, 1:] -= rgb[:, :-1].astype(np.int16)
    rows = np.concatenate([np.ones((height, 1), np.uint8), (diff % 256).astype(np.uint8).reshape(height, -1)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def decode_png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header (for checks)."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB image as PNG, whole or not at all (temporary file + rename)."""
    path = Path(path)
    write_bytes(path, encode_png(rgb))
    return path


def colourise(values: np.ndarray, lo: float, hi: float, table: np.ndarray = INFERNO) -> np.ndarray:
    """Map ``values`` ``[shape=(h, w)]`` linearly from ``lo..hi`` onto the colour table: uint8 ``(h, w, 3)``."""
    span = hi - lo if hi > lo else 1.0
    idx = np.clip((np.asarray(values, dtype=np.float64) - lo) / span, 0.0, 1.0)
    return table[np.round(idx * (len(table) - 1)).astype(np.int64)]


def log_frequency_rows(db: np.ndarray, sample_rate: int, n_rows: int) -> np.ndarray:
    """Linear-bin rows ``[shape=(n_freq, n_frames)]`` (0..Nyquist) onto ``n_rows`` log-spaced rows, lowest first:
    the window's own grid (`LogFrequencyGrid`), so a report's picture is the spectrogram the window draws."""
    db = np.asarray(db, dtype=np.float32)
    n_fft = 2 * (db.shape[0] - 1)
    grid = LogFrequencyGrid.for_rate(sample_rate, n_fft, n_rows)
    return grid.remap_linear(db, linear_bin_hz(sample_rate, n_fft))


def spectrogram_rgb(
    db: np.ndarray,
    sample_rate: int,
    *,
    top_db: float,
    range_db: float = 80.0,
    height: int = 128,
    max_width: int = 480,
) -> np.ndarray:
    """A dB spectrogram ``[shape=(n_freq, n_frames)]`` as an RGB picture ``(height, <= max_width, 3)``.

    Colours run from ``top_db - range_db`` (black) to ``top_db`` (pale yellow). Columns take the loudest of
    their frames when the clip has more frames than ``max_width`` (short events stay visible).
    """
    rows = log_frequency_rows(db, sample_rate, height)
    n = rows.shape[1]
    cols = max(1, min(max_width, n))
    edges = np.linspace(0, n, cols + 1).astype(np.int64)
    pooled = np.maximum.reduceat(rows, edges[:-1], axis=1)
    return colourise(pooled[::-1], top_db - range_db, top_db)
