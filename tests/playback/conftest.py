"""Fixtures for tests/playback: the stand-in sounddevice and the real PulseAudio null sink.

The real-audio tests need the null sink "vsink" that ``scripts/ci_env.sh`` starts; it must exist before this
process imports sounddevice (PortAudio enumerates devices once, at init). Nothing here imports sounddevice at
module level.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from needs import missing
from playback_fakes import SINK, FakeOutputStream, MonitorRecorder, make_fake_sounddevice

from app.playback import devices


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """sounddevice replaced by `make_fake_sounddevice` for the engine (and only for it)."""
    sd = make_fake_sounddevice()
    monkeypatch.setitem(sys.modules, "fake_sounddevice", sd)
    monkeypatch.setattr(devices, "SOUNDDEVICE_MODULE", "fake_sounddevice")
    FakeOutputStream.instances = []
    FakeOutputStream.fail_open = None
    yield sd
    FakeOutputStream.fail_open = None


# ---- the real PulseAudio null sink -----------------------------------------------------------------------


def _sink_missing_reason() -> str | None:
    if shutil.which("pactl") is None or shutil.which("parec") is None:
        return "pactl/parec not installed: run `bash scripts/ci_env.sh` first"
    try:
        sinks = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"PulseAudio not reachable ({exc}): run `bash scripts/ci_env.sh` first"
    if sinks.returncode != 0 or SINK not in sinks.stdout.split():
        return f"no PulseAudio null sink {SINK!r}: run `bash scripts/ci_env.sh` first"
    try:
        devices.load_sounddevice()
    except Exception as exc:
        return f"sounddevice/PortAudio unusable: {exc}"
    return None


@pytest.fixture(scope="session")
def audio_sink() -> str:
    """The name of the null sink; skips the test with the reason when it is not there."""
    reason = _sink_missing_reason()
    if reason is not None:
        missing(reason)  # CI runs scripts/ci_env.sh first: no sink there is a broken set-up
    return SINK


@pytest.fixture
def recorder_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[MonitorRecorder] = []

    def make(sample_rate: int) -> MonitorRecorder:
        rec = MonitorRecorder(tmp_path / f"monitor{len(made)}.f32", sample_rate)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.stop()
