"""Small pictures made from arrays: map thumbnails and convolution kernels as QPixmaps."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage, QPixmap


@cache
def lut(name: str) -> np.ndarray:
    """A 256-entry RGB lookup table ``[shape=(256, 3)]`` uint8 of a pyqtgraph colour map."""
    return pg.colormap.get(name).getLookupTable(0.0, 1.0, 256, alpha=False).astype(np.uint8)


def pixmap_from_rgb(rgb: np.ndarray, scale: int = 1) -> QPixmap:
    """An RGB uint8 array ``[shape=(h, w, 3)]``, row 0 at the top, as a pixmap (each pixel ``scale`` x ``scale``)."""
    if scale > 1:
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


def thumbnail_pixmap(values: np.ndarray, colormap: str = "inferno") -> QPixmap:
    """A uint8 thumbnail ``[shape=(rows, cols)]`` with row 0 the lowest frequency, drawn low at the bottom."""
    return pixmap_from_rgb(lut(colormap)[values[::-1]])


def kernel_mosaic(kernels: np.ndarray, width: int = 240, gap: int = 2) -> tuple[QPixmap, float]:
    """A conv kernel ``[shape=(in_channels, kh, kw)]`` as a mosaic of its input channels.

    Blue is negative, white zero, red positive, on one symmetric scale; frequency grows upwards in each tile
    (as in the views); the mosaic is about ``width`` pixels wide. Returns the pixmap and the scale's ``max |w|``.
    """
    k = np.asarray(kernels, dtype=np.float32)
    n, kh, kw = k.shape
    top = float(np.max(np.abs(k))) or 1.0
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    cell = int(min(40, max(2, (width - (cols - 1) * gap) // (cols * kw))))
    tile_h, tile_w = kh * cell, kw * cell
    height, width = rows * tile_h + (rows - 1) * gap, cols * tile_w + (cols - 1) * gap
    canvas = np.full((height, width, 3), 40, dtype=np.uint8)
    table = lut("CET-D1")
    for i in range(n):
        r, c = divmod(i, cols)
        idx = np.clip(((k[i] / top) * 0.5 + 0.5) * 255.0, 0, 255).astype(np.uint8)[::-1]
        tile = np.repeat(np.repeat(table[idx], cell, axis=0), cell, axis=1)
        y0, x0 = r * (tile_h + gap), c * (tile_w + gap)
        canvas[y0 : y0 + tile_h, x0 : x0 + tile_w] = tile
    return pixmap_from_rgb(canvas), top
