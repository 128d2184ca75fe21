"""Eight styles that differ the way genres do: instrumentation, rhythm, tempo, register, harmony, room.

=================  ==========  ===========================================================================
style              tempo/bpm   parts
=================  ==========  ===========================================================================
solo_piano         60-120      piano: alberti / arpeggio / block / stride left hand, melody right hand, pedal
piano_ballad       58-84       piano arpeggios or pulsing chords + choir / "ooh" voice lead (sometimes 2 parts)
rock               100-160     kit (kick, backbeat snare, hats or ride, crash, fills), bass, distorted power chords
jazz_trio          100-220     swing: ride, hi-hat on 2 and 4, walking bass, rootless piano comping (+ a line)
electronic         118-132     four-on-the-floor 808 / electronic kit, synth bass, pad, sometimes an arpeggio
strings            56-116      string chorale, or melody over pizzicato or sustained strings; swells; winds
latin_percussion   90-125      clave, conga tumbao, bongos, cowbell, shaker, guiro, timbales; montuno, tumbao bass
folk               80-130      strummed steel / nylon guitar + voice-like lead (or harmonica, flute, fiddle)
=================  ==========  ===========================================================================

A composer takes a seeded generator and a length [s] and returns an `Arrangement`: the score (one
pretty_midi instrument per part), each part's level and the room to mix it in. Every choice (key, tempo,
figures, programs, levels) is drawn from the generator, so a seed fixes the clip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from models.training import drums, parts
from models.training.arrangement import Arrangement, assemble
from models.training.music import (
    HARMONIC_MINOR,
    MAJOR,
    MIXOLYDIAN,
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

CELLS_4 = [
    (1, 1, 1, 1),
    (2, 1, 1),
    (1, 1, 2),
    (1.5, 0.5, 2),
    (0.5, 0.5, 1, 2),
    (1, 0.5, 0.5, 1, 1),
    (3, 1),
    (2, 2),
    (0.5, 0.5, 0.5, 0.5, 2),
    (1.5, 0.5, 1, 1),
]
CELLS_3 = [(1, 1, 1), (2, 1), (1.5, 0.5, 1), (3,), (0.5, 0.5, 1, 1)]
SLOW_4 = [(2, 2), (3, 1), (1, 1, 2), (4,), (1.5, 0.5, 2), (2, 1, 1)]
SLOW_3 = [(2, 1), (3,), (1, 2)]
BUSY_4 = [(0.5,) * 8, (0.5, 0.5, 1, 0.5, 0.5, 1), (1, 0.5, 0.5, 0.5, 0.5, 1), (0.5, 0.5, 0.5, 0.5, 1, 1)]

POP_MAJOR = [(0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (0, 3, 0, 4), (0, 4, 3, 4)]
POP_MINOR = [(0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4)]
CLASSICAL = [(0, 3, 4, 0), (0, 5, 1, 4), (0, 5, 3, 4), (0, 1, 4, 0), (0, 4, 5, 2)]
JAZZ = [(1, 4, 0, 0), (0, 5, 1, 4), (2, 5, 1, 4), (0, 3, 1, 4), (1, 4, 0, 5)]


def _key(rng: np.random.Generator, scales: Sequence[tuple[int, ...]], weights: Sequence[float]) -> Key:
    return Key(int(rng.integers(12)), choose(rng, scales, weights))


def _progression(
    rng: np.random.Generator,
    key: Key,
    metre: Metre,
    n_bars: int,
    *,
    minor: bool,
    chords_per_bar: int = 1,
    size: int = 3,
    table: Sequence | None = None,
) -> list[Chord]:
    options = table if table is not None else (POP_MINOR if minor else POP_MAJOR)
    degrees = choose(rng, options)
    return progression(key, degrees, n_bars, metre.beats_per_bar, chords_per_bar=chords_per_bar, size=size)


def _swells(writers: Sequence[PartWriter], n_bars: int, bpb: int) -> None:
    """Expression (CC11) rising and falling over each two-bar phrase: strings breathe."""
    for w in writers:
        for step in range(n_bars * bpb * 2):
            beat = step / 2
            phase = (beat % (2 * bpb)) / (2 * bpb)
            w.control(beat, 11, int(80 + 40 * np.sin(np.pi * phase)))


def solo_piano(rng: np.random.Generator, seconds: float) -> Arrangement:
    waltz = rng.random() < 0.25
    metre = Metre(float(rng.uniform(60, 120)), 3 if waltz else 4)
    n_bars = bars_for(seconds, metre)
    minor = rng.random() < 0.4
    key = _key(rng, [HARMONIC_MINOR if minor else MAJOR], [1])
    per_bar = 2 if not waltz and metre.tempo < 80 and rng.random() < 0.5 else 1
    chords = _progression(
        rng, key, metre, n_bars, minor=minor, chords_per_bar=per_bar, table=CLASSICAL if rng.random() < 0.5 else None
    )
    program = choose(rng, [0, 1], [0.8, 0.2])
    left = PartWriter("piano_left", program, metre, rng, timing_jitter=0.006, velocity_jitter=5)
    right = PartWriter("piano_right", program, metre, rng, timing_jitter=0.006, velocity_jitter=5)
    figures = ["alberti", "arpeggio", "block"] + ([] if waltz or metre.tempo < 85 else ["stride"])
    parts.piano_accompaniment(left, rng, chords, choose(rng, figures), 48, 64, float(rng.uniform(50, 70)))
    line = melody(rng, key, chords, metre, n_bars, 62, 86, CELLS_3 if waltz else CELLS_4, rest_prob=0.1)
    parts.write_line(right, line, float(rng.uniform(65, 90)))
    if rng.random() < 0.3:
        parts.write_line(right, parts.harmony_below(line, key, chords), 55)
    if rng.random() < 0.7:
        left.pedal(chords)
        right.pedal(chords)
    return assemble(metre, [(left, (-4, -1)), (right, (0, 0))], rng, (0.6, 1.6), (-14, -6))


def piano_ballad(rng: np.random.Generator, seconds: float) -> Arrangement:
    waltz = rng.random() < 0.15
    metre = Metre(float(rng.uniform(58, 84)), 3 if waltz else 4)
    n_bars = bars_for(seconds, metre)
    minor = rng.random() < 0.35
    key = _key(rng, [NATURAL_MINOR if minor else MAJOR], [1])
    chords = _progression(rng, key, metre, n_bars, minor=minor)
    piano = PartWriter(
        "piano", choose(rng, [0, 1, 4], [0.65, 0.15, 0.2]), metre, rng, timing_jitter=0.006, velocity_jitter=4
    )
    parts.piano_accompaniment(
        piano, rng, chords, choose(rng, ["arpeggio", "pulse", "block"]), 50, 67, float(rng.uniform(50, 66))
    )
    piano.pedal(chords)
    voice = PartWriter(
        "voice", choose(rng, [52, 53, 54], [0.4, 0.45, 0.15]), metre, rng, timing_jitter=0.01, velocity_jitter=6
    )
    line = melody(rng, key, chords, metre, n_bars, 55, 76, SLOW_3 if waltz else SLOW_4, rest_prob=0.15)
    parts.write_line(voice, line, float(rng.uniform(80, 100)), legato=1.02)
    if rng.random() < 0.35:
        parts.write_line(voice, parts.harmony_below(line, key, chords), 70, legato=1.02)
    return assemble(metre, [(piano, (-3, 0)), (voice, (0, 3))], rng, (1.0, 2.0), (-10, -4))


def rock(rng: np.random.Generator, seconds: float) -> Arrangement:
    metre = Metre(float(rng.uniform(100, 160)), 4)
    n_bars = bars_for(seconds, metre)
    scale = choose(rng, [MIXOLYDIAN, NATURAL_MINOR, MAJOR])
    key = Key(int(rng.integers(12)), scale)
    table = {
        MIXOLYDIAN: [(0, 6, 3, 0), (0, 3, 6, 3)],
        NATURAL_MINOR: [(0, 5, 6, 0), (0, 3, 6, 0), (0, 6, 5, 6)],
        MAJOR: [(0, 3, 4, 3), (0, 4, 5, 3), (0, 3, 0, 4)],
    }[scale]
    per_bar = 2 if metre.tempo < 125 and rng.random() < 0.3 else 1
    chords = _progression(rng, key, metre, n_bars, minor=False, chords_per_bar=per_bar, table=table)
    kit = PartWriter(
        "drums",
        choose(rng, [drums.KIT_STANDARD, drums.KIT_POWER, drums.KIT_ROOM]),
        metre,
        rng,
        is_drum=True,
        timing_jitter=0.004,
        velocity_jitter=6,
    )
    drums.rock(kit, rng, n_bars)
    bass = PartWriter("bass", choose(rng, [33, 34]), metre, rng, timing_jitter=0.004, velocity_jitter=5)
    parts.bass_line(bass, rng, chords, choose(rng, ["root8", "root_fifth"], [0.65, 0.35]), 28, 48, 100)
    guitar = PartWriter("guitar", choose(rng, [30, 29], [0.7, 0.3]), metre, rng, timing_jitter=0.004, velocity_jitter=5)
    parts.power_chords(guitar, rng, chords, 40, 105)
    return assemble(metre, [(kit, (0, 0)), (bass, (-4, -1)), (guitar, (-3, 0))], rng, (0.3, 0.9), (-18, -10))


def jazz_trio(rng: np.random.Generator, seconds: float) -> Arrangement:
    metre = Metre(float(rng.uniform(100, 220)), 4, swing=float(rng.uniform(0.6, 0.68)))
    n_bars = bars_for(seconds, metre)
    minor = rng.random() < 0.25
    key = Key(int(rng.integers(12)), HARMONIC_MINOR if minor else MAJOR)
    per_bar = 2 if metre.tempo < 150 and rng.random() < 0.5 else 1
    chords = _progression(
        rng,
        key,
        metre,
        n_bars,
        minor=minor,
        chords_per_bar=per_bar,
        size=4,
        table=[(1, 4, 0, 0), (0, 3, 1, 4)] if minor else JAZZ,
    )
    brushes = metre.tempo < 160 and rng.random() < 0.5
    kit = PartWriter(
        "drums",
        drums.KIT_BRUSH if brushes else drums.KIT_JAZZ,
        metre,
        rng,
        is_drum=True,
        timing_jitter=0.006,
        velocity_jitter=6,
    )
    drums.jazz(kit, rng, n_bars)
    bass = PartWriter("bass", choose(rng, [32, 33], [0.8, 0.2]), metre, rng, timing_jitter=0.006, velocity_jitter=5)
    parts.bass_line(bass, rng, chords, "walking", 28, 52, 100, key=key)
    piano = PartWriter("piano", choose(rng, [0, 4], [0.75, 0.25]), metre, rng, timing_jitter=0.008, velocity_jitter=6)
    parts.jazz_comping(piano, rng, chords, 52, 72, float(rng.uniform(60, 80)))
    if rng.random() < 0.4:
        parts.write_line(piano, melody(rng, key, chords, metre, n_bars, 64, 86, BUSY_4, rest_prob=0.15), 80)
    return assemble(metre, [(kit, (-3, 0)), (bass, (-1, 1)), (piano, (-1, 1))], rng, (0.4, 1.0), (-16, -9))


def electronic(rng: np.random.Generator, seconds: float) -> Arrangement:
    metre = Metre(float(rng.uniform(118, 132)), 4)
    n_bars = bars_for(seconds, metre)
    minor = rng.random() < 0.75
    key = Key(int(rng.integers(12)), NATURAL_MINOR if minor else MAJOR)
    chords = _progression(
        rng,
        key,
        metre,
        n_bars,
        minor=minor,
        table=[(0, 5, 2, 6), (0, 6, 5, 6), (0, 3, 0, 3), (0, 5, 3, 4)] if minor else None,
    )
    kit = PartWriter("drums", choose(rng, [drums.KIT_ELECTRONIC, drums.KIT_808]), metre, rng, is_drum=True)
    drums.four_on_the_floor(kit, rng, n_bars)
    bass = PartWriter("bass", choose(rng, [38, 39, 87]), metre, rng)
    parts.bass_line(bass, rng, chords, choose(rng, ["offbeat", "rolling", "root8"]), 33, 52, 105)
    pad = PartWriter("pad", choose(rng, [88, 89, 90, 94, 95, 50]), metre, rng)
    parts.pad(pad, rng, chords, 55, 76, 85)
    mix = [(kit, (0, 0)), (bass, (-3, 0)), (pad, (-9, -4))]
    if rng.random() < 0.5:
        arp = PartWriter("arp", choose(rng, [80, 81, 84, 87]), metre, rng)
        parts.arpeggio(arp, rng, chords, 60, 84, 90)
        mix.append((arp, (-9, -4)))
    return assemble(metre, mix, rng, (0.5, 1.5), (-16, -8))


def strings(rng: np.random.Generator, seconds: float) -> Arrangement:
    waltz = rng.random() < 0.3
    metre = Metre(float(rng.uniform(56, 116)), 3 if waltz else 4)
    n_bars = bars_for(seconds, metre)
    minor = rng.random() < 0.45
    key = Key(int(rng.integers(12)), HARMONIC_MINOR if minor else MAJOR)
    chords = _progression(rng, key, metre, n_bars, minor=minor, table=CLASSICAL)
    texture = choose(rng, ["chorale", "melody_pizz", "melody_pad"], [0.45, 0.25, 0.3])
    jitter = {"timing_jitter": 0.012, "velocity_jitter": 5}
    mix: list[tuple[PartWriter, tuple[float, float]]] = []
    if texture == "chorale":
        names = [
            ("violins", choose(rng, [40, 48])),
            ("violas", choose(rng, [48, 49, 41])),
            ("cellos", 42),
            ("basses", 43),
        ]
        writers = [PartWriter(n, p, metre, rng, **jitter) for n, p in names]
        ranges = [(67, 88), (57, 76), (45, 64), (31, 50)]
        rhythm = float(choose(rng, [1.0, 2.0, metre.beats_per_bar]))
        parts.chorale(writers, rng, chords, ranges, 85, rhythm=rhythm)
        mix = [(writers[0], (0, 0)), (writers[1], (-4, -1)), (writers[2], (-4, -1)), (writers[3], (-5, -2))]
    else:
        low, high = choose(rng, [(60, 88), (48, 67)], [0.7, 0.3])
        lead = PartWriter("melody", choose(rng, [40, 48, 49, 42] if low < 55 else [40, 48, 49]), metre, rng, **jitter)
        cells = SLOW_3 if waltz else SLOW_4
        parts.write_line(
            lead, melody(rng, key, chords, metre, n_bars, low, high, cells, rest_prob=0.05), 90, legato=1.03
        )
        accomp = PartWriter(
            "accompaniment", 45 if texture == "melody_pizz" else choose(rng, [48, 49]), metre, rng, **jitter
        )
        if texture == "melody_pizz":
            parts.arpeggio(accomp, rng, chords, 43, 67, 85, step=0.5)
        else:
            parts.pad(accomp, rng, chords, 48, 67, 75)
        basses = PartWriter("basses", choose(rng, [43, 45]) if texture == "melody_pizz" else 43, metre, rng, **jitter)
        parts.bass_line(basses, rng, chords, "sparse", 31, 50, 85)
        writers = [lead, accomp, basses]
        mix = [(lead, (0, 0)), (accomp, (-5, -2)), (basses, (-6, -3))]
    if rng.random() < 0.35:
        colour = PartWriter("winds", choose(rng, [60, 73, 68, 71]), metre, rng, **jitter)
        parts.pad(colour, rng, chords, 53, 72, 70, size=2)
        mix.append((colour, (-9, -5)))
    _swells(writers, n_bars, metre.beats_per_bar)
    return assemble(metre, mix, rng, (1.2, 2.4), (-8, -3))


def latin_percussion(rng: np.random.Generator, seconds: float) -> Arrangement:
    metre = Metre(float(rng.uniform(90, 125)), 4)
    n_bars = bars_for(seconds, metre)
    minor = rng.random() < 0.55
    key = Key(int(rng.integers(12)), HARMONIC_MINOR if minor else MAJOR)
    chords = _progression(rng, key, metre, n_bars, minor=minor, table=[(0, 3, 4, 0), (0, 3, 4, 3), (0, 4, 4, 0)])
    perc = PartWriter(
        "percussion", drums.KIT_STANDARD, metre, rng, is_drum=True, timing_jitter=0.005, velocity_jitter=7
    )
    drums.latin(perc, rng, n_bars)
    mix = [(perc, (0, 0))]
    if rng.random() < 0.6:
        piano = PartWriter("piano", choose(rng, [0, 1]), metre, rng, timing_jitter=0.005, velocity_jitter=5)
        parts.montuno(piano, rng, chords, int(rng.integers(58, 65)), 85)
        mix.append((piano, (-5, -1)))
    if rng.random() < 0.6:
        bass = PartWriter("bass", choose(rng, [32, 33]), metre, rng, timing_jitter=0.005, velocity_jitter=5)
        parts.bass_line(bass, rng, chords, "tumbao", 33, 50, 100)
        mix.append((bass, (-5, -1)))
    return assemble(metre, mix, rng, (0.4, 1.0), (-16, -9))


def folk(rng: np.random.Generator, seconds: float) -> Arrangement:
    waltz = rng.random() < 0.3
    metre = Metre(float(rng.uniform(80, 130)), 3 if waltz else 4)
    n_bars = bars_for(seconds, metre)
    minor = rng.random() < 0.2
    key = Key(int(rng.integers(12)), NATURAL_MINOR if minor else MAJOR)
    table = [(0, 3, 0, 4), (0, 4, 5, 3), (0, 3, 4, 0), (5, 3, 0, 4)] if not minor else [(0, 6, 5, 6), (0, 3, 0, 6)]
    chords = _progression(rng, key, metre, n_bars, minor=minor, table=table)
    guitar = PartWriter("guitar", choose(rng, [25, 24], [0.7, 0.3]), metre, rng, timing_jitter=0.006, velocity_jitter=6)
    parts.strum(guitar, rng, chords, float(rng.uniform(70, 95)))
    program = choose(rng, [53, 52, 54, 22, 73, 110], [0.45, 0.2, 0.1, 0.1, 0.1, 0.05])
    low, high = (55, 76) if program in (52, 53, 54) else (62, 84)
    lead = PartWriter("lead", program, metre, rng, timing_jitter=0.01, velocity_jitter=6)
    line = melody(rng, key, chords, metre, n_bars, low, high, CELLS_3 if waltz else CELLS_4, rest_prob=0.12)
    parts.write_line(lead, line, 90, legato=1.0)
    mix = [(guitar, (0, 0)), (lead, (0, 3))]
    if rng.random() < 0.3:
        bass = PartWriter("bass", 32, metre, rng, timing_jitter=0.006, velocity_jitter=4)
        parts.bass_line(bass, rng, chords, "sparse", 31, 48, 85)
        mix.append((bass, (-6, -2)))
    return assemble(metre, mix, rng, (0.5, 1.2), (-14, -8))


COMPOSERS: dict[str, Callable[[np.random.Generator, float], Arrangement]] = {
    "solo_piano": solo_piano,
    "piano_ballad": piano_ballad,
    "rock": rock,
    "jazz_trio": jazz_trio,
    "electronic": electronic,
    "strings": strings,
    "latin_percussion": latin_percussion,
    "folk": folk,
}
STYLES_WITH_DRUMS = frozenset({"rock", "jazz_trio", "electronic", "latin_percussion"})
