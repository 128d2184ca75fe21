"""Shared fixtures: tiny models with known or random weights, synthetic clips written to real files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).parent))

from signals import chord_clip

from app.core.model import Model, ModelSpec, choi2015_spec, random_weights, save_model

LABELS = ("calm", "busy", "loud")


def small_choi_spec(n_maps: int = 8, n_layers: int = 5) -> ModelSpec:
    return choi2015_spec(n_maps=n_maps, n_layers=n_layers, labels=LABELS, head_input_frames=87)


@pytest.fixture(scope="session")
def small_model() -> Model:
    spec = small_choi_spec()
    return Model(spec, random_weights(spec, seed=3))


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = small_choi_spec()
    path = tmp_path_factory.mktemp("models") / "small.safetensors"
    save_model(path, spec, random_weights(spec, seed=3))
    return path


@pytest.fixture(scope="session")
def wav_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "chords.wav"
    sf.write(path, chord_clip(22050, 3.0), 22050, subtype="FLOAT")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _deterministic_torch() -> None:
    torch.manual_seed(0)
