"""The model RUNTIME: a spec with its weights as torch tensors, the forward pass with the max-pool switches recorded
for the deconvnet, the head, and a plain ``nn`` copy of the body.

The spec is :mod:`app.core.model_spec`; reading and writing model files is :mod:`app.core.model`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from app.core.architecture import (
    Affine,
    Block,
    Conv2d,
    Flatten,
    GlobalPool,
    LayerInfo,
    Linear,
    MaxPool2d,
    ReLU,
    layers_of,
)
from app.core.deconv import ForwardRecord, iter_deconvolve
from app.core.errors import ModelFormatError
from app.core.frontend import FrontEnd
from app.core.model_spec import ModelSpec, check_tensor_shapes, expected_tensors, min_input_frames
from app.core.windowing import TimeGraph, TimeOp


class Model:
    """A model read from (or about to be written to) a file: spec + weights, BN already folded."""

    def __init__(
        self,
        spec: ModelSpec,
        weights: Mapping[str, torch.Tensor],
        *,
        path: Path | None = None,
        sha256: str | None = None,
    ) -> None:
        self.spec = spec
        for name, tensor in weights.items():  # before the cast below, which would turn int8 or bool into floats
            require_floating(tensor.dtype, name, path)
        self.weights = {k: v.detach().float().contiguous() for k, v in weights.items()}
        self.path = path
        self.sha256 = sha256
        self.layers = layers_of(spec.body)
        self.device = torch.device("cpu")
        self._min_frames: int | None = None  # min_input_frames, worked out once (the spec is fixed)
        validate_weights(spec, self.weights, path)  # after the cast too: float64 weights may overflow float32

    @property
    def front_end(self) -> FrontEnd:
        return self.spec.front_end

    @property
    def name(self) -> str:
        return self.spec.name or (self.path.stem if self.path else "model")

    def to(self, device: torch.device | str) -> Model:
        self.device = torch.device(device)
        self.weights = {k: v.to(self.device) for k, v in self.weights.items()}
        return self

    def layer(self, number: int) -> LayerInfo:
        from app.core.errors import SelectionError

        if not 1 <= number <= len(self.layers):
            raise SelectionError(f"layer {number} is out of range: the model has layers 1-{len(self.layers)}")
        return self.layers[number - 1]

    def conv_weight(self, op: int) -> torch.Tensor:
        return self.weights[f"body.{op}.weight"]

    @torch.no_grad()
    def forward_record(self, x: torch.Tensor, up_to_layer: int | None = None) -> ForwardRecord:
        """Run the body on ``x`` ``[shape=(1, 1, n_bins, n_frames)]``, keeping layer outputs and switches."""
        last = self.layer(up_to_layer).last_op if up_to_layer else len(self.spec.body) - 1
        closing = {layer.last_op for layer in self.layers}
        record = ForwardRecord(input=x, outputs={}, switches={}, input_sizes={})
        h = x
        for i, block in enumerate(self.spec.body[: last + 1]):
            record.input_sizes[i] = (h.shape[-2], h.shape[-1])
            if isinstance(block, MaxPool2d):
                h, record.switches[i] = F.max_pool2d(h, block.kernel_size, block.stride, return_indices=True)
            else:
                h = self._apply_body_op(i, block, h)
            if i in closing:
                record.outputs[i] = h
        return record

    def _apply_body_op(self, i: int, block: Block, h: torch.Tensor) -> torch.Tensor:
        if isinstance(block, Conv2d):
            return F.conv2d(
                h, self.weights[f"body.{i}.weight"], self.weights[f"body.{i}.bias"], block.stride, block.padding
            )
        if isinstance(block, ReLU):
            return F.relu(h)
        if isinstance(block, MaxPool2d):
            return F.max_pool2d(h, block.kernel_size, block.stride)
        if isinstance(block, Affine):
            weight, bias = self.weights[f"body.{i}.weight"], self.weights[f"body.{i}.bias"]
            return h * weight[:, None, None] + bias[:, None, None]
        raise ModelFormatError(self.path, f"unsupported body block {block.type}", field="architecture.body")

    def body(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.spec.body):
            x = self._apply_body_op(i, block, x)
        return x

    def head(self, h: torch.Tensor) -> torch.Tensor:
        for j, block in enumerate(self.spec.head):
            if isinstance(block, GlobalPool):
                if block.mode == "max":
                    h = h.amax(dim=(-2, -1))
                elif block.mode == "avg":
                    h = h.mean(dim=(-2, -1))
                else:  # avgmax: the two concatenated, avg first
                    h = torch.cat([h.mean(dim=(-2, -1)), h.amax(dim=(-2, -1))], dim=1)
            elif isinstance(block, Flatten):
                h = h.flatten(1)
            elif isinstance(block, Linear):
                h = F.linear(h, self.weights[f"head.{j}.weight"], self.weights[f"head.{j}.bias"])
            elif isinstance(block, ReLU):
                h = F.relu(h)
        return h

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Body + head on a batch of inputs ``[shape=(B, 1, n_bins, n_frames)]`` -> ``(B, n_outputs)``."""
        return self.head(self.body(x))

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        if self.spec.output == "softmax":
            return torch.softmax(logits, dim=-1)
        if self.spec.output == "sigmoid":
            return torch.sigmoid(logits)
        return logits

    # --- what every kind of network offers (app.core.sources.Network; TracedNetwork has the same) ----------
    @property
    def labels(self) -> tuple[str, ...]:
        return self.spec.labels

    @property
    def output(self) -> str:
        return self.spec.output

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def head_input_frames(self) -> int | None:
        return self.spec.head_input_frames

    @property
    def has_head(self) -> bool:
        return bool(self.spec.head)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Nothing to warn about: our format holds only what the deconvnet defines."""
        return ()

    @property
    def kind(self) -> str:
        return "safetensors"

    def min_input_frames(self) -> int:
        # every clip's analysis asks (its length check, its memory estimate): the search over lengths runs once
        if self._min_frames is None:
            self._min_frames = min_input_frames(self.spec)
        return self._min_frames

    def kernels(self, number: int) -> torch.Tensor:
        """Layer ``number``'s conv weights ``[shape=(n_maps, C_in, kh, kw)]``."""
        return self.conv_weight(self.layer(number).first_op)

    def strides(self, number: int) -> tuple[int, int]:
        """(frequency, time) input bins per output cell of layer ``number``."""
        f = t = 1
        for block in self.spec.body[: self.layer(number).last_op + 1]:
            if isinstance(block, Conv2d | MaxPool2d):
                f, t = f * block.stride[0], t * block.stride[1]
        return f, t

    def time_graph(self, number: int) -> TimeGraph:
        """Layer ``number`` seen along time (kernels, strides, padding of each op up to it), for exact windows."""
        ops = []
        for block in self.spec.body[: self.layer(number).last_op + 1]:
            if isinstance(block, Conv2d):
                ops.append(TimeOp(block.kernel_size[1], block.stride[1], block.padding[1]))
            elif isinstance(block, MaxPool2d):
                ops.append(TimeOp(block.kernel_size[1], block.stride[1]))
            else:
                ops.append(TimeOp())
        return TimeGraph.chain(ops)

    def layer_output(self, record: ForwardRecord, layer: int) -> torch.Tensor:
        """Layer ``layer``'s output ``[shape=(1, C, H, W)]``."""
        return record.outputs[self.layer(layer).last_op]

    def iter_attribute(
        self,
        record: ForwardRecord,
        layer: int,
        features: Sequence[int] | None = None,
        *,
        method: str = "deconvnet",
        chunk: int | None = None,
    ):
        """The explicit batched deconvnet (``method`` must be ``deconvnet``; Analysis runs the others by autograd)."""
        if method != "deconvnet":
            raise ValueError(f"the explicit route computes the deconvnet only, not {method!r}")
        return iter_deconvolve(self, record, layer, features, chunk=chunk)


def to_torch_module(model: Model) -> torch.nn.Sequential:
    """The body as plain ``nn`` modules (ReLU as modules, as Captum and ONNX export need)."""
    from torch import nn

    modules: list[nn.Module] = []
    for i, block in enumerate(model.spec.body):
        if isinstance(block, Conv2d):
            conv = nn.Conv2d(block.in_channels, block.out_channels, block.kernel_size, block.stride, block.padding)
            conv.weight.data = model.conv_weight(i).detach().clone()
            conv.bias.data = model.weights[f"body.{i}.bias"].detach().clone()
            modules.append(conv)
        elif isinstance(block, ReLU):
            modules.append(nn.ReLU())
        elif isinstance(block, MaxPool2d):
            modules.append(nn.MaxPool2d(block.kernel_size, block.stride))
        elif isinstance(block, Affine):
            # an eval-mode batch-norm with mean 0, variance 1 and eps 0 is exactly weight·x + bias
            affine = nn.BatchNorm2d(block.num_features, eps=0.0)
            affine.weight.data = model.weights[f"body.{i}.weight"].detach().clone()
            affine.bias.data = model.weights[f"body.{i}.bias"].detach().clone()
            modules.append(affine)
    return nn.Sequential(*modules).to(model.device).eval()


def random_weights(spec: ModelSpec, seed: int = 0) -> dict[str, torch.Tensor]:
    """He-initialised weights for every tensor of a spec (benchmarks and tests)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in expected_tensors(spec).items():
        if name.endswith("bias"):
            out[name] = 0.01 * torch.randn(shape, generator=gen)
        else:
            fan_in = math.prod(shape[1:])
            out[name] = torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan_in)
    return out


def validate_weights(spec: ModelSpec, weights: Mapping[str, torch.Tensor], path: Path | None) -> None:
    check_tensor_shapes(spec, {name: tuple(t.shape) for name, t in weights.items()}, path)
    for name in expected_tensors(spec):
        tensor = weights[name]
        require_floating(tensor.dtype, name, path)
        if not bool(torch.isfinite(tensor).all()):
            raise ModelFormatError(path, "holds NaN or infinite values", field=f"weights.{name}")


def require_floating(dtype: torch.dtype | str, name: str, path: Path | None) -> None:
    """Only floating-point weights load: int8, uint8, int64 or bool tensors are refused, never cast.

    ``dtype``: a torch dtype or a safetensors dtype code (``F32``, ``I8``, ``BOOL``...).
    """
    floating = dtype.is_floating_point if isinstance(dtype, torch.dtype) else str(dtype).upper().startswith(("F", "BF"))
    if not floating:
        shown = str(dtype).removeprefix("torch.")
        raise ModelFormatError(
            path,
            f"dtype {shown} is not floating point (only float16/bfloat16/float32/float64 weights load)",
            field=f"weights.{name}",
        )
