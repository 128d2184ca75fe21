"""Real audio: the engine plays through PortAudio -> ALSA -> PulseAudio null sink "vsink", and the test records
"vsink.monitor" at the same time and compares it with what the engine was asked to play.

Needs ``bash scripts/ci_env.sh`` to have run before pytest started (see conftest).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from playback_fakes import chord_sequence
from scipy import signal

from app.playback import PlaybackEngine, Slot

pytestmark = pytest.mark.slow


def _align(recording: np.ndarray, reference: np.ndarray) -> int:
    """Index in ``recording`` where ``reference`` starts (cross-correlation peak)."""
    xc = signal.correlate(recording, reference, mode="full", method="fft")
    return int(np.argmax(xc)) - (len(reference) - 1)


def _open_and_settle(engine: PlaybackEngine) -> None:
    """Open the stream and let it run before playing, as the app does at start-up.

    A new PulseAudio stream makes the null sink rewind; its monitor then misses up to one sink block
    (~10 ms) of whatever the stream played first. That is an artefact of recording a monitor, not of
    playback, so the tests start their audio on a stream that is already running.
    """
    engine.open()
    deadline = time.monotonic() + 2.0
    while engine.mixer.blocks < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)


def _mismatch(seg: np.ndarray, ref: np.ndarray) -> str:
    """Where an aligned recording departs from what was played (for failure messages)."""
    bad = np.flatnonzero(np.abs(seg - ref) > 1e-3)
    if len(bad) == 0:
        return "no sample differs by more than 1e-3"
    return f"{len(bad)} samples differ by more than 1e-3, first at {bad[0]}, last at {bad[-1]}"


def _play_to_end(engine: PlaybackEngine, timeout: float, on_poll=None) -> list[tuple[float, int]]:
    """Poll like the GUI (~30 Hz) until playback ends; returns (monotonic time, position) pairs."""
    polls = []
    deadline = time.monotonic() + timeout
    while engine.is_playing and time.monotonic() < deadline:
        polls.append((time.monotonic(), engine.position_samples()))
        if on_poll is not None:
            on_poll(polls[-1][1])
        time.sleep(1 / 30)
    assert not engine.is_playing, "playback did not reach the end"
    assert engine.device_error is None
    time.sleep(0.3)  # let the tail through the sink's buffers before the recorder stops
    return polls


def _measure_once(attempt, recorder_factory) -> dict:
    """Run ``attempt(recorder_factory)`` again once if the engine saw underflows: a starved machine (other
    jobs on the 2 cores) voids the measurement, it does not falsify it. The underflow count stays in the result.
    """
    result = attempt(recorder_factory)
    if result["underflows"]:
        result = attempt(recorder_factory)
    return result


def _play_clip(recorder_factory) -> dict:
    engine = PlaybackEngine()  # the default device: ALSA "default" -> PulseAudio -> vsink
    try:
        engine.load(Slot.A, chord_sequence(22050, 3.5, seed=3), 22050)  # resampled to the device rate
        sr = engine.sample_rate
        played = engine.mixer.settings.sources[Slot.A.index]
        assert played is not None and len(played) == round(3.5 * sr)
        rec = recorder_factory(sr)
        rec.start()
        _open_and_settle(engine)
        engine.play()
        polls = _play_to_end(engine, timeout=3.5 + 5)
        underflows = engine.underflows
    finally:
        engine.close()
    return {"sr": sr, "played": played, "y": rec.stop(), "polls": polls, "underflows": underflows}


def test_real_device_plays_the_clip_faithfully(audio_sink, recorder_factory) -> None:
    r = _measure_once(_play_clip, recorder_factory)
    played, y = r["played"], r["y"]
    lag = _align(y, played)
    assert lag >= 0 and lag + len(played) <= len(y), f"recording incomplete (lag {lag}, {len(y)} samples)"
    seg = y[lag : lag + len(played)]
    corr = float(np.corrcoef(seg, played)[0, 1])
    gain = float(np.dot(seg, played) / np.dot(played, played))
    print(f"\nreal sink: rate {r['sr']}, correlation {corr:.6f}, gain {gain:.4f}, underflows {r['underflows']}")
    assert corr >= 0.99, f"correlation {corr:.4f}: {_mismatch(seg, played)} (underflows {r['underflows']})"
    assert gain == pytest.approx(1.0, abs=0.05)  # the sink neither attenuates nor boosts
    positions = [p for _, p in r["polls"]]
    assert positions == sorted(positions)  # the polled playhead never runs backwards
    assert positions[-1] > 0.8 * len(played)


def _play_and_switch(recorder_factory) -> dict:
    engine = PlaybackEngine()
    try:
        engine.load(Slot.A, chord_sequence(44100, 3.0, seed=1), 44100)
        engine.load(Slot.B, chord_sequence(44100, 3.0, seed=2, transpose=5), 44100)
        sr = engine.sample_rate
        rec = recorder_factory(sr)
        rec.start()
        _open_and_settle(engine)
        engine.play()
        switched: dict[str, int] = {}

        def switch_at_one_second(position: int) -> None:
            if not switched and position >= sr:
                switched["playhead"] = engine.playhead_samples
                switched["audible"] = engine.position_samples()
                engine.select(Slot.B)

        _play_to_end(engine, timeout=3.0 + 5, on_poll=switch_at_one_second)
        return {
            "sr": sr,
            "n_fade": engine.crossfade_samples,
            "a": engine.mixer.settings.sources[Slot.A.index],
            "b": engine.mixer.settings.sources[Slot.B.index],
            "switched": switched,
            "k_engine": engine.mixer.last_switch_sample,
            "block": engine.mixer.max_block_frames,
            "underflows": engine.underflows,
            "y": rec.stop(),
        }
    finally:
        engine.close()


def test_real_device_switch_follows_a_then_b_with_a_crossfade(audio_sink, recorder_factory) -> None:
    r = _measure_once(_play_and_switch, recorder_factory)
    sr, n_fade, a, b, y = r["sr"], r["n_fade"], r["a"], r["b"], r["y"]
    switched, k_engine, block = r["switched"], r["k_engine"], r["block"]
    assert switched and k_engine > 0
    # the switch took effect at the block after select(): within one block of the playhead at that moment
    assert 0 <= k_engine - switched["playhead"] <= block

    # align on the second before the switch, so a glitch at the stream's start cannot shift the comparison
    ref_start = max(0, k_engine - sr)
    lag = _align(y, a[ref_start : k_engine - n_fade]) - ref_start
    seg = y[lag : lag + len(a)]
    assert lag >= 0 and len(seg) == len(a), "recording incomplete"

    def model(k: int) -> np.ndarray:
        w = np.zeros(len(a))
        w[k : k + n_fade] = np.arange(1, n_fade + 1) / n_fade
        w[k + n_fade :] = 1.0
        return (1 - w) * a + w * b

    # where in the recording did A turn into B? the switch sample whose model fits best
    candidates = range(k_engine - 2 * block, k_engine + 2 * block)
    lo, hi = k_engine - 3 * block, k_engine + 3 * block + n_fade
    errors = [float(np.sum((seg[lo:hi] - model(k)[lo:hi]) ** 2)) for k in candidates]
    k_rec = candidates[int(np.argmin(errors))]
    expected = model(k_rec)
    corr_a = float(np.corrcoef(seg[ref_start:k_rec], a[ref_start:k_rec])[0, 1])
    corr_b = float(np.corrcoef(seg[k_rec + n_fade :], b[k_rec + n_fade :])[0, 1])
    window = slice(k_rec - n_fade, k_rec + 2 * n_fade)
    max_jump = float(np.max(np.abs(np.diff(seg[window]))))
    allowed_jump = float(np.max(np.abs(np.diff(expected[window]))))
    hard_jump = float(np.max(np.abs(a[window] - b[window])))
    print(
        f"\nswitch: select at playhead {switched['playhead']} (audible {switched['audible']}), "
        f"crossfade started at {k_engine}, heard at {k_rec}; block {block}, fade {n_fade}; "
        f"corr A {corr_a:.5f}, corr B {corr_b:.5f}; max jump {max_jump:.4f} (model {allowed_jump:.4f}, "
        f"hard switch up to {hard_jump:.4f}); audible lag {(k_engine - switched['audible']) / sr * 1000:.1f} ms"
    )
    assert abs(k_rec - k_engine) <= 1  # the recording switches exactly where the engine says
    assert abs(k_rec - switched["playhead"]) <= block
    assert corr_a >= 0.99 and corr_b >= 0.99
    assert float(np.max(np.abs(seg[window] - expected[window]))) < 2e-3  # the crossfade's exact shape
    assert max_jump <= allowed_jump + 2e-3
    # position() reports the audible sample: behind the written playhead by about the output latency
    assert 0 < switched["playhead"] - switched["audible"] < 0.5 * sr


def test_real_device_reports_underflows_when_the_callback_is_starved(audio_sink) -> None:
    engine = PlaybackEngine()
    try:
        engine.load(Slot.A, chord_sequence(44100, 3.0), 44100)
        engine.play()
        time.sleep(0.5)
        before = engine.underflows
        old = sys.getswitchinterval()
        sys.setswitchinterval(1.0)  # the audio thread cannot take the GIL from this busy loop
        try:
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 0.6:
                pass
        finally:
            sys.setswitchinterval(old)
        time.sleep(0.5)
        after = engine.underflows
        assert engine.device_error is None and engine.is_playing  # a gap is not a lost device
    finally:
        engine.close()
    print(f"\nunderflows: {before} before, {after} after starving the callback for 0.6 s")
    assert before == 0
    assert after >= 1


def test_real_device_lost_mid_play_is_reported_and_playback_recovers(audio_sink) -> None:
    engine = PlaybackEngine(stall_timeout_s=0.5)
    suspended = False
    try:
        engine.load(Slot.A, chord_sequence(44100, 6.0), 44100)
        engine.play()
        time.sleep(0.4)
        # a suspended sink stops asking for audio, as a vanished USB device would
        subprocess.run(["pactl", "suspend-sink", audio_sink, "1"], check=True, timeout=10)
        suspended = True
        deadline = time.monotonic() + 5
        while engine.device_error is None and time.monotonic() < deadline:
            time.sleep(1 / 30)
        err = engine.device_error
        assert err is not None and "asked for no audio" in str(err), err
        assert not engine.is_playing
        held = engine.position_samples()
        subprocess.run(["pactl", "suspend-sink", audio_sink, "0"], check=True, timeout=10)
        suspended = False
        engine.play()  # the same engine reopens the device and resumes where it stopped
        time.sleep(0.5)
        assert engine.device_error is None and engine.is_playing
        assert engine.position_samples() > held
    finally:
        if suspended:
            subprocess.run(["pactl", "suspend-sink", audio_sink, "0"], timeout=10)
        engine.close()


_STARVE_SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from playback_fakes import chord_sequence
from app.playback import PlaybackEngine, Slot

engine = PlaybackEngine()
engine.load(Slot.A, chord_sequence(44100, 8.0), 44100)
engine.play()
time.sleep(0.5)
for hog in (0.05, 0.12, 0.2, 0.35, 0.6):  # the audio thread cannot take the GIL from these busy loops
    old = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < hog:
        pass
    sys.setswitchinterval(old)
    time.sleep(0.4)
playing = engine.is_playing
engine.close()
print("COUNTS", engine.underflows, engine.heard_underflows, engine.mixer.clock_gaps, int(playing), flush=True)
"""


def test_every_underrun_the_alsa_layer_logs_is_counted_as_heard(audio_sink) -> None:
    """ALSA prints one line per underrun it recovers from; the engine's count of heard gaps is never lower."""
    here = Path(__file__).resolve().parent
    done = subprocess.run(
        [sys.executable, "-c", _STARVE_SCRIPT, str(here)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=here.parents[1],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    counts = next(line for line in done.stdout.splitlines() if line.startswith("COUNTS")).split()[1:]
    underflows, heard, clock_gaps, playing = (int(x) for x in counts)
    alsa = done.stderr.count("underrun occurred")
    print(f"\nALSA logged {alsa} underruns; engine: {underflows} gaps, {heard} heard, {clock_gaps} only in the clock")
    assert playing == 1  # the starving did not stop playback (a gap is not a lost device)
    assert alsa >= 1, "the busy loops did not starve the callback: the check would prove nothing"
    assert heard >= alsa
    assert underflows >= heard
