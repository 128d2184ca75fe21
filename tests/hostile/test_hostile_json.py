"""Hostile JSON (issue 11.6, read by the formats layer): oversized numbers, deep nesting, lone surrogates and a
FIFO, in a session file, a model's metadata and a front-end sidecar. Each is one line and exit status 2 (or, for
a label that is merely odd, a clean run), never a traceback or a hang."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_process import run
from conftest import tiny_spec
from refusal import assert_refused, assert_worked
from safetensors.torch import save_file

from app.core.model import random_weights
from app.core.session import Session

HUGE_INT = "9" * 5000
DEEP = "[" * 5000 + "]" * 5000

# (name, the JSON text of a field's value) put where a number or a list belongs
VALUES = {
    "5000-digit integer": HUGE_INT,
    "1e400": "1e400",
    "5000-deep nesting": DEEP,
    "NaN": "NaN",
}


def _session_text(tmp: Path, model: Path, clip: Path) -> str:
    session = Session()
    session.set_model(model)
    session.add_clip(clip)
    return session.save(tmp / "base.aurascope").read_text()


def _in_session(tmp: Path, model: Path, clip: Path, value: str) -> Path:
    text = _session_text(tmp, model, clip)
    assert '"version": 1' in text
    path = tmp / "hostile.aurascope"
    path.write_text(text.replace('"version": 1', f'"version": {value}', 1))
    return path


def _in_model(tmp: Path, value: str) -> Path:
    spec = tiny_spec()
    text = spec.to_json()
    assert '"format_version": 1' in text
    path = tmp / "hostile.safetensors"
    weights = {k: v.contiguous() for k, v in random_weights(spec).items()}
    save_file(
        weights, str(path), metadata={"aurascope": text.replace('"format_version": 1', f'"format_version": {value}')}
    )
    return path


def _in_sidecar(tmp: Path, fe: Path, value: str) -> Path:
    data = json.loads(fe.read_text())
    path = tmp / "hostile-fe.json"
    path.write_text(json.dumps({**data, "labels": ["x"]}).replace('["x"]', value))
    return path


WHERE: dict[str, Callable[..., list]] = {
    "session": lambda t, m, c, fe, v: ["report", "--session", _in_session(t, m, c, v), "--out", t / "out"],
    "model metadata": lambda t, m, c, fe, v: ["info", _in_model(t, v)],
    "front-end sidecar": lambda t, m, c, fe, v: [
        "info",
        "user_models.nets:functional_choi",
        "--front-end",
        _in_sidecar(t, fe, v),
    ],
}


@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("where", list(WHERE))
def test_hostile_numbers_and_nesting(
    where: str, value: str, tmp_path: Path, tiny_model: Path, clip: Path, front_end_json: Path
) -> None:
    args = WHERE[where](tmp_path, tiny_model, clip, front_end_json, VALUES[value])
    assert_refused(run(*args, cwd=tmp_path), out=tmp_path / "out")


def test_a_fifo_as_the_session_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "listening.aurascope"
    os.mkfifo(fifo)
    result = run("report", "--session", fifo, "--out", tmp_path / "out", timeout=120)
    assert_refused(result, "listening.aurascope", out=tmp_path / "out")


def test_a_label_with_a_lone_surrogate(tmp_path: Path, tiny_model: Path, clip: Path) -> None:
    """A session whose label holds "\\ud800": refused by name, or printed escaped; never a traceback."""
    text = _session_text(tmp_path, tiny_model, clip)
    data = json.loads(text)
    data["maps"] = {"L1F0": {"label": "PLACEHOLDER", "notes": "", "rating": None}}
    path = tmp_path / "odd.aurascope"
    path.write_text(json.dumps(data).replace("PLACEHOLDER", "\\ud800"))
    result = run("characterise", "--session", path, "-l", "1", "-f", "0", cwd=tmp_path)
    if result.returncode == 0:
        assert_worked(result)
    else:
        assert_refused(result, "odd.aurascope")
