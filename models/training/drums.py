"""Drum and percussion grooves written onto a drum `PartWriter` (GM percussion keys, bank 128).

Each groove fills `n_bars` bars of `metre.beats_per_bar` beats; positions are beats within the bar, and
swing comes from the metre. GM kits in bank 128: 0 Standard, 8 Room, 16 Power, 24 Electronic, 25 TR-808,
32 Jazz, 40 Brush (FluidR3_GM and MuseScore_General both have them).
"""

from __future__ import annotations

import numpy as np

from models.training.music import PartWriter

KICK, SIDE_STICK, SNARE, CLAP, E_SNARE = 36, 37, 38, 39, 40
LOW_FLOOR_TOM, CLOSED_HAT, HIGH_FLOOR_TOM, PEDAL_HAT, LOW_TOM = 41, 42, 43, 44, 45
OPEN_HAT, LOW_MID_TOM, HI_MID_TOM, CRASH, HIGH_TOM, RIDE, RIDE_BELL = 46, 47, 48, 49, 50, 51, 53
TAMBOURINE, COWBELL = 54, 56
HI_BONGO, LOW_BONGO, MUTE_HI_CONGA, OPEN_HI_CONGA, LOW_CONGA = 60, 61, 62, 63, 64
HIGH_TIMBALE, LOW_TIMBALE, MARACAS, SHORT_GUIRO, LONG_GUIRO, CLAVES = 65, 66, 70, 73, 74, 75

KIT_STANDARD, KIT_ROOM, KIT_POWER, KIT_ELECTRONIC, KIT_808, KIT_JAZZ, KIT_BRUSH = 0, 8, 16, 24, 25, 32, 40

# Cymbals ring; a short note would cut them through the kit's release envelope.
_RINGING = {CRASH, RIDE, RIDE_BELL, OPEN_HAT}


def _hit(w: PartWriter, key: int, beat: float, velocity: float) -> None:
    w.note(key, beat, 1.0 if key in _RINGING else 0.4, velocity)


def _fill(w: PartWriter, rng: np.random.Generator, start: float, beats: float) -> None:
    """Sixteenth-note tom and snare run down the kit over `beats` beats from `start`."""
    toms = [HIGH_TOM, HI_MID_TOM, LOW_MID_TOM, LOW_TOM, HIGH_FLOOR_TOM, LOW_FLOOR_TOM]
    n = int(beats * 4)
    for i in range(n):
        key = SNARE if rng.random() < 0.3 else toms[min(i * len(toms) // n, len(toms) - 1)]
        _hit(w, key, start + i / 4, 85 + 25 * i / n)


def rock(w: PartWriter, rng: np.random.Generator, n_bars: int) -> None:
    """Backbeat: kick on 1 and 3 with pickups, snare on 2 and 4, eighth hats or ride, crash and fills."""
    bpb = w.metre.beats_per_bar
    kick_patterns = [(0, 2), (0, 2, 2.5), (0, 1.5, 2), (0, 0.5, 2), (0, 2, 3.5), (0, 1.5, 2.5)]
    cymbal = rng.choice(["closed", "closed", "ride", "open_quarters"])
    ghost = rng.random() < 0.35
    pattern = kick_patterns[int(rng.integers(len(kick_patterns)))]
    for bar in range(n_bars):
        b0 = bar * bpb
        if bar % 2 == 0:
            pattern = kick_patterns[int(rng.integers(len(kick_patterns)))]
        fill = bar % 4 == 3 and rng.random() < 0.6
        end = bpb - (1 if fill else 0)
        if bar % 4 == 0:
            _hit(w, CRASH, b0, 110)
        for k in pattern:
            if k < end:
                _hit(w, KICK, b0 + k, 115 if k == 0 else 100)
        for s in range(1, bpb, 2):
            if s < end:
                _hit(w, SNARE, b0 + s, 112)
        if ghost:
            for g in (0.75, 2.75):
                if g < end and rng.random() < 0.5:
                    _hit(w, SNARE, b0 + g, 40)
        for e in np.arange(0, end, 0.5):
            if bar % 4 == 0 and e == 0:
                continue
            if cymbal == "closed":
                _hit(w, CLOSED_HAT, b0 + e, 88 if e % 1 == 0 else 62)
            elif cymbal == "ride":
                _hit(w, RIDE, b0 + e, 90 if e % 1 == 0 else 70)
            elif e % 1 == 0:
                _hit(w, OPEN_HAT if e % 2 == 1 else CLOSED_HAT, b0 + e, 85)
        if fill:
            _fill(w, rng, b0 + bpb - 1, 1)


def jazz(w: PartWriter, rng: np.random.Generator, n_bars: int) -> None:
    """Swing time: ride "ding ding-a", hi-hat pedal on 2 and 4, feathered kick, snare comping."""
    bpb = w.metre.beats_per_bar
    feather = rng.random() < 0.6
    for bar in range(n_bars):
        b0 = bar * bpb
        for beat in range(bpb):
            _hit(w, RIDE, b0 + beat, 95 if beat % 2 == 1 else 78)
            if beat % 2 == 1:
                _hit(w, RIDE, b0 + beat + 0.5, 62)
                _hit(w, PEDAL_HAT, b0 + beat, 70)
            if feather:
                _hit(w, KICK, b0 + beat, 38)
        for pos in np.arange(0.5, bpb, 1.0):
            if rng.random() < 0.18:
                _hit(w, SNARE, b0 + pos, float(rng.uniform(35, 75)))
        if rng.random() < 0.25:
            _hit(w, KICK, b0 + bpb - 0.5, 85)


def four_on_the_floor(w: PartWriter, rng: np.random.Generator, n_bars: int) -> None:
    """Dance: kick on every beat, clap or snare on 2 and 4, open hat on the off-beats, sixteenth hats."""
    bpb = w.metre.beats_per_bar
    backbeat = CLAP if rng.random() < 0.6 else rng.choice([SNARE, E_SNARE])
    sixteenths = rng.random() < 0.6
    for bar in range(n_bars):
        b0 = bar * bpb
        if bar % 8 == 0:
            _hit(w, CRASH, b0, 95)
        for beat in range(bpb):
            _hit(w, KICK, b0 + beat, 122)
            if beat % 2 == 1:
                _hit(w, backbeat, b0 + beat, 105)
            _hit(w, OPEN_HAT, b0 + beat + 0.5, 85)
            if sixteenths:
                for q in (0.25, 0.75):
                    _hit(w, CLOSED_HAT, b0 + beat + q, 58)


def half_time(w: PartWriter, rng: np.random.Generator, n_bars: int) -> None:
    """Hip-hop / half-time: syncopated kick, snare on 3, eighth or sixteenth hats."""
    bpb = w.metre.beats_per_bar
    kicks = [(0, 1.5, 2.75), (0, 0.75, 2.5), (0, 1.75, 2.5, 3.25)][int(rng.integers(3))]
    step = 0.25 if rng.random() < 0.4 else 0.5
    for bar in range(n_bars):
        b0 = bar * bpb
        for k in kicks:
            if k < bpb:
                _hit(w, KICK, b0 + k, 118)
        _hit(w, SNARE, b0 + min(2, bpb - 1), 115)
        for e in np.arange(0, bpb, step):
            _hit(w, CLOSED_HAT, b0 + e, 80 if e % 1 == 0 else 55)


def latin(w: PartWriter, rng: np.random.Generator, n_bars: int) -> None:
    """Son / salsa percussion: 3-2 clave, conga tumbao, bongo martillo, cowbell, shaker, guiro, timbales."""
    bpb = w.metre.beats_per_bar
    clave = {0: (0, 1.5, 3), 1: (1, 2)}
    use = {
        name: rng.random() < p
        for name, p in [("bongo", 0.7), ("cowbell", 0.6), ("shaker", 0.8), ("guiro", 0.3), ("timbales", 0.4)]
    }
    for bar in range(n_bars):
        b0 = bar * bpb
        for c in clave[bar % 2]:
            if c < bpb:
                _hit(w, CLAVES, b0 + c, 100)
        # Tumbao: heel-toe on 1, slap on 2, two open tones on 4 and its "and".
        for pos, key, vel in [
            (0, MUTE_HI_CONGA, 45),
            (0.5, MUTE_HI_CONGA, 40),
            (1, MUTE_HI_CONGA, 95),
            (2, MUTE_HI_CONGA, 45),
            (2.5, MUTE_HI_CONGA, 40),
            (3, OPEN_HI_CONGA, 100),
            (3.5, LOW_CONGA if bar % 2 else OPEN_HI_CONGA, 100),
        ]:
            if pos < bpb:
                _hit(w, key, b0 + pos, vel)
        if use["bongo"]:
            for e in np.arange(0, bpb, 0.5):
                key = LOW_BONGO if e == bpb - 1 else HI_BONGO
                _hit(w, key, b0 + e, 95 if e % 1 == 0 and e % 2 == 0 else 55)
        if use["cowbell"]:
            for beat in range(bpb):
                _hit(w, COWBELL, b0 + beat, 95 if beat % 2 == 0 else 72)
        if use["shaker"]:
            for q in np.arange(0, bpb, 0.25):
                _hit(w, MARACAS, b0 + q, 70 if q % 1 == 0 else 42)
        if use["guiro"]:
            _hit(w, LONG_GUIRO, b0, 80)
            _hit(w, SHORT_GUIRO, b0 + 1.5, 70)
        if use["timbales"] and bar % 4 == 3:
            for i, q in enumerate(np.arange(bpb - 1, bpb, 0.25)):
                _hit(w, HIGH_TIMBALE if i % 2 == 0 else LOW_TIMBALE, b0 + q, 90 + 5 * i)
