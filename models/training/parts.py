"""What the pitched instruments play: accompaniment, bass lines, strums, pads, arpeggios, melodies.

Every function writes onto a `PartWriter` following a chord list (see `models.training.music`); registers
are MIDI pitch ranges [low, high] so each style can place an instrument where that genre puts it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.training.music import Chord, Key, PartWriter, chord_at, nearest, pitches_of, voicing


def piano_accompaniment(
    w: PartWriter, rng: np.random.Generator, chords: Sequence[Chord], figure: str, low: int, high: int, velocity: float
) -> None:
    """Left-hand figures: 'alberti', 'arpeggio', 'block', 'stride', 'pulse' (repeated eighth chords)."""
    previous: list[int] | None = None
    for chord in chords:
        length = chord.end - chord.start
        v = voicing(chord.pcs, low, high, rng, previous=previous)
        previous = v
        bass = nearest(pitches_of([chord.root], low - 12, low + 7), low)
        if figure == "alberti":
            order = [bass, v[-1], v[len(v) // 2], v[-1]]
            for i, t in enumerate(np.arange(0, length, 0.5)):
                w.note(order[i % 4], chord.start + t, 0.5, velocity - (8 if i % 2 else 0))
        elif figure == "arpeggio":
            up = [bass, *v, v[0] + 12]
            seq = up + up[-2:0:-1]
            for i, t in enumerate(np.arange(0, length, 0.5)):
                w.note(seq[i % len(seq)], chord.start + t, 1.0, velocity - (10 if i % 2 else 0))
        elif figure == "block":
            for t in np.arange(0, length, 2.0):
                w.note(bass, chord.start + t, 2.0, velocity + 5)
                for p in v:
                    w.note(p, chord.start + t, 1.9, velocity - 5)
        elif figure == "stride":
            for i, t in enumerate(np.arange(0, length, 1.0)):
                if i % 2 == 0:
                    w.note(bass if i % 4 == 0 else bass + 7, chord.start + t, 0.9, velocity + 5)
                else:
                    for p in v:
                        w.note(p + 12 if p < low + 6 else p, chord.start + t, 0.6, velocity - 8)
        elif figure == "pulse":
            w.note(bass, chord.start, length, velocity)
            for t in np.arange(0, length, 0.5):
                for p in v:
                    w.note(p, chord.start + t, 0.45, velocity - (12 if t % 1 else 4))
        else:
            raise ValueError(f"unknown piano figure {figure!r}")


def write_line(
    w: PartWriter,
    notes: Sequence[tuple[int, float, float]],
    velocity: float,
    *,
    legato: float = 0.95,
    accent_downbeats: float = 8.0,
) -> None:
    """Write (pitch, beat, length) notes; `legato` scales the sounding length (>1 overlaps, singing)."""
    bpb = w.metre.beats_per_bar
    for pitch, beat, length in notes:
        accent = accent_downbeats if abs(beat % bpb) < 1e-6 else 0.0
        w.note(pitch, beat, length * legato, velocity + accent)


def harmony_below(
    notes: Sequence[tuple[int, float, float]],
    key: Key,
    chords: Sequence[Chord],
) -> list[tuple[int, float, float]]:
    """A second voice a third or sixth below the line, kept on chord tones (choir or strings divisi)."""
    out = []
    for pitch, beat, length in notes:
        tones = [p for p in pitches_of(chord_at(chords, beat).pcs, pitch - 9, pitch - 3)]
        out.append((tones[-1] if tones else pitch - 12, beat, length))
    return out


def bass_line(
    w: PartWriter,
    rng: np.random.Generator,
    chords: Sequence[Chord],
    figure: str,
    low: int,
    high: int,
    velocity: float,
    key: Key | None = None,
) -> None:
    """Bass figures: 'root8' (driving eighths), 'root_fifth', 'walking', 'offbeat' (house), 'rolling'
    (sixteenths), 'tumbao' (anticipated 2& and 4), 'sparse' (half notes)."""
    pitch = nearest(pitches_of([chords[0].root], low, high), low + 7)
    for ci, chord in enumerate(chords):
        length = chord.end - chord.start
        root = nearest(pitches_of([chord.root], low, high), pitch)
        fifth = nearest(pitches_of([chord.pcs[2 % len(chord.pcs)]], low, high), root + 5)
        nxt = chords[ci + 1] if ci + 1 < len(chords) else chords[0]
        if figure == "root8":
            for i, t in enumerate(np.arange(0, length, 0.5)):
                w.note(root, chord.start + t, 0.45, velocity - (10 if i % 2 else 0))
        elif figure == "root_fifth":
            for i, t in enumerate(np.arange(0, length, 1.0)):
                w.note(root if i % 2 == 0 else fifth, chord.start + t, 0.9, velocity)
        elif figure == "sparse":
            for i, t in enumerate(np.arange(0, length, 2.0)):
                w.note(root if i % 2 == 0 else fifth, chord.start + t, 1.9, velocity)
        elif figure == "offbeat":
            for t in np.arange(0.5, length, 1.0):
                w.note(root, chord.start + t, 0.4, velocity)
        elif figure == "rolling":
            for i, t in enumerate(np.arange(0, length, 0.25)):
                p = root + 12 if i % 4 == 2 and root + 12 <= high else root
                w.note(p, chord.start + t, 0.22, velocity - (0 if i % 4 == 0 else 12))
        elif figure == "tumbao":
            target = nearest(pitches_of([nxt.root], low, high), root)
            for t, p in [(1.5, root), (3.0, fifth), (3.5, target)]:
                if t < length:
                    w.note(p, chord.start + t, 0.45 if t == 3.0 else 1.2, velocity)
        elif figure == "walking":
            walk = walking_bar(rng, chord, nxt, pitch, low, high, int(length), key)
            for i, p in enumerate(walk):
                w.note(p, chord.start + i, 0.92, velocity + (6 if i == 0 else 0))
            pitch = walk[-1]
            continue
        else:
            raise ValueError(f"unknown bass figure {figure!r}")
        pitch = root


def walking_bar(
    rng: np.random.Generator, chord: Chord, nxt: Chord, previous: int, low: int, high: int, beats: int, key: Key | None
) -> list[int]:
    """Quarter notes: the root on one, chord or scale tones in between, a chromatic approach to the next
    root on the last beat."""
    root = nearest(pitches_of([chord.root], low, high), previous)
    target = nearest(pitches_of([nxt.root], low, high), root + rng.integers(-5, 6))
    line = [root]
    tones = pitches_of(chord.pcs, low, high)
    scale = key.scale_pitches(low, high) if key else tones
    for _ in range(beats - 2):
        pool = tones if rng.random() < 0.6 else scale
        direction = np.sign(target - line[-1]) or rng.choice([-1, 1])
        ahead = [p for p in pool if 0 < (p - line[-1]) * direction <= 5]
        line.append(ahead[int(rng.integers(len(ahead)))] if ahead else nearest(pool, line[-1] + direction * 3))
    if beats >= 2:
        approach = target + (1 if rng.random() < 0.5 else -1)
        line.append(int(np.clip(approach, low, high)))
    return line[:beats]


def power_chords(w: PartWriter, rng: np.random.Generator, chords: Sequence[Chord], low: int, velocity: float) -> None:
    """Distorted-guitar power chords (root, fifth, octave): chugged eighths, held bars or a riff."""
    figure = rng.choice(["chug", "chug", "hold", "syncopated"])
    for chord in chords:
        length = chord.end - chord.start
        root = nearest(pitches_of([chord.root], low, low + 11), low + 5)
        shape = [root, root + 7, root + 12]
        if figure == "chug":
            times = [(t, 0.42) for t in np.arange(0, length, 0.5)]
        elif figure == "hold":
            times = [(0, length - 0.1)]
        else:
            times = [(t, d) for t, d in [(0, 1.4), (1.5, 1.0), (2.5, 0.45), (3.0, 0.9)] if t < length]
        for t, d in times:
            for p in shape:
                w.note(p, chord.start + t, d, velocity, offset=0.004 * (p - root) / 7)


def guitar_voicing(chord: Chord, low: int = 40) -> list[int]:
    """A six-string-like voicing: the root low, then chord tones stacked within about two octaves."""
    root = nearest(pitches_of([chord.root], low, low + 11), low + 3)
    notes = [root]
    candidates = pitches_of(chord.pcs, root + 3, root + 26)
    for p in candidates:
        if p - notes[-1] >= 3 and len(notes) < 6:
            notes.append(p)
    return notes


def strum(w: PartWriter, rng: np.random.Generator, chords: Sequence[Chord], velocity: float, low: int = 40) -> None:
    """Acoustic-guitar strumming: down strokes low to high, up strokes high to low on the top strings,
    10-20 ms between strings, each stroke ringing until the next."""
    bpb = w.metre.beats_per_bar
    patterns = {
        4: [
            [(0, "D"), (1, "D"), (1.5, "U"), (2.5, "U"), (3, "D"), (3.5, "U")],
            [(0, "D"), (1, "D"), (2, "D"), (2.5, "U"), (3, "D"), (3.5, "U")],
            [(0, "D"), (0.5, "U"), (1, "D"), (1.5, "U"), (2, "D"), (2.5, "U"), (3, "D"), (3.5, "U")],
        ],
        3: [[(0, "D"), (1, "D"), (1.5, "U"), (2, "D"), (2.5, "U")], [(0, "D"), (1, "D"), (2, "D")]],
    }
    pattern = patterns[bpb if bpb in patterns else 4][int(rng.integers(len(patterns.get(bpb, patterns[4]))))]
    gap = float(rng.uniform(0.010, 0.020))
    for chord in chords:
        shape = guitar_voicing(chord, low)
        for bar_start in np.arange(chord.start, chord.end, bpb):
            for i, (t, stroke) in enumerate(pattern):
                if bar_start + t >= chord.end:
                    continue
                nxt = pattern[i + 1][0] if i + 1 < len(pattern) else bpb
                strings = shape if stroke == "D" else shape[::-1][:4]
                vel = velocity if stroke == "D" else velocity - 15
                for j, p in enumerate(strings):
                    w.note(p, bar_start + t, nxt - t, vel - 2 * j, offset=j * gap)


def pad(
    w: PartWriter,
    rng: np.random.Generator,
    chords: Sequence[Chord],
    low: int,
    high: int,
    velocity: float,
    *,
    size: int | None = None,
) -> None:
    """Held chords, voice-led from one to the next (pads, string sections, organ)."""
    previous = None
    for chord in chords:
        pcs = chord.pcs if size is None else chord.pcs[:size]
        v = voicing(pcs, low, high, rng, previous=previous)
        previous = v
        for p in v:
            w.note(p, chord.start, chord.end - chord.start, velocity)


def arpeggio(
    w: PartWriter,
    rng: np.random.Generator,
    chords: Sequence[Chord],
    low: int,
    high: int,
    velocity: float,
    *,
    step: float = 0.25,
) -> None:
    """A synth or harp arpeggio through the chord tones, up, down or up-down, every `step` beats."""
    shape = rng.choice(["up", "down", "updown"])
    for chord in chords:
        tones = pitches_of(chord.pcs, low, high)[:7] or [low]
        seq = {"up": tones, "down": tones[::-1], "updown": tones + tones[-2:0:-1]}[shape]
        for i, t in enumerate(np.arange(0, chord.end - chord.start, step)):
            w.note(seq[i % len(seq)], chord.start + t, step * 0.9, velocity - (0 if i % 4 == 0 else 10))


def jazz_comping(
    w: PartWriter, rng: np.random.Generator, chords: Sequence[Chord], low: int, high: int, velocity: float
) -> None:
    """Rootless voicings (third, seventh, ninth) placed on syncopated swing positions."""
    rhythms = [
        [(0, 1.4), (1.5, 0.4)],
        [(1.5, 0.9), (3.5, 0.4)],
        [(0.5, 0.4), (2, 1.4)],
        [(2.5, 1.2)],
        [(0, 0.4), (2.5, 0.4), (3.5, 0.4)],
    ]
    previous = None
    for chord in chords:
        pcs = list(chord.pcs)
        ninth = (chord.root + 2) % 12
        rootless = [pcs[1], pcs[3] if len(pcs) > 3 else pcs[2], ninth]
        v = voicing(rootless, low, high, rng, previous=previous)
        previous = v
        for t, d in rhythms[int(rng.integers(len(rhythms)))]:
            if chord.start + t < chord.end:
                for p in v:
                    w.note(p, chord.start + t, d, velocity)


def montuno(w: PartWriter, rng: np.random.Generator, chords: Sequence[Chord], low: int, velocity: float) -> None:
    """Piano montuno: syncopated chord tones in octaves (two-bar pattern, eighth grid)."""
    grid = [[0, 1.5, 2.5, 3.5], [0.5, 1.5, 2, 3, 3.5]]
    for ci, chord in enumerate(chords):
        tones = pitches_of(chord.pcs, low, low + 12)
        for i, t in enumerate(grid[ci % 2]):
            if chord.start + t >= chord.end:
                continue
            p = tones[i % len(tones)]
            w.note(p, chord.start + t, 0.45, velocity)
            w.note(p + 12, chord.start + t, 0.45, velocity - 5)


def chorale(
    w_parts: Sequence[PartWriter],
    rng: np.random.Generator,
    chords: Sequence[Chord],
    ranges: Sequence[tuple[int, int]],
    velocity: float,
    *,
    rhythm: float = 2.0,
) -> None:
    """Homophonic four-part writing: the lowest part takes the root, the others the nearest chord tones
    (one part per writer, top first), changing every `rhythm` beats."""
    current = [int(np.mean(r)) for r in ranges]
    for chord in chords:
        for t in np.arange(chord.start, chord.end, rhythm):
            length = min(rhythm, chord.end - t)
            for i, (w, (low, high)) in enumerate(zip(w_parts, ranges, strict=True)):
                pcs = [chord.root] if i == len(w_parts) - 1 else chord.pcs
                current[i] = nearest(pitches_of(pcs, low, high), current[i] + rng.integers(-2, 3))
                w.note(current[i], t, length, velocity)
