"""The controller's long jobs driven without a window: export, characterisation, the listening report and the
loudness measurements start from plain arguments and report through their `JobHandle` (started, progress,
finished or failed, ended); what they wrote is compared with the core's own routines on the same maps."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from signals import chord_clip

from app.core.loudness import Level, match_pair
from app.core.session import Session
from app.core.types import ExportRequest, FeatureRef, Loudness, Method, Mode
from app.ui import compute
from app.ui.controller import Controller
from app.ui.jobs.export_job import Exported

TIMEOUT_MS = 120000


@pytest.fixture
def controller(qtbot, wav_file, model_file):
    made = Controller(thumbnails=False)
    opened = compute.open_session(model_file, wav_file)
    made.model_handle, made.summary, made.analysis, made.clip = (
        opened.model,
        opened.summary,
        opened.analysis,
        opened.clip,
    )
    made.keep_analysis(opened.analysis, opened.clip)
    yield made
    made.cancel_all()
    made.shutdown()


@pytest.fixture
def second_clip(tmp_path: Path) -> Path:
    path = tmp_path / "second.wav"
    noise = 0.05 * np.random.default_rng(7).standard_normal(22050 * 2)
    sf.write(path, (chord_clip(22050, 2.0) + noise).astype(np.float32), 22050, subtype="FLOAT")
    return path


def _record(handle) -> list[tuple]:
    """Every signal of ``handle`` in the order it came."""
    seen: list[tuple] = []
    handle.started.connect(lambda: seen.append(("started",)))
    handle.progress.connect(lambda done, total: seen.append(("progress", done, total)))
    handle.finished.connect(lambda value: seen.append(("finished", value)))
    handle.failed.connect(lambda err: seen.append(("failed", err)))
    handle.ended.connect(lambda: seen.append(("ended",)))
    return seen


def test_export_writes_what_the_core_exporter_writes(controller, qtbot, tmp_path) -> None:
    from app.core.export import export_features

    refs = (FeatureRef(1, 3), FeatureRef(2, 0))
    modes = (Mode.CHOI, Mode.RESIDUAL)
    request = ExportRequest(refs, modes, "float32", Loudness.MATCH, tmp_path / "ours", Method.GRADIENT)
    handle = controller.export(request)
    seen = _record(handle)
    with qtbot.waitSignal(handle.ended, timeout=TIMEOUT_MS):
        pass
    kinds = [s[0] for s in seen]
    assert kinds[0] == "started" and kinds[-2:] == ["finished", "ended"] and "failed" not in kinds
    assert [s[1:] for s in seen if s[0] == "progress"][-1] == (4, 4)
    exported = seen[-2][1]
    assert isinstance(exported, Exported) and not exported.cancelled and exported.folder == tmp_path / "ours"
    assert handle not in controller.jobs and handle.done
    theirs = export_features(
        controller.analysis, refs, modes, tmp_path / "core", loudness=Loudness.MATCH, method=Method.GRADIENT
    )
    assert sorted(p.name for p in exported.files) == sorted(p.name for p in theirs) and len(theirs) == 4
    for path in exported.files:
        ours, rate = sf.read(path, dtype="float32")
        core, core_rate = sf.read(tmp_path / "core" / path.name, dtype="float32")
        assert rate == core_rate == 11025 and len(ours) == len(controller.clip.samples)
        np.testing.assert_allclose(ours, core, atol=1e-6)
        assert np.max(np.abs(ours)) > 1e-4  # the map is audible: the comparison is not of two silences
        side = json.loads(path.with_suffix(".json").read_text())
        assert side["method"] == "gradient" and side["loudness_normalisation"] == "match"


def test_an_export_cancelled_through_its_handle_keeps_whole_files(controller, qtbot, tmp_path) -> None:
    refs = tuple(FeatureRef(layer, k) for layer in (1, 2, 3) for k in range(8))
    request = ExportRequest(refs, (Mode.CHOI, Mode.MAGNITUDE, Mode.RESIDUAL), "pcm24", Loudness.NONE, tmp_path / "c")
    handle = controller.export(request)
    handle.progress.connect(lambda done, total: done >= 2 and handle.cancel())
    with qtbot.waitSignal(handle.finished, timeout=TIMEOUT_MS) as blocker:
        pass
    exported: Exported = blocker.args[0]
    assert exported.cancelled and handle.cancelled and 2 <= len(exported.files) < len(refs) * 3
    assert sorted((tmp_path / "c").glob("*.wav")) == sorted(exported.files)
    assert not list((tmp_path / "c").glob(".*.part"))
    assert all(sf.info(p).frames == len(controller.clip.samples) for p in exported.files)


def test_an_export_that_cannot_write_fails_with_the_reason(controller, qtbot, tmp_path) -> None:
    blocker_file = tmp_path / "a-file"
    blocker_file.write_text("not a folder")
    handle = controller.export(ExportRequest(((1, 0),), ("choi",), "float32", "none", blocker_file / "out"))
    seen = _record(handle)
    with qtbot.waitSignal(handle.ended, timeout=TIMEOUT_MS):
        pass
    assert [s[0] for s in seen if s[0] in ("finished", "failed")] == ["failed"]
    error = next(s[1] for s in seen if s[0] == "failed")
    assert isinstance(error, OSError) and "a-file" in str(error)


def test_characterise_covers_every_clip_given_even_one_not_analysed_yet(controller, qtbot, second_clip: Path) -> None:
    from app.core.analysis import Analysis
    from app.core.audio import load_audio
    from app.core.characterise import characterise

    refs = [FeatureRef(1, k) for k in range(4)]
    clips = {controller.clip.sha256: controller.clip.path, "second": second_clip}
    handle = controller.characterise(refs, clips, Method.DECONVNET)
    seen = _record(handle)
    with qtbot.waitSignal(handle.finished, timeout=TIMEOUT_MS) as blocker:
        pass
    result = blocker.args[0]
    assert not result.cancelled and len(result.maps) == len(refs) * 2
    assert [s[1:] for s in seen if s[0] == "progress"][-1] == (8, 8)
    assert "second" not in controller.analyses  # analysed for the job only: memory stays bounded
    other = Analysis(load_audio(second_clip, controller.summary.sample_rate), controller.model_handle)
    direct = characterise([controller.analysis, other], refs)
    assert {r: [t.tag for t in tags] for r, tags in result.suggestions().items()} == {
        r: [t.tag for t in tags] for r, tags in direct.suggestions().items()
    }
    ours = {(m.layer, m.index, m.clip_sha256): m.changes.level_db for m in result.maps}
    core = {(m.layer, m.index, m.clip_sha256): m.changes.level_db for m in direct.maps}
    assert ours.keys() == core.keys() and len({key[2] for key in ours}) == 2
    np.testing.assert_allclose([ours[k] for k in core], list(core.values()), atol=1e-6)


def test_a_characterisation_for_a_network_no_longer_open_is_dropped(controller, qtbot) -> None:
    handle = controller.characterise([FeatureRef(1, 0)], {controller.clip.sha256: controller.clip.path}, "deconvnet")
    seen = _record(handle)
    controller.model_handle = object()  # another network opened meanwhile
    with qtbot.waitSignal(handle.ended, timeout=TIMEOUT_MS):
        pass
    assert [s[0] for s in seen if s[0] != "progress"] == ["started", "ended"]


def test_the_report_lists_the_maps_asked_for_with_the_session_as_it_was(
    controller, qtbot, tmp_path, second_clip: Path
) -> None:
    session = Session()
    session.set_label(FeatureRef(2, 3), "kick selector")
    clips = {controller.clip.sha256: controller.clip.path, "second": second_clip}
    refs = [FeatureRef(2, 3), FeatureRef(2, 4)]
    handle = controller.write_report(
        tmp_path / "report", refs, clips, session, title="Study", method=Method.GUIDED_BACKPROP
    )
    session.set_label(FeatureRef(2, 3), "renamed after the click")  # the job reads the snapshot
    with qtbot.waitSignal(handle.finished, timeout=TIMEOUT_MS) as blocker:
        pass
    report = blocker.args[0]
    doc = json.loads((tmp_path / "report" / "report.json").read_text())
    listed = [(m["layer"], m["index"]) for layer in doc["layers"] for m in layer["maps"]]
    assert listed == [(2, 3), (2, 4)] and (report.maps, report.clips) == (2, 2)
    assert doc["title"] == "Study" and doc["method"] == "guided-backprop" and len(doc["clips"]) == 2
    assert doc["layers"][0]["maps"][0]["label"] == "kick selector" and doc["complete"]
    assert report.index == tmp_path / "report" / "index.html" and report.index.is_file()


def test_the_report_with_an_atlas_shows_each_maps_top_excerpts(controller, qtbot, tmp_path, model_file) -> None:
    from app.core.atlas import ScanSettings
    from app.core.atlas.build import build_atlas
    from app.core.atlas.store import AtlasFile
    from app.core.model import load_model

    demo = Path(__file__).resolve().parents[2] / "resources" / "demo"
    model = load_model(model_file)
    atlas = tmp_path / "demo.atlas"
    corpus = [demo / "piano.wav", demo / "kick_walking_bass.wav"]
    build_atlas(atlas, corpus, model, ScanSettings.for_network(model, k=2))
    clips = {controller.clip.sha256: controller.clip.path}
    handle = controller.write_report(
        tmp_path / "report", [FeatureRef(2, 3)], clips, Session(), title="", method=Method.DECONVNET, atlas=atlas,
        excerpts=2,
    )  # fmt: skip
    with qtbot.waitSignal(handle.finished, timeout=TIMEOUT_MS) as blocker:
        pass
    assert blocker.args[0].excerpts == 2
    doc = json.loads((tmp_path / "report" / "report.json").read_text())
    (m,) = doc["layers"][0]["maps"]
    with AtlasFile(atlas) as opened:
        expected = [(h.clip, h.start, h.peak) for h in opened.hits(2, 3)]
    assert [(e["sha256"], e["start_s"], e["peak"]) for e in m["excerpts"]] == expected
    assert all((tmp_path / "report" / e["feature_wav"]).is_file() for e in m["excerpts"])


def test_loudness_jobs_measure_what_the_core_measures(controller, qtbot) -> None:
    rng = np.random.default_rng(3)
    a = (0.3 * rng.standard_normal(48000 * 3)).astype(np.float32)
    b = (0.05 * rng.standard_normal(48000 * 3)).astype(np.float32)
    with qtbot.waitSignal(controller.measure_level(a, 48000).finished, timeout=TIMEOUT_MS) as level:
        pass
    assert level.args[0] == Level.of(a, 48000) and level.args[0].loudness_lufs > -30
    with qtbot.waitSignal(controller.match_loudness(a, b, 48000).finished, timeout=TIMEOUT_MS) as matched:
        pass
    assert matched.args[0] == match_pair(a, b, 48000)
    silent = np.zeros_like(a)
    with qtbot.waitSignal(controller.match_loudness(a, silent, 48000).finished, timeout=TIMEOUT_MS) as refused:
        pass
    assert "B (the feature) is silent" in refused.args[0].problem()  # the dialog refuses a test on it


def test_opening_a_network_and_a_clip_leaves_them_held_by_the_controller(qtbot, wav_file, model_file) -> None:
    from app.ui.compute import ModelSource

    bare = Controller(thumbnails=False)
    try:
        order: list[str] = []
        bare.modelOpened.connect(lambda summary, source: order.append(f"model {summary.name} {source.source}"))
        handle = bare.open_model(ModelSource(str(model_file)), wav_file)
        handle.finished.connect(lambda opened: order.append("finished"))
        with qtbot.waitSignal(handle.ended, timeout=TIMEOUT_MS):
            pass
        assert order == [f"model {bare.summary.name} {model_file}", "finished"]  # held before the view hears
        assert bare.model_source.source == str(model_file) and bare.summary.sha256
        [(key, (analysis, clip))] = bare.analyses.items()
        assert clip.path == wav_file and key == clip.sha256 and clip.duration == pytest.approx(3.0, abs=0.01)
        assert analysis.clip.sample_rate == bare.summary.sample_rate
    finally:
        bare.shutdown()


def test_a_clip_added_while_another_network_opens_is_analysed_with_the_new_one(
    controller, qtbot, model_file, second_clip: Path, monkeypatch
) -> None:
    from app.ui import controller_jobs as controller_module
    from app.ui.compute import ModelSource

    analysed_with: list[object] = []
    submit = controller_module.submit_clip

    def counted(worker, handle, model, *args, **kwargs):
        analysed_with.append(model)
        return submit(worker, handle, model, *args, **kwargs)

    monkeypatch.setattr(controller_module, "submit_clip", counted)
    first_model = controller.model_handle
    opening = controller.open_model(ModelSource(str(model_file)))  # the lane's order: the open runs first
    adding = controller.add_clip(second_clip)
    with qtbot.waitSignal(adding.finished, timeout=TIMEOUT_MS) as added:
        pass
    assert opening.done and controller.model_handle is not first_model
    opened = added.args[0]
    assert opened.model is controller.model_handle and opened.clip.path == second_clip
    assert list(controller.analyses) == [opened.clip.sha256]  # the old network's clip went with it
    assert analysed_with == [first_model, controller.model_handle]  # analysed again, with the new network


def test_reading_a_damaged_session_fails_with_the_file_and_reason(controller, qtbot, tmp_path) -> None:
    from app.core.errors import SessionError

    damaged = tmp_path / "broken.aurascope"
    damaged.write_text("{ not json")
    handle = controller.open_session(damaged)
    with qtbot.waitSignal(handle.failed, timeout=TIMEOUT_MS) as failed:
        pass
    error = failed.args[0]
    assert isinstance(error, SessionError) and error.path == damaged and error.reason


def test_cancelling_an_open_keeps_what_was_loaded(controller, qtbot, model_file) -> None:
    from app.ui.compute import ModelSource

    held, clip = controller.model_handle, controller.clip
    running, gate = threading.Event(), threading.Event()
    controller.worker.submit("test-gate", lambda job: running.set() or gate.wait(30))  # the worker is busy
    assert running.wait(30)
    handle = controller.open_model(ModelSource(str(model_file)))  # waits behind it
    seen = _record(handle)
    controller.cancel_opening()  # the busy indicator's Cancel
    gate.set()
    with qtbot.waitSignal(handle.ended, timeout=TIMEOUT_MS):
        pass
    assert [s[0] for s in seen if s[0] in ("finished", "failed")] == []
    assert controller.model_handle is held and controller.clip is clip and handle not in controller.jobs


def test_slot_a_level_and_a_pair_match_do_not_cancel_each_other(controller, qtbot) -> None:
    """Both asked back to back (a long clip's level while the listener starts a blind test): both arrive."""
    rng = np.random.default_rng(5)
    a = (0.3 * rng.standard_normal(48000 * 3)).astype(np.float32)
    b = (0.05 * rng.standard_normal(48000 * 3)).astype(np.float32)
    level, pair = controller.measure_level(a, 48000), controller.match_loudness(a, b, 48000)
    seen_level, seen_pair = _record(level), _record(pair)
    qtbot.waitUntil(lambda: level.done and pair.done, timeout=TIMEOUT_MS)
    assert [s[0] for s in seen_level] == ["started", "finished", "ended"]
    assert [s[0] for s in seen_pair] == ["started", "finished", "ended"]
    assert seen_level[1][1] == Level.of(a, 48000) and seen_pair[1][1] == match_pair(a, b, 48000)


def test_cancel_stops_every_opening_it_is_shown_for_and_is_shown_by_lane(controller, qtbot, second_clip) -> None:
    from app.ui.worker import ATLAS, EXPORT

    running, gate = threading.Event(), threading.Event()
    controller.worker.submit("test-gate", lambda job: running.set() or gate.wait(30))  # the worker is busy
    assert running.wait(30)
    exporting = controller.worker.submit(EXPORT, lambda job: None, busy_text="Opening the export's folder…")
    assert not controller.opening  # an export is not an opening, whatever its text says
    atlas = controller.worker.submit(ATLAS, lambda job: None, busy_text="Opening atlas corpus.atlas…")
    clip = controller.add_clip(second_clip)  # "Analysing second.wav…", lane CLIP
    seen = _record(clip)
    assert controller.opening
    controller.cancel_opening()
    assert atlas.cancelled and clip.job.cancelled and not exporting.cancelled
    gate.set()
    qtbot.waitUntil(lambda: controller.worker.idle, timeout=TIMEOUT_MS)
    assert [s[0] for s in seen if s[0] in ("finished", "failed")] == [] and not controller.opening


def test_findings_that_failed_are_said_once_and_not_pending_for_ever(controller, qtbot, monkeypatch) -> None:
    import dataclasses

    from app.core.types import FeatureRef as Ref

    key = controller.clip.sha256
    bare = dataclasses.replace(controller.clip, findings=None)
    controller.analyses[key] = (controller.analysis, bare)
    controller.clip = bare

    def broken(analysis, summary):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(compute, "clip_findings", broken)
    assert controller.energy_of(Ref(1, 0)) == (None, "…")  # on its way
    with qtbot.waitSignal(controller.findingsFailed, timeout=TIMEOUT_MS) as failed:
        assert controller.find(key)
    assert failed.args[1] == "RuntimeError: out of memory"
    assert controller.findings_failed(key)
    assert controller.energy_of(Ref(1, 0)) == (None, "")  # not "…" for ever
    assert not controller.find(key)  # not asked again (each re-show said the error again)
