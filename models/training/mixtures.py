"""Random ensembles for a multi-label instrument tagger: 1-4 parts, each from a different tag.

The parts share a key, tempo and chord progression so a mixture sounds like music rather than a collision,
and each part is a short line or pattern typical of its instrument. Levels differ by at most 6 dB, so every
tag present is audible.
"""

from __future__ import annotations

import numpy as np

from models.training import drums, parts
from models.training.arrangement import Arrangement, assemble
from models.training.music import (
    MAJOR,
    NATURAL_MINOR,
    Chord,
    Key,
    Metre,
    PartWriter,
    bars_for,
    choose,
    melody,
    progression,
)
from models.training.styles import BUSY_4, CELLS_4, POP_MAJOR, POP_MINOR, SLOW_4

TAGS: tuple[str, ...] = ("piano", "voice", "drums", "bass", "guitar", "strings", "brass", "synth")

# General MIDI programs (bank 0) per tag; for drums, kits in bank 128.
TAG_PROGRAMS: dict[str, tuple[int, ...]] = {
    "piano": (0, 1, 2, 3, 4),
    "voice": (52, 53, 54),
    "drums": (0, 8, 16, 24, 25, 32, 40),
    "bass": (32, 33, 34, 35, 36, 37, 38, 39),
    "guitar": (24, 25, 26, 27, 28, 29, 30),
    "strings": (40, 41, 42, 44, 45, 48, 49),
    "brass": (56, 57, 58, 59, 60, 61),
    "synth": (50, 62, 80, 81, 84, 87, 88, 89, 90, 94, 95),
}

# Where each instrument sounds natural [MIDI pitch]; tags' defaults, then per-program exceptions.
_REGISTER = {
    "piano": (55, 84),
    "voice": (55, 76),
    "bass": (28, 50),
    "guitar": (52, 79),
    "strings": (55, 84),
    "brass": (55, 79),
    "synth": (57, 84),
}
_PROGRAM_REGISTER = {41: (50, 76), 42: (40, 64), 45: (43, 67), 57: (40, 65), 58: (28, 50), 60: (45, 70)}
_PADS = (50, 62, 88, 89, 90, 94, 95)


def _drum_part(w: PartWriter, rng: np.random.Generator, n_bars: int) -> None:
    kit = w.instrument.program
    if kit in (drums.KIT_JAZZ, drums.KIT_BRUSH):
        drums.jazz(w, rng, n_bars)
    elif kit in (drums.KIT_ELECTRONIC, drums.KIT_808):
        choose(rng, [drums.four_on_the_floor, drums.half_time])(w, rng, n_bars)
    else:
        choose(rng, [drums.rock, drums.half_time, drums.latin], [0.6, 0.25, 0.15])(w, rng, n_bars)


def _pitched_part(
    tag: str, w: PartWriter, rng: np.random.Generator, key: Key, chords: list[Chord], metre: Metre, n_bars: int
) -> None:
    program = w.instrument.program
    low, high = _PROGRAM_REGISTER.get(program, _REGISTER[tag])
    vel = float(rng.uniform(70, 100))
    if tag == "piano":
        parts.piano_accompaniment(
            w, rng, chords, choose(rng, ["alberti", "arpeggio", "block", "pulse"]), 48, 64, vel - 10
        )
        if rng.random() < 0.5:
            parts.write_line(w, melody(rng, key, chords, metre, n_bars, 62, 84, CELLS_4), vel)
    elif tag == "voice":
        parts.write_line(w, melody(rng, key, chords, metre, n_bars, low, high, SLOW_4 + CELLS_4[:4]), vel, legato=1.02)
    elif tag == "bass":
        figure = choose(rng, ["root8", "root_fifth", "walking", "offbeat", "rolling", "tumbao", "sparse"])
        parts.bass_line(w, rng, chords, figure, low, high, vel, key=key)
    elif tag == "guitar":
        if program in (29, 30):
            parts.power_chords(w, rng, chords, 40, vel)
        elif program in (24, 25) and rng.random() < 0.7:
            parts.strum(w, rng, chords, vel)
        elif rng.random() < 0.5:
            parts.arpeggio(w, rng, chords, 48, 72, vel, step=0.5)
        else:
            parts.write_line(w, melody(rng, key, chords, metre, n_bars, low, high, CELLS_4 + BUSY_4), vel)
    elif tag in ("strings", "brass", "synth"):
        if program == 45 or (tag == "synth" and rng.random() < 0.3):
            parts.arpeggio(w, rng, chords, low, high, vel, step=choose(rng, [0.25, 0.5]))
        elif program in _PADS or program == 44 or rng.random() < 0.4:
            parts.pad(w, rng, chords, max(low, 48), min(high, 76), vel)
        elif tag == "brass" and rng.random() < 0.5:
            stabs = [(0, 0.4), (1.5, 0.4), (3, 0.9)]
            for chord in chords:
                v = parts.voicing(chord.pcs, max(low, 50), min(high, 74), rng)
                for t, d in stabs:
                    for p in v:
                        w.note(p, chord.start + t, d, vel)
        else:
            parts.write_line(w, melody(rng, key, chords, metre, n_bars, low, high, CELLS_4 + SLOW_4), vel, legato=1.02)
    else:
        raise ValueError(f"unknown tag {tag!r}")


def compose_mixture(rng: np.random.Generator, seconds: float) -> tuple[Arrangement, frozenset[str]]:
    """1-4 distinct tags, one part each, on a shared key, tempo and progression; returns the arrangement
    and the tags it contains."""
    n_parts = int(rng.integers(1, 5))
    tags = [TAGS[i] for i in sorted(rng.choice(len(TAGS), n_parts, replace=False))]
    swing = float(rng.uniform(0.6, 0.67)) if rng.random() < 0.2 else 0.5
    metre = Metre(float(rng.uniform(70, 150)), 4, swing=swing)
    n_bars = bars_for(seconds, metre)
    minor = rng.random() < 0.4
    key = Key(int(rng.integers(12)), NATURAL_MINOR if minor else MAJOR)
    degrees = choose(rng, POP_MINOR if minor else POP_MAJOR)
    chords = progression(key, degrees, n_bars, metre.beats_per_bar, size=4 if swing > 0.5 else 3)
    mix = []
    for tag in tags:
        programs = TAG_PROGRAMS[tag]
        if tag == "drums" and swing > 0.5:
            programs = (drums.KIT_JAZZ, drums.KIT_BRUSH)
        w = PartWriter(
            tag, choose(rng, programs), metre, rng, is_drum=tag == "drums", timing_jitter=0.005, velocity_jitter=5
        )
        if tag == "drums":
            _drum_part(w, rng, n_bars)
        else:
            _pitched_part(tag, w, rng, key, chords, metre, n_bars)
        mix.append((w, (-6.0, 0.0)))
    return assemble(metre, mix, rng, (0.3, 1.5), (-18, -8)), frozenset(tags)
