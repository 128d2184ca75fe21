"""Hand-weighted one-layer networks with known answers (DESIGN 1: known-kernel checks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from signals import piano_like_notes

from app.core import descriptors
from app.core.analysis import Analysis, FeatureRef
from app.core.architecture import Conv2d, MaxPool2d, ReLU
from app.core.audio import Clip
from app.core.frontend import FrontEnd
from app.core.model import Model, ModelSpec
from app.core.resynth import Mode

SR = 11025
ONSETS = [0.2, 0.9, 1.6, 2.3, 3.0]


def one_kernel_analysis(kernel: list[list[float]], y: np.ndarray, *, pool: bool = False) -> Analysis:
    k = torch.tensor(kernel, dtype=torch.float32)
    kh, kw = k.shape
    body = [Conv2d(1, 1, (kh, kw), (1, 1), ((kh - 1) // 2, (kw - 1) // 2)), ReLU()]
    if pool:
        body.append(MaxPool2d((2, 2), (2, 2)))
    model = Model(
        ModelSpec(front_end=FrontEnd(), body=tuple(body)),
        {"body.0.weight": k[None, None], "body.0.bias": torch.zeros(1)},
    )
    clip = Clip(Path("notes.wav"), "0" * 64, y, SR, y[None], SR)
    return Analysis(clip, model, device="cpu")


@pytest.fixture(scope="module")
def notes() -> np.ndarray:
    return piano_like_notes(SR, 4.0, ONSETS)


IDENTITY = [[0, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_identity_kernel_magnitude_mode_returns_the_input(notes: np.ndarray) -> None:
    analysis = one_kernel_analysis(IDENTITY, notes)
    out = analysis.render(FeatureRef(1, 0), Mode.MAGNITUDE).audio
    assert out.shape == notes.shape
    assert float(np.max(np.abs(out - notes))) < 1e-4


def test_identity_kernel_deconv_is_the_magnitude_and_choi_mode_squares_it(notes: np.ndarray) -> None:
    analysis = one_kernel_analysis(IDENTITY, notes)
    rendering = analysis.render(FeatureRef(1, 0), Mode.CHOI)
    magnitude = analysis.spectrum.abs()
    assert float((torch.from_numpy(rendering.deconv) - magnitude).abs().max()) < 1e-5
    expected = FrontEnd().istft(analysis.spectrum * magnitude, notes.shape[0]).numpy()
    assert float(np.max(np.abs(rendering.audio - expected))) < 1e-5


def test_residual_is_original_minus_choi(notes: np.ndarray) -> None:
    analysis = one_kernel_analysis([[1, -1], [1, -1]], notes)
    choi = analysis.render(FeatureRef(1, 0), Mode.CHOI).audio
    residual = analysis.render(FeatureRef(1, 0), Mode.RESIDUAL).audio
    assert float(np.max(np.abs(residual - (notes - choi)))) < 1e-4


def test_vertical_edge_kernel_is_an_onset_detector(notes: np.ndarray) -> None:
    out = one_kernel_analysis([[1, -1], [1, -1]], notes).render(FeatureRef(1, 0)).audio
    before = descriptors.onset_correlation(notes, ONSETS, SR)
    after = descriptors.onset_correlation(out, ONSETS, SR)
    assert after > before + 0.15, (before, after)  # measured 0.416 -> 0.685


def test_horizontal_edge_kernel_is_an_attack_suppressor(notes: np.ndarray) -> None:
    out = one_kernel_analysis([[1, 1], [-1, -1]], notes).render(FeatureRef(1, 0)).audio
    before = descriptors.attack_sustain_ratio(notes, ONSETS, SR)
    after = descriptors.attack_sustain_ratio(out, ONSETS, SR)
    assert after < before - 1.5, (before, after)  # measured 2.13 dB -> -0.21 dB


def test_pooling_keeps_only_switch_positions(notes: np.ndarray) -> None:
    analysis = one_kernel_analysis(IDENTITY, notes, pool=True)
    d = torch.from_numpy(analysis.render(FeatureRef(1, 0)).deconv)
    h, w = (d.shape[0] // 2) * 2, (d.shape[1] // 2) * 2
    windows = d[:h, :w].reshape(h // 2, 2, w // 2, 2).permute(0, 2, 1, 3).reshape(h // 2, w // 2, 4)
    assert int((windows != 0).sum(dim=-1).max()) <= 1  # one value per 2x2 window survives
    nonzero = d != 0
    assert torch.allclose(d[nonzero], analysis.spectrum.abs()[nonzero], rtol=1e-5)
