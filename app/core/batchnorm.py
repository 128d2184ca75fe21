"""An eval-mode batch-norm as arithmetic: folded into the conv before it, or as a per-channel affine map.

Model files and traced networks both fold with :func:`fold_into_conv`, so a network written as
``.safetensors`` and the same module traced run bit-identical forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class BatchNormStatistics:
    """``y = gamma * (x - mean) / sqrt(var + eps) + beta`` per channel; each tensor ``[shape=(C,)]``.

    A missing ``gamma`` / ``beta`` (a batch-norm without affine parameters) is 1 / 0.
    """

    mean: torch.Tensor
    var: torch.Tensor
    eps: float
    gamma: torch.Tensor | None = None
    beta: torch.Tensor | None = None

    def scale_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scale, shift)`` with ``y = scale * x + shift``, float64."""
        scale = self._gamma() / torch.sqrt(self.var.detach().double() + self.eps)
        return scale, self._beta() - self.mean.detach().double() * scale

    def _gamma(self) -> torch.Tensor:
        n = self.mean.shape[0]
        return self.gamma.detach().double() if self.gamma is not None else torch.ones(n, dtype=torch.float64)

    def _beta(self) -> torch.Tensor:
        n = self.mean.shape[0]
        return self.beta.detach().double() if self.beta is not None else torch.zeros(n, dtype=torch.float64)


def fold_into_conv(
    weight: torch.Tensor, bias: torch.Tensor | None, bn: BatchNormStatistics
) -> tuple[torch.Tensor, torch.Tensor]:
    """A conv followed by the batch-norm ``bn``, as one conv: the new ``(weight, bias)``, float32.

    ``weight`` ``[shape=(C_out, C_in, *kernel)]`` (any number of kernel dimensions), ``bias`` ``(C_out,)`` or
    None (0). Each output channel's kernel scales by ``s = gamma / sqrt(var + eps)`` and the bias becomes
    ``(bias - mean) * s + beta``; computed in float64.
    """
    scale, _ = bn.scale_shift()
    w = weight.detach().double()
    b = bias.detach().double() if bias is not None else torch.zeros(weight.shape[0], dtype=torch.float64)
    folded_weight = (w * scale.reshape((-1,) + (1,) * (w.dim() - 1))).float()
    return folded_weight, ((b - bn.mean.detach().double()) * scale + bn._beta()).float()
