"""The traced route: user modules with every form of ReLU equal the explicit route on the equivalent file;
residual sums, GELUs and batch-norm after a ReLU load with warnings that name the layer; untraceable forwards
are refused; Captum's hook-based deconvnet silently differs on functional ReLUs, ours does not."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from user_models.nets import ControlFlowNet, FunctionalChoi, GeluNet, ResidualNet

from app.core.analysis import Analysis, FeatureRef
from app.core.audio import load_audio
from app.core.deconv import deconvolve
from app.core.errors import FidelityWarning, SelectionError, UnsupportedModelError
from app.core.frontend import FrontEnd
from app.core.methods import Method
from app.core.model import load_model
from app.core.sources import Sidecar, export_safetensors, open_module
from app.core.traced import TracedNetwork, describe_relus
from app.core.traced.notes import NoteKind, note

RTOL = 1e-5
FE = FrontEnd()


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[TracedNetwork, object]:
    path = export_safetensors(FunctionalChoi(), FE, tmp_path_factory.mktemp("m") / "fc.safetensors", labels="abc")
    return open_module(FunctionalChoi(), Sidecar(FE, labels=("a", "b", "c"))), load_model(path)


@pytest.fixture(scope="module")
def spectrogram() -> torch.Tensor:
    return torch.rand(1, 1, FE.n_bins, 90, generator=torch.Generator().manual_seed(3)) ** 2


def test_every_relu_form_is_found_and_replaced(pair: tuple[TracedNetwork, object]) -> None:
    traced, _ = pair
    forms = [(s.name, s.form, s.inplace) for s in traced.relus]
    assert forms == [
        ("relu", "function", False),
        ("relu_", "function", True),
        ("relu__1", "method", True),
        ("act", "module", True),
    ]
    assert describe_relus(traced.relus) == (
        "4 ReLUs (1 as modules, 2 as functions, 1 as methods; 3 in place), each with the method's rule"
    )
    assert traced.warnings == ()  # batch-norm after each conv is folded, no warning


def test_layers_are_named_from_the_graph(pair: tuple[TracedNetwork, object]) -> None:
    traced, model = pair
    assert [(layer.name, layer.n_maps, layer.kind) for layer in traced.layers] == [
        (f"convs.{i}", 6, "conv") for i in range(4)
    ]
    assert traced.layers[1].ops == ("convs.1", "relu_", "max_pool2d_1")
    assert [layer.strides for layer in traced.layers] == [(2, 2), (4, 4), (8, 8), (16, 16)]
    assert traced.min_input_frames() == model.min_input_frames() == 16
    assert traced.output_shapes(173) == [(6, 128, 86), (6, 64, 43), (6, 32, 21), (6, 16, 10)]
    assert traced.kernels(1).shape == model.kernels(1).shape == (6, 1, 3, 3)
    assert traced.strides(3) == model.strides(3) == (8, 8)
    with pytest.raises(SelectionError, match="layer 5 is out of range"):
        traced.layer(5)


@pytest.mark.parametrize("layer", [1, 2, 3, 4])
def test_user_module_equals_the_explicit_route(
    pair: tuple[TracedNetwork, object], spectrogram: torch.Tensor, layer: int
) -> None:
    traced, model = pair
    explicit = deconvolve(model, model.forward_record(spectrogram), layer)
    ours = torch.cat([d for _, d in traced.iter_attribute(traced.forward_record(spectrogram), layer)])
    assert explicit.shape == ours.shape == (6, FE.n_bins, 90)
    assert float(explicit.abs().max()) > 0
    assert relative_error(ours, explicit) < RTOL


def test_analysis_takes_a_traced_network(pair: tuple[TracedNetwork, object], wav_file: Path) -> None:
    traced, model = pair
    clip = load_audio(wav_file, FE.sample_rate)
    a_traced, a_model = Analysis(clip, traced, device="cpu"), Analysis(clip, model, device="cpu")
    r1, r2 = a_traced.render(FeatureRef(3, 2)), a_model.render(FeatureRef(3, 2))
    assert relative_error(torch.from_numpy(r1.deconv), torch.from_numpy(r2.deconv)) < RTOL
    assert (r1.activation == r2.activation).all()
    p1, p2 = a_traced.predict(), a_model.predict()
    assert [label for label, _ in p1] == [label for label, _ in p2]
    assert [s for _, s in p1] == pytest.approx([s for _, s in p2], abs=1e-5)
    assert a_traced.layer_activation_energy(2) == pytest.approx(a_model.layer_activation_energy(2), rel=1e-5)
    g = a_traced.render(FeatureRef(1, 0), method=Method.GRADIENT)
    assert g.method is Method.GRADIENT and float(abs(g.deconv).max()) > 0


def test_batched_backward_equals_one_pass_per_map(pair: tuple[TracedNetwork, object], spectrogram) -> None:
    traced, _ = pair
    record = traced.forward_record(spectrogram)
    for method in Method:
        batched = torch.cat([d for _, d in traced.iter_attribute(record, 2, method=method, chunk=6)])
        looped = torch.cat([d for _, d in traced.iter_attribute(record, 2, method=method, batched=False)])
        assert relative_error(batched, looped) < 1e-6


def test_captum_gives_functional_relus_the_plain_gradient(spectrogram: torch.Tensor) -> None:
    """Captum's NeuronDeconvolution hooks nn.ReLU modules only: on F.relu it silently returns the gradient.
    Tracing finds every ReLU, so our deconvnet stays a deconvnet."""
    from captum.attr import NeuronDeconvolution

    class AllFunctional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(5)
            self.c1, self.c2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
            self.out = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.max_pool2d(F.relu(self.c1(x)), 2)
            return self.out(F.max_pool2d(F.relu(self.c2(x)), 2))

    module = AllFunctional().eval()
    traced = open_module(module, FE)
    record = traced.forward_record(spectrogram)
    ours = {m: next(traced.iter_attribute(record, 2, [1], method=m))[1][0] for m in Method}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        captum = NeuronDeconvolution(module, module.out).attribute(
            spectrogram.clone(), neuron_selector=lambda a: 0.5 * (a[:, 1] ** 2).sum(dim=(1, 2))
        )[0, 0]
    assert relative_error(captum, ours[Method.GRADIENT]) < RTOL
    assert relative_error(captum, ours[Method.DECONVNET]) > 0.05


def test_residual_network_warns_naming_the_sum_and_the_layer(spectrogram: torch.Tensor) -> None:
    with pytest.warns(FidelityWarning, match=r"'add' adds two paths .* Affects layer 4 \(relu_2\)"):
        net = open_module(ResidualNet(), FE)
    assert [layer.name for layer in net.layers] == ["stem", "conv1", "conv2", "relu_2"]
    assert [(n.node, n.kind, n.layers) for n in net.notes] == [("add", "residual", (4,))]
    d = next(net.iter_attribute(net.forward_record(spectrogram), 4, [0]))[1]
    assert d.shape == (1, FE.n_bins, 90) and bool(torch.isfinite(d).all()) and float(d.abs().max()) > 0


def test_gelu_network_warns_and_strict_refuses() -> None:
    with pytest.warns(FidelityWarning) as record:
        net = open_module(GeluNet(), FE)
    messages = [str(w.message) for w in record]
    assert messages == list(net.warnings) and len(messages) == 2
    assert messages[0].startswith("'act (call 1 of 2)' is a GELU, not a ReLU")
    assert messages[0].endswith("Affects layers 1-2 (conv1 and above)")
    assert messages[1].startswith("'act (call 2 of 2)'") and messages[1].endswith("Affects layer 2 (conv2)")
    assert [(n.node, n.layers) for n in net.notes] == [("act (call 1 of 2)", (1, 2)), ("act (call 2 of 2)", (2,))]
    with pytest.raises(UnsupportedModelError, match="GeluNet.*GELU"):
        open_module(GeluNet(), FE, strict=True)


def test_batchnorm_after_the_relu_warns() -> None:
    module = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(3), nn.MaxPool2d(2))
    with pytest.warns(FidelityWarning, match=r"batch-norm '2' follows '1', not a conv.*Affects layer 1 \(0\)"):
        net = open_module(module, FE)
    assert net.layers[0].ops == ("0", "1", "2", "3")


def test_attention_like_gating_warns() -> None:
    class Gated(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.gate = nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(1, 2, 3, padding=1)
            self.after = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.relu(self.after(F.relu(self.conv(x)) * torch.sigmoid(self.gate(x))))

    with pytest.warns(FidelityWarning) as record:
        net = open_module(Gated(), FE)
    messages = [str(w.message) for w in record]
    assert [layer.name for layer in net.layers] == ["conv", "gate", "after"]
    assert "'mul' is a product between activations (attention or gating)" in messages[1]
    assert messages[1].endswith("Affects layer 3 (after)")
    assert messages[0].startswith("'sigmoid' is sigmoid(), not a ReLU") and "Affects layers 2-3" in messages[0]


def test_untraceable_forward_is_refused() -> None:
    with pytest.raises(UnsupportedModelError, match="torch.fx cannot trace its forward .*control flow"):
        open_module(ControlFlowNet(), FE)


def test_a_module_that_does_not_fit_the_front_end_is_refused_naming_the_layer() -> None:
    module = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU())  # expects 2 input channels
    with pytest.raises(UnsupportedModelError, match=r"at '0': it fails on a spectrogram of 257 bins x 173 frames"):
        open_module(module, FE)


def test_one_dimensional_convs_are_layers_of_height_one(spectrogram: torch.Tensor) -> None:
    class Musicnn(nn.Module):
        """A frequency-spanning conv, then 1-D convs over time (musicnn-like)."""

        def __init__(self) -> None:
            super().__init__()
            self.front = nn.Conv2d(1, 8, (FE.n_bins, 3), padding=(0, 1))
            self.temporal = nn.Conv1d(8, 5, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu(self.front(x)).squeeze(2)
            return F.max_pool1d(F.relu(self.temporal(x)), 2)

    net = open_module(Musicnn(), FE)
    assert [(layer.name, layer.n_maps, layer.strides) for layer in net.layers] == [
        ("front", 8, (1, 1)),
        ("temporal", 5, (1, 2)),
    ]
    record = net.forward_record(spectrogram)
    assert net.layer_output(record, 2).shape == (1, 5, 1, 45)
    d = torch.cat([d for _, d in net.iter_attribute(record, 2)])
    assert d.shape == (5, FE.n_bins, 90) and float(d.abs().max()) > 0


def test_a_fixed_length_head_on_another_length_is_a_clear_error() -> None:
    module = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 4 * 5, 3)
    )
    net = open_module(module, Sidecar(FrontEnd(n_fft=16, hop_length=4, sample_rate=8000), head_input_frames=10))
    assert net.has_head and net.logits(torch.rand(2, 1, 9, 10)).shape == (2, 3)
    with pytest.raises(UnsupportedModelError, match=r"cannot be computed on 12 frames .*'head_input_frames'"):
        net.logits(torch.rand(1, 1, 9, 12))


@pytest.mark.parametrize("kind", list(NoteKind))
def test_every_fidelity_note_kind_has_wording_naming_its_operation(kind: NoteKind) -> None:
    found = note(kind, "block.op", what="a Thing", before="block.prev", frames=173, reason="shape mismatch", gain=0.5)
    assert (found.node, found.kind, found.layers) == ("block.op", kind, ())
    assert "'block.op'" in found.message and "{" not in found.message and "}" not in found.message
