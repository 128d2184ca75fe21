"""The mel scale and the triangular mel filterbank, as librosa 0.11 computes them (`librosa.mel_frequencies`,
`librosa.filters.mel`), in numpy alone.

Importing librosa costs about 0.5-1 s (numba, scipy.signal) on the path from launch to the first playable map;
these few lines give the same numbers (the tests compare them with librosa's, bit for bit in float32).
"""

from __future__ import annotations

import numpy as np

_F_SP = 200.0 / 3  # Slaney: Hz per mel in the linear part (below 1 kHz)
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray | float, *, htk: bool = False) -> np.ndarray:
    """Mels of frequencies ``hz`` (HTK's formula, or Slaney's: linear below 1 kHz, logarithmic above)."""
    hz = np.asanyarray(hz, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    mels = np.array(hz / _F_SP, dtype=np.float64)
    log = hz >= _MIN_LOG_HZ
    mels[log] = _MIN_LOG_MEL + np.log(hz[log] / _MIN_LOG_HZ) / _LOGSTEP
    return mels


def mel_to_hz(mels: np.ndarray | float, *, htk: bool = False) -> np.ndarray:
    """Frequencies (Hz) of ``mels``: the inverse of :func:`hz_to_mel`."""
    mels = np.asanyarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    hz = np.array(_F_SP * mels, dtype=np.float64)
    log = mels >= _MIN_LOG_MEL
    hz[log] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels[log] - _MIN_LOG_MEL))
    return hz


def mel_frequencies(n_mels: int, *, fmin: float, fmax: float, htk: bool = False) -> np.ndarray:
    """``n_mels`` frequencies (Hz) evenly spaced in mels from ``fmin`` to ``fmax`` ``[shape=(n_mels,)]``."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels), htk=htk)


def mel_filterbank(
    *, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, slaney_norm: bool
) -> np.ndarray:
    """Triangular filters from the STFT's ``n_fft // 2 + 1`` bins to ``n_mels`` bands ``[shape=(n_mels, n_freq)]``
    float32; with ``slaney_norm`` each band is scaled by 2 / its width in Hz (about constant energy per band).
    Bands too narrow to cover a bin stay empty (all zero), as in librosa."""
    weights = np.zeros((int(n_mels), 1 + n_fft // 2), dtype=np.float32)
    fft_hz = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_hz = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)
    width = np.diff(mel_hz)
    ramps = np.subtract.outer(mel_hz, fft_hz)
    for i in range(n_mels):
        lower = -ramps[i] / width[i]
        upper = ramps[i + 2] / width[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    if slaney_norm:
        weights *= (2.0 / (mel_hz[2 : n_mels + 2] - mel_hz[:n_mels]))[:, np.newaxis]
    return weights
