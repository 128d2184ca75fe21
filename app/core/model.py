"""Model FILES: one ``.safetensors`` with the weights and a JSON description in its metadata (DESIGN 2).

Loading never unpickles anything: only safetensors is read, and a pickled checkpoint is refused by name. The
spec (plain values, no torch) is :mod:`app.core.model_spec`, the forward pass :mod:`app.core.model_runtime`;
their public names are re-exported here, where the rest of the app has always found them. The blocks themselves
(``Conv2d``, ``ReLU``, ...) are imported from their home, :mod:`app.core.architecture`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path

import torch

from app.core import limits
from app.core.architecture import Affine, BatchNorm2d, Block, Conv2d
from app.core.audio import file_sha256
from app.core.batchnorm import BatchNormStatistics, fold_into_conv
from app.core.errors import ModelFormatError, first_line
from app.core.files import write_bytes
from app.core.model_runtime import Model, random_weights, require_floating, to_torch_module, validate_weights
from app.core.model_spec import (
    FORMAT_NAME,
    FORMAT_VERSION,
    OUTPUT_ACTIVATIONS,
    ModelSpec,
    body_output_shape,
    check_shapes,
    check_tensor_shapes,
    choi2015_spec,
    expected_tensors,
    min_input_frames,
    spec_from_json,
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
    check_tensor_shapes(spec, {name: shape for name, (shape, _) in declared.items()}, None)
    for name, (_, dtype) in declared.items():
        require_floating(dtype, name, None)


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "OUTPUT_ACTIVATIONS",
    "FileKind",
    "Model",
    "ModelSpec",
    "body_output_shape",
    "check_shapes",
    "choi2015_spec",
    "expected_tensors",
    "fold_batchnorm",
    "load_model",
    "min_input_frames",
    "random_weights",
    "require_floating",
    "save_model",
    "sniff_model_file",
    "spec_from_json",
    "to_torch_module",
    "validate_weights",
]
