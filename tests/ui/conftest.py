"""Widget tests: offscreen Qt, a real-time stand-in sound device, throw-away settings, the small fixture model and
a synthetic clip (tests/conftest.py), or the bundled model and demo clip where a test says so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ui_fakes import RealTimeStream, make_sounddevice

from app.playback import PlaybackEngine, devices


@pytest.fixture
def fake_device(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """sounddevice replaced by a real-time stand-in (for the engine only)."""
    sd = make_sounddevice()
    monkeypatch.setitem(sys.modules, "ui_fake_sounddevice", sd)
    monkeypatch.setattr(devices, "SOUNDDEVICE_MODULE", "ui_fake_sounddevice")
    RealTimeStream.instances = []
    yield sd
    for stream in RealTimeStream.instances:
        stream.close()


@pytest.fixture
def settings(tmp_path: Path):
    from PySide6.QtCore import QSettings

    from app.ui.settings import Settings

    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def make_window(qtbot, settings, fake_device) -> Callable[..., object]:
    """``make_window(audio, model, engine=None, wait=True)``: a shown window that has rendered its first map."""
    from app.ui.main_window import MainWindow

    made = []

    def make(
        audio: Path | None,
        model: Path | None,
        *,
        engine: PlaybackEngine | None = None,
        wait: bool = True,
        thumbnails: bool = False,
        ask_to_save: bool = False,
    ):
        window = MainWindow(
            settings=settings, engine=engine or PlaybackEngine(), thumbnails=thumbnails, ask_to_save=ask_to_save
        )
        qtbot.addWidget(window)
        window.resize(1400, 860)
        window.show()
        window.activateWindow()
        qtbot.waitExposed(window)
        made.append(window)
        if wait:
            with qtbot.waitSignal(window.featureReady, timeout=60000):
                window.start(audio, model)
            qtbot.waitUntil(lambda: window.residual is not None and window.worker.idle, timeout=60000)
        else:
            window.start(audio, model)
        return window

    yield make
    for window in made:
        window.close()
