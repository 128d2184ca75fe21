"""The automation hook exists only when AURASCOPE_STATE_FILE names a file, and then writes what the window shows."""

from __future__ import annotations

import json

from app.ui.automation import STATE_FILE_ENV, AutomationHook


def test_no_hook_without_the_variable(make_window, monkeypatch) -> None:
    monkeypatch.delenv(STATE_FILE_ENV, raising=False)
    window = make_window(None, None, wait=False)
    assert window.automation is None and not window.findChildren(AutomationHook)


def test_the_hook_writes_the_selection_and_readiness(make_window, qtbot, monkeypatch, tmp_path, wav_file, model_file):
    state = tmp_path / "state.json"
    monkeypatch.setenv(STATE_FILE_ENV, str(state))
    window = make_window(wav_file, model_file)
    assert isinstance(window.automation, AutomationHook)
    qtbot.waitUntil(lambda: state.exists() and json.loads(state.read_text())["residual_ready"], timeout=5000)
    data = json.loads(state.read_text())
    assert data["selected"] == data["feature_ready"] == str(window.selected) == "L2F0"
    assert data["clip"] == str(window.clip.path) and data["device_rate"] == window.engine.sample_rate
