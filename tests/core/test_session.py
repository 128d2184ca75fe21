"""Session files on real files in tmp_path: round trip, atomic save, damaged or newer files, moved files,
autosave and crash recovery, and suggested tags kept apart from the listener's labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from signals import piano_like_notes

from app.core import files as files_module
from app.core.abx import AbxTrial, Choice
from app.core.audio import file_sha256
from app.core.characterise import SuggestedTag
from app.core.errors import SessionError
from app.core.session import (
    FileStatus,
    MapNotes,
    Session,
    autosave_path,
    find_crash_autosave,
    push_recent,
    restore_autosave,
)

ROOT = Path(__file__).resolve().parents[2]
SR = 11025


def write_clip(path: Path, seed: int, seconds: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, piano_like_notes(SR, seconds, [0.1, 0.5], seed=seed), SR, subtype="FLOAT")
    return path


@pytest.fixture
def project(tmp_path: Path, model_file: Path) -> dict[str, Path]:
    """A session folder with two clips under clips/ and a copy of the model under models/."""
    model = tmp_path / "models" / "small.safetensors"
    model.parent.mkdir()
    model.write_bytes(model_file.read_bytes())
    return {
        "dir": tmp_path,
        "a": write_clip(tmp_path / "clips" / "a.wav", seed=1),
        "b": write_clip(tmp_path / "clips" / "b.wav", seed=2),
        "model": model,
        "session": tmp_path / "listening.aurascope",
    }


def tag(name: str = "onset detector", value: float = 0.27) -> SuggestedTag:
    return SuggestedTag(
        tag=name,
        figure="change.onset_corr",
        value=value,
        threshold=0.15,
        op=">=",
        detail="onset correlation change +0.27 ≥ +0.15",
        clip_sha256="0" * 64,
        clip_name="a.wav",
        support=2,
        of=2,
    )


def full_session(project: dict[str, Path]) -> Session:
    s = Session()
    s.set_model(project["model"])
    a = s.add_clip(project["a"])
    b = s.add_clip(project["b"])
    s.select(clip=b.sha256, layer=2, index=5, compare=(2, 7), playhead_s=0.75)
    s.set_label((1, 3), "onset detector")
    s.set_notes((1, 3), "clicks on every note; ignores the sustain")
    s.set_rating((1, 3), 4)
    s.set_rating((2, 0), 2)
    s.set_suggestions({(1, 3): [tag()], (2, 1): [tag("bass selector", 0.8)]})
    s.set_playback(slot="R", loudness_match=False, volume=0.5, loop=True)
    s.set_loop(a.sha256, 0.25, 0.75)
    trial = AbxTrial(1, 3, a.sha256, "a.wav", trials=4, seed=7, gain_db=3.5)
    for x in trial.sequence:
        trial.answer(x)
    s.add_abx(trial.result())
    return s


def test_round_trip_keeps_everything_and_stores_relative_paths(project: dict[str, Path]) -> None:
    s = full_session(project)
    assert s.dirty
    saved = s.save(project["session"])
    assert not s.dirty and s.path == saved
    doc = json.loads(saved.read_text())
    assert (doc["format"], doc["version"]) == ("aurascope-session", 1)
    assert [c["path"] for c in doc["clips"]] == ["clips/a.wav", "clips/b.wav"]
    assert doc["model"]["path"] == "models/small.safetensors"
    assert doc["clips"][0]["sha256"] == file_sha256(project["a"])
    assert doc["maps"] == {
        "L1F3": {"label": "onset detector", "notes": "clicks on every note; ignores the sustain", "rating": 4},
        "L2F0": {"label": "", "notes": "", "rating": 2},
    }
    assert set(doc["suggested_tags"]) == {"L1F3", "L2F1"}  # apart from "maps", never merged into labels
    assert doc["abx"][0]["correct"] == 4 and doc["abx"][0]["p_value"] == pytest.approx(1 / 16)

    back = Session.load(saved)
    assert [loc.status for loc in back.located] == [FileStatus.FOUND] * 3
    assert back.problems() == [] and not back.dirty
    assert back.model == s.model and back.clips == s.clips
    assert back.selection == s.selection and back.selection.compare == (2, 7)
    assert back.maps == s.maps and back.suggestions == s.suggestions
    assert back.playback == s.playback and back.loops == s.loops
    assert back.abx == s.abx and back.abx[0].p_value == pytest.approx(0.0625)


def test_load_accepts_feature_refs_gui_tuples_and_map_names(project: dict[str, Path]) -> None:
    from app.core.analysis import FeatureRef

    s = Session()
    s.set_label(FeatureRef(3, 9), "kick")
    assert s.notes_for((3, 9)) == s.notes_for("L3F9") == MapNotes(label="kick")
    s.set_label((3, 9), "")
    assert s.maps == {}  # an empty entry is not kept


def test_save_is_atomic_and_fsyncs_file_and_folder(project: dict[str, Path], monkeypatch) -> None:
    s = full_session(project)
    target = project["session"]
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(src, dst) -> None:
        calls.append(f"rename {Path(src).parent == Path(dst).parent}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    s.save(target)
    assert calls == ["fsync-file", "rename True", "fsync-dir"]


def test_a_failed_save_leaves_the_old_file_and_no_temporary_file(project: dict[str, Path], monkeypatch) -> None:
    s = full_session(project)
    target = s.save(project["session"])
    before = target.read_bytes()
    s.set_label((4, 4), "changed")

    def disk_full(fd: int, data: bytes) -> None:
        os.write(fd, data[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files_module, "_write_all", disk_full)  # the one atomic writer, which sessions use
    with pytest.raises(SessionError, match="No space left on device") as err:
        s.save()
    assert err.value.path == target
    assert target.read_bytes() == before
    leftovers = [p.name for p in target.parent.iterdir() if files_module.is_temporary(p.name) or ".tmp" in p.name]
    assert leftovers == []
    assert s.dirty  # still unsaved


VALID = {
    "format": "aurascope-session",
    "version": 1,
    "clips": [],
    "maps": {"L1F3": {"label": "x", "notes": "", "rating": 3}},
}


@pytest.mark.parametrize(
    "text,field,reason",
    [
        ('{"format": "aurascope-session", "version": 1, "clips": [', None, "damaged JSON at line 1"),
        ("\x00\xff\xfe binary", None, "not a text file"),
        ("[1, 2]", None, "top level is not a JSON object"),
        ('{"format": "something-else", "version": 1}', "format", "not an Aurascope session"),
        ('{"format": "aurascope-session", "version": 2}', "version", "newer Aurascope"),
        ('{"format": "aurascope-session", "version": "1"}', "version", "expected a whole number"),
        (json.dumps({**VALID, "maps": {"L1F3": {"rating": 9}}}), "maps.L1F3.rating", "expected 1-5, got 9"),
        (json.dumps({**VALID, "maps": {"L1F3": {"rating": True}}}), "maps.L1F3.rating", "whole number"),
        (json.dumps({**VALID, "maps": {"layer1": {}}}), "maps.layer1", "a map name like 'L2F17'"),
        (json.dumps({**VALID, "clips": {"a": 1}}), "clips", "expected a list"),
        (json.dumps({**VALID, "clips": [{"path": "a.wav", "sha256": "abc"}]}), "clips[0].sha256", "SHA-256"),
        (json.dumps({**VALID, "clips": [{"path": 3, "sha256": "0" * 64}]}), "clips[0].path", "expected text"),
        (json.dumps({**VALID, "playback": {"volume": 2.0}}), "playback.volume", "in [0.0, 1.0]"),
        (json.dumps({**VALID, "playback": {"slot": "Q"}}), "playback.slot", "one of A, B, R"),
        (json.dumps({**VALID, "loops": [{"clip": "0" * 64, "start_s": 2, "end_s": 1}]}), "loops[0].end_s", "end"),
        (json.dumps({**VALID, "selection": {"layer": 0}}), "selection.layer", "expected >= 1"),
        (json.dumps({**VALID, "abx": [{"layer": 1, "index": 0}]}), "abx[0].clip", "expected text"),
        ('{"format": "aurascope-session", "version": 1, "playback": {"volume": NaN}}', "playback.volume", "finite"),
    ],
)
def test_bad_files_raise_naming_file_and_field_and_are_never_written(
    tmp_path: Path, text: str, field: str | None, reason: str
) -> None:
    path = tmp_path / "bad.aurascope"
    path.write_bytes(text.encode("utf-8", "surrogateescape") if "\x00" not in text else b"\x00\xff\xfe binary")
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    with pytest.raises(SessionError) as err:
        Session.load(path)
    assert err.value.path == path and err.value.field == field
    assert reason in str(err.value) and "bad.aurascope" in str(err.value)
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.aurascope"]  # no autosave, no temp file


def test_missing_session_file_is_a_session_error(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="no such file"):
        Session.load(tmp_path / "nope.aurascope")


def test_moved_files_are_found_beside_the_session_or_by_hash_else_reported(project: dict[str, Path]) -> None:
    s = full_session(project)
    saved = s.save(project["session"])
    root = project["dir"]
    project["a"].rename(root / "a.wav")  # beside the session file
    (root / "deep" / "er").mkdir(parents=True)
    project["b"].rename(root / "deep" / "er" / "renamed.wav")  # another name, found by SHA-256
    project["model"].unlink()  # gone
    back = Session.load(saved)
    status = {loc.name: loc.status for loc in back.located}
    assert status == {"small.safetensors": FileStatus.MISSING, "a.wav": FileStatus.MOVED, "b.wav": FileStatus.MOVED}
    assert back.clips[0].path == (root / "a.wav").resolve()
    assert back.clips[1].path == (root / "deep" / "er" / "renamed.wav").resolve()
    assert back.missing == ["small.safetensors"]
    assert back.problems()[0] == ("model 'small.safetensors' is missing (was at 'models/small.safetensors')")
    # what was lost is kept, so saving again does not drop it; the found files are stored where they are now
    back.save()
    doc = json.loads(saved.read_text())
    assert doc["model"]["path"] == "models/small.safetensors"
    assert [c["path"] for c in doc["clips"]] == ["a.wav", "deep/er/renamed.wav"]


def test_a_file_changed_in_place_is_reported_as_changed(project: dict[str, Path]) -> None:
    s = full_session(project)
    saved = s.save(project["session"])
    write_clip(project["a"], seed=99)
    back = Session.load(saved)
    assert back.located[1].status is FileStatus.CHANGED
    assert "has changed since the session was saved" in back.problems()[0]


def test_absolute_path_is_used_when_the_session_file_moved(project: dict[str, Path], tmp_path_factory) -> None:
    s = full_session(project)
    saved = s.save(project["session"])
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "moved.aurascope"
    elsewhere.write_bytes(saved.read_bytes())
    back = Session.load(elsewhere)
    assert [loc.status for loc in back.located] == [FileStatus.FOUND] * 3
    assert back.clips[0].path == project["a"].resolve()


def test_autosave_and_crash_recovery(project: dict[str, Path]) -> None:
    s = full_session(project)
    saved = s.save(project["session"])
    assert autosave_path(saved) == project["dir"] / ".listening.aurascope.autosave"
    assert find_crash_autosave(saved) is None
    s.set_label((5, 63), "crash me")
    auto = s.write_autosave()
    assert auto == autosave_path(saved) and s.dirty
    assert json.loads(auto.read_text())["autosave_of"] == "listening.aurascope"
    # the window dies here; on the next start it asks before opening the session
    found = find_crash_autosave(saved)
    assert found == auto
    restored = restore_autosave(found)
    assert restored.path == saved and restored.dirty
    assert restored.notes_for((5, 63)).label == "crash me"
    assert Session.load(saved).notes_for((5, 63)).label == ""  # the session file itself untouched
    restored.save()
    assert not auto.exists() and find_crash_autosave(saved) is None
    assert Session.load(saved).notes_for((5, 63)).label == "crash me"


def test_untitled_session_autosaves_into_the_state_folder(project: dict[str, Path], tmp_path_factory) -> None:
    state = tmp_path_factory.mktemp("state")
    s = Session()
    s.add_clip(project["a"])
    with pytest.raises(ValueError, match="state_dir"):
        s.write_autosave()
    auto = s.write_autosave(state)
    assert find_crash_autosave(state_dir=state) == auto
    restored = restore_autosave(auto)
    assert restored.path is None and restored.clips[0].path == project["a"].resolve()
    s.discard_autosave(state)
    assert find_crash_autosave(state_dir=state) is None


def test_a_damaged_autosave_is_an_error_and_left_alone(project: dict[str, Path]) -> None:
    saved = full_session(project).save(project["session"])
    auto = autosave_path(saved)
    auto.write_text('{"format": "aurascope-session", "vers')
    with pytest.raises(SessionError, match="damaged JSON"):
        restore_autosave(auto)
    assert auto.read_text() == '{"format": "aurascope-session", "vers'


def test_suggested_tags_never_overwrite_labels(project: dict[str, Path]) -> None:
    """A real characterisation (vertical-edge kernel on piano-like notes) stored in a labelled session."""
    import torch

    from app.core.analysis import Analysis
    from app.core.architecture import Conv2d, ReLU
    from app.core.audio import Clip
    from app.core.characterise import characterise
    from app.core.frontend import FrontEnd
    from app.core.model import Model, ModelSpec

    y = piano_like_notes(SR, 4.0, [0.2, 0.9, 1.6, 2.3, 3.0])
    kernel = torch.tensor([[1.0, -1.0], [1.0, -1.0]])
    model = Model(
        ModelSpec(front_end=FrontEnd(), body=(Conv2d(1, 1, (2, 2), (1, 1), (0, 0)), ReLU())),
        {"body.0.weight": kernel[None, None], "body.0.bias": torch.zeros(1)},
    )
    analysis = Analysis(Clip(Path("notes.wav"), "1" * 64, y, SR, y[None], SR), model, device="cpu")
    result = characterise(analysis)
    assert result.tags((1, 0))[0].tag == "onset detector"

    s = Session()
    s.set_label((1, 0), "my own name for it")
    s.set_notes((1, 0), "sounds like clicks")
    s.set_suggestions(result.suggestions())
    assert s.notes_for((1, 0)) == MapNotes(label="my own name for it", notes="sounds like clicks")
    assert s.suggestions_for((1, 0))[0].tag == "onset detector"
    s.set_suggestions({(1, 0): []})  # a later run that suggests nothing clears the suggestions only
    assert s.suggestions_for((1, 0)) == () and s.notes_for((1, 0)).label == "my own name for it"


def test_a_different_model_drops_suggestions_but_keeps_labels(project: dict[str, Path], tmp_path: Path) -> None:
    s = full_session(project)
    other = tmp_path / "other.safetensors"
    other.write_bytes(project["model"].read_bytes() + b" ")
    s.set_model(project["model"])  # same content: nothing dropped
    assert s.suggestions_for((1, 3))
    s.set_model(other)
    assert s.suggestions == {} and s.notes_for((1, 3)).label == "onset detector"


def test_clips_are_not_added_twice_and_removing_one_moves_the_selection(project: dict[str, Path]) -> None:
    s = full_session(project)
    copy = project["dir"] / "copy.wav"
    copy.write_bytes(project["a"].read_bytes())
    assert s.add_clip(copy).path == project["a"].resolve()
    assert len(s.clips) == 2
    b = s.clips[1].sha256
    s.remove_clip(b)
    assert s.selection.clip == s.clips[0].sha256
    with pytest.raises(KeyError):
        s.remove_clip(b)


def test_ratings_are_checked() -> None:
    s = Session()
    for bad in (0, 6, 2.5, True):
        with pytest.raises(ValueError, match="1-5"):
            s.set_rating((1, 0), bad)  # type: ignore[arg-type]
    assert not s.dirty


def test_push_recent(tmp_path: Path) -> None:
    a, b, c = (str(tmp_path / f"{n}.aurascope") for n in "abc")
    assert push_recent([a, b, c], b) == [b, a, c]
    assert push_recent([a, b], c, limit=2) == [c, a]


def test_session_and_abx_load_without_torch() -> None:
    code = "import sys, app.core.session, app.core.abx, app.core.characterise; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_abx_result_round_trips_in_the_session(project: dict[str, Path]) -> None:
    s = Session()
    a = s.add_clip(project["a"])
    trial = AbxTrial(2, 9, a.sha256, "a.wav", trials=10, seed=123, gain_db=-4.25, loop=(0.1, 0.9))
    answers = [x if i != 3 else Choice.B if x is Choice.A else Choice.A for i, x in enumerate(trial.sequence)]
    for i, answer in enumerate(answers):
        trial.answer(answer, seconds=1.0 + i)
    s.add_abx(trial.result())
    back = Session.load(s.save(project["session"]))
    (result,) = back.abx_for((2, 9))
    assert (result.correct, result.trials, result.seed, result.loop) == (9, 10, 123, (0.1, 0.9))
    assert result.p_value == pytest.approx(0.0107421875)
    assert [a.seconds for a in result.answers] == [1.0 + i for i in range(10)]
    assert np.isclose(result.gain_db, -4.25)


def test_a_users_module_round_trips_and_is_found_again(project: dict[str, Path]) -> None:
    """A network given as ``package.module:callable``: its source, import folder, front end and weights."""
    root = project["model"].parent
    code = root / "code"
    code.mkdir()
    front_end = root / "fe.json"
    front_end.write_text('{"front_end": {}}')
    weights = root / "net.pt"
    weights.write_bytes(b"not read by the session")
    s = Session()
    s.set_model(project["model"])
    s.set_suggestions({(1, 3): [tag()]})
    s.set_module_model("nets.mine:build", front_end, weights, code)
    assert s.model is None and not s.suggestions  # another network: the old suggestions go
    path = s.save(root / "own.aurascope")
    raw = json.loads(path.read_text())["model_module"]
    assert raw["source"] == "nets.mine:build" and raw["search_folder"] == "code"
    assert raw["front_end"]["path"] == "fe.json" and raw["weights"]["path"] == "net.pt"
    weights.rename(root / "code" / "net.pt")  # moved: found again by its hash
    loaded = Session.load(path)
    module = loaded.model_module
    assert module is not None and module.source == "nets.mine:build" and module.search_folder == code
    assert module.front_end.path == front_end.resolve() and module.weights.path == (code / "net.pt").resolve()
    assert {loc.kind: loc.status.value for loc in loaded.located} == {"front end": "found", "weights": "moved"}
    bad = json.loads(path.read_text())
    bad["model_module"]["source"] = "not a module"
    path.write_text(json.dumps(bad))
    with pytest.raises(SessionError) as err:
        Session.load(path)
    assert err.value.field == "model_module.source"


def test_relocating_a_clip_keeps_its_place_and_refuses_another_file(project: dict[str, Path], tmp_path: Path) -> None:
    s = full_session(project)
    b = s.clips[1]
    moved = tmp_path / "moved-b.wav"
    moved.write_bytes(project["b"].read_bytes())
    before = s.revision
    s.relocate_clip(b.sha256, moved)
    assert s.clips[1].path == moved.resolve() and s.clips[1].sha256 == b.sha256 and s.revision == before + 1
    with pytest.raises(SessionError) as err:
        s.relocate_clip(b.sha256, project["a"])
    assert "SHA-256 differs" in str(err.value) and s.clips[1].path == moved.resolve()


def test_the_atlas_round_trips_and_an_older_session_without_it_still_opens(project: dict[str, Path]) -> None:
    atlas = project["dir"] / "atlases" / "corpus.atlas"
    atlas.parent.mkdir()
    atlas.write_bytes(b"SQLite format 3\x00" + bytes(100))
    s = full_session(project)
    s.set_atlas(atlas)
    saved = s.save(project["session"])
    doc = json.loads(saved.read_text())
    assert doc["atlas"]["path"] == "atlases/corpus.atlas" and doc["atlas"]["sha256"] == file_sha256(atlas)
    assert doc["atlas"]["size"] == 116
    back = Session.load(saved)
    assert back.atlas == s.atlas and back.atlas.path == atlas.resolve()
    assert [loc.kind for loc in back.located] == ["model", "clip", "clip"]  # the atlas is the window's to look for

    # the session file moved away from its folder: the absolute path still names the atlas
    moved = project["dir"] / "elsewhere" / "moved.aurascope"
    moved.parent.mkdir()
    moved.write_text(saved.read_text())
    assert Session.load(moved).atlas.path == atlas.resolve()

    # forgetting it is an edit; a session written before the field existed loads with no atlas
    back.set_atlas(None)
    assert back.dirty and back.atlas is None
    del doc["atlas"]
    older = project["dir"] / "older.aurascope"
    older.write_text(json.dumps(doc))
    assert Session.load(older).atlas is None


def test_a_bad_atlas_entry_is_refused_naming_the_field(project: dict[str, Path]) -> None:
    path = project["dir"] / "bad.aurascope"
    path.write_text(json.dumps({"format": "aurascope-session", "version": 1, "atlas": {"path": "x.atlas"}}))
    with pytest.raises(SessionError) as err:
        Session.load(path)
    assert err.value.field == "atlas.sha256"
