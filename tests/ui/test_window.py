"""The window driven like a user would (pytest-qt, offscreen): open, select, listen, toggle, export, bad files,
no device. The sound device is a real-time stand-in that keeps what it was given, so what was heard is checked
sample for sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QPushButton
from ui_fakes import DEVICE_RATE, RealTimeStream

from app.core.loudness import apply_gain, loudness_lufs
from app.core.resampling import resample
from app.playback import Slot
from app.ui.export_dialog import ExportDialog, ExportRequest


def _played_since(stream: RealTimeStream, start: int) -> np.ndarray:
    return stream.played()[start:]


def _best_match(segment: np.ndarray, reference: np.ndarray) -> float:
    """Largest normalised correlation of ``segment`` against any position in ``reference``."""
    from scipy import signal

    seg = segment - segment.mean()
    xc = signal.correlate(reference, seg, mode="valid", method="fft")
    # sliding energy by a running sum: np.convolve here held the GIL for ~1 s and starved the audio thread
    running = np.concatenate([[0.0], np.cumsum(reference.astype(np.float64) ** 2)])
    energy = running[len(seg) :] - running[: -len(seg)]
    norm = np.sqrt(np.maximum(energy, 1e-20) * float(np.dot(seg, seg)))
    return float(np.max(np.abs(xc) / norm))


def test_opens_clip_and_model_and_renders_layer_2_map_0(make_window, wav_file: Path, model_file: Path) -> None:
    window = make_window(wav_file, model_file)
    clip = window.clip
    assert window.selected == (2, 0) and window.feature.ref == (2, 0) and window.residual.ref == (2, 0)
    assert window.tree.current_ref() == (2, 0)
    assert window.tree.model.rowCount() == 5 and all(window.tree.model.item(i).rowCount() == 8 for i in range(5))
    # the three views: original and auralised have the clip's frames on the 256-row log grid
    n_frames = clip.n_frames
    assert window.stack.original.data.shape == (256, n_frames)
    assert window.stack.feature.data.shape == (256, n_frames)
    feature = window.stack.feature.data
    assert np.isfinite(feature).all() and float(feature.max()) > -119.0
    assert float(np.ptp(feature)) > 20.0  # a spectrogram, not a flat image
    layer2 = window.summary.layers[1]
    assert window.stack.activation.data.shape == (256, window.feature.activation.shape[1])
    assert window.feature.activation.shape == (
        window.summary.n_bins // layer2.freq_stride,
        n_frames // layer2.time_stride,
    )
    # slot B holds the rendering at the device rate, as long as the clip
    assert window.engine.loaded(Slot.B) and window.engine.loaded(Slot.R) and window.engine.sample_rate == DEVICE_RATE
    assert abs(window.engine.length - round(clip.duration * DEVICE_RATE)) <= 2
    assert window.inspector.heading.text() == "Layer 2 · map 0"
    assert window.inspector.figures["loudness"].text().endswith("LUFS")
    # energies and predictions
    energy_item = window.tree._energy_items[(2, 0)]
    assert energy_item.data(Qt.ItemDataRole.UserRole + 2) == pytest.approx(float(clip.energies[2][0]))
    assert len(window.predictions._scores) == 3
    assert sum(score for _, score in clip.predictions) == pytest.approx(1.0, abs=1e-4)
    assert "vggnet5" in window.model_label.text() and "chords" in window.clip_label.text()


def test_selecting_a_map_renders_it_and_stale_requests_are_dropped(make_window, qtbot, wav_file, model_file) -> None:
    window = make_window(wav_file, model_file)
    ready: list[tuple[int, int]] = []
    window.featureReady.connect(ready.append)
    before = window.stack.feature.data.copy()
    for ref in [(3, 1), (3, 2), (4, 5)]:  # three clicks faster than the worker: only the last one counts
        window.tree.select(ref)
    qtbot.waitUntil(lambda: window.feature.ref == (4, 5) and window.worker.idle, timeout=30000)
    assert ready[-1] == (4, 5) and (3, 1) not in ready
    assert window.inspector.heading.text() == "Layer 4 · map 5"
    assert not np.array_equal(before, window.stack.feature.data)
    # B holds exactly map (4, 5)'s Choi rendering, resampled to the device rate
    expected = next(window.analysis.render_many(4, [5]))
    b = window.engine.mixer.settings.sources[Slot.B.index]
    np.testing.assert_allclose(b, resample(expected.audio, window.summary.sample_rate, DEVICE_RATE), atol=1e-5)


def test_space_plays_b_toggles_and_r_selects_the_residual(make_window, qtbot, wav_file, model_file) -> None:
    window = make_window(wav_file, model_file)
    window.act_match.setChecked(False)
    window.set_loudness_match()
    window.act_loop.setChecked(True)  # the whole 3 s clip loops, however slow the machine is today
    window.set_looping()
    window.tree.view.setFocus()  # a tree eats Space for type-ahead unless Space is a shortcut
    qtbot.waitUntil(lambda: bool(RealTimeStream.instances) and RealTimeStream.instances[-1].active, timeout=5000)
    stream = RealTimeStream.instances[-1]
    engine = window.engine
    b = engine.mixer.settings.sources[Slot.B.index].copy()
    a = engine.mixer.settings.sources[Slot.A.index].copy()
    start = len(stream.played())
    qtbot.keyClick(window.tree.view, Qt.Key.Key_Space)
    assert engine.is_playing and engine.selected is Slot.B
    qtbot.waitUntil(lambda: len(stream.played()) - start > DEVICE_RATE // 2, timeout=5000)
    heard = _played_since(stream, start)
    heard = heard[np.flatnonzero(np.abs(heard) > 1e-6)[0] :][: DEVICE_RATE // 4]
    assert _best_match(heard, b * 0.8) > 0.999  # volume 0.8 is the default
    assert window.act_play.isChecked() and window.act_play.text() == "Pause"

    qtbot.keyClick(window.tree.view, Qt.Key.Key_B)
    assert engine.selected is Slot.A and window.act_slot_a.isChecked()
    mark = len(stream.played())
    qtbot.waitUntil(lambda: len(stream.played()) - mark > DEVICE_RATE // 5, timeout=5000)
    tail = stream.played()[mark + 2 * 480 :][: DEVICE_RATE // 8]  # after the switch block and its 5 ms fade
    assert _best_match(tail, a) > 0.999
    qtbot.keyClick(window.tree.view, Qt.Key.Key_B)
    assert engine.selected is Slot.B
    qtbot.keyClick(window.tree.view, Qt.Key.Key_R)
    assert engine.selected is Slot.R and window.act_slot_r.isChecked()
    assert window.stack.feature.title.startswith("Residual")
    qtbot.keyClick(window.tree.view, Qt.Key.Key_R)
    assert engine.selected is Slot.B and window.stack.feature.title.startswith("Auralised")
    qtbot.keyClick(window.tree.view, Qt.Key.Key_Space)
    assert not engine.is_playing
    qtbot.waitUntil(lambda: not window.act_play.isChecked(), timeout=2000)
    qtbot.wait(300)  # blocks already sent reach the DAC, then the paused playhead holds still
    # the playhead the views show follows the engine
    assert window.stack.playhead() == pytest.approx(engine.position(), abs=0.05)
    assert engine.underflows == 0


def test_arrow_keys_move_through_maps_and_layers(make_window, qtbot, wav_file, model_file) -> None:
    window = make_window(wav_file, model_file)
    view = window.tree.view
    view.setFocus()
    steps = [
        (Qt.Key.Key_Down, (2, 1)),
        (Qt.Key.Key_Down, (2, 2)),
        (Qt.Key.Key_Right, (3, 2)),
        (Qt.Key.Key_Up, (3, 1)),
        (Qt.Key.Key_Left, (2, 1)),
    ]
    for key, expected in steps:
        qtbot.keyClick(view, key)
        assert window.selected == expected, (key, window.selected)
    qtbot.waitUntil(lambda: window.feature.ref == (2, 1) and window.worker.idle, timeout=30000)
    window.act_sort.setChecked(True)
    window._sort_changed()
    order = [
        window.tree.proxy.index(r, 0, window.tree.proxy.index(1, 0)).data(Qt.ItemDataRole.UserRole + 1)[1]
        for r in range(8)
    ]
    energies = window.clip.energies[2]
    assert list(order) == list(np.argsort(-energies, kind="stable")) or np.all(np.diff(energies[order]) <= 0)


def test_loop_region_and_loudness_match_reach_the_engine(make_window, qtbot, wav_file, model_file) -> None:
    window = make_window(wav_file, model_file)
    window.stack._loop_dragged(0.5, 1.25, True)  # as a left-drag on a view ends
    assert window.act_loop.isChecked() and window.engine.looping
    assert window.engine.loop_region == (round(0.5 * DEVICE_RATE), round(1.25 * DEVICE_RATE))
    assert all(p.region.isVisible() and p.region.getRegion() == pytest.approx((0.5, 1.25)) for p in window.stack.panes)
    qtbot.keyClick(window.tree.view, Qt.Key.Key_L)
    assert not window.engine.looping
    window.act_match.setChecked(True)
    window.set_loudness_match()
    played = {}
    for slot in (Slot.A, Slot.B, Slot.R):
        # every slot at one loudness (measured on what the engine plays), none peaking above -0.1 dBFS
        gain = window.engine.slot_gain_db(slot)
        source = window.engine.source(slot)
        assert source is not None
        peak = np.max(np.abs(source)) * 10 ** (gain / 20)
        assert peak <= 10 ** (-0.1 / 20) + 1e-4
        played[slot] = loudness_lufs(apply_gain(source, gain), window.engine.sample_rate)
    assert max(played.values()) - min(played.values()) <= 0.5, played
    assert f"B {window.engine.slot_gain_db(Slot.B):+.1f} dB" in window.transport.gain.text()
    window.act_match.setChecked(False)
    window.set_loudness_match()
    assert window.engine.slot_gain_db(Slot.B) == pytest.approx(min(0.0, -window.feature.device_peak_db - 0.1))
    window.seek(1.0)
    assert window.engine.position() == pytest.approx(1.0, abs=1e-3)


def test_export_of_three_selected_maps_writes_what_the_cli_writes(
    make_window, qtbot, monkeypatch, tmp_path, wav_file, model_file
) -> None:
    window = make_window(wav_file, model_file)
    refs = [(1, 3), (2, 0), (5, 7)]
    window.tree.select_many(refs)
    assert window.tree.selected_refs() == refs
    out = tmp_path / "export"
    window.settings.set(__import__("app.ui.settings", fromlist=["EXPORT_DIR"]).EXPORT_DIR, str(out))
    monkeypatch.setenv("AURASCOPE_NO_EXPORT_DIALOG", "1")
    monkeypatch.setattr(ExportDialog, "exec", lambda self: ExportDialog.DialogCode.Accepted)
    with qtbot.waitSignal(window.exportFinished, timeout=60000) as blocker:
        qtbot.keyClick(window.tree.view, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    written = blocker.args[0]
    wavs = sorted(out.glob("*.wav"))
    assert len(written) == 3 and len(wavs) == 3 and len(list(out.glob("*.json"))) == 3
    assert [w.name for w in wavs] == sorted(f"chords_L{layer}_F{k}_choi.wav" for layer, k in refs)
    # the same files and sidecars as the CLI's exporter (the window calls the same function)
    from app.core.analysis import FeatureRef
    from app.core.export import export_features
    from app.core.resynth import Mode

    cli_out = tmp_path / "cli"
    export_features(window.analysis, [FeatureRef(*r) for r in refs], [Mode.CHOI], cli_out)
    for wav in wavs:
        ours, rate = sf.read(wav, dtype="float32")
        theirs, _ = sf.read(cli_out / wav.name, dtype="float32")
        assert rate == 11025 and len(ours) == len(window.clip.samples)
        np.testing.assert_array_equal(ours, theirs)
        side = json.loads(wav.with_suffix(".json").read_text())
        cli_side = json.loads((cli_out / wav.name).with_suffix(".json").read_text())
        assert side.keys() == cli_side.keys()
        assert (side["layer"], side["feature"], side["mode"]) == (
            int(wav.stem.split("_L")[1].split("_")[0]),
            int(wav.stem.split("_F")[1].split("_")[0]),
            "choi",
        )
        assert side["source_sha256"] == cli_side["source_sha256"] and side["format"] == "float32"


def test_export_request_with_pcm16_residual_and_peak_loudness(
    make_window, qtbot, tmp_path, wav_file, model_file, monkeypatch
) -> None:
    window = make_window(wav_file, model_file)
    monkeypatch.setenv("AURASCOPE_NO_EXPORT_DIALOG", "1")
    request = ExportRequest(((3, 3),), ("choi", "residual"), "pcm16", "peak", tmp_path / "x")
    with qtbot.waitSignal(window.exportFinished, timeout=60000):
        window.run_export(request)
    info = sf.info(tmp_path / "x" / "chords_L3_F3_residual.wav")
    assert info.subtype == "PCM_16"
    audio, _ = sf.read(tmp_path / "x" / "chords_L3_F3_choi.wav")
    assert np.max(np.abs(audio)) == pytest.approx(0.99, abs=2e-3)
    assert json.loads((tmp_path / "x" / "chords_L3_F3_choi.json").read_text())["loudness_normalisation"] == "peak"


def test_corrupt_files_show_a_dialog_naming_them_and_keep_what_is_loaded(
    make_window, qtbot, tmp_path, wav_file, model_file
) -> None:
    window = make_window(wav_file, model_file)
    clip, feature, analysis = window.clip, window.feature, window.analysis
    bad_audio = tmp_path / "broken.wav"
    bad_audio.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage that is not audio" * 3)
    with qtbot.waitSignal(window.errorShown, timeout=30000) as blocker:
        window.open_audio(bad_audio)
    assert "broken.wav" in blocker.args[0] and "cannot be read" in blocker.args[0]
    assert window.error_box is not None and window.error_box.isVisible()
    assert "broken.wav" in window.error_box.windowTitle() + window.error_box.informativeText()
    window.error_box.close()
    assert window.clip is clip and window.analysis is analysis and window.feature is feature
    assert window.engine.loaded(Slot.A) and window.engine.loaded(Slot.B)
    assert window.stack.original.data is not None and "chords" in window.clip_label.text()

    bad_model = tmp_path / "not_a_model.safetensors"
    bad_model.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}" + b"\x00" * 40)
    with qtbot.waitSignal(window.errorShown, timeout=30000) as blocker:
        window.open_model(bad_model)
    assert "not_a_model.safetensors" in blocker.args[0] and "not a model Aurascope can read" in blocker.args[0]
    assert window.model_handle is not None and window.summary.name == "vggnet5" and window.clip is clip
    # still fully usable: select and render another map
    window.error_box.close()
    with qtbot.waitSignal(window.featureReady, timeout=30000):
        window.tree.select((1, 1))


def test_start_without_an_audio_device_shows_the_banner_and_resumes_on_a_device(
    make_window, qtbot, monkeypatch, tmp_path, wav_file, model_file
) -> None:
    from app.playback import devices

    monkeypatch.setattr(devices, "SOUNDDEVICE_MODULE", "no_such_sounddevice_module")
    window = make_window(wav_file, model_file)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=5000)
    assert "No audio output" in window.banner.text.text() and "sounddevice" in window.banner.text.text()
    assert window.transport.device.currentText() == "no output device"
    assert "no device" in window.rate_label.text()
    qtbot.keyClick(window.tree.view, Qt.Key.Key_Space)  # nothing crashes; the banner stays
    assert not window.engine.is_playing and window.banner.isVisible()
    assert window.feature is not None  # rendering does not need a device
    # export works without a device
    with qtbot.waitSignal(window.exportFinished, timeout=60000):
        monkeypatch.setenv("AURASCOPE_NO_EXPORT_DIALOG", "1")
        window.run_export(ExportRequest(((2, 0),), ("choi",), "float32", "none", tmp_path / "e"))
    assert (tmp_path / "e" / "chords_L2_F0_choi.wav").is_file()
    # a device appears: choosing it hides the banner and playback works
    monkeypatch.setattr(devices, "SOUNDDEVICE_MODULE", "ui_fake_sounddevice")
    window.refresh_devices()
    assert window.transport.device.count() == 3  # system default + two devices
    window.choose_device("headphones")
    assert not window.banner.isVisible() and window.engine.device.name == "headphones"
    qtbot.keyClick(window.tree.view, Qt.Key.Key_Space)
    assert window.engine.is_playing
    assert window.settings.get(__import__("app.ui.settings", fromlist=["DEVICE"]).DEVICE) == "headphones"


def test_a_device_lost_while_playing_shows_the_banner(make_window, qtbot, wav_file, model_file) -> None:
    window = make_window(wav_file, model_file)
    qtbot.waitUntil(lambda: bool(RealTimeStream.instances) and RealTimeStream.instances[-1].active, timeout=5000)
    window.play()
    stream = RealTimeStream.instances[-1]
    stream._stop.set()  # the device vanishes: no more callbacks, then PortAudio ends the stream
    stream.active = False
    stream.finished_callback()
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=5000)
    assert "lost" in window.banner.text.text()
    window.retry_device()
    assert not window.banner.isVisible() and window.engine.is_playing  # resumed


def test_drop_recent_files_and_settings(make_window, qtbot, tmp_path, wav_file, model_file, settings) -> None:
    from app.ui import settings as keys

    window = make_window(wav_file, model_file)
    other = tmp_path / "other clip.wav"
    data, rate = sf.read(wav_file, dtype="float32")
    sf.write(other, data[: rate * 2], rate)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    drop = QDropEvent(
        QPoint(200, 200).toPointF(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.sessionReady, timeout=30000):
        window.dropEvent(drop)
    assert window.clip.path == other.resolve() and window.clip.duration == pytest.approx(2.0, abs=0.01)
    qtbot.waitUntil(lambda: window.feature is not None and window.worker.idle, timeout=30000)
    assert settings.get(keys.RECENT_AUDIO)[:2] == [str(other.resolve()), str(wav_file.resolve())]
    assert settings.get(keys.RECENT_MODELS) == [str(model_file.resolve())]
    assert [a.text() for a in window.recent_audio_menu.actions()][:2] == ["other clip.wav", wav_file.name]
    window.transport.volume.setValue(35)
    assert window.engine.volume == pytest.approx(0.35) and settings.get(keys.VOLUME) == pytest.approx(0.35)
    # a label typed in the inspector shows in the tree and goes into the session
    window.inspector.label.setText("low thud")
    window.inspector.label.textEdited.emit("low thud")
    qtbot.waitUntil(lambda: "low thud" in window.tree._items[window.selected].text(), timeout=3000)
    assert window.session.notes_for(window.selected).label == "low thud"
    window.close()
    assert not settings.get(keys.GEOMETRY).isEmpty()


def test_the_bundled_model_on_the_full_band_demo(make_window, qtbot) -> None:
    """What the README's first command shows: the bundled model, the demo clip, layer 2 map 0 ready to play."""
    from app.ui.app import DEFAULT_AUDIO, DEFAULT_MODEL, choose_files, parse_args

    if not (DEFAULT_MODEL.is_file() and DEFAULT_AUDIO.is_file()):
        pytest.skip("the bundled model or the demo clip is not in the repository yet")
    audio, model = choose_files(parse_args([]))
    assert (audio, model) == (DEFAULT_AUDIO, DEFAULT_MODEL)
    window = make_window(audio, model)
    assert window.selected == (2, 0) and window.feature.ref == (2, 0)
    assert [layer.n_maps for layer in window.summary.layers] == [128] * 5  # musicnn-mtt-vgg
    assert window.clip.duration == pytest.approx(25.0, abs=0.01)  # resources/demo/real/band.flac
    labels = [label for label, _ in window.clip.predictions]
    assert len(labels) == len(window.summary.labels) >= 2 and window.predictions._scores[0][0] == labels[0]
    assert float(window.stack.feature.data.max()) > -60.0  # layer 2 map 0 is audible on this clip
    qtbot.keyClick(window.tree.view, Qt.Key.Key_Space)
    assert window.engine.is_playing and window.engine.selected is Slot.B


def test_export_can_be_cancelled_and_keeps_whole_files(
    make_window, qtbot, tmp_path, wav_file, model_file, monkeypatch
) -> None:
    window = make_window(wav_file, model_file)
    monkeypatch.setenv("AURASCOPE_NO_EXPORT_DIALOG", "1")
    refs = tuple((layer, k) for layer in (1, 2, 3) for k in range(8))
    request = ExportRequest(refs, ("choi", "magnitude", "residual"), "pcm24", "match", tmp_path / "c")
    with qtbot.waitSignal(window.exportFinished, timeout=120000) as blocker:
        window.run_export(request)
        qtbot.waitUntil(lambda: window.export_progress.value() >= 2, timeout=60000)
        window.export_progress.findChild(QPushButton).click()  # the dialog's Cancel button
    written = blocker.args[0]
    assert 2 <= len(written) < len(refs) * 3
    wavs = sorted((tmp_path / "c").glob("*.wav"))
    assert len(wavs) == len(written) and len(list((tmp_path / "c").glob("*.json"))) == len(written)
    assert not list((tmp_path / "c").glob(".*.part"))  # nothing half-written
    for wav in wavs:
        assert sf.info(wav).subtype == "PCM_24" and sf.info(wav).frames == len(window.clip.samples)
    assert "Cancelled after" in window.statusBar().currentMessage()


def test_the_method_can_be_switched_and_is_exported(
    make_window, qtbot, tmp_path, wav_file, model_file, monkeypatch
) -> None:
    window = make_window(wav_file, model_file)
    with qtbot.waitSignal(window.featureReady, timeout=30000):
        window.options.method.setCurrentIndex(window.options.method.findData("guided-backprop"))
    qtbot.waitUntil(lambda: window.residual is not None and window.residual.method == "guided-backprop", timeout=30000)
    assert window.feature.method == "guided-backprop" and "guided-backprop" in window.stack.feature.title
    expected = next(window.analysis.render_many(2, [0], method="guided-backprop")).audio
    deconvnet = next(window.analysis.render_many(2, [0])).audio
    b = window.engine.mixer.settings.sources[Slot.B.index]
    np.testing.assert_allclose(b, resample(expected, 11025, DEVICE_RATE), atol=1e-5)
    assert not np.allclose(expected, deconvnet)  # the two methods differ on this map
    from app.ui import settings as keys

    assert window.settings.get(keys.METHOD) == "guided-backprop"
    monkeypatch.setenv("AURASCOPE_NO_EXPORT_DIALOG", "1")
    request = ExportRequest(((2, 0),), ("choi",), "float32", "none", tmp_path / "m", method="guided-backprop")
    with qtbot.waitSignal(window.exportFinished, timeout=60000):
        window.run_export(request)
    assert [p.name for p in (tmp_path / "m").glob("*.wav")] == ["chords_L2_F0_choi_guided-backprop.wav"]
    side = json.loads((tmp_path / "m" / "chords_L2_F0_choi_guided-backprop.json").read_text())
    assert side["method"] == "guided-backprop"


def test_an_onnx_model_with_its_front_end_sidecar_opens(make_window, qtbot, tmp_path, wav_file, model_file) -> None:
    pytest.importorskip("onnx")
    import warnings

    import torch

    from app.core.model import load_model, to_torch_module

    model = load_model(model_file)
    onnx_path = tmp_path / "body.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            to_torch_module(model),
            (torch.rand(1, 1, 257, 87),),
            str(onnx_path),
            dynamo=False,
            input_names=["spectrogram"],
            dynamic_axes={"spectrogram": {0: "batch", 3: "frames"}},
        )
    window = make_window(wav_file, model_file)
    with qtbot.waitSignal(window.errorShown, timeout=30000) as blocker:  # no sidecar yet: says which file
        window.open_model(onnx_path)
    assert "body.onnx" in blocker.args[0] and "body.json" in blocker.args[0]
    window.error_box.close()
    onnx_path.with_suffix(".json").write_text(json.dumps({"front_end": model.front_end.to_dict(), "name": "onnx body"}))
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.open_model(onnx_path)
    qtbot.waitUntil(lambda: window.worker.idle and window.residual is not None, timeout=60000)
    assert window.summary.kind == "traced" and window.summary.name == "onnx body"
    assert [layer.n_maps for layer in window.summary.layers] == [8] * 5 and window.clip is not None
    assert "traced" in window.model_label.text()
    assert window.predictions._caption == "This model has no classifier head"
    # the same network, so the same rendering as our own file gives
    ours = next(window.analysis.render_many(2, [0])).audio
    from app.core.analysis import Analysis
    from app.core.audio import load_audio

    reference = next(Analysis(load_audio(wav_file, 11025), model).render_many(2, [0])).audio
    assert float(np.max(np.abs(ours - reference))) < 1e-3 * float(np.max(np.abs(reference)))
