"""The app starts as a process (as a double-click would) and shows layer 2 map 0 ready to play; it closes cleanly.

Offscreen Qt and no sound device here (tests/e2e drives the real display and sink). The window reports what it
shows through the file named by AURASCOPE_STATE_FILE.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_MODEL = ROOT / "models" / "musicnn-mtt-vgg.safetensors"
DEMO_CLIP = ROOT / "resources" / "demo" / "real" / "band.flac"

pytestmark = pytest.mark.slow


def launch(args: list[str], tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    state = tmp_path / "state.json"
    settings = tmp_path / "settings.ini"
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        AURASCOPE_STATE_FILE=str(state),
        AURASCOPE_SETTINGS=str(settings),
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, state, settings


def wait_state(proc: subprocess.Popen, state: Path, condition, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the app exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            last = json.loads(state.read_text())
        except (OSError, ValueError):
            last = {}
        if last and condition(last):
            return last
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"the window did not get there in {timeout} s; last state: {last}")


def close(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)  # closes the window the way the close button does
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the app did not exit within 30 s of SIGTERM")
    assert proc.returncode == 0, err[-2000:]
    return err


def test_main_py_opens_files_and_shows_layer_2_map_0_ready(tmp_path, wav_file, model_file) -> None:
    started = time.time()
    proc, state_file, settings = launch(
        [sys.executable, str(ROOT / "main.py"), str(wav_file), str(model_file)], tmp_path
    )
    state = wait_state(proc, state_file, lambda s: s["feature_ready"] == "L2F0" and s["residual_ready"])
    assert state["clip"] == str(wav_file.resolve()) and state["model"] == str(model_file.resolve())
    assert state["selected"] == "L2F0" and state["slot"] == "B" and not state["playing"]
    assert 0 < state["shown_at"] - started < 30
    assert "L2F0" in state["maps"]  # layer 2 is expanded in the tree, its first map visible
    # start-up ran with the cyclic collector paused; once the first map was ready, what start-up made was frozen
    # (torch's and Qt's objects: hundreds of thousands) and collection resumed
    assert state["collector"]["enabled"] and state["collector"]["frozen"] > 100_000, state["collector"]
    close(proc)
    text = settings.read_text()
    assert "geometry" in text and str(wav_file.resolve()) in text  # settings written on close


def test_bare_aurascope_opens_the_bundled_model_on_the_demo_clip(tmp_path) -> None:
    if not (BUNDLED_MODEL.is_file() and DEMO_CLIP.is_file()):
        pytest.skip("the bundled model or the demo clip is not in the repository yet")
    launcher = Path(sys.executable).parent / "aurascope"
    args = [str(launcher)] if launcher.is_file() else [sys.executable, "-m", "app"]
    proc, state_file, _ = launch(args, tmp_path)
    state = wait_state(proc, state_file, lambda s: s["feature_ready"] == "L2F0")
    assert state["model"] == str(BUNDLED_MODEL.resolve()) and state["clip"] == str(DEMO_CLIP.resolve())
    close(proc)
