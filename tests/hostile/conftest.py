"""Inputs for the hostile suite: a tiny model, a short clip and damaged variants of both, written to tmp."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))

from refusal import TALLY

from app.core.frontend import FrontEnd
from app.core.model import choi2015_spec, random_weights, save_model

SR = 11025


def pytest_terminal_summary(terminalreporter) -> None:
    if TALLY["cases"]:
        terminalreporter.write_line(
            "hostile suite: "
            + ", ".join(f"{key} {TALLY[key]}" for key in ("cases", "tracebacks", "half-written files"))
        )


def tiny_spec(n_maps: int = 2):
    return choi2015_spec(n_maps=n_maps, n_layers=2, labels=("calm", "busy"), head_input_frames=None)


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="session")
def tiny_model(hostile_dir: Path) -> Path:
    spec = tiny_spec()
    return save_model(hostile_dir / "tiny.safetensors", spec, random_weights(spec, seed=2))


@pytest.fixture(scope="session")
def clip(hostile_dir: Path) -> Path:
    path = hostile_dir / "clip.wav"
    rng = np.random.default_rng(0)
    sf.write(path, (0.1 * rng.standard_normal(2 * SR)).astype(np.float32), SR, subtype="FLOAT")
    return path


@pytest.fixture(scope="session")
def front_end_json(hostile_dir: Path) -> Path:
    path = hostile_dir / "fe.json"
    path.write_text(json.dumps({"front_end": FrontEnd().to_dict()}))
    return path
