"""A/B/X trial logic: exact binomial p-values against known values, seeded sequences, what plays, the gain."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from app.core.abx import AbxTrial, Choice, binomial_p_value, matched_gain_db


@pytest.mark.parametrize(
    "correct,trials,expected",
    [
        (9, 10, 11 / 1024),  # 0.0107
        (10, 10, 1 / 1024),
        (8, 10, 56 / 1024),  # 0.0547: not significant at 5 %
        (5, 10, 638 / 1024),
        (0, 10, 1.0),
        (12, 16, 2517 / 65536),  # 0.0384
        (1, 1, 0.5),
    ],
)
def test_binomial_p_value_known_values(correct: int, trials: int, expected: float) -> None:
    assert binomial_p_value(correct, trials) == pytest.approx(expected, rel=1e-12)


def test_binomial_p_value_matches_scipy_on_a_grid() -> None:
    for n in (1, 7, 20, 60):
        for k in range(n + 1):
            for chance in (0.5, 0.3):
                ours = binomial_p_value(k, n, chance)
                theirs = binomtest(k, n, chance, alternative="greater").pvalue
                assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-15)
    assert f"{binomial_p_value(9, 10):.4f}" == "0.0107"


@pytest.mark.parametrize("args", [(11, 10), (-1, 10), (3, 10, 1.0)])
def test_binomial_p_value_rejects_nonsense(args: tuple) -> None:
    with pytest.raises(ValueError):
        binomial_p_value(*args)


def test_sequence_is_seeded_and_both_sides_occur() -> None:
    a = AbxTrial(1, 0, "0" * 64, trials=40, seed=2015)
    b = AbxTrial(1, 0, "0" * 64, trials=40, seed=2015)
    c = AbxTrial(1, 0, "0" * 64, trials=40, seed=2016)
    assert a.sequence == b.sequence != c.sequence
    assert 10 <= sum(x is Choice.B for x in a.sequence) <= 30
    fresh = AbxTrial(1, 0, "0" * 64)
    assert isinstance(fresh.seed, int) and len(fresh.sequence) == 10  # a seed is drawn and recorded


def test_what_plays_for_a_b_and_x_and_the_score() -> None:
    trial = AbxTrial(3, 12, "f" * 64, "full_band.wav", trials=10, seed=5, gain_db=7.5)
    assert trial.source("A") == (Choice.A, 0.0)
    assert trial.source("b") == (Choice.B, 7.5)
    for i, x in enumerate(trial.sequence):
        which, gain = trial.source("X")
        assert which is x and gain == (7.5 if x is Choice.B else 0.0)
        wrong = Choice.A if x is Choice.B else Choice.B
        assert trial.answer(wrong if i == 0 else x) is (i != 0)
    assert trial.finished and (trial.correct, trial.number) == (9, 10)
    assert trial.p_value == pytest.approx(0.0107421875)
    with pytest.raises(RuntimeError, match="finished"):
        trial.answer("A")
    result = trial.result()
    assert (result.layer, result.index, result.trials, result.correct, result.planned_trials) == (3, 12, 10, 9, 10)
    assert result.to_dict()["p_value"] == pytest.approx(0.0107421875)


def test_abandoned_run_keeps_what_was_answered() -> None:
    trial = AbxTrial(1, 1, "0" * 64, trials=20, seed=1)
    for x in trial.sequence[:6]:
        trial.answer(x)
    result = trial.result()
    assert (result.trials, result.correct, result.planned_trials) == (6, 6, 20)
    assert result.p_value == pytest.approx(1 / 64)


def test_matched_gain_uses_the_cores_loudness() -> None:
    rng = np.random.default_rng(0)
    sr = 11025
    original = (0.1 * rng.standard_normal(2 * sr)).astype(np.float32)
    feature = (original * 10 ** (-12 / 20)).astype(np.float32)
    assert matched_gain_db(feature, original, sr) == pytest.approx(12.0, abs=0.01)
    assert matched_gain_db(np.zeros(2 * sr, np.float32), original, sr) == 0.0  # silence: no gain, not +inf
    assert not math.isnan(matched_gain_db(feature[:100], original[:100], sr))
