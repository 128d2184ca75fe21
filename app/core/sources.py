"""Opening a model from any source, and writing a user's module as an Aurascope ``.safetensors`` file.

Sources (:func:`open_model`):

- ``model.safetensors``: our own format (DESIGN 2); the explicit batched deconvnet.
- ``package.module:callable`` + ``--weights w.pt|w.safetensors`` + ``--front-end fe.json``: a PyTorch module
  built by the user's own (trusted) code; its weights are read by safetensors or by torch's ``weights_only``
  loader and nothing else; the module is traced (:mod:`app.core.traced`).
- ``model.onnx`` + ``--front-end fe.json``: an ONNX graph (:mod:`app.core.traced.onnx_import`), traced the same way.

The sidecar JSON holds ``front_end`` (DESIGN 2's block) and optionally ``labels``, ``output``, ``task``,
``name`` and ``head_input_frames``. Errors name the file and the field.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, Protocol, TypedDict, Unpack

import torch
from torch import fx, nn

from app.core import limits
from app.core.architecture import Block
from app.core.audio import file_sha256
from app.core.errors import AurascopeError, FidelityWarning, ModelFormatError, UnsupportedModelError, first_line
from app.core.formats import jsonio
from app.core.formats.frontend import parse_front_end_file
from app.core.frontend import FrontEnd
from app.core.methods import Method
from app.core.model import OUTPUT_ACTIVATIONS, Model, load_model, require_floating
from app.core.module_names import MODULE_SOURCE
from app.core.traced import TracedNetwork
from app.core.traced.recorder import Recorder

if TYPE_CHECKING:
    from app.core.deconv import ForwardRecord
    from app.core.traced.network import GraphRecord
    from app.core.trust import ModuleDescription

    #: A forward pass as its network keeps it: our files' layer outputs and switches, or a traced autograd graph.
    Record = ForwardRecord | GraphRecord
    #: A pool's size arguments as a module or a call gives them: one number for every axis, or one per axis.
    Size = int | tuple[int, ...]

#: a front end's or sidecar's fields as parsed JSON, before validation (`FrontEnd.from_dict` checks them): open
FrontEndFields = Mapping[str, Any]


class OpenOptions(TypedDict, total=False):
    """`open_model`'s keyword options, passed on by `open_model_noting`."""

    weights: str | Path | None
    front_end: FrontEndSource | None
    strict: bool
    search_folder: str | Path | None
    consented: ModuleDescription | None


class _Identity(TypedDict):
    """Where a traced network came from (`TracedNetwork`'s keywords besides the sidecar's)."""

    source: str
    path: Path | None
    sha256: str | None
    strict: bool


class LayerRow(TypedDict):
    """One row of `layer_table`: shapes are ``[maps, freq, time]`` of the layer's output for a clip."""

    layer: int
    name: str
    maps: int
    kernel: list[int] | None
    output_shape: list[int]
    output_shape_4s: list[int] | None
    ops: NotRequired[list[str]]  # a traced network's operations in the layer


class NetworkLayer(Protocol):
    """What every kind of layer tells (:class:`~app.core.architecture.LayerInfo`, :class:`TracedLayer`)."""

    @property
    def number(self) -> int: ...  # counted from 1
    @property
    def name(self) -> str: ...
    @property
    def n_maps(self) -> int: ...


class Network(Protocol):
    """What :class:`~app.core.analysis.Analysis`, the CLI and the window need from a model, of either kind."""

    front_end: FrontEnd
    path: Path | None
    sha256: str | None
    device: torch.device

    @property
    def name(self) -> str: ...
    @property
    def layers(self) -> Sequence[NetworkLayer]: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def output(self) -> str: ...
    @property
    def has_head(self) -> bool: ...
    @property
    def head_input_frames(self) -> int | None: ...
    @property
    def warnings(self) -> tuple[str, ...]: ...
    @property
    def kind(self) -> str: ...  # "safetensors" (explicit route) | "traced"

    def layer(self, number: int) -> NetworkLayer: ...
    def to(self, device: torch.device | str) -> Network: ...
    def min_input_frames(self) -> int: ...
    def forward_record(self, x: torch.Tensor) -> Record: ...
    def layer_output(self, record: Record, layer: int) -> torch.Tensor: ...
    def iter_attribute(
        self, record: Record, layer: int, features: Sequence[int] | None = None, *, method: Method | str = ...
    ) -> Iterator[tuple[list[int], torch.Tensor]]: ...
    def logits(self, x: torch.Tensor) -> torch.Tensor: ...
    def activate(self, logits: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Sidecar:
    """The JSON next to a module or ONNX file: its front end, and optionally how to read its output."""

    front_end: FrontEnd
    labels: tuple[str, ...] = ()
    output: str | None = None  # softmax | sigmoid | none; None: guessed from the graph's last operation
    task: str = ""
    name: str = ""
    head_input_frames: int | None = None
    path: Path | None = None

    @classmethod
    def from_dict(cls, data: Any, path: Path | None = None) -> Sidecar:  # data: any parsed JSON, validated here
        """Validate a parsed sidecar; raises :class:`ModelFormatError` naming the file and the field."""
        doc = parse_front_end_file(data, path=path)  # declared once: app/core/formats/frontend.py (FrontEndFile)
        try:
            front_end = FrontEnd.from_dict(data["front_end"])
        except ModelFormatError as err:
            raise ModelFormatError(path, err.reason, field=err.field) from None
        labels = tuple(doc.labels)
        return cls(front_end, labels, doc.output, doc.task, doc.name, doc.head_input_frames, path=path)


#: what a front end may be given as: a sidecar file, a read sidecar, a front end, or its fields
FrontEndSource = str | Path | Sidecar | FrontEnd | FrontEndFields


def read_sidecar(path: str | Path) -> Sidecar:
    """Read a front-end sidecar JSON file."""
    path = Path(path)

    def fail(reason: str, field: str | None) -> ModelFormatError:
        return ModelFormatError(path, reason, field=field)

    # a regular file under the metadata limit (a FIFO is refused, not waited on), strict JSON
    raw = jsonio.read_file(path, fail, limit=limits.MAX_METADATA_BYTES, what="the front-end file")
    return Sidecar.from_dict(jsonio.loads(raw, fail, damaged="not valid JSON"), path)


def _sidecar(front_end: FrontEndSource | None, source: str) -> Sidecar:
    if front_end is None:
        raise ModelFormatError(
            source,
            "needs a front-end sidecar (--front-end fe.json): the spectrogram the network was trained on",
            field="front_end",
        )
    if isinstance(front_end, Sidecar):
        return front_end
    if isinstance(front_end, FrontEnd):
        return Sidecar(front_end)
    if isinstance(front_end, Mapping):
        return Sidecar.from_dict(dict(front_end))
    return read_sidecar(front_end)


# --- weights ---------------------------------------------------------------------------------------------
def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors`` file or a PyTorch checkpoint read by torch's ``weights_only`` loader.

    Nothing else unpickles: a checkpoint that needs more than tensors and containers (a pickled module, code)
    is refused by that loader, and the refusal is raised as :class:`ModelFormatError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(path, "no such file" if not path.exists() else "not a regular file", field="weights")
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            data = dict(load_file(str(path), device="cpu"))
        except Exception as err:
            reason = f"not a readable safetensors file ({first_line(err)})"
            raise ModelFormatError(path, reason, field="weights") from None
        return data
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelFormatError(
            path,
            "refused by torch's weights_only loader, the only way Aurascope reads a checkpoint (it holds more than "
            f"tensors, or is not a checkpoint: {first_line(err)}); save model.state_dict(), or use .safetensors",
            field="weights",
        ) from None
    for key in ("state_dict", "model_state_dict", "model", "weights"):
        if isinstance(data, Mapping) and isinstance(data.get(key), Mapping):
            data = data[key]
            break
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelFormatError(path, "expected a state dict (names -> tensors)", field="weights")
    return {str(k): v for k, v in data.items()}


def build_module(
    spec: str, *, search_folder: str | Path | None = None, consented: ModuleDescription | None = None
) -> nn.Module:
    """Import ``package.module:callable`` (the user's own code) and call it for the module.

    ``consented``: for a module a shared file (a session) names, the files the user agreed to run
    (:mod:`app.core.trust`); they are described again right before the import, and any change is refused.
    ``search_folder`` is put first on ``sys.path`` for the import only. Whatever the code raises, or a call
    to ``exit()``, becomes :class:`UnsupportedModelError` naming the module.
    """
    import sys

    module_name, _, attr = spec.partition(":")
    if consented is not None:
        from app.core.trust import describe_module

        now = describe_module(spec, search_folder)
        if now.sha256 != consented.sha256 or now.path != consented.path:
            raise UnsupportedModelError(spec, f"its files changed after you agreed to run them (now {now.text()})")
    folder = str(Path(search_folder).resolve()) if search_folder is not None else None
    added = folder is not None and folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        target: object = importlib.import_module(module_name)
        for part in attr.split("."):
            if not hasattr(target, part):
                raise UnsupportedModelError(spec, f"'{module_name}' has no '{attr}'")
            target = getattr(target, part)
        built = target if isinstance(target, nn.Module) else target() if callable(target) else None
    except AurascopeError:
        raise
    except ImportError as err:
        raise UnsupportedModelError(spec, f"cannot import '{module_name}' ({first_line(err)})") from None
    except SystemExit as err:  # sys.exit in the user's code must not end the app (silently, with status 0)
        raise UnsupportedModelError(spec, f"the module's code called exit({err.code!r}) while loading") from None
    except Exception as err:
        raise UnsupportedModelError(
            spec, f"the module's code raised {type(err).__name__} while loading: {first_line(err)}"
        ) from None
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
    if not isinstance(built, nn.Module):
        raise UnsupportedModelError(spec, f"'{attr}' gave {type(built).__name__}, not a torch.nn.Module")
    return built


# --- opening ----------------------------------------------------------------------------------------------
def open_module(
    module: nn.Module,
    front_end: FrontEndSource,
    *,
    weights: str | Path | None = None,
    source: str = "",
    strict: bool = False,
) -> TracedNetwork:
    """Trace an in-memory module (optionally loading ``weights`` into it) with its front end or sidecar.

    Warns :class:`FidelityWarning` once per operation the methods cannot treat faithfully (also kept in
    ``network.warnings``); ``strict=True`` raises :class:`UnsupportedModelError` instead.
    """
    source = source or type(module).__name__
    sidecar = _sidecar(front_end, source)
    path, sha = _load_weights(module, weights, sidecar.front_end)
    return _traced(module, sidecar, source=source, path=path, sha256=sha, strict=strict)


def _load_weights(module: nn.Module, weights: str | Path | None, front_end: FrontEnd) -> tuple[Path | None, str | None]:
    if weights is None:
        return None, None
    path = Path(weights)
    state = load_state_dict(path)
    state = _check_stored_front_end(state, module, front_end, path)
    own = module.state_dict()
    for name, tensor in state.items():  # load_state_dict would cast int8 or bool weights into float parameters
        if name in own and own[name].is_floating_point():
            require_floating(tensor.dtype, name, path)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        reason = "the weights do not fit the module: " + " ".join(str(err).split())[:400]
        raise ModelFormatError(path, reason, field="weights") from None
    return path.resolve(), file_sha256(path)


# torchaudio's MelSpectrogram keeps its window and filterbank as buffers, so a checkpoint of a network that computed
# its spectrogram saves them: ``<prefix>spectrogram.window`` [n_fft] and ``<prefix>mel_scale.fb`` [n_freq, n_mels].
_STORED_WINDOW = "spectrogram.window"
_STORED_FILTERBANK = "mel_scale.fb"
# the stored filterbank is float32 arithmetic of the torchaudio of its day: 1.1e-5 from the exact one in Won et
# al.'s FCN; a different front end (another scale, norm, range, band count) differs by 0.1 or more
_STORED_TOLERANCE = 1e-4


def _check_stored_front_end(
    state: dict[str, torch.Tensor], module: nn.Module, front_end: FrontEnd, path: Path
) -> dict[str, torch.Tensor]:
    """Check front-end tensors a checkpoint carries but the module does not hold against the sidecar's front end,
    and leave them out of the state dict: the spectrogram is the front end's job.

    Raises :class:`ModelFormatError` naming the file and the tensor when they describe another spectrogram.
    """
    own = set(module.state_dict())
    stored = {k: v for k, v in state.items() if k not in own and k.endswith((_STORED_WINDOW, _STORED_FILTERBANK))}
    for key, tensor in stored.items():
        if key.endswith(_STORED_WINDOW):
            ours = front_end.window_tensor()
            what = f"the window of the front end ({front_end.window.value}, n_fft {front_end.n_fft})"
        else:
            ours = front_end.mel_basis().T if front_end.scale.value == "mel" else torch.empty(0)
            what = (
                f"the mel filterbank of the front end ({front_end.n_freq} x {front_end.n_mels}, "
                f"{front_end.mel_scale.value} scale, {front_end.mel_norm.value} norm, "
                f"{front_end.fmin:g}-{front_end.fmax or front_end.sample_rate / 2:g} Hz)"
                if front_end.scale.value == "mel"
                else "a linear-frequency front end, which has no mel filterbank"
            )
        stored_shape = "x".join(map(str, tensor.shape))
        if tuple(tensor.shape) != tuple(ours.shape):
            reason = f"its '{key}' ({stored_shape}) is not {what}: the network was trained on another spectrogram"
            raise ModelFormatError(path, reason, field="front_end")
        error = float((tensor.double() - ours.double()).abs().max() / ours.abs().max().clamp_min(1e-12))
        if error > _STORED_TOLERANCE:
            reason = (
                f"its '{key}' differs from {what} by {error:.2g} of its peak: the network was trained on another "
                "spectrogram; check the sidecar's front end"
            )
            raise ModelFormatError(path, reason, field="front_end")
    return {k: v for k, v in state.items() if k not in stored}


def _traced(module: nn.Module, sidecar: Sidecar, **identity: Unpack[_Identity]) -> TracedNetwork:
    """Trace; warnings are attributed to the caller of the public function that called this one."""
    try:
        network = TracedNetwork(
            module,
            sidecar.front_end,
            labels=sidecar.labels,
            output=sidecar.output,
            task=sidecar.task,
            name=sidecar.name,
            head_input_frames=sidecar.head_input_frames,
            **identity,
        )
    except ModelFormatError as err:
        if err.path is None and sidecar.path is not None:  # labels/output checked against the graph
            raise ModelFormatError(sidecar.path, err.reason, field=err.field) from None
        raise
    for text in network.warnings:
        warnings.warn(text, FidelityWarning, stacklevel=3)
    return network


def open_model(
    source: str | Path,
    *,
    weights: str | Path | None = None,
    front_end: FrontEndSource | None = None,
    strict: bool = False,
    search_folder: str | Path | None = None,
    consented: ModuleDescription | None = None,
) -> Model | TracedNetwork:
    """Open a model from ``path.safetensors``, ``path.onnx`` (+ sidecar) or ``module:callable`` (+ sidecar).

    ``weights`` (module sources only): a ``.safetensors`` file or a checkpoint torch's ``weights_only``
    loader accepts. ``front_end``: the sidecar JSON path (or a :class:`Sidecar`, a :class:`FrontEnd`, a dict).
    ``search_folder`` and ``consented`` (module sources): see :func:`build_module`.
    Raises :class:`ModelFormatError` (a file or field) or :class:`UnsupportedModelError` (the network).
    """
    text = str(source)
    path = Path(text)
    if path.suffix.lower() == ".onnx":
        if weights is not None:
            raise ModelFormatError(path, "an ONNX file holds its own weights; --weights is for module sources")
        from app.core.traced import load_onnx

        sidecar = _sidecar(front_end, text)
        module = load_onnx(path)
        return _traced(module, sidecar, source=str(path), path=path.resolve(), sha256=file_sha256(path), strict=strict)
    if MODULE_SOURCE.match(text) and not path.exists():
        sidecar = _sidecar(front_end, text)
        module = build_module(text, search_folder=search_folder, consented=consented)
        path, sha = _load_weights(module, weights, sidecar.front_end)
        return _traced(module, sidecar, source=text, path=path, sha256=sha, strict=strict)
    if weights is not None or front_end is not None:
        raise ModelFormatError(
            path,
            "an Aurascope .safetensors file holds its own weights and front end; --weights and --front-end are "
            "for module:callable and ONNX sources",
        )
    return load_model(path)


def open_model_noting(
    source: str | Path, **options: Unpack[OpenOptions]
) -> tuple[Model | TracedNetwork, list[warnings.WarningMessage]]:
    """`open_model` (same ``options``), with the warnings it raised returned instead of shown: every
    :class:`FidelityWarning` (what the graph keeps a method from doing faithfully), each time, and any other. The
    CLI prints them; the window shows the fidelity notes in its banner."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FidelityWarning)
        network = open_model(source, **options)
    return network, list(caught)


# --- describing -------------------------------------------------------------------------------------------
def table_frames(network: Model | TracedNetwork, seconds: float = 4.0) -> int:
    """Frames of the clip ``aurascope info`` describes: ``seconds``, or the network's own window (the frames its
    head takes, or the fewest its layers take) when that is longer."""
    fe = network.front_end
    return max(fe.n_frames(int(seconds * fe.sample_rate)), network.min_input_frames(), network.head_input_frames or 0)


def layer_table(network: Model | TracedNetwork, seconds: float = 4.0) -> list[LayerRow]:
    """Every layer with its maps and output shape (``output_shape``) for a clip of :func:`table_frames` frames (for
    ``aurascope info``); ``output_shape_4s`` is that shape when the clip is ``seconds`` long, else None."""
    fe = network.front_end
    frames = table_frames(network, seconds)
    at_seconds = frames == fe.n_frames(int(seconds * fe.sample_rate))
    rows: list[LayerRow] = []
    if isinstance(network, Model):
        from app.core.model import body_output_shape

        spec = network.spec
        for layer in network.layers:
            trimmed = type(spec)(**{**spec.__dict__, "body": spec.body[: layer.last_op + 1], "head": ()})
            rows.append(
                {
                    "layer": layer.number,
                    "name": layer.name,
                    "maps": layer.n_maps,
                    "kernel": list(layer.conv.kernel_size),
                    "output_shape": (shape := list(body_output_shape(trimmed, frames))),
                    "output_shape_4s": shape if at_seconds else None,
                }
            )
    else:
        _traced_rows(network, frames, at_seconds, rows)
    return rows


def _traced_rows(network: TracedNetwork, frames: int, at_seconds: bool, rows: list[LayerRow]) -> None:
    shapes = network.output_shapes(frames)
    for layer, shape in zip(network.layers, shapes, strict=True):
        kernels = network.kernels(layer.number)
        rows.append(
            {
                "layer": layer.number,
                "name": layer.name,
                "maps": layer.n_maps,
                "kernel": list(kernels.shape[2:]) if kernels is not None and kernels.dim() == 4 else None,
                "output_shape": list(shape),
                "ops": list(layer.ops),
                "output_shape_4s": list(shape) if at_seconds else None,
            }
        )


# --- writing our format from a user's module -------------------------------------------------------------
def export_safetensors(
    module: nn.Module,
    front_end: FrontEnd | FrontEndFields,
    path: str | Path,
    *,
    labels: Sequence[str] = (),
    task: str = "",
    name: str = "",
    head_input_frames: int | None = None,
    output: str = "softmax",
    provenance: Mapping[str, Any] | None = None,  # how it was trained: free-form JSON, written as given
) -> Path:
    """Write a ``Sequential``-like module as an Aurascope ``.safetensors`` file (batch-norm folded).

    The module's graph must be a chain of ``Conv2d`` / ``BatchNorm2d`` / ReLU (any form) / ``MaxPool2d``
    (dropout and identity are skipped), then optionally a head: a global max or average pool
    (``AdaptiveMaxPool2d(1)``, ``amax``/``mean`` over both spatial axes), flatten, ``Linear`` and ReLU. A
    final softmax or sigmoid in the module becomes the file's ``output``; else ``output`` says how to read the
    logits (softmax, sigmoid or none). Anything else raises
    :class:`UnsupportedModelError` naming the layer. The written file is read back and must reproduce the
    module's output (relative error below 1e-4).
    """
    from app.core.model import ModelSpec, save_model

    fe = front_end if isinstance(front_end, FrontEnd) else FrontEnd.from_dict(dict(front_end))
    source = name or type(module).__name__
    chain = _Chain(module, fe, source, head_input_frames)
    body, head, weights, own_output = chain.blocks()
    if output not in OUTPUT_ACTIVATIONS:
        raise UnsupportedModelError(source, f"output must be one of {OUTPUT_ACTIVATIONS}, got {output!r}")
    spec = ModelSpec(
        front_end=fe,
        body=tuple(body),
        head=tuple(head),
        head_input_frames=head_input_frames,
        output=own_output if own_output != "none" else output if head else "softmax",
        labels=tuple(labels),
        task=task,
        name=name,
        provenance=dict(provenance or {"exported_from": f"{type(module).__module__}.{type(module).__qualname__}"}),
    )
    path = save_model(path, spec, weights)
    written = load_model(path)
    probe = chain.probe_input
    with torch.no_grad():
        expected = chain.module(probe)
        if not head:
            got = written.body(probe)
        else:
            got = written.logits(probe)
            got = written.activate(got) if own_output != "none" else got
    error = float((got - expected).abs().max() / expected.abs().max().clamp_min(1e-12))
    if got.shape != expected.shape or error > 1e-4:
        path.unlink(missing_ok=True)
        raise UnsupportedModelError(
            source,
            f"the written file does not reproduce the module's output (relative error {error:.2e}); its forward "
            "does something the chain of layers does not show",
        )
    return path


class _Chain:
    """A module's fx graph read as a chain of blocks of our format."""

    def __init__(self, module: nn.Module, fe: FrontEnd, source: str, head_input_frames: int | None) -> None:
        self.module = module.eval()
        self.source = source
        frames = head_input_frames or fe.n_frames(int(4.0 * fe.sample_rate))
        self.probe_input = torch.rand(1, 1, fe.n_bins, frames, generator=torch.Generator().manual_seed(0))
        try:
            self.gm = fx.symbolic_trace(self.module)
        except Exception as err:
            raise UnsupportedModelError(source, f"torch.fx cannot trace its forward ({first_line(err)})") from None
        recorder = Recorder(self.gm, keep_values=True)
        self.values = recorder.values
        try:
            with torch.no_grad():
                recorder.run(self.probe_input)
        except Exception as err:
            raise UnsupportedModelError(
                source,
                f"it fails on a {fe.n_bins} x {frames} spectrogram ({first_line(err)}); a flatten head needs "
                "head_input_frames",
            ) from None

    def refuse(self, node: fx.Node, what: str) -> UnsupportedModelError:
        return UnsupportedModelError(
            self.source,
            f"{what} cannot be written to an Aurascope .safetensors file, which holds conv2d / batchnorm2d / relu / "
            "maxpool2d layers and a global-pool / flatten / linear head. Open the module itself instead "
            "(module:callable with --weights and --front-end): the traced route takes any graph",
            node=str(node.target) if node.op == "call_module" else node.name,
        )

    def blocks(self) -> tuple[list[Block], list[Block], dict[str, torch.Tensor], str]:
        import torch.nn.functional as F

        from app.core.architecture import BatchNorm2d, Conv2d, Flatten, GlobalPool, Linear, MaxPool2d, ReLU

        body: list[Block] = []
        head: list[Block] = []
        weights: dict[str, torch.Tensor] = {}
        output = "none"
        previous = None
        alias: dict[fx.Node, fx.Node] = {}  # a tensor an in-place ReLU changed -> that ReLU (later readers read it)
        for node in self.gm.graph.nodes:
            if node.op == "placeholder" and previous is None:
                previous = node
                continue
            if node.op in ("placeholder", "get_attr", "output"):
                continue
            if not isinstance(self.values.get(node.name), torch.Tensor):
                continue  # shape arithmetic (x.size(0)) feeding a view
            tensor_inputs = [
                alias.get(a, a) for a in node.all_input_nodes if isinstance(self.values.get(a.name), torch.Tensor)
            ]
            if tensor_inputs != [previous]:
                raise self.refuse(node, f"'{node.name}' takes more than the layer before it (a branch or skip)")
            previous = node
            blocks = head if head or output != "none" else body
            module = self.gm.get_submodule(str(node.target)) if node.op == "call_module" else None
            target = node.target
            where = str(target) if module is not None else node.name
            shape = tuple(self.values[node.name].shape)
            if output != "none":
                raise self.refuse(node, f"'{where}' after the output activation")
            if isinstance(module, nn.Conv2d) and not head:
                if module.groups != 1 or module.dilation != (1, 1) or module.padding_mode != "zeros":
                    raise self.refuse(node, f"'{where}' (grouped, dilated or non-zero-padded conv)")
                padding = module.padding
                if isinstance(padding, str):
                    if padding == "same" and all(k % 2 for k in module.kernel_size):
                        padding = tuple((k - 1) // 2 for k in module.kernel_size)
                    elif padding == "valid":
                        padding = (0, 0)
                    else:
                        raise self.refuse(node, f"'{where}' (padding {padding!r} with an even kernel)")
                i = len(body)
                body.append(
                    Conv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride, tuple(padding))
                )
                weights[f"body.{i}.weight"] = module.weight.detach().float()
                bias = module.bias if module.bias is not None else torch.zeros(module.out_channels)
                weights[f"body.{i}.bias"] = bias.detach().float()
            elif isinstance(module, nn.BatchNorm2d) and not head:
                if not body:
                    raise self.refuse(node, f"'{where}' (a batch-norm before the first conv)")
                # after a conv it folds into it on loading; after a ReLU or a pool it is kept as an affine block
                i = len(body)
                body.append(BatchNorm2d(module.num_features, module.eps))
                n = module.num_features
                weights[f"body.{i}.weight"] = module.weight.detach() if module.weight is not None else torch.ones(n)
                weights[f"body.{i}.bias"] = module.bias.detach() if module.bias is not None else torch.zeros(n)
                weights[f"body.{i}.running_mean"] = module.running_mean.detach()
                weights[f"body.{i}.running_var"] = module.running_var.detach()
            elif _is_relu(module, node):
                blocks.append(ReLU())
                inplace = (
                    bool(getattr(module, "inplace", False))
                    or node.target in (torch.relu_, "relu_")
                    or bool(node.kwargs.get("inplace", False))
                )
                if inplace:
                    alias[node.all_input_nodes[0]] = node
            elif (isinstance(module, nn.MaxPool2d) or target is F.max_pool2d) and not head:
                kernel, stride, padding, dilation, ceil = _pool_args(module, node)
                if padding not in (0, (0, 0)) or dilation not in (1, (1, 1)) or ceil:
                    raise self.refuse(node, f"'{where}' (a padded, dilated or ceil-mode max-pool)")
                body.append(MaxPool2d(_pair(kernel), _pair(stride or kernel)))
            elif isinstance(module, nn.Dropout | nn.Dropout2d | nn.Identity) or target in (F.dropout, F.dropout2d):
                continue
            elif _global_pool_mode(module, node, shape) is not None:
                head.append(GlobalPool(_global_pool_mode(module, node, shape)))
            elif _is_flatten(module, node):
                if head and isinstance(head[-1], GlobalPool):
                    continue  # already (batch, channels)
                if node.target == "squeeze":
                    raise self.refuse(node, f"'{where}' (a squeeze that is not after a global pool)")
                head.append(Flatten())
            elif isinstance(module, nn.Linear):
                j = len(head)
                head.append(Linear(module.in_features, module.out_features))
                weights[f"head.{j}.weight"] = module.weight.detach().float()
                bias = module.bias if module.bias is not None else torch.zeros(module.out_features)
                weights[f"head.{j}.bias"] = bias.detach().float()
            elif isinstance(module, nn.Softmax) or target in (F.softmax, torch.softmax) or node.target == "softmax":
                output = "softmax"
            elif isinstance(module, nn.Sigmoid) or target in (torch.sigmoid, F.sigmoid) or node.target == "sigmoid":
                output = "sigmoid"
            else:
                what = f"'{where}' ({type(module).__name__ if module is not None else _name_of(target)})"
                raise self.refuse(node, what)
        if not body:
            raise UnsupportedModelError(self.source, "no conv2d layer found")
        return body, head, weights, output


def _name_of(target: object) -> str:
    return getattr(target, "__name__", str(target))


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _is_relu(module: nn.Module | None, node: fx.Node) -> bool:
    import torch.nn.functional as F

    if module is not None:
        return type(module) is nn.ReLU
    return node.target in (F.relu, torch.relu, torch.relu_, "relu", "relu_")


def _pool_args(module: nn.Module | None, node: fx.Node) -> tuple[Size, Size | None, Size, Size, bool]:
    if module is not None:
        return module.kernel_size, module.stride, module.padding, module.dilation, bool(module.ceil_mode)
    args = list(node.args) + [None] * 6
    kw = node.kwargs
    return (
        kw.get("kernel_size", args[1]),
        kw.get("stride", args[2]),
        kw.get("padding", args[3] if args[3] is not None else 0),
        kw.get("dilation", args[4] if args[4] is not None else 1),
        bool(kw.get("ceil_mode", args[5] or False)),
    )


def _global_pool_mode(module: nn.Module | None, node: fx.Node, shape: tuple[int, ...]) -> str | None:
    import torch.nn.functional as F

    if isinstance(module, nn.AdaptiveMaxPool2d) and module.output_size in (1, (1, 1)):
        return "max"
    if isinstance(module, nn.AdaptiveAvgPool2d) and module.output_size in (1, (1, 1)):
        return "avg"
    if node.target in (F.adaptive_max_pool2d, F.adaptive_avg_pool2d) and node.args[1:2] in ((1,), ((1, 1),)):
        return "max" if node.target is F.adaptive_max_pool2d else "avg"
    if node.target in ("amax", "mean", torch.amax, torch.mean):
        dims = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
        dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
        if sorted(d % 4 for d in dims) == [2, 3]:
            return "max" if node.target in ("amax", torch.amax) else "avg"
    return None


def _is_flatten(module: nn.Module | None, node: fx.Node) -> bool:
    if isinstance(module, nn.Flatten):
        return module.start_dim == 1
    if node.target in ("flatten", torch.flatten):
        start = node.kwargs.get("start_dim", node.args[1] if len(node.args) > 1 else 0)
        return start == 1
    if node.target in ("view", "reshape", torch.reshape) and node.args[-1:] == (-1,) and len(node.args) == 3:
        return True
    return node.target in ("squeeze",)
