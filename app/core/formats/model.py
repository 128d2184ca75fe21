"""A model file's metadata: the JSON string under the ``aurascope`` key of a ``.safetensors`` header (DESIGN 2).

The model SPEC in memory is :class:`app.core.model.ModelSpec` with the blocks of :mod:`app.core.architecture`; the
model RUNTIME is the torch code in :mod:`app.core.model` and :mod:`app.core.deconv`; this is the model FILE's
metadata format. Shapes that span blocks (a conv's in_channels against the previous out_channels), the stated
limits (:mod:`app.core.limits`) and the weights are checked by :func:`app.core.model.spec_from_json` and
:func:`app.core.model.load_model` after this declaration has been met. Torch-free.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from app.core.formats.frontend import FrontEndBlock
from app.core.formats.schema import Closed, Pair

FORMAT_NAME = "aurascope-model"
FORMAT_VERSION = 1

Positive = Annotated[int, Field(ge=1)]


class Conv2dBlock(Closed):
    """A 2-D convolution over (frequency, time); weights ``body.<i>.weight`` ``(out, in, kh, kw)`` and ``.bias``."""

    type: Literal["conv2d"]
    in_channels: Positive
    out_channels: Positive
    kernel_size: Pair = Field(description="(frequency, time), each at least 1")
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)


class ReLUBlock(Closed):
    type: Literal["relu"]


class MaxPool2dBlock(Closed):
    """Max-pooling; the deconvnet unpools to the recorded switches. ``stride`` defaults to the kernel."""

    type: Literal["maxpool2d"]
    kernel_size: Pair
    stride: Pair | None = None


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
    in_features: Positive
    out_features: Positive


BodyBlock = Annotated[
    Conv2dBlock | ReLUBlock | MaxPool2dBlock | BatchNorm2dBlock | AffineBlock, Field(discriminator="type")
]
HeadBlock = Annotated[GlobalPoolBlock | FlattenBlock | LinearBlock | ReLUBlock, Field(discriminator="type")]


class Architecture(Closed):
    body: list[BodyBlock] = Field(min_length=1, description="the convolutional layers, first a conv2d")
    head: list[HeadBlock] = Field(default_factory=list, description="the classifier after the body")
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


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ModelMetadata"]
