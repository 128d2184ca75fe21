"""`PlaybackEngine`: one sounddevice OutputStream playing the A/B/R slots through a `Mixer`.

All methods are meant to be called from one thread (the GUI's). They never block on the audio thread: they
swap immutable `MixSettings` snapshots and post commands that the callback applies at its next block.
"""

from __future__ import annotations

import math
import time
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

import numpy as np

from app.core.resampling import resample
from app.playback.devices import OutputDevice, list_output_devices, load_sounddevice, resolve_output_device
from app.playback.errors import AudioDeviceError, portaudio_words
from app.playback.mixer import N_SLOTS, Mixer, MixSettings, Slot
from app.playback.progressive import READY_BLOCK, ProgressiveBuffer

if TYPE_CHECKING:  # sounddevice is imported when a device is first needed
    import sounddevice


class StreamTime(Protocol):
    """The times PortAudio gives the callback (seconds on the stream's clock)."""

    outputBufferDacTime: float  # PortAudio's names
    currentTime: float


#: Rate used for loading slots while no device can be queried (the slots are resampled again on open).
FALLBACK_SAMPLE_RATE = 48000


class PlaybackEngine:
    """A/B(/R) playback of preloaded clips through one kept-open output stream.

    Parameters:
        device: output device name (substring match, as sounddevice does), index, or None for the default.
        latency: requested output latency in seconds (~0.1 s: safe on a loaded 2-core machine).
        sample_rate: force a device rate in Hz; None uses the device's default rate.
        crossfade_s: length of the linear crossfade for slot switches, play and pause.
        stall_timeout_s: with the stream active, no callback for this long means the device is lost.

    Nothing touches the device until `open` or `play`; `load` works without any device. Device problems
    raise `AudioDeviceError` from `open`, `play` and `set_device`, and a device lost while playing is
    reported by `device_error` (checked whenever `position` or `is_playing` is read).
    """

    def __init__(
        self,
        device: str | int | None = None,
        *,
        latency: float = 0.1,
        sample_rate: int | None = None,
        crossfade_s: float = 0.005,
        stall_timeout_s: float = 1.0,
    ) -> None:
        self._device_request = device
        self._device: OutputDevice | None = None
        self._latency = float(latency)
        self._forced_rate = int(sample_rate) if sample_rate else None
        self._stall_timeout_s = float(stall_timeout_s)
        self._mixer = Mixer(self._forced_rate or FALLBACK_SAMPLE_RATE, crossfade_s=crossfade_s)
        self._rate_known = self._forced_rate is not None
        self._originals: dict[Slot, tuple[np.ndarray, int]] = {}
        self._progressive: dict[Slot, ProgressiveBuffer] = {}
        self._gains_db = dict.fromkeys(Slot, 0.0)
        self._volume = 1.0
        self._loop: tuple[int, int] | None = None
        self._looping = False
        self._selected = Slot.A
        self._sd: ModuleType | None = None
        self._stream: sounddevice.OutputStream | None = None
        self._stream_token = 0
        self._finished_token = -1  # token of a stream that finished without our asking
        self._opened_at = 0.0
        self._dac_fallback = self._latency
        self._callback_error: BaseException | None = None
        self._want_play = False
        self._play_serial = 0
        self._paused_seek: int | None = None
        self._error: AudioDeviceError | None = None

    # ---- slots ---------------------------------------------------------------------------------------

    def load(self, slot: Slot, audio: np.ndarray, sample_rate: int) -> None:
        """Preload ``slot`` with mono audio ``[shape=(n,)]`` (or ``(n, channels)``, averaged) at ``sample_rate``.

        The audio is resampled to the device rate here, outside the callback. Replacing the slot that is
        sounding takes effect at the next block (an abrupt change; select another slot first to avoid it).

        Raises:
            ValueError: empty, non-finite or wrongly shaped audio, or a non-positive rate.
        """
        x = np.asarray(audio)
        if x.ndim == 2:
            x = x.mean(axis=1)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"audio for slot {slot.value} must be non-empty mono, got shape {np.shape(audio)}")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"audio for slot {slot.value} contains NaN or infinity")
        self._ensure_rate()
        self._progressive.pop(slot, None)
        self._originals[slot] = (np.array(x, dtype=np.float32), int(sample_rate))
        self._push_settings(resampled={slot: resample(x, int(sample_rate), self.sample_rate)})

    def load_progressive(self, slot: Slot, n_samples: int, sample_rate: int) -> ProgressiveBuffer:
        """Give ``slot`` a whole-clip buffer of ``n_samples`` at ``sample_rate`` that fills while it plays.

        Write chunks into the returned buffer (`ProgressiveBuffer.write`, from any one thread, e.g. the
        compute worker); the callback plays each block once it is written, and while the selected slot's next
        block is not, it holds the playhead (faded out; `waiting_for_fill` is True) until 0.2 s are ready.
        """
        self._ensure_rate()
        buffer = ProgressiveBuffer(int(n_samples), int(sample_rate), self.sample_rate)
        self._originals.pop(slot, None)
        self._progressive[slot] = buffer
        self._push_settings(resampled={slot: buffer.audio})
        return buffer

    def attach_progressive(self, slot: Slot, buffer: ProgressiveBuffer) -> None:
        """Play ``buffer`` (made and filled elsewhere, e.g. on the compute worker) in ``slot``, as
        `load_progressive` does. Raises ValueError if it is not at the device rate (the device changed)."""
        self._ensure_rate()
        if buffer.device_rate != self.sample_rate:
            raise ValueError(f"the buffer is at {buffer.device_rate} Hz, the device at {self.sample_rate} Hz")
        self._originals.pop(slot, None)
        self._progressive[slot] = buffer
        self._push_settings(resampled={slot: buffer.audio})

    def progressive(self, slot: Slot) -> ProgressiveBuffer | None:
        """The filling buffer of ``slot``, or None when the slot holds whole audio (or nothing)."""
        return self._progressive.get(slot)

    @property
    def waiting_for_fill(self) -> bool:
        """Playing, but held at a block of the selected slot that is not written yet (say "preparing…")."""
        return self.is_playing and self._mixer.holding

    @property
    def hold_blocks(self) -> int:
        """Blocks of silence so far because a progressive slot's fill was behind the playhead."""
        return self._mixer.hold_blocks

    def unload(self, slot: Slot) -> None:
        """Empty ``slot`` (it then plays silence)."""
        self._originals.pop(slot, None)
        self._progressive.pop(slot, None)
        self._push_settings(resampled={slot: None})

    def source(self, slot: Slot) -> np.ndarray | None:
        """What ``slot`` plays before its gain and the volume: float32 ``[shape=(n,)]`` at the device rate (do not
        modify it), or None for an empty slot. Loudness matching measures this, not the file."""
        return self._mixer.settings.sources[slot.index]

    def loaded(self, slot: Slot) -> bool:
        """Whether ``slot`` holds audio."""
        return slot in self._originals

    def select(self, slot: Slot) -> None:
        """Make ``slot`` the one heard: a crossfade at the next block, same playhead, no restart."""
        self._selected = slot
        self._mixer.post_select(slot)
        self._apply_if_closed()

    @property
    def selected(self) -> Slot:
        """The slot last selected."""
        return self._selected

    def set_slot_gain_db(self, slot: Slot, gain_db: float) -> None:
        """Gain applied to ``slot`` in dB (e.g. to loudness-match B to A); 0 dB = unchanged."""
        if not math.isfinite(gain_db):
            raise ValueError(f"gain must be finite, got {gain_db}")
        self._gains_db[slot] = float(gain_db)
        self._push_settings()

    def slot_gain_db(self, slot: Slot) -> float:
        """The gain set for ``slot`` in dB."""
        return self._gains_db[slot]

    def set_volume(self, volume: float) -> None:
        """Master linear gain, >= 0 (1.0 = unchanged)."""
        if not math.isfinite(volume) or volume < 0:
            raise ValueError(f"volume must be a finite number >= 0, got {volume}")
        self._volume = float(volume)
        self._push_settings()

    @property
    def volume(self) -> float:
        """Master linear gain."""
        return self._volume

    # ---- loop ------------------------------------------------------------------------------------------

    def set_loop(self, start_s: float, end_s: float) -> None:
        """Loop region in seconds, ``start_s < end_s``; used while `looping` is on."""
        self.set_loop_samples(round(start_s * self.sample_rate), round(end_s * self.sample_rate))

    def set_loop_samples(self, start: int, end: int) -> None:
        """Loop region in device-rate samples, end exclusive: the sample after ``end - 1`` is ``start``."""
        if not 0 <= start < end:
            raise ValueError(f"loop region needs 0 <= start < end, got ({start}, {end})")
        self._loop = (int(start), int(end))
        self._push_settings()

    def clear_loop(self) -> None:
        """Forget the loop region (looping then wraps the whole buffer)."""
        self._loop = None
        self._push_settings()

    @property
    def loop_region(self) -> tuple[int, int] | None:
        """The loop region in device-rate samples, or None for the whole buffer."""
        return self._loop

    def set_looping(self, enabled: bool) -> None:
        """Wrap at the loop end (or the buffer's end) instead of stopping."""
        self._looping = bool(enabled)
        self._push_settings()

    @property
    def looping(self) -> bool:
        """Whether playback wraps."""
        return self._looping

    # ---- transport ---------------------------------------------------------------------------------------

    def play(self) -> None:
        """Start or resume at the playhead (from 0 if it is at the end); opens the device if needed.

        Raises:
            AudioDeviceError: the device cannot be opened; the engine keeps its state.
        """
        self._check_stream()
        if self._stream is None:
            self.open()
        self._play_serial += 1
        self._want_play = True
        self._paused_seek = None
        self._mixer.post_play(self._play_serial)

    def pause(self) -> None:
        """Fade out (~5 ms) and hold the playhead."""
        self._want_play = False
        self._mixer.post_pause()
        self._apply_if_closed()

    def stop(self) -> None:
        """Fade out and return the playhead to 0."""
        self._want_play = False
        self._paused_seek = 0
        self._mixer.post_stop()
        self._apply_if_closed()

    def seek(self, seconds: float) -> None:
        """Move the playhead to ``seconds`` (clamped to the clip)."""
        self.seek_samples(round(seconds * self.sample_rate))

    def seek_samples(self, sample: int) -> None:
        """Move the playhead to device-rate ``sample`` (clamped to ``[0, length]``)."""
        target = min(max(0, int(sample)), self.length)
        if not self.is_playing:
            self._paused_seek = target
        self._mixer.post_seek(target)
        self._apply_if_closed()

    @property
    def is_playing(self) -> bool:
        """True from `play` until `pause`/`stop`, the end of the buffer, or a device error."""
        self._check_stream()
        return self._want_play and self._mixer.ended_serial != self._play_serial

    def position_samples(self) -> int:
        """The device-rate sample audible now (latency-compensated), in ``[0, length]``.

        While a stream runs this maps the stream clock through the DAC time recorded for each block, so it
        trails the sample being written by the output latency. Paused after a seek, it is the seek target.
        """
        self._check_stream()
        if self._paused_seek is not None and not self.is_playing:
            return self._paused_seek
        if self._stream is None or self._sd is None:
            return int(self._mixer.playhead)
        try:
            now = self._stream.time
        except self._sd.PortAudioError:
            return int(self._mixer.playhead)
        return min(self._mixer.audible_sample(now), self.length)

    def position(self) -> float:
        """The audible position in seconds (see `position_samples`); poll it at ~30 Hz."""
        return self.position_samples() / self.sample_rate

    @property
    def playhead_samples(self) -> int:
        """The next sample the callback will write (ahead of `position_samples` by the latency)."""
        return int(self._mixer.playhead)

    @property
    def length(self) -> int:
        """Length of the longest loaded slot in device-rate samples."""
        return self._mixer.settings.length

    @property
    def duration(self) -> float:
        """Length of the longest loaded slot in seconds."""
        return self.length / self.sample_rate

    @property
    def sample_rate(self) -> int:
        """The device rate in Hz that slots are stored at."""
        return self._mixer.sample_rate

    @property
    def crossfade_samples(self) -> int:
        """Length of the switch crossfade in device-rate samples."""
        return self._mixer.n_fade

    @property
    def underflows(self) -> int:
        """Gaps in the output since the engine began: blocks PortAudio flagged with ``output_underflow`` plus gaps
        seen in the DAC clock that it did not flag (see `Mixer.render`), playing or not."""
        return self._mixer.underflows

    @property
    def heard_underflows(self) -> int:
        """The `underflows` that interrupted sound (playing or fading when the gap came): what a listener hears."""
        return self._mixer.heard_underflows

    @property
    def mixer(self) -> Mixer:
        """The mixing state (read-only use: diagnostics, benchmarks and tests)."""
        return self._mixer

    # ---- device -------------------------------------------------------------------------------------------

    @property
    def device(self) -> OutputDevice | None:
        """The device in use, or None before `open`."""
        return self._device

    @property
    def device_error(self) -> AudioDeviceError | None:
        """The last device failure (cleared by a successful `open`/`set_device`), else None."""
        self._check_stream()
        return self._error

    @staticmethod
    def list_output_devices() -> list[OutputDevice]:
        """All output devices (see `app.playback.list_output_devices`)."""
        return list_output_devices()

    def set_device(self, name_or_index: str | int | None) -> None:
        """Switch to another output device and reopen the stream if one was open; playing continues there.

        Raises:
            AudioDeviceError: no such device, or it cannot be opened. An unknown device leaves the current
                one in use; a failing open leaves the engine closed with its state kept.
        """
        resolve_output_device(name_or_index)  # fails before anything is closed
        was_open = self._stream is not None
        was_playing = self.is_playing
        self.close()
        self._device_request = name_or_index
        self._device = None
        if self._forced_rate is None:
            self._rate_known = False
        if was_open or was_playing:
            self.open()
        if was_playing:
            self.play()

    def open(self) -> None:
        """Open and start the output stream (silent until `play`). Idempotent.

        Raises:
            AudioDeviceError: no PortAudio, no such device, or PortAudio refuses the stream.
        """
        if self._stream is not None:
            return
        try:
            sd = load_sounddevice()
            device = resolve_output_device(self._device_request)
        except AudioDeviceError as exc:
            self._error = exc
            raise
        self._sd = sd
        rate = self._forced_rate or round(device.default_sample_rate)
        if rate != self.sample_rate:
            self._retime(rate)
        self._rate_known = True
        self._stream_token += 1
        token = self._stream_token
        stream = None
        try:
            stream = sd.OutputStream(
                samplerate=rate,
                blocksize=0,
                device=device.index,
                channels=min(2, device.max_output_channels),
                dtype="float32",
                latency=self._latency,
                callback=self._callback,
                finished_callback=lambda: self._on_finished(token),
            )
            self._dac_fallback = float(stream.latency)
            self._mixer.stream_started()
            self._opened_at = time.monotonic()
            self._callback_error = None
            self._stream = stream
            self._device = device
            stream.start()
        except (sd.PortAudioError, ValueError, OSError) as exc:
            self._stream = None
            if stream is not None:
                stream.close(ignore_errors=True)
            words = portaudio_words(exc) if isinstance(exc, sd.PortAudioError) else str(exc)
            self._error = AudioDeviceError(f"cannot open an output stream: {words}", device.name)
            raise self._error from exc
        self._error = None

    def close(self) -> None:
        """Stop and close the stream (the device is free again); slots and selection are kept.

        Closed while playing (`set_device`, a lost device), the playhead goes back to the sample that was
        audible, so playing again resumes where the listener was, not a latency's worth later.
        """
        stream, self._stream = self._stream, None
        self._stream_token += 1  # its finished_callback is expected now, not a failure
        playing = self._want_play and self._mixer.ended_serial != self._play_serial
        resume_at = None
        if stream is not None and playing and self._sd is not None:
            try:
                resume_at = min(self._mixer.audible_sample(stream.time), self.length)
            except self._sd.PortAudioError:  # a dead device has no clock: keep the written playhead
                resume_at = None
        if stream is not None:
            stream.close(ignore_errors=True)
        self._want_play = False
        self._mixer.halt()  # no callback any more: applies pending commands on this thread
        if resume_at is not None:
            self._mixer.playhead = resume_at
        if playing:
            self._paused_seek = int(self._mixer.playhead)

    def __enter__(self) -> PlaybackEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- internals ------------------------------------------------------------------------------------------

    def _callback(
        self, outdata: np.ndarray, frames: int, time_info: StreamTime, status: sounddevice.CallbackFlags
    ) -> None:
        """The PortAudio callback: the mixer's block, timed by the DAC clock. No allocation, no I/O."""
        try:
            dac = time_info.outputBufferDacTime
            now = time_info.currentTime
            if dac <= 0.0:  # host API without DAC timing: assume the reported stream latency
                dac = now + self._dac_fallback
            self._mixer.render(outdata, dac, now, status.output_underflow)
        except Exception as exc:
            outdata.fill(0)
            self._callback_error = exc
            raise self._sd.CallbackAbort from exc  # type: ignore[union-attr]

    def _on_finished(self, token: int) -> None:
        """PortAudio's finished_callback (audio thread): only note it; the GUI thread acts on it."""
        if token == self._stream_token:
            self._finished_token = token

    def _check_stream(self) -> None:
        """Detect a lost device: stream ended by itself, clock errors, or no callbacks for a while."""
        stream = self._stream
        if stream is None or self._sd is None:
            return
        reason = None
        if self._finished_token == self._stream_token:
            reason = "the output stream stopped by itself (device lost?)"
            if self._callback_error is not None:
                reason = f"the audio callback failed: {self._callback_error!r}"
        else:
            try:
                active = stream.active
                now = stream.time
            except self._sd.PortAudioError as exc:
                active, now = False, math.nan
                reason = f"the output stream failed: {portaudio_words(exc)}"
            if reason is None and active:
                last = self._mixer.last_callback_time
                if math.isnan(last):
                    if time.monotonic() - self._opened_at > self._stall_timeout_s:
                        reason = f"the device asked for no audio within {self._stall_timeout_s:.1f} s"
                elif now - last > self._stall_timeout_s:
                    reason = f"the device asked for no audio for {now - last:.1f} s (device lost?)"
            elif reason is None and not active:
                reason = "the output stream is no longer active (device lost?)"
        if reason is not None:
            name = self._device.name if self._device is not None else self._device_request
            self.close()
            self._error = AudioDeviceError(reason, name)

    def _apply_if_closed(self) -> None:
        if self._stream is None:
            self._mixer.apply_commands()  # no callback will apply the command

    def _ensure_rate(self) -> None:
        """Learn the device rate before the first load, so slots are resampled once in the common case."""
        if self._rate_known:
            return
        try:
            device = resolve_output_device(self._device_request)
        except AudioDeviceError as exc:
            self._error = exc
            return  # keep the fallback rate; `open` resamples if the device turns up
        self._rate_known = True
        rate = round(device.default_sample_rate)
        if rate != self.sample_rate:
            self._retime(rate)

    def _retime(self, rate: int) -> None:
        """Change the device rate (no stream running): resample every slot, convert sample positions."""
        old = self.sample_rate
        self._mixer.retime(rate)
        if self._loop is not None:
            self._loop = (round(self._loop[0] * rate / old), round(self._loop[1] * rate / old))
        if self._paused_seek is not None:
            self._paused_seek = round(self._paused_seek * rate / old)
        self._progressive = {slot: buffer.retimed(rate) for slot, buffer in self._progressive.items()}
        resampled = {slot: resample(x, sr, rate) for slot, (x, sr) in self._originals.items()}
        self._push_settings(resampled={**resampled, **{s: b.audio for s, b in self._progressive.items()}})

    def _push_settings(self, resampled: dict[Slot, np.ndarray | None] | None = None) -> None:
        """Swap in a new immutable settings snapshot (one attribute assignment the callback reads)."""
        old = self._mixer.settings
        sources: list[np.ndarray | None] = list(old.sources)
        for slot, x in (resampled or {}).items():
            sources[slot.index] = x
        gains = [0.0] * N_SLOTS
        for slot in Slot:
            gains[slot.index] = 10.0 ** (self._gains_db[slot] / 20.0)
        ready = [None] * N_SLOTS
        for slot, buffer in self._progressive.items():
            ready[slot.index] = buffer.ready
        self._mixer.settings = MixSettings(
            sources=tuple(sources),
            ready=tuple(ready),
            ready_block=READY_BLOCK,
            gains=tuple(gains),
            volume=self._volume,
            loop=self._loop,
            looping=self._looping,
        )
