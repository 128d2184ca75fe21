"""Shared fixtures: tiny models with known or random weights, synthetic clips written to real files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).parent))

from model_specs import small_choi_spec
from signals import chord_clip

from app.core.model import Model, random_weights, save_model


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
