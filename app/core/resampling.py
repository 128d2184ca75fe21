"""The app's one resampler: soxr (HQ), for whole signals and for a part of a signal that arrives chunk by chunk.

A part is resampled on its own from a start on the rate ratio's grid, with ``margin_needed`` exact source samples
either side; inside the part it gives the samples the whole signal's resampling gives, to float rounding
(measured: at most 4.8e-7 on noise of 0.3 RMS, from 11025/12000/16000/22050/48000/44100 Hz to
48000/44100/11025 Hz, at the joins too; tests/core/test_resampling.py). soxr's ``ResampleStream`` is exact
(bit-equal to the one-shot call, measured) but needs the chunks in order, and a progressive fill comes window
first and wraps last (app.core.progressive).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

#: Source samples of soxr HQ's filter either side of a sample, upsampling (downsampling scales it by the ratio).
#: Measured: 96 already agrees to float rounding, 64 leaves errors of 1e-4.
FILTER_REACH = 128


def resample(y: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample along the last axis (soxr, high quality); float32 out, C-contiguous.

    ``[shape=(..., n)]`` -> ``[shape=(..., round(n * target_rate / orig_rate))]`` (soxr's rounding).
    """
    if orig_rate == target_rate:
        return np.ascontiguousarray(y, dtype=np.float32)
    import soxr  # directly: librosa's resample is the same call behind a ~2 s numba import

    x = np.asarray(y, dtype=np.float32)
    out = soxr.resample(x.T if x.ndim > 1 else x, orig_rate, target_rate, quality="HQ")
    return np.ascontiguousarray(out.T if x.ndim > 1 else out, dtype=np.float32)


def margin_needed(orig_rate: int, target_rate: int) -> int:
    """Source samples a part needs beyond each edge for :func:`resample_part`: the ratio's grid plus the filter."""
    if orig_rate == target_rate:
        return 0
    ratio = Fraction(int(target_rate), int(orig_rate))
    return ratio.denominator + math.ceil(FILTER_REACH * max(1.0, orig_rate / target_rate))


def first_target_sample(source_sample: int, orig_rate: int, target_rate: int) -> int:
    """The first target sample at or after source sample ``source_sample`` (so parts tile the target samples)."""
    ratio = Fraction(int(target_rate), int(orig_rate))
    return -(-source_sample * ratio.numerator // ratio.denominator)


def resample_part(
    audio: np.ndarray, padded_first: int, first: int, last: int, n_source: int, orig_rate: int, target_rate: int
) -> np.ndarray:
    """Target samples ``[first_target_sample(first), first_target_sample(last))`` of the resampling of a whole
    signal of ``n_source`` samples, from ``audio`` ``[shape=(m,)]``: its source samples ``[padded_first,
    padded_first + m)``, which must reach ``margin_needed`` beyond ``[first, last)`` (less only at the signal's
    edges). Target samples past soxr's rounded length of the whole are zeros (silence, as the whole has none).
    """
    audio = np.asarray(audio, dtype=np.float32)
    padded_last = padded_first + audio.shape[0]
    d0, d1 = (first_target_sample(s, orig_rate, target_rate) for s in (first, last))
    if orig_rate == target_rate:
        return np.ascontiguousarray(audio[first - padded_first : last - padded_first])
    need = margin_needed(orig_rate, target_rate)
    if (first - padded_first < need and padded_first > 0) or (padded_last - last < need and padded_last < n_source):
        raise ValueError(f"chunk [{first}, {last}) needs {need} samples of margin each side")
    ratio = Fraction(int(target_rate), int(orig_rate))
    start = -(-padded_first // ratio.denominator) * ratio.denominator  # on the ratio's grid
    y = resample(audio[start - padded_first :], orig_rate, target_rate)
    offset = start * ratio.numerator // ratio.denominator
    out = np.zeros(d1 - d0, dtype=np.float32)
    part = y[d0 - offset : d1 - offset]
    out[: part.shape[0]] = part
    return out
