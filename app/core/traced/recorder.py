"""Running a ``torch.fx`` graph node by node and keeping what each node gave."""

from __future__ import annotations

from typing import Any

import torch
from torch import fx


class Recorder(fx.Interpreter):
    """Runs a graph node by node, keeping each node's output shape (or value, for non-tensors)."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.failed: tuple[fx.Node, str] | None = None

    def run_node(self, n: fx.Node) -> Any:
        try:
            result = super().run_node(n)
        except Exception as err:
            self.failed = (n, first_line(err))
            raise
        if isinstance(result, torch.Tensor):
            self.shapes[n.name] = tuple(result.shape)
        return result


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
