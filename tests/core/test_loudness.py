"""Honest loudness matching: A and B at one loudness, neither above full scale, never one side capped short."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
from needs import real_material

from app.core.abx import AbxTrial, LevelMismatchError
from app.core.loudness import (
    CEILING_DBFS,
    TOLERANCE_LU,
    Level,
    apply_gain,
    common_gains,
    loudness_lufs,
    match_pair,
    peak_dbfs,
    segment_loudness_lufs,
)

FULL_SCALE_CEILING = 10 ** (CEILING_DBFS / 20)


def test_a_quiet_peaky_rendering_turns_the_original_down_instead_of_being_capped() -> None:
    a = Level(loudness_lufs=-20.0, peak_dbfs=-3.0)
    b = Level(loudness_lufs=-26.0, peak_dbfs=+6.0)  # 6 LU quieter than A, yet peaks 6 dB over full scale
    gains = common_gains({"A": a, "B": b}, "A")
    # B can rise at most -6.1 dB (to its ceiling), so the common level is -26 - 6.1 = -32.1 LUFS
    assert gains["B"] == pytest.approx(-6.1)
    assert gains["A"] == pytest.approx(-12.1)
    assert a.loudness_lufs + gains["A"] == pytest.approx(b.loudness_lufs + gains["B"])
    assert b.peak_dbfs + gains["B"] == pytest.approx(CEILING_DBFS)


def test_a_quiet_rendering_with_room_is_raised_to_the_original() -> None:
    gains = common_gains({"A": Level(-20.0, -3.0), "B": Level(-30.0, -20.0)}, "A")
    assert gains == {"A": pytest.approx(0.0), "B": pytest.approx(10.0)}


def test_a_louder_rendering_is_turned_down_to_the_original() -> None:
    gains = common_gains({"A": Level(-20.0, -3.0), "B": Level(-14.0, +2.0)}, "A")
    assert gains == {"A": pytest.approx(0.0), "B": pytest.approx(-6.0)}


def test_three_sources_share_one_level_set_by_the_one_with_least_room() -> None:
    levels = {"A": Level(-20.0, -1.0), "B": Level(-25.0, -10.0), "R": Level(-22.0, +4.0)}
    gains = common_gains(levels, "A")
    played = {k: levels[k].loudness_lufs + g for k, g in gains.items()}
    assert max(played.values()) - min(played.values()) == pytest.approx(0.0, abs=1e-12)
    assert played["A"] == pytest.approx(-22.0 - 4.1)  # R's room: -22 + (-0.1 - 4)
    assert all(levels[k].peak_dbfs + g <= CEILING_DBFS + 1e-9 for k, g in gains.items())


def test_without_matching_or_measurable_loudness_only_clipping_is_prevented() -> None:
    levels = {"A": Level(-20.0, -3.0), "B": Level(-26.0, 6.0)}
    assert common_gains(levels, "A", match=False) == {"A": 0.0, "B": pytest.approx(-6.1)}
    silent_a = {"A": Level(-math.inf, -math.inf), "B": Level(-26.0, 6.0)}
    assert common_gains(silent_a, "A") == {"A": 0.0, "B": pytest.approx(-6.1)}
    silent_b = {"A": Level(-20.0, 1.0), "B": Level(-math.inf, -math.inf)}
    assert common_gains(silent_b, "A") == {"A": pytest.approx(-1.1), "B": 0.0}


def test_a_silent_or_too_short_side_cannot_be_matched_and_says_why() -> None:
    sr = 22050
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(2 * sr) / sr)).astype(np.float32)
    silent = match_pair(tone, np.zeros_like(tone), sr)
    assert not silent.matched() and "B (the feature) is silent" in (silent.problem() or "")
    short = match_pair(tone[: sr // 40], tone[: sr // 40], sr)  # 25 ms
    assert not short.matched() and "too short" in (short.problem() or "")


def test_a_loop_shorter_than_the_bs1770_block_is_still_measured() -> None:
    sr = 48000
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(2 * sr) / sr)).astype(np.float32)
    whole = loudness_lufs(tone, sr)
    for seconds in (0.3, 0.1, 0.06):
        assert segment_loudness_lufs(tone[: round(seconds * sr)], sr) == pytest.approx(whole, abs=0.05)
    match = match_pair(tone[: round(0.3 * sr)], 0.5 * tone[: round(0.3 * sr)], sr)
    assert match.matched() and match.gain_b_db == pytest.approx(20 * math.log10(2), abs=0.01)


@functools.cache
def _real_rendering() -> tuple[np.ndarray, np.ndarray, int, str]:
    """The original and a raw rendering from the bundled genre model on a real trumpet recording."""
    from app.core.analysis import Analysis, FeatureRef
    from app.core.audio import load_audio
    from app.core.model import load_model

    song = real_material("songs/sorohanro_-_solo-trumpet-06.hq.ogg")
    model = load_model(Path(__file__).resolve().parents[2] / "models" / "choi2015-genre.safetensors")
    clip = load_audio(song, model.front_end.sample_rate)
    rendering = Analysis(clip, model, device="cpu").render(FeatureRef(1, 18))
    return clip.samples, rendering.audio, clip.sample_rate, song.name


@pytest.mark.parametrize("device_rate", [None, 48000])
def test_a_real_rendering_above_full_scale_is_matched_within_half_a_lu_without_clipping(device_rate) -> None:
    from app.core.resampling import resample

    a, b, sr, name = _real_rendering()
    if device_rate is not None:  # as the transport plays them: resampled to the device (inter-sample peaks)
        a, b, sr = resample(a, sr, device_rate), resample(b, sr, device_rate), device_rate
    raw_a, raw_b = Level.of(a, sr), Level.of(b, sr)
    assert raw_b.peak_dbfs > 3.0, f"L1F18 of {name} peaks at {raw_b.peak_dbfs:+.1f} dBFS"
    # the old way (B raised to A, then capped at its ceiling) leaves B well short: the bug this guards against
    capped = min(raw_a.loudness_lufs - raw_b.loudness_lufs, CEILING_DBFS - raw_b.peak_dbfs)
    old_short = raw_a.loudness_lufs - loudness_lufs(apply_gain(b, capped), sr)
    assert old_short > 2.0

    match = match_pair(a, b, sr)
    played_a, played_b = apply_gain(a, match.gain_a_db), apply_gain(b, match.gain_b_db)
    diff = abs(loudness_lufs(played_a, sr) - loudness_lufs(played_b, sr))
    print(
        f"\n{name} L1F18 at {sr} Hz: A {raw_a.loudness_lufs:.1f} LUFS / {raw_a.peak_dbfs:+.1f} dBFS, "
        f"B {raw_b.loudness_lufs:.1f} LUFS / {raw_b.peak_dbfs:+.1f} dBFS; capped B was {old_short:.1f} LU short; "
        f"now {match.describe()}"
    )
    assert match.matched() and match.problem() is None
    assert diff <= TOLERANCE_LU and match.difference_lu == pytest.approx(diff, abs=1e-9)
    assert float(np.max(np.abs(played_a))) <= FULL_SCALE_CEILING * (1 + 1e-6)
    assert float(np.max(np.abs(played_b))) <= FULL_SCALE_CEILING * (1 + 1e-6)
    assert match.gain_a_db < 0.0  # A turned down with B, not B capped short
    assert peak_dbfs(played_b) == pytest.approx(CEILING_DBFS, abs=0.01)  # B's peak sets the common level


def test_a_trial_refuses_to_start_when_a_and_b_are_not_equally_loud() -> None:
    with pytest.raises(LevelMismatchError, match=r"differ by 3\.8 LU"):
        AbxTrial(1, 18, "0" * 64, gain_db=-3.0, level_difference_lu=3.8)
    with pytest.raises(LevelMismatchError):
        AbxTrial(1, 18, "0" * 64, level_difference_lu=math.inf)
    trial = AbxTrial(1, 18, "0" * 64, trials=4, seed=3, gain_db=2.0, gain_a_db=-4.0, level_difference_lu=0.02)
    assert trial.source("A")[1] == -4.0 and trial.source("B")[1] == 2.0
    result = trial.result()
    assert (result.gain_a_db, result.gain_db, result.level_difference_lu) == (-4.0, 2.0, 0.02)
    assert result.to_dict()["level_difference_lu"] == 0.02
