"""The three attribution methods: hand-computed answers on a tiny net, Captum's guided backprop and gradient,
and the ``method=`` keyword through Analysis and the export sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from user_models.nets import TinyTwoLayer

from app.core.analysis import Analysis, FeatureRef
from app.core.audio import load_audio
from app.core.deconv import deconvolve
from app.core.export import export_features, export_name
from app.core.frontend import FrontEnd
from app.core.methods import Method
from app.core.model import Model, choi2015_spec, load_model, random_weights, to_torch_module
from app.core.resynth import Mode
from app.core.sources import export_safetensors, open_module
from app.core.traced import TracedNetwork

RTOL = 1e-5

# The tiny net: a = conv2x2(x, [[1, 0], [0, -1]]) -> ReLU -> b = conv2x2(., [[1, -1], [-1, 2]]) -> ReLU -> 2x2 pool.
X = [[1, 1, 3, 0], [0, 1, 2, 2], [3, 3, 3, 0], [1, 3, 3, 3]]
# a[i][j] = x[i][j] - x[i+1][j+1]  = [[0, -1, 1], [-3, -2, 2], [0, 0, 0]]; relu(a) = [[0, 0, 1], [0, 0, 2], [0, 0, 0]]
# b = [[0, 3], [0, -2]]; relu(b) -> pool: 3 at (0, 1), the seed (the map's own activation).
# Down: b's transposed conv puts 3 * [[1, -1], [-1, 2]] at (0, 1) of a's grid: signal s = 3 at a(0,1), -3 at a(0,2),
# -3 at a(1,1), 6 at a(1,2). At a's ReLU (forward a: -1, 1, -2, 2 there):
#   deconvnet relu(s):           3, 0, 0, 6   (keeps a(0,1) although its forward was off)
#   guided relu(s) * (a > 0):    0, 0, 0, 6
#   gradient s * (a > 0):        0, -3, 0, 6  (keeps the negative signal where the forward was on)
# a's transposed conv [[1, 0], [0, -1]] puts v at (i, j) and -v at (i+1, j+1):
EXPECTED = {
    Method.DECONVNET: [[0, 3, 0, 0], [0, 0, 3, 0], [0, 0, 0, -6], [0, 0, 0, 0]],
    Method.GUIDED_BACKPROP: [[0, 0, 0, 0], [0, 0, 6, 0], [0, 0, 0, -6], [0, 0, 0, 0]],
    Method.GRADIENT: [[0, 0, -3, 0], [0, 0, 6, 3], [0, 0, 0, -6], [0, 0, 0, 0]],
}
TINY_FE = FrontEnd(n_fft=16, hop_length=4, sample_rate=8000)  # n_bins 9; the tiny net sees a 4 x 4 input


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


@pytest.fixture(scope="module")
def tiny() -> TracedNetwork:
    return open_module(TinyTwoLayer(), TINY_FE)


@pytest.mark.parametrize("method", list(Method))
def test_each_method_on_the_hand_computed_tiny_net(tiny: TracedNetwork, method: Method) -> None:
    x = torch.tensor(X, dtype=torch.float32)[None, None]
    record = tiny.forward_record(x)
    assert [layer.name for layer in tiny.layers] == ["a", "b"]
    assert tiny.layer_output(record, 2).flatten().tolist() == [3.0]
    (_, d), *_ = list(tiny.iter_attribute(record, 2, [0], method=method))
    assert d[0].tolist() == EXPECTED[method]


def test_explicit_route_gives_the_hand_computed_deconvnet(tmp_path: Path) -> None:
    path = export_safetensors(TinyTwoLayer(), TINY_FE, tmp_path / "tiny.safetensors")
    model = load_model(path)
    x = torch.tensor(X, dtype=torch.float32)[None, None]
    d = deconvolve(model, model.forward_record(x), 2, [0])
    assert d[0].tolist() == EXPECTED[Method.DECONVNET]


def test_method_names_and_parsing() -> None:
    assert [m.value for m in Method] == ["deconvnet", "guided-backprop", "gradient"]
    assert Method("guided-backprop") is Method.GUIDED_BACKPROP
    assert "rectif" in Method.DECONVNET.description
    with pytest.raises(ValueError):
        Method("lrp")


@pytest.fixture(scope="module")
def random_net() -> tuple[Model, torch.Tensor]:
    spec = choi2015_spec(n_maps=6, n_layers=4)
    model = Model(spec, random_weights(spec, seed=4))
    x = torch.rand(1, 1, 61, 47, generator=torch.Generator().manual_seed(8)) ** 2
    return model, x


@pytest.mark.parametrize(
    ("method", "captum_name"), [(Method.GUIDED_BACKPROP, "NeuronGuidedBackprop"), (Method.GRADIENT, "NeuronGradient")]
)
@pytest.mark.parametrize("layer", [1, 3])
def test_methods_equal_captum(
    random_net: tuple[Model, torch.Tensor], method: Method, captum_name: str, layer: int
) -> None:
    import captum.attr

    model, x = random_net
    twin = TracedNetwork.from_model(model)
    record = twin.forward_record(x)
    ours = torch.cat([d for _, d in twin.iter_attribute(record, layer, [1, 4], method=method)])
    net = to_torch_module(model)
    target = net[model.layer(layer).last_op]
    for row, k in enumerate([1, 4]):
        reference = getattr(captum.attr, captum_name)(net, target).attribute(
            x.clone(), neuron_selector=lambda a, k=k: 0.5 * (a[:, k] ** 2).sum(dim=(1, 2))
        )
        assert float(ours[row].abs().max()) > 0
        assert relative_error(ours[row], reference[0, 0]) < RTOL


def test_methods_differ_on_a_real_net(random_net: tuple[Model, torch.Tensor]) -> None:
    model, x = random_net
    twin = TracedNetwork.from_model(model)
    record = twin.forward_record(x)
    k = int(twin.layer_output(record, 3)[0].square().sum(dim=(1, 2)).argmax())  # the liveliest map
    d = {m: torch.cat([r for _, r in twin.iter_attribute(record, 3, [k], method=m)]) for m in Method}
    # the twin's deconvnet is the explicit route's
    assert relative_error(d[Method.DECONVNET], deconvolve(model, model.forward_record(x), 3, [k])) < RTOL
    assert relative_error(d[Method.GUIDED_BACKPROP], d[Method.DECONVNET]) > 0.05
    assert relative_error(d[Method.GRADIENT], d[Method.GUIDED_BACKPROP]) > 0.05
    # guided backprop is the gradient with negative signals stopped at every ReLU
    assert float(d[Method.GRADIENT].min()) < 0


def test_analysis_renders_each_method_and_caches_them_apart(model_file: Path, wav_file: Path) -> None:
    model = load_model(model_file)
    analysis = Analysis(load_audio(wav_file, model.front_end.sample_rate), model, device="cpu")
    ref = FeatureRef(2, 3)
    default = analysis.render(ref)
    guided = analysis.render(ref, Mode.CHOI, method="guided-backprop")
    gradient = analysis.render(ref, method=Method.GRADIENT)
    assert (default.method, guided.method, gradient.method) == tuple(Method)
    assert analysis._deconv_cache[ref] is not None  # deconvnet keyed by the FeatureRef alone, as before
    assert (ref, Method.GUIDED_BACKPROP) in analysis._deconv_cache
    assert relative_error(torch.from_numpy(guided.deconv), torch.from_numpy(default.deconv)) > 0.05
    # the activation is the same forward pass whatever the method
    assert (guided.activation == default.activation).all()


def test_export_writes_the_method_in_sidecar_and_name(tmp_path: Path, model_file: Path, wav_file: Path) -> None:
    model = load_model(model_file)
    analysis = Analysis(load_audio(wav_file, model.front_end.sample_rate), model, device="cpu")
    written = export_features(analysis, [FeatureRef(1, 0)], [Mode.CHOI], tmp_path, method=Method.GRADIENT)
    assert [p.name for p in written] == ["chords_L1_F0_choi_gradient.wav"]
    meta = json.loads(written[0].with_suffix(".json").read_text())
    assert meta["method"] == "gradient" and meta["model_source"] == str(model.path)
    plain = export_features(analysis, [FeatureRef(1, 0)], [Mode.CHOI], tmp_path)
    assert plain[0].name == export_name("chords", FeatureRef(1, 0), Mode.CHOI) == "chords_L1_F0_choi.wav"
    assert json.loads(plain[0].with_suffix(".json").read_text())["method"] == "deconvnet"
