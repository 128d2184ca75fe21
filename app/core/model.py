"""Model files: one ``.safetensors`` with the weights and a JSON description in its metadata (DESIGN 2).

Loading never unpickles anything: only safetensors is read, and a pickled checkpoint is refused by name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from app.core import limits
from app.core.architecture import (
    Affine,
    BatchNorm2d,
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
from app.core.audio import file_sha256
from app.core.batchnorm import BatchNormStatistics, fold_into_conv
from app.core.deconv import ForwardRecord, iter_deconvolve
from app.core.errors import ModelFormatError, first_line
from app.core.files import write_bytes
from app.core.formats import jsonio
from app.core.formats.model import ModelMetadata
from app.core.formats.schema import validate
from app.core.frontend import FrontEnd
from app.core.windowing import TimeGraph, TimeOp

FORMAT_NAME = "aurascope-model"
FORMAT_VERSION = 1
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "none")


_BODY_TYPES: dict[str, type] = {
    "conv2d": Conv2d,
    "relu": ReLU,
    "maxpool2d": MaxPool2d,
    "batchnorm2d": BatchNorm2d,
    "affine": Affine,
}
_HEAD_TYPES: dict[str, type] = {"global_pool": GlobalPool, "flatten": Flatten, "linear": Linear, "relu": ReLU}


@dataclass(frozen=True)
class ModelSpec:
    """Everything but the weights; ``body`` holds no batch-norm (folded)."""

    front_end: FrontEnd
    body: tuple[Block, ...]
    head: tuple[Block, ...] = ()
    head_input_frames: int | None = None
    output: str = "softmax"
    labels: tuple[str, ...] = ()
    task: str = ""
    name: str = ""
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "name": self.name,
                "task": self.task,
                "labels": list(self.labels),
                "front_end": self.front_end.to_dict(),
                "architecture": {
                    "body": [_block_dict(b) for b in self.body],
                    "head": [_block_dict(b) for b in self.head],
                    "head_input_frames": self.head_input_frames,
                    "output": self.output,
                },
                "provenance": dict(self.provenance),
            },
            sort_keys=True,
        )


def _block_dict(block: Block) -> dict[str, Any]:
    out: dict[str, Any] = {"type": block.type}
    for key, value in block.__dict__.items():
        if key != "type":
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


# --- the loaded model ----------------------------------------------------------------------------
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
        return min_input_frames(self.spec)

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


# --- validation ----------------------------------------------------------------------------------
def _int_pair(value: Any, field_name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        raise ModelFormatError(None, f"expected two non-negative integers, got {value!r}", field=field_name)
    return int(value[0]), int(value[1])


def _block_from_dict(data: Any, where: str, types: Mapping[str, type]) -> Block:
    if not isinstance(data, dict) or "type" not in data:
        raise ModelFormatError(None, "each block must be an object with a 'type'", field=where)
    kind = data["type"]
    if kind not in types:
        raise ModelFormatError(None, f"unknown block type {kind!r} (known: {sorted(types)})", field=where)
    params = {k: v for k, v in data.items() if k != "type"}
    try:
        if kind == "conv2d":
            block: Block = Conv2d(
                in_channels=_positive_int(params.pop("in_channels"), f"{where}.in_channels"),
                out_channels=_positive_int(params.pop("out_channels"), f"{where}.out_channels"),
                kernel_size=_int_pair(params.pop("kernel_size"), f"{where}.kernel_size"),
                stride=_int_pair(params.pop("stride", [1, 1]), f"{where}.stride"),
                padding=_int_pair(params.pop("padding", [0, 0]), f"{where}.padding"),
            )
            if min(block.kernel_size) < 1 or min(block.stride) < 1:
                raise ModelFormatError(None, "kernel and stride must be at least 1", field=where)
            _within(limits.MAX_MAPS, block.out_channels, f"{where}.out_channels", "its maps")
            _within(limits.MAX_MAPS, block.in_channels, f"{where}.in_channels", "its input channels")
            _within(limits.MAX_KERNEL, max(block.kernel_size), f"{where}.kernel_size", "its kernel")
            _within(limits.MAX_KERNEL, max(block.padding), f"{where}.padding", "its padding")
            _within(limits.MAX_KERNEL, max(block.stride), f"{where}.stride", "its stride")
        elif kind == "maxpool2d":
            kernel = _int_pair(params.pop("kernel_size"), f"{where}.kernel_size")
            stride = _int_pair(params.pop("stride", list(kernel)), f"{where}.stride")
            if min(kernel) < 1 or min(stride) < 1:
                raise ModelFormatError(None, "kernel and stride must be at least 1", field=where)
            _within(limits.MAX_KERNEL, max(kernel), f"{where}.kernel_size", "its kernel")
            _within(limits.MAX_KERNEL, max(stride), f"{where}.stride", "its stride")
            block = MaxPool2d(kernel, stride)
        elif kind == "batchnorm2d":
            block = BatchNorm2d(_positive_int(params.pop("num_features"), f"{where}.num_features"))
        elif kind == "affine":
            block = Affine(_positive_int(params.pop("num_features"), f"{where}.num_features"))
        elif kind == "global_pool":
            mode = params.pop("mode", "max")
            if mode not in ("max", "avg", "avgmax"):
                raise ModelFormatError(None, f"mode must be max, avg or avgmax, got {mode!r}", field=where)
            block = GlobalPool(mode)
        elif kind == "linear":
            block = Linear(
                _positive_int(params.pop("in_features"), f"{where}.in_features"),
                _positive_int(params.pop("out_features"), f"{where}.out_features"),
            )
            _within(limits.MAX_FEATURES, block.in_features, f"{where}.in_features", "its input")
            _within(limits.MAX_FEATURES, block.out_features, f"{where}.out_features", "its output")
        else:
            block = types[kind]()
    except KeyError as missing:
        raise ModelFormatError(None, f"missing key {missing}", field=where) from None
    if params:
        raise ModelFormatError(None, f"unknown key(s) {sorted(params)}", field=where)
    return block


def _within(limit: limits.Limit, value: int, field_name: str, what: str) -> None:
    """A declared size checked against a stated limit before anything is built from it."""
    reason = limit.problem(value, what)
    if reason is not None:
        raise ModelFormatError(None, reason, field=field_name)


def _positive_int(value: Any, field_name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ModelFormatError(None, f"expected a positive integer, got {value!r}", field=field_name)
    return value


def spec_from_json(text: str) -> ModelSpec:
    """Parse and validate the metadata JSON; errors name the field."""
    def fail(reason: str, where: str | None) -> ModelFormatError:
        return ModelFormatError(None, reason, field=where or "aurascope")

    # strict JSON from someone else: no NaN, no 5000-digit numbers, no 5000-deep nesting, no lone surrogates
    data = jsonio.loads(text, fail, damaged="metadata is not valid JSON")
    if not isinstance(data, dict):
        raise ModelFormatError(None, "metadata must be a JSON object", field="aurascope")
    if data.get("format") != FORMAT_NAME:
        raise ModelFormatError(None, f"expected {FORMAT_NAME!r}, got {data.get('format')!r}", field="format")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFormatError(None, f"expected a positive integer, got {version!r}", field="format_version")
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            None,
            f"written by a newer Aurascope (format {version}; this one reads {FORMAT_VERSION})",
            field="format_version",
        )
    validate(ModelMetadata, data, fail)  # the declared format (docs/formats/model-metadata.schema.json)
    front_end = FrontEnd.from_dict(data.get("front_end"))
    arch = data.get("architecture")
    if not isinstance(arch, dict):
        raise ModelFormatError(None, "must be a JSON object", field="architecture")
    body_data, head_data = arch.get("body"), arch.get("head", [])
    if not isinstance(body_data, list) or not body_data:
        raise ModelFormatError(None, "must be a non-empty list", field="architecture.body")
    if not isinstance(head_data, list):
        raise ModelFormatError(None, "must be a list", field="architecture.head")
    _within(limits.MAX_BLOCKS, len(body_data), "architecture.body", "the body")
    _within(limits.MAX_BLOCKS, len(head_data), "architecture.head", "the head")
    body = tuple(_block_from_dict(b, f"architecture.body[{i}]", _BODY_TYPES) for i, b in enumerate(body_data))
    if any(isinstance(b, BatchNorm2d) for b in body):
        raise ModelFormatError(None, "batch-norm must be folded into the conv", field="architecture.body")
    if not isinstance(body[0], Conv2d):
        raise ModelFormatError(None, "the body must start with a conv2d", field="architecture.body[0]")
    head = tuple(_block_from_dict(b, f"architecture.head[{i}]", _HEAD_TYPES) for i, b in enumerate(head_data))
    frames = arch.get("head_input_frames")
    if frames is not None:
        frames = _positive_int(frames, "architecture.head_input_frames")
    output = arch.get("output", "softmax")
    if output not in OUTPUT_ACTIVATIONS:
        raise ModelFormatError(
            None, f"expected one of {OUTPUT_ACTIVATIONS}, got {output!r}", field="architecture.output"
        )
    labels = data.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(s, str) for s in labels):
        raise ModelFormatError(None, "must be a list of strings", field="labels")
    provenance = data.get("provenance", {})
    if not isinstance(provenance, dict):
        raise ModelFormatError(None, "must be a JSON object", field="provenance")
    for key in ("task", "name"):
        if not isinstance(data.get(key, ""), str):
            raise ModelFormatError(None, "must be a string", field=key)
    spec = ModelSpec(
        front_end=front_end,
        body=body,
        head=head,
        head_input_frames=frames,
        output=output,
        labels=tuple(labels),
        task=data.get("task", ""),
        name=data.get("name", ""),
        provenance=provenance,
    )
    check_shapes(spec)
    return spec


def body_output_shape(spec: ModelSpec, n_frames: int) -> tuple[int, int, int]:
    """(C, H, W) after the body for an input of ``n_frames``; raises if the input is too small."""
    c, h, w = 1, spec.front_end.n_bins, n_frames
    for i, block in enumerate(spec.body):
        if isinstance(block, Conv2d):
            if block.in_channels != c:
                raise ModelFormatError(
                    None,
                    f"expects {block.in_channels} input channels, the block before gives {c}",
                    field=f"architecture.body[{i}].in_channels",
                )
            kh, kw = block.kernel_size
            h = (h + 2 * block.padding[0] - kh) // block.stride[0] + 1
            w = (w + 2 * block.padding[1] - kw) // block.stride[1] + 1
            c = block.out_channels
        elif isinstance(block, Affine) and block.num_features != c:
            raise ModelFormatError(
                None,
                f"has {block.num_features} channels, the block before gives {c}",
                field=f"architecture.body[{i}].num_features",
            )
        elif isinstance(block, MaxPool2d):
            h = (h - block.kernel_size[0]) // block.stride[0] + 1
            w = (w - block.kernel_size[1]) // block.stride[1] + 1
        if h < 1 or w < 1:
            raise ModelFormatError(
                None,
                f"the input ({spec.front_end.n_bins} bins x {n_frames} frames) shrinks to nothing here",
                field=f"architecture.body[{i}]",
            )
    return c, h, w


def min_input_frames(spec: ModelSpec) -> int:
    """Fewest input frames the body can take (shorter inputs shrink to nothing in some layer)."""
    for frames in range(1, 4097):
        try:
            body_output_shape(spec, frames)
            return frames
        except ModelFormatError:
            continue
    return 4096


def check_shapes(spec: ModelSpec) -> None:
    """Check channel counts through body and head; errors name the block."""
    c, h, w = body_output_shape(spec, spec.head_input_frames or min_input_frames(spec))
    features: int | None = None
    for j, block in enumerate(spec.head):
        where = f"architecture.head[{j}]"
        if isinstance(block, GlobalPool):
            features = c * (2 if block.mode == "avgmax" else 1)
        elif isinstance(block, Flatten):
            if spec.head_input_frames is None:
                raise ModelFormatError(None, "a flatten head needs head_input_frames", field=where)
            features = c * h * w
        elif isinstance(block, Linear):
            if features is None:
                raise ModelFormatError(None, "a linear block needs a global_pool or flatten before it", field=where)
            if block.in_features != features:
                raise ModelFormatError(
                    None,
                    f"in_features is {block.in_features}, the block before gives {features}",
                    field=f"{where}.in_features",
                )
            features = block.out_features
    if spec.labels and features is not None and len(spec.labels) != features:
        raise ModelFormatError(None, f"{len(spec.labels)} labels for {features} outputs", field="labels")


def expected_tensors(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Every tensor name the file must hold, with its shape."""
    shapes: dict[str, tuple[int, ...]] = {}
    for i, block in enumerate(spec.body):
        if isinstance(block, Conv2d):
            shapes[f"body.{i}.weight"] = (block.out_channels, block.in_channels, *block.kernel_size)
            shapes[f"body.{i}.bias"] = (block.out_channels,)
        elif isinstance(block, Affine):
            shapes[f"body.{i}.weight"] = shapes[f"body.{i}.bias"] = (block.num_features,)
    for j, block in enumerate(spec.head):
        if isinstance(block, Linear):
            shapes[f"head.{j}.weight"] = (block.out_features, block.in_features)
            shapes[f"head.{j}.bias"] = (block.out_features,)
    return shapes


def validate_weights(spec: ModelSpec, weights: Mapping[str, torch.Tensor], path: Path | None) -> None:
    expected = expected_tensors(spec)
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing:
        raise ModelFormatError(path, f"missing weight tensor(s) {missing}", field="weights")
    if extra:
        raise ModelFormatError(path, f"unexpected weight tensor(s) {extra}", field="weights")
    for name, shape in expected.items():
        tensor = weights[name]
        if tuple(tensor.shape) != shape:
            raise ModelFormatError(path, f"shape {tuple(tensor.shape)}, expected {shape}", field=f"weights.{name}")
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


# --- batch-norm folding and writing ----------------------------------------------------------------
def fold_batchnorm(
    body: Sequence[Block], weights: Mapping[str, torch.Tensor]
) -> tuple[tuple[Block, ...], dict[str, torch.Tensor]]:
    """Fold each ``batchnorm2d`` into the conv right before it; one after anything else becomes an ``affine``.

    A batch-norm block ``i`` reads ``body.i.weight``, ``.bias``, ``.running_mean``, ``.running_var``; in
    inference it is ``y = s·x + t`` with ``s = weight / sqrt(running_var + eps)``, ``t = bias - running_mean·s``
    (computed in float64, stored as float32). After a conv, ``s`` and ``t`` go into its weights and bias,
    exactly; after a ReLU (or a pool) they are kept as an :class:`Affine` block, since folding them further
    is not exact. Returns the body without batch-norm and the weights renumbered to the new block indices.
    """
    new_body: list[Block] = []
    out: dict[str, torch.Tensor] = {}
    for i, block in enumerate(body):
        if isinstance(block, BatchNorm2d):
            before = len(new_body) - 1
            if before < 0:
                raise ModelFormatError(None, "the body must start with a conv2d", field=f"architecture.body[{i}]")
            bn = BatchNormStatistics(
                mean=weights[f"body.{i}.running_mean"],
                var=weights[f"body.{i}.running_var"],
                eps=block.eps,
                gamma=weights[f"body.{i}.weight"],
                beta=weights[f"body.{i}.bias"],
            )
            if isinstance(new_body[before], Conv2d):
                out[f"body.{before}.weight"], out[f"body.{before}.bias"] = fold_into_conv(
                    out[f"body.{before}.weight"], out[f"body.{before}.bias"], bn
                )
            else:
                scale, shift = bn.scale_shift()
                new_body.append(Affine(block.num_features))
                out[f"body.{before + 1}.weight"] = scale.float()
                out[f"body.{before + 1}.bias"] = shift.float()
            continue
        new_body.append(block)
        if isinstance(block, Conv2d | Affine):
            n = len(new_body) - 1
            channels = block.out_channels if isinstance(block, Conv2d) else block.num_features
            out[f"body.{n}.weight"] = weights[f"body.{i}.weight"].float()
            bias = weights.get(f"body.{i}.bias")
            out[f"body.{n}.bias"] = bias.float() if bias is not None else torch.zeros(channels)
    for name, tensor in weights.items():
        if name.startswith("head."):
            out[name] = tensor.float()
    return tuple(new_body), out


def save_model(path: str | Path, spec: ModelSpec, weights: Mapping[str, torch.Tensor]) -> Path:
    """Fold batch-norm, validate, and write one ``.safetensors`` file with the JSON metadata."""
    from safetensors.torch import save

    body, folded = fold_batchnorm(spec.body, weights)
    spec = ModelSpec(**{**spec.__dict__, "body": body})
    check_shapes(spec)
    validate_weights(spec, folded, None)
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in folded.items()}
    write_bytes(path, save(tensors, metadata={"aurascope": spec.to_json()}))  # whole or not at all, umask mode
    return path


# --- reading ---------------------------------------------------------------------------------------
class FileKind(StrEnum):
    """What a model file's first bytes say it is."""

    SAFETENSORS = "safetensors"
    PICKLE = "pickle"
    TORCH_ZIP = "torch zip"
    UNKNOWN = "unknown"


def sniff_model_file(head: bytes, size: int) -> FileKind:
    """Tell a safetensors file from a pickle by structure, not by one byte.

    ``head``: the file's first 16 bytes or more; ``size``: its length in bytes. A safetensors file is an 8-byte
    little-endian header length ``n`` (2 <= n <= size - 8) then a JSON object, so ``{`` at offset 8. That is
    checked first: its length's low byte may well be 0x80, the byte a pickle starts with. A torch zip
    checkpoint starts with ``PK\x03\x04``; a pickle with PROTO (0x80) and a protocol from 2 to 5, or (protocol
    0 and 1) with a mark, an empty container or a GLOBAL opcode.
    """
    if len(head) >= 9 and head[8:9] == b"{":
        header_len = int.from_bytes(head[:8], "little")
        if 2 <= header_len <= size - 8:
            return FileKind.SAFETENSORS
    if head.startswith(b"PK\x03\x04"):
        return FileKind.TORCH_ZIP
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return FileKind.PICKLE
    if head[:1] in (b"(", b"}", b"]", b"\x80") or (head[:1] == b"c" and b"\n" in head[1:]):
        return FileKind.PICKLE
    return FileKind.UNKNOWN


def load_model(path: str | Path) -> Model:
    """Read a model file. Raises :class:`ModelFormatError` naming the file (and field) for anything else.

    Never unpickles: a PyTorch pickle/zip checkpoint is recognised and refused. The metadata's declared sizes
    (:mod:`app.core.limits`) and every tensor's declared name, shape and dtype are checked before a tensor is read.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(path, "no such file" if not path.exists() else "not a regular file")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(16)
    kind = sniff_model_file(head, size)
    if kind in (FileKind.PICKLE, FileKind.TORCH_ZIP):
        raise ModelFormatError(
            path,
            "this is a pickled PyTorch checkpoint; Aurascope never unpickles model files because unpickling can "
            "run code. Convert it to .safetensors with app.core.model.save_model",
        )
    if len(head) < 8:
        raise ModelFormatError(path, "the file is too short to be a safetensors file")
    if kind is not FileKind.SAFETENSORS:
        raise ModelFormatError(path, "not a safetensors file (its header length is impossible)")
    header_len = int.from_bytes(head[:8], "little")
    reason = limits.MAX_METADATA_BYTES.problem(header_len, "its header")
    if reason is not None:
        raise ModelFormatError(path, reason)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as reader:
            metadata = reader.metadata() or {}
            if "aurascope" not in metadata:
                raise ModelFormatError(
                    path, "a safetensors file without Aurascope metadata (no 'aurascope' key)", field="aurascope"
                )
            spec = spec_from_json(metadata["aurascope"])
            declared = {}
            for name in reader.keys():  # noqa: SIM118
                tensor_slice = reader.get_slice(name)
                declared[name] = (tuple(tensor_slice.get_shape()), tensor_slice.get_dtype())
            _check_declared(spec, declared)
            weights = {name: reader.get_tensor(name) for name in declared}
    except ModelFormatError as err:
        raise ModelFormatError(path, err.reason, field=err.field) from None
    except Exception as err:
        raise ModelFormatError(path, f"not a readable safetensors file ({first_line(err)})") from None
    try:
        return Model(spec, weights, path=path.resolve(), sha256=file_sha256(path))
    except ModelFormatError as err:
        raise ModelFormatError(path, err.reason, field=err.field) from None


def _check_declared(spec: ModelSpec, declared: Mapping[str, tuple[tuple[int, ...], str]]) -> None:
    """The tensors a file declares (name -> (shape, safetensors dtype)) against the spec, before reading any."""
    expected = expected_tensors(spec)
    missing = sorted(set(expected) - set(declared))
    extra = sorted(set(declared) - set(expected))
    if missing:
        raise ModelFormatError(None, f"missing weight tensor(s) {missing}", field="weights")
    if extra:
        raise ModelFormatError(None, f"unexpected weight tensor(s) {extra}", field="weights")
    for name, shape in expected.items():
        got, dtype = declared[name]
        if got != shape:
            raise ModelFormatError(None, f"shape {got}, expected {shape}", field=f"weights.{name}")
        require_floating(dtype, name, None)


def choi2015_spec(
    n_maps: int = 64,
    n_layers: int = 5,
    labels: Sequence[str] = (),
    head_input_frames: int | None = 173,
    batchnorm: bool = False,
    front_end: FrontEnd | None = None,
) -> ModelSpec:
    """The 2015 "vggnet5" body: n_layers x [3x3 conv 'same' -> (BN) -> ReLU -> 2x2 max-pool], global-max head."""
    body: list[Block] = []
    channels = 1
    for _ in range(n_layers):
        body.append(Conv2d(channels, n_maps, (3, 3), (1, 1), (1, 1)))
        if batchnorm:
            body.append(BatchNorm2d(n_maps))
        body += [ReLU(), MaxPool2d((2, 2), (2, 2))]
        channels = n_maps
    head: tuple[Block, ...] = (GlobalPool("max"), Linear(n_maps, len(labels))) if labels else ()
    return ModelSpec(
        front_end=front_end or FrontEnd(),
        body=tuple(body),
        head=head,
        head_input_frames=head_input_frames,
        labels=tuple(labels),
        name="vggnet5",
    )


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
