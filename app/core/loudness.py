"""Loudness (ITU-R BS.1770) and honest loudness matching: every source at one loudness, none above full scale.

Renderings at raw level often peak well above full scale (+12 dBFS is not rare), so bringing B up to A's
loudness and then capping B's gain to avoid clipping leaves B several LU quieter than A: level becomes the cue
that a blind test was meant to remove. Here no side is ever capped on its own. All sources go to one common
loudness: the reference's (A's) when every source fits under the ceiling there, otherwise the loudest level at
which they all fit, which turns the louder side (and A with it) down. No Qt, no torch.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

#: no source plays above this sample peak (dBFS) after its gain (before the master volume, which is at most 1)
CEILING_DBFS = -0.1
#: a blind test compares sources whose measured loudness differs by at most this (LU); more is a level cue
TOLERANCE_LU = 0.5

K = TypeVar("K", bound=Hashable)


def meter_loaded() -> bool:
    """Whether the BS.1770 meter is imported: the first measurement imports pyloudnorm and scipy.signal (0.6-1 s
    of one core), which a caller that must answer at once (the GUI thread at start-up) leaves to a worker."""
    return "pyloudnorm" in sys.modules


def loudness_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (ITU-R BS.1770-4) in LUFS; ``-inf`` for silence or clips under 0.4 s."""
    import pyloudnorm

    audio = np.asarray(audio, dtype=np.float64)
    if audio.shape[-1] < int(0.4 * sample_rate) or not np.any(audio):
        return -math.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pyloudnorm.Meter(sample_rate).integrated_loudness(audio))


#: shortest stretch whose loudness a match measures (a loop region may be shorter than BS.1770's 0.4 s block)
SHORTEST_S = 0.05


def segment_loudness_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """BS.1770 loudness of a stretch that may be shorter than 0.4 s (a loop region): the gating block shrinks
    to the whole stretch then, so it is its K-weighted mean power. ``-inf`` for silence or under `SHORTEST_S`."""
    n = np.shape(audio)[-1]
    if n >= int(0.4 * sample_rate):
        return loudness_lufs(audio, sample_rate)
    if n < round(SHORTEST_S * sample_rate) or not np.any(audio):
        return -math.inf
    import pyloudnorm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meter = pyloudnorm.Meter(sample_rate, block_size=n / sample_rate)
        return float(meter.integrated_loudness(np.asarray(audio, dtype=np.float64)))


def peak_dbfs(audio: np.ndarray) -> float:
    """Sample peak in dBFS (``-inf`` for silence or an empty array)."""
    top = float(np.max(np.abs(audio))) if np.size(audio) else 0.0
    return 20.0 * math.log10(top) if top > 0 else -math.inf


def matching_gain_db(rendering_lufs: float, reference_lufs: float, limit_db: float = 60.0) -> float:
    """Gain in dB that brings a rendering to the reference loudness (clamped to +-limit; 0 for silence)."""
    if not (math.isfinite(rendering_lufs) and math.isfinite(reference_lufs)):
        return 0.0
    return float(np.clip(reference_lufs - rendering_lufs, -limit_db, limit_db))


def peak_gain_db(audio: np.ndarray, peak: float = 0.99) -> float:
    """Gain in dB that brings the sample peak to ``peak`` (0 for silence)."""
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20.0 * math.log10(peak / top) if top > 0 else 0.0


def apply_gain(audio: np.ndarray, gain_db: float) -> np.ndarray:
    """``audio`` times ``10 ** (gain_db / 20)``, float32."""
    return (audio * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)


@dataclass(frozen=True)
class Level:
    """How loud one source is: integrated loudness (LUFS, ``-inf`` when unmeasurable) and sample peak (dBFS)."""

    loudness_lufs: float
    peak_dbfs: float

    @classmethod
    def of(cls, audio: np.ndarray, sample_rate: int) -> Level:
        """Measure mono ``audio`` ``[shape=(n,)]`` at ``sample_rate`` Hz (`segment_loudness_lufs`)."""
        return cls(segment_loudness_lufs(audio, sample_rate), peak_dbfs(audio))

    @property
    def measurable(self) -> bool:
        """A finite loudness: not silent and at least `SHORTEST_S` long."""
        return math.isfinite(self.loudness_lufs)

    def headroom_db(self, ceiling_dbfs: float = CEILING_DBFS) -> float:
        """The most gain that keeps the peak at or below ``ceiling_dbfs`` (``inf`` for silence)."""
        return ceiling_dbfs - self.peak_dbfs if math.isfinite(self.peak_dbfs) else math.inf


def common_gains(
    levels: Mapping[K, Level], reference: K, *, match: bool = True, ceiling_dbfs: float = CEILING_DBFS
) -> dict[K, float]:
    """Gain in dB for every source so that all play at one loudness and none peaks above ``ceiling_dbfs``.

    The common target is the reference's loudness, lowered as far as needed for the source with the least room
    (loudness + headroom): ``T = min(L_ref, min_s(L_s + ceiling - P_s))`` and ``gain_s = T - L_s``. So a quiet
    rendering is raised to the reference when it can be, and when it cannot, the reference is turned down with
    it instead of the rendering being capped short. With ``match`` off, or for a source whose loudness cannot be
    measured (silence, too short), or when the reference's cannot, a source only gets what keeps it under the
    ceiling: ``min(0, ceiling - P_s)``.
    """
    if reference not in levels:
        raise KeyError(f"the reference {reference!r} is not among the sources")
    gains = {key: min(0.0, level.headroom_db(ceiling_dbfs)) for key, level in levels.items()}
    ref = levels[reference]
    if not match or not ref.measurable:
        return gains
    matched = {key: level for key, level in levels.items() if level.measurable}
    target = min(ref.loudness_lufs, *(lv.loudness_lufs + lv.headroom_db(ceiling_dbfs) for lv in matched.values()))
    for key, level in matched.items():
        gains[key] = target - level.loudness_lufs
    return gains


@dataclass(frozen=True)
class PairMatch:
    """A (the original) and B (a rendering) as they will play: the gains, and loudness and peak measured on the
    gained audio itself (not inferred from the gains)."""

    gain_a_db: float
    gain_b_db: float
    played_a: Level
    played_b: Level

    @property
    def difference_lu(self) -> float:
        """``|loudness(A played) - loudness(B played)|`` in LU; ``inf`` when either cannot be measured."""
        if not (self.played_a.measurable and self.played_b.measurable):
            return math.inf
        return abs(self.played_a.loudness_lufs - self.played_b.loudness_lufs)

    def matched(self, tolerance_lu: float = TOLERANCE_LU) -> bool:
        """Equally loud within ``tolerance_lu``."""
        return self.difference_lu <= tolerance_lu

    def problem(self, tolerance_lu: float = TOLERANCE_LU) -> str | None:
        """Why A and B are not matched (in the listener's words), or None when they are."""
        if self.matched(tolerance_lu):
            return None
        for name, level in (("A (the original)", self.played_a), ("B (the feature)", self.played_b)):
            if not level.measurable:
                if math.isfinite(level.peak_dbfs):
                    return f"{name} is too short to measure its loudness (at least {SHORTEST_S:g} s)"
                return f"{name} is silent here, so there is nothing to match"
        return (
            f"A plays at {self.played_a.loudness_lufs:.1f} LUFS and B at {self.played_b.loudness_lufs:.1f} LUFS: "
            f"{self.difference_lu:.1f} LU apart, more than the {tolerance_lu:g} LU a blind test allows"
        )

    def describe(self) -> str:
        """``A -6.3 dB, B +2.1 dB: both -24.6 LUFS (measured difference 0.02 LU)``."""
        a, b = self.played_a.loudness_lufs, self.played_b.loudness_lufs
        if not math.isfinite(self.difference_lu):
            return f"A {self.gain_a_db:+.1f} dB, B {self.gain_b_db:+.1f} dB: loudness not measurable"
        return (
            f"A {self.gain_a_db:+.1f} dB, B {self.gain_b_db:+.1f} dB: A {a:.1f} LUFS, B {b:.1f} LUFS "
            f"(measured difference {self.difference_lu:.2f} LU)"
        )


def match_pair(a: np.ndarray, b: np.ndarray, sample_rate: int, *, ceiling_dbfs: float = CEILING_DBFS) -> PairMatch:
    """Gains for A and B (mono ``[shape=(n,)]`` at ``sample_rate`` Hz, as they will be played) by `common_gains`,
    then both measured again with their gains applied in float32, as the mixer applies them."""
    gains = common_gains({"A": Level.of(a, sample_rate), "B": Level.of(b, sample_rate)}, "A", ceiling_dbfs=ceiling_dbfs)
    played_a = Level.of(apply_gain(np.asarray(a, dtype=np.float32), gains["A"]), sample_rate)
    played_b = Level.of(apply_gain(np.asarray(b, dtype=np.float32), gains["B"]), sample_rate)
    return PairMatch(gains["A"], gains["B"], played_a, played_b)
