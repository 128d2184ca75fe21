"""The training-data generator: determinism, lengths, levels, drums where a style has them, mixture labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from needs import under_ci

try:
    import librosa
    import pretty_midi
except ImportError as error:
    if under_ci():
        raise  # CI installs them: fail loudly rather than skip
    pytest.skip(f"{error}: pip install pretty_midi librosa", allow_module_level=True)

from models.training import datagen, midisynth
from models.training.arrangement import Arrangement
from models.training.datagen import STYLES, STYLES_WITH_DRUMS, TAGS, ClipRenderer

SR = 11025
SECONDS = 3.0


def percussive_share(x: np.ndarray) -> float:
    """Share of spectrogram energy that librosa's median-filter HPSS assigns to the percussive part."""
    S = np.abs(librosa.stft(x, n_fft=512, hop_length=128))
    H, P = librosa.decompose.hpss(S, kernel_size=17)
    return float(np.sum(P**2) / (np.sum(H**2) + np.sum(P**2)))


@pytest.fixture(scope="module")
def style_clips(renderer: ClipRenderer) -> dict[str, np.ndarray]:
    return {style: renderer.render_style(style, 1, SECONDS) for style in STYLES}


def test_names() -> None:
    assert len(STYLES) >= 8 and len(set(STYLES)) == len(STYLES)
    assert set(TAGS) == {"piano", "voice", "drums", "bass", "guitar", "strings", "brass", "synth"}
    assert set(STYLES) > STYLES_WITH_DRUMS  # some styles have drums, some do not


def test_every_style_is_audible_at_its_level(style_clips: dict[str, np.ndarray]) -> None:
    for style, x in style_clips.items():
        assert x.dtype == np.float32 and x.shape == (round(SECONDS * SR),), style
        assert np.all(np.isfinite(x)), style
        rms_db = 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
        assert -26.5 <= rms_db <= -15.5, (style, rms_db)
        assert np.max(np.abs(x)) <= 0.98 + 1e-6, style
        # Sounding throughout, not one burst: every second holds real energy.
        seconds = x[: 3 * SR].reshape(3, SR)
        assert np.all(np.sqrt(np.mean(seconds**2, axis=1)) > 10 ** (-45 / 20)), style


def test_drums_where_the_style_has_them(style_clips: dict[str, np.ndarray]) -> None:
    share = {style: percussive_share(x) for style, x in style_clips.items()}
    drummed = [share[s] for s in STYLES_WITH_DRUMS]
    quiet = [share["solo_piano"], share["strings"]]
    assert min(drummed) > 0.1, share
    assert max(quiet) < 0.07, share
    assert min(drummed) > 2 * max(quiet), share


def test_same_seed_same_samples_whatever_came_before(renderer: ClipRenderer, soundfont: Path) -> None:
    first = renderer.render_style("rock", 5, 1.5)
    # Long string and pad releases and a full voice pool in between must leave no trace.
    renderer.render_style("strings", 9, 2.0)
    renderer.render_style("electronic", 9, 2.0)
    again = renderer.render_style("rock", 5, 1.5)
    np.testing.assert_array_equal(first, again)
    with ClipRenderer(soundfont, SR) as fresh:
        np.testing.assert_array_equal(first, fresh.render_style("rock", 5, 1.5))


def test_different_seeds_differ(renderer: ClipRenderer) -> None:
    a = renderer.render_style("folk", 1, 1.5)
    b = renderer.render_style("folk", 2, 1.5)
    assert np.corrcoef(a, b)[0, 1] < 0.5


@pytest.mark.parametrize(("duration", "sample_rate"), [(1.37, 11025), (0.5, 22050), (2.0001, 16000)])
def test_exact_length(soundfont: Path, renderer: ClipRenderer, duration: float, sample_rate: int) -> None:
    if sample_rate == SR:
        x = renderer.render_style("jazz_trio", 3, duration)
        y, _ = renderer.render_mixture(3, duration)
    else:
        with ClipRenderer(soundfont, sample_rate) as other:
            x = other.render_style("jazz_trio", 3, duration)
            y, _ = other.render_mixture(3, duration)
    assert len(x) == len(y) == round(duration * sample_rate)


def test_mixture_tags_are_reproducible(renderer: ClipRenderer) -> None:
    seen: set[str] = set()
    for seed in range(6):
        audio, tags = renderer.render_mixture(seed, 1.5)
        assert 1 <= len(tags) <= 4 and tags <= set(TAGS), tags
        assert np.sqrt(np.mean(audio**2)) > 10 ** (-30 / 20)
        again, tags_again = renderer.render_mixture(seed, 1.5)
        assert tags_again == tags
        np.testing.assert_array_equal(audio, again)
        seen |= tags
    assert len(seen) >= 5


def test_drum_tag_means_percussion(renderer: ClipRenderer) -> None:
    shares: dict[bool, list[float]] = {True: [], False: []}
    for seed in range(16):
        audio, tags = renderer.render_mixture(seed, 2.0)
        shares["drums" in tags].append(percussive_share(audio))
    assert len(shares[True]) >= 3 and len(shares[False]) >= 3
    assert min(shares[True]) > 2 * np.median(shares[False]), shares
    assert np.median(shares[True]) > max(shares[False]), shares


def test_datasets_shapes_and_labels(soundfont: Path) -> None:
    x, y = datagen.style_dataset(1, 7, soundfont, SR, 0.5)
    assert x.shape == (len(STYLES), round(0.5 * SR)) and x.dtype == np.float32
    np.testing.assert_array_equal(y, np.arange(len(STYLES)))
    assert y.dtype == np.int64
    xm, ym = datagen.mixture_dataset(3, 7, soundfont, SR, 0.5)
    assert xm.shape == (3, round(0.5 * SR)) and ym.shape == (3, len(TAGS)) and ym.dtype == np.float32
    assert set(np.unique(ym)) <= {0.0, 1.0}
    assert np.all((ym.sum(axis=1) >= 1) & (ym.sum(axis=1) <= 4))
    xm2, ym2 = datagen.mixture_dataset(3, 7, soundfont, SR, 0.5)
    np.testing.assert_array_equal(xm, xm2)
    np.testing.assert_array_equal(ym, ym2)


@pytest.mark.slow
def test_worker_processes_give_the_same_dataset(soundfont: Path) -> None:
    one = datagen.mixture_dataset(4, 11, soundfont, SR, 0.5, workers=1)
    two = datagen.mixture_dataset(4, 11, soundfont, SR, 0.5, workers=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_cache_cli(soundfont: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cache" / "styles.npz"
    datagen.main([str(out), "--n", "1", "--duration", "0.25", "--soundfont", str(soundfont)])
    with np.load(out) as cache:
        assert cache["audio"].shape == (len(STYLES), round(0.25 * SR))
        assert tuple(cache["names"]) == STYLES
        assert int(cache["sample_rate"]) == SR
    assert f"rendered {len(STYLES)}/{len(STYLES)} clips" in capsys.readouterr().err


def test_silent_draws_are_rejected(renderer: ClipRenderer) -> None:
    score = pretty_midi.PrettyMIDI(initial_tempo=120)
    score.instruments.append(pretty_midi.Instrument(0, name="empty"))
    silent = Arrangement(score, (0.0,), rt60=0.5, wet_db=-12.0)
    assert renderer.render_arrangement(silent, np.random.default_rng(0), 1.0) is None
    # A part that only plays in the first 10 % of the clip: the clip is not "sounding" half the time.
    score.instruments[0].notes.append(pretty_midi.Note(100, 60, 0.0, 0.1))
    assert renderer.render_arrangement(silent, np.random.default_rng(0), 4.0) is None


def test_missing_soundfont_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "FluidR3_GM.sf2"
    monkeypatch.setitem(midisynth._APT_PACKAGES, missing, "fluid-soundfont-gm")
    with pytest.raises(datagen.SoundfontMissingError, match="apt-get install fluid-soundfont-gm"):
        ClipRenderer(missing, SR)
    with pytest.raises(FileNotFoundError, match="not found"):
        ClipRenderer(tmp_path / "other.sf2", SR)


def test_unknown_style(renderer: ClipRenderer) -> None:
    with pytest.raises(ValueError, match="unknown style"):
        renderer.render_style("polka", 0, 1.0)


@pytest.mark.slow
def test_musescore_soundfont_renders() -> None:
    if not datagen.MUSESCORE.is_file():
        pytest.skip(f"{datagen.MUSESCORE} missing: apt-get install musescore-general-soundfont-small")
    with ClipRenderer(datagen.MUSESCORE, SR) as renderer:
        x = renderer.render_style("jazz_trio", 1, 1.0)
        assert 20 * np.log10(np.sqrt(np.mean(x**2))) > -27
        np.testing.assert_array_equal(x, renderer.render_style("jazz_trio", 1, 1.0))
