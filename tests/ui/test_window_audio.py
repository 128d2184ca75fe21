"""The window plays through the real (virtual) sound device: PortAudio -> ALSA -> PulseAudio null sink "vsink",
recorded from "vsink.monitor" while the window plays. Needs ``bash scripts/ci_env.sh`` before pytest starts.
(The engine's own sample-exact tests are in tests/playback; this is the window driving it.)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "playback"))

from playback_fakes import SINK, MonitorRecorder

from app.playback import Slot, devices

pytestmark = pytest.mark.slow


def _sink_reason() -> str | None:
    import shutil
    import subprocess

    if shutil.which("pactl") is None or shutil.which("parec") is None:
        return "pactl/parec not installed: run `bash scripts/ci_env.sh` first"
    out = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True, timeout=10)
    if out.returncode != 0 or SINK not in out.stdout.split():
        return f"no PulseAudio null sink {SINK!r}: run `bash scripts/ci_env.sh` first"
    return None


def _align(recording: np.ndarray, reference: np.ndarray) -> int:
    xc = signal.correlate(recording, reference, mode="full", method="fft")
    return int(np.argmax(xc)) - (len(reference) - 1)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b) + 1e-30))


def test_the_window_plays_the_clip_and_b_switches_to_the_feature(qtbot, settings, wav_file, model_file, tmp_path):
    reason = _sink_reason()
    if reason:
        pytest.skip(reason)
    from app.ui.main_window import MainWindow

    assert devices.SOUNDDEVICE_MODULE == "sounddevice"
    window = MainWindow(settings=settings, thumbnails=False)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.start(wav_file, model_file)
    qtbot.waitUntil(lambda: window.residual is not None and window.worker.idle, timeout=60000)
    qtbot.waitUntil(lambda: window.engine.mixer.blocks > 10, timeout=5000)  # the stream runs before we play
    assert not window.banner.isVisible() and window.engine.device is not None
    engine = window.engine
    rate = engine.sample_rate
    window.act_match.setChecked(True)  # B at the original's loudness, and half volume: nothing clips in the sink
    window.set_loudness_match()
    window.transport.volume.setValue(50)
    a = engine.mixer.settings.sources[Slot.A.index].copy()
    b = engine.mixer.settings.sources[Slot.B.index].copy()
    underflows_before = engine.underflows

    recorder = MonitorRecorder(tmp_path / "monitor.f32", rate)
    recorder.start()
    try:
        window.act_slot_a.trigger()
        window.seek(0.0)
        window.act_play.trigger()  # what Space triggers
        qtbot.waitUntil(lambda: engine.position() >= 1.0, timeout=10000)
        window.act_toggle_ab.trigger()  # what B triggers: A -> B at the next block
        qtbot.waitUntil(lambda: not engine.is_playing, timeout=20000)
        time.sleep(0.4)  # the tail through the sink's buffers
    finally:
        recording = recorder.stop()
    switch = engine.mixer.last_switch_sample
    assert engine.device_error is None and window.engine.underflows == underflows_before
    assert 0.9 * rate < switch < 1.5 * rate

    # before the switch the recording is the clip (slot A), after it the feature (slot B)
    head = a[: switch - 64]
    start = _align(recording[: len(recording)], head)
    assert start >= 0
    before = recording[start : start + len(head)]
    assert _corr(before, head) >= 0.99
    gain = float(np.dot(before, head) / np.dot(head, head))
    assert gain == pytest.approx(0.5 * 10 ** (engine.slot_gain_db(Slot.A) / 20), rel=0.02)  # the volume and A's gain
    fade = engine.crossfade_samples
    after_ref = b[switch + fade : switch + fade + rate]
    after = recording[start + switch + fade : start + switch + fade + len(after_ref)]
    assert _corr(after, after_ref) >= 0.99
    b_gain = float(np.dot(after, after_ref) / np.dot(after_ref, after_ref))
    applied = engine.slot_gain_db(Slot.B)  # matched to A, peak at most -0.1 dBFS (see test_window_loudness_audio)
    assert float(np.max(np.abs(b))) * 10 ** (applied / 20) <= 10 ** (-0.1 / 20) + 1e-4
    assert b_gain == pytest.approx(0.5 * 10 ** (applied / 20), rel=0.02)
    assert _corr(after, a[switch + fade : switch + fade + len(after_ref)]) < 0.9  # and it is not the clip any more
    window.close()


def test_a_map_held_as_c_is_what_b_toggles_to(qtbot, settings, wav_file, model_file, tmp_path) -> None:
    """Two maps compared at one playhead through the real device: B (the selected map), then C (the held one)."""
    reason = _sink_reason()
    if reason:
        pytest.skip(reason)
    from app.ui.main_window import MainWindow

    window = MainWindow(settings=settings, thumbnails=False, ask_to_save=False)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.start(wav_file, model_file)
    qtbot.waitUntil(lambda: window.residual is not None and window.worker.idle, timeout=60000)
    qtbot.waitUntil(lambda: window.engine.mixer.blocks > 10, timeout=5000)
    engine = window.engine
    rate = engine.sample_rate
    window.transport.volume.setValue(50)
    window.set_compare((3, 2))
    qtbot.waitUntil(lambda: window.compared is not None and window.worker.idle, timeout=60000)
    b = engine.mixer.settings.sources[Slot.B.index].copy()
    c = engine.mixer.settings.sources[Slot.C.index].copy()
    assert _corr(b, c) < 0.9  # two different maps
    recorder = MonitorRecorder(tmp_path / "monitor.f32", rate)
    recorder.start()
    try:
        window.act_slot_b.trigger()
        window.seek(0.0)
        window.act_play.trigger()
        qtbot.waitUntil(lambda: engine.position() >= 1.0, timeout=10000)
        window.act_toggle_ab.trigger()  # B -> C while a map is held
        assert engine.selected is Slot.C
        qtbot.waitUntil(lambda: not engine.is_playing, timeout=20000)
        time.sleep(0.4)
    finally:
        recording = recorder.stop()
    switch = engine.mixer.last_switch_sample
    assert engine.device_error is None and 0.9 * rate < switch < 1.5 * rate
    head = b[: switch - 64] * 10 ** (engine.slot_gain_db(Slot.B) / 20)
    start = _align(recording, head)
    assert start >= 0 and _corr(recording[start : start + len(head)], head) >= 0.99
    fade = engine.crossfade_samples
    c_ref = c[switch + fade : switch + fade + rate]
    after = recording[start + switch + fade : start + switch + fade + len(c_ref)]
    assert _corr(after, c_ref) >= 0.99
    c_gain = float(np.dot(after, c_ref) / np.dot(c_ref, c_ref))
    assert c_gain == pytest.approx(0.5 * 10 ** (engine.slot_gain_db(Slot.C) / 20), rel=0.02)
    assert _corr(after, b[switch + fade : switch + fade + len(c_ref)]) < 0.9
    window.close()
