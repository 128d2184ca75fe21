"""The explicit batched deconvnet equals the autograd-rule route and Captum's NeuronDeconvolution."""

from __future__ import annotations

import pytest
import torch

from app.core.architecture import Affine, BatchNorm2d, Conv2d, MaxPool2d, ReLU
from app.core.deconv import deconvolve, deconvolve_autograd
from app.core.errors import SelectionError
from app.core.model import Model, ModelSpec, choi2015_spec, load_model, random_weights, save_model, to_torch_module

RTOL = 1e-5


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


@pytest.fixture(scope="module", params=[0, 1])
def random_net(request: pytest.FixtureRequest) -> tuple[Model, torch.Tensor]:
    spec = choi2015_spec(n_maps=6, n_layers=5)
    model = Model(spec, random_weights(spec, seed=request.param))
    gen = torch.Generator().manual_seed(10 + request.param)
    x = torch.rand(1, 1, 97, 83, generator=gen) ** 2  # odd sizes: pooling drops a row/column
    return model, x


@pytest.mark.parametrize("layer", [1, 2, 3, 4, 5])
def test_explicit_equals_autograd_route(random_net: tuple[Model, torch.Tensor], layer: int) -> None:
    model, x = random_net
    features = [0, 2, 5]
    explicit = deconvolve(model, model.forward_record(x), layer, features)
    reference = deconvolve_autograd(model, x, layer, features)
    assert explicit.shape == (3, 97, 83)
    assert reference.abs().max() > 0
    assert relative_error(explicit, reference) < RTOL


@pytest.mark.parametrize("layer", [1, 3, 5])
def test_explicit_equals_captum_neuron_deconvolution(random_net: tuple[Model, torch.Tensor], layer: int) -> None:
    from captum.attr import NeuronDeconvolution

    model, x = random_net
    net = to_torch_module(model)
    target = net[model.layer(layer).last_op]
    explicit = deconvolve(model, model.forward_record(x), layer, [1, 4])
    for row, k in enumerate([1, 4]):
        method = NeuronDeconvolution(net, target)
        captum = method.attribute(x.clone(), neuron_selector=lambda a, k=k: 0.5 * (a[:, k] ** 2).sum(dim=(1, 2)))
        assert relative_error(explicit[row], captum[0, 0]) < RTOL


@pytest.mark.parametrize("chunk", [1, 2, 4, 6])
def test_batched_equals_single_map(random_net: tuple[Model, torch.Tensor], chunk: int) -> None:
    model, x = random_net
    record = model.forward_record(x)
    batched = deconvolve(model, record, 3, None, chunk=chunk)
    assert batched.shape[0] == 6
    for k in range(6):
        single = deconvolve(model, record, 3, [k], chunk=1)[0]
        assert relative_error(batched[k], single) < RTOL


def test_seed_keeps_activation_values_not_ones(random_net: tuple[Model, torch.Tensor]) -> None:
    model, x = random_net
    unbiased = Model(model.spec, {k: (v * 0 if k.endswith("bias") else v) for k, v in model.weights.items()})
    d1 = deconvolve(unbiased, unbiased.forward_record(x), 2, [0])
    d2 = deconvolve(unbiased, unbiased.forward_record(2 * x), 2, [0])
    # without bias the net is positively homogeneous and the deconv linear in its seed: seeding with the
    # activation doubles D when the input doubles; seeding with ones would leave it unchanged.
    assert float(d1.abs().max()) > 0
    assert relative_error(d2, 2 * d1) < RTOL


def test_result_may_be_negative_and_is_not_clipped(random_net: tuple[Model, torch.Tensor]) -> None:
    model, x = random_net
    d = deconvolve(model, model.forward_record(x), 1, [0, 1, 2])
    assert float(d.min()) < 0 < float(d.max())


def test_out_of_range_feature_and_layer_are_specific_errors(small_model: Model) -> None:
    record = small_model.forward_record(torch.rand(1, 1, 257, 90))
    with pytest.raises(SelectionError, match="feature 8 is out of range: layer 2 has features 0-7"):
        deconvolve(small_model, record, 2, [8])
    with pytest.raises(SelectionError, match="layer 6 is out of range"):
        deconvolve(small_model, record, 6, [0])


def test_tied_zero_windows_route_to_first_position() -> None:
    """All-zero pooling windows: the switch is the first position, as torch's argmax and autograd agree."""
    body = (Conv2d(1, 1, (1, 1)), ReLU(), MaxPool2d((2, 2), (2, 2)))
    spec = choi2015_spec(n_maps=1, n_layers=1)
    spec = type(spec)(**{**spec.__dict__, "body": body, "head": ()})
    model = Model(spec, {"body.0.weight": torch.ones(1, 1, 1, 1), "body.0.bias": torch.zeros(1)})
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 3, 3] = 2.0
    record = model.forward_record(x)
    assert record.switches[2].flatten().tolist() == [0, 2, 8, 15]
    d = deconvolve(model, record, 1, [0])[0]
    assert d[3, 3] == 2.0 and float(d.abs().sum()) == 2.0


# --- overlapping pools and batch-norm after the ReLU (musicnn's VGG) ------------------------------------------
def musicnn_like_spec(n_maps: int = 5) -> ModelSpec:
    """musicnn's VGG layout, small: 3x3 conv 'same' -> ReLU -> BN (an affine) -> pool; the first pool 1x4 over
    (freq, time) with stride 2x2 overlaps in time and skips every other band."""
    pools = [((1, 4), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2))]
    body: list = []
    channels = 1
    for kernel, stride in pools:
        body += [Conv2d(channels, n_maps, (3, 3), (1, 1), (1, 1)), ReLU(), BatchNorm2d(n_maps, eps=1e-3)]
        body.append(MaxPool2d(kernel, stride))
        channels = n_maps
    return ModelSpec(front_end=choi2015_spec().front_end, body=tuple(body), name="musicnn-like")


def musicnn_like_weights(spec: ModelSpec, seed: int) -> dict[str, torch.Tensor]:
    """Random conv weights and batch-norm statistics: some gammas negative, one map's variance ~0 (a dead map)."""
    gen = torch.Generator().manual_seed(seed)
    weights: dict[str, torch.Tensor] = {}
    for i, block in enumerate(spec.body):
        if isinstance(block, Conv2d):
            fan_in = block.in_channels * 9
            weights[f"body.{i}.weight"] = torch.randn(block.out_channels, block.in_channels, 3, 3, generator=gen)
            weights[f"body.{i}.weight"] *= (2.0 / fan_in) ** 0.5
            weights[f"body.{i}.bias"] = 0.1 * torch.randn(block.out_channels, generator=gen)
        elif isinstance(block, BatchNorm2d):
            n = block.num_features
            weights[f"body.{i}.weight"] = torch.randn(n, generator=gen)  # about half negative
            weights[f"body.{i}.bias"] = torch.randn(n, generator=gen)
            weights[f"body.{i}.running_mean"] = torch.rand(n, generator=gen)
            var = torch.rand(n, generator=gen) + 0.1
            var[0] = 1e-36
            weights[f"body.{i}.running_var"] = var
    return weights


@pytest.fixture(scope="module", params=[0, 1])
def musicnn_like(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Model, torch.Tensor]:
    spec = musicnn_like_spec()
    path = save_model(tmp_path_factory.mktemp("musicnn") / "m.safetensors", spec, musicnn_like_weights(spec, 7))
    model = load_model(path)
    gen = torch.Generator().manual_seed(20 + request.param)
    x = torch.rand(1, 1, 48, 91, generator=gen) ** 2 - 0.2  # odd sizes; negatives so some maps are off
    return model, x


def test_batchnorm_after_relu_is_kept_as_an_affine_block(musicnn_like: tuple[Model, torch.Tensor]) -> None:
    model, _ = musicnn_like
    assert [type(b) for b in model.spec.body] == [Conv2d, ReLU, Affine, MaxPool2d] * 3
    scale = model.weights["body.2.weight"]
    assert float(scale.min()) < 0 < float(scale.max())
    # musicnn's dead maps: variance 1e-36 with eps 1e-3 gives gamma / sqrt(1e-3)
    spec = musicnn_like_spec()
    gamma = musicnn_like_weights(spec, 7)["body.2.weight"][0]
    assert float(scale[0]) == pytest.approx(float(gamma) / 1e-3**0.5, rel=1e-6)


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_explicit_equals_autograd_route_with_overlapping_pools_and_affine(
    musicnn_like: tuple[Model, torch.Tensor], layer: int
) -> None:
    model, x = musicnn_like
    features = [0, 1, 2, 3, 4]
    explicit = deconvolve(model, model.forward_record(x), layer, features)
    reference = deconvolve_autograd(model, x, layer, features)
    assert explicit.shape == (5, 48, 91)
    assert reference.abs().max() > 0
    assert relative_error(explicit, reference) < RTOL


@pytest.mark.parametrize("layer", [1, 3])
def test_explicit_equals_captum_with_overlapping_pools_and_affine(
    musicnn_like: tuple[Model, torch.Tensor], layer: int
) -> None:
    from captum.attr import NeuronDeconvolution

    model, x = musicnn_like
    net = to_torch_module(model)
    target = net[model.layer(layer).last_op]
    explicit = deconvolve(model, model.forward_record(x), layer, [1, 3])
    for row, k in enumerate([1, 3]):
        method = NeuronDeconvolution(net, target)
        captum = method.attribute(x.clone(), neuron_selector=lambda a, k=k: 0.5 * (a[:, k] ** 2).sum(dim=(1, 2)))
        assert relative_error(explicit[row], captum[0, 0]) < RTOL


def test_overlapping_windows_that_share_a_switch_add_their_values() -> None:
    """Pool 1x4 stride 1x2 over time: a peak at t=3 is the max of windows [0..3] and [2..5], so both send it back."""
    body = (Conv2d(1, 1, (1, 1)), ReLU(), MaxPool2d((1, 4), (1, 2)))
    spec = ModelSpec(front_end=choi2015_spec().front_end, body=body)
    model = Model(spec, {"body.0.weight": torch.ones(1, 1, 1, 1), "body.0.bias": torch.zeros(1)})
    x = torch.tensor([[[[0.0, 1.0, 0.0, 5.0, 0.0, 0.0, 2.0, 0.0]]]])
    record = model.forward_record(x)
    assert record.switches[2].flatten().tolist() == [3, 3, 6]
    d = deconvolve(model, record, 1, [0])[0, 0]
    assert d.tolist() == [0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 2.0, 0.0]
    assert torch.equal(d, deconvolve_autograd(model, x, 1, [0])[0, 0])


def test_affine_after_relu_scales_the_signal_before_the_relu_rule() -> None:
    """y = s·relu(x) + t with s = -2, t = 3: the seed y goes down as relu(s·y) = relu(4·relu(x) - 6)."""
    body = (Conv2d(1, 1, (1, 1)), ReLU(), Affine(1))
    spec = ModelSpec(front_end=choi2015_spec().front_end, body=body)
    weights = {
        "body.0.weight": torch.ones(1, 1, 1, 1),
        "body.0.bias": torch.zeros(1),
        "body.2.weight": torch.tensor([-2.0]),
        "body.2.bias": torch.tensor([3.0]),
    }
    model = Model(spec, weights)
    x = torch.tensor([[[[-1.0, 0.5, 1.0, 2.0, 4.0]]]])
    d = deconvolve(model, model.forward_record(x), 1, [0])[0, 0]
    assert d.tolist() == [0.0, 0.0, 0.0, 2.0, 10.0]
    assert torch.equal(d, deconvolve_autograd(model, x, 1, [0])[0, 0])


def test_traced_twin_equals_explicit_route_with_affine(musicnn_like: tuple[Model, torch.Tensor]) -> None:
    """The autograd twin other methods run on (an eval batch-norm for each affine) gives the same deconvnet."""
    from app.core.traced import TracedNetwork

    model, x = musicnn_like
    twin = TracedNetwork.from_model(model)
    assert len(twin.layers) == len(model.layers)
    for layer in (1, 3):
        twin_d = torch.cat([d for _, d in twin.iter_attribute(twin.forward_record(x), layer, [0, 2, 4])])
        explicit = deconvolve(model, model.forward_record(x), layer, [0, 2, 4])
        assert relative_error(explicit, twin_d) < RTOL
