"""The real demo clips (resources/demo/real): format, level, stems that add up, licences, and that the
render script reproduces them from Debian's archive."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from needs import missing

REAL = Path(__file__).resolve().parents[2] / "resources" / "demo" / "real"
SR = 44100
MIXES = {"band": ("backing", "guitar"), "groove": ("drums", "bass", "piano", "choir")}
SOURCES = (
    Path("/usr/share/games/fretsonfire/data/songs/muldjord/mutilated_mime/song.ogg"),
    Path("/usr/share/sonic-pi/samples/loop_amen_full.flac"),
)


def read_int(path: Path) -> np.ndarray:
    x, sr = sf.read(path, dtype="int16")
    assert sr == SR
    return x.astype(np.int64)


def render_module():
    spec = importlib.util.spec_from_file_location("render_real", REAL.parent / "render_real.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(MIXES))
def test_mix_is_mono_flac_at_minus_one_dbfs(name: str) -> None:
    info = sf.info(REAL / f"{name}.flac")
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", SR, 1)
    assert 20 <= info.duration <= 30
    x = read_int(REAL / f"{name}.flac") / 32768
    peak_db = 20 * np.log10(np.max(np.abs(x)))
    assert -1.1 <= peak_db <= -0.9, peak_db


@pytest.mark.parametrize("name", sorted(MIXES))
def test_stems_add_up_to_the_mix_exactly(name: str) -> None:
    mix = read_int(REAL / f"{name}.flac")
    stems = [read_int(REAL / f"{name}.{stem}.flac") for stem in MIXES[name]]
    assert all(len(s) == len(mix) for s in stems)
    assert np.array_equal(sum(stems), mix)
    for stem, samples in zip(MIXES[name], stems, strict=True):
        share = np.sum(samples.astype(float) ** 2) / np.sum(mix.astype(float) ** 2)
        assert share > 0.02, (stem, share)  # every stem is audible in the mix


def test_band_has_both_stems_sounding_through_every_second() -> None:
    for stem in MIXES["band"]:
        x = read_int(REAL / f"band.{stem}.flac") / 32768
        seconds = x[: len(x) // SR * SR].reshape(-1, SR)
        rms_db = 20 * np.log10(np.sqrt(np.mean(seconds**2, axis=1)))
        assert np.all(rms_db > -40), (stem, rms_db.min())


def test_groove_bass_is_low_and_drums_hit_on_the_140_bpm_grid() -> None:
    bass = read_int(REAL / "groove.bass.flac") / 32768
    spectrum = np.abs(np.fft.rfft(bass)) ** 2
    freqs = np.fft.rfftfreq(len(bass), 1 / SR)
    assert spectrum[freqs < 250].sum() / spectrum.sum() > 0.6
    drums = read_int(REAL / "groove.drums.flac") / 32768
    # the drum loop repeats every 16 beats at 140 bpm: the stem correlates with itself shifted by one loop
    period = round(16 * 60 / 140 * SR)
    a, b = drums[:-period], drums[period:]
    assert np.corrcoef(a, b)[0, 1] > 0.99


def test_licences_name_source_and_licence() -> None:
    band = (REAL / "band.LICENSE.txt").read_text()
    assert "Muldjord" in band and "CC BY-SA 3.0" in band and "fretsonfire-songs-muldjord" in band
    assert "Attribution-ShareAlike 3.0" in (REAL / "CC-BY-SA-3.0.txt").read_text()
    groove = (REAL / "groove.LICENSE.txt").read_text()
    for sample in ("loop_amen_full", "bass_woodsy_c", "ambi_piano", "ambi_choir"):
        assert f"{sample}.flac" in groove
    assert groove.count("CC0") >= 4


@pytest.mark.slow
def test_render_script_reproduces_the_committed_clips(tmp_path: Path) -> None:
    for source in SOURCES:
        if not source.is_file():
            missing(f"{source} missing: apt-get install fretsonfire-songs-muldjord sonic-pi-samples")
    written = render_module().render(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in REAL.glob("*.flac"))
    for path in written:
        assert np.array_equal(read_int(path), read_int(REAL / path.name)), path.name
