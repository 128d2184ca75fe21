"""The path from launch to the first playable map imports nothing it does not need: librosa (and numba),
scipy.signal and pyloudnorm cost 1-2 s of one core together and come only after the first map is playable.

A fresh process (the modules must not be imported by earlier tests) opens the bundled model and demo clip in the
real window, offscreen, and records which of them were imported when the first map's audio reached slot B."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("librosa", "numba", "scipy.signal", "pyloudnorm")

SCRIPT = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.ui.app import DEFAULT_AUDIO, DEFAULT_MODEL
from app.ui.main_window import MainWindow
window = MainWindow(thumbnails=False, ask_to_save=False)
window.show()
seen = {{}}
def note(what):
    seen.setdefault(what, sorted(m for m in {HEAVY!r} if m in sys.modules))
window.controller.featureWindowReady.connect(lambda w: note("playable"))
window.controller.findingsReady.connect(lambda c: (note("findings"), app.quit()))
window.start(DEFAULT_AUDIO, DEFAULT_MODEL)
from PySide6.QtCore import QTimer
QTimer.singleShot(120000, app.quit)
app.exec()
window.close()
print(json.dumps(seen))
"""


@pytest.mark.skipif(not (ROOT / "models" / "musicnn-mtt-vgg.safetensors").is_file(), reason="bundled model")
def test_nothing_heavy_is_imported_before_the_first_map_plays(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", AURASCOPE_SETTINGS=str(tmp_path / "s.ini"))
    env.pop("AURASCOPE_STATE_FILE", None)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["playable"] == []  # the demo clip (25 s) plays its first window with none of them imported
    assert "pyloudnorm" in seen["findings"]  # they do come, after: the clip's loudness is part of its findings
