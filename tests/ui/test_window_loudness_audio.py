"""Honest loudness matching heard through the real (virtual) sound device: the window plays a real song and a raw
rendering of it that peaks above full scale, through PortAudio -> ALSA -> PulseAudio null sink "vsink", and the
recordings of "vsink.monitor" are measured with pyloudnorm. Matched A/B playback on the transport and the A and B
of a blind A/B/X trial must each come out within 0.5 LU of each other, with nothing clipped.
Needs ``bash scripts/ci_env.sh`` (or scripts/test.sh) before pytest starts.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from needs import real_material
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "playback"))

from playback_fakes import MonitorRecorder
from test_window_audio import _sink_reason

from app.playback import Slot

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
REF = (1, 18)  # L1F18 of the genre model on the trumpet solo: peaks at about +5 dBFS at raw level


def _lufs(audio: np.ndarray, rate: int) -> float:
    import pyloudnorm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pyloudnorm.Meter(rate).integrated_loudness(audio.astype(np.float64)))


def _find(recording: np.ndarray, played: np.ndarray) -> tuple[np.ndarray, float]:
    """The stretch of ``recording`` that best matches ``played`` (cross-correlation) and their correlation."""
    xc = signal.correlate(recording, played, mode="full", method="fft")
    lag = int(np.argmax(xc)) - (len(played) - 1)
    if lag < 0 or lag + len(played) > len(recording):
        return recording[:0], 0.0
    seg = recording[lag : lag + len(played)]
    return seg, float(np.dot(seg, played) / np.sqrt(np.dot(seg, seg) * np.dot(played, played) + 1e-30))


def _hear_playthrough(tmp_path: Path, name: str, engine, qtbot, start, played: np.ndarray) -> np.ndarray:
    """Record the monitor while ``start()`` plays the clip from its start to its end; the recorded stretch that
    is ``played``. A playthrough with an underflow, or whose recording is not the played audio (the recorder
    losing data on a starved machine: other jobs on the cores), is played again, up to twice: that voids the
    measurement, it does not falsify it."""
    corr = 0.0
    for attempt in range(3):
        before = engine.underflows
        recorder = MonitorRecorder(tmp_path / f"{name}{attempt}.f32", engine.sample_rate)
        recorder.start()
        try:
            start()
            qtbot.waitUntil(lambda: engine.is_playing, timeout=5000)
            qtbot.waitUntil(lambda: not engine.is_playing, timeout=30000)
            time.sleep(0.4)  # the tail through the sink's buffers
        finally:
            recording = recorder.stop()
        assert engine.device_error is None
        seg, corr = _find(recording, played)
        if engine.underflows == before and corr >= 0.99:
            return seg
    raise AssertionError(f"the recording is not what was played (correlation {corr:.4f}, 3 tries)")


def test_matched_a_b_and_an_abx_trial_sound_equally_loud_on_the_real_device(qtbot, settings, tmp_path) -> None:
    reason = _sink_reason()
    if reason:
        pytest.skip(reason)
    from app.ui.main_window import MainWindow

    song = real_material("songs/sorohanro_-_solo-trumpet-06.hq.ogg")
    window = MainWindow(settings=settings, thumbnails=False, ask_to_save=False)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.featureReady, timeout=120000):
        window.start(song, ROOT / "models" / "choi2015-genre.safetensors")
    qtbot.waitUntil(lambda: window.worker.idle, timeout=120000)
    window.request_render(REF)
    qtbot.waitUntil(
        lambda: window.feature is not None and window.feature.ref == REF and window.worker.idle, timeout=120000
    )
    qtbot.waitUntil(lambda: window.engine.mixer.blocks > 10, timeout=5000)  # the stream runs before we play
    engine = window.engine
    rate = engine.sample_rate
    assert window.feature.device_peak_db > 3.0  # raw, this rendering would clip by more than 3 dB
    window.transport.volume.setValue(100)  # full volume: any clipping would be heard
    window.act_match.setChecked(True)
    window.set_loudness_match()
    if window.act_loop.isChecked():
        window.act_loop.trigger()
    a_played = engine.source(Slot.A) * np.float32(10 ** (engine.slot_gain_db(Slot.A) / 20))
    b_played = engine.source(Slot.B) * np.float32(10 ** (engine.slot_gain_db(Slot.B) / 20))
    assert max(np.max(np.abs(a_played)), np.max(np.abs(b_played))) <= 10 ** (-0.1 / 20) + 1e-4

    # matched A/B on the transport: the whole clip as A, then as B
    def play_slot(slot: Slot):
        def start() -> None:
            window.select_slot(slot)
            window.seek(0.0)
            window.act_play.trigger()

        return start

    heard_a = _hear_playthrough(tmp_path, "a", engine, qtbot, play_slot(Slot.A), a_played)
    heard_b = _hear_playthrough(tmp_path, "b", engine, qtbot, play_slot(Slot.B), b_played)
    transport = {"A": _lufs(heard_a, rate), "B": _lufs(heard_b, rate)}
    transport_diff = abs(transport["A"] - transport["B"])

    # a blind A/B/X trial on the same map: A, B and X, each heard through the whole clip
    dialog = window.start_abx()
    assert dialog is not None
    qtbot.addWidget(dialog)
    trial = dialog.trial()
    a_abx = engine.source(Slot.A) * np.float32(10 ** (trial.gain_a_db / 20))
    b_abx = engine.source(Slot.B) * np.float32(10 ** (trial.gain_db / 20))
    x_is = trial.sequence[0]
    abx = {}
    for button, played in (("A", a_abx), ("B", b_abx), ("X", a_abx if x_is.value == "A" else b_abx)):
        press = lambda b=button: dialog.play_source(b)  # noqa: E731
        abx[button] = _lufs(_hear_playthrough(tmp_path, f"abx_{button}", engine, qtbot, press, played), rate)
    abx_diff = abs(abx["A"] - abx["B"])
    peaks = [float(np.max(np.abs(x))) for x in (heard_a, heard_b)]
    print(
        f"\nreal sink, {song.name} L{REF[0]}F{REF[1]} (raw peak {window.feature.device_peak_db:+.1f} dBFS), {rate} Hz:"
        f"\n  matched A/B: gains A {engine.slot_gain_db(Slot.A):+.2f} dB, B {engine.slot_gain_db(Slot.B):+.2f} dB; "
        f"recorded A {transport['A']:.2f} LUFS, B {transport['B']:.2f} LUFS: difference {transport_diff:.3f} LU; "
        f"recorded peaks {peaks[0]:.3f}, {peaks[1]:.3f}"
        f"\n  A/B/X: {dialog.match.describe()}; recorded A {abx['A']:.2f}, B {abx['B']:.2f}, X ({x_is.value}) "
        f"{abx['X']:.2f} LUFS: A-B difference {abx_diff:.3f} LU"
    )
    assert transport_diff <= 0.5
    assert abx_diff <= 0.5
    assert abs(abx["X"] - abx[x_is.value]) <= 0.1
    assert max(peaks) < 1.0  # nothing reached full scale in the sink
    assert f"a difference of {dialog.match.difference_lu:.2f} LU" in dialog.about.text()
    dialog.close()
    window.close()
