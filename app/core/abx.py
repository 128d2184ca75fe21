"""Blind A/B/X trials: can a listener tell a feature's auralisation from the original? No Qt, no torch.

A is always the original and B the feature (the transport's A/B convention), both played at gains that make
them equally loud (`app.core.loudness.match_pair`: the louder side is turned down, nothing is capped short), so
that level is not the cue. A trial refuses to exist when the measured difference exceeds
`app.core.loudness.TOLERANCE_LU`: a script that listens only to the level must not be able to pass it.

Before each trial X is drawn as A or B by an independent fair coin from a
seeded generator, so under "cannot hear a difference" the number of correct answers is Binomial(n, 1/2) and
the one-sided exact binomial p-value is the chance of scoring at least as well by guessing.

The window runs an :class:`AbxTrial`: it asks :meth:`AbxTrial.source` what to play for A, B and X, records
each answer with :meth:`AbxTrial.answer`, and stores :meth:`AbxTrial.result` in the session.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from app.core.loudness import TOLERANCE_LU
from app.core.types import AbxAnswer, AbxResult, Choice, binomial_p_value

DEFAULT_TRIALS = 10


def matched_gain_db(feature: np.ndarray, original: np.ndarray, sample_rate: int) -> float:
    """Gain in dB that brings ``feature`` to ``original``'s BS.1770 loudness (the core's loudness matching)."""
    from app.core.loudness import loudness_lufs, matching_gain_db

    return matching_gain_db(loudness_lufs(feature, sample_rate), loudness_lufs(original, sample_rate))


class LevelMismatchError(ValueError):
    """A and B cannot be played equally loud (within the tolerance): a blind test would be decided by level."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot start a blind A/B/X test: {reason}")
        self.reason = reason


@dataclass(eq=False)
class AbxTrial:
    """A running A/B/X test on one map. ``seed`` fixes the sequence of X (drawn fresh when None).

    ``gain_db`` is applied to B (and to X when X is B), ``gain_a_db`` to A (and X-as-A).
    ``level_difference_lu`` is the loudness difference measured between A and B as played (see
    `app.core.loudness.PairMatch`); above ``tolerance_lu`` (or not finite) the trial refuses to exist
    (`LevelMismatchError`). None means "not measured" (only for tests of the trial logic).
    """

    layer: int
    index: int
    clip_sha256: str
    clip_name: str = ""
    trials: int = DEFAULT_TRIALS
    seed: int | None = None
    gain_db: float = 0.0
    mode: str = "choi"
    loop: tuple[float, float] | None = None
    answers: list[AbxAnswer] = field(default_factory=list)
    gain_a_db: float = 0.0
    level_difference_lu: float | None = None
    tolerance_lu: float = TOLERANCE_LU

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ValueError(f"an A/B/X test needs at least one trial, got {self.trials}")
        diff = self.level_difference_lu
        if diff is not None and not (math.isfinite(diff) and abs(diff) <= self.tolerance_lu):
            raise LevelMismatchError(
                f"A and B differ by {diff:.1f} LU as played, more than the {self.tolerance_lu:g} LU a blind test allows"
            )
        if self.seed is None:
            self.seed = secrets.randbits(32)
        draws = np.random.default_rng(self.seed).integers(0, 2, size=self.trials)
        self._sequence = tuple(Choice.B if d else Choice.A for d in draws)

    @property
    def number(self) -> int:
        """The trial being played, from 0 (== ``trials`` once finished)."""
        return len(self.answers)

    @property
    def finished(self) -> bool:
        return self.number >= self.trials

    @property
    def sequence(self) -> tuple[Choice, ...]:
        """What X is in each trial (for tests and for revealing after the run, never during it)."""
        return self._sequence

    def source(self, button: str) -> tuple[Choice, float]:
        """What to play for ``"A"``, ``"B"`` or ``"X"`` in the current trial: (original or feature, gain in dB)."""
        if self.finished:
            raise RuntimeError("the A/B/X test is finished")
        which = {"A": Choice.A, "B": Choice.B, "X": self._sequence[self.number]}.get(button.upper())
        if which is None:
            raise ValueError(f"unknown A/B/X button {button!r}: use 'A', 'B' or 'X'")
        return which, (self.gain_db if which is Choice.B else self.gain_a_db)

    def answer(self, choice: Choice | str, seconds: float | None = None) -> bool:
        """Record the listener's answer for the current trial ("X is A" or "X is B"); True when right."""
        if self.finished:
            raise RuntimeError("the A/B/X test is finished")
        record = AbxAnswer(self._sequence[self.number], Choice(choice), seconds)
        self.answers.append(record)
        return record.correct

    @property
    def correct(self) -> int:
        return sum(a.correct for a in self.answers)

    @property
    def p_value(self) -> float:
        return binomial_p_value(self.correct, len(self.answers)) if self.answers else 1.0

    def result(self) -> AbxResult:
        """The run so far as a value to store in the session (``trials`` may be short if abandoned)."""
        assert self.seed is not None
        return AbxResult(
            layer=self.layer,
            index=self.index,
            clip_sha256=self.clip_sha256,
            clip_name=self.clip_name,
            seed=self.seed,
            planned_trials=self.trials,
            gain_db=round(float(self.gain_db), 4),
            gain_a_db=round(float(self.gain_a_db), 4),
            level_difference_lu=None if self.level_difference_lu is None else round(float(self.level_difference_lu), 4),
            mode=self.mode,
            loop=self.loop,
            answers=tuple(self.answers),
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
