"""The model SPEC: everything a model is but its weights and its torch code, as plain values (DESIGN 2): the front
end, the body and head blocks (:mod:`app.core.architecture`), labels and provenance; its JSON text for a model
file's metadata; the shape checks across blocks. No torch is imported here.

The model FILE (safetensors read and write) is :mod:`app.core.model`, the model RUNTIME (the forward pass in
torch) :mod:`app.core.model_runtime`; the metadata's declared format is :mod:`app.core.formats.model`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.architecture import (
    Affine,
    BatchNorm2d,
    Block,
    Conv2d,
    Flatten,
    GlobalPool,
    Linear,
    MaxPool2d,
    ReLU,
)
from app.core.errors import ModelFormatError
from app.core.formats import jsonio
from app.core.formats.frontend import declared_keys
from app.core.formats.model import BodyBlock, HeadBlock, MaxPool2dBlock, ModelMetadata
from app.core.formats.schema import validate
from app.core.frontend import FrontEnd

FORMAT_NAME = "aurascope-model"
FORMAT_VERSION = 1
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "none")


_BLOCK_TYPES: dict[str, Callable[..., Block]] = {
    "conv2d": Conv2d,
    "relu": ReLU,
    "maxpool2d": MaxPool2d,
    "batchnorm2d": BatchNorm2d,
    "affine": Affine,
    "global_pool": GlobalPool,
    "flatten": Flatten,
    "linear": Linear,
}


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
    provenance: Mapping[str, Any] = field(default_factory=dict)  # how it was trained: free-form JSON

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


def _block_dict(block: Block) -> dict[str, object]:  # its fields as JSON: numbers, flags, names, lists
    out: dict[str, object] = {"type": block.type}
    for key, value in block.__dict__.items():
        if key != "type":
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


# --- reading ------------------------------------------------------------------------------------
def _block(declared: BodyBlock | HeadBlock) -> Block:
    """A validated block (app.core.formats.model, limits included) as the plain value the runtime builds on."""
    params = declared.model_dump(exclude={"type"})
    if isinstance(declared, MaxPool2dBlock) and declared.stride is None:
        params["stride"] = declared.kernel_size  # a pool's stride defaults to its kernel, as torch's
    return _BLOCK_TYPES[declared.type](**params)


def spec_from_json(text: str) -> ModelSpec:
    """Parse and validate the metadata JSON (once, by its declaration); errors name the field."""

    def fail(reason: str, where: str | None) -> ModelFormatError:
        return ModelFormatError(None, reason, field=where or "aurascope")

    # strict JSON from someone else: no NaN, no 5000-digit numbers, no 5000-deep nesting, no lone surrogates
    data = jsonio.loads(text, fail, damaged="metadata is not valid JSON")
    if not isinstance(data, dict):
        raise ModelFormatError(None, "metadata must be a JSON object", field="aurascope")
    # the format and its version first: a newer file's other keys are not this reader's to judge
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
    meta = validate(ModelMetadata, data, fail)  # the declared format (docs/formats/model-metadata.schema.json)
    front_end = FrontEnd.from_keys(*declared_keys(meta.front_end))
    arch = meta.architecture
    body = tuple(_block(b) for b in arch.body)
    if any(isinstance(b, BatchNorm2d) for b in body):
        raise ModelFormatError(None, "batch-norm must be folded into the conv", field="architecture.body")
    if not isinstance(body[0], Conv2d):
        raise ModelFormatError(None, "the body must start with a conv2d", field="architecture.body[0]")
    spec = ModelSpec(
        front_end=front_end,
        body=body,
        head=tuple(_block(b) for b in arch.head),
        head_input_frames=arch.head_input_frames,
        output=arch.output,
        labels=tuple(meta.labels),
        task=meta.task,
        name=meta.name,
        provenance=meta.provenance,
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


def check_tensor_shapes(spec: ModelSpec, shapes: Mapping[str, tuple[int, ...]], path: Path | None) -> None:
    """The tensors a file holds or declares (name -> shape) against the spec: none missing, none extra, each of
    its shape; errors name the tensor (``weights.body.0.weight``)."""
    expected = expected_tensors(spec)
    missing = sorted(set(expected) - set(shapes))
    extra = sorted(set(shapes) - set(expected))
    if missing:
        raise ModelFormatError(path, f"missing weight tensor(s) {missing}", field="weights")
    if extra:
        raise ModelFormatError(path, f"unexpected weight tensor(s) {extra}", field="weights")
    for name, shape in expected.items():
        if tuple(shapes[name]) != shape:
            raise ModelFormatError(path, f"shape {tuple(shapes[name])}, expected {shape}", field=f"weights.{name}")


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
