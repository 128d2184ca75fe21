"""Exact windowed rendering: which input frames a map's back-projection over a time window needs.

The deconvnet is local in time. To get a layer's back-projection ``D`` exactly (as the whole-clip pass gives it)
on input frames ``[a, b)``, it is enough to run the forward pass on a crop ``[s, e)`` of the input and the
backward pass on that crop, provided that

- every position whose backward signal reaches ``[a, b)`` is inside the crop at its level, and so is the forward
  value (max-pool switch, ReLU sign, seed) at each of them, and so is everything those forward values read;
- the crop's grids line up with the whole clip's: ``s`` is a multiple of every cumulative time stride, so a
  pooling window of the crop is a pooling window of the whole clip;
- where a needed position reads padding (a ``'same'`` conv's zeros, a pool's edge, ``ceil_mode``), the crop
  edge there is the clip's own edge, so the crop pads exactly where the whole clip pads: the crop then starts
  at frame 0, or ends at the last frame (an aligned crop that ends at the clip's end ends at every level's end,
  pooling floor included).

Only the time axis matters: crops always take every frequency bin. The context is computed per layer from the
architecture (kernels, strides, padding, dilation of every op on the way up), never a guessed constant.
A network is described as a :class:`TimeGraph` (a chain for our model files; a DAG for traced graphs, where a
residual sum needs both of its inputs exact).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Interval = tuple[int, int]  # [start, end) in frames of one level; empty when end <= start


@dataclass(frozen=True)
class TimeOp:
    """One operation along time: output ``j`` reads inputs ``j*stride - padding + dilation*[0, kernel)``.

    Pointwise operations (ReLU, batch-norm, a sum of two paths) are ``TimeOp()``: kernel 1, stride 1.
    ``ceil_mode``: the output length rounds up (the last window reads past the end, as padding).
    """

    kernel: int = 1
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    ceil_mode: bool = False

    @property
    def span(self) -> int:
        return self.dilation * (self.kernel - 1) + 1

    def out_len(self, n: int) -> int:
        """Output length for an input of ``n`` frames (torch's formula, ceil_mode included)."""
        num = n + 2 * self.padding - self.span
        if num < 0:
            return 0
        if self.ceil_mode:
            out = -(-num // self.stride) + 1
            if (out - 1) * self.stride >= n + self.padding:  # torch: the last window must start inside
                out -= 1
            return out
        return num // self.stride + 1

    def reads(self, out: Interval) -> Interval:
        """Input positions read by outputs ``out`` (unclipped: may reach into the padding)."""
        lo, hi = out
        if hi <= lo:
            return (0, 0)
        return (lo * self.stride - self.padding, (hi - 1) * self.stride - self.padding + self.span)

    def written(self, inp: Interval, out_len: int) -> Interval:
        """Outputs whose footprint touches inputs ``inp`` (where the backward signal of ``inp`` comes from)."""
        lo, hi = inp
        if hi <= lo:
            return (0, 0)
        first = max(0, -(-(lo + self.padding - self.span + 1) // self.stride))
        last = min(out_len - 1, (hi - 1 + self.padding) // self.stride)
        return (first, last + 1) if last >= first else (0, 0)


@dataclass(frozen=True)
class TimeNode:
    """A node of a :class:`TimeGraph`: ``op`` applied to ``inputs`` (indices of earlier nodes; several
    inputs = a pointwise combination of same-length paths, e.g. a residual sum)."""

    op: TimeOp
    inputs: tuple[int, ...]


@dataclass(frozen=True)
class TimeGraph:
    """Node 0 is the network's input; nodes are in topological order; ``output`` is the layer's output node."""

    nodes: tuple[TimeNode, ...]
    output: int

    @classmethod
    def chain(cls, ops: Sequence[TimeOp]) -> TimeGraph:
        """A plain stack of operations (our model files)."""
        nodes = [TimeNode(TimeOp(), ())] + [TimeNode(op, (i,)) for i, op in enumerate(ops)]
        return cls(tuple(nodes), len(nodes) - 1)

    def lengths(self, n_frames: int) -> list[int]:
        out = [n_frames]
        for node in self.nodes[1:]:
            out.append(node.op.out_len(min(out[i] for i in node.inputs)))
        return out

    def strides(self) -> list[int]:
        """Cumulative time stride of each node (input frames per position)."""
        out = [1]
        for node in self.nodes[1:]:
            out.append(max(out[i] for i in node.inputs) * node.op.stride)
        return out

    @property
    def alignment(self) -> int:
        """A crop must start at a multiple of this (every cumulative stride divides it)."""
        return math.lcm(*self.strides())

    def relevant(self) -> list[bool]:
        """Nodes on some path from the input to the output."""
        keep = [False] * len(self.nodes)
        keep[self.output] = True
        for n in range(len(self.nodes) - 1, 0, -1):
            if keep[n]:
                for i in self.nodes[n].inputs:
                    keep[i] = True
        return keep


@dataclass(frozen=True)
class WindowPlan:
    """The crop ``[start, end)`` of input frames whose forward + backward pass gives ``D`` exactly on
    ``[target_start, target_end)``; ``n_frames`` is the whole clip's."""

    start: int
    end: int
    target_start: int
    target_end: int
    n_frames: int

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def context(self) -> tuple[int, int]:
        """Extra frames before and after the target."""
        return self.target_start - self.start, self.end - self.target_end


def merged(intervals: Sequence[Interval], new: Interval) -> list[Interval]:
    """The union of ``intervals`` and ``new`` as sorted, disjoint intervals (touching ones joined): what a
    progressive fill has covered so far, in samples or frames."""
    out: list[Interval] = []
    lo, hi = new
    for a, b in sorted(intervals):
        if b < lo or a > hi:
            out.append((a, b))
        else:
            lo, hi = min(lo, a), max(hi, b)
    out.append((lo, hi))
    return sorted(out)


def _hull(a: Interval, b: Interval) -> Interval:
    if a[1] <= a[0]:
        return b
    if b[1] <= b[0]:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]))


def _clip(iv: Interval, n: int) -> Interval:
    lo, hi = max(0, iv[0]), min(n, iv[1])
    return (lo, hi) if hi > lo else (0, 0)


def requirements(graph: TimeGraph, n_frames: int, target: Interval) -> tuple[list[Interval], list[Interval]]:
    """Per node, the positions that must be exact for ``D`` on input frames ``target``: ``forward[n]`` (values
    and everything the users read, unclipped so that reads into padding show) and ``backward[n]``."""
    lengths = graph.lengths(n_frames)
    keep = graph.relevant()
    backward: list[Interval] = [(0, 0)] * len(graph.nodes)
    backward[0] = _clip(target, n_frames)
    for n in range(1, len(graph.nodes)):
        if not keep[n]:
            continue
        iv: Interval = (0, 0)
        for i in graph.nodes[n].inputs:
            iv = _hull(iv, graph.nodes[n].op.written(backward[i], lengths[n]))
        backward[n] = iv
    forward: list[Interval] = list(backward)
    for n in range(len(graph.nodes) - 1, 0, -1):
        if not keep[n]:
            continue
        need = _clip(forward[n], lengths[n])
        reads = graph.nodes[n].op.reads(need)
        for i in graph.nodes[n].inputs:
            forward[i] = _hull(forward[i], reads)
    return forward, backward


def crop_is_exact(graph: TimeGraph, n_frames: int, target: Interval, start: int, end: int) -> bool:
    """Whether the forward + backward pass on input frames ``[start, end)`` gives ``D`` exactly on ``target``."""
    if not (0 <= start < end <= n_frames) or start % graph.alignment:
        return False
    forward, _ = requirements(graph, n_frames, target)
    whole = graph.lengths(n_frames)
    crop = graph.lengths(end - start)
    strides = graph.strides()
    keep = graph.relevant()
    for n, need in enumerate(forward):
        if not keep[n] or need[1] <= need[0]:
            continue
        s = start // strides[n]
        e = s + crop[n]
        if crop[n] <= 0:
            return False
        inside = _clip(need, whole[n])
        if inside[1] > inside[0] and (inside[0] < s or inside[1] > e):
            return False
        if need[0] < 0 and s != 0:  # reads the clip's left padding: the crop must pad there too
            return False
        if need[1] > whole[n] and e != whole[n]:
            return False
    return True


def plan_window(graph: TimeGraph, n_frames: int, target: Interval) -> WindowPlan:
    """The smallest aligned crop (found by widening from the requirements) that is exact on ``target``."""
    target = _clip(target, n_frames)
    if target[1] <= target[0]:
        raise ValueError(f"empty window {target} in a clip of {n_frames} frames")
    forward, _ = requirements(graph, n_frames, target)
    align = graph.alignment
    need = _clip(forward[0], n_frames)
    start = (need[0] // align) * align
    end = min(n_frames, max(need[1], target[1]))
    while not crop_is_exact(graph, n_frames, target, start, end):
        if start > 0 and not _left_ok(graph, n_frames, target, start, end):
            start = max(0, start - align)
        elif end < n_frames:
            end = min(n_frames, end + align)
        elif start > 0:
            start = max(0, start - align)
        else:  # pragma: no cover - the whole clip is always exact
            raise AssertionError("no exact crop found, not even the whole clip")
    return WindowPlan(start, end, target[0], target[1], n_frames)


def _left_ok(graph: TimeGraph, n_frames: int, target: Interval, start: int, end: int) -> bool:
    """The left-edge conditions of :func:`crop_is_exact` alone (widen left only when they fail)."""
    forward, _ = requirements(graph, n_frames, target)
    strides = graph.strides()
    whole = graph.lengths(n_frames)
    keep = graph.relevant()
    for n, need in enumerate(forward):
        if not keep[n] or need[1] <= need[0]:
            continue
        s = start // strides[n]
        inside = _clip(need, whole[n])
        if (inside[1] > inside[0] and inside[0] < s) or (need[0] < 0 and s != 0):
            return False
    return True


def frames_for_samples(first: int, last: int, *, n_fft: int, hop: int, center: bool, n_frames: int) -> Interval:
    """STFT frames that overlap samples ``[first, last)`` (plus one each side, so the inverse STFT's window
    envelope over those samples sums exactly the frames the whole clip's does), clipped to the clip."""
    offset = n_fft // 2 if center else 0
    lo = -(-(first + offset - n_fft + 1) // hop)
    hi = (last - 1 + offset) // hop
    return _clip((lo - 1, hi + 2), n_frames)
