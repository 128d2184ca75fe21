"""Any PyTorch network, traced with ``torch.fx`` and deconvolved by autograd (DESIGN 1, the autograd route).

What tracing buys over hooks (Captum's way, which silently gives functional and in-place ReLUs the plain
gradient): every ReLU in the graph is found and replaced, whatever its form:

- modules (``nn.ReLU``, in place or not), functions (``F.relu``, ``torch.relu``, ``F.relu(x, inplace=True)``,
  ``torch.relu_``), tensor methods (``x.relu()``, ``x.relu_()``) and ``clamp(min=0)``;
- an in-place ReLU whose result the code ignores (``F.relu_(x); return self.pool(x)``) is made explicit: later
  readers of ``x`` read the ReLU's output instead, as they did when it mutated ``x``.

Each becomes a :class:`~app.core.methods.RuleReLU`, so one recorded forward pass serves every method. Max-pool
switches come from autograd (the backward of max-pool routes to the argmax). A batch-norm right after a conv
is folded into it (the same arithmetic as the ``.safetensors`` writer, so the forward pass is bit-identical to
the explicit route's); anywhere else it stays, with a warning. What the deconvnet does not define — residual
sums, products of activations (attention, gating), activations other than ReLU, normalisation by the input's
own statistics, unknown operations — loads with a :class:`~app.core.errors.FidelityWarning` naming the
operation and the layers whose results it changes; ``strict=True`` refuses instead. A forward that ``torch.fx``
cannot trace (control flow on tensor values) is refused with :class:`~app.core.errors.UnsupportedModelError`.

Layers offered: each conv with the normalisation / activation / pooling that follows it (named after the conv,
like the explicit route's layers, so both give the same numbers), then activations outside such chains (e.g.
a ReLU after a residual sum), in graph order, counted from 1. Layers with 3-D outputs ``(B, C, T)`` (1-D
convs) are seen as ``(B, C, 1, T)``.

The package: ``operations`` (what each graph operation is), ``notes`` (the fidelity notes), ``recorder``
(running a graph node by node), ``network`` (:class:`TracedNetwork`), ``onnx_import`` (ONNX files as modules).
Its public names are the ones below.
"""

from __future__ import annotations

from app.core.traced.network import (
    DEFAULT_CHUNK_ELEMENTS,
    PROBE_SECONDS,
    GraphRecord,
    ReluSite,
    TracedLayer,
    TracedNetwork,
    describe_relus,
    fold_conv_batchnorm,
)
from app.core.traced.notes import FidelityNote
from app.core.traced.onnx_import import SUPPORTED_OPS, OnnxModule, load_onnx

__all__ = [
    "DEFAULT_CHUNK_ELEMENTS",
    "PROBE_SECONDS",
    "SUPPORTED_OPS",
    "FidelityNote",
    "GraphRecord",
    "OnnxModule",
    "ReluSite",
    "TracedLayer",
    "TracedNetwork",
    "describe_relus",
    "fold_conv_batchnorm",
    "load_onnx",
]
