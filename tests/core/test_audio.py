"""Audio in and out on real files: formats, resampling, mono mix, sidecars, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.core.audio import load_audio, sidecar_path, write_wav
from app.core.errors import AudioLoadError


def tone(sr: int, seconds: float = 1.0, f: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32)


@pytest.mark.parametrize(
    "ext,fmt,subtype",
    [("wav", "WAV", "FLOAT"), ("flac", "FLAC", "PCM_24"), ("ogg", "OGG", "VORBIS"), ("mp3", "MP3", "MPEG_LAYER_III")],
)
def test_formats_load_to_mono_at_the_model_rate(tmp_path: Path, ext: str, fmt: str, subtype: str) -> None:
    stereo = np.stack([tone(22050), tone(22050, f=660.0)], axis=1)
    path = tmp_path / f"clip.{ext}"
    sf.write(path, stereo, 22050, format=fmt, subtype=subtype)
    clip = load_audio(path, 11025)
    assert clip.sample_rate == 11025 and clip.original_rate == 22050
    assert clip.original.shape[0] == 2
    assert abs(clip.samples.shape[0] - 11025) < 1200  # mp3 adds encoder padding
    assert clip.samples.dtype == np.float32
    # the mono mix of 440 and 660 Hz at 0.5 each: spectral peaks at both
    spec = np.abs(np.fft.rfft(clip.samples[:8192]))
    freqs = np.fft.rfftfreq(8192, 1 / 11025)
    top = sorted(freqs[np.argsort(spec)[-2:]])
    assert top[0] == pytest.approx(440, abs=3) and top[1] == pytest.approx(660, abs=3)


def test_wav_loads_exactly(tmp_path: Path) -> None:
    y = tone(11025)
    sf.write(tmp_path / "a.wav", y, 11025, subtype="FLOAT")
    clip = load_audio(tmp_path / "a.wav", 11025)
    assert np.array_equal(clip.samples, y)
    assert clip.duration == pytest.approx(1.0)


@pytest.mark.parametrize("subtype,tolerance", [("float32", 0.0), ("pcm24", 2e-7), ("pcm16", 4e-5)])
def test_write_wav_formats_and_sidecar(tmp_path: Path, subtype: str, tolerance: float) -> None:
    y = tone(11025) * 0.9
    path = write_wav(tmp_path / "out.wav", y, 11025, subtype=subtype, sidecar={"layer": 2, "feature": 7})
    back, sr = sf.read(path, dtype="float32")
    assert sr == 11025 and float(np.max(np.abs(back - y))) <= tolerance
    meta = json.loads(sidecar_path(path).read_text())
    assert (meta["layer"], meta["feature"], meta["format"], meta["clipped_samples"]) == (2, 7, subtype, 0)
    assert not list(tmp_path.glob("*.part"))


def test_pcm_export_counts_clipped_samples(tmp_path: Path) -> None:
    y = np.array([0.5, 1.5, -2.0, 0.1], dtype=np.float32)
    path = write_wav(tmp_path / "hot.wav", y, 8000, subtype="pcm16", sidecar={})
    assert json.loads(sidecar_path(path).read_text())["clipped_samples"] == 2


@pytest.mark.parametrize(
    "setup,reason",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk"), "unsupported or corrupt audio"),
        (lambda p: p.write_text("this is a text file, not audio\n" * 50), "unsupported or corrupt audio"),
        (lambda p: p.mkdir(), "not a regular file"),
    ],
)
def test_bad_audio_gives_a_specific_error_naming_the_file(tmp_path: Path, setup, reason: str) -> None:
    path = tmp_path / "bad.wav"
    setup(path)
    with pytest.raises(AudioLoadError) as err:
        load_audio(path, 11025)
    assert reason in str(err.value) and "bad.wav" in str(err.value)


def test_truncated_wav_is_an_error_or_shorter(tmp_path: Path) -> None:
    sf.write(tmp_path / "full.wav", tone(11025), 11025, subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:30])
    with pytest.raises(AudioLoadError):
        load_audio(tmp_path / "cut.wav", 11025)


def test_nan_samples_are_refused(tmp_path: Path) -> None:
    y = tone(11025)
    y[100] = np.nan
    sf.write(tmp_path / "nan.wav", y, 11025, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match="NaN"):
        load_audio(tmp_path / "nan.wav", 11025)


def test_fallback_decoder_reads_what_libsndfile_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libsndfile 1.2 reads mp3 itself; force our first reader to refuse so librosa's decoder path runs for real."""
    import app.core.audio as audio_module

    path = tmp_path / "clip.mp3"
    sf.write(path, tone(22050), 22050, format="MP3", subtype="MPEG_LAYER_III")

    def refuse(*args: object, **kwargs: object) -> None:
        raise sf.LibsndfileError(1, "simulated: format not supported by this libsndfile")

    monkeypatch.setattr(audio_module.sf, "read", refuse)
    clip = load_audio(path, 11025)
    spec = np.abs(np.fft.rfft(clip.samples[:8192]))
    assert np.fft.rfftfreq(8192, 1 / 11025)[np.argmax(spec)] == pytest.approx(440, abs=3)
