"""Running a ``torch.fx`` graph node by node and keeping what each node gave."""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from app.core.errors import first_line


class Recorder(fx.Interpreter):
    """Runs a graph node by node, keeping each tensor node's output shape, and the node it failed at.

    ``keep_values``: also keep every node's output (tensors and plain values) by node name; off by default,
    since it holds all intermediates of the run at once.
    """

    def __init__(self, gm: fx.GraphModule, *, keep_values: bool = False) -> None:
        super().__init__(gm)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.values: dict[str, Any] = {}  # each node's output: a tensor, a size, a tuple: whatever the graph computes
        self.failed: tuple[fx.Node, str] | None = None
        self._keep_values = keep_values

    def run_node(self, n: fx.Node) -> Any:
        try:
            result = super().run_node(n)
        except Exception as err:
            self.failed = (n, first_line(err))
            raise
        if isinstance(result, torch.Tensor):
            self.shapes[n.name] = tuple(result.shape)
        if self._keep_values:
            self.values[n.name] = result
        return result
