"""A/B playback figures on the real (virtual) device: switch latency, position accuracy, an A/B soak.

    bash scripts/ci_env.sh && python bench/playback_ab.py [--soak-s 60 | --long] [--switches 20]

Needs the PulseAudio null sink "vsink" (``scripts/ci_env.sh``) started before this process. Prints one JSON line
per figure: {"figure": ..., "value": ..., "unit": ...}. Never passes or fails on a figure; exits 2 (with the
reason on stderr) when there is no device.

- switch_latency_blocks: blocks started from `select()` to the one where the crossfade starts (1 = the next one).
- switch_offset_samples: crossfade start minus the written playhead at `select()` (at most one block).
- switch_audible_delay_ms: crossfade start minus `position()` at `select()`: how long until the user hears it.
- position_error_ms: `position()` minus the newest sample vsink.monitor had delivered at that moment, timed by
  a 10 ms parec reader (positive = position runs ahead of the sink). The null sink renders 10 ms blocks at
  once and the monitor hands each over whole, so the monitor leads real time by up to one block: a figure
  between -10 and 0 ms is exact compensation.
- render_us_per_block: the callback body (`Mixer.render`) on a 1024-frame stereo block during a crossfade.
- soak_*: A/B toggled every 100 ms on a looping clip; underflows, switches that did not land, device errors.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.playback import AudioDeviceError, Mixer, MixSettings, PlaybackEngine, Slot  # noqa: E402


def chord_sequence(sample_rate: int, seconds: float, *, seed: int = 0, transpose: int = 0) -> np.ndarray:
    """Mono float32 chords with sharp onsets every 0.5 s, peak 0.5 (as in tests/playback)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    y = np.zeros(n)
    step = sample_rate // 2
    for start in range(0, n, step):
        t = np.arange(min(step, n - start)) / sample_rate
        env = np.minimum(t / 0.005, 1.0) * np.exp(-t / 0.25)
        root = int(rng.choice([57, 60, 62, 64, 65, 67, 69])) + transpose
        for interval in (0, 4, 7):
            f0 = 440.0 * 2 ** ((root + interval - 69) / 12)
            for k in range(1, 6):
                y[start : start + len(t)] += env * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.28)) / k
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def emit(figure: str, value: float, unit: str) -> None:
    print(json.dumps({"figure": figure, "value": round(float(value), 4), "unit": unit}), flush=True)


def bench_render() -> None:
    sr = 48000
    a, b = chord_sequence(sr, 10.0, seed=1), chord_sequence(sr, 10.0, seed=2)
    m = Mixer(sr, crossfade_s=0.03)  # a fade longer than the block: every block crossfades
    m.settings = MixSettings(sources=(a, b, None), gains=(1.0, 0.8, 1.0), volume=0.9)
    out = np.zeros((1024, 2), dtype=np.float32)
    m.post_play(1)
    n = 2000
    t0 = time.perf_counter()
    for i in range(n):
        if i % 2 == 0:
            m.post_select(Slot.B if (i // 2) % 2 == 0 else Slot.A)
        m.render(out, 0.0, 0.0, False)
    emit("render_us_per_block", (time.perf_counter() - t0) / n * 1e6, "us")


class MonitorClock:
    """Reads vsink.monitor through a 10 ms parec pipe and notes when each chunk arrived."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.chunks: list[tuple[float, int]] = []  # (arrival time, samples received so far)
        self.data = bytearray()
        self._proc = subprocess.Popen(
            ["parec", "-d", "vsink.monitor", "--format=float32le", f"--rate={sample_rate}", "--channels=1",
             "--raw", "--latency-msec=10"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        while True:
            block = self._proc.stdout.read1(4 * 441)
            if not block:
                return
            self.data += block
            self.chunks.append((time.monotonic(), len(self.data) // 4))

    def stop(self) -> np.ndarray:
        self._proc.terminate()
        self._proc.wait(timeout=5)
        self._thread.join(timeout=5)
        return np.frombuffer(bytes(self.data[: len(self.data) // 4 * 4]), dtype="<f4")


def bench_switch_and_position(engine: PlaybackEngine, n_switches: int) -> None:
    from scipy import signal

    sr = engine.sample_rate
    a = chord_sequence(sr, 12.0, seed=1)
    engine.load(Slot.A, a, sr)
    engine.load(Slot.B, chord_sequence(sr, 12.0, seed=2, transpose=5), sr)
    engine.select(Slot.A)
    engine.seek_samples(0)
    engine.set_looping(False)
    engine.open()
    time.sleep(0.5)  # a running stream, so the monitor misses nothing at the start
    clock = MonitorClock(sr)
    time.sleep(0.3)
    engine.play()
    polls: list[tuple[float, int]] = []
    t_end = time.monotonic() + 3.0
    while time.monotonic() < t_end:  # A only: the recording maps 1:1 onto slot A
        polls.append((time.monotonic(), engine.position_samples()))
        time.sleep(1 / 30)
    y = clock.stop()
    ref = engine.mixer.settings.sources[Slot.A.index]
    assert ref is not None
    head = ref[sr // 2 : 2 * sr]
    lag = int(np.argmax(signal.correlate(y, head, mode="valid", method="fft"))) - sr // 2
    # the sink's sample at time t: the earliest arrivals bound it (a chunk is never early)
    times = np.array([t for t, _ in clock.chunks])
    counts = np.array([c for _, c in clock.chunks]) - lag
    t0 = float(np.min(times - counts / sr))
    errors = [(p - (t - t0) * sr) / sr * 1000 for t, p in polls if 0.3 * sr < p < 2.8 * sr]
    if errors:
        emit("position_error_ms", float(np.median(errors)), "ms")
        emit("position_error_abs_p95_ms", float(np.percentile(np.abs(errors), 95)), "ms")

    latency_blocks, offsets, delays = [], [], []
    slot = Slot.B
    for _ in range(n_switches):
        time.sleep(0.137)  # not a multiple of the block length
        blocks, playhead, audible = engine.mixer.blocks, engine.playhead_samples, engine.position_samples()
        engine.select(slot)
        deadline = time.monotonic() + 1.0
        while engine.mixer.last_switch_block <= blocks and time.monotonic() < deadline:
            time.sleep(0.001)
        latency_blocks.append(engine.mixer.last_switch_block - blocks)
        offsets.append(engine.mixer.last_switch_sample - playhead)
        delays.append((engine.mixer.last_switch_sample - audible) / sr * 1000)
        slot = Slot.A if slot is Slot.B else Slot.B
    engine.pause()
    emit("block_frames_max", engine.mixer.max_block_frames, "frames")
    emit("switch_latency_blocks_max", max(latency_blocks), "blocks")
    emit("switch_offset_samples_median", float(np.median(offsets)), "samples")
    emit("switch_offset_samples_max", max(offsets), "samples")
    emit("switch_audible_delay_ms_median", float(np.median(delays)), "ms")


def bench_soak(engine: PlaybackEngine, seconds: float) -> None:
    sr = engine.sample_rate
    engine.load(Slot.A, chord_sequence(sr, 8.0, seed=4), sr)
    engine.load(Slot.B, chord_sequence(sr, 8.0, seed=5, transpose=3), sr)
    engine.set_looping(True)
    engine.seek_samples(0)
    underflows_before = engine.underflows
    engine.play()
    time.sleep(0.1)
    mixer = engine.mixer
    switches_before = mixer.switch_count
    requested = errors = 0
    worst_blocks = 0
    slot = Slot.B
    t_end = time.monotonic() + seconds
    next_toggle = time.monotonic()
    while time.monotonic() < t_end:
        blocks, count = mixer.blocks, mixer.switch_count
        engine.select(slot)
        requested += 1
        slot = Slot.A if slot is Slot.B else Slot.B
        next_toggle += 0.1
        for poll in (0.066, 0.033, 0.0):  # the GUI's ~30 Hz position poll
            time.sleep(max(0.0, next_toggle - poll - time.monotonic()))
            engine.position()
        if mixer.switch_count > count:  # our switch landed: in which block after select()?
            worst_blocks = max(worst_blocks, mixer.last_switch_block - blocks)
        if engine.device_error is not None:
            errors += 1
            print(f"device error: {engine.device_error}", file=sys.stderr)
            engine.play()
    time.sleep(0.2)
    engine.pause()
    emit("soak_duration_s", seconds, "s")
    emit("soak_switches", requested, "count")
    emit("soak_underflows", engine.underflows - underflows_before, "count")
    emit("soak_missed_switches", requested - (mixer.switch_count - switches_before), "count")
    emit("soak_switch_latency_blocks_max", worst_blocks, "blocks")
    emit("soak_device_errors", errors, "count")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak-s", type=float, default=60.0, help="soak length in seconds (default 60)")
    parser.add_argument("--long", action="store_true", help="a 600 s soak")
    parser.add_argument("--switches", type=int, default=20, help="switches timed for the latency figures")
    parser.add_argument("--device", default=None, help="output device (default: the system default)")
    args = parser.parse_args(argv)
    bench_render()
    engine = PlaybackEngine(args.device)
    try:
        engine.open()
        bench_switch_and_position(engine, args.switches)
        bench_soak(engine, 600.0 if args.long else args.soak_s)
    except AudioDeviceError as exc:
        print(f"no audio device: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
