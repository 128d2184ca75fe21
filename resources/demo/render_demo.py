"""Render the bundled demo clips: 10 s, mono, 22050 Hz, 16-bit WAV, deterministic.

    python resources/demo/render_demo.py [--keep-midi]

piano.wav          a piano song: broken-chord left hand, melody with chords in the right (C G Am F, 96 bpm)
piano_vocal.wav    the same piano with the melody sung by Festival (kal_diphone, singing mode)
full_band.wav      piano, vocal, drums (kick, snare, hi-hats) and electric bass (the app's default clip)
kick_walking_bass.wav  a clear kick pattern, ride cymbal and a walking acoustic bass (swing, 120 bpm)

Needs Debian `fluidsynth fluid-soundfont-gm festival festvox-kallpc16k` and `pip install pretty_midi
pyfluidsynth`. `--keep-midi` also writes the .mid files and the Festival SINGING-XML beside the WAVs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf
from scipy.signal import resample_poly

HERE = Path(__file__).resolve().parent
# Run as a script from anywhere: the renderer lives in the repository's models/training package.
sys.path.insert(0, str(HERE.parents[1]))

from models.training import drums  # noqa: E402
from models.training.midisynth import FLUIDR3, MidiSynth  # noqa: E402
from models.training.mixing import mix_stems  # noqa: E402
from models.training.music import Metre, PartWriter  # noqa: E402

SAMPLE_RATE = 22050
DURATION = 10.0
PEAK_DBFS = -1.5
FESTIVAL_RATE = 16000  # kal_diphone's rate


@dataclass(frozen=True)
class SungNote:
    """One syllable of the vocal line: start and length in beats, MIDI pitch, the word sung."""

    beat: float
    length: float
    pitch: int
    word: str


SONG = Metre(96.0, 4)  # 4 bars of 4 beats = 10.0 s
SONG_CHORDS = [(48, "major"), (43, "major"), (45, "minor"), (41, "major")]  # C G Am F, roots in octave 2-3
SONG_RH_CHORDS = [(60, 64, 67), (59, 62, 67), (60, 64, 69), (60, 65, 69)]
MELODY = [
    SungNote(0.5, 0.5, 55, "I"),
    SungNote(1.0, 1.0, 60, "walk"),
    SungNote(2.0, 0.5, 62, "by"),
    SungNote(2.5, 0.5, 64, "the"),
    SungNote(3.0, 1.0, 64, "sea"),
    SungNote(4.5, 0.5, 62, "and"),
    SungNote(5.0, 0.5, 59, "the"),
    SungNote(5.5, 1.0, 62, "wind"),
    SungNote(6.5, 0.5, 62, "is"),
    SungNote(7.0, 1.0, 59, "cold"),
    SungNote(8.5, 0.5, 60, "but"),
    SungNote(9.0, 0.5, 60, "the"),
    SungNote(9.5, 1.0, 64, "light"),
    SungNote(10.5, 0.5, 67, "is"),
    SungNote(11.0, 1.0, 64, "warm"),
    SungNote(12.5, 0.5, 65, "on"),
    SungNote(13.0, 0.5, 64, "my"),
    SungNote(13.5, 2.0, 60, "face"),
]

SWING = Metre(120.0, 4, swing=0.64)  # 5 bars = 10.0 s
# Dm7 | G7 | Cmaj7 | A7 | Dm7 G7: root on one, chord tones, a step or half step into the next root.
WALKING_BASS = [38, 41, 45, 44, 43, 47, 50, 47, 48, 52, 55, 56, 57, 55, 52, 49, 50, 45, 43, 47]


def _writer(name: str, program: int, metre: Metre, *, is_drum: bool = False) -> PartWriter:
    # No humanising: the demo is a fixed reference, identical on every render.
    return PartWriter(name, program, metre, np.random.default_rng(0), is_drum=is_drum)


def song_piano() -> pretty_midi.Instrument:
    w = _writer("piano", 0, SONG)
    for bar, ((root, quality), rh_chord) in enumerate(zip(SONG_CHORDS, SONG_RH_CHORDS, strict=True)):
        third = 15 if quality == "minor" else 16
        for i, step in enumerate([0, 7, 12, third, 12, 7, 12, 7]):
            w.note(root + step, 4 * bar + 0.5 * i, 0.5, 62 if i % 2 == 0 else 52)
        for p in rh_chord:
            w.note(p, 4 * bar, 1.5, 58)
        w.control(4 * bar + 0.05, 64, 127)
        w.control(4 * bar + 3.9, 64, 0)
    for n in MELODY:
        w.note(n.pitch + 12, n.beat, n.length, 84)
    return w.instrument


def song_bass() -> pretty_midi.Instrument:
    w = _writer("bass", 33, SONG)
    for bar, root in enumerate([36, 31, 33, 29]):
        for beat, length, step in [(0, 1.0, 0), (1.5, 0.5, 0), (2, 1.0, 7), (3, 0.5, 0), (3.5, 0.5, 12)]:
            w.note(root + step, 4 * bar + beat, length * 0.9, 100)
    return w.instrument


def song_drums() -> pretty_midi.Instrument:
    w = _writer("drums", drums.KIT_STANDARD, SONG, is_drum=True)
    for bar in range(4):
        b0 = 4 * bar
        if bar == 0:
            w.note(drums.CRASH, b0, 2.0, 100)
        for k in (0, 2, 2.5):
            w.note(drums.KICK, b0 + k, 0.4, 120)
        for s in (1, 3):
            w.note(drums.SNARE, b0 + s, 0.4, 108)
        for e in np.arange(0.5 if bar == 0 else 0.0, 4.0, 0.5):
            w.note(drums.CLOSED_HAT, b0 + e, 0.3, 78 if e % 1 == 0 else 58)
    return w.instrument


def jazz_drums() -> pretty_midi.Instrument:
    w = _writer("drums", drums.KIT_STANDARD, SWING, is_drum=True)
    for bar in range(5):
        b0 = 4 * bar
        for k in (0, 2) + ((3.5,) if bar % 2 else ()):
            w.note(drums.KICK, b0 + k, 0.4, 122)
        for beat in range(4):
            w.note(drums.RIDE, b0 + beat, 1.0, 72 if beat % 2 else 62)
            if beat % 2:
                w.note(drums.RIDE, b0 + beat + 0.5, 1.0, 52)
                w.note(drums.PEDAL_HAT, b0 + beat, 0.3, 60)
    return w.instrument


def walking_bass() -> pretty_midi.Instrument:
    w = _writer("bass", 32, SWING)
    for i, pitch in enumerate(WALKING_BASS):
        w.note(pitch, float(i), 0.92, 104 if i % 4 == 0 else 96)
    return w.instrument


def singing_xml(melody: list[SungNote], metre: Metre) -> str:
    """Festival SINGING markup: one monosyllabic word per note, pitch in Hz and durations in seconds
    (the BEATS attribute is scaled by BPM/50 in Festival's singing-mode.scm, so seconds are safer)."""
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE SINGING PUBLIC "-//SINGING//DTD SINGING mark up//EN" "Singing.v0_1.dtd" []>',
        f'<SINGING BPM="{metre.tempo:g}">',
    ]
    position = 0.0
    for note in melody:
        if note.beat > position + 1e-9:
            rest = metre.seconds(note.beat) - metre.seconds(position)
            lines.append(f'<REST SECONDS="{rest:.4f}"></REST>')
        hz = 440.0 * 2 ** ((note.pitch - 69) / 12)
        seconds = metre.seconds(note.beat + note.length) - metre.seconds(note.beat)
        lines.append(f'<PITCH FREQ="{hz:.2f}"><DURATION SECONDS="{seconds:.4f}">{note.word}</DURATION></PITCH>')
        position = note.beat + note.length
    lines.append("</SINGING>")
    return "\n".join(lines) + "\n"


def sing(xml: str) -> np.ndarray:
    """Festival's rendition of `xml` at `SAMPLE_RATE` [shape=(n,)] float, starting at the song's t = 0."""
    if shutil.which("text2wave") is None:
        raise SystemExit("text2wave not found: apt-get install festival festvox-kallpc16k")
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp, "vocal.xml"), Path(tmp, "vocal.wav")
        source.write_text(xml)
        # -scale 0.5: text2wave normalises the peak to scale x full scale; leave headroom in its int16.
        subprocess.run(
            [
                "text2wave",
                "-mode",
                "singing",
                "-scale",
                "0.5",
                "-eval",
                "(voice_kal_diphone)",
                str(source),
                "-o",
                str(target),
            ],
            check=True,
            capture_output=True,
        )
        voice, rate = sf.read(target, dtype="float64")
    if rate != FESTIVAL_RATE:
        raise SystemExit(f"expected Festival to sing at {FESTIVAL_RATE} Hz, got {rate} Hz")
    return resample_poly(voice, 441, 320)  # 16000 -> 22050 Hz


def fit(x: np.ndarray, n: int) -> np.ndarray:
    return np.pad(x, (0, max(0, n - len(x))))[:n]


def master(stems: list[np.ndarray], gains_db: list[float], *, rt60: float, wet_db: float, seed: int) -> np.ndarray:
    """Mix stems at their levels in a seeded room, peak at `PEAK_DBFS`, 30 ms fade at the cut end."""
    n = round(DURATION * SAMPLE_RATE)
    mix = mix_stems(
        np.stack([fit(s, n) for s in stems]),
        gains_db,
        SAMPLE_RATE,
        np.random.default_rng(seed),
        rt60=rt60,
        wet_db=wet_db,
        level_db=-20.0,
    ).astype(np.float64)
    fade = round(0.03 * SAMPLE_RATE)
    mix[-fade:] *= np.linspace(1.0, 0.0, fade)
    return mix * (10 ** (PEAK_DBFS / 20) / np.max(np.abs(mix)))


def score_of(metre: Metre, *instruments: pretty_midi.Instrument) -> pretty_midi.PrettyMIDI:
    score = pretty_midi.PrettyMIDI(initial_tempo=metre.tempo)
    score.time_signature_changes.append(pretty_midi.TimeSignature(metre.beats_per_bar, 4, 0.0))
    score.instruments.extend(instruments)
    return score


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="directory for the WAVs (default: beside this)")
    parser.add_argument("--keep-midi", action="store_true", help="also write the .mid and SINGING-XML files")
    args = parser.parse_args(argv)
    n = round(DURATION * SAMPLE_RATE)
    song = score_of(SONG, song_piano(), song_bass(), song_drums())
    jazz = score_of(SWING, jazz_drums(), walking_bass())
    with MidiSynth(FLUIDR3, SAMPLE_RATE) as synth:
        piano, bass, kit = synth.render(song, n)
        jazz_kit, jazz_bass = synth.render(jazz, n)
    xml = singing_xml(MELODY, SONG)
    voice = fit(sing(xml), n)
    song_room = {"rt60": 0.9, "wet_db": -13.0}
    clips = {
        "piano.wav": master([piano], [0.0], seed=1, **song_room),
        "piano_vocal.wav": master([piano, voice], [0.0, 2.0], seed=1, **song_room),
        "full_band.wav": master([piano, voice, kit, bass], [-2.0, 1.0, 0.0, -2.0], seed=1, **song_room),
        "kick_walking_bass.wav": master([jazz_kit, jazz_bass], [2.0, -2.0], rt60=0.5, wet_db=-16.0, seed=2),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, audio in clips.items():
        sf.write(args.out / name, audio, SAMPLE_RATE, subtype="PCM_16")
        peak = 20 * np.log10(np.max(np.abs(audio)))
        rms = 20 * np.log10(np.sqrt(np.mean(audio**2)))
        print(f"{name:24s} peak {peak:5.1f} dBFS, RMS {rms:5.1f} dBFS")
    if args.keep_midi:
        song.write(str(args.out / "song.mid"))
        jazz.write(str(args.out / "kick_walking_bass.mid"))
        (args.out / "vocal.xml").write_text(xml)


if __name__ == "__main__":
    main()
