"""From a deconvolved mask back to sound, with the original phase (DESIGN 1), and loudness."""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
import torch

from app.core.frontend import FrontEnd


class Mode(StrEnum):
    """``choi``: ISTFT(X * D); ``magnitude``: ISTFT(max(D, 0) * e^{i angle X}); ``residual``: y - choi."""

    CHOI = "choi"
    MAGNITUDE = "magnitude"
    RESIDUAL = "residual"


def masked_spectrum(spec: torch.Tensor, mask_lin: torch.Tensor, mode: Mode) -> torch.Tensor:
    """The complex spectrum a mode plays: ``spec`` ``(n_freq, n_frames)``, mask ``(..., n_freq, n_frames)``."""
    if mode is Mode.CHOI:
        return spec * mask_lin
    if mode is Mode.MAGNITUDE:
        magnitude = spec.abs()
        phase = torch.where(magnitude > 0, spec / magnitude.clamp_min(1e-30), torch.ones_like(spec))
        return mask_lin.clamp_min(0) * phase
    return spec - spec * mask_lin


def resynthesise(
    spec: torch.Tensor, mask_lin: torch.Tensor, front_end: FrontEnd, length: int, mode: Mode
) -> torch.Tensor:
    """Audio ``[shape=(..., length)]`` for masks ``[shape=(..., n_freq, n_frames)]`` on the clip's STFT.

    Residual is computed in the STFT domain (linear, so equal to original minus Choi output up to the
    ISTFT's reconstruction error, ~1e-7).
    """
    return front_end.istft(masked_spectrum(spec, mask_lin, Mode(mode)), length)


def loudness_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (ITU-R BS.1770-4) in LUFS; ``-inf`` for silence or clips under 0.4 s."""
    import pyloudnorm

    audio = np.asarray(audio, dtype=np.float64)
    if audio.shape[-1] < int(0.4 * sample_rate) or not np.any(audio):
        return -math.inf
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pyloudnorm.Meter(sample_rate).integrated_loudness(audio))


def matching_gain_db(rendering_lufs: float, reference_lufs: float, limit_db: float = 60.0) -> float:
    """Gain in dB that brings a rendering to the reference loudness (clamped to +-limit; 0 for silence)."""
    if not (math.isfinite(rendering_lufs) and math.isfinite(reference_lufs)):
        return 0.0
    return float(np.clip(reference_lufs - rendering_lufs, -limit_db, limit_db))


def peak_gain_db(audio: np.ndarray, peak: float = 0.99) -> float:
    """Gain in dB that brings the sample peak to ``peak`` (0 for silence)."""
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20.0 * math.log10(peak / top) if top > 0 else 0.0


def apply_gain(audio: np.ndarray, gain_db: float) -> np.ndarray:
    return (audio * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)


def to_db(magnitude: np.ndarray | torch.Tensor, floor_db: float = -120.0) -> np.ndarray:
    """20 log10 |x| with a floor, float32 numpy (for display)."""
    m = magnitude.detach().cpu().numpy() if isinstance(magnitude, torch.Tensor) else np.asarray(magnitude)
    return np.maximum(20.0 * np.log10(np.maximum(np.abs(m), 1e-12)), floor_db).astype(np.float32)
