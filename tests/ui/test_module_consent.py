"""A session naming a user's module asks before that code runs (issue 11.1): the files and their SHA-256 are
shown; "Open without its model" runs nothing, "Open once" runs it, "Always trust" remembers it by hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.core.session import Session
from app.core.trust import TrustStore, describe_module

NET = """
from pathlib import Path

import torch.nn.functional as F
from torch import nn

Path({marker!r}).write_text("this module ran")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x):
        return F.max_pool2d(F.relu(self.conv(x)), 2)
"""


@pytest.fixture(autouse=True)
def _own_trust_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURASCOPE_CONFIG_DIR", str(tmp_path / "config"))


def _shared_session(tmp_path: Path, wav_file: Path, model_file: Path, name: str) -> tuple[Path, Path]:
    """A session (as a listener would receive it) whose model is ``<name>:Net``, a module that writes a marker."""
    from app.core.model import load_model

    marker = tmp_path / "marker"
    code = tmp_path / "shared" / "code"
    code.mkdir(parents=True)
    (code / f"{name}.py").write_text(NET.format(marker=str(marker)))
    front_end = tmp_path / "shared" / "fe.json"
    front_end.write_text(json.dumps({"front_end": load_model(model_file).front_end.to_dict(), "name": name}))
    session = Session()
    session.set_module_model(f"{name}:Net", front_end, None, code)
    session.add_clip(wav_file)
    return session.save(tmp_path / "shared" / "listening.aurascope"), marker


def _answer(window, qtbot, button_text: str) -> QMessageBox:
    qtbot.waitUntil(lambda: window.consent_box is not None and window.consent_box.isVisible(), timeout=60000)
    box = window.consent_box
    assert "SHA-256" in box.informativeText() and ".py" in box.informativeText()
    (button,) = [b for b in box.buttons() if b.text() == button_text]
    button.click()
    return box


def test_without_its_model_runs_nothing(make_window, qtbot, tmp_path, wav_file, model_file) -> None:
    session, marker = _shared_session(tmp_path, wav_file, model_file, "consent_net_without")
    window = make_window(None, None, wait=False)
    window.open_session_file(session)
    described = describe_module("consent_net_without:Net", tmp_path / "shared" / "code")
    qtbot.waitUntil(lambda: window.consent_box is not None, timeout=60000)
    assert described.sha256 in window.consent_box.informativeText()
    _answer(window, qtbot, "Open without its model")
    qtbot.waitUntil(lambda: window.worker.idle, timeout=60000)
    qtbot.wait(300)
    assert not marker.exists()
    assert window.model_handle is None and window.session.model_module.source == "consent_net_without:Net"
    assert "did not run" in window.statusBar().currentMessage()
    assert not TrustStore().is_trusted(described)


def test_open_once_runs_it_and_always_remembers_it(make_window, qtbot, tmp_path, wav_file, model_file) -> None:
    session, marker = _shared_session(tmp_path, wav_file, model_file, "consent_net_once")
    window = make_window(None, None, wait=False)
    window.open_session_file(session)
    assert not marker.exists()
    with qtbot.waitSignal(window.featureReady, timeout=60000):
        _answer(window, qtbot, "Open once")
    assert marker.read_text() == "this module ran"
    assert window.summary.kind == "traced" and window.summary.name == "consent_net_once"
    described = describe_module("consent_net_once:Net", tmp_path / "shared" / "code")
    assert not TrustStore().is_trusted(described)
    # "Always trust": remembered by hash, and the next opening does not ask
    again = make_window(None, None, wait=False)
    again.open_session_file(session)
    with qtbot.waitSignal(again.featureReady, timeout=60000):
        _answer(again, qtbot, "Always trust this file")
    assert TrustStore().is_trusted(described)
    third = make_window(None, None, wait=False)
    with qtbot.waitSignal(third.featureReady, timeout=60000):
        third.open_session_file(session)
    assert third.consent_box is None and third.summary.name == "consent_net_once"
