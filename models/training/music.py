"""The music theory the composers share: keys and diatonic chords, metre with swing, voicings, melodies.

Positions are in beats from the start of the piece; `Metre.seconds` is the only place beats become seconds,
so swing and tempo are applied once. Pitches are MIDI note numbers (60 = middle C).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pretty_midi

T = TypeVar("T")

MAJOR = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR = (0, 2, 3, 5, 7, 8, 10)
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)
MIXOLYDIAN = (0, 2, 4, 5, 7, 9, 10)
DORIAN = (0, 2, 3, 5, 7, 9, 10)


@dataclass(frozen=True)
class Key:
    """A tonic pitch class (0 = C) and a seven-note scale in semitones above it."""

    tonic: int
    scale: tuple[int, ...]

    def pitch_class(self, degree: int) -> int:
        """Pitch class of scale `degree` (0-based, any integer: 7 is the tonic an octave up)."""
        return (self.tonic + self.scale[degree % len(self.scale)]) % 12

    def chord(self, degree: int, size: int = 3) -> tuple[int, ...]:
        """Pitch classes of the diatonic chord on `degree`, stacked in thirds, root first."""
        return tuple(self.pitch_class(degree + 2 * i) for i in range(size))

    def scale_pitches(self, low: int, high: int) -> list[int]:
        """All scale notes in [low, high], ascending."""
        classes = {self.pitch_class(d) for d in range(len(self.scale))}
        return [p for p in range(low, high + 1) if p % 12 in classes]


@dataclass(frozen=True)
class Chord:
    """A chord's pitch classes (root first) and its span [start, end) in beats."""

    pcs: tuple[int, ...]
    start: float
    end: float

    @property
    def root(self) -> int:
        return self.pcs[0]


@dataclass(frozen=True)
class Metre:
    """Tempo [beats per minute], beats per bar, and swing: where the off-beat eighth falls, as a fraction
    of the beat (0.5 straight, ~0.66 triplet swing)."""

    tempo: float
    beats_per_bar: int = 4
    swing: float = 0.5

    @property
    def beat_seconds(self) -> float:
        return 60.0 / self.tempo

    @property
    def bar_seconds(self) -> float:
        return self.beats_per_bar * self.beat_seconds

    def seconds(self, beats: float) -> float:
        """Time [s] of position `beats`, swing stretching the first half of each beat."""
        whole = np.floor(beats)
        frac = beats - whole
        warped = frac * 2 * self.swing if frac <= 0.5 else self.swing + (frac - 0.5) * 2 * (1 - self.swing)
        return float((whole + warped) * self.beat_seconds)


def choose(rng: np.random.Generator, options: Sequence[T], weights: Sequence[float] | None = None) -> T:
    """One of `options`, with probabilities proportional to `weights` (uniform without)."""
    p = None if weights is None else np.asarray(weights, float) / np.sum(weights)
    return options[int(rng.choice(len(options), p=p))]


def progression(
    key: Key, degrees: Sequence[int], n_bars: int, beats_per_bar: int, *, chords_per_bar: int = 1, size: int = 3
) -> list[Chord]:
    """Diatonic chords on `degrees`, cycled to fill `n_bars`, `chords_per_bar` chords in each bar."""
    length = beats_per_bar / chords_per_bar
    return [
        Chord(key.chord(degrees[i % len(degrees)], size), i * length, (i + 1) * length)
        for i in range(n_bars * chords_per_bar)
    ]


def chord_at(chords: Sequence[Chord], beat: float) -> Chord:
    """The chord sounding at `beat` (the last one if past the end)."""
    for chord in chords:
        if chord.start <= beat < chord.end:
            return chord
    return chords[-1]


def pitches_of(pcs: Sequence[int], low: int, high: int) -> list[int]:
    """Every pitch in [low, high] whose pitch class is in `pcs`, ascending."""
    wanted = {pc % 12 for pc in pcs}
    return [p for p in range(low, high + 1) if p % 12 in wanted]


def nearest(pitches: Sequence[int], target: float) -> int:
    return min(pitches, key=lambda p: (abs(p - target), p))


def voicing(
    pcs: Sequence[int], low: int, high: int, rng: np.random.Generator, *, previous: Sequence[int] | None = None
) -> list[int]:
    """A close-position voicing of `pcs` (every class once) inside [low, high].

    Without `previous` the inversion is random; with it, the inversion nearest to it (voice leading).
    """
    candidates = []
    for lowest in pitches_of(pcs, low, min(high, low + 11)):
        notes = [lowest]
        order = list(pcs)
        first = order.index(lowest % 12) if lowest % 12 in order else 0
        for pc in order[first + 1 :] + order[:first]:
            nxt = notes[-1] + 1
            while nxt % 12 != pc % 12:
                nxt += 1
            notes.append(nxt)
        if notes[-1] <= high:
            candidates.append(notes)
    if not candidates:
        return [nearest(pitches_of([pc], low, high + 12), (low + high) / 2) for pc in pcs]
    if previous:
        centre = float(np.mean(previous))
        return min(candidates, key=lambda v: abs(float(np.mean(v)) - centre))
    return candidates[int(rng.integers(len(candidates)))]


class PartWriter:
    """Collects one part's notes and controller moves in beats and turns them into a pretty_midi Instrument.

    `timing_jitter` [s] and `velocity_jitter` humanise every note (Gaussian, seeded by `rng`).
    """

    def __init__(
        self,
        name: str,
        program: int,
        metre: Metre,
        rng: np.random.Generator,
        *,
        is_drum: bool = False,
        timing_jitter: float = 0.0,
        velocity_jitter: float = 0.0,
    ) -> None:
        self.metre = metre
        self._rng = rng
        self._jitter = timing_jitter
        self._vel_jitter = velocity_jitter
        self.instrument = pretty_midi.Instrument(program=program, is_drum=is_drum, name=name)

    def note(self, pitch: int, beat: float, length: float, velocity: float, *, offset: float = 0.0) -> None:
        """A note at `beat` lasting `length` beats; `offset` [s] shifts it without jitter (strums)."""
        start = self.metre.seconds(beat) + offset
        end = self.metre.seconds(beat + length) + offset
        if self._jitter:
            shift = float(self._rng.normal(0.0, self._jitter))
            start, end = start + shift, end + shift
        start = max(start, 0.0)
        end = max(end, start + 0.02)
        vel = velocity + (float(self._rng.normal(0.0, self._vel_jitter)) if self._vel_jitter else 0.0)
        vel = int(np.clip(round(vel), 1, 127))
        self.instrument.notes.append(pretty_midi.Note(vel, int(pitch), start, end))

    def control(self, beat: float, number: int, value: int) -> None:
        time = max(self.metre.seconds(beat), 0.0)
        self.instrument.control_changes.append(pretty_midi.ControlChange(number, int(value), time))

    def pedal(self, chords: Sequence[Chord]) -> None:
        """Sustain pedal down with each chord, lifted just before the next (legato pedalling)."""
        for chord in chords:
            self.control(chord.start + 0.05, 64, 127)
            self.control(chord.end - 0.08, 64, 0)


def melody(
    rng: np.random.Generator,
    key: Key,
    chords: Sequence[Chord],
    metre: Metre,
    n_bars: int,
    low: int,
    high: int,
    cells: Sequence[Sequence[float]],
    *,
    rest_prob: float = 0.1,
    leap_prob: float = 0.15,
) -> list[tuple[int, float, float]]:
    """A singable line: (pitch, start beat, length in beats) triples.

    Each bar takes a rhythm cell (durations in beats summing to a bar); bars come in two-bar phrases that
    reuse their rhythm, which is what makes a line sound composed rather than random. Notes on strong beats
    are chord tones near the previous pitch, others move by step, sometimes by a leap; the last note of a
    phrase is held.
    """
    scale = key.scale_pitches(low, high)
    pitch = nearest(scale, (low + high) / 2 + rng.integers(-3, 4))
    notes: list[tuple[int, float, float]] = []
    phrase_cells = [cells[int(rng.integers(len(cells)))] for _ in range(2)]
    for bar in range(n_bars):
        if bar % 4 == 0:
            phrase_cells = [cells[int(rng.integers(len(cells)))] for _ in range(2)]
        cell = phrase_cells[bar % 2]
        beat = bar * metre.beats_per_bar
        for i, length in enumerate(cell):
            last_of_phrase = bar % 2 == 1 and i == len(cell) - 1
            if i > 0 and not last_of_phrase and rng.random() < rest_prob:
                beat += length
                continue
            chord = chord_at(chords, beat)
            strong = abs(beat - round(beat)) < 1e-6 and round(beat) % 2 == 0
            if strong or last_of_phrase:
                tones = pitches_of(chord.pcs, low, high)
                step = int(rng.integers(-4, 5))
                pitch = nearest(tones, pitch + step)
            elif rng.random() < leap_prob:
                idx = scale.index(nearest(scale, pitch)) + int(rng.choice([-4, -3, 3, 4]))
                pitch = scale[int(np.clip(idx, 0, len(scale) - 1))]
            else:
                idx = scale.index(nearest(scale, pitch)) + int(rng.choice([-2, -1, -1, 1, 1, 2]))
                if idx < 0 or idx >= len(scale):
                    idx = scale.index(nearest(scale, pitch)) - int(np.sign(idx))
                pitch = scale[int(np.clip(idx, 0, len(scale) - 1))]
            notes.append((pitch, beat, length))
            beat += length
    return notes


def bars_for(seconds: float, metre: Metre) -> int:
    """Whole bars covering `seconds` plus one bar of slack for the random clip start."""
    return int(np.ceil(seconds / metre.bar_seconds)) + 1
