"""Automatic characterisation on networks and clips whose answer is known.

Known-kernel networks (DESIGN 1) go through the whole path (forward, deconvnet, Choi resynthesis, descriptors,
rules): a vertical edge [1 -1; 1 -1] over frequency x time is an onset detector, a horizontal edge [1 1; -1 -1]
an attack suppressor. Full-height kernels (one column of 257 weights, 1 below 200 Hz and 0 elsewhere, say)
make frequency-band selectors: their deconvolution is the kernel times the band's own envelope, so the mask
keeps that band. Synthetic clips: kicks (decaying 90 -> 55 Hz sine bursts), hats (differentiated noise
bursts), a sustained bass line and a melody of harmonic tones.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from signals import piano_like_notes

from app.core import descriptors as d
from app.core.analysis import Analysis, FeatureRef
from app.core.architecture import Conv2d, ReLU
from app.core.audio import Clip, load_audio
from app.core.characterise import (
    RULES,
    TAGS,
    Changes,
    Figures,
    baseline_of,
    characterise,
    emphasis_db,
    merge_tags,
    suggest_tags,
)
from app.core.errors import SelectionError
from app.core.frontend import FrontEnd
from app.core.model import Model, ModelSpec

SR = 11025
DUR = 4.0
ONSETS = [0.2, 0.9, 1.6, 2.3, 3.0]
BEATS = list(np.arange(0.25, DUR - 0.2, 0.5))
OFFBEATS = [b + 0.25 for b in BEATS]
MELODY = [(0.1 + 0.5 * i, 0.48, f) for i, f in enumerate([440, 523.25, 659.25, 587.33, 523.25, 493.88, 440, 392])]
BASS = [(0.1 + 1.0 * i, 0.95, f) for i, f in enumerate([82.5, 73.42, 65.41, 82.41])]


# --- synthetic clips -------------------------------------------------------------------------------------
def kicks(times: list[float], *, amp: float = 1.0) -> np.ndarray:
    n = int(DUR * SR)
    y = np.zeros(n)
    for t0 in times:
        s = int(t0 * SR)
        t = np.arange(n - s) / SR
        f = 55.0 + 35.0 * np.exp(-t / 0.03)  # the pitch drop of a kick drum
        y[s:] += amp * np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t / 0.15) * np.minimum(1, t / 0.001)
    return y


def hats(times: list[float], *, amp: float = 0.3, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(DUR * SR)
    y = np.zeros(n)
    for t0 in times:
        s = int(t0 * SR)
        t = np.arange(n - s) / SR
        y[s:] += amp * np.diff(rng.standard_normal(n - s + 1)) * np.exp(-t / 0.03)
    return y


def tones(notes: list[tuple[float, float, float]], *, amp: float = 0.3) -> np.ndarray:
    """Harmonic tones (5 partials) from (start s, length s, f0 Hz), 20 ms fades."""
    n = int(DUR * SR)
    y = np.zeros(n)
    for t0, length, f0 in notes:
        s, e = int(t0 * SR), min(n, int((t0 + length) * SR))
        t = np.arange(e - s) / SR
        tone = sum((0.6**h) * np.sin(2 * np.pi * f0 * (h + 1) * t) for h in range(5))
        env = np.exp(-t / 1.5) * np.minimum(1, t / 0.02) * np.minimum(1, (e - s - np.arange(e - s)) / (0.02 * SR))
        y[s:e] += amp * tone * env
    return y


def normalised(y: np.ndarray) -> np.ndarray:
    return (y / np.max(np.abs(y)) * 0.8).astype(np.float32)


CLIPS = {
    "notes": lambda: piano_like_notes(SR, DUR, ONSETS),
    "kicks_hats": lambda: normalised(kicks(BEATS) + hats(OFFBEATS)),
    "kick_melody": lambda: normalised(kicks(BEATS) + tones(MELODY, amp=0.5)),
    "bass_melody": lambda: normalised(tones(BASS, amp=0.6) + tones(MELODY, amp=0.5)),
    "band": lambda: normalised(kicks(BEATS) + hats(OFFBEATS) + tones(MELODY) + tones(BASS, amp=0.5)),
}


# --- known networks ---------------------------------------------------------------------------------------
def band_kernel(lo_hz: float, hi_hz: float) -> list[list[float]]:
    """A full-height (257 x 1) kernel: 1 on the bins from lo to hi Hz, 0 elsewhere."""
    return [[1.0] if lo_hz <= f < hi_hz else [0.0] for f in FrontEnd().bin_frequencies()]


KERNELS = {
    "vertical edge": [[1, -1], [1, -1]],
    "horizontal edge": [[1, 1], [-1, -1]],
    "identity": [[1, 0], [0, 0]],
    "silent": [[0, 0], [0, 0]],
    "below 200 Hz": band_kernel(0, 200),
    "above 2.5 kHz": band_kernel(2500, 6000),
    "300-1500 Hz": band_kernel(300, 1500),
}


def known_analysis(clip: str, *kernels: str) -> Analysis:
    """A one-layer network with the named kernels as its maps (all the same size), on a synthetic clip."""
    ks = torch.stack([torch.tensor(KERNELS[k], dtype=torch.float32) for k in kernels])
    kh, kw = ks.shape[1:]
    model = Model(
        ModelSpec(front_end=FrontEnd(), body=(Conv2d(1, len(kernels), (kh, kw), (1, 1), (0, 0)), ReLU())),
        {"body.0.weight": ks[:, None], "body.0.bias": torch.zeros(len(kernels))},
    )
    y = CLIPS[clip]()
    return Analysis(Clip(Path(f"{clip}.wav"), clip[:8].ljust(64, "0"), y, SR, y[None], SR), model, device="cpu")


@pytest.fixture(scope="module")
def notes_result():
    return characterise(known_analysis("notes", "vertical edge", "horizontal edge", "identity", "silent"))


def tags_of(result, index: int) -> list[str]:
    return [t.tag for t in result.tags((1, index))]


def test_vertical_edge_kernel_is_an_onset_detector(notes_result) -> None:
    (m,) = notes_result.for_map(FeatureRef(1, 0))
    assert tags_of(notes_result, 0) == ["onset detector", "percussive / kick selector"]
    assert m.changes.onset_corr == pytest.approx(0.29, abs=0.03)  # 0.39 -> 0.68
    assert m.changes.attack_sustain_db == pytest.approx(20.3, abs=1.0)
    tag = notes_result.tags((1, 0))[0]
    assert (tag.figure, tag.threshold, tag.op) == ("change.onset_corr", 0.2, ">=")
    assert tag.value == pytest.approx(m.changes.onset_corr)
    assert tag.text().startswith("onset detector: onset correlation change +0.29 ≥ +0.20 on notes.wav")
    assert "attack/sustain change +20.3 dB ≥ +6.0 dB" in tag.detail


def test_horizontal_edge_kernel_is_an_attack_suppressor(notes_result) -> None:
    (m,) = notes_result.for_map((1, 1))
    assert tags_of(notes_result, 1) == ["attack suppressor"]
    assert m.changes.attack_sustain_db == pytest.approx(-2.6, abs=0.3)  # the original's +1.7 dB -> -0.9 dB
    assert m.changes.onset_corr < 0


def test_identity_kernel_suggests_nothing_on_notes(notes_result) -> None:
    assert tags_of(notes_result, 2) == []


def test_silent_map_gets_no_tags_and_finite_json(notes_result) -> None:
    (m,) = notes_result.for_map((1, 3))
    assert m.silent and m.tags == () and m.figures.rms_db == pytest.approx(-240.0)
    text = json.dumps(notes_result.to_dict(), allow_nan=False)  # NaN/inf become null
    assert '"L1F3": []' in text


@pytest.mark.parametrize(
    "clip,expected",
    [
        ("bass_melody", ["bass selector"]),
        ("band", ["bass selector"]),  # kick + bass + hats + melody: the bass line dominates below 200 Hz
        ("kick_melody", ["percussive / kick selector"]),
        ("kicks_hats", ["percussive / kick selector"]),
    ],
)
def test_low_pass_network_selects_bass_or_kick(clip: str, expected: list[str]) -> None:
    result = characterise(known_analysis(clip, "below 200 Hz"))
    (m,) = result.maps
    assert tags_of(result, 0) == expected
    assert m.figures.low_share > 0.999 and m.changes.low_emphasis_db > 45
    if clip == "kicks_hats":
        assert m.changes.percussive_emphasis_db == pytest.approx(6.3, abs=1.0)  # the kick rule's +5 dB, not +10
        assert result.tags((1, 0))[0].figure == "change.percussive_emphasis_db"


def test_high_pass_network_on_kicks_and_hats_keeps_the_hats() -> None:
    result = characterise(known_analysis("kicks_hats", "above 2.5 kHz", "300-1500 Hz"))
    hat = result.for_map((1, 0))[0]
    assert tags_of(result, 0) == ["percussive / kick selector"]
    assert hat.changes.percussive_emphasis_db > 40 and hat.figures.low_share < 1e-6
    assert hat.changes.centroid_octaves > 3


def test_band_network_on_a_mix_is_a_melody_selector() -> None:
    result = characterise(known_analysis("band", "300-1500 Hz"))
    (m,) = result.maps
    assert tags_of(result, 0) == ["melody / harmonic selector"]
    assert m.changes.pitch_salience == pytest.approx(0.34, abs=0.05)  # 0.31 -> 0.65
    assert m.changes.percussive_emphasis_db < -10


def test_batched_figures_equal_one_at_a_time() -> None:
    analysis = known_analysis("band", "vertical edge", "horizontal edge", "identity")
    together = characterise(analysis, chunk=3)
    alone = characterise(analysis, chunk=1)
    for a, b in zip(together.maps, alone.maps, strict=True):
        for key, value in a.figures.to_dict().items():
            assert value == pytest.approx(b.figures.to_dict()[key], rel=1e-5, abs=1e-6), key


def test_batched_descriptors_match_the_single_signal_ones() -> None:
    y = piano_like_notes(SR, DUR, ONSETS)
    batch = np.stack([y, 0.5 * y[::-1].copy(), np.roll(y, 300)])
    for i, row in enumerate(batch):
        corr = d.onset_correlations(d.rms_envelopes(batch), ONSETS, SR)[i]
        assert corr == pytest.approx(d.onset_correlation(row, ONSETS, SR), abs=1e-9)
        ratio = d.attack_sustain_ratios(batch, ONSETS, SR)[i]
        assert ratio == pytest.approx(d.attack_sustain_ratio(row, ONSETS, SR), abs=1e-9)
    power = FrontEnd().stft(torch.from_numpy(batch.astype(np.float32))).abs().square().numpy()
    freqs = FrontEnd().bin_frequencies()
    centroids = d.spectral_centroids_hz(power, freqs)
    lows = d.low_frequency_shares(power, freqs)
    for i, row in enumerate(batch):  # STFT power (Welch) against the whole-signal periodogram
        assert centroids[i] == pytest.approx(d.spectral_centroid_hz(row, SR), rel=0.03)
        # the 512-point Hann window's main lobe (+-43 Hz) leaks the 220 Hz notes below 200 Hz: 0.013 vs 0.001
        assert lows[i] == pytest.approx(d.low_frequency_share(row, SR), abs=0.015)


def test_gini_pitch_salience_and_emphasis_known_values() -> None:
    assert d.gini(np.ones(100)) == pytest.approx(0.0)
    assert d.gini(np.array([0, 0, 0, 1.0])) == pytest.approx(0.75)  # (n - 1) / n for one spike
    t = np.arange(2 * SR) / SR
    noise = np.random.default_rng(0).standard_normal(2 * SR)
    salience = d.pitch_saliences(np.stack([np.sin(2 * np.pi * 440 * t), noise]), SR)
    assert salience[0] == pytest.approx(0.74, abs=0.02)  # librosa's chroma filters leak into the neighbours
    assert salience[1] < 0.1
    assert emphasis_db(0.5, 0.5) == 0.0
    assert emphasis_db(0.9, 0.5) == pytest.approx(10 * math.log10(9))
    assert emphasis_db(1.0, 0.0) == pytest.approx(120.0, abs=1e-3)


def test_percussive_share_of_clicks_and_tones() -> None:
    t = np.arange(int(DUR * SR)) / SR
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    clicks = np.zeros_like(tone)
    clicks[:: SR // 4] = 1.0
    spec = FrontEnd().stft(torch.from_numpy(np.stack([tone, clicks])))
    shares = d.percussive_shares(spec.abs().numpy())
    assert shares[0] < 0.01 and shares[1] > 0.95


def test_rules_fire_only_when_every_condition_holds() -> None:
    base = Figures(0.3, 1.0, 500.0, 0.2, 0.1, 0.4, 0.2, -20.0)
    onset_like = Figures(0.55, 8.0, 450.0, 0.2, 0.1, 0.4, 0.5, -25.0)
    assert [t.tag for t in suggest_tags(onset_like, Changes.between(onset_like, base))] == ["onset detector"]
    weak = Figures(0.55, 5.0, 450.0, 0.2, 0.1, 0.4, 0.5, -25.0)  # attack/sustain +4 dB < +6 dB
    assert suggest_tags(weak, Changes.between(weak, base)) == ()
    quiet = Figures(0.55, 8.0, 450.0, 0.2, 0.1, 0.4, 0.5, -80.0)  # 60 dB under the original
    assert suggest_tags(quiet, Changes.between(quiet, base)) == ()
    assert TAGS == (
        "onset detector",
        "attack suppressor",
        "bass selector",
        "percussive / kick selector",
        "melody / harmonic selector",
    )
    assert all(r.text() for r in RULES)


def test_tags_merge_over_clips_with_support() -> None:
    a = characterise([known_analysis("notes", "vertical edge"), known_analysis("band", "vertical edge")])
    assert len(a.baselines) == 2 and len(a.maps) == 2
    (onset,) = [t for t in a.tags((1, 0)) if t.tag == "onset detector"]
    assert (onset.support, onset.of, onset.clip_name) == (1, 2, "notes.wav")
    assert onset.text().endswith("on notes.wav (1 of 2 clips)")
    assert merge_tags([]) == ()


def test_progress_cancel_and_bad_refs() -> None:
    analysis = known_analysis("notes", "vertical edge", "horizontal edge", "identity")
    seen: list[tuple[int, int]] = []
    result = characterise(analysis, [(1, 2), FeatureRef(1, 0)], chunk=1, progress=lambda k, n: seen.append((k, n)))
    assert seen == [(1, 2), (2, 2)] and [m.index for m in result.maps] == [0, 2]
    calls = iter([False, False, True])
    stopped = characterise(analysis, None, chunk=1, cancelled=lambda: next(calls))
    assert stopped.cancelled and len(stopped.maps) == 1
    with pytest.raises(SelectionError, match="feature 3 is out of range"):
        characterise(analysis, [(1, 3)])
    with pytest.raises(SelectionError, match="layer 2 is out of range"):
        characterise(analysis, [(2, 0)])


def test_every_map_of_a_random_model_on_a_file(small_model, wav_file: Path) -> None:
    analysis = Analysis(load_audio(wav_file, SR), small_model, device="cpu")
    base = baseline_of(analysis)
    assert len(base.onsets) == 6  # chord_clip: notes every 0.5 s from 0.1 s in 3 s
    result = characterise(analysis, [(layer, k) for layer in (1, 3) for k in range(8)])
    assert len(result.maps) == 16 and result.seconds_per_map > 0
    for m in result.maps:
        f = m.figures
        assert 0 <= f.low_share <= 1 and 0 <= f.percussive_share <= 1 and 0 <= f.pitch_salience <= 1
        assert 0 <= f.sparsity <= 1 and -1 <= f.onset_corr <= 1 and f.centroid_hz >= 0 and m.seconds > 0
    json.dumps(result.to_dict(), allow_nan=False)


def test_a_long_clip_measured_in_windows_is_their_length_weighted_mean(small_model: Model, wav_file: Path) -> None:
    """combine_windows (how the CLI characterises a streamed clip): each figure is the mean over the windows
    weighted by their seconds; changes and tags follow from those means; one window is returned as it is."""
    from app.core.characterise import Changes, combine_windows

    whole = load_audio(wav_file, small_model.front_end.sample_rate)
    cut = int(0.6 * whole.samples.shape[-1])
    parts = [whole.samples[:cut], whole.samples[cut:]]
    windows = [Clip(whole.path, whole.sha256, p, whole.sample_rate, p[None], whole.sample_rate) for p in parts]
    refs = [FeatureRef(1, 0), FeatureRef(2, 3)]
    results = [characterise(Analysis(w, small_model), refs) for w in windows]
    seconds = [w.duration for w in windows]
    assert combine_windows(results[:1], seconds[:1]) is results[0]
    combined = combine_windows(results, seconds)
    assert combined.refs() == [(1, 0), (2, 3)] and len(combined.baselines) == 1
    weights = np.array(seconds) / sum(seconds)
    for m in combined.maps:
        per = [next(x for x in r.maps if (x.layer, x.index) == (m.layer, m.index)) for r in results]
        expected = weights[0] * per[0].figures.centroid_hz + weights[1] * per[1].figures.centroid_hz
        assert m.figures.centroid_hz == pytest.approx(expected, rel=1e-9)
        assert m.changes == Changes.between(m.figures, combined.baselines[0].figures)
    onsets = combined.baselines[0].onsets
    assert len(onsets) == sum(len(r.baselines[0].onsets) for r in results)
    assert np.all(np.diff(onsets) >= 0) and onsets[-1] <= whole.duration
