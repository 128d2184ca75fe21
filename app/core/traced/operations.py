"""What each operation of a traced graph is, for the layer search and the fidelity notes.

Tables of modules, functions and tensor methods by kind (conv, pool, activation, ...), and the few questions
asked of one ``torch.fx`` node: which kind, how a ReLU is written, its stride, how to name it to a user.
"""

from __future__ import annotations

import operator
from collections.abc import Collection
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from app.core.methods import RuleReLU

RELU_FUNCTIONS = {F.relu, torch.relu, torch.relu_, F.relu_}
CONV_MODULES = (nn.Conv1d, nn.Conv2d)
CONV_FUNCTIONS = {F.conv1d, F.conv2d, torch.conv1d, torch.conv2d}
BN_MODULES = (nn.BatchNorm1d, nn.BatchNorm2d)
POOL_MODULES = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
)
POOL_FUNCTIONS = {
    F.max_pool1d,
    F.max_pool2d,
    F.avg_pool1d,
    F.avg_pool2d,
    F.adaptive_max_pool1d,
    F.adaptive_max_pool2d,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
    torch.max_pool1d,
    torch.max_pool2d,
    torch.avg_pool1d,
}
PASS_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity)
PASS_FUNCTIONS = {F.dropout, F.dropout1d, F.dropout2d}
ACTIVATION_MODULES = (
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.ELU,
    nn.LeakyReLU,
    nn.PReLU,
    nn.Softplus,
    nn.Hardswish,
    nn.Hardtanh,
    nn.ReLU6,
    nn.Mish,
    nn.SELU,
    nn.CELU,
    nn.Hardsigmoid,
    nn.LogSigmoid,
    nn.Softsign,
    nn.Tanhshrink,
    nn.Threshold,
    nn.GLU,
)
ACTIVATION_FUNCTIONS = {
    F.gelu,
    F.silu,
    F.sigmoid,
    torch.sigmoid,
    F.tanh,
    torch.tanh,
    F.elu,
    F.leaky_relu,
    F.softplus,
    F.hardswish,
    F.hardtanh,
    F.relu6,
    F.mish,
    F.selu,
    F.celu,
    F.hardsigmoid,
    F.logsigmoid,
    F.softsign,
    F.glu,
    torch.erf,
    torch.exp,
}
ACTIVATION_METHODS = {"sigmoid", "tanh", "exp", "erf"}
NORM_MODULES = (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.LocalResponseNorm)
NORM_FUNCTIONS = {F.layer_norm, F.group_norm, F.instance_norm, F.normalize, F.local_response_norm}
PRODUCT_FUNCTIONS = {
    torch.matmul,
    operator.matmul,
    torch.bmm,
    torch.mm,
    torch.einsum,
    F.scaled_dot_product_attention,
    F.softmax,
    torch.softmax,
    F.log_softmax,
}
PRODUCT_METHODS = {"matmul", "bmm", "softmax", "log_softmax"}
PRODUCT_MODULES = (nn.MultiheadAttention, nn.Softmax, nn.LogSoftmax, nn.Bilinear)
SUM_FUNCTIONS = {operator.add, operator.sub, operator.iadd, operator.isub, torch.add, torch.sub}
SUM_METHODS = {"add", "sub", "add_", "sub_"}
MUL_FUNCTIONS = {operator.mul, operator.truediv, operator.imul, operator.itruediv, torch.mul, torch.div}
MUL_METHODS = {"mul", "div", "mul_", "div_"}
# linear or shape-only: the backward pass is their adjoint, as the deconvnet's transposed conv is the conv's
LINEAR_FUNCTIONS = {
    operator.getitem,
    operator.neg,
    getattr,
    torch.flatten,
    torch.reshape,
    torch.cat,
    torch.concat,
    torch.stack,
    torch.squeeze,
    torch.unsqueeze,
    torch.transpose,
    torch.permute,
    torch.narrow,
    torch.mean,
    torch.sum,
    torch.amax,
    torch.max,
    torch.split,
    torch.chunk,
    F.pad,
    F.interpolate,
    F.linear,
    torch.conv_transpose2d,
}
LINEAR_METHODS = {
    "view",
    "reshape",
    "flatten",
    "permute",
    "transpose",
    "squeeze",
    "unsqueeze",
    "contiguous",
    "size",
    "dim",
    "float",
    "to",
    "type_as",
    "expand",
    "expand_as",
    "repeat",
    "mean",
    "sum",
    "amax",
    "max",
    "chunk",
    "split",
    "narrow",
    "neg",
    "clone",
    "detach",
}
LINEAR_MODULES = (
    nn.Linear,
    nn.Flatten,
    nn.Unflatten,
    nn.ZeroPad2d,
    nn.ConstantPad1d,
    nn.ConstantPad2d,
    nn.Upsample,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
)


@dataclass(frozen=True)
class Targets:
    """The functions (or tensor-method names) of one kind of graph call, by what they do on the way down."""

    sums: Collection[object]  # a residual where two input-dependent paths meet, else linear
    scalings: Collection[object]  # a product of activations where two input-dependent paths meet, else linear
    products: Collection[object]  # attention, softmax: always a product of activations
    norms: Collection[object]  # normalisation by the input's own statistics
    linear: Collection[object]  # linear or shape-only: their backward is their adjoint


TARGETS = {
    "call_function": Targets(SUM_FUNCTIONS, MUL_FUNCTIONS, PRODUCT_FUNCTIONS, NORM_FUNCTIONS, LINEAR_FUNCTIONS),
    "call_method": Targets(SUM_METHODS, MUL_METHODS, PRODUCT_METHODS, frozenset(), LINEAR_METHODS),
}


def relu_form(gm: fx.GraphModule, node: fx.Node) -> tuple[str, bool] | None:
    """How a ReLU node is written (module | function | method, and whether in place); None if not a ReLU."""
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        if type(module) is nn.ReLU:
            return "module", bool(module.inplace)
    elif node.op == "call_function" and node.target in RELU_FUNCTIONS:
        return "function", node.target in (torch.relu_, F.relu_) or bool(node.kwargs.get("inplace", False))
    elif node.op == "call_method" and node.target in ("relu", "relu_"):
        return "method", node.target == "relu_"
    elif node.op == "call_method" and node.target in ("clamp", "clamp_", "clamp_min", "clamp_min_"):
        low = node.kwargs.get("min", node.args[1] if len(node.args) > 1 else None)
        high = node.kwargs.get("max", node.args[2] if len(node.args) > 2 else None)
        if low == 0 and high is None:
            return "method", str(node.target).endswith("_")
    return None


def operation_kind(gm: fx.GraphModule, node: fx.Node) -> str:
    """conv | relu | activation | pool | pass | bn | other (for the layer search)."""
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        if isinstance(module, RuleReLU):
            return "relu"
        for kind, types in (
            ("conv", CONV_MODULES),
            ("pool", POOL_MODULES),
            ("pass", PASS_MODULES),
            ("bn", BN_MODULES),
            ("activation", ACTIVATION_MODULES),
        ):
            if isinstance(module, types):
                return kind
    elif node.op == "call_function":
        for kind, targets in (
            ("conv", CONV_FUNCTIONS),
            ("pool", POOL_FUNCTIONS),
            ("pass", PASS_FUNCTIONS),
            ("activation", ACTIVATION_FUNCTIONS),
        ):
            if node.target in targets:
                return kind
    elif node.op == "call_method" and node.target in ACTIVATION_METHODS:
        return "activation"
    return "other"


def pair(value: object) -> tuple[int, int]:
    """An int or a pair of ints as (frequency, time); anything else (a string padding, None) as (1, 1)."""
    if isinstance(value, int):
        return value, value
    if isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return 1, 1


def own_stride(gm: fx.GraphModule, node: fx.Node) -> tuple[int, int]:
    """(frequency, time) stride of one operation (1-D ops stride time only)."""
    one_d = False
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        if not isinstance(module, nn.Conv1d | nn.Conv2d | nn.MaxPool1d | nn.MaxPool2d | nn.AvgPool1d | nn.AvgPool2d):
            return 1, 1
        stride = module.stride if module.stride is not None else module.kernel_size
        one_d = isinstance(module, nn.Conv1d | nn.MaxPool1d | nn.AvgPool1d)
    elif node.op == "call_function" and node.target in CONV_FUNCTIONS:
        stride = node.kwargs.get("stride", node.args[3] if len(node.args) > 3 else 1)
        one_d = node.target in (F.conv1d, torch.conv1d)
    elif node.op == "call_function" and node.target in POOL_FUNCTIONS and "adaptive" not in str(node.target):
        kernel = node.kwargs.get("kernel_size", node.args[1] if len(node.args) > 1 else 1)
        stride = node.kwargs.get("stride", node.args[2] if len(node.args) > 2 else None) or kernel
        one_d = "1d" in getattr(node.target, "__name__", "")
    else:
        return 1, 1
    if one_d:
        s = stride if isinstance(stride, int) else stride[0]
        return 1, int(s)
    return pair(stride)


def describe_target(gm: fx.GraphModule, node: fx.Node) -> str:
    if node.op == "call_module":
        return f"a {type(gm.get_submodule(str(node.target))).__name__}"
    if node.op == "call_function":
        return f"{getattr(node.target, '__name__', str(node.target))}()"
    if node.op == "call_method":
        return f".{node.target}()"
    return node.op
