"""The app's one resampler (soxr HQ): a part resampled on its own, with its margins, equals the whole signal's
resampling inside the part, at the joins too; that is what lets a progressive slot fill chunk by chunk."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from app.core import resampling
from app.core.progressive import RESAMPLE_MARGIN
from app.core.resampling import first_target_sample, margin_needed, resample, resample_part

RATES = [(11025, 48000), (16000, 44100), (22050, 48000), (48000, 44100), (44100, 11025), (12000, 48000)]


def _parts(x: np.ndarray, rates: tuple[int, int], cuts: list[int], margin: int) -> np.ndarray:
    source, target = rates
    n = len(x)
    out = np.zeros(first_target_sample(n, source, target), dtype=np.float32)
    for first, last in itertools.pairwise(cuts):
        a, b = max(0, first - margin), min(n, last + margin)
        d0, d1 = first_target_sample(first, source, target), first_target_sample(last, source, target)
        out[d0:d1] = resample_part(x[a:b], a, first, last, n, source, target)
    return out


@pytest.mark.parametrize("rates", RATES)
def test_parts_equal_the_whole_at_every_join(rates: tuple[int, int]) -> None:
    source, target = rates
    rng = np.random.default_rng(7)
    x = (0.3 * rng.standard_normal(2 * source + 33)).astype(np.float32)  # broadband: every tap of the filter counts
    cuts = sorted({0, len(x), *rng.integers(1, len(x), 9).tolist()})
    whole = resample(x, source, target)
    parts = _parts(x, rates, cuts, margin_needed(source, target))
    assert 0 <= len(parts) - len(whole) <= 1 and not parts[len(whole) :].any()
    err = np.abs(parts[: len(whole)] - whole)
    assert float(err.max()) < 1e-6, float(err.max())  # measured at most 6e-7: float32 rounding
    joins = [first_target_sample(c, source, target) for c in cuts[1:-1]]
    near_joins = np.concatenate([err[max(0, j - 64) : j + 64] for j in joins])
    assert float(near_joins.max()) < 1e-6


def test_the_margin_is_what_makes_it_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    source, target = 11025, 48000
    x = (0.3 * np.random.default_rng(8).standard_normal(source)).astype(np.float32)
    cuts = [0, 3000, 7000, len(x)]
    whole = resample(x, source, target)
    with pytest.raises(ValueError, match="needs 275 samples of margin"):
        _parts(x, (source, target), cuts, margin_needed(source, target) - 1)
    # not a formality: with a quarter of soxr's filter reach the joins are off by far more than rounding
    monkeypatch.setattr(resampling, "FILTER_REACH", resampling.FILTER_REACH // 4)
    short = _parts(x, (source, target), cuts, margin_needed(source, target))
    assert float(np.abs(short[: len(whole)] - whole).max()) > 1e-5


@pytest.mark.parametrize("model_rate", [11025, 16000, 22050])
@pytest.mark.parametrize("device_rate", [44100, 48000])
def test_the_cores_chunk_margin_covers_the_resampler(model_rate: int, device_rate: int) -> None:
    assert margin_needed(model_rate, device_rate) <= RESAMPLE_MARGIN


def test_same_rate_is_a_copy_and_stereo_keeps_channels() -> None:
    x = np.arange(10, dtype=np.float64)
    np.testing.assert_array_equal(resample_part(x, 0, 2, 7, 10, 16000, 16000), x[2:7].astype(np.float32))
    stereo = np.stack([np.sin(np.arange(1000) / 10), np.cos(np.arange(1000) / 10)]).astype(np.float32)
    y = resample(stereo, 16000, 48000)
    assert y.shape == (2, 3000) and y.dtype == np.float32 and y.flags.c_contiguous
