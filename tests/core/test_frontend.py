"""Front ends: STFT round trip, input transforms, and the maps from input domain back to linear bins."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.core.errors import ModelFormatError
from app.core.frontend import Compression, FrontEnd, Scale

MEL = FrontEnd(sample_rate=22050, n_fft=1024, hop_length=512, scale=Scale.MEL, n_mels=96, compression=Compression.DB)


@pytest.mark.parametrize("n_fft,hop", [(512, 256), (1024, 512), (2048, 512)])
def test_istft_of_stft_is_identity(rng: np.random.Generator, n_fft: int, hop: int) -> None:
    fe = FrontEnd(n_fft=n_fft, hop_length=hop)
    y = torch.from_numpy(rng.standard_normal(11025).astype(np.float32))
    spec = fe.stft(y)
    assert spec.shape == (n_fft // 2 + 1, fe.n_frames(11025))
    assert float((fe.istft(spec, 11025) - y).abs().max()) < 1e-5


def test_choi_defaults_give_257_by_173_for_4_seconds() -> None:
    fe = FrontEnd()
    assert (fe.n_bins, fe.n_frames(4 * 11025)) == (257, 173)
    assert fe.stft(torch.zeros(4 * 11025)).shape == (257, 173)


@pytest.mark.parametrize("fe", [FrontEnd(), MEL, FrontEnd(scale=Scale.MEL, n_mels=64, fmin=30.0, fmax=5000.0)])
@pytest.mark.parametrize("value", [0.25, 1.0, -2.0])
def test_constant_mask_maps_to_the_same_constant(fe: FrontEnd, value: float) -> None:
    mask = torch.full((fe.n_bins, 20), value)
    linear = fe.mask_to_linear(mask)
    assert linear.shape == (fe.n_freq, 20)
    assert float((linear - value).abs().max()) < 1e-5


def test_mel_mask_round_trip_on_smooth_masks() -> None:
    """A mask smooth over log-frequency survives linear -> mel -> linear within 5 % (stated tolerance)."""
    freqs = torch.linspace(0, 11025, MEL.n_freq)
    smooth = 0.5 + 0.4 * torch.sin(torch.log2(freqs.clamp_min(50.0)) * 1.3)[:, None].repeat(1, 8)
    back = MEL.mask_to_linear(MEL.linear_to_input_scale(smooth))
    band = (freqs > 200) & (freqs < 10000)
    err = (back[band] - smooth[band]).abs().max() / smooth[band].abs().max()
    assert float(err) < 0.05


def test_mel_map_is_the_normalised_filterbank_transpose() -> None:
    basis = MEL.mel_basis()
    back = MEL.mask_to_linear(torch.eye(MEL.n_mels))  # column j = where mel band j goes
    covered = basis.sum(dim=0) > 0
    expected = basis.T[covered] / basis.T[covered].sum(dim=1, keepdim=True)
    assert torch.allclose(back[covered], expected, atol=1e-6)


def test_input_transforms_have_the_stated_values(rng: np.random.Generator) -> None:
    y = torch.from_numpy(rng.standard_normal(22050).astype(np.float32))
    spec = FrontEnd().stft(y)
    mag = spec.abs()
    assert torch.allclose(FrontEnd().input_from_stft(spec), mag)
    log = FrontEnd(compression=Compression.LOG1P, log1p_factor=10.0).input_from_stft(spec)
    assert torch.allclose(log, torch.log1p(10 * mag), atol=1e-5)
    db = FrontEnd(compression=Compression.DB, db_top_db=40.0).input_from_stft(spec)
    assert float(db.max() - db.min()) == pytest.approx(40.0, abs=1e-3)
    normed = FrontEnd(norm_mean=1.0, norm_std=2.0).input_from_stft(spec)
    assert torch.allclose(normed, (mag - 1.0) / 2.0, atol=1e-6)
    mel = MEL.input_from_stft(MEL.stft(y))
    assert mel.shape[0] == 96


def test_front_end_dict_round_trip_and_field_errors() -> None:
    assert FrontEnd.from_dict(MEL.to_dict()) == MEL
    with pytest.raises(ModelFormatError, match="front_end.hop_length"):
        FrontEnd.from_dict({**FrontEnd().to_dict(), "hop_length": 0})
    with pytest.raises(ModelFormatError, match="front_end.scale"):
        FrontEnd.from_dict({"scale": "bark"})
    with pytest.raises(ModelFormatError, match="front_end.n_fft"):
        FrontEnd.from_dict({"n_fft": "512"})
    with pytest.raises(ModelFormatError, match="unknown key"):
        FrontEnd.from_dict({"hopsize": 256})
