"""A stand-in sounddevice whose stream runs like a device: a thread calls the callback in real time and keeps
everything it was given, so widget tests can assert what the window played without a sound card.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "playback"))

from playback_fakes import make_fake_sounddevice

DEVICE_RATE = 48000
BLOCK = 480  # 10 ms


class _Time:
    def __init__(self, dac: float, now: float) -> None:
        self.outputBufferDacTime = dac
        self.currentTime = now


class _Flags:
    output_underflow = False


class RealTimeStream:
    """Calls ``callback`` every ``BLOCK`` frames at the wall-clock pace; ``played()`` returns the mono output."""

    instances: list[RealTimeStream] = []  # noqa: RUF012 (test-only registry)

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.finished_callback = kwargs.get("finished_callback")
        self.channels = kwargs["channels"]
        self.samplerate = kwargs["samplerate"]
        self.latency = kwargs["latency"]
        self.active = False
        self._t0 = time.monotonic()
        self._blocks: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        RealTimeStream.instances.append(self)

    @property
    def time(self) -> float:
        return time.monotonic() - self._t0

    def start(self) -> None:
        self.active = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        out = np.zeros((BLOCK, self.channels), dtype=np.float32)
        period = BLOCK / self.samplerate
        next_at = time.monotonic()
        dac = self.time + self.latency
        while not self._stop.is_set():
            now = self.time
            # as a device with a `latency`-long buffer: each block is heard right after the previous one, unless
            # the callback came so late that the buffer ran dry (then it is heard as soon as it is written)
            dac = max(dac, now)
            self.callback(out, BLOCK, _Time(dac, now), _Flags())
            dac += period
            with self._lock:
                self._blocks.append(out[:, 0].copy())
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))

    def played(self) -> np.ndarray:
        with self._lock:
            return np.concatenate(self._blocks) if self._blocks else np.zeros(0, dtype=np.float32)

    def close(self, ignore_errors: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        was_active, self.active = self.active, False
        if was_active and self.finished_callback is not None:
            self.finished_callback()


def make_sounddevice() -> types.ModuleType:
    """The playback tests' stand-in module with two output devices at DEVICE_RATE and a real-time stream."""
    devices = [
        {"name": name, "index": i, "hostapi": 0, "max_output_channels": 2, "default_samplerate": float(DEVICE_RATE)}
        for i, name in enumerate(("speakers", "headphones"))
    ]
    return make_fake_sounddevice(devices, stream=RealTimeStream, default=(-1, 0), name="ui_fake_sounddevice")
