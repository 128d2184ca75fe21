"""The Top excerpts panel in the window (offscreen): an atlas built by the real CLI on real clips from resources/demo
opened with File › Open atlas, the selected map's rows equal to ``aurascope atlas top --json``, filled row by row
from the worker, a click on a clip opening it at the excerpt's start, an excerpt's A and B equal to what
``aurascope atlas export`` writes, another model's atlas refused, and the session remembering the atlas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_process import run
from PySide6.QtCore import QPoint, Qt

from app.core.atlas.store import AtlasFile
from app.core.audio import file_sha256
from app.core.model import random_weights, save_model
from app.core.resampling import resample
from app.core.types import FeatureRef, Mode
from app.playback import Slot
from app.ui.excerpts_panel import CLIP, PEAK, RANK, TIME

ROOT = Path(__file__).resolve().parents[2]
#: real material: two rendered demo clips and a recorded drum stem (CC BY-SA, resources/demo/real)
CORPUS = ("resources/demo/piano.wav", "resources/demo/kick_walking_bass.wav", "resources/demo/real/groove.drums.flac")
K = 4
MAP = FeatureRef(3, 5)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every demo clip (4 rendered, 8 recorded mixes and stems), labelled by where it comes from."""
    folder = tmp_path_factory.mktemp("corpus")
    rows = ["file,labels"]
    for path in sorted((ROOT / "resources/demo").glob("*.wav")) + sorted((ROOT / "resources/demo/real").glob("*.flac")):
        shutil.copy(path, folder / path.name)
        rows.append(f"{path.name},{'rendered;synth' if path.suffix == '.wav' else path.name.split('.')[0]}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory, corpus: Path, model_file: Path) -> Path:
    out = tmp_path_factory.mktemp("atlas") / "corpus.atlas"
    built = run("atlas", "build", "-m", str(model_file), str(corpus), "-o", str(out), "--k", str(K), "-q",
                "--labels", str(corpus / "labels.csv"))  # fmt: skip
    assert built.returncode == 0, built.stderr
    return out


def _top_json(atlas: Path, ref: FeatureRef) -> list[dict]:
    result = run("atlas", "top", "-a", str(atlas), "--layer", str(ref.layer), "--feature", str(ref.index), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["top"]


def _open_atlas(window, qtbot, atlas: Path) -> None:
    with qtbot.waitSignal(window.controller.atlasOpened, timeout=30000):
        window.open_atlas(atlas)


def _select(window, qtbot, ref: FeatureRef) -> None:
    window.tree.select(ref)
    qtbot.waitUntil(
        lambda: window.excerpts.ref == ref and window.excerpts.status.text().endswith("first"), timeout=30000
    )


def test_the_panel_lists_the_selected_maps_excerpts_as_atlas_top_json(
    make_window, qtbot, atlas, corpus, wav_file, model_file
):
    window = make_window(wav_file, model_file)
    assert not window.excerpts.isVisible()  # no atlas yet: no panel in the way
    found: list[tuple[str, object]] = []
    window.controller.excerptFound.connect(lambda e: found.append(("row", e.rank)))
    window.controller.excerptsListed.connect(lambda listing: found.append(("listed", len(listing.excerpts))))
    _open_atlas(window, qtbot, atlas)
    assert window.excerpts.isVisible() and window.controller.atlas.clips == 12
    assert dict(window.controller.atlas.label_counts) == {"rendered": 4, "synth": 4, "groove": 5, "band": 3}
    assert "corpus.atlas" in window.excerpts.header.text() and "with corpus labels" in window.excerpts.header.text()
    _select(window, qtbot, MAP)

    top = _top_json(atlas, MAP)
    panel = window.excerpts
    assert len(top) == K and panel.table.topLevelItemCount() == K
    # the rows came one by one from the worker, then the whole list
    assert found[-(K + 1) :] == [("row", r) for r in range(1, K + 1)] + [("listed", K)]
    for i, (row, excerpt) in enumerate(zip(top, panel.excerpts, strict=True)):
        item = panel.table.topLevelItem(i)
        assert excerpt.rank == row["rank"] == int(item.text(RANK))
        assert str(excerpt.clip_path) == row["clip"] and item.text(CLIP) == Path(row["clip"]).name
        assert excerpt.clip_sha256 == row["sha256"] and list(excerpt.labels) == row["labels"]
        assert (excerpt.hit.start, excerpt.hit.end, excerpt.hit.peak) == (row["start_s"], row["end_s"], row["peak"])
        assert (excerpt.hit.peak_time, excerpt.hit.peak_frequency) == (row["peak_time_s"], row["peak_frequency_hz"])
        assert item.text(PEAK) == f"{row['peak']:.4g}" and "–" in item.text(TIME)
    assert all(Path(r["clip"]).parent == corpus for r in top)

    # another map: its own rows, again exactly the CLI's
    _select(window, qtbot, FeatureRef(2, 1))
    assert [(e.clip_sha256, e.hit.peak) for e in panel.excerpts] == [
        (r["sha256"], r["peak"]) for r in _top_json(atlas, FeatureRef(2, 1))
    ]
    assert (
        window.session.atlas.path == atlas.resolve() and window.session.atlas.sha256 == window.controller.atlas.sha256
    )

    # the corpus labels over-represented among a map's top clips: what `atlas tags --json` says of that map
    result = run("atlas", "tags", "-a", str(atlas), "--json")
    assert result.returncode == 0, result.stderr
    tags = json.loads(result.stdout)["tags"]
    assert tags, "the demo corpus gives at least one map a significant label"
    first = tags[0]
    for ref in (FeatureRef(first["layer"], first["feature"]), MAP):
        _select(window, qtbot, ref)
        expected = [
            (t["label"], t["hits"], t["top_clips"], t["labelled"], t["corpus"], t["p_value"])
            for t in tags
            if (t["layer"], t["feature"]) == ref
        ]
        assert [(t.label, t.hits, t.top, t.labelled, t.corpus, t.p_value) for t in panel.tags] == expected
        assert panel.tags_label.isVisibleTo(panel) == bool(expected)
    _select(window, qtbot, FeatureRef(first["layer"], first["feature"]))
    assert f"<b>{first['label']}</b> ({first['hits']} of {first['top_clips']} clips vs" in panel.tags_label.text()


def test_a_click_on_an_excerpts_clip_opens_it_at_the_excerpts_start(make_window, qtbot, atlas, wav_file, model_file):
    window = make_window(wav_file, model_file)
    _open_atlas(window, qtbot, atlas)
    _select(window, qtbot, MAP)
    panel = window.excerpts
    # the first excerpt that does not start at 0 s: the playhead must move there
    index = next(i for i, e in enumerate(panel.excerpts) if e.start_s > 0.5)
    excerpt = panel.excerpts[index]
    item = panel.table.topLevelItem(index)
    rect = panel.table.visualItemRect(item)
    x = panel.table.header().sectionPosition(CLIP) + 10
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, rect.center().y()))
    qtbot.waitUntil(lambda: window.clip is not None and window.clip.sha256 == excerpt.clip_sha256, timeout=60000)
    qtbot.waitUntil(
        lambda: window.feature is not None and window.feature.ref == MAP and window.worker.idle, timeout=60000
    )
    assert window.engine.position() == pytest.approx(excerpt.start_s, abs=0.01)
    assert window.clip.path == excerpt.clip_path.resolve()
    assert excerpt.clip_sha256 in {c.sha256 for c in window.session.clips}  # in the session's clip list now
    listed = window.clip_list.keys()
    assert window.clip_list.current() == excerpt.clip_sha256 and excerpt.clip_sha256 in listed
    assert window.selected == MAP


def test_an_excerpt_plays_its_original_and_its_feature_as_atlas_export_writes_them(
    make_window, qtbot, atlas, wav_file, model_file, tmp_path
):
    window = make_window(wav_file, model_file)
    _open_atlas(window, qtbot, atlas)
    _select(window, qtbot, MAP)
    panel, engine = window.excerpts, window.excerpt_engine
    panel.table.setCurrentItem(panel.table.topLevelItem(1))
    panel.play_button.click()
    qtbot.waitUntil(lambda: panel.loaded is not None and engine.is_playing, timeout=60000)
    assert not window.engine.is_playing  # the main transport paused: one thing sounds at a time
    excerpt = panel.loaded.excerpt
    assert excerpt.rank == 2 and engine.selected is Slot.B

    exported = tmp_path / "export"
    result = run("atlas", "export", "-a", str(atlas), "--layer", "3", "--feature", "5", "-m", str(model_file),
                 "-o", str(exported), "-q")  # fmt: skip
    assert result.returncode == 0, result.stderr
    rate = engine.sample_rate
    for slot, name in ((Slot.A, "original"), (Slot.B, "choi")):
        written, written_rate = sf.read(exported / f"L3-F005-rank02-{name}.wav", dtype="float32")
        reference = resample(written, written_rate, rate)
        played = engine.mixer.settings.sources[slot.index]
        n = min(len(reference), len(played))
        assert abs(len(reference) - len(played)) <= 1
        np.testing.assert_allclose(played[:n], reference[:n], atol=2e-5)

    # B (the window's key) toggles the excerpt's A and B while it plays; the main transport is left alone
    main_slot = window.engine.selected
    if not engine.is_playing:  # the excerpt (2 s) ended while the CLI ran: play it again
        panel.play_button.click()
        assert engine.is_playing
    window.act_toggle_ab.trigger()
    assert engine.selected is Slot.A and window.engine.selected is main_slot and panel.slot_a.isChecked()
    window.act_toggle_ab.trigger()
    assert engine.selected is Slot.B
    window.act_play.trigger()  # Space pauses the excerpt, not the clip
    assert not engine.is_playing and not window.engine.is_playing

    # another mode in the window: the excerpt is rendered again in it when played
    window.options.set_mode(Mode.MAGNITUDE)
    assert panel.loaded is None
    panel.play_button.click()
    qtbot.waitUntil(lambda: panel.loaded is not None, timeout=60000)
    assert panel.loaded.mode is Mode.MAGNITUDE and panel.loaded.excerpt.key == excerpt.key
    magnitude = run("atlas", "export", "-a", str(atlas), "--layer", "3", "--feature", "5", "-m", str(model_file),
                    "-o", str(exported), "-q", "--mode", "magnitude")  # fmt: skip
    assert magnitude.returncode == 0, magnitude.stderr
    written, written_rate = sf.read(exported / "L3-F005-rank02-magnitude.wav", dtype="float32")
    played = engine.mixer.settings.sources[Slot.B.index]
    n = min(len(played), len(written))
    np.testing.assert_allclose(played[:n], resample(written, written_rate, engine.sample_rate)[:n], atol=2e-5)


def test_an_atlas_built_with_another_model_is_refused(make_window, qtbot, atlas, wav_file, model_file, tmp_path):
    from model_specs import small_choi_spec

    other = tmp_path / "other.safetensors"
    spec = small_choi_spec()
    save_model(other, spec, random_weights(spec, seed=4))
    window = make_window(wav_file, other)
    with qtbot.waitSignal(window.errorShown, timeout=30000) as shown:
        window.open_atlas(atlas)
    assert "Cannot open atlas corpus.atlas" in shown.args[0] and "built with another model" in shown.args[0]
    assert window.controller.atlas is None and window.excerpts.atlas is None and window.session.atlas is None


def test_the_session_remembers_the_atlas_and_a_missing_one_is_said_in_the_status_bar(
    make_window, qtbot, atlas, wav_file, model_file, tmp_path
):
    own = tmp_path / "corpus.atlas"  # a copy this test may build further
    shutil.copy(atlas, own)
    window = make_window(wav_file, model_file)
    _open_atlas(window, qtbot, own)
    target = tmp_path / "listening.aurascope"
    assert window._save_to(target)
    saved_sha = json.loads(target.read_text())["atlas"]["sha256"]
    assert saved_sha == window.controller.atlas.sha256 == file_sha256(own)
    window.close()

    again = make_window(None, None, wait=False)
    with qtbot.waitSignal(again.controller.atlasOpened, timeout=60000):
        again.open_session_file(target)
    assert again.excerpts.isVisible() and again.controller.atlas.path == own.resolve()
    assert not again.session.dirty  # the same atlas: nothing changed
    assert again.atlas_label.text() == "atlas corpus.atlas"
    again.close()

    # built further since: it opens as it is now, the listener is told, and the session takes its new hash
    grown = run("atlas", "build", "-m", str(model_file), str(wav_file), "-o", str(own), "--k", str(K), "-q")
    assert grown.returncode == 0, grown.stderr
    fourth = make_window(None, None, wait=False)
    said: list[str] = []
    fourth.statusBar().messageChanged.connect(said.append)
    with qtbot.waitSignal(fourth.controller.atlasOpened, timeout=60000):
        fourth.open_session_file(target)
    assert fourth.controller.atlas.clips == 13 and fourth.session.atlas.sha256 == file_sha256(own) != saved_sha
    assert fourth.session.dirty
    assert "The atlas corpus.atlas changed since the session was saved (built further?): showing it as it is" in said
    fourth.close()

    # the atlas moved away: the session still opens, and the status bar says what is missing
    doc = json.loads(target.read_text())
    doc["atlas"].update(path="gone.atlas", absolute=str(tmp_path / "gone.atlas"))
    target.write_text(json.dumps(doc))
    third = make_window(None, None, wait=False)
    with qtbot.waitSignal(third.featureReady, timeout=60000):
        third.open_session_file(target)
    assert third.atlas_label.isVisible() and third.atlas_label.text() == "atlas gone.atlas missing"
    assert third.excerpts.status.text().startswith("The session's atlas gone.atlas is missing (was at ")
    assert third.controller.atlas is None and third.summary is not None and third.clip is not None
    assert third.last_error == ""


def test_a_clip_gone_or_changed_since_the_build_is_said_in_the_panel(
    make_window, qtbot, wav_file, model_file, tmp_path
):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in CORPUS[:2]:
        shutil.copy(ROOT / name, corpus / Path(name).name)
    small = tmp_path / "small.atlas"
    built = run("atlas", "build", "-m", str(model_file), str(corpus), "-o", str(small), "--k", "2", "-q")
    assert built.returncode == 0, built.stderr
    with AtlasFile(small) as read:  # a map whose two excerpts come from the two clips
        piano = {c.sha256 for c in read.clips() if c.path.endswith("piano.wav")}
        ref = next(
            FeatureRef(layer, index)
            for layer, index, _ in read.maps()
            if len({h.clip in piano for h in read.hits(layer, index)}) == 2
        )
    (corpus / "piano.wav").unlink()  # gone
    bass = corpus / "kick_walking_bass.wav"
    audio, rate = sf.read(bass, dtype="float32")
    sf.write(bass, audio * 0.5, rate, subtype="FLOAT")  # changed in place: another SHA-256

    window = make_window(wav_file, model_file)
    _open_atlas(window, qtbot, small)
    _select(window, qtbot, ref)
    panel = window.excerpts
    assert sorted(e.name for e in panel.excerpts) == ["kick_walking_bass.wav", "piano.wav"]  # one of each
    for i, excerpt in enumerate(panel.excerpts):
        panel.table.setCurrentItem(panel.table.topLevelItem(i))
        assert panel.open_button.isEnabled() == panel.play_button.isEnabled() == excerpt.found
        panel.play_excerpt()  # what Play does (disabled on a row whose clip is gone)
        if excerpt.found:  # the changed clip: its hash is checked on the worker
            qtbot.waitUntil(lambda: panel.status.text().startswith("Cannot play"), timeout=60000)
            assert panel.status.text().endswith(
                f"clip '{excerpt.clip_path}' changed since the atlas was built (its hash differs)"
            )
        else:
            assert panel.status.text() == f"Cannot play #{excerpt.rank}: {excerpt.clip_path} is not there any more"
        assert panel.loaded is None and not window.excerpt_engine.is_playing


def test_a_model_and_an_atlas_dropped_together_open_in_that_order(make_window, qtbot, atlas, wav_file, model_file):
    window = make_window(None, None, wait=False)
    with qtbot.waitSignal(window.controller.atlasOpened, timeout=60000):
        window.open_files([atlas, model_file, wav_file])
    assert window.summary is not None and window.controller.atlas.model_sha256 == window.summary.sha256
    qtbot.waitUntil(lambda: window.excerpts.ref is not None and len(window.excerpts.excerpts) == K, timeout=60000)
    assert window.last_error == ""


def test_a_double_click_plays_a_row_and_b_belongs_to_the_panel_while_it_has_the_focus(
    make_window, qtbot, atlas, wav_file, model_file
):
    window = make_window(wav_file, model_file)
    _open_atlas(window, qtbot, atlas)
    _select(window, qtbot, MAP)
    panel, engine = window.excerpts, window.excerpt_engine
    item = panel.table.topLevelItem(2)
    rect = panel.table.visualItemRect(item)
    x = panel.table.header().sectionPosition(TIME) + 10  # not the clip's name: that one opens the clip
    at = QPoint(x, rect.center().y())
    rendered = []
    panel.renderRequested.connect(rendered.append)
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=at)  # a double click's first press
    qtbot.mouseDClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=at)
    qtbot.waitUntil(lambda: panel.loaded is not None, timeout=60000)
    assert [e.rank for e in rendered] == [3]  # rendered once, not superseded by a second request
    assert panel.loaded.excerpt.rank == 3 and panel.current().rank == 3
    assert window.clip.path == wav_file.resolve()  # the main views still show their clip
    panel.pause()
    assert not engine.is_playing

    # nothing plays, but the panel has the focus: B is the panel's; elsewhere it is the main transport's again
    panel.table.setFocus()
    qtbot.waitUntil(lambda: panel.has_keys(), timeout=3000)
    before = window.engine.selected
    window.act_toggle_ab.trigger()
    assert engine.selected is Slot.A and panel.slot_a.isChecked() and window.engine.selected is before
    window.tree.setFocus()
    qtbot.waitUntil(lambda: not panel.has_keys(), timeout=3000)
    window.act_toggle_ab.trigger()
    assert engine.selected is Slot.A and window.engine.selected is not before


def test_an_atlas_on_the_command_line_is_the_panels(tmp_path) -> None:
    from app.ui.app import DEFAULT_AUDIO, DEFAULT_MODEL, choose_atlas, choose_files, parse_args

    named = tmp_path / "corpus.atlas"
    args = parse_args([str(named)])
    assert choose_atlas(args) == named
    expected_audio = DEFAULT_AUDIO if DEFAULT_AUDIO.is_file() else None
    expected_model = DEFAULT_MODEL if DEFAULT_MODEL.is_file() else None
    assert choose_files(args) == (expected_audio, expected_model)  # an atlas is neither a clip nor a model
    args = parse_args(["song.wav", "m.safetensors", str(named), "other.atlas"])
    assert choose_files(args) == (Path("song.wav"), Path("m.safetensors")) and choose_atlas(args) == Path("other.atlas")
    assert choose_atlas(parse_args(["song.wav"])) is None
