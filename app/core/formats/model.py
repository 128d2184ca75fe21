"""A model file's metadata: the JSON string under the ``aurascope`` key of a ``.safetensors`` header (DESIGN 2).

The model SPEC in memory is :class:`app.core.model.ModelSpec` with the blocks of :mod:`app.core.architecture`; the
model RUNTIME is the torch code in :mod:`app.core.model` and :mod:`app.core.deconv`; this is the model FILE's
metadata format, with the stated limits (:mod:`app.core.limits`, read when a file is validated, so their environment
variables apply) declared on the fields they bound. Shapes that span blocks (a conv's in_channels against the
previous out_channels) and the weights are checked by :func:`app.core.model.spec_from_json` and
:func:`app.core.model.load_model` after this declaration has been met. Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Sized
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from app.core import limits
from app.core.formats.frontend import FrontEndBlock
from app.core.formats.schema import Closed, Pair

FORMAT_NAME = "aurascope-model"
FORMAT_VERSION = 1

Positive = Annotated[int, Field(ge=1)]


#: A declared size: a count, or a (frequency, time) pair.
V = TypeVar("V", int, tuple[int, int])


def _within(limit: limits.Limit, what: str, size: Callable[[V], int]) -> AfterValidator:
    """A declared size checked against a stated limit before anything is built from it (``what``: its words in
    the message, e.g. "its maps"); ``size`` reads the size from the value (a pair's larger side)."""

    def check(value: V) -> V:
        reason = limit.problem(size(value), what)
        if reason is not None:
            raise ValueError(reason)
        return value

    return AfterValidator(check)


def _count_within(limit: limits.Limit, what: str) -> BeforeValidator:
    """A list's length checked against a stated limit BEFORE its items are validated (a million blocks)."""

    def check(value: object) -> object:  # raw JSON, before pydantic reads it
        if isinstance(value, Sized):
            reason = limit.problem(len(value), what)
            if reason is not None:
                raise ValueError(reason)
        return value

    return BeforeValidator(check)


Maps = Annotated[Positive, _within(limits.MAX_MAPS, "its maps", int)]
InputChannels = Annotated[Positive, _within(limits.MAX_MAPS, "its input channels", int)]
Kernel = Annotated[Pair, _within(limits.MAX_KERNEL, "its kernel", max)]
Stride = Annotated[Pair, _within(limits.MAX_KERNEL, "its stride", max)]
Padding = Annotated[Pair, _within(limits.MAX_KERNEL, "its padding", max)]


class _Windowed(Closed):
    """A block that slides a window (a conv, a pool): its kernel and stride are at least 1 on each side. (No
    fields here: each block declares its own, in its own order, which is the schema's and the errors'.)"""

    @model_validator(mode="after")
    def _kernel_and_stride(self) -> Self:
        kernel, stride = getattr(self, "kernel_size"), getattr(self, "stride")  # noqa: B009
        if min(kernel) < 1 or (stride is not None and min(stride) < 1):
            raise ValueError("kernel and stride must be at least 1")
        return self


class Conv2dBlock(_Windowed):
    """A 2-D convolution over (frequency, time); weights ``body.<i>.weight`` ``(out, in, kh, kw)`` and ``.bias``."""

    type: Literal["conv2d"]
    in_channels: InputChannels
    out_channels: Maps
    kernel_size: Kernel = Field(description="(frequency, time), each at least 1")
    stride: Stride = (1, 1)
    padding: Padding = (0, 0)


class ReLUBlock(Closed):
    type: Literal["relu"]


class MaxPool2dBlock(_Windowed):
    """Max-pooling; the deconvnet unpools to the recorded switches. ``stride`` defaults to the kernel."""

    type: Literal["maxpool2d"]
    kernel_size: Kernel
    stride: Stride | None = None


class BatchNorm2dBlock(Closed):
    """Only in files written by others' tools: folded into the conv before it when written by Aurascope."""

    type: Literal["batchnorm2d"]
    num_features: Positive


class AffineBlock(Closed):
    """Per-channel ``weight·x + bias`` (a batch-norm after a ReLU, which cannot fold into a conv)."""

    type: Literal["affine"]
    num_features: Positive


class GlobalPoolBlock(Closed):
    type: Literal["global_pool"]
    mode: Literal["max", "avg", "avgmax"] = "max"


class FlattenBlock(Closed):
    type: Literal["flatten"]


class LinearBlock(Closed):
    type: Literal["linear"]
    in_features: Annotated[Positive, _within(limits.MAX_FEATURES, "its input", int)]
    out_features: Annotated[Positive, _within(limits.MAX_FEATURES, "its output", int)]


BodyBlock = Annotated[
    Conv2dBlock | ReLUBlock | MaxPool2dBlock | BatchNorm2dBlock | AffineBlock, Field(discriminator="type")
]
HeadBlock = Annotated[GlobalPoolBlock | FlattenBlock | LinearBlock | ReLUBlock, Field(discriminator="type")]


class Architecture(Closed):
    body: Annotated[list[BodyBlock], _count_within(limits.MAX_BLOCKS, "the body")] = Field(
        min_length=1, description="the convolutional layers, first a conv2d"
    )
    head: Annotated[list[HeadBlock], _count_within(limits.MAX_BLOCKS, "the head")] = Field(
        default_factory=list, description="the classifier after the body"
    )
    head_input_frames: Positive | None = Field(None, description="frames the head was trained on, if fixed")
    output: Literal["softmax", "sigmoid", "none"] = "softmax"


class ModelMetadata(Closed):
    """Everything in a model file but the weights."""

    format: Literal["aurascope-model"]
    format_version: Annotated[int, Field(ge=1, le=FORMAT_VERSION)]
    name: str = ""
    task: str = ""
    labels: list[str] = Field(default_factory=list, description="one per output of the head")
    front_end: FrontEndBlock
    architecture: Architecture
    provenance: dict[str, Any] = Field(default_factory=dict, description="how it was trained: free-form")


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "BodyBlock", "HeadBlock", "MaxPool2dBlock", "ModelMetadata"]
