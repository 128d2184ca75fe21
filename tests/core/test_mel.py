"""The numpy mel scale and filterbank give librosa's numbers (the window no longer imports librosa to start)."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest

from app.core.mel import hz_to_mel, mel_filterbank, mel_frequencies, mel_to_hz

SETTINGS = [  # (sr, n_fft, n_mels, fmin, fmax, htk, slaney): the bundled models' and torchaudio's defaults
    (16000, 512, 96, 0.0, 8000.0, False, True),  # musicnn
    (12000, 512, 96, 0.0, 6000.0, False, True),
    (22050, 2048, 128, 0.0, 11025.0, False, True),  # librosa's defaults
    (16000, 400, 128, 0.0, 8000.0, True, False),  # torchaudio's defaults: some bands empty
    (44100, 1024, 64, 30.0, 16000.0, True, True),
    (8000, 256, 40, 100.0, 3900.0, False, False),
]


@pytest.mark.parametrize(("sr", "n_fft", "n_mels", "fmin", "fmax", "htk", "slaney"), SETTINGS)
def test_filterbank_equals_librosa_bit_for_bit(sr, n_fft, n_mels, fmin, fmax, htk, slaney) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = librosa.filters.mel(
            sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm="slaney" if slaney else None
        )
    got = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, slaney_norm=slaney)
    assert got.dtype == np.float32 and got.shape == (n_mels, n_fft // 2 + 1)
    assert np.array_equal(got, want)
    assert float(got.max()) > 0.0


@pytest.mark.parametrize("htk", [False, True])
def test_mel_scale_equals_librosa(htk: bool) -> None:
    hz = np.array([0.0, 20.0, 440.0, 999.9, 1000.0, 1000.1, 4000.0, 11025.0])
    assert np.array_equal(hz_to_mel(hz, htk=htk), librosa.hz_to_mel(hz, htk=htk))
    mels = hz_to_mel(hz, htk=htk)
    assert np.array_equal(mel_to_hz(mels, htk=htk), librosa.mel_to_hz(mels, htk=htk))
    assert np.allclose(mel_to_hz(mels, htk=htk), hz, rtol=1e-12, atol=1e-9)  # the inverse
    assert float(hz_to_mel(1000.0, htk=False)) == pytest.approx(15.0)  # Slaney: 1 kHz is mel 15
    got = mel_frequencies(98, fmin=0.0, fmax=8000.0, htk=htk)
    assert np.array_equal(got, librosa.mel_frequencies(n_mels=98, fmin=0.0, fmax=8000.0, htk=htk))
