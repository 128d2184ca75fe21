"""From stems to a clip: per-part levels, a seeded synthetic room, and the output level.

Levels are set on each stem's *active* RMS (over the frames where it plays), so a part that enters late is
not boosted for its silence. The room is exponentially decaying, darkening noise convolved with the mix:
deterministic from the seed, unlike FluidSynth's reverb whose state carries over between clips.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.signal import fftconvolve, lfilter

SILENCE_DB = -60.0  # clips whose RMS [dBFS] is below this are re-drawn
PEAK_CEILING = 0.98


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def rms_db(x: np.ndarray) -> float:
    """RMS level [dBFS] of `x` (-inf for digital silence)."""
    power = float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
    return 10.0 * np.log10(power) if power > 0 else -np.inf


def active_rms(x: np.ndarray, sample_rate: int, *, floor_db: float = 40.0) -> float:
    """RMS of `x` [shape=(n,)] over its 50 ms frames within `floor_db` of the loudest one; 0 if silent."""
    hop = max(1, sample_rate // 20)
    n = len(x) // hop
    if n == 0:
        return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    power = np.mean(np.square(x[: n * hop].reshape(n, hop), dtype=np.float64), axis=1)
    if power.max() <= 0:
        return 0.0
    active = power >= power.max() * 10 ** (-floor_db / 10)
    return float(np.sqrt(power[active].mean()))


def room_impulse(rng: np.random.Generator, sample_rate: int, rt60: float, *, predelay: float = 0.01) -> np.ndarray:
    """A synthetic room response [shape=(n,)]: `predelay` [s] of silence, then noise decaying by 60 dB in
    `rt60` [s], low-passed more as it decays (air and walls absorb the highs). Unit energy."""
    n = int(sample_rate * (predelay + rt60))
    t = np.arange(n) / sample_rate
    noise = rng.standard_normal(n)
    decay = np.exp(-6.91 * np.maximum(t - predelay, 0.0) / rt60)
    decay[t < predelay] = 0.0
    early = lfilter([0.6], [1.0, -0.4], noise)
    late = lfilter([0.15], [1.0, -0.85], noise)
    w = np.clip((t - predelay) / rt60, 0.0, 1.0)
    ir = ((1 - w) * early + w * late) * decay
    return ir / np.sqrt(np.sum(ir**2) + 1e-12)


def mix_stems(
    stems: np.ndarray,
    gains_db: Sequence[float],
    sample_rate: int,
    rng: np.random.Generator,
    *,
    rt60: float,
    wet_db: float,
    level_db: float,
) -> np.ndarray:
    """Mix `stems` [shape=(n_parts, n)] to one clip [shape=(n,)] float32.

    Each stem is scaled to active RMS `gains_db` [dB re 0.1], the sum goes through a room with `rt60` [s]
    at `wet_db` [dB] below the dry level, and the result is set to RMS `level_db` [dBFS], lowered if that
    would put its peak above 0.98. Silent stems stay silent.
    """
    if len(gains_db) != len(stems):
        raise ValueError(f"{len(stems)} stems but {len(gains_db)} gains")
    dry = np.zeros(stems.shape[1], np.float64)
    for stem, gain_db in zip(stems, gains_db, strict=True):
        level = active_rms(stem, sample_rate)
        if level > 0:
            dry += stem * (0.1 * db_to_gain(gain_db) / level)
    ir = room_impulse(rng, sample_rate, rt60, predelay=float(rng.uniform(0.005, 0.03)))
    wet = fftconvolve(dry, ir)[: len(dry)]
    wet *= db_to_gain(wet_db) * np.sqrt(np.mean(dry**2) / (np.mean(wet**2) + 1e-20))
    out = dry + wet
    rms = np.sqrt(np.mean(out**2))
    if rms > 0:
        out *= db_to_gain(level_db) / rms
        peak = np.max(np.abs(out))
        if peak > PEAK_CEILING:
            out *= PEAK_CEILING / peak
    return out.astype(np.float32)
