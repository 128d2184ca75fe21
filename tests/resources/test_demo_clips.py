"""The committed demo clips: format, level, and that each holds what its name promises (by numbers)."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from needs import fluidsynth_soundfont, missing

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"
CLIPS = ("piano.wav", "piano_vocal.wav", "full_band.wav", "kick_walking_bass.wav")
SR = 22050


def load(name: str) -> np.ndarray:
    x, sr = sf.read(DEMO / name, dtype="float64")
    assert sr == SR
    return x


def low_band_energy(x: np.ndarray, times: list[float], *, window: float = 0.08) -> np.ndarray:
    """30-150 Hz energy in the `window` [s] after each of `times` [s]."""
    n_fft, hop = 1024, 64
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(x, (0, n_fft)), n_fft)[::hop]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1 / SR)
    band = spectrum[:, (freqs > 30) & (freqs < 150)].sum(axis=1)
    # Frame i covers samples [i*hop, i*hop + n_fft): centre it on the time it describes.
    centre = (np.arange(len(band)) * hop + n_fft / 2) / SR
    return np.array([band[(centre >= t) & (centre < t + window)].mean() for t in times])


def band_share(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    return float(spectrum[(freqs > low) & (freqs < high)].sum() / spectrum.sum())


@pytest.mark.parametrize("name", CLIPS)
def test_format_and_level(name: str) -> None:
    info = sf.info(DEMO / name)
    assert (info.samplerate, info.channels, info.frames) == (SR, 1, 10 * SR)
    x = load(name)
    peak_db = 20 * np.log10(np.max(np.abs(x)))
    assert -3.5 <= peak_db <= -0.5, peak_db
    assert np.sum(np.abs(x) >= 0.999) == 0  # not clipped
    seconds = x.reshape(10, SR)
    rms_db = 20 * np.log10(np.sqrt(np.mean(seconds**2, axis=1)))
    assert np.all(rms_db > -35), rms_db  # sounding through every second, not silent


def test_full_band_has_a_kick_that_piano_lacks() -> None:
    beat = 60 / 96
    kicks = [(4 * bar + k) * beat for bar in range(4) for k in (0, 2, 2.5)]
    others = [(4 * bar + k) * beat for bar in range(4) for k in (1, 1.5, 3, 3.5)]
    contrast = {}
    for name in ("full_band.wav", "piano.wav"):
        x = load(name)
        contrast[name] = low_band_energy(x, kicks).mean() / low_band_energy(x, others).mean()
    assert contrast["full_band.wav"] > 6, contrast
    assert contrast["piano.wav"] < 4, contrast
    assert contrast["full_band.wav"] > 3 * contrast["piano.wav"], contrast


def test_kick_lands_on_one_and_three_over_the_walking_bass() -> None:
    beat, swing = 60 / 120, 0.64
    kicks = [(4 * bar + k) * beat for bar in range(5) for k in (0, 2)]
    kicks += [(4 * bar + 3 + swing) * beat for bar in (1, 3)]
    bass_only = [(4 * bar + k) * beat for bar in range(5) for k in (1, 3)]
    x = load("kick_walking_bass.wav")
    at_kicks, at_bass = low_band_energy(x, kicks), low_band_energy(x, bass_only)
    assert at_kicks.mean() > 6 * at_bass.mean(), (at_kicks.mean(), at_bass.mean())
    assert at_kicks.min() > 2 * at_bass.max(), (at_kicks.min(), at_bass.max())
    assert band_share(x, 0, 150) > 0.5


def test_vocal_is_audible_over_the_piano() -> None:
    piano, sung = load("piano.wav"), load("piano_vocal.wav")
    # What the (re-levelled) piano clip cannot explain is the voice, plus the room's tail on it.
    residual = sung - (sung @ piano) / (piano @ piano) * piano
    residual_db = 10 * np.log10(np.sum(residual**2) / np.sum(sung**2))
    assert residual_db > -8, residual_db
    assert band_share(sung, 500, 3000) > 1.5 * band_share(piano, 500, 3000)


@pytest.mark.slow
def test_script_renders_the_committed_clips(tmp_path: Path) -> None:
    fluidsynth_soundfont()
    if shutil.which("text2wave") is None:
        missing("text2wave missing: apt-get install festival festvox-kallpc16k")
    spec = importlib.util.spec_from_file_location("render_demo", DEMO / "render_demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["render_demo"] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        module.main(["--out", str(tmp_path)])
    finally:
        sys.modules.pop("render_demo", None)
    for name in CLIPS:
        committed, fresh = load(name), sf.read(tmp_path / name, dtype="float64")[0]
        # Equal sample for sample with the same FluidSynth/Festival builds; other builds may differ a little.
        assert np.corrcoef(committed, fresh)[0, 1] > 0.99, f"{name}: re-render it with render_demo.py"
        rms_ratio_db = 10 * np.log10(np.mean(fresh**2) / np.mean(committed**2))
        assert abs(rms_ratio_db) < 0.5, name
