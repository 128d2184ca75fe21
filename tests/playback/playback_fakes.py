"""Test helpers for tests/playback: a music-like clip, a stand-in sounddevice module, a monitor recorder.

(A module with its own name rather than conftest, so tests can import from it.)
"""

from __future__ import annotations

import subprocess
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SINK = "vsink"
MONITOR = "vsink.monitor"


def chord_sequence(sample_rate: int, seconds: float, *, seed: int = 0, transpose: int = 0) -> np.ndarray:
    """A music-like mono test clip ``[shape=(round(seconds * sample_rate),)]``, float32, peak 0.5.

    Chords of three harmonic tones (1/k partials) with a sharp attack and exponential decay every 0.5 s,
    plus a short noise burst at each onset, so cross-correlation has one clear peak.
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    y = np.zeros(n)
    step = sample_rate // 2
    roots = [57, 60, 62, 64, 65, 67, 69]
    for start in range(0, n, step):
        seg = np.arange(min(step, n - start)) / sample_rate
        env = np.minimum(seg / 0.005, 1.0) * np.exp(-seg / 0.25)
        root = int(rng.choice(roots)) + transpose
        for interval in (0, 4, 7):
            f0 = 440.0 * 2 ** ((root + interval - 69) / 12)
            for k in range(1, 6):
                y[start : start + len(seg)] += env * np.sin(2 * np.pi * k * f0 * seg + rng.uniform(0, 6.28)) / k
        burst = min(len(seg), sample_rate // 50)
        y[start : start + burst] += rng.normal(0, 0.3, burst) * np.exp(-np.arange(burst) / (burst / 5))
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


# ---- a stand-in for the sounddevice module, driven by hand ----------------------------------------------


class _Flags:
    def __init__(self, underflow: bool) -> None:
        self.output_underflow = underflow


class _Time:
    def __init__(self, dac: float, now: float) -> None:
        self.outputBufferDacTime = dac
        self.currentTime = now
        self.inputBufferAdcTime = 0.0


class FakeOutputStream:
    """Records how it was opened; `pump` plays one callback block, as PortAudio's thread would."""

    instances: list[FakeOutputStream] = []  # noqa: RUF012 (test-only registry)
    fail_open: Exception | None = None

    def __init__(self, **kwargs: Any) -> None:
        if FakeOutputStream.fail_open is not None:
            raise FakeOutputStream.fail_open
        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.finished_callback = kwargs.get("finished_callback")
        self.channels = kwargs["channels"]
        self.latency = kwargs["latency"]
        self.time = 100.0
        self.active = False
        self.closed = False
        FakeOutputStream.instances.append(self)

    def start(self) -> None:
        self.active = True

    def close(self, ignore_errors: bool = True) -> None:
        was_active = self.active
        self.active = False
        self.closed = True
        if was_active and self.finished_callback is not None:
            self.finished_callback()

    def pump(self, frames: int, *, underflow: bool = False) -> np.ndarray:
        """One callback of ``frames`` frames; the DAC time is ``latency`` after the stream time."""
        out = np.full((frames, self.channels), np.nan, dtype=np.float32)
        self.callback(out, frames, _Time(self.time + self.latency, self.time), _Flags(underflow))
        self.time += frames / self.kwargs["samplerate"]
        return out

    def die(self) -> None:
        """The device vanished: the stream finishes by itself."""
        self.active = False
        if self.finished_callback is not None:
            self.finished_callback()


def make_fake_sounddevice(
    devices_: list[dict[str, Any]] | None = None,
    *,
    stream: type = FakeOutputStream,
    default: tuple[int, int] = (0, 1),
    name: str = "fake_sounddevice",
) -> types.ModuleType:
    """A stand-in for the sounddevice module: ``devices_`` (default: a mic, speakers and HDMI), ``default``
    (input, output) device indices, and ``stream`` as its OutputStream."""
    sd = types.ModuleType(name)

    class PortAudioError(Exception):
        pass

    class CallbackAbort(Exception):
        pass

    sd.PortAudioError = PortAudioError
    sd.CallbackAbort = CallbackAbort
    sd.CallbackStop = type("CallbackStop", (Exception,), {})
    sd.devices = devices_ or [
        {"name": "mic", "index": 0, "hostapi": 0, "max_output_channels": 0, "default_samplerate": 48000.0},
        {"name": "speakers", "index": 1, "hostapi": 0, "max_output_channels": 2, "default_samplerate": 48000.0},
        {"name": "hdmi", "index": 2, "hostapi": 0, "max_output_channels": 8, "default_samplerate": 44100.0},
    ]
    sd.default = types.SimpleNamespace(device=list(default))

    def query_devices(device: Any = None, kind: str | None = None) -> Any:
        if device is None and kind is None:
            return sd.devices
        if device is None:
            device = sd.default.device[1 if kind == "output" else 0]
        if isinstance(device, int):
            if not 0 <= device < len(sd.devices):
                raise PortAudioError(f"Error querying device {device}")
            return sd.devices[device]
        matches = [d for d in sd.devices if device.lower() in d["name"].lower() and d["max_output_channels"]]
        if len(matches) != 1:
            raise ValueError(f"No output device matching {device!r}")
        return matches[0]

    sd.query_devices = query_devices
    sd.query_hostapis = lambda index=None: {"name": "FakeAPI"}
    sd.OutputStream = stream
    return sd


class MonitorRecorder:
    """Records ``vsink.monitor`` as mono float32 with parec, from `start` to `stop`."""

    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._file = self.path.open("wb")
        self._proc = subprocess.Popen(
            [
                "parec",
                "-d",
                MONITOR,
                "--format=float32le",
                f"--rate={self.sample_rate}",
                "--channels=1",
                "--raw",
                "--latency-msec=10",
            ],
            stdout=self._file,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while self.path.stat().st_size < 4096 and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.path.stat().st_size < 4096:
            self.stop()
            pytest.fail(f"parec delivered no audio from {MONITOR} within 10 s")

    def stop(self) -> np.ndarray:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
            self._file.close()
        raw = self.path.read_bytes()
        return np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<f4").astype(np.float32)
