"""The window's listening session: labels in the session file, autosave and crash restore, several clips with the
same map and playhead, comparing two maps, characterisation, the report, A/B/X, and a user's own module."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from signals import chord_clip

from app.playback import Slot


def _label(window, qtbot, text: str) -> None:
    window.inspector.label.setText(text)
    window.inspector.label.textEdited.emit(text)
    qtbot.waitUntil(lambda: window.session.notes_for(window.selected).label == text, timeout=3000)


def _second_clip(tmp_path: Path, seconds: float = 2.0, name: str = "second.wav") -> Path:
    path = tmp_path / name
    rng = np.random.default_rng(7)
    clip = chord_clip(22050, seconds) + 0.05 * rng.standard_normal(int(22050 * seconds)).astype(np.float32)
    sf.write(path, clip.astype(np.float32), 22050, subtype="FLOAT")
    return path


def _wait_ready(window, qtbot) -> None:
    qtbot.waitUntil(lambda: window.worker.idle and window.residual is not None, timeout=60000)


def test_labels_ratings_autosave_save_and_reopen(make_window, qtbot, tmp_path, wav_file, model_file, settings) -> None:
    window = make_window(wav_file, model_file)
    window.tree.select((1, 3))
    qtbot.waitUntil(lambda: window.feature is not None and window.feature.ref == (1, 3), timeout=30000)
    _label(window, qtbot, "onset detector")
    window.inspector.stars[3].click()  # 4 stars
    assert window.session.notes_for((1, 3)).rating == 4
    window._loop_region_changed((0.5, 1.25))
    assert window.session.dirty and window.windowTitle().endswith("untitled session • — Aurascope")
    # autosave: an untitled session goes to the settings' sessions folder, a moment after the change
    autosave = settings.state_dir() / "untitled.aurascope.autosave"
    qtbot.waitUntil(lambda: autosave.is_file() and '"start_s": 0.5' in autosave.read_text(), timeout=3000)
    saved = json.loads(autosave.read_text())
    assert saved["maps"]["L1F3"] == {"label": "onset detector", "notes": "", "rating": 4}
    # Save As writes the file, removes the autosave, and the title loses its dot
    target = tmp_path / "listening.aurascope"
    assert window._save_to(target)
    assert target.is_file() and not autosave.exists() and not window.session.dirty
    data = json.loads(target.read_text())
    assert data["clips"][0]["sha256"] == window.clip.sha256 and data["selection"]["layer"] == 1
    assert data["loops"] == [{"clip": window.clip.sha256, "start_s": 0.5, "end_s": 1.25}]
    assert data["model"]["sha256"] == window.summary.sha256
    window.close()

    # a fresh window opens the session: its model, its clip, the selected map, the label, the loop
    second = make_window(None, None, wait=False)
    with qtbot.waitSignal(second.featureReady, timeout=60000):
        assert second.open_session_file(target)
    _wait_ready(second, qtbot)
    assert second.selected == (1, 3) and second.clip.sha256 == data["clips"][0]["sha256"]
    assert "onset detector" in second.tree._items[(1, 3)].text()
    assert second.inspector.label.text() == "onset detector" and second.inspector.rating == 4
    region = second.engine.loop_region
    assert region is not None and region[0] / second.engine.sample_rate == pytest.approx(0.5, abs=1e-3)
    assert not second.session.dirty


def test_a_crash_leaves_an_autosave_that_the_next_start_offers(
    make_window, qtbot, wav_file, model_file, settings
) -> None:
    window = make_window(wav_file, model_file)
    window.tree.select((2, 5))
    qtbot.waitUntil(lambda: window.feature is not None and window.feature.ref == (2, 5), timeout=30000)
    _label(window, qtbot, "bass selector")
    assert window.keeper.autosave_now() is not None
    autosave = window.keeper.last_autosave
    window.keeper.close_clean = lambda: None  # a crash: nothing is cleaned up on the way out
    window.close()
    assert autosave.is_file()

    restored = make_window(wav_file, model_file, wait=False)
    qtbot.waitUntil(lambda: restored.restore_box is not None, timeout=5000)
    box = restored.restore_box
    restore = next(b for b in box.buttons() if b.text() == "Restore")
    with qtbot.waitSignal(restored.featureReady, timeout=60000):
        restore.click()
    _wait_ready(restored, qtbot)
    assert restored.selected == (2, 5) and restored.session.notes_for((2, 5)).label == "bass selector"
    assert restored.session.dirty and restored.session.path is None  # restored, not yet saved


def test_discarding_the_offer_deletes_the_autosave(make_window, qtbot, wav_file, model_file, settings) -> None:
    autosave = settings.state_dir() / "untitled.aurascope.autosave"
    window = make_window(wav_file, model_file)
    _label(window, qtbot, "kept only in the autosave")
    window.keeper.autosave_now()
    window.keeper.close_clean = lambda: None
    window.close()
    fresh = make_window(wav_file, model_file, wait=False)
    qtbot.waitUntil(lambda: fresh.restore_box is not None, timeout=5000)
    next(b for b in fresh.restore_box.buttons() if b.text() == "Discard").click()
    qtbot.waitUntil(lambda: fresh.feature is not None, timeout=60000)
    assert not autosave.exists() and fresh.session.notes_for((2, 0)).label == ""


def test_a_damaged_session_file_is_reported_and_left_as_it_was(make_window, qtbot, tmp_path, wav_file, model_file):
    window = make_window(wav_file, model_file)
    damaged = tmp_path / "damaged.aurascope"
    damaged.write_bytes(b'{"format": "aurascope-session", "version": 1, "clips": [')
    newer = tmp_path / "newer.aurascope"
    newer.write_text(json.dumps({"format": "aurascope-session", "version": 99, "clips": []}))
    before = {p: p.read_bytes() for p in (damaged, newer)}
    clip = window.clip.sha256
    for path in (damaged, newer):
        with qtbot.waitSignal(window.errorShown, timeout=5000) as blocker:
            window.open_session_file(path)  # read on the worker: the error arrives from there
        assert path.name in blocker.args[0]
        window.error_box.close()
    assert "newer" in window.last_error or "version" in window.last_error
    assert {p: p.read_bytes() for p in before} == before
    assert window.clip.sha256 == clip  # what was open stays open


def test_same_map_across_clips_keeps_the_playhead(make_window, qtbot, tmp_path, wav_file, model_file) -> None:
    window = make_window(wav_file, model_file)
    other = _second_clip(tmp_path, 2.0)
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.open_audio(other)
    _wait_ready(window, qtbot)
    assert window.clip.path == other.resolve() and len(window.session.clips) == 2
    assert window.clip_list.keys() == [c.sha256 for c in window.session.clips]
    window.tree.select((3, 4))
    qtbot.waitUntil(lambda: window.feature is not None and window.feature.ref == (3, 4), timeout=30000)
    window.seek(1.5)
    qtbot.waitUntil(lambda: abs(window.engine.position() - 1.5) < 0.01, timeout=3000)
    feature_on_other = window.feature.audio.copy()
    # "]" : the next clip, the same map, the same playhead
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.act_next_clip.trigger()
    _wait_ready(window, qtbot)
    assert window.clip.path == wav_file.resolve() and window.selected == (3, 4)
    assert window.engine.position() == pytest.approx(1.5, abs=0.01)
    assert window.feature.audio.shape != feature_on_other.shape  # rendered on this clip (3 s, not 2 s)
    window.seek(2.6)  # past the end of the 2 s clip: that one starts from 0
    qtbot.waitUntil(lambda: abs(window.engine.position() - 2.6) < 0.01, timeout=3000)
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.act_prev_clip.trigger()
    assert window.clip.path == other.resolve() and window.engine.position() == pytest.approx(0.0, abs=0.01)
    # playing on: the switch resumes once the map is rendered on the next clip
    window.seek(0.5)
    window.play()
    qtbot.waitUntil(lambda: window.engine.is_playing and 0.6 < window.engine.position() < 1.2, timeout=3000)
    before = window.engine.position()
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.act_next_clip.trigger()  # a cached clip switches at once: paused at the playhead until B is ready
        assert window.clip.path == wav_file.resolve() and not window.engine.is_playing
        assert window.engine.position() == pytest.approx(before, abs=0.05)
    qtbot.waitUntil(lambda: window.engine.is_playing, timeout=3000)  # and plays on from there


def test_a_moved_clip_is_found_beside_the_session_and_a_missing_one_is_named(
    make_window, qtbot, tmp_path, tmp_path_factory, wav_file, model_file, monkeypatch
) -> None:
    from PySide6.QtWidgets import QFileDialog

    folder = tmp_path / "study"
    folder.mkdir()
    clip_a = shutil.copy(wav_file, folder / "a.wav")
    clip_b = _second_clip(folder, 2.0, "b.wav")
    window = make_window(Path(clip_a), model_file)
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.open_audio(clip_b)
    _wait_ready(window, qtbot)
    session_file = tmp_path / "study.aurascope"
    assert window._save_to(session_file)
    window.close()
    (folder / "moved").mkdir()
    shutil.move(clip_a, folder / "moved" / "renamed.wav")  # found by its hash
    kept_b = tmp_path_factory.mktemp("elsewhere") / "b-copy.wav"
    shutil.move(clip_b, kept_b)  # gone from the session's folder tree
    second = make_window(None, None, wait=False)
    with qtbot.waitSignal(second.featureReady, timeout=60000):
        second.open_session_file(session_file)
    _wait_ready(second, qtbot)
    assert second.clip.path == (folder / "moved" / "renamed.wav").resolve()
    entries = {e.name: e.status for e in second.clip_entries.values()}
    assert entries == {"renamed.wav": "ready", "b.wav": "missing"}
    assert "b.wav" in second.last_error and "missing" in second.last_error and "renamed.wav" in second.last_error
    second.error_box.close()
    # Locate file…: the listener points at the moved copy; same content, so it keeps its place in the session
    key = next(k for k, e in second.clip_entries.items() if e.name == "b.wav")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(kept_b), ""))
    with qtbot.waitSignal(second.featureReady, timeout=60000):
        second.locate_clip(key)
    assert second.clip.sha256 == key and second.clip_entries[key].status == "ready"
    assert [c.sha256 for c in second.session.clips][1] == key
    assert second.session.clip(key).path == kept_b.resolve()


def test_shift_click_in_the_gallery_compares_two_maps(make_window, qtbot, wav_file, model_file) -> None:
    from app.ui import compute

    window = make_window(wav_file, model_file)
    window.centre.setCurrentIndex(1)
    gallery = window.gallery
    gallery.show_layer(2)
    qtbot.waitUntil(lambda: gallery.cell_rect((2, 6)) is not None, timeout=3000)
    view = gallery.view().viewport()
    from PySide6.QtCore import Qt

    with qtbot.waitSignal(window.featureReady, timeout=30000):
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=gallery.cell_rect((2, 6)).center())
    assert window.selected == (2, 6) and window.engine.is_playing and window.engine.selected is Slot.B
    shift = Qt.KeyboardModifier.ShiftModifier
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, shift, gallery.cell_rect((2, 1)).center())
    qtbot.waitUntil(lambda: window.compared is not None, timeout=30000)
    assert window.compare == (2, 1) and window.selected == (2, 6) and window.transport.slot_c.isVisible()
    assert window.session.selection.compare == (2, 1)
    window.toggle_ab()
    assert window.engine.selected is Slot.C
    window.toggle_ab()
    assert window.engine.selected is Slot.B
    # C holds map (2, 1) of this clip, as the core renders it
    rate = window.engine.sample_rate
    expected = compute.render_feature(window.analysis, window.summary, (2, 1), "choi", rate, residual=False)
    assert np.corrcoef(window.compared.audio, expected.audio)[0, 1] > 0.9999
    window.act_compare.trigger()  # C on (2, 6): hold the selected map instead
    qtbot.waitUntil(lambda: window.compared is not None and window.compare == (2, 6), timeout=30000)
    window.act_compare.trigger()  # and C again lets it go
    assert window.compare is None and not window.transport.slot_c.isVisible()


def test_characterise_suggests_tags_and_never_touches_labels(make_window, qtbot, wav_file, model_file) -> None:
    window = make_window(wav_file, model_file)
    window.tree.select((1, 0))
    qtbot.waitUntil(lambda: window.feature is not None and window.feature.ref == (1, 0), timeout=30000)
    _label(window, qtbot, "mine")
    qtbot.waitUntil(lambda: window.worker.idle, timeout=30000)
    window.characterise(True)
    qtbot.waitUntil(lambda: window.worker.idle and bool(window.session.suggestions), timeout=120000)
    from app.core.characterise import characterise

    direct = characterise(window.analysis, [(1, k) for k in range(8)]).suggestions()
    assert {r: [t.tag for t in tags] for r, tags in window.session.suggestions.items() if tags} == {
        r: [t.tag for t in tags] for r, tags in direct.items() if tags
    }
    assert window.session.notes_for((1, 0)).label == "mine"
    assert all(ref[0] == 1 for ref in window.session.suggestions)


def test_the_report_from_the_window_covers_the_session_clips(make_window, qtbot, tmp_path, wav_file, model_file):
    from app.ui.report_dialog import ReportRequest

    window = make_window(wav_file, model_file)
    other = _second_clip(tmp_path)
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.open_audio(other)
    _wait_ready(window, qtbot)
    window.tree.select((2, 3))
    qtbot.waitUntil(lambda: window.feature is not None and window.feature.ref == (2, 3), timeout=30000)
    _label(window, qtbot, "kick selector")
    out = tmp_path / "report"
    keys = tuple(c.sha256 for c in window.session.clips)
    request = ReportRequest(out, "Study", "selected", ((2, 3), (2, 4)), keys, "deconvnet", False)
    window.run_report(request)
    qtbot.waitUntil(lambda: window.worker.idle and getattr(window, "last_report", None) is not None, timeout=120000)
    doc = json.loads((out / "report.json").read_text())
    html = (out / "index.html").read_text()
    assert "kick selector" in html and "Study" in html
    assert len(doc["clips"]) == 2
    wavs = sorted(p.name for p in (out / "audio").glob("*.wav"))
    assert len(wavs) >= 2 * 2 * 2  # 2 maps x 2 clips x (feature + residual), plus the originals


def test_an_abx_run_is_saved_in_the_session(make_window, qtbot, wav_file, model_file) -> None:
    window = make_window(wav_file, model_file)
    dialog = window.start_abx()
    assert dialog is not None
    trial = dialog.trial()
    for x in trial.sequence:
        dialog.answer(x.value)
    qtbot.waitUntil(lambda: bool(window.session.abx), timeout=3000)
    result = window.session.abx[0]
    assert (result.layer, result.index) == window.selected and result.correct == trial.trials
    assert result.p_value == pytest.approx(0.5**trial.trials)
    assert f"{trial.trials} of {trial.trials}" in window.inspector.abx.text()


def test_a_pytorch_module_opens_from_the_window(make_window, qtbot, tmp_path, wav_file, model_file) -> None:
    from app.core.model import load_model
    from app.ui.model_source_dialog import ModuleSourceRequest

    model = load_model(model_file)
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "window_net.py").write_text(
        "import torch.nn.functional as F\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else 8, 8, 3, padding=1) for i in range(2))\n"
        "    def forward(self, x):\n"
        "        for conv in self.convs:\n"
        "            x = F.max_pool2d(F.relu(conv(x)), 2)\n"
        "        return x\n"
    )
    front_end = tmp_path / "fe.json"
    front_end.write_text(json.dumps({"front_end": model.front_end.to_dict(), "name": "window net"}))
    window = make_window(wav_file, model_file)
    request = ModuleSourceRequest("window_net:Net", folder, None, front_end)
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.open_module(request)
    _wait_ready(window, qtbot)
    assert window.summary.kind == "traced" and window.summary.name == "window net"
    assert [layer.n_maps for layer in window.summary.layers] == [8, 8]
    assert window.selected == (2, 0) and window.feature.ref == (2, 0)
    assert "window_net" not in {Path(p).name for p in __import__("sys").path}  # the folder is not left on the path
    # a session with the user's module opens it again, from its folder
    _label(window, qtbot, "my module's map")
    session_file = tmp_path / "own.aurascope"
    assert window._save_to(session_file)
    assert json.loads(session_file.read_text())["model_module"]["source"] == "window_net:Net"
    again = make_window(None, None, wait=False)
    again.open_session_file(session_file)
    # a session's module runs only once the listener agrees (tests/ui/test_module_consent.py)
    qtbot.waitUntil(lambda: again.consent_box is not None, timeout=60000)
    with qtbot.waitSignal(again.featureReady, timeout=60000):
        next(b for b in again.consent_box.buttons() if b.text() == "Open once").click()
    _wait_ready(again, qtbot)
    assert again.summary.kind == "traced" and again.summary.name == "window net"
    assert again.session.notes_for((2, 0)).label == "my module's map" and not again.session.dirty
    # a source that does not import names itself
    with qtbot.waitSignal(window.errorShown, timeout=30000) as blocker:
        window.open_module(ModuleSourceRequest("no_such_module:Net", folder, None, front_end))
    assert "no_such_module" in blocker.args[0]


def test_closing_with_unsaved_labels_asks_first(make_window, qtbot, wav_file, model_file) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    window = make_window(wav_file, model_file, ask_to_save=True)
    _label(window, qtbot, "worth keeping")
    answers = []

    def answer(button: QMessageBox.StandardButton) -> None:
        box = QApplication.activeModalWidget()
        answers.append(box.text() if isinstance(box, QMessageBox) else None)
        box.button(button).click()

    QTimer.singleShot(200, lambda: answer(QMessageBox.StandardButton.Cancel))
    window.close()
    assert window.isVisible() and answers and "unsaved" in answers[0]
    QTimer.singleShot(200, lambda: answer(QMessageBox.StandardButton.Discard))
    window.close()
    assert not window.isVisible() and len(answers) == 2


def test_a_residual_network_opens_with_its_warning_shown(make_window, qtbot, tmp_path, wav_file, model_file) -> None:
    """The traced route's fidelity notes reach the window: a banner naming the residual sum, not just a tooltip."""
    from app.core.model import load_model
    from app.ui.model_source_dialog import ModuleSourceRequest

    front_end = tmp_path / "fe.json"
    front_end.write_text(json.dumps({"front_end": load_model(model_file).front_end.to_dict(), "name": "resnet"}))
    window = make_window(wav_file, model_file)
    assert not window.model_banner.isVisible()
    tests_dir = Path(__file__).resolve().parents[1]
    request = ModuleSourceRequest("user_models.nets:residual_net", tests_dir, None, front_end)
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.open_module(request)
    _wait_ready(window, qtbot)
    text = window.model_banner.text.text()
    assert window.model_banner.isVisible() and "resnet" in text and "residual" in text.lower()
    assert window.summary.warnings and all(w in text for w in window.summary.warnings)
    window.model_banner.retry.click()  # Dismiss
    assert not window.model_banner.isVisible()
    with qtbot.waitSignal(window.sessionReady, timeout=60000):  # our own file again: no notes, no banner
        window.open_model(model_file)
    assert not window.model_banner.isVisible()


def test_thumbnails_are_kept_per_clip(make_window, qtbot, tmp_path, wav_file, model_file) -> None:
    """Back on a clip seen before, its tree and gallery thumbnails are there at once, with no job queued."""
    window = make_window(wav_file, model_file, thumbnails=True)
    qtbot.waitUntil(lambda: not window.controller.thumb_queue and window.worker.idle, timeout=120000)
    first = {ref: window.gallery.model.thumbnails[ref].cacheKey() for ref in window.gallery.model.thumbnails}
    assert len(first) >= 8  # the shown layer's maps at least
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.open_audio(_second_clip(tmp_path))
    qtbot.waitUntil(lambda: not window.controller.thumb_queue and window.worker.idle, timeout=120000)
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.act_prev_clip.trigger()
    assert window.clip.path == wav_file.resolve()
    assert window.controller.thumb_total == 0 and not window.controller.thumb_queue  # nothing to compute again
    again = {ref: window.gallery.model.thumbnails[ref].cacheKey() for ref in first}
    assert again == first


def test_opening_a_session_restores_its_map_and_mode_and_marks_nothing_unsaved(
    make_window, qtbot, tmp_path, wav_file, model_file
) -> None:
    window = make_window(wav_file, model_file)
    window.options.set_mode("magnitude")
    window.tree.select((1, 3))
    qtbot.waitUntil(lambda: window.feature is not None and window.feature.ref == (1, 3), timeout=30000)
    target = tmp_path / "magnitude.aurascope"
    assert window._save_to(target)
    window.options.set_mode("choi")
    window.tree.select((2, 5))
    qtbot.waitUntil(lambda: window.feature is not None and window.feature.ref == (2, 5), timeout=30000)
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        window.open_session_file(target)
    _wait_ready(window, qtbot)
    assert window.selected == (1, 3) and window.feature.mode == "magnitude"
    assert window.options.mode.currentData() == "magnitude"
    assert not window.session.dirty and "•" not in window.windowTitle()


def test_stored_settings_do_not_make_a_fresh_session_unsaved(make_window, qtbot, wav_file, model_file, settings):
    from app.ui import settings as keys

    settings.set(keys.VOLUME, 0.5)
    settings.set(keys.MODE, "magnitude")
    window = make_window(None, None, wait=False)
    assert window.session.playback.volume == 0.5 and window.session.playback.mode == "magnitude"
    assert not window.session.dirty and "•" not in window.windowTitle()
    qtbot.wait(600)  # longer than the autosave delay
    assert not (settings.state_dir() / "untitled.aurascope.autosave").exists()
    assert window.keeper.crash_autosave() is None


def test_several_clips_added_at_once_are_all_analysed(make_window, qtbot, tmp_path, wav_file, model_file) -> None:
    window = make_window(wav_file, model_file)
    b, c = _second_clip(tmp_path, 2.0, "b.wav"), _second_clip(tmp_path, 1.5, "c.wav")
    window.open_files([b, c])
    qtbot.waitUntil(lambda: len(window.session.clips) == 3 and window.worker.idle, timeout=60000)
    assert [e.name for e in window.clip_entries.values()] == ["chords.wav", "b.wav", "c.wav"]
    assert all(e.status == "ready" and e.duration is not None for e in window.clip_entries.values())


def test_new_session_keeps_the_open_model_and_clip_and_drops_labels_being_typed(
    make_window, qtbot, wav_file, model_file
) -> None:
    window = make_window(wav_file, model_file)
    window.inspector.label.setText("typed just now")
    window.inspector.label.textEdited.emit("typed just now")  # still inside the inspector's debounce
    old = window.session
    window.new_session()
    qtbot.wait(600)
    assert old.notes_for(window.selected).label == "typed just now"  # it went to the session it was typed in
    fresh = window.session
    assert fresh is not old and fresh.notes_for(window.selected).label == ""
    assert fresh.model is not None and fresh.model.sha256 == window.summary.sha256
    assert [c.sha256 for c in fresh.clips] == [window.clip.sha256] and not fresh.dirty
    assert "typed just now" not in window.tree._items[window.selected].text()


def test_arrow_keys_move_in_the_gallery_not_through_layers(make_window, qtbot, wav_file, model_file) -> None:
    from PySide6.QtCore import Qt

    window = make_window(wav_file, model_file)
    window.activateWindow()
    window.centre.setCurrentIndex(1)
    window.tree.select((2, 1))
    qtbot.waitUntil(lambda: window.feature is not None and window.feature.ref == (2, 1), timeout=30000)
    view = window.gallery.view()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=3000)
    with qtbot.waitSignal(window.featureReady, timeout=30000):
        qtbot.keyClick(view, Qt.Key.Key_Right)
    assert window.selected == (2, 2)


def test_a_second_running_window_neither_offers_nor_overwrites_the_firsts_autosave(
    make_window, qtbot, wav_file, model_file, settings
) -> None:
    first = make_window(wav_file, model_file)
    _label(first, qtbot, "first window's")
    mine = first.keeper.autosave_now()
    assert mine == settings.state_dir() / "untitled.aurascope.autosave"
    second = make_window(wav_file, model_file)
    assert first.keeper.primary and not second.keeper.primary and second.restore_box is None
    _label(second, qtbot, "second window's")
    theirs = second.keeper.autosave_now()
    assert theirs is not None and theirs != mine and "first window's" in mine.read_text()
    second.close()
    assert not theirs.exists() and mine.is_file()  # a clean close removes only its own


def test_a_damaged_autosave_is_reported_kept_aside_and_the_files_open(
    make_window, qtbot, wav_file, model_file, settings
) -> None:
    autosave = settings.state_dir() / "untitled.aurascope.autosave"
    autosave.write_text('{"format": "aurascope-session", "version": 1, "maps": {"L1F1": ')
    damaged = autosave.read_bytes()
    window = make_window(wav_file, model_file, wait=False)
    qtbot.waitUntil(lambda: window.restore_box is not None, timeout=5000)
    with qtbot.waitSignal(window.errorShown, timeout=5000) as blocker:
        next(b for b in window.restore_box.buttons() if b.text() == "Restore").click()
    assert "Cannot restore" in blocker.args[0]
    kept = [p for p in settings.state_dir().iterdir() if ".damaged-" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes() == damaged  # moved aside, byte for byte
    window.error_box.close()
    qtbot.waitUntil(lambda: window.feature is not None, timeout=60000)  # and the files given at start open
    assert window.clip.path == wav_file.resolve()
