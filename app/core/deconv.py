"""The deconvnet (Zeiler & Fergus 2014) as used by Choi et al. 2015, two ways that give the same numbers.

Explicit route (:func:`deconvolve`): from layer L's output, keep map k with its own activations, then go
down: unpool to the forward pass's switches -> ReLU on the signal -> transposed conv (same weights, no
bias). All requested maps form one batch: the seeds are ``(K, C_L, H_L, W_L)`` in principle, but since
each holds one map, the layer's own ops run on one channel per seed and its transposed conv needs only
map k's kernel slice (a grouped conv). Switches are shared by the batch.

Autograd route (:func:`deconvolve_autograd`): the same as autograd's backward of the chosen map when every
ReLU's backward is replaced by ``relu(grad_output)`` and the backward is seeded with ``mask * activation``.

Two things the 2015 network did not have, both exact on the explicit route:

- Overlapping pools (musicnn's 4x1 pool with stride 2x2): two windows can share their argmax, so unpooling
  adds the values that land on one position (scatter-add), as max-pool's backward does.
- Batch-norm after a ReLU (an :class:`~app.core.architecture.Affine` block, ``y = s·x + t`` per channel): its
  Jacobian is ``diag(s)``, so on the way down the signal of channel c is multiplied by ``s_c`` and ``t``
  plays no part (the switches and the seed's activations already carry it). The product comes before the
  ReLU rule below it, so a negative ``s_c`` flips which half of the signal that rule keeps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from app.core.architecture import Affine, Conv2d, MaxPool2d, ReLU
from app.core.errors import SelectionError

if TYPE_CHECKING:  # the model calls this module; naming its class at run time would close a cycle
    from app.core.model import Model

# Working-set budget per chunk in float32 elements; chosen from bench/deconv.py on a 2-core CPU.
DEFAULT_CHUNK_ELEMENTS = 6_000_000


@dataclass
class ForwardRecord:
    """One forward pass of the body with what the deconvnet needs.

    ``outputs[i]``: output of body op ``i`` for layer-closing ops (``[shape=(1, C, H, W)]``);
    ``switches[i]``: max-pool argmax indices of op ``i``; ``input_sizes[i]``: (H, W) entering op ``i``.
    """

    input: torch.Tensor
    outputs: dict[int, torch.Tensor]
    switches: dict[int, torch.Tensor]
    input_sizes: dict[int, tuple[int, int]]


def check_features(model: Model, layer: int, features: Sequence[int]) -> list[int]:
    n_maps = model.layer(layer).n_maps
    bad = [k for k in features if not 0 <= k < n_maps]
    if bad:
        raise SelectionError(f"feature {bad[0]} is out of range: layer {layer} has features 0-{n_maps - 1}")
    return list(features)


def _unpool(x: torch.Tensor, switches: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Put each value back at its switch, zeros elsewhere: ``(B, C, h, w)`` -> ``(B, C, *size)``.

    Values whose windows overlap on one switch are added (scatter-add), as max-pool's backward adds them.
    """
    b, c = x.shape[:2]
    out = x.new_zeros(b, c, size[0] * size[1])
    idx = switches.reshape(switches.shape[0], c, -1)
    out.scatter_add_(2, idx.expand(b, -1, -1), x.reshape(b, c, -1))
    return out.view(b, c, *size)


def _transposed_conv(
    x: torch.Tensor, weight: torch.Tensor, block: Conv2d, out_size: tuple[int, int], groups: int = 1
) -> torch.Tensor:
    """The conv's adjoint (no bias): ``(B, C_out, h, w)`` -> ``(B, C_in, *out_size)``."""
    if groups == 1 and block.stride == (1, 1) and block.in_channels * weight.shape[-2] * weight.shape[-1] <= 32:
        return _transposed_conv_by_taps(x, weight, block.padding, out_size)
    h = (x.shape[-2] - 1) * block.stride[0] - 2 * block.padding[0] + weight.shape[-2]
    w = (x.shape[-1] - 1) * block.stride[1] - 2 * block.padding[1] + weight.shape[-1]
    extra = (out_size[0] - h, out_size[1] - w)
    kh, kw = weight.shape[-2:]
    ph, pw = block.padding
    if block.stride == (1, 1) and extra == (0, 0) and ph < kh and pw < kw:
        # stride 1: the adjoint is a correlation with the flipped kernel. PyTorch's conv_transpose2d from one
        # channel per group (a seed's map) takes a slow unvectorised path: 55-140 ms for 1 -> 128 channels at
        # 48x314 (musicnn's layer 2) where oneDNN's conv2d takes 4-16 ms; never slower on the other layers
        gm, c_in = weight.shape[:2]
        m = gm // groups
        flipped = weight.reshape(groups, m, c_in, kh, kw).transpose(1, 2).reshape(groups * c_in, m, kh, kw)
        return F.conv2d(x, flipped.flip(-2, -1), None, 1, (kh - 1 - ph, kw - 1 - pw), 1, groups)
    return F.conv_transpose2d(x, weight, None, block.stride, block.padding, extra, groups)


def _transposed_conv_by_taps(
    x: torch.Tensor, weight: torch.Tensor, padding: tuple[int, int], out_size: tuple[int, int]
) -> torch.Tensor:
    """Stride-1 transposed conv to few channels as one GEMM over kernel taps plus shifted adds.

    Many-to-one channel convs at full resolution run at ~2 GFLOP/s in oneDNN here, the GEMM at ~25
    (bench/deconv.py); the first layer's 64 -> 1 adjoint is the dominant cost of every deconvolution.
    """
    b, c_out, h, w = x.shape
    _, c_in, kh, kw = weight.shape
    taps = torch.matmul(weight.reshape(c_out, c_in * kh * kw).T, x.reshape(b, c_out, h * w))
    taps = taps.reshape(b, c_in, kh, kw, h, w)
    ph, pw = padding
    full = x.new_zeros(b, c_in, max(h + kh - 1, out_size[0] + ph), max(w + kw - 1, out_size[1] + pw))
    for i in range(kh):
        for j in range(kw):
            full[:, :, i : i + h, j : j + w] += taps[:, :, i, j]
    return full[:, :, ph : ph + out_size[0], pw : pw + out_size[1]]


def layer_chunk_size(model: Model, record: ForwardRecord, layer: int, budget: int = DEFAULT_CHUNK_ELEMENTS) -> int:
    """Maps per batch so that the largest intermediate of one chunk stays within ``budget`` elements."""
    info = model.layer(layer)
    largest = 1
    for i in range(info.first_op + 1):
        block = model.spec.body[i]
        if isinstance(block, Conv2d):  # the unpooled signal entering each transposed conv
            channels = 1 if i == info.first_op else block.out_channels
            largest = max(largest, channels * record.input_sizes[i][0] * record.input_sizes[i][1])
    return max(1, budget // largest)


def iter_deconvolve(
    model: Model,
    record: ForwardRecord,
    layer: int,
    features: Sequence[int] | None = None,
    *,
    chunk: int | None = None,
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Yield ``(features, D)`` chunk by chunk, ``D`` ``[shape=(k, n_bins, n_frames)]`` in the input domain."""
    info = model.layer(layer)
    feats = check_features(model, layer, range(info.n_maps) if features is None else features)
    if info.last_op not in record.outputs:
        raise SelectionError(f"the forward pass was not run up to layer {layer}")
    chunk = chunk or layer_chunk_size(model, record, layer)
    for start in range(0, len(feats), chunk):
        part = feats[start : start + chunk]
        yield part, _deconvolve_chunk(model, record, info.first_op, info.last_op, part)


def deconvolve(
    model: Model,
    record: ForwardRecord,
    layer: int,
    features: Sequence[int] | None = None,
    *,
    chunk: int | None = None,
) -> torch.Tensor:
    """Deconvolve maps of ``layer`` (default: all) to the input: ``[shape=(K, n_bins, n_frames)]``."""
    parts = [d for _, d in iter_deconvolve(model, record, layer, features, chunk=chunk)]
    return torch.cat(parts, dim=0)


@torch.no_grad()
def _deconvolve_chunk(
    model: Model, record: ForwardRecord, first_op: int, last_op: int, features: list[int]
) -> torch.Tensor:
    body = model.spec.body
    ks = torch.tensor(features, device=record.input.device)
    # single-channel phase: layer L's own ops, one channel (its map) per seed
    x = record.outputs[last_op][0, ks].unsqueeze(1).clone()  # (K, 1, h, w)
    for i in range(last_op, first_op, -1):
        block = body[i]
        if isinstance(block, MaxPool2d):
            x = _unpool(x, record.switches[i][0, ks].unsqueeze(1), record.input_sizes[i])
        elif isinstance(block, ReLU):
            x.clamp_(min=0)
        elif isinstance(block, Affine):
            x = x * model.weights[f"body.{i}.weight"][ks].view(-1, 1, 1, 1)
    conv = body[first_op]
    assert isinstance(conv, Conv2d)
    k = len(features)
    weight = model.conv_weight(first_op)[ks]  # (K, C_in, kh, kw): map k's kernel slice only
    x = _transposed_conv(x.reshape(1, k, *x.shape[-2:]), weight, conv, record.input_sizes[first_op], groups=k)
    x = x.reshape(k, conv.in_channels, *x.shape[-2:])
    # full-channel phase: every layer below, switches shared by the batch
    scaled_before_unpool = -1
    for i in range(first_op - 1, -1, -1):
        block = body[i]
        if isinstance(block, MaxPool2d):
            if i > 0 and isinstance(body[i - 1], Affine):
                # unpooling is linear, so an affine's scale can go first, on the pooled (4x smaller) signal
                x = x * model.weights[f"body.{i - 1}.weight"].view(1, -1, 1, 1)
                scaled_before_unpool = i - 1
            x = _unpool(x, record.switches[i], record.input_sizes[i])
        elif isinstance(block, ReLU):
            x.clamp_(min=0)
        elif isinstance(block, Affine) and i != scaled_before_unpool:
            x = x * model.weights[f"body.{i}.weight"].view(1, -1, 1, 1)
        elif isinstance(block, Conv2d):
            x = _transposed_conv(x, model.conv_weight(i), block, record.input_sizes[i])
    return x[:, 0]


# --- the autograd-rule route ------------------------------------------------------------------------
class DeconvReLU(torch.autograd.Function):
    """ReLU forward; backward rectifies the incoming signal itself (the deconvnet rule)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return F.relu(grad)


def deconvolve_autograd(model: Model, x: torch.Tensor, layer: int, features: Sequence[int]) -> torch.Tensor:
    """Reference route: autograd with the deconvnet ReLU rule, one backward per map.

    ``x`` ``[shape=(1, 1, n_bins, n_frames)]``; returns ``[shape=(K, n_bins, n_frames)]``.
    """
    info = model.layer(layer)
    feats = check_features(model, layer, features)
    with torch.enable_grad():
        inp = x.detach().clone().requires_grad_(True)
        h = inp
        for i, block in enumerate(model.spec.body[: info.last_op + 1]):
            if isinstance(block, Conv2d):
                h = F.conv2d(h, model.conv_weight(i), model.weights[f"body.{i}.bias"], block.stride, block.padding)
            elif isinstance(block, ReLU):
                h = DeconvReLU.apply(h)
            elif isinstance(block, MaxPool2d):
                h = F.max_pool2d(h, block.kernel_size, block.stride)
            elif isinstance(block, Affine):
                h = h * model.weights[f"body.{i}.weight"].view(1, -1, 1, 1) + model.weights[f"body.{i}.bias"].view(
                    1, -1, 1, 1
                )
        out = []
        for k in feats:
            seed = torch.zeros_like(h)
            seed[:, k] = h[:, k].detach()
            (grad,) = torch.autograd.grad(h, inp, seed, retain_graph=True)
            out.append(grad[0, 0])
    return torch.stack(out)
