"""The blocks a model file's architecture is made of (DESIGN 2), and how its body groups into layers.

Plain values, no weights and no torch: :mod:`app.core.model` reads and writes them, :mod:`app.core.deconv`
walks them down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Conv2d:
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    type: str = "conv2d"


@dataclass(frozen=True)
class ReLU:
    type: str = "relu"


@dataclass(frozen=True)
class MaxPool2d:
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    type: str = "maxpool2d"


@dataclass(frozen=True)
class BatchNorm2d:
    """Only at write time: folded into the conv before it, never stored."""

    num_features: int
    eps: float = 1e-5
    type: str = "batchnorm2d"


@dataclass(frozen=True)
class Affine:
    """Per-channel ``y = weight·x + bias`` (weights ``[shape=(num_features,)]``): an inference-mode batch-norm
    that cannot fold into a conv because a ReLU stands between them (musicnn's VGG: conv -> ReLU -> BN).

    Folding it into the next conv instead is not exact: the shift would reach the zero padding. On the
    deconvnet's way down it multiplies each channel's signal by ``weight`` (its Jacobian); the shift adds
    nothing to a backward signal.
    """

    num_features: int
    type: str = "affine"


@dataclass(frozen=True)
class GlobalPool:
    mode: str = "max"  # max | avg | avgmax (the two concatenated)
    type: str = "global_pool"


@dataclass(frozen=True)
class Flatten:
    type: str = "flatten"


@dataclass(frozen=True)
class Linear:
    in_features: int
    out_features: int
    type: str = "linear"


Block = Conv2d | ReLU | MaxPool2d | BatchNorm2d | Affine | GlobalPool | Flatten | Linear


@dataclass(frozen=True)
class LayerInfo:
    """One auralisable layer: a conv with the ReLU / affine / pooling after it (counted from 1)."""

    number: int
    name: str
    n_maps: int
    first_op: int
    last_op: int
    conv: Conv2d


def layers_of(body: Sequence[Block]) -> list[LayerInfo]:
    """Group the body into layers: each conv opens one; its ReLU/pooling belong to it."""
    starts = [i for i, b in enumerate(body) if isinstance(b, Conv2d)]
    layers = []
    for n, start in enumerate(starts, 1):
        end = (starts[n] if n < len(starts) else len(body)) - 1
        conv = body[start]
        assert isinstance(conv, Conv2d)
        layers.append(LayerInfo(n, f"conv{n}", conv.out_channels, start, end, conv))
    return layers
