"""Synthetic test signals with known answers (seeded)."""

from __future__ import annotations

import numpy as np


def piano_like_notes(
    sample_rate: int,
    duration: float,
    onsets: list[float],
    *,
    seed: int = 0,
    attack_noise: float = 0.6,
    freqs: list[float] | None = None,
    decay_s: float = 0.6,
) -> np.ndarray:
    """Harmonic notes with an exponential decay and a short broadband noise burst at each onset."""
    rng = np.random.default_rng(seed)
    n = int(duration * sample_rate)
    y = np.zeros(n)
    freqs = freqs or [220.0, 330.0, 262.0, 392.0, 294.0, 440.0]
    for j, onset in enumerate(onsets):
        start = int(onset * sample_rate)
        t = np.arange(n - start) / sample_rate
        f0 = freqs[j % len(freqs)]
        tone = sum((0.5**h) * np.sin(2 * np.pi * f0 * (h + 1) * t) for h in range(6))
        env = np.exp(-t / decay_s) * np.minimum(1.0, t / 0.002)
        burst = attack_noise * rng.standard_normal(t.shape) * np.exp(-t / 0.008)
        y[start:] += 0.2 * (tone * env + burst)
    return (y / np.max(np.abs(y)) * 0.8).astype(np.float32)


def chord_clip(sample_rate: int, duration: float, seed: int = 0) -> np.ndarray:
    """A short, music-like clip: a few piano-like notes at regular onsets."""
    onsets = list(np.arange(0.1, duration - 0.3, 0.5))
    return piano_like_notes(sample_rate, duration, onsets, seed=seed)
