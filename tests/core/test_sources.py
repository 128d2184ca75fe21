"""Opening models from every source: our files, module:callable with weights and a sidecar, ONNX files.
Nothing is unpickled except by torch's weights_only loader: crafted pickles are refused and never run."""

from __future__ import annotations

import json
import os
import pickle
import re
import time
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from model_specs import LABELS, small_choi_spec
from torch import nn
from user_models.nets import FunctionalChoi, WholeModel

from app.core.deconv import deconvolve
from app.core.errors import FidelityWarning, ModelFormatError, UnsupportedModelError
from app.core.frontend import FrontEnd
from app.core.model import Model, load_model, save_model
from app.core.sources import (
    Sidecar,
    export_safetensors,
    layer_table,
    load_state_dict,
    open_model,
    open_module,
    read_sidecar,
)
from app.core.traced import TracedNetwork

ROOT = Path(__file__).resolve().parents[2]

RTOL = 1e-5
FE = FrontEnd()
BUNDLED = ROOT / "models" / "choi2015-genre.safetensors"


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def write_sidecar(path: Path, **extra) -> Path:
    path.write_text(json.dumps({"front_end": FE.to_dict(), **extra}))
    return path


# --- crafted pickles ------------------------------------------------------------------------------------
class _RunsCode:
    """Unpickling this writes the marker file: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def crafted(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    marker = tmp_path / f"marker-{kind}"
    payload = {"convs.0.weight": _RunsCode(marker)}
    if kind == "raw":
        path = tmp_path / "evil.pkl"
        path.write_bytes(pickle.dumps(payload))
    else:  # torch.save's zip container, as a real checkpoint
        path = tmp_path / "evil.pt"
        torch.save(payload, path)
    assert zipfile.is_zipfile(path) == (kind == "zip")
    return path, marker


@pytest.mark.parametrize("kind", ["raw", "zip"])
def test_crafted_pickle_in_weights_is_refused_and_never_runs(tmp_path: Path, kind: str) -> None:
    path, marker = crafted(tmp_path, kind)
    with pytest.raises(ModelFormatError, match="refused by torch's weights_only loader") as err:
        load_state_dict(path)
    assert err.value.path == path and err.value.field == "weights"
    with pytest.raises(ModelFormatError, match="weights_only"):
        open_model("user_models.nets:functional_choi", weights=path, front_end=write_sidecar(tmp_path / "fe.json"))
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".safetensors", ".onnx"])
def test_crafted_pickle_as_a_model_file_is_refused_and_never_runs(tmp_path: Path, suffix: str) -> None:
    source, marker = crafted(tmp_path, "zip")
    path = tmp_path / f"evil{suffix}"
    path.write_bytes(source.read_bytes())
    with pytest.raises(ModelFormatError, match=re.escape(str(path))):
        open_model(path, front_end=write_sidecar(tmp_path / "fe.json") if suffix == ".onnx" else None)
    assert not marker.exists()


# --- module:callable --------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_module_callable_with_weights_and_sidecar(tmp_path: Path, suffix: str) -> None:
    trained = FunctionalChoi(seed=7)  # other weights than the callable's own seed
    weights = tmp_path / f"w{suffix}"
    if suffix == ".pt":
        torch.save({"state_dict": trained.state_dict()}, weights)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, weights)
    sidecar = write_sidecar(tmp_path / "fe.json", labels=list("xyz"), name="mine", task="test")
    net = open_model("user_models.nets:functional_choi", weights=weights, front_end=sidecar)
    assert isinstance(net, TracedNetwork)
    assert (net.name, net.labels, net.task, net.output, net.path) == (
        "mine",
        ("x", "y", "z"),
        "test",
        "softmax",
        weights,
    )
    assert net.source == "user_models.nets:functional_choi" and len(net.sha256) == 64
    x = torch.rand(1, 1, FE.n_bins, 40)
    with torch.no_grad():
        assert relative_error(net.logits(x), trained.eval()(x)) < RTOL


def test_module_source_errors_name_what_is_wrong(tmp_path: Path) -> None:
    sidecar = write_sidecar(tmp_path / "fe.json")
    with pytest.raises(UnsupportedModelError, match="cannot import 'user_models.nope'"):
        open_model("user_models.nope:make", front_end=sidecar)
    with pytest.raises(UnsupportedModelError, match="'user_models.nets' has no 'nothing'"):
        open_model("user_models.nets:nothing", front_end=sidecar)
    with pytest.raises(ModelFormatError, match="needs a front-end sidecar"):
        open_model("user_models.nets:functional_choi")
    wrong = tmp_path / "wrong.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(ModelFormatError, match=r"'.*wrong.pt' \(field 'weights'\): the weights do not fit the module"):
        open_model("user_models.nets:functional_choi", weights=wrong, front_end=sidecar)


def test_our_files_open_as_models_and_refuse_extra_options(model_file: Path, tmp_path: Path) -> None:
    model = open_model(model_file)
    assert isinstance(model, Model) and model.warnings == () and model.labels == LABELS
    with pytest.raises(ModelFormatError, match="holds its own weights and front end"):
        open_model(model_file, front_end=write_sidecar(tmp_path / "fe.json"))
    rows = layer_table(model)
    assert [r["output_shape_4s"] for r in rows][:2] == [[8, 128, 86], [8, 64, 43]]


# --- sidecars ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "field", "reason"),
    [
        ("{not json", None, "not valid JSON"),
        ("[]", None, "must be a JSON object"),
        ("{}", "front_end", "missing"),
        ('{"front_end": {}, "colour": 1}', "colour", "unknown key"),
        ('{"front_end": {"n_fft": 4}}', "front_end.n_fft", "invalid value 4"),
        ('{"front_end": {"scale": "bark"}}', "front_end.scale", "bark"),
        ('{"front_end": {}, "labels": "abc"}', "labels", "list of strings"),
        ('{"front_end": {}, "output": "relu"}', "output", "expected one of"),
        ('{"front_end": {}, "head_input_frames": 0}', "head_input_frames", "positive integer"),
    ],
)
def test_sidecar_errors_name_file_and_field(tmp_path: Path, content: str, field: str | None, reason: str) -> None:
    path = tmp_path / "fe.json"
    path.write_text(content)
    with pytest.raises(ModelFormatError, match=reason) as err:
        read_sidecar(path)
    assert err.value.path == path and err.value.field == field
    assert str(path) in str(err.value)


def test_sidecar_label_count_is_checked_against_the_network(tmp_path: Path) -> None:
    sidecar = write_sidecar(tmp_path / "fe.json", labels=["a", "b"])
    with pytest.raises(ModelFormatError, match="2 labels for 3 outputs") as err:
        open_model("user_models.nets:functional_choi", front_end=sidecar)
    assert (err.value.path, err.value.field) == (sidecar, "labels")


# --- writing our format from a module ------------------------------------------------------------------
def test_export_safetensors_round_trip(tmp_path: Path) -> None:
    module = FunctionalChoi()
    path = export_safetensors(module, FE, tmp_path / "m.safetensors", labels=("a", "b", "c"), name="fc")
    model = load_model(path)
    assert [b.type for b in model.spec.body[:3]] == ["conv2d", "relu", "maxpool2d"]  # batch-norm folded
    assert [b.type for b in model.spec.head] == ["global_pool", "linear"]
    assert (model.spec.output, model.spec.labels, model.name) == ("softmax", ("a", "b", "c"), "fc")
    assert "FunctionalChoi" in model.spec.provenance["exported_from"]
    x = torch.rand(3, 1, FE.n_bins, 50)
    with torch.no_grad():
        assert relative_error(model.logits(x), module(x)) < RTOL


def test_export_safetensors_keeps_a_batchnorm_after_a_relu_as_an_affine_block(tmp_path: Path) -> None:
    """musicnn's VGG order (conv -> ReLU -> batch-norm -> pool) is written and back-projects as the module does."""
    torch.manual_seed(4)
    module = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(6), nn.MaxPool2d(2),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(6, 3),
    )  # fmt: skip
    for bn in (module[2], module[6]):  # trained-looking statistics, some scales negative
        bn.running_mean.uniform_(0.1, 0.5), bn.running_var.uniform_(0.5, 2.0)
        nn.init.uniform_(bn.weight, -1.5, 1.5), nn.init.uniform_(bn.bias, -0.2, 0.2)
    module.eval()
    model = load_model(export_safetensors(module, FE, tmp_path / "vgg.safetensors", labels=("a", "b", "c")))
    assert [b.type for b in model.spec.body] == ["conv2d", "relu", "affine", "maxpool2d"] * 2
    with pytest.warns(FidelityWarning, match="not a conv"):  # the traced route says what the block does
        traced = open_module(module, FE)
    x = torch.rand(1, 1, FE.n_bins, 40, generator=torch.Generator().manual_seed(1)) ** 2
    with torch.no_grad():
        assert relative_error(model.logits(x), module(x)) < RTOL
    record, traced_record = model.forward_record(x), traced.forward_record(x)
    for layer in (1, 2):
        ours = deconvolve(model, record, layer)
        theirs = torch.cat([d for _, d in traced.iter_attribute(traced_record, layer)])
        assert relative_error(ours, theirs) < RTOL


def test_export_safetensors_refuses_what_the_format_cannot_hold(tmp_path: Path) -> None:
    body = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
    with pytest.raises(UnsupportedModelError, match=r"at '2': '2' \(AvgPool2d\) cannot be written .*module:callable"):
        export_safetensors(body, FE, tmp_path / "x.safetensors")
    skip = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.GELU())
    with pytest.raises(UnsupportedModelError, match=r"'1' \(GELU\) cannot be written"):
        export_safetensors(skip, FE, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


# --- ONNX ------------------------------------------------------------------------------------------------
def export_onnx(module: nn.Module, path: Path, frames: int) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(
            module.eval(),
            (torch.rand(1, 1, FE.n_bins, frames),),
            str(path),
            dynamo=False,
            input_names=["spectrogram"],
            output_names=["logits"],
            dynamic_axes={"spectrogram": {0: "batch", 3: "frames"}},
        )
    return path


@pytest.fixture(scope="module")
def small_saved(tmp_path_factory: pytest.TempPathFactory) -> Model:
    from app.core.model import random_weights

    spec = small_choi_spec()
    path = save_model(tmp_path_factory.mktemp("onnx") / "small.safetensors", spec, random_weights(spec, seed=3))
    return load_model(path)


def assert_same_maps(model: Model, onnx_path: Path, sidecar: Path, frames: int, layers: list[int]) -> TracedNetwork:
    net = open_model(onnx_path, front_end=sidecar)
    assert isinstance(net, TracedNetwork) and net.warnings == ()
    assert [layer.n_maps for layer in net.layers] == [layer.n_maps for layer in model.layers]
    x = torch.rand(1, 1, FE.n_bins, frames, generator=torch.Generator().manual_seed(2)) ** 2
    record, explicit_record = net.forward_record(x), model.forward_record(x)
    for layer in layers:
        assert relative_error(net.layer_output(record, layer), model.layer_output(explicit_record, layer)) < RTOL
        ours = torch.cat([d for _, d in net.iter_attribute(record, layer)])
        assert relative_error(ours, deconvolve(model, explicit_record, layer)) < RTOL
    assert relative_error(net.activate(net.logits(x)), model.activate(model.logits(x))) < RTOL
    return net


def test_onnx_export_of_a_choi_model_gives_the_same_maps(small_saved: Model, tmp_path: Path) -> None:
    onnx_path = export_onnx(WholeModel(small_saved), tmp_path / "small.onnx", 87)
    sidecar = write_sidecar(tmp_path / "fe.json", labels=list(LABELS), head_input_frames=87)
    net = assert_same_maps(small_saved, onnx_path, sidecar, 120, [1, 2, 3, 4, 5])
    assert net.layers[0].name == "/body/body.0/Conv" and net.layers[0].ops[1:] == (
        "/body/body.1/Relu",
        "/body/body.2/MaxPool",
    )
    assert net.labels == LABELS and net.head_input_frames == 87 and net.min_input_frames() == 32


@pytest.mark.slow
@pytest.mark.skipif(not BUNDLED.exists(), reason="the bundled model is not in this checkout")
def test_onnx_export_of_the_bundled_model_gives_the_same_maps(tmp_path: Path) -> None:
    started = time.perf_counter()
    model = load_model(BUNDLED)
    onnx_path = export_onnx(WholeModel(model), tmp_path / "bundled.onnx", 173)
    sidecar = write_sidecar(tmp_path / "fe.json", labels=list(model.labels), head_input_frames=173)
    assert_same_maps(model, onnx_path, sidecar, 173, [1, 3, 5])
    print(f"bundled model through ONNX: {time.perf_counter() - started:.1f} s")


def test_onnx_errors_name_the_file_node_and_op(small_saved: Model, tmp_path: Path) -> None:
    sidecar = write_sidecar(tmp_path / "fe.json")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(os.urandom(256))
    with pytest.raises(ModelFormatError, match=re.escape(f"'{garbage}'")):
        open_model(garbage, front_end=sidecar)

    class Cosine(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cos(self.conv(x))

    path = export_onnx(Cosine(), tmp_path / "cos.onnx", 20)
    with pytest.raises(
        ModelFormatError, match=r"field 'graph.node\[1\] '/Cos' \(Cos\)'.*'Cos' is not supported"
    ) as err:
        open_model(path, front_end=sidecar)
    assert err.value.path == path
    with pytest.raises(ModelFormatError, match="needs a front-end sidecar"):
        open_model(path)
    with pytest.raises(ModelFormatError, match="holds its own weights"):
        open_model(path, weights=path, front_end=sidecar)


def test_onnx_channels_last_input_is_transposed(small_saved: Model, tmp_path: Path) -> None:
    """A Keras-style graph takes (batch, bins, frames, 1) and transposes to channels-first itself."""

    class ChannelsLast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = WholeModel(small_saved)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x.permute(0, 3, 1, 2))

    path = tmp_path / "nhwc.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(ChannelsLast().eval(), (torch.rand(1, FE.n_bins, 87, 1),), str(path), dynamo=False)
    net = open_model(path, front_end=Sidecar(FE))
    x = torch.rand(1, 1, FE.n_bins, 87)
    assert relative_error(net.logits(x), small_saved.logits(x)) < RTOL


def test_onnx_batchnorm_after_relu_and_leaky_relu_are_run_and_warned_about(tmp_path: Path) -> None:
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3)
    bn.running_mean, bn.running_var = torch.rand(3), torch.rand(3) + 0.5
    bn.weight.data = torch.tensor([1.0, -0.5, 2.0])
    module = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), bn, nn.MaxPool2d(2), nn.Conv2d(3, 2, 3), nn.LeakyReLU(0.1)
    )
    path = export_onnx(module, tmp_path / "bn.onnx", 40)
    with pytest.warns(FidelityWarning) as record:
        net = open_model(path, front_end=Sidecar(FE))
    messages = [str(w.message) for w in record]
    assert messages[0].startswith("batch-norm '/2/BatchNormalization' follows '/1/Relu', not a conv")
    assert messages[1].startswith("'/5/LeakyRelu' is a LeakyReLU, not a ReLU")
    assert [layer.ops for layer in net.layers] == [
        ("/0/Conv", "/1/Relu", "/2/BatchNormalization", "/3/MaxPool"),
        ("/4/Conv", "/5/LeakyRelu"),
    ]
    x = torch.rand(1, 1, FE.n_bins, 40)
    with torch.no_grad():
        assert relative_error(net.layer_output(net.forward_record(x), 2), module.eval()(x)) < RTOL


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int64, torch.bool])
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_integer_weights_for_a_module_are_refused_not_cast(tmp_path: Path, dtype, suffix: str) -> None:
    """A state dict of int8/uint8/int64/bool weights: load_state_dict would cast them into the float module; a
    batch-norm's integer counter (num_batches_tracked) still loads, since the module's own buffer is an integer."""
    from safetensors.torch import save_file

    state = FunctionalChoi().state_dict()
    assert any(not v.is_floating_point() for v in state.values())  # num_batches_tracked
    state["convs.0.weight"] = (state["convs.0.weight"] * 10).to(dtype)
    path = tmp_path / f"w{suffix}"
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    with pytest.raises(ModelFormatError, match="not floating point") as err:
        open_model("user_models.nets:functional_choi", weights=path, front_end=write_sidecar(tmp_path / "fe.json"))
    assert err.value.field == "weights.convs.0.weight" and path.name in str(err.value)
