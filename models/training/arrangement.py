"""An `Arrangement`: a composed score plus how to mix it, the hand-over from composers to the renderer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pretty_midi

from models.training.music import Metre, PartWriter


@dataclass(frozen=True)
class Arrangement:
    """A score with one instrument per part, the parts' levels [dB, active RMS re 0.1] in instrument order,
    and the room: reverberation time `rt60` [s] and wet level `wet_db` [dB re dry]."""

    score: pretty_midi.PrettyMIDI
    gains_db: tuple[float, ...]
    rt60: float
    wet_db: float


def assemble(
    metre: Metre,
    parts_and_gains: Sequence[tuple[PartWriter, tuple[float, float]]],
    rng: np.random.Generator,
    rt60: tuple[float, float],
    wet_db: tuple[float, float],
) -> Arrangement:
    """Collect the parts into one score, drawing each part's level and the room from the given ranges."""
    score = pretty_midi.PrettyMIDI(initial_tempo=metre.tempo)
    score.time_signature_changes.append(pretty_midi.TimeSignature(metre.beats_per_bar, 4, 0.0))
    gains = []
    for writer, (lo, hi) in parts_and_gains:
        score.instruments.append(writer.instrument)
        gains.append(float(rng.uniform(lo, hi)))
    return Arrangement(score, tuple(gains), float(rng.uniform(*rt60)), float(rng.uniform(*wet_db)))
