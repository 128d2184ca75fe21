"""The one batch-norm arithmetic: folded into a conv, or as an affine map, it computes what the batch-norm did."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from app.core.batchnorm import BatchNormStatistics, fold_into_conv


@pytest.mark.parametrize(
    ("conv_type", "bn_type", "input_shape"),
    [(nn.Conv2d, nn.BatchNorm2d, (2, 3, 9, 11)), (nn.Conv1d, nn.BatchNorm1d, (2, 3, 17))],
)
@pytest.mark.parametrize("affine_and_bias", [True, False])
def test_folded_conv_equals_conv_then_batchnorm(
    conv_type: type[nn.Module], bn_type: type[nn.Module], input_shape: tuple[int, ...], affine_and_bias: bool
) -> None:
    gen = torch.Generator().manual_seed(7)
    conv = conv_type(3, 5, 3, bias=affine_and_bias)
    bn = bn_type(5, eps=1e-3, affine=affine_and_bias).eval()
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen))
        if affine_and_bias:
            conv.bias.copy_(torch.randn(5, generator=gen))
            bn.weight.copy_(torch.randn(5, generator=gen))  # negative gammas flip a map's sign
            bn.bias.copy_(torch.randn(5, generator=gen))
        bn.running_mean.copy_(torch.randn(5, generator=gen))
        bn.running_var.copy_(0.1 + 2 * torch.rand(5, generator=gen))
    x = torch.randn(input_shape, generator=gen)

    statistics = BatchNormStatistics(bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    weight, bias = fold_into_conv(conv.weight, conv.bias, statistics)
    scale, shift = statistics.scale_shift()

    with torch.no_grad():
        expected = bn(conv(x))
        got = conv._conv_forward(x, weight, bias)
        conv_out = conv(x)
        channel = (1, -1) + (1,) * (conv_out.dim() - 2)
        affine = (scale.reshape(channel) * conv_out.double() + shift.reshape(channel)).float()
    assert weight.dtype == bias.dtype == torch.float32 and bias.shape == (5,)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert float((got - expected).abs().max()) < 1e-4 * float(expected.abs().max())
    assert torch.allclose(affine, expected, rtol=1e-5, atol=1e-5)  # the same batch-norm as an affine map
