"""Loudness measured on the worker when the audio is too long to measure on the GUI thread (about 0.15 s of CPU
per minute): slot A's level for loudness matching, and A/B's matched gains before a blind test."""

from __future__ import annotations

import numpy as np

from app.core.abx import LevelMismatchError
from app.core.loudness import Level, PairMatch, match_pair
from app.ui.jobs.handle import JobHandle, submit_job
from app.ui.worker import LEVEL, LOUDNESS, ComputeWorker


def start_level(worker: ComputeWorker, audio: np.ndarray, sample_rate: int, owner: set[JobHandle]) -> JobHandle:
    """``finished(Level)`` of mono ``audio`` ``[shape=(n,)]`` at ``sample_rate`` Hz."""
    handle = JobHandle(LEVEL)  # not LOUDNESS: a pair match must not cancel slot A's level, nor the reverse
    return submit_job(worker, handle, lambda progress, cancelled: Level.of(audio, sample_rate), owner=owner)


def start_pair_match(
    worker: ComputeWorker, a: np.ndarray, b: np.ndarray, sample_rate: int, owner: set[JobHandle]
) -> JobHandle:
    """``finished(PairMatch | LevelMismatchError)``: gains making ``a`` and ``b`` (mono, same rate) equally loud,
    or why they cannot be (a value, not a failure: the view says it in the listener's words)."""
    handle = JobHandle(LOUDNESS)

    def body(progress, cancelled) -> PairMatch | LevelMismatchError:
        try:
            return match_pair(a, b, sample_rate)
        except LevelMismatchError as err:
            return err

    return submit_job(worker, handle, body, busy_text="Matching A and B's loudness…", owner=owner)
