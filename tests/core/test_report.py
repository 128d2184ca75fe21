"""The listening report: files, numbers in report.json, the page, and the page in a real headless Chromium."""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from chromium import Chromium, find_chromium, load_and_check
from needs import missing
from signals import chord_clip, piano_like_notes

from app.core.analysis import Analysis, FeatureRef
from app.core.architecture import Conv2d, ReLU
from app.core.audio import Clip, load_audio
from app.core.errors import ReportError, SelectionError
from app.core.frontend import FrontEnd
from app.core.model import Model, ModelSpec
from app.core.png import decode_png_size, spectrogram_rgb
from app.core.report import render_html, write_report
from app.core.resynth import loudness_lufs
from app.core.session import Session

SR = 11025
REFS = [(1, 0), (1, 2), (3, 5)]


def chromium_or_skip() -> str:
    binary = find_chromium()
    if binary is None:
        missing("Chromium is not installed (Debian package 'chromium', scripts/system_packages.sh)")
    return binary


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("report-clips")
    a, b = folder / "chords.wav", folder / "notes & <more>.wav"
    sf.write(a, chord_clip(SR, 3.0), SR, subtype="FLOAT")
    sf.write(b, piano_like_notes(SR, 3.0, [0.2, 1.0, 1.8], seed=4), SR, subtype="FLOAT")
    return [a, b]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, small_model, clips: list[Path]):
    analyses = [Analysis(load_audio(p, SR), small_model, device="cpu") for p in clips]
    session = Session()
    session.set_label((1, 2), "kick <b>&</b> bass")
    session.set_notes((1, 2), "thumps\non the beat")
    session.set_rating((1, 2), 4)
    seen: list[tuple[int, int]] = []
    out = tmp_path_factory.mktemp("report")
    result = write_report(out, analyses, REFS, session, progress=lambda d, n: seen.append((d, n)))
    return result, json.loads((out / "report.json").read_text()), analyses, seen


def test_files_and_counts(report) -> None:
    result, _doc, _, seen = report
    assert (result.maps, result.clips, result.cancelled) == (3, 2, False)
    assert seen[-1] == (6, 6) and len(seen) == 6
    images = sorted(p.name for p in (result.folder / "images").iterdir())
    audio = sorted(p.name for p in (result.folder / "audio").iterdir())
    assert len(images) == 2 + 3 * 2 and len(audio) == 2 + 3 * 2 * 2
    assert result.files == len(images) + len(audio) + 2
    assert "L3F5_notes_more_residual.wav" in audio and "chords.png" in images
    assert not [p for p in result.folder.rglob("*") if p.name.endswith(".part")]


def test_report_json_numbers(report) -> None:
    _, doc, _analyses, _ = report
    assert (doc["format"], doc["version"], doc["complete"]) == ("aurascope-report", 1, True)
    assert [c["key"] for c in doc["clips"]] == ["chords", "notes_more"]
    assert [c["onsets"] for c in doc["clips"]] == [6, 3]
    assert [(x["layer"], [m["index"] for m in x["maps"]]) for x in doc["layers"]] == [(1, [0, 2]), (3, [5])]
    labelled = doc["layers"][0]["maps"][1]
    assert (labelled["label"], labelled["notes"], labelled["rating"]) == (
        "kick <b>&</b> bass",
        "thumps\non the beat",
        4,
    )
    cell = labelled["clips"][0]
    assert cell["clip"] == "chords" and set(cell["figures"]) >= {"onset_corr", "percussive_share", "pitch_salience"}
    assert -1 <= cell["figures"]["onset_corr"] <= 1 and 0 <= cell["figures"]["low_share"] <= 1
    assert doc["clips"][0]["figures"]["onset_corr"] == pytest.approx(0.4, abs=0.3)
    assert len(doc["rules"]) == 6 and doc["seconds_per_map"] > 0


def test_wavs_are_loudness_matched_16_bit_at_the_models_rate(report) -> None:
    result, doc, analyses, _ = report
    original = result.folder / doc["clips"][0]["wav"]
    info = sf.info(original)
    assert (info.samplerate, info.subtype, info.frames) == (SR, "PCM_16", 3 * SR)
    reference = loudness_lufs(sf.read(original, dtype="float32")[0], SR)
    assert reference == pytest.approx(analyses[0].reference_lufs, abs=0.05)
    matched = limited = 0
    for layer in doc["layers"]:
        for m in layer["maps"]:
            for cell in m["clips"]:
                key = cell["clip"]
                clip_lufs = loudness_lufs(sf.read(result.folder / f"audio/{key}.wav", dtype="float32")[0], SR)
                for kind in ("feature", "residual"):
                    y, rate = sf.read(result.folder / cell[f"{kind}_wav"], dtype="float32")
                    assert rate == SR and len(y) == 3 * SR and np.max(np.abs(y)) < 1.0
                    if cell[f"{kind}_gain_limited"]:  # a high crest factor: the gain stops at full scale
                        assert np.max(np.abs(y)) == pytest.approx(0.999, abs=2e-4)
                        assert loudness_lufs(y, SR) < clip_lufs - 0.3
                        limited += 1
                    else:
                        assert loudness_lufs(y, SR) == pytest.approx(clip_lufs, abs=0.3)
                        matched += 1
    assert (matched, limited) == (4, 8)  # this random model's layer-1 map 0 and layer-3 map 5 are peaky


def test_images_are_spectrograms_on_the_clips_scale(report) -> None:
    result, doc, analyses, _ = report
    clip = doc["clips"][0]
    data = (result.folder / clip["png"]).read_bytes()
    assert decode_png_size(data) == (130, 128) == tuple(clip["png_size"])  # 3 s = 130 frames, 128 rows
    db = analyses[0].original_spectrogram_db()
    assert clip["top_db"] == pytest.approx(float(db.max()), abs=0.01)
    expected = spectrogram_rgb(db, SR, top_db=float(db.max()))
    assert expected.shape == (128, 130, 3)


def test_the_page_escapes_and_shows_what_the_listener_wrote(report) -> None:
    result, *_ = report
    page = result.index.read_text()
    assert "kick &lt;b&gt;&amp;&lt;/b&gt; bass" in page and "<b>&</b>" not in page
    assert "★★★★☆" in page and page.count("<section class='map'") == 3
    assert "notes%20%26%20%3Cmore%3E" not in page  # file names are made safe, not just quoted
    assert "<script" not in page


HOSTILE = "<script>alert('x')</script> \"quoted\" & 'single' — naïve ✓ </textarea><img src=x onerror=alert(1)>"


class _PageReader(HTMLParser):
    """Every element with its attributes (entities decoded), and the text inside each element by tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, list[str]] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in ("img", "br", "meta", "link"):
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if self._open:
            self.text.setdefault(self._open[-1], []).append(data)


def test_hostile_text_is_escaped_wherever_the_page_shows_it(report) -> None:
    _, doc, _, _ = report
    hostile = copy.deepcopy(doc)
    hostile["title"] = HOSTILE
    hostile["session"] = f"/somewhere/{HOSTILE.replace('/', '|')}.aurascope"
    hostile["clips"][0]["name"] = HOSTILE
    hostile["rules"][0]["when"] = HOSTILE
    first = hostile["layers"][0]["maps"][0]
    first["label"] = first["notes"] = HOSTILE
    page = render_html(hostile)

    assert "<script" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    reader = _PageReader()
    reader.feed(page)
    tags = {tag for tag, _ in reader.elements}
    assert "script" not in tags and "textarea" not in tags
    assert page.count("<section class='map'") == 3
    for tag, attrs in reader.elements:
        if tag == "img":
            assert set(attrs) == {"src", "width", "height", "alt"}, attrs
    # the listener's text comes back letter for letter: quotes, ampersand and non-ASCII included
    assert reader.text["title"] == [HOSTILE] and reader.text["h1"] == [HOSTILE]
    assert HOSTILE in reader.text["span"] and reader.text["p"].count(HOSTILE) == 1  # label; notes
    assert [t for t in reader.text["b"] if HOSTILE in t] == [HOSTILE]  # the clips table
    assert f": {HOSTILE}" in reader.text["li"]  # the rules list
    alts = [attrs["alt"] for tag, attrs in reader.elements if tag == "img"]
    assert alts.count(f"spectrogram of {HOSTILE}") == 1 + 3  # the clips table and each map's row of that clip
    assert any(t.endswith(f"session {HOSTILE.replace('/', '|')}.aurascope") for t in reader.text["p"])


def test_page_loads_in_headless_chromium(report) -> None:
    binary = chromium_or_skip()
    result, _doc, _, _ = report
    with Chromium(binary) as browser:
        page = load_and_check(browser, result.index)
    assert page["errors"] == []
    assert page["title"] == "Listening report: vggnet5" and page["sections"] == 3
    assert len(page["images"]) == 2 + 3 * 2 * 2  # clips table + per map and clip: original and feature
    for img in page["images"]:
        assert img["complete"] and img["width"] > 0, img
        assert (img["width"], img["height"]) == (130, 128)
    assert len(page["audio"]) == 2 + 3 * 2 * 3  # clips table + original / feature / residual per map and clip
    for audio in page["audio"]:
        assert audio["ok"] and audio["readyState"] >= 1 and audio["error"] is None, audio
        assert audio["duration"] == pytest.approx(3.0, abs=0.01)
    assert "Layer 3 · map 5" in page["text"]


def test_chromium_check_catches_missing_files(tmp_path: Path, report) -> None:
    """The harness itself: a page pointing at files that are not there must fail the check."""
    binary = chromium_or_skip()
    result, _doc, _, _ = report
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "index.html").write_text(result.index.read_text())
    for sub in ("images", "audio"):
        (broken / sub).mkdir()
    for p in (result.folder / "images").iterdir():
        (broken / "images" / p.name).write_bytes(p.read_bytes())
    (broken / "images" / "chords.png").unlink()  # missing image
    for p in (result.folder / "audio").iterdir():
        (broken / "audio" / p.name).write_bytes(
            p.read_bytes()[:44] if "L1F0_chords_feature" in p.name else p.read_bytes()
        )
    with Chromium(binary) as browser:
        page = load_and_check(browser, broken / "index.html")
    assert any("ERR_FILE_NOT_FOUND" in e and "chords.png" in e for e in page["errors"])
    assert sum(not i["width"] for i in page["images"]) == 4  # the clips table and the three maps' chords rows
    bad = [a for a in page["audio"] if not (a["ok"] and (a["duration"] or 0) > 0)]
    assert [a["src"] for a in bad] == ["audio/L1F0_chords_feature.wav"]


def test_known_kernel_report_shows_the_suggested_tag(tmp_path: Path) -> None:
    y = piano_like_notes(SR, 4.0, [0.2, 0.9, 1.6, 2.3, 3.0])
    model = Model(
        ModelSpec(front_end=FrontEnd(), body=(Conv2d(1, 1, (2, 2), (1, 1), (0, 0)), ReLU())),
        {"body.0.weight": torch.tensor([[[[1.0, -1.0], [1.0, -1.0]]]]), "body.0.bias": torch.zeros(1)},
    )
    analysis = Analysis(Clip(Path("notes.wav"), "2" * 64, y, SR, y[None], SR), model, device="cpu")
    result = write_report(tmp_path, analysis, None)
    page = result.index.read_text()
    assert "suggested: onset detector: onset correlation change +0.29 ≥ +0.20 on notes.wav" in page
    assert [t.tag for t in result.characterisation.tags((1, 0))] == ["onset detector", "percussive / kick selector"]


def test_cancel_leaves_a_marked_partial_report(tmp_path: Path, small_model, clips: list[Path]) -> None:
    analyses = [Analysis(load_audio(p, SR), small_model, device="cpu") for p in clips]
    answers = iter([False, False, True, True, True])
    result = write_report(tmp_path, analyses, [(1, k) for k in range(8)] + [(2, 0)], cancelled=lambda: next(answers))
    doc = json.loads(result.json.read_text())
    assert result.cancelled and not doc["complete"] and (doc["pairs_done"], doc["pairs_planned"]) == (8, 18)
    assert "Incomplete: stopped after 8 of 18" in result.index.read_text()


def test_bad_selection_or_folder_writes_nothing(tmp_path: Path, small_model, clips: list[Path]) -> None:
    analysis = Analysis(load_audio(clips[0], SR), small_model, device="cpu")
    with pytest.raises(SelectionError, match="feature 8 is out of range"):
        write_report(tmp_path / "out", analysis, [(1, 8)])
    with pytest.raises(SelectionError, match="layer 6 is out of range"):
        write_report(tmp_path / "out", analysis, [(6, 0)])
    assert not (tmp_path / "out").exists()
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(ReportError, match="file.txt"):
        write_report(blocker / "report", analysis, [(1, 0)])
    with pytest.raises(ReportError, match="no clips"):
        write_report(tmp_path / "out", [], [(1, 0)])


def test_other_attribution_methods_pass_through(tmp_path: Path, small_model, clips: list[Path]) -> None:
    analysis = Analysis(load_audio(clips[0], SR), small_model, device="cpu")
    result = write_report(tmp_path, analysis, [(2, 3)], method="guided-backprop")
    doc = json.loads(result.json.read_text())
    assert doc["method"] == "guided-backprop" and "method guided-backprop" in result.index.read_text()
    deconv = analysis.render(FeatureRef(2, 3)).audio
    guided = analysis.render(FeatureRef(2, 3), method="guided-backprop").audio
    assert not np.allclose(deconv, guided)  # a different projection was rendered, not the cached deconvnet one


BUNDLED = Path(__file__).resolve().parents[2] / "models" / "choi2015-genre.safetensors"
DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


@pytest.mark.slow
def test_a_whole_layer_of_the_bundled_model_on_two_demo_clips(tmp_path: Path) -> None:
    """The real use: every map of layer 1 across two clips (386 players) opens cleanly in Chromium."""
    from app.core.model import load_model

    if not BUNDLED.exists():
        pytest.skip("the bundled model is not there")
    binary = chromium_or_skip()
    model = load_model(BUNDLED)
    analyses = [Analysis(load_audio(DEMO / f"{n}.wav", SR), model, device="cpu") for n in ("full_band", "piano")]
    result = write_report(tmp_path, analyses, [(1, k) for k in range(64)])
    assert (result.maps, result.clips, result.files) == (64, 2, 2 * 2 + 64 * 2 * 3 + 2)
    with Chromium(binary) as browser:
        page = load_and_check(browser, result.index, timeout=300)
    assert page["errors"] == [] and page["sections"] == 64
    assert len(page["images"]) == 2 + 64 * 2 * 2 and all(i["width"] == 431 for i in page["images"])
    assert len(page["audio"]) == 2 + 64 * 2 * 3
    assert all(a["ok"] and a["duration"] == pytest.approx(10.0, abs=0.01) for a in page["audio"])
    tagged = sum(bool(result.characterisation.tags((1, k))) for k in range(64))
    assert abs(tagged - 38) <= 3  # measured 38: 20 melody / harmonic, 18 percussive / kick, 14 onset detector
