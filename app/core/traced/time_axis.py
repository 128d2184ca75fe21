"""A traced network's layers seen along time (:class:`~app.core.windowing.TimeGraph`), for exact windowing.

Each graph operation between the input and a layer is read for what it does to the time axis (the last one):
convs and pools (modules or ``F.max_pool*`` / ``F.avg_pool*``) by their kernel, stride, padding, dilation and
``ceil_mode``; ReLUs, batch-norm, dropout, pointwise activations and shape-only operations that keep the time
axis as they are; sums, products and channel concatenations of several paths as pointwise joins. Anything else
(global or adaptive pooling, attention, normalisation over time, padding, slicing time) makes the layer
non-local as far as we can tell, and :func:`time_graph` returns None: that layer renders on the whole clip.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import fx, nn

from app.core.methods import RuleReLU
from app.core.traced.operations import (
    ACTIVATION_FUNCTIONS,
    ACTIVATION_MODULES,
    BN_MODULES,
    MUL_FUNCTIONS,
    MUL_METHODS,
    PASS_FUNCTIONS,
    PASS_MODULES,
    RELU_FUNCTIONS,
    SUM_FUNCTIONS,
    SUM_METHODS,
)
from app.core.windowing import TimeGraph, TimeNode, TimeOp

# the operation tables' kinds that act on each time step on its own (GLU halves an axis, the last by default: not)
_POINTWISE_MODULES = (
    RuleReLU,
    nn.ReLU,
    *BN_MODULES,
    *PASS_MODULES,
    *(m for m in ACTIVATION_MODULES if m is not nn.GLU),
)
_POINTWISE_FUNCTIONS = (RELU_FUNCTIONS | PASS_FUNCTIONS | ACTIVATION_FUNCTIONS | {operator.neg}) - {F.glu}
_JOIN_FUNCTIONS = SUM_FUNCTIONS | MUL_FUNCTIONS
_JOIN_METHODS = SUM_METHODS | MUL_METHODS
# shape-only, or reductions over other axes: local in time when the time axis (the last) comes out unchanged
_SHAPE_FUNCTIONS = {
    torch.flatten,
    torch.squeeze,
    torch.unsqueeze,
    torch.reshape,
    operator.getitem,
    torch.mean,
    torch.sum,
    torch.amax,
}
_SHAPE_METHODS = {
    "view",
    "reshape",
    "squeeze",
    "unsqueeze",
    "flatten",
    "contiguous",
    "clone",
    "float",
    "to",
    "type_as",
    "detach",
    "sigmoid",
    "tanh",
    "relu",
    "mean",
    "sum",
    "amax",
}
_MAX_POOLS = {F.max_pool1d, F.max_pool2d, torch.max_pool1d, torch.max_pool2d}
_AVG_POOLS = {F.avg_pool1d, F.avg_pool2d, torch.avg_pool1d}


def _last(value: int | Sequence[int]) -> int:
    """The time axis's (the last) entry of a size given for every axis at once or one per axis."""
    return int(value[-1]) if isinstance(value, tuple | list) else int(value)


def _conv_op(module: nn.Module) -> TimeOp | None:
    k, s, d = _last(module.kernel_size), _last(module.stride), _last(module.dilation)
    padding = module.padding
    if padding == "valid":
        p = 0
    elif padding == "same":
        if (d * (k - 1)) % 2:
            return None  # torch pads 'same' asymmetrically for an even span
        p = d * (k - 1) // 2
    else:
        p = _last(padding)
    return TimeOp(k, s, p, d)


def _pool_module_op(module: nn.Module) -> TimeOp:
    k = _last(module.kernel_size)
    s = _last(module.stride) if module.stride is not None else k
    d = _last(getattr(module, "dilation", 1))
    return TimeOp(k, s, _last(module.padding), d, bool(module.ceil_mode))


def _pool_function_op(node: fx.Node, is_max: bool) -> TimeOp:
    names = ["input", "kernel_size", "stride", "padding"] + (["dilation", "ceil_mode"] if is_max else ["ceil_mode"])
    given = dict(zip(names, node.args, strict=False)) | dict(node.kwargs)
    k = _last(given["kernel_size"])
    stride = given.get("stride")
    s = _last(stride) if stride not in (None, [], ()) else k
    return TimeOp(k, s, _last(given.get("padding", 0)), _last(given.get("dilation", 1)), bool(given.get("ceil_mode")))


def time_graph(body: fx.GraphModule, shapes: dict[str, tuple[int, ...]], output: str) -> TimeGraph | None:
    """The time graph from the body's input to node ``output`` (by name), or None if some operation on the
    way is not one whose time footprint we know. ``shapes``: each node's output shape on a probe input."""
    index: dict[str, int] = {}
    nodes: list[TimeNode] = []
    target: int | None = None
    for node in body.graph.nodes:
        if node.op == "placeholder":
            if not node.args and not index:
                index[node.name] = 0
                nodes.append(TimeNode(TimeOp(), ()))
            continue
        if node.op in ("get_attr", "output"):
            continue
        inputs = [a for a in node.all_input_nodes if a.name in index]
        if not inputs:
            continue  # a constant, or a size read off the input (an int, no time axis)
        if node.name not in shapes:
            if all(a.name in shapes for a in inputs) and _returns_size(node):
                continue
            if _reaches(node, output):
                return None
            continue
        op = _op(body, node, shapes, inputs)
        if op is None:
            if _reaches(node, output):
                return None
            continue
        index[node.name] = len(nodes)
        nodes.append(TimeNode(op, tuple(index[a.name] for a in inputs)))
        if node.name == output:
            target = index[node.name]
            break
    if target is None:
        return None
    return TimeGraph(tuple(nodes), target)


def _returns_size(node: fx.Node) -> bool:
    return (node.op == "call_method" and node.target in ("size", "dim")) or (
        node.op == "call_function" and node.target is getattr
    )


def _reaches(node: fx.Node, output: str) -> bool:
    """Whether ``output`` depends on ``node``."""
    seen, stack = set(), [node]
    while stack:
        n = stack.pop()
        if n.name == output:
            return True
        for user in n.users:
            if user.name not in seen:
                seen.add(user.name)
                stack.append(user)
    return False


def _op(
    body: fx.GraphModule, node: fx.Node, shapes: dict[str, tuple[int, ...]], inputs: list[fx.Node]
) -> TimeOp | None:
    """The time footprint of one input-dependent node, or None if unknown (or not local in time)."""
    shape = shapes[node.name]
    same_time = all(shapes.get(a.name, (None,))[-1] == shape[-1] for a in inputs)
    if node.op == "call_module":
        module = body.get_submodule(str(node.target))
        if isinstance(module, nn.Conv1d | nn.Conv2d):
            return _conv_op(module)
        if isinstance(module, nn.MaxPool1d | nn.MaxPool2d | nn.AvgPool1d | nn.AvgPool2d):
            return _pool_module_op(module)
        if isinstance(module, _POINTWISE_MODULES) and len(inputs) == 1 and same_time:
            return TimeOp()
        return None
    if node.op == "call_function":
        target = node.target
        if target in _MAX_POOLS or target in _AVG_POOLS:
            return _pool_function_op(node, target in _MAX_POOLS)
        if target in _POINTWISE_FUNCTIONS and len(inputs) == 1 and same_time:
            return TimeOp()
        if target in _JOIN_FUNCTIONS and same_time:
            return TimeOp()
        if target in (torch.cat, torch.concat):
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            return TimeOp() if same_time and dim not in (-1, len(shape) - 1) else None
        if target in _SHAPE_FUNCTIONS and len(inputs) == 1 and same_time:
            return TimeOp()
        return None
    if node.op == "call_method":
        if node.target in _JOIN_METHODS and same_time:
            return TimeOp()
        if node.target in _SHAPE_METHODS and len(inputs) == 1 and same_time:
            return TimeOp()
    return None
