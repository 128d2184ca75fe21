"""scripts/screenshot.py, the README's way to remake its pictures, runs against the window as it is now."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_screenshot_script_draws_the_window_with_a_rendered_map(tmp_path: Path) -> None:
    from PySide6.QtGui import QImage

    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshot.py"),
         "--model", str(ROOT / "models" / "choi2015-genre.safetensors"),
         "--audio", str(ROOT / "resources" / "demo" / "kick_walking_bass.wav"), "--map", "2,3", "--size", "1480x900",
         "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1480, 900)
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(rgb.constBits(), np.uint8).reshape(900, rgb.bytesPerLine())[:, : 1480 * 3]
    centre = pixels.reshape(900, 1480, 3)[150:600, 350:1050]  # the spectrogram views
    assert len(np.unique(centre.reshape(-1, 3), axis=0)) > 200, "the views are not drawn"
