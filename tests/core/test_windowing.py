"""Exact windowed rendering: a window's audio and deconv equal the whole clip's there, on every layer and route."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from signals import chord_clip
from torch import nn
from user_models.nets import FunctionalChoi, ResidualNet

from app.core.analysis import Analysis
from app.core.audio import Clip
from app.core.frontend import FrontEnd
from app.core.methods import Method
from app.core.model import Model
from app.core.resynth import Mode
from app.core.traced import TracedNetwork
from app.core.windowing import TimeGraph, TimeNode, TimeOp, crop_is_exact, plan_window, requirements

RATE = 11025
N_SAMPLES = RATE * 5 + 333  # odd: the last pooling windows of every layer are cut off by the floor


def _clip(n: int = N_SAMPLES, seed: int = 0) -> Clip:
    """Notes over a -60 dB noise floor, as in any recording. (Over digital near-silence, every pooling window
    holds values equal to float32 rounding, and the whole clip's switches there are decided by the rounding of
    whichever conv algorithm oneDNN picks for the input's width: no two shapes agree on them.)"""
    rng = np.random.default_rng(seed)
    y = chord_clip(RATE, n / RATE + 0.01, seed=seed)[:n] + 1e-3 * rng.standard_normal(n).astype(np.float32)
    return Clip(Path("chords.wav"), "0" * 64, y, RATE, y[None], RATE)


def _windows(n: int) -> list[tuple[int, int]]:
    """Windows at the clip's start, inside it (odd edges), a tiny one, and at its end."""
    windows = [(0, RATE + 17), (RATE + 101, 3 * RATE + 55), (2 * RATE + 7, 2 * RATE + 300), (n - RATE - 9, n)]
    return [(first, min(last, n)) for first, last in windows if first < n]


def _max_errors(analysis: Analysis, layer: int, features: list[int], method: Method) -> tuple[float, float]:
    """Largest differences window vs whole clip (audio, deconv), in units of max(1, the whole rendering's peak):
    absolute for the bundled models' levels, relative for random-weight nets whose D reaches ~100s, where float32
    rounding of a different conv blocking alone gives ~1e-5 absolute."""
    whole = {r.ref.index: r for r in analysis.render_many(layer, features, (Mode.CHOI,), method=method)}
    n = analysis.clip.samples.shape[0]
    audio_err = deconv_err = 0.0
    for first, last in _windows(n):
        for w in analysis.render_window(layer, features, first, last, (Mode.CHOI,), method=method):
            ref = whole[w.ref.index]
            assert w.audio.shape == (last - first,)
            audio_scale = max(1.0, float(np.max(np.abs(ref.audio))))
            deconv_scale = max(1.0, float(np.max(np.abs(ref.deconv))))
            audio_err = max(audio_err, float(np.max(np.abs(w.audio - ref.audio[first:last]))) / audio_scale)
            cols = slice(w.first_frame, w.first_frame + w.deconv.shape[1])
            deconv_err = max(deconv_err, float(np.max(np.abs(w.deconv - ref.deconv[:, cols]))) / deconv_scale)
            # not vacuous: the window carries signal
            assert float(np.max(np.abs(w.audio))) > 1e-4 or float(np.max(np.abs(ref.audio[first:last]))) < 1e-4
    return audio_err, deconv_err


@pytest.mark.parametrize("layer", [1, 2, 3, 4, 5])
def test_explicit_route_window_equals_whole_clip(small_model: Model, layer: int) -> None:
    analysis = Analysis(_clip(), small_model, device="cpu")
    assert analysis.windowable(layer)
    audio_err, deconv_err = _max_errors(analysis, layer, [0, 5], Method.DECONVNET)
    assert audio_err < 1e-5 and deconv_err < 1e-5


@pytest.mark.parametrize("layer", [1, 3, 5])
@pytest.mark.parametrize("method", [Method.DECONVNET, Method.GUIDED_BACKPROP])
def test_traced_route_window_equals_whole_clip(small_model: Model, layer: int, method: Method) -> None:
    traced = TracedNetwork.from_model(small_model)
    analysis = Analysis(_clip(seed=1), traced, device="cpu")
    assert analysis.windowable(layer)
    audio_err, deconv_err = _max_errors(analysis, layer, [2], method)
    assert audio_err < 1e-5 and deconv_err < 1e-5


def test_explicit_model_autograd_methods_window_on_the_traced_twin(small_model: Model) -> None:
    analysis = Analysis(_clip(seed=2), small_model, device="cpu")
    for layer in (2, 4):
        audio_err, deconv_err = _max_errors(analysis, layer, [1], Method.GRADIENT)
        assert audio_err < 1e-5 and deconv_err < 1e-5


class OddNet(nn.Module):
    """Time footprints the Choi stack lacks: a 5-wide dilated conv, an overlapping ceil-mode pool, a 'valid'
    conv, a padded average pool, a 1-D conv on squeezed frequency, and a channel concatenation."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.a = nn.Conv2d(1, 3, (3, 5), padding=(1, 4), dilation=(1, 2))
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.b = nn.Conv2d(3, 3, 3)  # valid: shrinks by 2 frames
        self.c = nn.Conv1d(6, 4, 3, padding="same")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.a(x)))
        y = F.relu(self.b(x))
        y = F.avg_pool2d(y, (1, 3), (1, 2), (0, 1))
        y = torch.cat([y, y * 0.5], dim=1).amax(dim=2)  # (B, 6, T): frequency folded away
        return F.relu(self.c(y)).unsqueeze(2)


@pytest.mark.parametrize(
    "make", [FunctionalChoi, ResidualNet, OddNet], ids=["functional_choi", "residual", "odd_footprints"]
)
def test_user_networks_window_equals_whole_clip(make: type[nn.Module]) -> None:
    traced = TracedNetwork(make(), FrontEnd())
    analysis = Analysis(_clip(RATE * 5 + 111, seed=3), traced, device="cpu")
    windowable = [layer.number for layer in traced.layers if analysis.windowable(layer.number)]
    assert windowable == [layer.number for layer in traced.layers]
    for layer in windowable:
        audio_err, deconv_err = _max_errors(analysis, layer, [0], Method.DECONVNET)
        assert audio_err < 1e-5 and deconv_err < 1e-5, layer


class GlobalGate(nn.Module):
    """A squeeze-and-excitation gate: every frame depends on the whole clip's mean."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(6)
        self.a = nn.Conv2d(1, 2, 3, padding=1)
        self.b = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.a(x))
        x = x * torch.sigmoid(F.adaptive_avg_pool2d(x, 1))
        return F.relu(self.b(x))


def test_a_non_local_layer_is_not_windowed_and_still_equals_the_whole_clip() -> None:
    analysis = Analysis(_clip(RATE * 3, seed=4), TracedNetwork(GlobalGate(), FrontEnd()), device="cpu")
    assert analysis.windowable(1) and not analysis.windowable(2)
    audio_err, _ = _max_errors(analysis, 2, [1], Method.DECONVNET)
    assert audio_err < 1e-5


def test_context_comes_from_the_architecture_and_not_the_clip_length(small_model: Model) -> None:
    graph = small_model.time_graph(5)
    assert graph.alignment == 32  # five 2x pools
    plans = [plan_window(graph, n_frames, (4000, 4430)) for n_frames in (9000, 25_000, 100_000)]
    assert {p.frames for p in plans} == {plans[0].frames} and plans[0].start % 32 == 0
    # each layer needs more context than the one below (receptive field grows), all of it finite
    sizes = [plan_window(small_model.time_graph(layer), 25_000, (4000, 4430)).frames for layer in range(1, 6)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] < 430 + 2 * 256
    # a conv 'same' at the clip's edges reads padding: a window there starts at frame 0 / ends at the end
    assert plan_window(graph, 9000, (3, 50)).start == 0
    assert plan_window(graph, 9001, (8990, 9001)).end == 9001


def test_the_exactness_check_can_fail_and_a_misaligned_crop_is_wrong(small_model: Model) -> None:
    """The conditions are not decoration: a crop one frame off the pooling grid gives a different D."""
    analysis = Analysis(_clip(seed=5), small_model, device="cpu")
    graph = small_model.time_graph(3)
    target = (120, 180)
    plan = plan_window(graph, analysis.n_frames, target)
    assert crop_is_exact(graph, analysis.n_frames, target, plan.start, plan.end)
    assert not crop_is_exact(graph, analysis.n_frames, target, plan.start + 1, plan.end)
    assert not crop_is_exact(graph, analysis.n_frames, target, plan.start + 8, plan.end)  # too little context
    whole = analysis.deconv(3, [4])[0, :, target[0] : target[1]]
    from app.core.deconv import deconvolve

    def crop_deconv(start: int) -> torch.Tensor:
        record = small_model.forward_record(analysis.input[..., start : plan.end], 3)
        return deconvolve(small_model, record, 3, [4])[0, :, target[0] - start : target[1] - start]

    scale = float(whole.abs().max())
    assert float((crop_deconv(plan.start) - whole).abs().max()) < 1e-6 * scale
    assert float((crop_deconv(plan.start + 1) - whole).abs().max()) > 1e-2 * scale


def test_requirements_follow_both_paths_of_a_residual_sum() -> None:
    # input -> conv(3, pad 1) -> [1]; [1] -> conv(5, pad 2) -> [2]; [1] + [2] -> [3]
    nodes = (
        TimeNode(TimeOp(), ()),
        TimeNode(TimeOp(3, 1, 1), (0,)),
        TimeNode(TimeOp(5, 1, 2), (1,)),
        TimeNode(TimeOp(), (1, 2)),
    )
    forward, backward = requirements(TimeGraph(nodes, 3), 100, (50, 51))
    assert backward[1] == (49, 52) and backward[2] == (47, 54)  # the 5-wide branch reaches further
    assert backward[3] == (47, 54)  # the sum needs both
    assert forward[1] == (45, 56) and forward[0] == (44, 57)  # and what those forward values read


def test_long_clips_assemble_whole_clip_results_from_exact_chunks(
    small_model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past CHUNK_FRAMES a clip never runs the whole-clip forward pass: deconv, activations and energies come
    from chunks, and equal the whole-clip pass's."""
    import app.core.analysis as analysis_module

    clip = _clip(seed=8)
    whole = Analysis(clip, small_model, device="cpu")
    monkeypatch.setattr(analysis_module, "CHUNK_FRAMES", 70)  # five chunks of this clip's 216 frames
    chunked = Analysis(clip, small_model, device="cpu")
    assert chunked.chunked and not whole.chunked
    for layer in (1, 3, 5):
        d_whole, d_chunked = whole.deconv(layer, [0, 6]), chunked.deconv(layer, [0, 6])
        assert d_whole.shape == d_chunked.shape
        scale = max(1.0, float(d_whole.abs().max()))
        assert float((d_whole - d_chunked).abs().max()) / scale < 1e-5
        from app.core.analysis import FeatureRef

        a_whole, a_chunked = whole.activation(FeatureRef(layer, 6)), chunked.activation(FeatureRef(layer, 6))
        assert a_whole.shape == a_chunked.shape
        torch.testing.assert_close(a_chunked, a_whole, rtol=1e-5, atol=1e-5 * float(a_whole.abs().max()))
        np.testing.assert_allclose(
            chunked.layer_activation_energy(layer), whole.layer_activation_energy(layer), rtol=1e-5
        )
    assert chunked._record is None  # the whole clip's forward pass never ran


class OtherPointwise(nn.Module):
    """Pointwise activations the operation tables know (a PReLU, a softsign) between convs; then a GLU over time,
    which halves the time axis: the one that is not pointwise."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.a = nn.Conv2d(1, 2, 3, padding=1)
        self.act = nn.PReLU(2)
        self.b = nn.Conv2d(2, 2, 3, padding=1)
        self.c = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.a(x))
        x = F.relu(self.b(F.softsign(self.act(x))))
        return F.relu(self.c(F.glu(torch.cat([x, x], dim=-1))))


def test_the_time_axis_reads_pointwise_ops_from_the_operation_tables() -> None:
    from app.core.traced.operations import ACTIVATION_FUNCTIONS, ACTIVATION_MODULES
    from app.core.traced.time_axis import _POINTWISE_FUNCTIONS, _POINTWISE_MODULES

    assert nn.PReLU in _POINTWISE_MODULES and nn.GLU in ACTIVATION_MODULES and nn.GLU not in _POINTWISE_MODULES
    assert F.softsign in _POINTWISE_FUNCTIONS and F.glu in ACTIVATION_FUNCTIONS and F.glu not in _POINTWISE_FUNCTIONS
    analysis = Analysis(_clip(RATE * 3, seed=5), TracedNetwork(OtherPointwise(), FrontEnd()), device="cpu")
    assert [layer.name for layer in analysis.model.layers] == ["a", "act", "softsign", "b", "glu", "c"]
    assert [analysis.windowable(n) for n in range(1, 7)] == [True] * 4 + [False] * 2
    audio_err, deconv_err = _max_errors(analysis, 4, [0], Method.DECONVNET)
    assert audio_err < 1e-5 and deconv_err < 1e-5
