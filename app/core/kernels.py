"""How much of each first-layer kernel is a vertical edge (an onset detector) or a horizontal edge (a sustain
selector / attack suppressor), as in Choi et al. 2015's figure of the first layer's kernels.

A kernel ``K`` ``[shape=(kh, kw)]`` (frequency x time) splits into four mutually orthogonal parts, the two-way
analysis of variance of its entries:

- ``m``: the mean (level / smoothing),
- ``c[t] - m``: the column means about the mean, the same at every frequency, changing along time (vertical edges),
- ``r[f] - m``: the row means about the mean, the same at every time, changing along frequency (horizontal edges),
- the rest, which changes along both axes at once (diagonals, checkerboards, spots).

Their energies (sums of squares) add up to ``sum(K**2)``. Equivalently, in the 2-D DFT ``F`` of ``K`` (Parseval):
``F[0, 0]`` is the mean, ``F[0, v != 0]`` the vertical part, ``F[u != 0, 0]`` the horizontal part and
``F[u != 0, v != 0]`` the mixed part. Energies are summed over input channels, then each is shared out of the
kernel's total energy, so ``vertical + horizontal + mixed + dc == 1`` for any non-zero kernel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KernelShape:
    """One kernel's energy shares (each in [0, 1], together with ``mixed`` summing to 1) and size.

    ``vertical``: change along time, constant over frequency (an onset detector), e.g. ``[[1, -1], [1, -1]]`` -> 1.
    ``horizontal``: change along frequency, constant over time, e.g. ``[[1, 1], [-1, -1]]`` -> 1.
    ``mixed``: change along both axes at once (neither kind of edge), e.g. ``[[1, -1], [-1, 1]]`` -> 1.
    ``dc``: the mean (a level / smoothing kernel), e.g. ``[[1, 1], [1, 1]]`` -> 1.
    ``orientation``: ``vertical - horizontal`` in [-1, 1], the sort key. ``norm``: L2 norm over all input channels.
    A kernel with one row (``kh == 1``) has no horizontal part, one with one column no vertical part; a zero
    kernel has all shares 0.
    """

    index: int
    vertical: float
    horizontal: float
    orientation: float
    dc: float
    norm: float
    mixed: float


def kernel_shapes(kernels: np.ndarray) -> list[KernelShape]:
    """The shape of each kernel in ``kernels`` ``[shape=(n_maps, in_channels, kh, kw)]`` (axis 2 frequency, row 0
    the lowest bin; axis 3 time), in index order."""
    k = np.asarray(kernels, dtype=np.float64)
    if k.ndim != 4:
        raise ValueError(f"kernels must be (n_maps, in_channels, kh, kw), got shape {k.shape}")
    kh, kw = k.shape[2], k.shape[3]
    mean = k.mean(axis=(2, 3), keepdims=True)
    centred = k - mean
    columns = centred.mean(axis=2, keepdims=True)  # [n, c, 1, kw]: the time profile shared by all frequencies
    rows = centred.mean(axis=3, keepdims=True)  # [n, c, kh, 1]: the frequency profile shared by all times
    total = np.sum(k**2, axis=(1, 2, 3))
    dc = kh * kw * np.sum(mean**2, axis=(1, 2, 3))
    vertical = kh * np.sum(columns**2, axis=(1, 2, 3))
    horizontal = kw * np.sum(rows**2, axis=(1, 2, 3))
    mixed = np.sum((centred - columns - rows) ** 2, axis=(1, 2, 3))
    # float64 sums of tiny weights can underflow to 0: treat those as dead rather than divide by zero
    alive = total > 0
    denominator = np.where(alive, total, 1.0)
    out = []
    for i in range(k.shape[0]):
        if alive[i]:
            v, h, d, x = (float(np.clip(e[i] / denominator[i], 0.0, 1.0)) for e in (vertical, horizontal, dc, mixed))
        else:
            v = h = d = x = 0.0
        out.append(KernelShape(i, v, h, v - h, d, float(np.sqrt(total[i])), x))
    return out


def sort_by_orientation(shapes: Iterable[KernelShape]) -> list[KernelShape]:
    """Most vertical-edge-like first, most horizontal-edge-like last (the 2015 figure's order); ties by index."""
    return sorted(shapes, key=lambda s: (-s.orientation, s.index))
