"""The Top excerpts panel plays through the real (virtual) sound device: PortAudio -> ALSA -> PulseAudio null sink
"vsink", recorded from "vsink.monitor" while the window plays an excerpt's feature, then (B) its original. The
reference is what ``aurascope atlas export`` writes for that excerpt, so the panel's rendering is checked against
the CLI's, not against itself. Needs ``bash scripts/ci_env.sh`` before pytest starts."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_process import run
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "playback"))

from playback_fakes import SINK, MonitorRecorder

from app.core.loudness import Level, common_gains
from app.core.resampling import resample
from app.core.types import FeatureRef
from app.playback import Slot, devices

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ("resources/demo/piano.wav", "resources/demo/kick_walking_bass.wav", "resources/demo/real/groove.drums.flac")
MAP = FeatureRef(3, 5)
#: the recorded level against the one expected from the volume and the loudness-matched gain (as in the main
#: transport's null-sink test: the sink adds nothing but float rounding)
GAIN_TOLERANCE = 0.02


def _sink_reason() -> str | None:
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


def test_an_excerpts_feature_then_with_b_its_original_is_heard(qtbot, settings, model_file, wav_file, tmp_path):
    reason = _sink_reason()
    if reason:
        pytest.skip(reason)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in CORPUS:
        shutil.copy(ROOT / name, corpus / Path(name).name)
    atlas = tmp_path / "corpus.atlas"
    built = run("atlas", "build", "-m", str(model_file), str(corpus), "-o", str(atlas), "--k", "3", "-q")
    assert built.returncode == 0, built.stderr
    exported = tmp_path / "export"
    result = run("atlas", "export", "-a", str(atlas), "--layer", str(MAP.layer), "--feature", str(MAP.index),
                 "-m", str(model_file), "-o", str(exported), "-q")  # fmt: skip
    assert result.returncode == 0, result.stderr

    from app.ui.main_window import MainWindow

    assert devices.SOUNDDEVICE_MODULE == "sounddevice"
    window = MainWindow(settings=settings, thumbnails=False, ask_to_save=False)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.start(wav_file, model_file)
    qtbot.waitUntil(lambda: window.residual is not None and window.worker.idle, timeout=60000)
    with qtbot.waitSignal(window.controller.atlasOpened, timeout=30000):
        window.open_atlas(atlas)
    window.tree.select(MAP)
    panel, engine = window.excerpts, window.excerpt_engine
    qtbot.waitUntil(lambda: panel.ref == MAP and panel.status.text().endswith("first"), timeout=30000)
    window.act_match.setChecked(True)  # A and B at one loudness, half volume: nothing clips in the sink
    window.set_loudness_match()
    window.transport.volume.setValue(50)

    panel.table.setCurrentItem(panel.table.topLevelItem(0))
    panel.slot_b.click()  # the feature first
    engine.open()
    qtbot.waitUntil(lambda: engine.mixer.blocks > 10, timeout=5000)  # the stream runs before we play
    rate = engine.sample_rate
    underflows_before = engine.underflows
    recorder = MonitorRecorder(tmp_path / "monitor.f32", rate)
    recorder.start()
    try:
        panel.play_button.click()
        qtbot.waitUntil(lambda: panel.loaded is not None and engine.position() >= 1.0, timeout=60000)
        assert not window.engine.is_playing and engine.selected is Slot.B
        window.act_toggle_ab.trigger()  # what B triggers: the excerpt's feature -> its original at the next block
        qtbot.waitUntil(lambda: not engine.is_playing, timeout=20000)
        time.sleep(0.4)  # the tail through the sink's buffers
    finally:
        recording = recorder.stop()
    assert panel.loaded.excerpt.rank == 1 and engine.selected is Slot.A
    assert engine.device_error is None and engine.underflows == underflows_before
    switch = engine.mixer.last_switch_sample
    assert 0.9 * rate < switch < 1.6 * rate

    # the references: what `atlas export` wrote for rank 1, at the device rate, with the gains matching gives them
    feature, written_rate = sf.read(exported / "L3-F005-rank01-choi.wav", dtype="float32")
    feature = resample(feature, written_rate, rate)
    original, written_rate = sf.read(exported / "L3-F005-rank01-original.wav", dtype="float32")
    original = resample(original, written_rate, rate)
    gains = common_gains({Slot.A: Level.of(original, rate), Slot.B: Level.of(feature, rate)}, Slot.A)
    assert engine.slot_gain_db(Slot.B) == pytest.approx(gains[Slot.B], abs=0.05)

    head = feature[: switch - 64]
    start = _align(recording, head)
    assert start >= 0
    heard = recording[start : start + len(head)]
    assert _corr(heard, head) >= 0.95  # the feature, as the CLI renders the excerpt
    gain = float(np.dot(heard, head) / np.dot(head, head))
    assert gain == pytest.approx(0.5 * 10 ** (gains[Slot.B] / 20), rel=GAIN_TOLERANCE)

    fade = engine.crossfade_samples
    tail = original[switch + fade : len(original) - 64]
    after = recording[start + switch + fade : start + switch + fade + len(tail)]
    assert len(tail) > 0.3 * rate
    assert _corr(after, tail) >= 0.95  # after B: the excerpt's original
    assert _corr(after, feature[switch + fade : switch + fade + len(tail)]) < _corr(after, tail)
    a_gain = float(np.dot(after, tail) / np.dot(tail, tail))
    assert a_gain == pytest.approx(0.5 * 10 ** (gains[Slot.A] / 20), rel=GAIN_TOLERANCE)
    window.close()
