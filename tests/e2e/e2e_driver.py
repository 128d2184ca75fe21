"""Driving the real app from outside, for the end-to-end tests: the X display (xdotool clicks and keys, an
ImageMagick screenshot) and the automation hook's JSON state file (``AURASCOPE_STATE_FILE``, app/ui/automation.py).
Needs ``eval "$(bash scripts/ci_env.sh)"`` (Xvfb :99, the PulseAudio null sink "vsink").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

DISPLAY = os.environ.get("DISPLAY", ":99")


def needs_reason() -> str | None:
    """Why the real display, the null sink or a tool the e2e tests drive them with is not there (None: all are)."""
    for tool in ("xdotool", "import", "pactl", "parec"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: run `bash scripts/system_packages.sh test`"
    probe = subprocess.run(
        ["xdotool", "getdisplaygeometry"],
        env={**os.environ, "DISPLAY": DISPLAY},
        capture_output=True,
        text=True,
        timeout=10,
    )
    if probe.returncode != 0:
        return f'no X display {DISPLAY}: run `eval "$(bash scripts/ci_env.sh)"` first'
    sinks = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True, timeout=10)
    if "vsink" not in sinks.stdout.split():
        return "no PulseAudio null sink 'vsink': run `eval \"$(bash scripts/ci_env.sh)\"` first"
    return None


def xdotool(*args: str) -> str:
    out = subprocess.run(
        ["xdotool", *args], env={**os.environ, "DISPLAY": DISPLAY}, capture_output=True, text=True, timeout=20
    )
    assert out.returncode == 0, f"xdotool {' '.join(args)}: {out.stderr}"
    return out.stdout


def read_state(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def wait_for(proc: subprocess.Popen, state: Path, condition, what: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the app exited ({proc.returncode}) while waiting for {what}: {proc.stderr.read()[-3000:]}")
        last = read_state(state)
        if last and condition(last):
            return last
        time.sleep(0.05)
    pytest.fail(f"no {what} within {timeout} s; last state {last}")


def screenshot() -> np.ndarray:
    """The whole X display as RGB ``[shape=(h, w, 3)]``, through ImageMagick's import."""
    w, h = (int(v) for v in xdotool("getdisplaygeometry").split())
    raw = subprocess.run(
        ["import", "-window", "root", "-depth", "8", "rgb:-"],
        env={**os.environ, "DISPLAY": DISPLAY},
        capture_output=True,
        timeout=60,
    ).stdout
    assert len(raw) == w * h * 3, f"import gave {len(raw)} bytes for {w}x{h}"
    return np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)


def wait_settled(proc: subprocess.Popen, state: Path, condition, where, what: str, timeout: float = 120.0) -> dict:
    """`wait_for` ``condition``, then until ``where(state)`` (the screen positions a test clicks) stays put for
    0.5 s: a dock shown a moment ago moves the widgets around it once its layout runs, after the hook wrote."""
    deadline = time.monotonic() + timeout
    while True:
        first = wait_for(proc, state, condition, what, max(deadline - time.monotonic(), 1.0))
        time.sleep(0.5)
        last = read_state(state)
        if last and condition(last) and where(last) == where(first):
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: the positions kept moving for {timeout} s; last state {last}")
