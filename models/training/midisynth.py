"""One persistent FluidSynth that renders pretty_midi scores to per-part stems, deterministically.

FluidSynth 2.3 carries state from one render to the next in two ways, both measured here:

- voices in their release phase survive ``system_reset`` and ``all_sounds_off`` (they no longer count as
  "playing"), so the tail of one clip leaks into the start of the next;
- a voice slot keeps part of its previous note's DSP state, and which slot a note lands in depends on what
  played before; the same score rendered after different clips differed by up to 0.07 (full scale 1).

`MidiSynth` therefore starts every render from a canonical state: it shortens every voice's release to the
minimum (~16 ms; voices already releasing included), renders until the output is exactly silent, then fills
every voice slot with the same reference note and kills them all (~1-4 ms in all). Reverb and chorus are
switched off (their delay lines are state too); `models.training.mixing` adds a seeded room instead.
"""

from __future__ import annotations

import ctypes
import math
from pathlib import Path
from types import ModuleType, TracebackType

import numpy as np
import pretty_midi
from scipy.signal import resample_poly

FLUIDR3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
MUSESCORE = Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3")
_APT_PACKAGES = {FLUIDR3: "fluid-soundfont-gm", MUSESCORE: "musescore-general-soundfont-small"}

N_CHANNELS = 16
POLYPHONY = 256
# FluidSynth renders in blocks of 64 frames and applies events at block boundaries.
BLOCK = 64
# Rendering straight at 11025 Hz aliases hi-hats badly (spectrum off by -4.6 dB vs. a 44.1 kHz render);
# rendering at 44.1 kHz and resampling with a proper low-pass costs ~3x the time and is clean.
RENDER_RATE = 44100
_MAX_TAIL_SECONDS = 30.0
_GEN_VOLENVRELEASE = 38  # SoundFont 2.01 generator number


class SoundfontMissingError(FileNotFoundError):
    """The soundfont file does not exist; the message names the apt package that provides it."""


class FluidSynthUnavailableError(ImportError):
    """libfluidsynth (or the pyfluidsynth binding) cannot be loaded."""


def require_soundfont(soundfont: str | Path) -> Path:
    """Return `soundfont` as a Path, or raise `SoundfontMissingError` saying how to install it."""
    path = Path(soundfont)
    if path.is_file():
        return path
    package = _APT_PACKAGES.get(path)
    hint = f"install it with `apt-get install {package}`" if package else "pass an existing .sf2/.sf3 file"
    raise SoundfontMissingError(f"soundfont {path} not found: {hint}")


def _load_fluidsynth() -> ModuleType:
    try:
        import fluidsynth
    except ImportError as error:
        raise FluidSynthUnavailableError(
            f"cannot load FluidSynth ({error}): `pip install pyfluidsynth` and `apt-get install fluidsynth`"
        ) from error
    return fluidsynth


class MidiSynth:
    """A FluidSynth instance with one soundfont loaded, rendering scores to mono stems.

    Each instrument of a score is played on its own MIDI channel and written to its own output, so one
    pass yields one stem per part. Use as a context manager, or call `close`.
    """

    def __init__(self, soundfont: str | Path, sample_rate: int, *, render_rate: int = RENDER_RATE) -> None:
        """`sample_rate` [Hz] of the returned stems; `render_rate` [Hz] is FluidSynth's internal rate."""
        self.soundfont = require_soundfont(soundfont)
        self.sample_rate = int(sample_rate)
        self.render_rate = int(max(render_rate, sample_rate))
        g = math.gcd(self.sample_rate, self.render_rate)
        self._up, self._down = self.sample_rate // g, self.render_rate // g
        fluidsynth = _load_fluidsynth()
        settings = {
            "synth.reverb.active": 0,
            "synth.chorus.active": 0,
            "synth.audio-channels": N_CHANNELS,
            "synth.audio-groups": N_CHANNELS,
            "synth.polyphony": POLYPHONY,
            "synth.cpu-cores": 1,
        }
        self._synth = fluidsynth.Synth(gain=0.5, samplerate=float(self.render_rate), channels=16, **settings)
        self._process = fluidsynth._fl.fluid_synth_process
        self._process.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_void_p,
        ]
        self._process.restype = ctypes.c_int
        self._set_gen = fluidsynth._fl.fluid_synth_set_gen
        self._set_gen.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_float]
        self._set_gen.restype = ctypes.c_int
        self._sfid = self._synth.sfload(str(self.soundfont))
        if self._sfid < 0:
            self._synth.delete()
            raise SoundfontMissingError(f"FluidSynth could not load soundfont {self.soundfont}")
        self._scratch = np.zeros((2, 1024), np.float32)
        self._scratch_ptrs = np.array([row.ctypes.data for row in self._scratch], np.uint64)

    # -- life cycle -------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._synth is not None:
            self._synth.delete()
            self._synth = None

    def __enter__(self) -> MidiSynth:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- rendering --------------------------------------------------------------------------------------
    def render(self, score: pretty_midi.PrettyMIDI, n_samples: int, *, start: float = 0.0) -> np.ndarray:
        """Render every instrument of `score` to its own mono stem.

        `start` [s] is where in the score the stems begin (the score is played from 0 so notes sounding at
        `start` have their real attack and decay). Returns float32 `[shape=(n_instruments, n_samples)]` at
        `sample_rate`, the sum of the stems being the full mix. At most 16 instruments; drums
        (`is_drum`) use bank 128 with the instrument's program as the kit.
        """
        instruments = score.instruments
        if not 1 <= len(instruments) <= N_CHANNELS:
            raise ValueError(f"a score needs 1..{N_CHANNELS} instruments, got {len(instruments)}")
        if self._synth is None:
            raise RuntimeError("MidiSynth is closed")
        start_out = round(start * self.sample_rate)
        # Enough internal frames for the resampled output plus the resampling filter's reach.
        n_internal = math.ceil((start_out + n_samples) * self._down / self._up) + 4 * BLOCK
        n_internal = -(-n_internal // BLOCK) * BLOCK
        self._canonicalise()
        synth = self._synth
        for channel, instrument in enumerate(instruments):
            bank = 128 if instrument.is_drum else 0
            synth.program_select(channel, self._sfid, bank, int(instrument.program))
        out = np.zeros((len(instruments), 2, n_internal), np.float32)
        base = np.array([out[c, side].ctypes.data for c in range(len(instruments)) for side in (0, 1)], np.uint64)
        pos = 0
        for frame, _order, channel, kind, a, b in self._events(instruments, n_internal):
            if frame > pos:
                self._run(base + 4 * pos, 2 * len(instruments), frame - pos)
                pos = frame
            if kind == "on":
                synth.noteon(channel, a, b)
            elif kind == "off":
                synth.noteoff(channel, a)
            elif kind == "cc":
                synth.cc(channel, a, b)
            else:
                synth.pitch_bend(channel, a)
        if pos < n_internal:
            self._run(base + 4 * pos, 2 * len(instruments), n_internal - pos)
        mono = out.mean(axis=1)
        if (self._up, self._down) != (1, 1):
            mono = resample_poly(mono, self._up, self._down, axis=-1)
        return np.ascontiguousarray(mono[:, start_out : start_out + n_samples], dtype=np.float32)

    def _events(self, instruments: list[pretty_midi.Instrument], n_internal: int) -> list[tuple]:
        """(frame, order, channel, kind, a, b) sorted so note-offs precede CCs precede note-ons."""
        rate = self.render_rate
        events: list[tuple] = []
        for channel, instrument in enumerate(instruments):
            for note in instrument.notes:
                on = round(note.start * rate)
                if on >= n_internal:
                    continue
                events.append((on, 3, channel, "on", int(note.pitch), int(note.velocity)))
                events.append((min(round(note.end * rate), n_internal), 0, channel, "off", int(note.pitch), 0))
            for cc in instrument.control_changes:
                events.append((round(cc.time * rate), 1, channel, "cc", int(cc.number), int(cc.value)))
            for bend in instrument.pitch_bends:
                events.append((round(bend.time * rate), 2, channel, "bend", int(bend.pitch), 0))
        events = [e for e in events if e[0] < n_internal]
        events.sort(key=lambda e: e[:3])
        return events

    def _run(self, pointers: np.ndarray, n_out: int, n_frames: int) -> None:
        rc = self._process(self._synth.synth, int(n_frames), 0, None, n_out, pointers.ctypes.data)
        if rc != 0:
            raise RuntimeError(f"fluid_synth_process failed (rc={rc})")

    def _render_scratch(self, n_frames: int = 1024) -> bool:
        """Render `n_frames` (<= 1024) of everything into the scratch buffer; True if exactly silent."""
        self._scratch[:] = 0.0
        self._run(self._scratch_ptrs, 2, n_frames)
        return not self._scratch.any()

    def _flush_tails(self) -> None:
        # Shortest release on every voice, released ones included (a crash cymbal rings for seconds).
        for channel in range(N_CHANNELS):
            self._set_gen(self._synth.synth, channel, _GEN_VOLENVRELEASE, -20000.0)
        self._synth.system_reset()
        silent_blocks = 0
        for _ in range(int(_MAX_TAIL_SECONDS * self.render_rate / self._scratch.shape[1])):
            silent_blocks = silent_blocks + 1 if self._render_scratch() else 0
            # A few consecutive silent blocks: a voice crossing zero cannot give 4096 exact zeros.
            if silent_blocks >= 4:
                return
        raise RuntimeError(f"FluidSynth voices still sounding after {_MAX_TAIL_SECONDS} s of silence")

    def _canonicalise(self) -> None:
        """Bring every voice slot to the same state, whatever was rendered before (see module doc)."""
        synth = self._synth
        self._flush_tails()
        for channel in range(N_CHANNELS):
            synth.program_select(channel, self._sfid, 0, 0)
        for key in range(N_CHANNELS * 100):
            if synth.get_active_voice_count() >= POLYPHONY:
                break
            synth.noteon(key % N_CHANNELS, 24 + key // N_CHANNELS, 100)
        self._render_scratch(BLOCK)
        self._flush_tails()
