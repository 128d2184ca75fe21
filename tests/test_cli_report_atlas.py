"""`aurascope report --atlas`: per map, its top excerpts of a corpus with players, in a subprocess on an atlas built
from the repository's real demo clips; the excerpts' samples are `aurascope atlas export`'s for the same hits."""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from chromium import Chromium, load_and_check
from cli_process import run
from core.test_report import chromium_or_skip
from model_specs import small_choi_spec

from app.core.loudness import apply_gain
from app.core.model import random_weights, save_model

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"
CORPUS = [
    DEMO / "real" / "band.flac",
    DEMO / "real" / "groove.flac",
    DEMO / "piano.wav",
    DEMO / "kick_walking_bass.wav",
]
MAPS = ((2, 1), (2, 3), (3, 1), (3, 3))
N = 2
LSB = 1 / 32768  # one step of the report's 16-bit WAVs


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Path:
    out = tmp_path_factory.mktemp("atlas") / "demo.atlas"
    result = run("atlas", "build", "-m", str(model_file), *map(str, CORPUS), "-o", str(out), "--k", "3", "-q")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, model_file: Path, atlas: Path) -> Path:
    out = tmp_path_factory.mktemp("report") / "report"
    result = run(
        "report", "-m", str(model_file), "-a", str(DEMO / "piano_vocal.wav"), "-l", "2", "-l", "3", "-f", "1,3",
        "--atlas", str(atlas), "--excerpts", str(N), "-o", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"({len(MAPS) * N} corpus excerpt(s))" in result.stdout
    return out


class _Page(HTMLParser):
    """Per map section: its excerpt rows, each with the src of its <audio> players."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[list[str]]] = {}
        self._section: str | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("class") == "map":
            self._section = a["id"]
            self.sections[self._section] = []
        elif tag == "tr" and a.get("class") == "excerpt" and self._section is not None:
            self._row = []
            self.sections[self._section].append(self._row)
        elif tag == "audio" and self._row is not None:
            self._row.append(a["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None


def _maps(doc: dict) -> dict[tuple[int, int], dict]:
    return {(m["layer"], m["index"]): m for x in doc["layers"] for m in x["maps"]}


def test_report_json_lists_each_maps_top_excerpts_as_in_the_atlas(report: Path, atlas: Path) -> None:
    doc = json.loads((report / "report.json").read_text())
    assert doc["atlas"]["file"] == str(atlas) and doc["atlas"]["clips"] == len(CORPUS)
    assert doc["atlas"]["excerpts_per_map"] == N and doc["atlas"]["k"] == 3
    maps = _maps(doc)
    assert sorted(maps) == sorted(MAPS)
    for (layer, index), m in maps.items():
        top = json.loads(run("atlas", "top", "-a", str(atlas), "-l", str(layer), "-f", str(index), "--json").stdout)
        assert len(m["excerpts"]) == N
        for e, t in zip(m["excerpts"], top["top"][:N], strict=True):
            assert (e["rank"], e["clip"], e["sha256"], e["labels"]) == (t["rank"], t["clip"], t["sha256"], t["labels"])
            assert (e["start_s"], e["end_s"], e["peak"], e["peak_time_s"]) == (
                t["start_s"], t["end_s"], t["peak"], t["peak_time_s"]
            )  # fmt: skip
            assert e["unavailable"] is None and e["context_frames"] > 0
            for kind in ("original", "feature"):
                info = sf.info(report / e[f"{kind}_wav"])
                assert (info.samplerate, info.subtype) == (11025, "PCM_16")
                assert info.frames == round(e["end_s"] * 11025) - round(e["start_s"] * 11025)


def test_excerpt_audio_equals_atlas_export_for_the_same_hits(tmp_path: Path, report: Path, atlas: Path) -> None:
    doc = json.loads((report / "report.json").read_text())
    worst = {"original": 0.0, "feature": 0.0}
    for (layer, index), m in _maps(doc).items():
        dest = tmp_path / f"L{layer}F{index}"
        result = run("atlas", "export", "-a", str(atlas), "-l", str(layer), "-f", str(index), "-o", str(dest), "-q")
        assert result.returncode == 0, result.stderr
        for e in m["excerpts"]:
            stem = dest / f"L{layer}-F{index:03d}-rank{e['rank']:02d}"
            side = json.loads(stem.with_name(stem.name + "-choi.json").read_text())
            assert (side["clip_sha256"], side["start_s"], side["peak"]) == (e["sha256"], e["start_s"], e["peak"])
            for kind, exported in (("original", "original"), ("feature", "choi")):
                ours, rate = sf.read(report / e[f"{kind}_wav"], dtype="float32")
                theirs, _ = sf.read(f"{stem}-{exported}.wav", dtype="float32")
                assert ours.shape == theirs.shape and rate == 11025 and np.any(theirs != 0)
                # the export's float samples at the page's gain, as a 16-bit WAV: the report's file, bit for bit
                wav = io.BytesIO()
                sf.write(wav, apply_gain(theirs, e[f"{kind}_gain_db"]), rate, subtype="PCM_16", format="WAV")
                wav.seek(0)
                np.testing.assert_array_equal(ours, sf.read(wav, dtype="float32")[0])
                scale = 10 ** (-e[f"{kind}_gain_db"] / 20)  # the page's level divided out
                worst[kind] = max(worst[kind], float(np.max(np.abs(ours * scale - theirs))) / scale)
    # and in figures: 16-bit rounding only, at most 1.5 steps of the WAV ((|x| + 0.5) / 32768)
    assert worst["original"] <= 1.5 * LSB and worst["feature"] <= 1.5 * LSB, worst
    assert worst["original"] > 0  # the comparison saw 16-bit files, not the export's own


def test_page_has_players_for_every_excerpt(report: Path) -> None:
    doc = json.loads((report / "report.json").read_text())
    page = _Page()
    page.feed((report / "index.html").read_text())
    for (layer, index), m in _maps(doc).items():
        rows = page.sections[f"L{layer}F{index}"]
        assert rows == [[e["original_wav"], e["feature_wav"]] for e in m["excerpts"]]
        assert all((report / src).is_file() for row in rows for src in row)
    text = (report / "index.html").read_text()
    assert "Top excerpts from the corpus atlas <b>demo.atlas</b>" in text
    binary = chromium_or_skip()
    with Chromium(binary) as browser:
        checked = load_and_check(browser, report / "index.html")
    assert checked["errors"] == [] and checked["sections"] == len(MAPS)
    excerpts = [a for a in checked["audio"] if a["src"].startswith("audio/atlas/")]
    assert len(excerpts) == len(MAPS) * N * 2
    assert all(a["ok"] and a["readyState"] >= 1 and a["duration"] > 1.0 for a in excerpts)


def test_an_atlas_of_another_model_is_refused(tmp_path: Path, atlas: Path) -> None:
    spec = small_choi_spec()
    other = save_model(tmp_path / "other.safetensors", spec, random_weights(spec, seed=4))
    out = tmp_path / "refused"
    result = run("report", "-m", str(other), "-a", str(DEMO / "piano.wav"), "-l", "1", "-f", "0", "--atlas",
                 str(atlas), "-o", str(out))  # fmt: skip
    assert result.returncode == 2
    assert f"cannot use atlas '{atlas}': it was built with another model: vggnet5 from 'small.safetensors'" in (
        result.stderr
    )
    assert "not vggnet5 from 'other.safetensors'" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--excerpts", "2"), "--excerpts needs --atlas"),
        (("--atlas", "{atlas}", "--excerpts", "0"), "excerpts per map must be at least 1, not 0"),
        (("--atlas", "{tmp}/none.atlas"), "none.atlas': no such file"),
    ],
)
def test_bad_atlas_options_exit_2(tmp_path: Path, model_file: Path, atlas: Path, extra: tuple, message: str) -> None:
    args = [a.format(atlas=atlas, tmp=tmp_path) for a in extra]
    out = tmp_path / "out"
    result = run("report", "-m", str(model_file), "-a", str(DEMO / "piano.wav"), "-l", "1", "-f", "0", *args,
                 "-o", str(out))  # fmt: skip
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
