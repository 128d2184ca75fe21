"""The mixing step the audio callback runs: slots, shared playhead, crossfade, loop, volume. No device here.

`Mixer.render` is the whole callback body. It only reads preallocated float32 arrays, writes into
``outdata`` and preallocated scratch, and advances an integer playhead, so tests drive it directly with a
plain numpy ``outdata`` and get the exact samples the device would get.

Threads: one controlling thread (the GUI's) and one audio thread. The controlling thread never touches the
audio state directly; it swaps in a new immutable `MixSettings` (one attribute assignment) and appends
commands to a deque (``append``/``popleft`` are atomic in CPython). The audio thread applies the commands at
the start of each block, so every change takes effect at a block boundary, never mid-block, and no lock is
needed.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

N_SLOTS = 4

#: a new stream's first DAC times jump while its buffers fill: gaps are looked for from this block on
_SETTLE_BLOCKS = 3

#: Columns of the clock ring that `Mixer.render` fills once per block (see `Mixer.audible_sample`).
_DAC, _P0, _ADV, _LOOP_START, _LOOP_END, _NOW = range(6)


class Slot(Enum):
    """What a playback slot holds. The user toggles between them; all share one playhead."""

    A = "A"  # the original clip
    B = "B"  # the selected rendering (auralised feature)
    R = "R"  # the residual: original minus the rendering
    C = "C"  # a second map's rendering, compared with B (Shift-click in the gallery)

    @property
    def index(self) -> int:
        """Row of this slot in `MixSettings.sources` and `MixSettings.gains`."""
        return _SLOT_INDEX[self]


_SLOT_INDEX = {Slot.A: 0, Slot.B: 1, Slot.R: 2, Slot.C: 3}


class _Command(Enum):
    PLAY = "play"
    PAUSE = "pause"
    STOP = "stop"
    SEEK = "seek"
    SELECT = "select"


def _empty_sources() -> tuple[np.ndarray | None, ...]:
    return (None,) * N_SLOTS


@dataclass(frozen=True)
class MixSettings:
    """Everything the callback reads besides its own state; replaced whole, never mutated.

    sources: per slot (indexed by `Slot.index`) a C-contiguous float32 array ``[shape=(n_samples,)]`` at
        the device rate, or None for an empty slot (plays silence). Slots may differ in length; a shorter
        one is silent past its end.
    gains: per slot linear gain (``10 ** (dB / 20)``), e.g. for loudness matching B to A.
    volume: master linear gain applied after the slot mix.
    loop: loop region ``(start, end)`` in samples at the device rate, end exclusive, or None for the
        whole buffer; only used while ``looping``.
    looping: wrap at the loop end instead of stopping at the end of the buffer.
    ready: per slot None (all of it is there) or a uint8 array with one flag per ``ready_block`` samples, 1 once
        that block of the source is written (a progressive slot, `app.playback.progressive`): the mixer holds
        the playhead at an unready block of the selected slot instead of playing it.
    """

    sources: tuple[np.ndarray | None, ...] = field(default_factory=_empty_sources)
    ready: tuple[np.ndarray | None, ...] = field(default_factory=_empty_sources)
    ready_block: int = 256
    gains: tuple[float, ...] = (1.0,) * N_SLOTS
    volume: float = 1.0
    loop: tuple[int, int] | None = None
    looping: bool = False
    #: longest slot in samples (derived)
    length: int = field(init=False)
    #: effective loop start/end in samples; both -1 when not looping (derived)
    loop_start: int = field(init=False)
    loop_end: int = field(init=False)

    def __post_init__(self) -> None:
        if len(self.sources) != N_SLOTS or len(self.gains) != N_SLOTS or len(self.ready) != N_SLOTS:
            raise ValueError(f"sources, gains and ready need {N_SLOTS} entries")
        for src in self.sources:
            if src is not None and (src.dtype != np.float32 or src.ndim != 1 or not src.flags.c_contiguous):
                raise ValueError("each source must be a 1-D C-contiguous float32 array")
        length = max((len(s) for s in self.sources if s is not None), default=0)
        start, end = -1, -1
        if self.looping and length > 0:
            start, end = self.loop if self.loop is not None else (0, length)
            start, end = max(0, int(start)), min(int(end), length)
            if end - start < 1:
                start, end = -1, -1
        object.__setattr__(self, "length", length)
        object.__setattr__(self, "loop_start", start)
        object.__setattr__(self, "loop_end", end)


class Mixer:
    """Renders blocks of the selected slot at the shared playhead into a PortAudio-style ``outdata``.

    Parameters:
        sample_rate: device rate in Hz; all sources must be at this rate.
        crossfade_s: length of the linear crossfade used for slot switches, play and pause (~5 ms).
        max_chunk: scratch size in frames; longer blocks are rendered in several chunks.
        clock_size: blocks of timing history kept for `audible_sample`.

    A slot switch (`select`) starts at the first sample of the next block and ramps linearly over
    ``n_fade = round(crossfade_s * sample_rate)`` samples: the k-th sample of the fade (k = 0 ...) mixes
    ``old * (1 - w) + new * w`` with ``w = (k + 1) / n_fade``. Play fades in from silence and pause fades out
    to silence the same way (no clicks); the playhead keeps running during a fade.
    """

    def __init__(
        self, sample_rate: int, *, crossfade_s: float = 0.005, max_chunk: int = 4096, clock_size: int = 512
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.crossfade_s = float(crossfade_s)
        self.n_fade = max(1, round(self.crossfade_s * self.sample_rate))
        self._ramp = (np.arange(1, self.n_fade + 1, dtype=np.float64) / self.n_fade).astype(np.float32)
        # mono mix as a column, so multiplying into outdata duplicates it to every channel
        self._mono = np.zeros((max_chunk, 1), dtype=np.float32)
        self._mono_flat = self._mono[:, 0]
        self._tmp = np.zeros(max_chunk, dtype=np.float32)
        self._max_chunk = int(max_chunk)
        self._commands: deque[tuple[_Command, int]] = deque()
        self.settings = MixSettings()

        # state owned by the audio thread (the controlling thread only reads it)
        self.playhead = 0
        self.slot_index = 0
        self.running = False  # the playhead advances (playing, or fading out to a pause)
        self.play_serial = 0  # serial of the last applied PLAY command
        self.ended_serial = 0  # serial of the PLAY whose playback ran into the end of the buffer
        self._play_requested = False
        self._w0 = [0.0] * N_SLOTS  # weights at the start of the current fade
        self._target = [0.0] * N_SLOTS  # weights at its end (and outside fades)
        self._fade_pos = self.n_fade  # samples of the current fade done; n_fade = no fade
        self._seek_after_fade = -1  # a seek that waits until a fade-out to pause has finished
        self.underflows = 0  # gaps in the output: PortAudio's output_underflow flags plus gaps seen in the DAC clock
        self.heard_underflows = 0  # those that interrupted sound (the block before the gap was playing)
        self.clock_gaps = 0  # gaps seen only in the DAC clock (PortAudio raised no flag for them)
        self._next_dac = math.nan  # DAC time at which the next block should start if nothing was dropped
        self._settled_blocks = 0  # blocks of the current stream so far (its first DAC times are not reliable)
        self._sounding = False  # the last block ended playing (so a gap after it is heard)
        self.blocks = 0  # blocks started (counted when a block begins, before its commands apply)
        self.max_block_frames = 0
        self.last_switch_sample = -1  # playhead at which the last slot crossfade started
        self.last_switch_block = -1  # number of the block (counting from 1) in which it started
        self.switch_count = 0  # slot crossfades started while playing
        self._clock = np.full((clock_size, 6), np.nan, dtype=np.float64)
        self._clock_size = int(clock_size)
        self.clock_count = 0
        # progressive slots: the playhead waits at a block not yet written (see `MixSettings.ready`)
        self.holding = False  # waiting for the selected slot's fill (faded out, playhead still)
        self.hold_blocks = 0  # blocks that ended holding (silence the listener heard because the fill was late)
        self.resume_samples = max(1, round(0.2 * self.sample_rate))  # ready ahead before sound resumes

    # ---- controlling thread -------------------------------------------------------------------------

    def post_play(self, serial: int) -> None:
        """Start (or resume) at the playhead; a playhead at the end restarts from 0. ``serial`` names it."""
        self._commands.append((_Command.PLAY, int(serial)))

    def post_pause(self) -> None:
        """Fade out and hold the playhead."""
        self._commands.append((_Command.PAUSE, 0))

    def post_stop(self) -> None:
        """Fade out, then put the playhead back to 0."""
        self._commands.append((_Command.STOP, 0))

    def post_seek(self, sample: int) -> None:
        """Move the playhead to ``sample`` (device-rate samples)."""
        self._commands.append((_Command.SEEK, max(0, int(sample))))

    def post_select(self, slot: Slot) -> None:
        """Crossfade to ``slot`` at the next block, keeping the playhead."""
        self._commands.append((_Command.SELECT, slot.index))

    def stream_started(self) -> None:
        """A new stream (its own clock) is about to call `render`: forget the previous stream's DAC timeline."""
        self._next_dac = math.nan
        self._settled_blocks = 0
        self._sounding = False

    @property
    def pending_commands(self) -> int:
        """Commands posted but not yet applied by the audio thread."""
        return len(self._commands)

    def audible_sample(self, now: float) -> int:
        """The playhead sample that reaches the DAC at stream time ``now`` (seconds, the callback's clock).

        Each block records the DAC time of its first sample (``time.outputBufferDacTime``), the playhead
        there, how far it advanced and the loop it wrapped in; the newest block already at the DAC gives
        ``p0 + (now - dac) * rate``, clamped to that block and wrapped into its loop. Before any block has
        reached the DAC it is the first recorded block's start; with no block at all, the playhead.
        """
        count = self.clock_count
        if count == 0:
            return int(self.playhead)
        clock = self._clock
        oldest = max(0, count - self._clock_size + 1)  # the row being written may be torn: skip it
        row = None
        for j in range(count - 1, oldest - 1, -1):
            r = clock[j % self._clock_size]
            if r[_DAC] <= now:
                row = r.copy()
                break
        if row is None:
            return int(clock[oldest % self._clock_size, _P0])
        offset = min(max(round((now - row[_DAC]) * self.sample_rate), 0), int(row[_ADV]))
        pos = int(row[_P0]) + offset
        start, end = int(row[_LOOP_START]), int(row[_LOOP_END])
        if end >= 0 and pos >= end:
            pos = start + (pos - end) % (end - start)
        return pos

    @property
    def last_callback_time(self) -> float:
        """Stream time (``time.currentTime``) of the newest block, NaN before the first."""
        if self.clock_count == 0:
            return math.nan
        return float(self._clock[(self.clock_count - 1) % self._clock_size, _NOW])

    # ---- audio thread (or the controlling thread while no stream runs) ---------------------------------

    def apply_commands(self) -> None:
        """Apply every posted command, in order. Called at the start of each block."""
        commands = self._commands
        while commands:
            kind, value = commands.popleft()
            if kind is _Command.SELECT:
                if value != self.slot_index:
                    self.slot_index = value
                    if self._play_requested:
                        self._fade_to_slot(value)
                        self.last_switch_sample = self.playhead
                        self.last_switch_block = self.blocks
                        self.switch_count += 1
            elif kind is _Command.SEEK:
                self.holding = False  # re-judged at the new place
                if self.running and not self._play_requested:
                    self._seek_after_fade = value  # jumping inside a fade-out would click
                else:
                    self.playhead = value
            elif kind is _Command.PLAY:
                self.play_serial = value
                if self._seek_after_fade >= 0:
                    self.playhead = self._seek_after_fade
                    self._seek_after_fade = -1
                if self.playhead >= self.settings.length:
                    self.playhead = 0
                self._play_requested = True
                self.running = True
                self._fade_to_slot(self.slot_index)
            else:  # PAUSE or STOP
                seek = 0 if kind is _Command.STOP else -1
                self._play_requested = False
                if self.running:
                    self._fade_to_slot(-1)
                    if seek >= 0:
                        self._seek_after_fade = seek
                elif seek >= 0:
                    self.playhead = seek

    def render(
        self, outdata: np.ndarray, dac_time: float = math.nan, now: float = math.nan, underflow: bool = False
    ) -> None:
        """Fill ``outdata`` ``[shape=(frames, channels)]`` (float32) with the next block; the callback body.

        dac_time: stream time (s) at which the first frame will be audible (``time.outputBufferDacTime``).
        now: stream time (s) of the call (``time.currentTime``).
        underflow: PortAudio's ``status.output_underflow`` for this call.

        A gap in the output is counted in ``underflows`` once per block, when PortAudio flags it or when this
        block starts more than half a block later than the previous one ended on the DAC clock (the ALSA layer
        recovers from some underruns without PortAudio raising the flag, yet the listener hears them); it counts
        in ``heard_underflows`` too when the block before it was sounding.
        """
        self.blocks += 1
        frames = outdata.shape[0]
        late = dac_time - self._next_dac  # NaN (no gap) until the stream's clock has settled
        gap = self._settled_blocks >= _SETTLE_BLOCKS and late > 0.5 * frames / self.sample_rate
        if underflow or gap:
            self.underflows += 1
            if gap and not underflow:
                self.clock_gaps += 1
            if self._sounding:
                self.heard_underflows += 1
        self._settled_blocks += 1
        self._next_dac = dac_time + frames / self.sample_rate
        self.apply_commands()
        s = self.settings
        if self.running and s.loop_end >= 0 and self.playhead >= s.loop_end:
            self.playhead = s.loop_start  # a playhead past the loop end jumps into the loop
        p0 = self.playhead
        advanced = 0
        start = 0
        while start < frames:
            n = min(frames - start, self._max_chunk)
            advanced += self._render_chunk(outdata[start : start + n], s, n)
            start += n
        k = self.clock_count % self._clock_size
        clock = self._clock
        clock[k, _DAC] = dac_time
        clock[k, _P0] = p0
        clock[k, _ADV] = advanced
        clock[k, _LOOP_START] = s.loop_start
        clock[k, _LOOP_END] = s.loop_end
        clock[k, _NOW] = now
        self.clock_count += 1
        if frames > self.max_block_frames:
            self.max_block_frames = frames
        if self.holding and self._play_requested:
            self.hold_blocks += 1
        self._sounding = self.running and not self.holding

    def _fade_to_slot(self, slot_index: int) -> None:
        """Start a fade from the weights now sounding to all-on-``slot_index`` (-1: silence)."""
        w0, target = self._w0, self._target
        if self._fade_pos < self.n_fade:
            r = float(self._ramp[self._fade_pos - 1]) if self._fade_pos > 0 else 0.0
            for i in range(N_SLOTS):
                w0[i] = w0[i] + r * (target[i] - w0[i])
        else:
            for i in range(N_SLOTS):
                w0[i] = target[i]
        same = True
        for i in range(N_SLOTS):
            target[i] = 1.0 if i == slot_index else 0.0
            same = same and target[i] == w0[i]
        self._fade_pos = self.n_fade if same else 0

    def _render_chunk(self, out: np.ndarray, s: MixSettings, n: int) -> int:
        """Mix ``n`` frames into ``out``; returns how far the playhead advanced."""
        mono = self._mono_flat
        mono[:n] = 0.0
        advanced = 0
        done = 0
        w0, target, ramp = self._w0, self._target, self._ramp
        while done < n and self.running:
            pos = self.playhead
            limit = s.loop_end if s.loop_end >= 0 else s.length
            if pos >= limit:
                self._end_of_buffer(s)
                break
            seg = min(n - done, limit - pos)
            fading = self._fade_pos < self.n_fade
            flags = s.ready[self.slot_index]
            if flags is not None and self._play_requested and not fading:
                if self.holding:  # faded out at the frontier: resume once enough is ready, else stay silent
                    if self._ready_run(flags, s.ready_block, pos, min(limit, pos + self.resume_samples)) < min(
                        self.resume_samples, limit - pos
                    ):
                        break
                    self.holding = False
                    self._fade_to_slot(self.slot_index)
                    fading = True
                else:
                    run = self._ready_run(flags, s.ready_block, pos, min(limit, pos + seg + self.n_fade))
                    if run < min(seg + self.n_fade, limit - pos):  # the frontier is near: fade out to reach it
                        if run <= self.n_fade:
                            self.holding = True
                            self._fade_to_slot(-1)
                            fading = True
                        else:
                            seg = min(seg, run - self.n_fade)
            if fading:
                seg = min(seg, self.n_fade - self._fade_pos)
            f = self._fade_pos
            for i in range(N_SLOTS):
                src = s.sources[i]
                if src is None:
                    continue
                avail = min(seg, src.shape[0] - pos)
                if avail <= 0:
                    continue
                g = s.gains[i]
                tmp = self._tmp[:avail]
                if fading:
                    a, b = w0[i], target[i]
                    if a == 0.0 and b == 0.0:
                        continue
                    np.multiply(ramp[f : f + avail], (b - a) * g, out=tmp)
                    np.add(tmp, a * g, out=tmp)
                    np.multiply(tmp, src[pos : pos + avail], out=tmp)
                else:
                    w = target[i] * g
                    if w == 0.0:
                        continue
                    np.multiply(src[pos : pos + avail], w, out=tmp)
                dst = mono[done : done + avail]
                np.add(dst, tmp, out=dst)
            done += seg
            advanced += seg
            pos += seg
            if s.loop_end >= 0 and pos >= s.loop_end:
                pos = s.loop_start
            self.playhead = pos
            if fading:
                self._fade_pos = f + seg
                if self._fade_pos >= self.n_fade:
                    self._fade_done()
        np.multiply(mono[:n], s.volume, out=mono[:n])
        np.copyto(out, self._mono[:n])  # broadcasts the column to every channel (a broadcasting ufunc
        # with out= would allocate an iterator buffer the size of the block)
        return advanced

    @staticmethod
    def _ready_run(flags: np.ndarray, block: int, pos: int, stop: int) -> int:
        """Samples from ``pos`` up to ``stop`` whose blocks are all flagged ready (reads a few flags)."""
        b = pos // block
        end = pos
        while end < stop and b < flags.shape[0] and flags[b]:
            b += 1
            end = b * block
        return max(0, min(end, stop) - pos)

    def _fade_done(self) -> None:
        for i in range(N_SLOTS):
            self._w0[i] = self._target[i]
        if not self._play_requested:
            self.running = False
            if self._seek_after_fade >= 0:
                self.playhead = self._seek_after_fade
                self._seek_after_fade = -1

    def _end_of_buffer(self, s: MixSettings) -> None:
        self.running = False
        self._play_requested = False
        self.ended_serial = self.play_serial
        self.playhead = s.length
        self._settle_silent()

    def _settle_silent(self) -> None:
        """Every slot at zero weight with no fade in progress; a seek waiting for the fade lands now."""
        for i in range(N_SLOTS):
            self._w0[i] = 0.0
            self._target[i] = 0.0
        self._fade_pos = self.n_fade
        if self._seek_after_fade >= 0:
            self.playhead = self._seek_after_fade
            self._seek_after_fade = -1

    def halt(self) -> None:
        """Stop at once, without a fade (only while no callback runs, e.g. after the stream closed).

        Pending commands are applied first; a pending seek (from a stop) lands.
        """
        self.apply_commands()
        self.running = False
        self._play_requested = False
        self._settle_silent()

    def retime(self, sample_rate: int) -> None:
        """Change the device rate (only while no callback runs): fade length and playhead follow.

        The caller swaps in settings with sources resampled to the new rate.
        """
        old = self.sample_rate
        self.apply_commands()
        self.sample_rate = int(sample_rate)
        self.n_fade = max(1, round(self.crossfade_s * self.sample_rate))
        self._ramp = (np.arange(1, self.n_fade + 1, dtype=np.float64) / self.n_fade).astype(np.float32)
        self._fade_pos = self.n_fade
        for i in range(N_SLOTS):
            self._w0[i] = self._target[i]
        self.playhead = round(self.playhead * self.sample_rate / old)
        self._clock[:] = np.nan
        self.clock_count = 0
