"""ONNX files as PyTorch modules, for the traced route: the operations a spectrogram CNN uses, nothing else.

Why not onnx2torch: ``import onnx2torch`` imports torchvision at module level (its NMS and RoIAlign
converters), and its package requires torchvision, whose PyPI build would replace the CPU torch this app pins.
So this reads the graph with the ``onnx`` package alone (protobuf, never pickle) and builds an
:class:`OnnxModule` whose ``forward`` runs the nodes in order: parameterised operations become named
``nn`` modules (``Conv`` -> ``nn.Conv2d``, ``BatchNormalization`` -> ``nn.BatchNorm2d``, ``Gemm`` ->
``nn.Linear``, ``Relu`` -> ``nn.ReLU``, ...), so ``torch.fx`` sees the same kinds of operations as in a
hand-written module. Shape arithmetic (``Shape`` -> ``Gather`` -> ``Concat`` -> ``Reshape``, as exporters
write ``x.view(x.size(0), -1)``) runs on Python lists. Any other operation is refused with an error naming
the node and its op type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.core.errors import ModelFormatError, first_line

if TYPE_CHECKING:  # onnx is optional: imported when a file is read
    from onnx import GraphProto, NodeProto, TensorProto

    #: An attribute's value as ``onnx.helper.get_attribute_value`` gives it (a string attribute is bytes).
    Attribute = (
        float
        | int
        | bytes
        | TensorProto
        | GraphProto
        | list[float]
        | list[int]
        | list[bytes]
        | list[TensorProto]
        | list[GraphProto]
    )
    Attrs = dict[str, Attribute]

#: What flows between the graph's operations: tensors, and the shape arithmetic done on Python lists of ints
#: (``Shape -> Gather -> Concat -> Reshape``) or numbers.
Value = torch.Tensor | np.ndarray | list[int] | int | float

SUPPORTED_OPS = (
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "Div",
    "Dropout",
    "Elu",
    "Erf",
    "Flatten",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Identity",
    "LeakyRelu",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "Mul",
    "Pad",
    "ReduceMax",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
)


class _Const:
    """A value known when the file is read (an initializer, a Constant, or computed from them only)."""

    def __init__(self, value: np.ndarray) -> None:
        self.value = np.asarray(value)

    def ints(self) -> list[int]:
        return [int(v) for v in self.value.reshape(-1)]


class OnnxModule(nn.Module):
    """An ONNX graph run node by node; ``aurascope_display_names`` maps module names to ONNX node names."""

    def __init__(self) -> None:
        super().__init__()
        self.aurascope_display_names: dict[str, str] = {}
        # (run, submodule name or "", input names, output names); run(submodule, *inputs) when it has one
        self._steps: list[tuple[Callable[..., Value], str, list[str], list[str]]] = []
        self._input_name = ""
        self._output_name = ""
        self._input_nhwc = False
        self._buffer_of: dict[str, str] = {}  # ONNX constant -> buffer holding it (float tensors)
        self._plain: dict[str, Value] = {}  # ONNX constant -> Python value (shapes, indices, scalars)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, Value] = {self._input_name: x.permute(0, 2, 3, 1) if self._input_nhwc else x}
        env.update(self._plain)
        for name, buffer in self._buffer_of.items():
            env[name] = getattr(self, buffer)
        for run, module, inputs, outputs in self._steps:
            args = [env[name] if name else None for name in inputs]
            result = run(getattr(self, module), *args) if module else run(*args)
            if len(outputs) == 1:
                env[outputs[0]] = result
            else:
                for name, value in zip(outputs, result, strict=False):
                    env[name] = value
        return env[self._output_name]


def load_onnx(path: str | Path) -> OnnxModule:
    """Read and check an ONNX file; errors name the file and the node (``graph.node[i] 'name' (Op)``)."""
    path = Path(path)
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ModelFormatError(
            path, "reading ONNX files needs the 'onnx' package: pip install 'aurascope[onnx]'"
        ) from None
    if not path.is_file():
        raise ModelFormatError(path, "no such file" if not path.exists() else "not a regular file")
    try:
        model = onnx.load(str(path))
    except Exception as err:
        raise ModelFormatError(path, f"not an ONNX file ({first_line(err)})") from None
    try:
        onnx.checker.check_model(model)
    except Exception as err:
        raise ModelFormatError(path, f"the ONNX checker rejects it ({first_line(err)})", field="graph") from None
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:
        inferred = model
    ranks: dict[str, int] = {}
    for info in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        if info.type.HasField("tensor_type") and info.type.tensor_type.HasField("shape"):
            ranks[info.name] = len(info.type.tensor_type.shape.dim)
    graph = model.graph
    for imp in model.opset_import:
        if imp.domain not in ("", "ai.onnx"):
            used = [n for n in graph.node if n.domain == imp.domain]
            if used:
                raise ModelFormatError(
                    path,
                    f"operator set '{imp.domain}' ({used[0].op_type}) is not standard ONNX",
                    field=f"graph.node '{used[0].name}'",
                )
    consts = {init.name: _Const(numpy_helper.to_array(init)) for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise ModelFormatError(
            path, f"the graph has {len(inputs)} inputs; Aurascope feeds one spectrogram", field="graph.input"
        )
    if not graph.output:
        raise ModelFormatError(path, "the graph has no output", field="graph.output")
    module = OnnxModule()
    module._input_name = inputs[0].name
    module._output_name = graph.output[0].name
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4:
        raise ModelFormatError(
            path,
            f"the input '{inputs[0].name}' has {len(dims)} dimensions; expected (batch, 1, bins, frames)",
            field="graph.input",
        )
    # a channels-last input (Keras/TensorFlow exports: batch, bins, frames, 1) gets our (batch, 1, bins, frames)
    module._input_nhwc = dims[1] not in (1, None) and dims[3] == 1
    ranks[inputs[0].name] = 4
    builder = _Builder(module, path, consts, ranks)
    for index, node in enumerate(graph.node):
        builder.add(index, node)
    for name in sorted(builder.needed_consts):
        value = builder.consts[name].value
        if value.dtype.kind == "f" and value.ndim > 0:
            buffer = _safe(f"const_{name}", builder.names)
            module.register_buffer(buffer, torch.from_numpy(value.astype(np.float32).copy()))
            module._buffer_of[name] = buffer
        elif value.dtype.kind == "f":
            module._plain[name] = float(value)
        else:
            module._plain[name] = int(value) if value.ndim == 0 else [int(v) for v in value.reshape(-1)]
    return module


def _safe(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W+", "_", name).strip("_") or "node"
    if base[0].isdigit():
        base = f"n_{base}"
    out, i = base, 1
    while out in taken:
        i += 1
        out = f"{base}_{i}"
    taken.add(out)
    return out


class _Builder:
    """Turns nodes into steps; constant-only nodes are evaluated once, here."""

    def __init__(self, module: OnnxModule, path: Path, consts: dict[str, _Const], ranks: dict[str, int]) -> None:
        self.module = module
        self.path = path
        self.consts = consts
        self.ranks = ranks
        self.needed_consts: set[str] = set()
        self.names: set[str] = set()

    # --- helpers --------------------------------------------------------------------------------------
    def fail(self, reason: str) -> ModelFormatError:
        node = self.node
        return ModelFormatError(self.path, reason, field=f"graph.node[{self.index}] '{node.name}' ({node.op_type})")

    def attrs(self) -> Attrs:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in self.node.attribute}

    def const(self, i: int, what: str) -> _Const:
        name = self.node.input[i] if i < len(self.node.input) else ""
        if name not in self.consts:
            raise self.fail(f"its {what} must be a constant (an initializer), not computed at run time")
        return self.consts[name]

    def optional_const(self, i: int) -> _Const | None:
        name = self.node.input[i] if i < len(self.node.input) else ""
        return self.consts.get(name) if name else None

    def register(self, module: nn.Module) -> str:
        name = _safe(self.node.name or self.node.op_type, self.names)
        self.module.add_module(name, module)
        self.module.aurascope_display_names[name] = self.node.name or name
        return name

    def rank(self, i: int = 0) -> int | None:
        return self.ranks.get(self.node.input[i])

    def step(self, run: Callable[..., Value], inputs: Sequence[str] | None = None, module: str = "") -> None:
        names = list(self.node.input if inputs is None else inputs)
        if not module and names and all((not n) or n in self.consts for n in names):
            # every input is known now: evaluate once, keep the result as a constant
            values = [_as_value(self.consts[n]) if n else None for n in names]
            result = run(*values)
            results = [result] if len(self.node.output) == 1 else list(result)
            for name, value in zip(self.node.output, results, strict=False):
                self.consts[name] = _Const(_to_numpy(value))
            return
        for n in names:
            if n in self.consts:
                self.needed_consts.add(n)
        self.module._steps.append((run, module, names, list(self.node.output)))

    # --- nodes ----------------------------------------------------------------------------------------
    def add(self, index: int, node: NodeProto) -> None:
        self.index, self.node = index, node
        handler = getattr(self, f"op_{node.op_type}", None)
        if handler is None:
            raise self.fail(f"ONNX operation '{node.op_type}' is not supported (supported: {', '.join(SUPPORTED_OPS)})")
        handler(self.attrs())
        rank = self._out_rank()
        if rank is not None:
            for out in node.output:
                self.ranks.setdefault(out, rank)

    def _out_rank(self) -> int | None:
        op = self.node.op_type
        if op in ("Flatten", "Gemm"):
            return 2
        if self.node.input and op not in ("Shape", "Reshape", "Squeeze", "Unsqueeze", "Gather", "MatMul"):
            return self.rank()
        return None

    def op_Constant(self, a: Attrs) -> None:
        from onnx import numpy_helper

        if "value" in a:
            value = numpy_helper.to_array(a["value"])
        elif "value_float" in a or "value_int" in a:
            value = np.array(a.get("value_float", a.get("value_int")))
        elif "value_floats" in a or "value_ints" in a:
            value = np.array(a.get("value_floats", a.get("value_ints")))
        else:
            raise self.fail("only tensor, float and int constants are supported")
        self.consts[self.node.output[0]] = _Const(value)

    def op_Identity(self, a: Attrs) -> None:
        self.step(lambda x: x, self.node.input[:1])

    def op_Dropout(self, a: Attrs) -> None:
        if len(self.node.output) > 1 and self.node.output[1]:
            raise self.fail("a Dropout whose mask output is used cannot be run")
        self.step(lambda x: x, self.node.input[:1])

    def op_Cast(self, a: Attrs) -> None:
        self.step(lambda x: x, self.node.input[:1])  # shape arithmetic and float tensors: nothing to change

    def op_Conv(self, a: Attrs) -> None:
        weight = self.const(1, "weight").value
        bias = self.optional_const(2)
        dims = weight.ndim - 2
        if dims not in (1, 2):
            raise self.fail(f"only 1-D and 2-D convolutions are supported, this one is {dims}-D")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID", "NOTSET", "VALID"):
            raise self.fail("auto_pad SAME_UPPER/SAME_LOWER is not supported; export with explicit pads")
        pads = list(a.get("pads", [0] * (2 * dims)))
        begin, end = pads[:dims], pads[dims:]
        cls = nn.Conv2d if dims == 2 else nn.Conv1d
        conv = cls(
            weight.shape[1] * int(a.get("group", 1)),
            weight.shape[0],
            tuple(weight.shape[2:]),
            stride=tuple(a.get("strides", [1] * dims)),
            padding=tuple(begin) if begin == end else 0,
            dilation=tuple(a.get("dilations", [1] * dims)),
            groups=int(a.get("group", 1)),
            bias=bias is not None,
        )
        conv.weight.data = torch.from_numpy(weight.astype(np.float32).copy())
        if bias is not None:
            conv.bias.data = torch.from_numpy(bias.value.astype(np.float32).copy())
        name = self.register(conv)
        if begin == end:
            self.step(_call, self.node.input[:1], name)
        else:
            pad = _torch_pad(begin, end)
            self.step(lambda m, x: m(F.pad(x, pad)), self.node.input[:1], name)

    def op_BatchNormalization(self, a: Attrs) -> None:
        if a.get("training_mode", 0):
            raise self.fail("a batch-norm in training mode cannot be run; export the model in eval mode")
        scale, bias, mean, var = (self.const(i, w).value for i, w in enumerate(("scale", "bias", "mean", "var"), 1))
        cls = nn.BatchNorm1d if self.rank() in (2, 3) else nn.BatchNorm2d
        bn = cls(scale.shape[0], eps=float(a.get("epsilon", 1e-5)))
        bn.weight.data = torch.from_numpy(scale.astype(np.float32).copy())
        bn.bias.data = torch.from_numpy(bias.astype(np.float32).copy())
        bn.running_mean = torch.from_numpy(mean.astype(np.float32).copy())
        bn.running_var = torch.from_numpy(var.astype(np.float32).copy())
        self.step(_call, self.node.input[:1], self.register(bn.eval()))

    def _pool(self, a: Attrs, kind: str) -> None:
        kernel = list(a["kernel_shape"])
        dims = len(kernel)
        if dims not in (1, 2):
            raise self.fail(f"only 1-D and 2-D pooling is supported, this one is {dims}-D")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID", "NOTSET", "VALID"):
            raise self.fail("auto_pad SAME_UPPER/SAME_LOWER is not supported; export with explicit pads")
        pads = list(a.get("pads", [0] * (2 * dims)))
        if pads[:dims] != pads[dims:]:
            raise self.fail(f"asymmetric pads {pads} are not supported in pooling")
        if len(self.node.output) > 1 and self.node.output[1]:
            raise self.fail("a MaxPool whose Indices output is used cannot be run")
        stride = tuple(a.get("strides", [1] * dims))
        ceil = bool(a.get("ceil_mode", 0))
        if kind == "max":
            if list(a.get("dilations", [1] * dims)) != [1] * dims:
                raise self.fail("dilated max-pooling is not supported")
            cls: Callable[..., nn.Module] = nn.MaxPool2d if dims == 2 else nn.MaxPool1d
            pool = cls(tuple(kernel), stride, tuple(pads[:dims]), ceil_mode=ceil)
        else:
            cls = nn.AvgPool2d if dims == 2 else nn.AvgPool1d
            pool = cls(
                tuple(kernel),
                stride,
                tuple(pads[:dims]),
                ceil_mode=ceil,
                count_include_pad=bool(a.get("count_include_pad", 0)),
            )
        self.step(_call, self.node.input[:1], self.register(pool))

    def op_MaxPool(self, a: Attrs) -> None:
        self._pool(a, "max")

    def op_AveragePool(self, a: Attrs) -> None:
        self._pool(a, "avg")

    def _global(self, reduce: Callable[..., torch.Tensor]) -> None:
        rank = self.rank()
        if rank is None:
            raise self.fail("the input's rank is unknown (run ONNX shape inference before export)")
        axes = tuple(range(2, rank))
        self.step(lambda x: reduce(x, dim=axes, keepdim=True), self.node.input[:1])

    def op_GlobalMaxPool(self, a: Attrs) -> None:
        self._global(torch.amax)

    def op_GlobalAveragePool(self, a: Attrs) -> None:
        self._global(torch.mean)

    def _reduce(self, a: Attrs, reduce: Callable[..., torch.Tensor]) -> None:
        axes_const = self.optional_const(1)
        axes = axes_const.ints() if axes_const is not None else a.get("axes")
        keep = bool(a.get("keepdims", 1))
        if axes is None:
            if a.get("noop_with_empty_axes", 0):
                self.step(lambda x: x, self.node.input[:1])
                return
            self.step(lambda x: reduce(x, dim=tuple(range(x.dim())), keepdim=keep), self.node.input[:1])
        else:
            dims = tuple(int(v) for v in axes)
            self.step(lambda x: reduce(x, dim=dims, keepdim=keep), self.node.input[:1])
        if axes is not None and self.rank() is not None:
            self.ranks[self.node.output[0]] = self.rank() if keep else self.rank() - len(axes)

    def op_ReduceMax(self, a: Attrs) -> None:
        self._reduce(a, torch.amax)

    def op_ReduceMean(self, a: Attrs) -> None:
        self._reduce(a, torch.mean)

    def op_Gemm(self, a: Attrs) -> None:
        if a.get("transA", 0):
            raise self.fail("Gemm with transA=1 is not supported")
        weight = self.const(1, "weight").value.astype(np.float32)
        if not a.get("transB", 0):
            weight = weight.T
        bias = self.optional_const(2)
        alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        linear.weight.data = torch.from_numpy(np.ascontiguousarray(alpha * weight))
        if bias is not None:
            b = np.broadcast_to(bias.value.astype(np.float32).reshape(-1), (weight.shape[0],))
            linear.bias.data = torch.from_numpy(np.ascontiguousarray(beta * b))
        self.step(_call, self.node.input[:1], self.register(linear))

    def op_MatMul(self, a: Attrs) -> None:
        weight = self.optional_const(1)
        if weight is not None and weight.value.ndim == 2 and self.node.input[0] not in self.consts:
            w = weight.value.astype(np.float32)
            linear = nn.Linear(w.shape[0], w.shape[1], bias=False)
            linear.weight.data = torch.from_numpy(np.ascontiguousarray(w.T))
            self.step(_call, self.node.input[:1], self.register(linear))
            if self.rank() is not None:
                self.ranks[self.node.output[0]] = self.rank()
            return
        self.step(torch.matmul)

    def _binary(self, fn: Callable[[Value, Value], Value]) -> None:
        self._tensor_consts()
        self.step(fn)

    def _tensor_consts(self) -> None:
        """Constant operands of arithmetic on run-time tensors become buffers (float32)."""
        for name in self.node.input:
            if name in self.consts and not all(n in self.consts for n in self.node.input):
                value = self.consts[name].value
                if value.dtype.kind == "f" and value.ndim > 0:
                    self.consts[name] = _Const(value.astype(np.float32))

    def op_Add(self, a: Attrs) -> None:
        self._binary(lambda x, y: x + y)

    def op_Sub(self, a: Attrs) -> None:
        self._binary(lambda x, y: x - y)

    def op_Mul(self, a: Attrs) -> None:
        self._binary(lambda x, y: x * y)

    def op_Div(self, a: Attrs) -> None:
        self._binary(lambda x, y: x / y if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor) else x // y)

    def _unary_module(self, module: nn.Module) -> None:
        self.step(_call, self.node.input[:1], self.register(module))

    def op_Relu(self, a: Attrs) -> None:
        self._unary_module(nn.ReLU())

    def op_LeakyRelu(self, a: Attrs) -> None:
        self._unary_module(nn.LeakyReLU(float(a.get("alpha", 0.01))))

    def op_Sigmoid(self, a: Attrs) -> None:
        self._unary_module(nn.Sigmoid())

    def op_Tanh(self, a: Attrs) -> None:
        self._unary_module(nn.Tanh())

    def op_Elu(self, a: Attrs) -> None:
        self._unary_module(nn.ELU(float(a.get("alpha", 1.0))))

    def op_Softplus(self, a: Attrs) -> None:
        self._unary_module(nn.Softplus())

    def op_Gelu(self, a: Attrs) -> None:
        approximate = a.get("approximate", "none")
        self._unary_module(nn.GELU(approximate.decode() if isinstance(approximate, bytes) else approximate))

    def op_Erf(self, a: Attrs) -> None:
        self.step(torch.erf)

    def op_Clip(self, a: Attrs) -> None:
        low, high = self.optional_const(1), self.optional_const(2)
        lo = float(low.value) if low is not None else a.get("min")
        hi = float(high.value) if high is not None else a.get("max")
        if lo == 0 and hi is None:
            self._unary_module(nn.ReLU())
        elif lo == 0 and hi == 6:
            self._unary_module(nn.ReLU6())
        else:
            self._unary_module(nn.Hardtanh(lo if lo is not None else -np.inf, hi if hi is not None else np.inf))

    def op_Softmax(self, a: Attrs) -> None:
        self._unary_module(nn.Softmax(dim=int(a.get("axis", -1))))

    def op_LogSoftmax(self, a: Attrs) -> None:
        self._unary_module(nn.LogSoftmax(dim=int(a.get("axis", -1))))

    def op_Flatten(self, a: Attrs) -> None:
        axis = int(a.get("axis", 1))
        if axis == 0:
            self.step(lambda x: x.reshape(1, -1), self.node.input[:1])
        elif axis == 1:
            self.step(lambda x: torch.flatten(x, 1), self.node.input[:1])
        else:
            self.step(lambda x: torch.flatten(torch.flatten(x, 0, axis - 1), 1), self.node.input[:1])

    def op_Reshape(self, a: Attrs) -> None:
        allow_zero = bool(a.get("allowzero", 0))
        shape_const = self.optional_const(1)
        if shape_const is not None:
            self.ranks[self.node.output[0]] = len(shape_const.ints())

        def reshape(x: Value, shape: Value) -> Value:
            dims = list(shape) if not isinstance(shape, torch.Tensor) else [int(v) for v in shape.reshape(-1)]
            if not allow_zero:
                dims = [x.shape[i] if isinstance(d, int) and d == 0 else d for i, d in enumerate(dims)]
            return x.reshape(dims)

        self.step(reshape)

    def op_Transpose(self, a: Attrs) -> None:
        perm = a.get("perm")
        self.step(lambda x: x.permute(*perm) if perm else x.permute(*reversed(range(x.dim()))), self.node.input[:1])

    def _axes(self, a: Attrs) -> list[int] | None:
        axes_const = self.optional_const(1)
        return axes_const.ints() if axes_const is not None else a.get("axes")

    def op_Squeeze(self, a: Attrs) -> None:
        axes = self._axes(a)
        if self.rank() is not None and axes is not None:
            self.ranks[self.node.output[0]] = self.rank() - len(axes)

        def squeeze(x: Value, *_: Value) -> Value:
            if isinstance(x, list):
                return x[0] if len(x) == 1 else x
            if axes is None:
                return x.squeeze()
            for axis in sorted((int(v) % x.dim() for v in axes), reverse=True):
                x = x.squeeze(axis)
            return x

        self.step(squeeze)

    def op_Unsqueeze(self, a: Attrs) -> None:
        axes = self._axes(a)
        if axes is None:
            raise self.fail("Unsqueeze needs its axes")
        if self.rank() is not None:
            self.ranks[self.node.output[0]] = self.rank() + len(axes)

        def unsqueeze(x: Value, *_: Value) -> Value:
            if not isinstance(x, torch.Tensor) or x.dim() == 0:
                return [x.item() if isinstance(x, torch.Tensor) else x]  # a shape value
            for axis in sorted(int(v) for v in axes):
                x = x.unsqueeze(axis if axis >= 0 else axis + x.dim() + 1)
            return x

        self.step(unsqueeze)

    def op_Shape(self, a: Attrs) -> None:
        rank = self.rank()
        if rank is None:
            raise self.fail("the input's rank is unknown (run ONNX shape inference before export)")
        start, end = int(a.get("start", 0)), a.get("end")
        picked = list(range(rank))[start : int(end) if end is not None else None]
        self.ranks[self.node.output[0]] = 1
        self.step(lambda x: [x.shape[i] for i in picked], self.node.input[:1])

    def op_Gather(self, a: Attrs) -> None:
        indices = self.const(1, "indices")
        axis = int(a.get("axis", 0))

        def gather(x: Value, index: Value) -> Value:
            picked = indices.value
            if isinstance(x, list):
                if picked.ndim == 0:
                    return x[int(picked)]
                return [x[int(i)] for i in picked.reshape(-1)]
            return torch.index_select(x, axis, torch.as_tensor(picked.reshape(-1))).reshape(
                *x.shape[:axis], *picked.shape, *x.shape[axis + 1 :]
            )

        self.step(gather)

    def op_Concat(self, a: Attrs) -> None:
        axis = int(a.get("axis", 0))
        self._tensor_consts()

        def concat(*values: Value) -> Value:
            if any(isinstance(v, list) for v in values):
                out: list[int] = []
                for v in values:
                    out += v if isinstance(v, list) else [int(i) for i in v.reshape(-1)]
                return out
            return torch.cat(values, dim=axis)

        self.step(concat)

    def op_Pad(self, a: Attrs) -> None:
        mode = a.get("mode", b"constant")
        if mode not in (b"constant", "constant"):
            raise self.fail(f"pad mode {mode!r} is not supported (only constant)")
        pads_const = self.optional_const(1)
        pads = pads_const.ints() if pads_const is not None else list(a.get("pads", []))
        value_const = self.optional_const(2)
        value = float(value_const.value) if value_const is not None else float(a.get("value", 0.0))
        if len(self.node.input) > 3 and self.node.input[3]:
            raise self.fail("Pad with axes is not supported")
        half = len(pads) // 2
        pad = _torch_pad(pads[:half], pads[half:])
        self.step(lambda x: F.pad(x, pad, value=value), self.node.input[:1])


def _call(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return module(x)


def _torch_pad(begin: Sequence[int], end: Sequence[int]) -> tuple[int, ...]:
    """ONNX pads (all begins, then all ends, first axis first) -> F.pad's (last axis first, begin then end)."""
    out: list[int] = []
    for b, e in zip(reversed(list(begin)), reversed(list(end)), strict=True):
        out += [int(b), int(e)]
    return tuple(out)


def _as_value(c: _Const) -> torch.Tensor:
    if c.value.dtype.kind in "iu" and c.value.ndim <= 1:
        return torch.from_numpy(c.value.astype(np.int64))
    return torch.from_numpy(np.ascontiguousarray(c.value))


def _to_numpy(value: Value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, list):
        return np.array([int(v) for v in value], dtype=np.int64)
    return np.asarray(value)
