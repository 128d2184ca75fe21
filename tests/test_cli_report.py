"""`aurascope report` and `aurascope characterise` as a user runs them: a subprocess on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
from chromium import Chromium, load_and_check
from cli_process import run
from core.test_report import chromium_or_skip
from signals import piano_like_notes

from app.core.session import Session

SR = 11025


@pytest.fixture
def second_clip(tmp_path: Path) -> Path:
    path = tmp_path / "notes.wav"
    sf.write(path, piano_like_notes(SR, 3.0, [0.2, 1.0, 1.8], seed=5), SR, subtype="FLOAT")
    return path


@pytest.fixture
def session_file(tmp_path: Path, model_file: Path, wav_file: Path, second_clip: Path) -> Path:
    s = Session()
    s.set_model(model_file)
    s.add_clip(wav_file)
    s.add_clip(second_clip)
    s.set_label((2, 1), "the hi-hat one")
    s.set_rating((2, 1), 5)
    return s.save(tmp_path / "listening.aurascope")


def test_report_from_files_opens_in_chromium(tmp_path: Path, model_file: Path, wav_file: Path, second_clip: Path):
    out = tmp_path / "report"
    result = run(
        "report", "-m", str(model_file), "-a", str(wav_file), "-a", str(second_clip),
        "--layer", "1", "--layer", "3", "--features", "0,6-7", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote 6 map(s) x 2 clip(s), 42 files, to ")
    doc = json.loads((out / "report.json").read_text())
    assert [[m["id"] for m in x["maps"]] for x in doc["layers"]] == [["L1F0", "L1F6", "L1F7"], ["L3F0", "L3F6", "L3F7"]]
    assert [c["name"] for c in doc["clips"]] == ["chords.wav", "notes.wav"]
    binary = chromium_or_skip()
    with Chromium(binary) as browser:
        page = load_and_check(browser, out / "index.html")
    assert page["errors"] == [] and page["sections"] == 6
    assert len(page["images"]) == 2 + 6 * 2 * 2 and all(i["width"] == 130 for i in page["images"])
    assert len(page["audio"]) == 2 + 6 * 2 * 3 and all(a["ok"] and a["readyState"] >= 1 for a in page["audio"])


def test_report_from_a_session_shows_its_labels(tmp_path: Path, session_file: Path) -> None:
    out = tmp_path / "from-session"
    result = run("report", "--session", str(session_file), "-l", "2", "-f", "1", "-o", str(out), "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    doc = json.loads((out / "report.json").read_text())
    (m,) = doc["layers"][0]["maps"]
    assert (m["label"], m["rating"], len(m["clips"])) == ("the hi-hat one", 5, 2)
    assert doc["session"] == str(session_file)
    assert "the hi-hat one" in (out / "index.html").read_text()


def test_characterise_json_and_text(model_file: Path, wav_file: Path) -> None:
    result = run("characterise", "-m", str(model_file), "-a", str(wav_file), "-l", "1", "-f", "0-3", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["maps"]) == 4 and len(doc["clips"]) == 1 and doc["clips"][0]["onsets"] == 6
    assert set(doc["suggested_tags"]) == {"L1F0", "L1F1", "L1F2", "L1F3"}
    assert {"onset_corr", "attack_sustain_db", "low_emphasis_db", "percussive_emphasis_db"} <= set(
        doc["maps"][0]["changes"]
    )
    text = run("characterise", "-m", str(model_file), "-a", str(wav_file), "-l", "2", "-f", "5")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("L2F5  ") and lines[1].startswith("1 map(s) x 1 clip(s) in ")


def test_characterise_updates_the_session_without_touching_labels(session_file: Path) -> None:
    result = run("characterise", "--session", str(session_file), "-l", "1,2", "--update-session")
    assert result.returncode == 0, result.stderr
    assert "L2F1  [the hi-hat one]" in result.stdout
    back = Session.load(session_file)
    assert back.notes_for((2, 1)).label == "the hi-hat one" and back.notes_for((2, 1)).rating == 5
    doc = json.loads(session_file.read_text())
    assert set(doc["maps"]) == {"L2F1"}
    assert all(t["tag"] for tags in doc["suggested_tags"].values() for t in tags)
    assert not (session_file.parent / ".listening.aurascope.autosave").exists()


def test_a_moved_clip_is_reported_and_the_rest_still_runs(tmp_path: Path, session_file: Path, second_clip: Path):
    second_clip.unlink()
    out = tmp_path / "partial"
    result = run("report", "--session", str(session_file), "-l", "1", "-f", "0", "-o", str(out), "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"aurascope: warning: clip 'notes.wav' is missing (was at '{second_clip.name}')"
    assert [c["name"] for c in json.loads((out / "report.json").read_text())["clips"]] == ["chords.wav"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["report", "-a", "x.wav", "-o", "o"], "no model: pass --model, or --session with a session that names one"),
        (["characterise", "--update-session", "-a", "{wav}", "-m", "{model}"], "--update-session needs --session"),
        (["report", "-m", "{model}", "-a", "{wav}", "-l", "7"], "layer 7 is out of range: the model has layers 1-5"),
    ],
)
def test_bad_input_exit_2_one_line(
    tmp_path: Path, model_file: Path, wav_file: Path, args: list[str], message: str
) -> None:
    args = [a.format(wav=wav_file, model=model_file) for a in args]
    result = run(*args, *(["-o", str(tmp_path / "o")] if args[0] == "report" and "-o" not in args else []))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"aurascope: error: {message}"]
    assert not (tmp_path / "o").exists()


def test_damaged_or_newer_session_exit_2_and_is_left_alone(tmp_path: Path) -> None:
    newer = tmp_path / "future.aurascope"
    newer.write_text('{"format": "aurascope-session", "version": 9}')
    result = run("report", "--session", str(newer), "-o", str(tmp_path / "o"))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "future.aurascope" in line and "(field 'version')" in line and "newer Aurascope" in line
    assert newer.read_text() == '{"format": "aurascope-session", "version": 9}'
