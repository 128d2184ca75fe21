"""Shared by the bench/gui_*.py benchmarks: figures as JSON lines, the bundled model (or a stand-in of the same
shape), clips of a given length made from the demo clip, and a window driven in-process.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BUNDLED_MODEL = ROOT / "models" / "choi2015-genre.safetensors"
DEMO_CLIP = ROOT / "resources" / "demo" / "full_band.wav"


def emit(figure: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"figure": figure, "value": round(float(value), 4), "unit": unit, **extra}), flush=True)


def model_path(workdir: Path) -> tuple[Path, str]:
    """The bundled model, or (until it exists) a random-weight model of its architecture: 5 x 64 maps."""
    if BUNDLED_MODEL.is_file():
        return BUNDLED_MODEL, "bundled choi2015-genre"
    from app.core.model import choi2015_spec, random_weights, save_model

    spec = choi2015_spec(labels=[f"genre {i}" for i in range(10)])
    path = workdir / "choi2015-random.safetensors"
    save_model(path, spec, random_weights(spec, seed=0))
    return path, "random-weight choi2015 (5 x 64 maps; the bundled model was not there)"


def clip_of(seconds: float, workdir: Path) -> Path:
    """The full-band demo clip repeated (or cut) to ``seconds``, as a WAV in ``workdir``."""
    import soundfile as sf

    data, rate = sf.read(DEMO_CLIP, dtype="float32", always_2d=True)
    n = round(seconds * rate)
    reps = int(np.ceil(n / len(data)))
    out = workdir / f"full_band_{seconds:g}s.wav"
    sf.write(out, np.tile(data, (reps, 1))[:n], rate, subtype="FLOAT")
    return out


def temp_settings() -> Path:
    path = Path(tempfile.mkdtemp(prefix="aurascope-bench-")) / "settings.ini"
    os.environ["AURASCOPE_SETTINGS"] = str(path)
    return path


def make_app():
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([sys.argv[0]])


def spin(app, condition, timeout: float) -> bool:
    """Run the event loop until ``condition()`` or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.001)
    return False
