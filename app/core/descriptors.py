"""Descriptors of an auralisation against its original: what a listener would call onset-, attack-, bass-
or percussion-like, measured. Shared by the model report script and (later) automatic characterisation.
"""

from __future__ import annotations

import numpy as np

ENVELOPE_HOP = 128


def rms_envelope(y: np.ndarray, *, frame: int = 512, hop: int = ENVELOPE_HOP) -> np.ndarray:
    """Frame RMS ``[shape=(n_frames,)]``, frames centred every ``hop`` samples."""
    import librosa

    return librosa.feature.rms(y=np.asarray(y, dtype=np.float32), frame_length=frame, hop_length=hop)[0]


def onset_train(
    onset_times: np.ndarray, n_frames: int, sample_rate: int, *, hop: int = ENVELOPE_HOP, width_s: float = 0.02
) -> np.ndarray:
    """A smoothed impulse train at ``onset_times`` (s) on the envelope's frame grid."""
    t = np.arange(n_frames) * hop / sample_rate
    train = np.zeros(n_frames)
    for onset in np.asarray(onset_times, dtype=float):
        train += np.exp(-0.5 * ((t - onset - width_s) / width_s) ** 2)
    return train


def detect_onsets(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """Onset times in seconds (librosa's spectral-flux peak picking)."""
    import librosa

    return librosa.onset.onset_detect(y=np.asarray(y, dtype=np.float32), sr=sample_rate, units="time")


def onset_correlation(y: np.ndarray, onset_times: np.ndarray, sample_rate: int) -> float:
    """Pearson correlation of ``y``'s energy envelope with a smoothed train at the onsets (-1..1; 0 if flat)."""
    env = rms_envelope(y)
    train = onset_train(onset_times, env.shape[0], sample_rate)
    if env.std() < 1e-12 or train.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(env, train)[0, 1])


def attack_sustain_ratio(
    y: np.ndarray,
    onset_times: np.ndarray,
    sample_rate: int,
    *,
    attack_s: float = 0.03,
    sustain: tuple[float, float] = (0.08, 0.25),
) -> float:
    """Mean over notes of (energy in the first ``attack_s`` after an onset) / (energy in the sustain window), in dB."""
    y = np.asarray(y, dtype=np.float64)
    ratios = []
    for onset in np.asarray(onset_times, dtype=float):
        a0, a1 = int(onset * sample_rate), int((onset + attack_s) * sample_rate)
        s0, s1 = int((onset + sustain[0]) * sample_rate), int((onset + sustain[1]) * sample_rate)
        if s1 > y.shape[0]:
            continue
        attack = np.mean(y[a0:a1] ** 2)
        held = np.mean(y[s0:s1] ** 2)
        if attack > 0 and held > 0:
            ratios.append(10 * np.log10(attack / held))
    return float(np.mean(ratios)) if ratios else float("nan")


def spectral_centroid_hz(y: np.ndarray, sample_rate: int) -> float:
    """Energy-weighted mean frequency over the whole signal, in Hz."""
    spec = np.abs(np.fft.rfft(np.asarray(y, dtype=np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(y), 1 / sample_rate)
    total = spec.sum()
    return float((freqs * spec).sum() / total) if total > 0 else 0.0


def low_frequency_share(y: np.ndarray, sample_rate: int, cutoff_hz: float = 200.0) -> float:
    """Fraction of the signal's energy below ``cutoff_hz`` (0..1)."""
    spec = np.abs(np.fft.rfft(np.asarray(y, dtype=np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(y), 1 / sample_rate)
    total = spec.sum()
    return float(spec[freqs < cutoff_hz].sum() / total) if total > 0 else 0.0


def percussive_share(y: np.ndarray, sample_rate: int) -> float:
    """Fraction of the energy librosa's HPSS assigns to the percussive part (0..1)."""
    import librosa

    stft = librosa.stft(np.asarray(y, dtype=np.float32), n_fft=1024, hop_length=256)
    harmonic, percussive = librosa.decompose.hpss(stft)
    h, p = np.sum(np.abs(harmonic) ** 2), np.sum(np.abs(percussive) ** 2)
    return float(p / (h + p)) if h + p > 0 else 0.0
