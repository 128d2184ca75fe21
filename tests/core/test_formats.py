"""The declared JSON formats (front end first), and the guarded reader for JSON files from others: oversized
numbers, deep nesting, lone surrogates, FIFOs and oversized files give our errors naming the file and the field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import pytest
import torch
from cli_process import ROOT, run
from safetensors.torch import save

from app.core.errors import ModelFormatError, SessionError
from app.core.formats.frontend import PRESET_NAMES, FrontEndBlock, parse_front_end
from app.core.frontend import PRESETS, FrontEnd
from app.core.model import load_model
from app.core.session import Session


def test_the_front_end_block_declares_every_field_of_the_front_end_with_its_default() -> None:
    declared = {name: info.default for name, info in FrontEndBlock.model_fields.items() if name != "preset"}
    in_memory = {f.name: f.default for f in fields(FrontEnd)}
    assert declared == in_memory
    assert set(PRESET_NAMES) == set(PRESETS)
    assert FrontEnd.from_dict({"preset": "musicnn", "n_mels": 48}) == replace(PRESETS["musicnn"], n_mels=48)
    assert FrontEnd.from_dict(FrontEnd().to_dict()) == FrontEnd()
    mel = FrontEnd(sample_rate=22050, scale="mel", n_mels=96, compression="db", fmax=8000.0)
    assert FrontEnd.from_dict(mel.to_dict()) == mel


@pytest.mark.parametrize(
    "block,field,reason",
    [
        ({"n_fft": 4}, "front_end.n_fft", "invalid value 4"),
        ({"n_fft": 512.5}, "front_end.n_fft", "whole number"),
        ({"n_fft": "512"}, "front_end.n_fft", "whole number, got the text '512'"),
        ({"center": 1}, "front_end.center", "true or false"),
        ({"power": 3}, "front_end.power", "expected 1 or 2"),
        ({"hop_length": 1024}, "front_end.hop_length", "invalid value 1024"),
        ({"fmax": 9000.0}, "front_end.fmax", "invalid value 9000.0"),
        ({"preset": "essentia"}, "front_end.preset", "'essentia'"),
        ({"window": "hamming"}, "front_end.window", "'hamming'"),
        ({"db_reference": "volts"}, "front_end.db_reference", "'volts'"),
        ({"scale": "bark"}, "front_end.scale", "'bark'"),
        ({"norm_std": 0}, "front_end.norm_std", "invalid value 0"),
        ({"colour": 1, "size": 2}, "front_end.colour", "unknown key(s) ['colour', 'size']"),
        ([], "front_end", "must be a JSON object"),
    ],
)
def test_front_end_errors_name_the_field(block, field: str, reason: str) -> None:
    with pytest.raises(ModelFormatError) as err:
        parse_front_end(block, path=Path("fe.json"))
        FrontEnd.from_dict(block)  # what spans fields (hop <= n_fft) is the front end's own check
    assert err.value.field == field and reason in err.value.reason
    if err.value.path is not None:
        assert "fe.json" in str(err.value)


def test_whole_floats_are_whole_numbers() -> None:
    assert parse_front_end({"n_fft": 1024.0, "hop_length": 512}) == (None, {"n_fft": 1024, "hop_length": 512})
    assert isinstance(parse_front_end({"n_fft": 1024.0})[1]["n_fft"], int)


# --- JSON from others: the guarded reader -------------------------------------------------------------------------
HOSTILE = {
    "a 5000-digit integer": (
        '"version": 1, "selection": {"layer": ' + "9" * 5000 + "}",
        "selection.layer",
        "5000 digits",
    ),
    "1e400": ('"version": 1, "playback": {"volume": 1e400}', "playback.volume", "finite"),
    "NaN": ('"version": 1, "playback": {"volume": NaN}', "playback.volume", "finite"),
    "-Infinity": ('"version": 1, "loops": [{"start_s": -Infinity}]', "loops[0].start_s", "finite"),
    "5000-deep nesting": ('"version": 1, "maps": ' + "[" * 5000 + "]" * 5000, None, "nested deeper than 64"),
    "a lone surrogate in a label": (
        '"version": 1, "maps": {"L1F3": {"label": "a\\ud800b"}}',
        "maps.L1F3.label",
        "\\ud800",
    ),
    "a lone surrogate in a key": ('"version": 1, "maps": {"L1F\\udc003": {}}', None, "\\udc00"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_sessions_give_a_session_error_naming_file_and_field(tmp_path: Path, case: str) -> None:
    body, field, reason = HOSTILE[case]
    path = tmp_path / "hostile.aurascope"
    path.write_text('{"format": "aurascope-session", ' + body + "}")
    with pytest.raises(SessionError) as err:
        Session.load(path)
    assert err.value.path == path.absolute() and reason in err.value.reason
    if field is not None:
        assert err.value.field == field
    str(err.value).encode("utf-8")  # the message itself prints


def test_a_session_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.aurascope"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(SessionError, match=r"not a regular file \(a FIFO\)"):
        Session.load(fifo)
    assert time.monotonic() - started < 5


def test_a_session_over_the_size_limit_is_refused_naming_the_limit(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "big.aurascope"
    path.write_text('{"format": "aurascope-session", "version": 1, "clips": []}' + " " * 5000)
    monkeypatch.setenv("AURASCOPE_MAX_SESSION_BYTES", "4096")
    with pytest.raises(SessionError, match="session size limit of 4,096 bytes.*AURASCOPE_MAX_SESSION_BYTES"):
        Session.load(path)


@pytest.mark.parametrize(
    "meta_text,field,reason",
    [
        ('{"format": "aurascope-model", "labels": ["ok", "bad\\ud800"]}', "labels[1]", "lone surrogate"),
        ('{"format": "aurascope-model", "format_version": ' + "1" * 5000 + "}", "format_version", "5000 digits"),
        ('{"format": "aurascope-model", "front_end": {"fmin": 1e400}}', "front_end.fmin", "finite"),
        ('{"format": "aurascope-model", "x": ' + "[" * 5000 + "]" * 5000 + "}", "aurascope", "nested deeper"),
        ('{"format": "aurascope-model", "x": ' + '{"a":' * 70 + "1" + "}" * 70 + "}", "x.a.a.a", "nested deeper"),
    ],
)
def test_hostile_model_metadata_names_file_and_field(tmp_path: Path, meta_text: str, field: str, reason: str) -> None:
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(save({"w": torch.zeros(1)}, metadata={"aurascope": meta_text}))
    with pytest.raises(ModelFormatError) as err:
        load_model(path)
    assert err.value.path == path and reason in err.value.reason
    assert err.value.field is not None and err.value.field.startswith(field)


def test_a_front_end_sidecar_that_is_a_fifo_or_too_big_is_refused(tmp_path: Path, monkeypatch) -> None:
    from app.core.sources import read_sidecar

    fifo = tmp_path / "fe.json"
    os.mkfifo(fifo)
    with pytest.raises(ModelFormatError, match="FIFO"):
        read_sidecar(fifo)
    big = tmp_path / "big.json"
    big.write_text('{"front_end": {}}' + " " * 3000)
    monkeypatch.setenv("AURASCOPE_MAX_METADATA_BYTES", "1000")
    with pytest.raises(ModelFormatError, match="AURASCOPE_MAX_METADATA_BYTES") as err:
        read_sidecar(big)
    assert err.value.path == big


def test_the_cli_refuses_hostile_sessions_in_one_line_with_status_2(tmp_path: Path) -> None:
    surrogate = tmp_path / "label.aurascope"
    surrogate.write_text('{"format": "aurascope-session", "version": 1, "maps": {"L1F3": {"label": "\\ud800"}}}')
    fifo = tmp_path / "fifo.aurascope"
    os.mkfifo(fifo)
    for path in (surrogate, fifo):
        done = run("report", "--session", str(path), "-o", str(tmp_path / "r"))
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and path.name in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


# --- the published schemas ---------------------------------------------------------------------------------------
def test_the_committed_schemas_are_the_generated_ones() -> None:
    from app.core.formats.__main__ import schema_texts

    folder = ROOT / "docs" / "formats"
    texts = schema_texts()
    assert sorted(texts) == sorted(p.name for p in folder.glob("*.schema.json"))
    for name, text in texts.items():
        assert (folder / name).read_text(encoding="utf-8") == text, f"{name}: run python -m app.core.formats"
    check = subprocess.run([sys.executable, "-m", "app.core.formats", "--check", str(folder)], cwd=ROOT)
    assert check.returncode == 0


def test_the_check_names_a_stale_schema(tmp_path: Path) -> None:
    written = subprocess.run(
        [sys.executable, "-m", "app.core.formats", "--write-schemas", str(tmp_path)], cwd=ROOT, capture_output=True
    )
    assert written.returncode == 0 and len(list(tmp_path.glob("*.schema.json"))) == 6
    (tmp_path / "session.schema.json").write_text("{}")
    check = subprocess.run(
        [sys.executable, "-m", "app.core.formats", "--check", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert check.returncode == 1 and "session.schema.json is out of date" in check.stdout


def test_a_full_session_and_the_bundled_models_meet_their_schemas(tmp_path: Path) -> None:
    from jsonschema import Draft202012Validator
    from safetensors import safe_open

    def errors(doc: dict, kind: str) -> list[str]:
        schema = json.loads((ROOT / "docs" / "formats" / f"{kind}.schema.json").read_text())
        return [e.message for e in Draft202012Validator(schema).iter_errors(doc)]

    clip = tmp_path / "a.wav"
    clip.write_bytes(b"RIFF")
    s = Session()
    s.add_clip(clip)
    s.set_label((2, 17), "hi-hat")
    s.set_rating((2, 17), 4)
    s.select(layer=2, index=17, compare=(1, 3), playhead_s=1.5)
    s.set_loop(s.clips[0].sha256, 0.5, 1.25)
    s.set_playback(slot="A", volume=0.5)
    saved = s.save(tmp_path / "s.aurascope")
    doc = json.loads(saved.read_text())
    assert errors(doc, "session") == []
    assert Session.load(saved).maps == s.maps
    doc["maps"]["L2F17"]["rating"] = 9  # the schema and the reader refuse the same thing
    assert errors(doc, "session") != []
    for model in sorted((ROOT / "models").glob("*.safetensors")):
        with safe_open(str(model), "pt") as reader:
            assert errors(json.loads(reader.metadata()["aurascope"]), "model-metadata") == [], model.name


TORCH_BLOCKED = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
import app.core.files, app.core.formats.__main__, app.core.session
from app.core.model_spec import choi2015_spec, spec_from_json
spec = choi2015_spec(n_maps=4, n_layers=2, labels=("a", "b"))
assert spec_from_json(spec.to_json()) == spec
print("torch" in sys.modules)
"""


def test_the_spec_the_formats_and_the_session_import_without_torch() -> None:
    done = subprocess.run([sys.executable, "-c", TORCH_BLOCKED], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
