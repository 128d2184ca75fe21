"""From a deconvolved mask back to sound, with the original phase (DESIGN 1), and loudness."""

from __future__ import annotations

import numpy as np
import torch

from app.core.frontend import FrontEnd
from app.core.loudness import apply_gain as apply_gain  # re-exported: the export and the report use them
from app.core.loudness import loudness_lufs as loudness_lufs
from app.core.loudness import matching_gain_db as matching_gain_db
from app.core.loudness import peak_gain_db as peak_gain_db
from app.core.types import Mode


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


def to_db(magnitude: np.ndarray | torch.Tensor, floor_db: float = -120.0) -> np.ndarray:
    """20 log10 |x| with a floor, float32 numpy (for display)."""
    m = magnitude.detach().cpu().numpy() if isinstance(magnitude, torch.Tensor) else np.asarray(magnitude)
    return np.maximum(20.0 * np.log10(np.maximum(np.abs(m), 1e-12)), floor_db).astype(np.float32)
