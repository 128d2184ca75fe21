"""Attribution methods: what a ReLU does to the signal on the way down, and the batched backward pass.

All three start from the same seed, map k of layer L with its own activation values (the gradient of
``0.5 * sum(a_k ** 2)``), and differ only at each ReLU, where ``g`` is the signal coming down and ``x`` the
ReLU's forward input:

- ``deconvnet`` (Zeiler & Fergus, Choi et al.): ``relu(g)``, the signal rectified, the forward sign ignored;
- ``guided-backprop`` (Springenberg et al. 2015): ``relu(g) * (x > 0)``, gated by both signs;
- ``gradient`` (saliency, Simonyan et al. 2014): ``g * (x > 0)``, the plain gradient, nothing rectified.

Max-pools route the signal to their switches under every method. A network's ReLUs are replaced by
:class:`RuleReLU` modules that share one :class:`ReluRule`, so one recorded forward pass serves every method:
the rule is read when the backward pass runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from app.core.types import Method


class ReluRule:
    """The method every :class:`RuleReLU` of one network applies in the next backward pass."""

    def __init__(self, method: Method = Method.DECONVNET) -> None:
        self.method = Method(method)


class _RuleReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, rule: ReluRule) -> torch.Tensor:
        out = F.relu(x)
        ctx.rule = rule
        ctx.save_for_backward(out > 0)  # one byte per element: the forward sign guided/gradient need
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (on,) = ctx.saved_tensors
        method = ctx.rule.method
        if method is Method.DECONVNET:
            return F.relu(grad), None
        if method is Method.GUIDED_BACKPROP:
            return F.relu(grad) * on, None
        return grad * on, None


class RuleReLU(nn.Module):
    """A ReLU whose backward pass follows the shared :class:`ReluRule`; ``origin`` names the ReLU it replaced."""

    def __init__(self, rule: ReluRule, origin: str = "") -> None:
        super().__init__()
        self.rule = rule
        self.origin = origin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RuleReLUFunction.apply(x, self.rule)

    def extra_repr(self) -> str:
        return f"origin={self.origin!r}"


def batched_backward(
    output: torch.Tensor,
    inp: torch.Tensor,
    features: Sequence[int],
    chunk: int,
    *,
    batched: bool = False,
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Backward passes from maps ``features`` of ``output`` ``[shape=(1, C, ...)]`` to ``inp`` ``(1, 1, F, T)``.

    Each seed keeps one map with its own activations; results come ``chunk`` maps at a time. By default one
    backward pass per map: ``batched=True`` puts a chunk's seeds in one pass (``is_grads_batched``), but in
    torch 2.13 that runs the legacy vmap, which has no batching rule for ``convolution_backward`` and
    ``max_pool2d_with_indices_backward`` and loops over the seeds itself: it measured about 2x slower than
    the plain loop on 16- and 64-map Choi models (bench/traced.py), so it stays an option for the benchmark.
    Yields ``(features, D)`` with ``D`` ``[shape=(k, F, T)]``.
    """
    value = output.detach()
    feats = list(features)
    for start in range(0, len(feats), max(1, chunk)):
        part = feats[start : start + max(1, chunk)]
        seeds = value.new_zeros(len(part), *value.shape)
        rows = torch.arange(len(part), device=value.device)
        index = torch.tensor(part, device=value.device)
        seeds[rows, 0, index] = value[0, index]
        if batched and len(part) > 1:
            (grad,) = torch.autograd.grad(output, inp, seeds, retain_graph=True, is_grads_batched=True)
        else:
            grad = torch.stack([torch.autograd.grad(output, inp, s, retain_graph=True)[0] for s in seeds])
        yield part, grad[:, 0, 0]
