"""A network given as a ``torch.nn.Module``, traced with ``torch.fx``: its layers, notes and attributions."""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import fx, nn

from app.core.batchnorm import BatchNormStatistics, fold_into_conv
from app.core.errors import ModelFormatError, SelectionError, UnsupportedModelError, first_line
from app.core.frontend import FrontEnd
from app.core.methods import Method, ReluRule, RuleReLU, batched_backward
from app.core.model import OUTPUT_ACTIVATIONS, Model
from app.core.traced.notes import HARMLESS_NOTES, FidelityNote, NoteKind, note
from app.core.traced.operations import (
    BN_MODULES,
    CONV_MODULES,
    LINEAR_MODULES,
    NORM_MODULES,
    PRODUCT_MODULES,
    TARGETS,
    describe_target,
    operation_kind,
    own_stride,
    relu_form,
)
from app.core.traced.recorder import Recorder
from app.core.windowing import TimeGraph

# Maps per chunk of results: the largest intermediate of a chunk (if batched) stays within this many float32s.
DEFAULT_CHUNK_ELEMENTS = 8_000_000
PROBE_SECONDS = 4.0
MAX_PROBE_FRAMES = 8192  # the longest probe tried for a network whose layers need more than PROBE_SECONDS


@dataclass(frozen=True)
class TracedLayer:
    """One auralisable layer of a traced network (counted from 1).

    ``ops``: the graph operations it spans (a conv and what follows it, or an activation and its pooling);
    ``node``: the graph node of its output; ``strides``: (frequency, time) input bins per output cell.
    """

    number: int
    name: str
    n_maps: int
    node: str
    ops: tuple[str, ...]
    kind: str  # "conv" | "activation"
    strides: tuple[int, int]


@dataclass(frozen=True)
class ReluSite:
    """A ReLU found in the graph, as the user wrote it; every one gets the method's backward rule."""

    name: str
    form: str  # module | function | method
    inplace: bool


@dataclass
class GraphRecord:
    """One recorded forward pass: the input (a leaf that requires grad) and every layer's output, graph kept."""

    input: torch.Tensor
    outputs: tuple[torch.Tensor, ...]


def fold_conv_batchnorm(conv: nn.Module, bn: nn.Module) -> None:
    """Fold an eval-mode batch-norm into the conv before it, in place (the model files' arithmetic)."""
    statistics = BatchNormStatistics(bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    weight, bias = fold_into_conv(conv.weight, conv.bias, statistics)
    conv.weight = nn.Parameter(weight, requires_grad=False)
    conv.bias = nn.Parameter(bias, requires_grad=False)


class TracedNetwork:
    """A network given as a module (or converted from ONNX), seen through its ``torch.fx`` graph.

    Stands where :class:`~app.core.model.Model` stands in :class:`~app.core.analysis.Analysis`: ``layers``,
    ``layer(n)``, ``forward_record``, ``layer_output``, ``iter_attribute``, ``logits``, ``activate``.
    """

    def __init__(
        self,
        module: nn.Module,
        front_end: FrontEnd,
        *,
        labels: Sequence[str] = (),
        output: str | None = None,
        task: str = "",
        name: str = "",
        head_input_frames: int | None = None,
        path: Path | None = None,
        sha256: str | None = None,
        source: str = "",
        display_names: Mapping[str, str] | None = None,
        strict: bool = False,
    ) -> None:
        self.front_end = front_end
        self.path = Path(path) if path is not None else None
        self.sha256 = sha256
        self.source = source or name or type(module).__name__
        self._name = name
        self.task = task
        self.head_input_frames = head_input_frames
        self.device = torch.device("cpu")
        self._rule = ReluRule()
        self._lock = threading.Lock()
        self._display = dict(display_names or getattr(module, "aurascope_display_names", {}) or {})
        self._min_frames: int | None = None
        self._cut_bodies: dict[int, fx.GraphModule] = {}  # the body up to layer L, for windows cropped for L
        self._cut_lock = threading.Lock()

        module = copy.deepcopy(module).eval()
        for p in module.parameters():
            p.requires_grad_(False)
        try:
            gm = fx.symbolic_trace(module)
        except Exception as err:
            raise UnsupportedModelError(
                self.source,
                f"torch.fx cannot trace its forward ({first_line(err)}). Aurascope follows the network's graph, so "
                "its forward must not branch or loop on tensor values; move such logic out of forward()",
            ) from None
        self._check_inputs(gm)
        self.relus = self._replace_relus(gm)
        notes = self._fold_batchnorms(gm)
        gm.graph.lint()
        gm.recompile()
        self._gm = gm

        probe_frames = head_input_frames or front_end.n_frames(int(PROBE_SECONDS * front_end.sample_rate))
        recorder, result = self._probe(gm, probe_frames)
        order = {n: i for i, n in enumerate(gm.graph.nodes)}
        frames = probe_frames
        # a network whose deeper layers need more than PROBE_SECONDS (Won et al.'s FCN: 1280 frames) would lose them
        # from the layer list: lengthen the probe while that gets it further through the graph
        while head_input_frames is None and recorder.failed is not None and frames < MAX_PROBE_FRAMES:
            frames *= 2
            longer, longer_result = self._probe(gm, frames)
            if longer.failed is None or order[longer.failed[0]] > order[recorder.failed[0]]:
                recorder, result, probe_frames = longer, longer_result, frames
        self._probe_frames = probe_frames
        self._shapes = recorder.shapes
        nodes = list(gm.graph.nodes)
        depends = self._input_dependent(nodes)
        self.layers = self._find_layers(gm, nodes, depends)
        if not self.layers:
            self._check_probe(recorder, nodes)
            raise UnsupportedModelError(
                self.source, "no conv or activation layer with feature maps (B, C, H, W) was found in its graph"
            )
        self._check_probe(recorder, nodes)
        self._body = self._body_module(gm)
        ancestors = {layer.number: self._ancestors(gm.graph, layer.node) for layer in self.layers}
        self._elements_per_frame = {
            n: max(math.prod(self._shapes.get(a, (0,))) for a in anc | {self.layers[n - 1].node}) / probe_frames
            for n, anc in ancestors.items()
        }
        notes += self._classify(gm, nodes, depends, ancestors)
        notes = [self._with_layers(n, ancestors) for n in notes]
        notes = [n for n in notes if n.layers]  # operations in the head change no layer's result

        self.has_head = isinstance(result, torch.Tensor) and result.dim() == 2
        self.n_outputs = int(result.shape[1]) if self.has_head else 0
        if not self.has_head and recorder.failed is not None:
            node, reason = recorder.failed
            notes.append(note(NoteKind.HEAD, self._label(node), frames=probe_frames, reason=reason))
        self.labels = tuple(labels)
        if self.labels and len(self.labels) != self.n_outputs:
            raise ModelFormatError(None, f"{len(self.labels)} labels for {self.n_outputs} outputs", field="labels")
        if output is None:
            output = self._guess_output(gm) if self.has_head else "none"
        if output not in OUTPUT_ACTIVATIONS:
            raise ModelFormatError(None, f"expected one of {OUTPUT_ACTIVATIONS}, got {output!r}", field="output")
        self.output = output
        self.notes = tuple(notes)
        changing = [n.message for n in self.notes if n.kind not in HARMLESS_NOTES]
        if strict and changing:
            raise UnsupportedModelError(self.source, "; ".join(dict.fromkeys(changing)))

    # --- construction steps ---------------------------------------------------------------------------
    @classmethod
    def from_model(cls, model: Model) -> TracedNetwork:
        """The autograd twin of an explicit-route :class:`~app.core.model.Model` (same weights, same layers)."""
        from app.core.model import to_torch_module

        return cls(
            to_torch_module(model).cpu(),
            model.front_end,
            name=model.name,
            path=model.path,
            sha256=model.sha256,
            source=str(model.path or model.name),
            display_names={str(layer.first_op): layer.name for layer in model.layers},
            output="none",
        ).to(model.device)

    def _check_inputs(self, gm: fx.GraphModule) -> None:
        required = [n for n in gm.graph.nodes if n.op == "placeholder" and not n.args]
        if len(required) != 1:
            raise UnsupportedModelError(
                self.source,
                f"its forward takes {len(required)} required inputs; Aurascope feeds one spectrogram "
                "(batch, 1, n_bins, n_frames)",
            )

    def _label(self, node: fx.Node) -> str:
        if node.op == "call_module":
            return self._display.get(str(node.target), str(node.target))
        return node.name

    def _replace_relus(self, gm: fx.GraphModule) -> tuple[ReluSite, ...]:
        graph = gm.graph
        order = {n: i for i, n in enumerate(graph.nodes)}
        sites: list[ReluSite] = []
        replaced_modules: set[str] = set()
        for node in list(graph.nodes):
            found = relu_form(gm, node)
            if found is None:
                continue
            form, inplace = found
            source = node.args[0] if node.args else node.kwargs.get("input")
            label = self._label(node)
            sites.append(ReluSite(label, form, inplace))
            if inplace and isinstance(source, fx.Node):
                # later readers of the mutated tensor read the ReLU's output, as they did at run time
                for user in list(source.users):
                    if user is not node and order[user] > order[node]:
                        user.replace_input_with(source, node)
            if form == "module":
                target = str(node.target)
                if target not in replaced_modules:
                    gm.add_submodule(target, RuleReLU(self._rule, label))
                    replaced_modules.add(target)
                node.args, node.kwargs = (source,), {}
                continue
            target = f"aurascope_{node.name}"
            gm.add_submodule(target, RuleReLU(self._rule, label))
            self._display[target] = label
            with graph.inserting_before(node):
                new = graph.call_module(target, (source,))
            node.replace_all_uses_with(new)
            order[new] = order[node]
            graph.erase_node(node)
        return tuple(sites)

    def _fold_batchnorms(self, gm: fx.GraphModule) -> list[FidelityNote]:
        notes = []
        graph = gm.graph
        module_uses: dict[str, int] = {}
        for node in graph.nodes:
            if node.op == "call_module":
                module_uses[str(node.target)] = module_uses.get(str(node.target), 0) + 1
        for node in list(graph.nodes):
            if node.op != "call_module" or not isinstance(gm.get_submodule(str(node.target)), BN_MODULES):
                continue
            prev = node.args[0]
            after_conv = (
                isinstance(prev, fx.Node)
                and prev.op == "call_module"
                and isinstance(gm.get_submodule(str(prev.target)), CONV_MODULES)
            )
            if after_conv and len(prev.users) == 1 and module_uses[str(prev.target)] == 1:
                bn = gm.get_submodule(str(node.target))
                if bn.running_mean is not None:
                    fold_conv_batchnorm(gm.get_submodule(str(prev.target)), bn)
                    node.replace_all_uses_with(prev)
                    graph.erase_node(node)
                    continue
            on_input = isinstance(prev, fx.Node) and prev.op == "placeholder"
            gain = _input_gain(gm.get_submodule(str(node.target))) if on_input else None
            if gain is not None and gain > 0:
                notes.append(note(NoteKind.INPUT_GAIN, self._label(node), gain=gain, graph_node=node.name))
                continue
            if not after_conv:
                before = self._label(prev) if isinstance(prev, fx.Node) else "?"
                notes.append(note(NoteKind.BATCHNORM, self._label(node), before=before, graph_node=node.name))
        return notes

    def _probe(self, gm: fx.GraphModule, frames: int) -> tuple[Recorder, object]:
        """Run the graph once on ``frames`` frames of noise, recording shapes (and where it failed, if it did)."""
        recorder = Recorder(gm)
        with torch.no_grad():
            try:
                result = recorder.run(self._probe_input(frames))
            except Exception:
                result = None
        return recorder, result

    def _probe_input(self, frames: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(0)
        return torch.rand(1, 1, self.front_end.n_bins, frames, generator=gen).to(self.device)

    @staticmethod
    def _input_dependent(nodes: list[fx.Node]) -> set[fx.Node]:
        out: set[fx.Node] = set()
        for node in nodes:
            if (node.op == "placeholder" and not node.args) or any(a in out for a in node.all_input_nodes):
                out.add(node)
        return out

    def _spatial(self, node: fx.Node) -> bool:
        shape = self._shapes.get(node.name)
        return shape is not None and len(shape) in (3, 4)

    def _find_layers(self, gm: fx.GraphModule, nodes: list[fx.Node], depends: set[fx.Node]) -> list[TracedLayer]:
        found: list[tuple[fx.Node, list[fx.Node], str]] = []
        taken: set[fx.Node] = set()
        for node in nodes:
            kind = operation_kind(gm, node)
            if kind not in ("conv", "relu", "activation") or node in taken or node not in depends:
                continue
            if not self._spatial(node):
                continue
            # a conv takes its normalisation, one activation and its pooling; an activation only the pooling
            follow = ("bn", "relu", "activation", "pool", "pass") if kind == "conv" else ("bn", "pool", "pass")
            chain = [node]
            while len(chain[-1].users) == 1:
                user = next(iter(chain[-1].users))
                user_kind = operation_kind(gm, user)
                if user_kind not in follow or not self._spatial(user) or user.args[:1] != (chain[-1],):
                    break
                if user_kind in ("relu", "activation"):
                    follow = ("bn", "pool", "pass")
                chain.append(user)
            taken.update(chain)
            found.append((node, chain, "conv" if kind == "conv" else "activation"))
        layers = []
        strides = self._strides(gm, nodes)
        for number, (first, chain, kind) in enumerate(found, 1):
            out = chain[-1]
            shape = self._shapes[out.name]
            layers.append(
                TracedLayer(
                    number=number,
                    name=self._label(first),
                    n_maps=int(shape[1]),
                    node=out.name,
                    ops=tuple(self._label(n) for n in chain),
                    kind=kind,
                    strides=strides.get(out, (1, 1)),
                )
            )
        return layers

    def _strides(self, gm: fx.GraphModule, nodes: list[fx.Node]) -> dict[fx.Node, tuple[int, int]]:
        out: dict[fx.Node, tuple[int, int]] = {}
        for node in nodes:
            inputs = [out[a] for a in node.all_input_nodes if a in out]
            f = max((s[0] for s in inputs), default=1)
            t = max((s[1] for s in inputs), default=1)
            own = own_stride(gm, node)
            out[node] = (f * own[0], t * own[1])
        return out

    def _check_probe(self, recorder: Recorder, nodes: list[fx.Node]) -> None:
        if recorder.failed is None:
            return
        failed, reason = recorder.failed
        position = {n.name: i for i, n in enumerate(nodes)}
        last = max((position[layer.node] for layer in self.layers), default=len(nodes))
        if position[failed.name] <= last:
            raise UnsupportedModelError(
                self.source,
                f"it fails on a spectrogram of {self.front_end.n_bins} bins x {self._probe_frames} frames "
                f"({reason}); check the front end's bins and the module's expected input (batch, 1, bins, frames)",
                node=self._label(failed),
            )

    def _body_module(self, gm: fx.GraphModule, up_to_layer: int | None = None) -> fx.GraphModule:
        """The graph cut after the outputs of layers 1..``up_to_layer`` (all layers when None)."""
        graph = fx.Graph()
        mapping: dict[fx.Node, fx.Node] = {}
        graph.graph_copy(gm.graph, mapping)
        by_name = {n.name: n for n in gm.graph.nodes}
        graph.output(tuple(mapping[by_name[layer.node]] for layer in self.layers[:up_to_layer]))
        body = fx.GraphModule(gm, graph)
        body.graph.eliminate_dead_code()
        body.recompile()
        return body

    @staticmethod
    def _ancestors(graph: fx.Graph, name: str) -> set[str]:
        by_name = {n.name: n for n in graph.nodes}
        seen: set[str] = set()
        stack = [by_name[name]]
        while stack:
            for a in stack.pop().all_input_nodes:
                if a.name not in seen:
                    seen.add(a.name)
                    stack.append(a)
        return seen

    def _classify(
        self, gm: fx.GraphModule, nodes: list[fx.Node], depends: set[fx.Node], ancestors: dict[int, set[str]]
    ) -> list[FidelityNote]:
        body = set().union(*ancestors.values()) | {layer.node for layer in self.layers}
        notes = []
        for node in nodes:
            if node.name not in body or node not in depends or node.op in ("placeholder", "output", "get_attr"):
                continue
            found = self._judge(gm, node, depends)
            if found is not None:
                notes.append(replace(found, graph_node=node.name))
        return notes

    def _judge(self, gm: fx.GraphModule, node: fx.Node, depends: set[fx.Node]) -> FidelityNote | None:
        label = self._label(node)
        if node.op == "call_module":  # a module called at several places: say which call
            calls = [n for n in gm.graph.nodes if n.op == "call_module" and n.target == node.target]
            if len(calls) > 1:
                label = f"{label} (call {calls.index(node) + 1} of {len(calls)})"
        kind = operation_kind(gm, node)
        if kind in ("conv", "relu", "pool", "pass", "bn"):
            return None
        dependent_args = [a for a in node.all_input_nodes if a in depends]
        target = node.target
        what = describe_target(gm, node)
        if kind == "activation":
            return note(NoteKind.ACTIVATION, label, what=what)
        if node.op == "call_module":
            module = gm.get_submodule(str(target))
            if isinstance(module, LINEAR_MODULES):
                return None
            if isinstance(module, PRODUCT_MODULES):
                return note(NoteKind.PRODUCT, label, what=what)
            if isinstance(module, NORM_MODULES):
                return note(NoteKind.NORMALISATION, label, what=what)
            return note(NoteKind.UNKNOWN, label, what=what)
        targets = TARGETS.get(str(node.op))
        if targets is None:
            return None
        joins = len(dependent_args) > 1  # two paths that depend on the input meet here
        if target in targets.sums and joins:
            return note(NoteKind.RESIDUAL, label)
        if target in targets.scalings:
            return note(NoteKind.PRODUCT, label, what="a product") if joins else None
        if target in targets.products:
            return note(NoteKind.PRODUCT, label, what=what)
        if target in targets.norms:
            return note(NoteKind.NORMALISATION, label, what=what)
        if target in targets.sums or target in targets.linear:
            return None
        return note(NoteKind.UNKNOWN, label, what=what)

    def _with_layers(self, fidelity: FidelityNote, ancestors: dict[int, set[str]]) -> FidelityNote:
        name = fidelity.graph_node or fidelity.node
        affected = tuple(n for n, anc in ancestors.items() if name in anc | {self.layers[n - 1].node})
        if not affected or fidelity.kind == NoteKind.HEAD:
            return replace(fidelity, layers=affected)
        span = (
            f"layer {affected[0]} ({self.layers[affected[0] - 1].name})"
            if len(affected) == 1
            else f"layers {affected[0]}-{affected[-1]} ({self.layers[affected[0] - 1].name} and above)"
            if affected == tuple(range(affected[0], affected[-1] + 1))
            else f"layers {', '.join(map(str, affected))}"
        )
        return replace(fidelity, layers=affected, message=f"{fidelity.message}. Affects {span}")

    def _guess_output(self, gm: fx.GraphModule) -> str:
        out = next(n for n in gm.graph.nodes if n.op == "output")
        last = out.args[0]
        if isinstance(last, fx.Node):
            what = describe_target(gm, last).lower()
            if "softmax" in what or "sigmoid" in what:
                return "none"  # the network already applies its own output activation
        return "softmax"

    # --- what the user and the window read ---------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name or (self.path.stem if self.path else self.source)

    @property
    def warnings(self) -> tuple[str, ...]:
        """One sentence per operation where the methods are not the textbook ones (the window shows them)."""
        return tuple(dict.fromkeys(n.message for n in self.notes if n.kind != NoteKind.HEAD))

    @property
    def remarks(self) -> tuple[str, ...]:
        """The warnings that change no map (an input gain): said so the user knows, nothing to worry about."""
        return tuple(
            dict.fromkeys(n.message for n in self.notes if n.kind in HARMLESS_NOTES and n.kind != NoteKind.HEAD)
        )

    @property
    def kind(self) -> str:
        return "traced"

    def layer(self, number: int) -> TracedLayer:
        if not 1 <= number <= len(self.layers):
            raise SelectionError(f"layer {number} is out of range: the model has layers 1-{len(self.layers)}")
        return self.layers[number - 1]

    def to(self, device: torch.device | str) -> TracedNetwork:
        self.device = torch.device(device)
        self._gm.to(self.device)
        self._body.to(self.device)
        return self

    def min_input_frames(self) -> int:
        """Fewest frames the layers can take (found by running them on silence; cached)."""
        if self._min_frames is None:
            hi = 1
            while hi < 4096 and not self._runs(hi):
                hi *= 2
            lo = hi // 2
            while lo + 1 < hi:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if self._runs(mid) else (mid, hi)
            self._min_frames = hi
        return self._min_frames

    def _runs(self, frames: int) -> bool:
        try:
            with torch.no_grad():
                outs = self._body(torch.zeros(1, 1, self.front_end.n_bins, frames, device=self.device))
        except Exception:
            return False
        return all(o.numel() > 0 for o in outs)

    def output_shapes(self, n_frames: int) -> list[tuple[int, ...]]:
        """(C, H, W) of every layer's output for an input of ``n_frames``."""
        with torch.no_grad():
            outs = self._run_body(torch.zeros(1, 1, self.front_end.n_bins, n_frames, device=self.device))
        return [tuple(_as_maps(o).shape[1:]) for o in outs]

    def _run_body(self, x: torch.Tensor, up_to_layer: int | None = None) -> tuple[torch.Tensor, ...]:
        """The layers (1..``up_to_layer``) on ``x``; the user's graph failing there is an
        :class:`UnsupportedModelError` naming the input size, never a traceback."""
        body = self._body
        if up_to_layer is not None and up_to_layer < len(self.layers):
            # a window cropped for layer L need not be long enough for the layers above it (Won et al.'s FCN: 1280)
            with self._cut_lock:
                if up_to_layer not in self._cut_bodies:
                    self._cut_bodies[up_to_layer] = self._body_module(self._gm, up_to_layer)
                body = self._cut_bodies[up_to_layer]
        try:
            return body(x)
        except Exception as err:
            fewest = self.min_input_frames()
            need = f"; it needs at least {fewest} frames" if x.shape[-1] < fewest else ""
            raise UnsupportedModelError(
                self.source,
                f"its layers fail on a {x.shape[-2]} x {x.shape[-1]} spectrogram ({first_line(err)}){need}",
            ) from None

    def strides(self, number: int) -> tuple[int, int]:
        """(frequency, time) input bins per output cell of layer ``number``."""
        return self.layer(number).strides

    def kernels(self, number: int) -> torch.Tensor | None:
        """The conv weights of a conv layer ``[shape=(n_maps, C_in, kh, kw)]``, else None."""
        layer = self.layer(number)
        node = next(n for n in self._gm.graph.nodes if self._label(n) == layer.ops[0])
        if layer.kind == "conv" and node.op == "call_module":
            return self._gm.get_submodule(str(node.target)).weight.detach()
        return None

    # --- the interface Analysis uses -----------------------------------------------------------------------
    def forward_record(self, x: torch.Tensor, up_to_layer: int | None = None) -> GraphRecord:
        """Run the layers on ``x`` ``[shape=(1, 1, n_bins, n_frames)]`` keeping the autograd graph."""
        with torch.enable_grad():
            inp = x.detach().to(self.device).clone().requires_grad_(True)
            outs = tuple(_as_maps(o) for o in self._run_body(inp, up_to_layer))
        return GraphRecord(input=inp, outputs=outs)

    def time_graph(self, number: int) -> TimeGraph | None:
        """Layer ``number`` seen along time, or None when some operation below it is not local in time."""
        from app.core.traced.time_axis import time_graph

        return time_graph(self._body, self._shapes, self.layer(number).node)

    def layer_output(self, record: GraphRecord, layer: int) -> torch.Tensor:
        """Layer ``layer``'s output ``[shape=(1, C, H, W)]`` (detached)."""
        self.layer(layer)
        return record.outputs[layer - 1].detach()

    def chunk_size(self, record: GraphRecord, layer: int, budget: int = DEFAULT_CHUNK_ELEMENTS) -> int:
        largest = self._elements_per_frame[layer] * record.input.shape[-1]
        return max(1, int(budget // max(largest, 1)))

    def iter_attribute(
        self,
        record: GraphRecord,
        layer: int,
        features: Sequence[int] | None = None,
        *,
        method: Method | str = Method.DECONVNET,
        chunk: int | None = None,
        batched: bool = False,
    ) -> Iterator[tuple[list[int], torch.Tensor]]:
        """Yield ``(features, D)`` chunk by chunk, ``D`` ``[shape=(k, n_bins, n_frames)]`` in the input domain."""
        info = self.layer(layer)
        feats = list(range(info.n_maps)) if features is None else list(features)
        bad = [k for k in feats if not 0 <= k < info.n_maps]
        if bad:
            raise SelectionError(f"feature {bad[0]} is out of range: layer {layer} has features 0-{info.n_maps - 1}")
        method = Method(method)
        chunk = chunk or self.chunk_size(record, layer)
        for start in range(0, len(feats), chunk):
            with self._lock:
                self._rule.method = method
                yield from batched_backward(
                    record.outputs[layer - 1], record.input, feats[start : start + chunk], chunk, batched=batched
                )

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output for each input of a batch ``(B, 1, n_bins, n_frames)`` -> ``(B, n_outputs)``.

        One input at a time: an exported graph may have its batch size fixed in a reshape.
        """
        if not self.has_head:
            raise SelectionError("this network has no classifier output")
        try:
            return torch.cat([self._gm(x[i : i + 1].to(self.device)) for i in range(x.shape[0])])
        except RuntimeError as err:
            raise UnsupportedModelError(
                self.source,
                f"its output cannot be computed on {x.shape[-1]} frames ({first_line(err)}); if its head takes a "
                "fixed number of frames, give it as 'head_input_frames' in the sidecar",
            ) from None

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        if self.output == "softmax":
            return torch.softmax(logits, dim=-1)
        if self.output == "sigmoid":
            return torch.sigmoid(logits)
        return logits


def _input_gain(bn: nn.Module) -> float | None:
    """The one gain a batch-norm with running statistics applies to a one-channel input, else None."""
    if getattr(bn, "running_var", None) is None or bn.running_var.numel() != 1:
        return None
    weight = float(bn.weight) if getattr(bn, "weight", None) is not None else 1.0
    return weight / math.sqrt(float(bn.running_var) + bn.eps)


def _as_maps(t: torch.Tensor) -> torch.Tensor:
    return t.unsqueeze(-2) if t.dim() == 3 else t


def describe_relus(sites: Sequence[ReluSite]) -> str:
    """One line: how many ReLUs of each form were found (each got the method's rule)."""
    forms = {"module": 0, "function": 0, "method": 0}
    for site in sites:
        forms[site.form] += 1
    inplace = sum(site.inplace for site in sites)
    parts = [f"{n} as {form}s" for form, n in forms.items() if n]
    return f"{len(sites)} ReLUs ({', '.join(parts) or 'none'}; {inplace} in place), each with the method's rule"
