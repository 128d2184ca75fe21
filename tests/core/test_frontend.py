"""Front ends: STFT round trip, input transforms, and the maps from input domain back to linear bins."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from needs import real_material

from app.core.errors import ModelFormatError
from app.core.frontend import (
    PRESETS,
    Compression,
    FrontEnd,
    MelNorm,
    MelScale,
    PadMode,
    Scale,
    Window,
    front_end_preset,
)

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


# --- published front ends: presets against independent computations ------------------------------------------


def _music_like(rng: np.random.Generator, sr: int, seconds: float = 3.0) -> np.ndarray:
    """Tones, clicks and noise at sensible levels, with a silent stretch (so floors and amin are exercised)."""
    t = np.arange(int(sr * seconds)) / sr
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1760 * t) + 0.05 * rng.standard_normal(t.size)
    y[:: sr // 4] += 0.8
    y[int(0.4 * t.size) : int(0.5 * t.size)] = 0.0
    return y


def _rel_err(ours: torch.Tensor, theirs: np.ndarray) -> float:
    theirs = np.asarray(theirs, dtype=np.float64)
    return float(np.abs(ours.double().numpy() - theirs).max() / np.abs(theirs).max())


def _numpy_stft(y: np.ndarray, n_fft: int, hop: int, window: np.ndarray, pad_mode: str) -> np.ndarray:
    """Centred frames, padded by ``pad_mode``, times ``window``, rfft: ``[shape=(n_freq, n_frames)]``."""
    padded = np.pad(y, n_fft // 2, mode=pad_mode)
    starts = range(0, padded.size - n_fft + 1, hop)
    return np.stack([np.fft.rfft(padded[s : s + n_fft] * window) for s in starts], axis=1)


def _ours(fe: FrontEnd, y: np.ndarray) -> torch.Tensor:
    """The front end in float64, so that the comparison sees its definition, not float32 FFT rounding."""
    return fe.input_from_stft(fe.stft(torch.from_numpy(y.astype(np.float64))))


def _assert_equal(fe: FrontEnd, y: np.ndarray, theirs: np.ndarray) -> None:
    assert _rel_err(_ours(fe, y), theirs) < 1e-5
    # the app's own float32 path: the quietest bands carry float32 FFT rounding (~1e-3 dB)
    assert _rel_err(fe.input_from_stft(fe.stft(torch.from_numpy(y.astype(np.float32)))), theirs) < 1e-4


def test_librosa_preset_equals_librosa(rng: np.random.Generator) -> None:
    import librosa

    fe = PRESETS["librosa"]
    y = _music_like(rng, fe.sample_rate)
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=22050,
        n_fft=2048,
        hop_length=512,
        window="hann",
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=128,
        htk=False,
        norm="slaney",
    )
    theirs = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0)
    assert _rel_err(_ours(fe, y), theirs) < 1e-5


@pytest.mark.filterwarnings("ignore:Empty filters detected")
def test_torchaudio_preset_equals_librosa_with_htk_unnormalised_reflect(rng: np.random.Generator) -> None:
    import librosa

    fe = PRESETS["torchaudio"]
    y = _music_like(rng, fe.sample_rate)
    # torchaudio's STFT is torch.stft; written out here in numpy (librosa's own reflect-padded last frame differs
    # from a plain reflection by 1e-5 of the peak), with librosa's filterbank
    power = np.abs(_numpy_stft(y, 400, 200, librosa.filters.get_window("hann", 400), "reflect")) ** 2
    mel = librosa.filters.mel(sr=16000, n_fft=400, n_mels=128, htk=True, norm=None, dtype=np.float64) @ power
    theirs = 10.0 * np.log10(np.maximum(mel, 1e-10))  # AmplitudeToDB("power"), no top_db
    _assert_equal(fe, y, theirs)


def test_musicnn_preset_equals_its_preprocessing(rng: np.random.Generator) -> None:
    import librosa

    fe = PRESETS["musicnn"]
    y = _music_like(rng, fe.sample_rate)
    # musicnn/extractor.py: librosa.feature.melspectrogram(sr=16000, hop 256, n_fft 512, n_mels 96), then
    # np.log10(10000 * x + 1); librosa 0.7, which it was trained with, padded by reflection
    mel = librosa.feature.melspectrogram(y=y, sr=16000, hop_length=256, n_fft=512, n_mels=96, pad_mode="reflect")
    theirs = np.log10(10000 * mel + 1)
    _assert_equal(fe, y, theirs)


def test_kapre_preset_equals_magnitude_to_decibel(rng: np.random.Generator) -> None:
    import librosa

    fe = PRESETS["kapre"]
    y = _music_like(rng, fe.sample_rate)
    mag = np.abs(librosa.stft(y, n_fft=2048, hop_length=512, window="hann", center=False))
    mel = librosa.filters.mel(sr=22050, n_fft=2048, n_mels=128, htk=False, norm="slaney", dtype=np.float64) @ mag
    # kapre.backend.magnitude_to_decibel(x, ref_value=1.0, amin=1e-5, dynamic_range=80.0)
    log_spec = 10.0 * np.log10(np.maximum(mel, 1e-5)) - 10.0 * np.log10(max(1e-5, 1.0))
    theirs = np.maximum(log_spec, log_spec.max() - 80.0)
    _assert_equal(fe, y, theirs)


def test_amplitude_db_equals_librosa_amplitude_to_db(rng: np.random.Generator) -> None:
    import librosa

    fe = FrontEnd(
        sample_rate=22050,
        n_fft=1024,
        hop_length=256,
        scale="mel",
        n_mels=64,
        compression="db",
        db_reference="amplitude",
        db_amin=1e-5,
        db_top_db=80.0,
    )
    y = _music_like(rng, 22050)
    mel = librosa.feature.melspectrogram(
        y=y, sr=22050, n_fft=1024, hop_length=256, pad_mode="constant", power=1.0, n_mels=64
    )
    theirs = librosa.amplitude_to_db(mel, ref=1.0, amin=1e-5, top_db=80.0)
    _assert_equal(fe, y, theirs)


def test_symmetric_hann_equals_scipy_window(rng: np.random.Generator) -> None:
    import librosa
    from scipy.signal import windows

    fe = FrontEnd(n_fft=512, hop_length=128, window="hann_symmetric", pad_mode="reflect")
    y = _music_like(rng, 11025)
    window = windows.hann(512, sym=True)
    assert float(np.abs(fe.window_tensor(dtype=torch.float64).numpy() - window).max()) < 1e-7
    theirs = np.abs(librosa.stft(y, n_fft=512, hop_length=128, window=window, center=True, pad_mode="reflect"))
    _assert_equal(fe, y, theirs)
    # and the round trip still holds with that window
    back = fe.istft(fe.stft(torch.from_numpy(y)), y.size).numpy()  # float64
    assert float(np.abs(back - y).max()) < 1e-5


def test_torchaudio_preset_equals_the_fcn_checkpoints_stored_front_end(rng: np.random.Generator) -> None:
    """Won et al.'s FCN stores its torchaudio filterbank and window: our preset (+ its overrides) equals them and
    the spectrogram they give with torch.stft."""
    weights = real_material("fcn-mtat", "best_model.pth")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    fb, window = state["spec.mel_scale.fb"].double(), state["spec.spectrogram.window"].double()
    fe = front_end_preset("torchaudio", n_fft=512, hop_length=256, n_mels=96, fmax=8000.0)
    # the stored filterbank was rounded in float32 by the torchaudio of its day: 1.08e-5 (filters peak at 1) from
    # the exact HTK filterbank, which ours is (librosa's float64 formula, stored in float32)
    assert _rel_err(fe.mel_basis().T, fb.numpy()) < 2e-5
    assert _rel_err(fe.window_tensor(), window.numpy()) == 0.0
    y = _music_like(rng, 16000)
    spec = torch.stft(
        torch.from_numpy(y).double(), 512, 256, window=window, center=True, pad_mode="reflect", return_complex=True
    )
    mel = (spec.abs() ** 2).T @ fb
    theirs = 10.0 * torch.log10(torch.clamp(mel, min=1e-10)).T
    # through the stored (float32-rounded) filterbank: 3.8e-5 relative (5e-4 dB), all of it the filterbank's
    assert _rel_err(_ours(fe, y), theirs.numpy()) < 5e-5


VARIANTS = [
    *PRESETS.values(),
    *(
        FrontEnd(
            sample_rate=16000,
            n_fft=512,
            hop_length=256,
            scale="mel",
            n_mels=96,
            mel_scale=s,
            mel_norm=n,
            fmin=fmin,
            fmax=fmax,
            window=w,
            pad_mode=p,
        )
        for s, n, w, p in [
            ("htk", "none", "hann", "reflect"),
            ("htk", "slaney", "hann_symmetric", "constant"),
            ("slaney", "none", "hann", "reflect"),
            ("slaney", "slaney", "hann_symmetric", "reflect"),
        ]
        for fmin, fmax in [(0.0, None), (40.0, 7000.0)]
    ),
]


@pytest.mark.parametrize("fe", VARIANTS, ids=lambda fe: f"{fe.mel_scale}-{fe.mel_norm}-{fe.n_fft}-{fe.fmax}")
@pytest.mark.parametrize("value", [0.5, -1.5])
def test_constant_mask_maps_to_the_same_constant_for_every_variant(fe: FrontEnd, value: float) -> None:
    mask = torch.full((fe.n_bins, 12), value)
    linear = fe.mask_to_linear(mask)
    assert linear.shape == (fe.n_freq, 12)
    assert float((linear - value).abs().max()) < 1e-5


@pytest.mark.parametrize(
    "field,value",
    [
        ("mel_scale", "mel"),
        ("mel_norm", "l2"),
        ("pad_mode", "zeros"),
        ("window", "hamming"),
        ("compression", "log2"),
        ("db_reference", "voltage"),
        ("log1p_factor", 0),
        ("db_amin", -1.0),
        ("db_top_db", 0),
        ("center", 1),
        ("preset", "essentia"),
        ("preset", 3),
    ],
)
def test_bad_front_end_values_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ModelFormatError, match=rf"front_end\.{field}"):
        FrontEnd.from_dict({field: value})


def test_presets_are_starting_points_overridden_field_by_field() -> None:
    fe = FrontEnd.from_dict({"preset": "torchaudio", "n_fft": 512, "hop_length": 256, "n_mels": 96, "fmax": 8000})
    assert (fe.mel_scale, fe.mel_norm, fe.pad_mode, fe.power) == (MelScale.HTK, MelNorm.NONE, PadMode.REFLECT, 2.0)
    assert (fe.n_fft, fe.hop_length, fe.n_mels, fe.fmax, fe.db_top_db) == (512, 256, 96, 8000.0, None)
    assert FrontEnd.from_dict(fe.to_dict()) == fe  # written out in full, no preset needed to read it back
    assert FrontEnd.from_dict({"preset": "musicnn"}).compression is Compression.LOG10_1P


def test_files_from_before_the_new_fields_keep_their_meaning(rng: np.random.Generator) -> None:
    """An old front-end block (no mel_scale, pad_mode, db_reference, ...) reads as Slaney/Slaney, zero padding,
    periodic Hann, and dB of the power."""
    old = {
        "sample_rate": 22050,
        "n_fft": 1024,
        "hop_length": 512,
        "window": "hann",
        "center": True,
        "power": 1.0,
        "scale": "mel",
        "n_mels": 96,
        "fmin": 0.0,
        "fmax": None,
        "compression": "db",
        "log1p_factor": 1.0,
        "db_amin": 1e-10,
        "db_top_db": 80.0,
        "norm_mean": 0.0,
        "norm_std": 1.0,
    }
    fe = FrontEnd.from_dict(old)
    assert (fe.mel_scale, fe.mel_norm, fe.pad_mode, fe.window, fe.db_reference) == (
        MelScale.SLANEY,
        MelNorm.SLANEY,
        PadMode.CONSTANT,
        Window.HANN,
        None,
    )
    import librosa

    y = _music_like(rng, 22050)
    mel = librosa.feature.melspectrogram(
        y=y, sr=22050, n_fft=1024, hop_length=512, pad_mode="constant", power=1.0, n_mels=96
    )
    _assert_equal(fe, y, librosa.power_to_db(mel**2, amin=1e-10, top_db=80.0))


def test_reflect_padding_takes_clips_shorter_than_half_a_window() -> None:
    fe = PRESETS["torchaudio"]
    spec = fe.stft(torch.ones(150))  # n_fft // 2 = 200: torch.stft alone refuses reflection here
    assert spec.shape == (fe.n_freq, fe.n_frames(150))
