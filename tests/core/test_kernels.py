"""Kernel shapes with known answers: vertical edges (onsets), horizontal edges (sustain), neither, and the level."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from app.core.kernels import KernelShape, kernel_shapes, sort_by_orientation

ROOT = Path(__file__).resolve().parents[2]

VERTICAL = [[1, -1], [1, -1]]  # rows are frequency, columns time: a step in time at every frequency
HORIZONTAL = [[1, 1], [-1, -1]]
CHECKER = [[1, -1], [-1, 1]]
SOBEL_TIME = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]


def one(kernel: list[list[float]] | np.ndarray) -> KernelShape:
    return kernel_shapes(np.asarray(kernel, dtype=np.float32)[None, None])[0]


def parts(s: KernelShape) -> float:
    return s.vertical + s.horizontal + s.mixed + s.dc


def test_a_step_in_time_is_a_vertical_edge_and_a_step_in_frequency_a_horizontal_one() -> None:
    v, h = one(VERTICAL), one(HORIZONTAL)
    assert (v.vertical, v.horizontal, v.orientation) == pytest.approx((1.0, 0.0, 1.0))
    assert (h.vertical, h.horizontal, h.orientation) == pytest.approx((0.0, 1.0, -1.0))
    assert v.norm == pytest.approx(2.0) and v.dc == 0.0 and v.mixed == pytest.approx(0.0)


def test_sobel_shares_are_its_smoothing_profile() -> None:
    """Sobel = [1, 2, 1] (smoothing) x [1, 0, -1] (difference): the smoothing's mean carries 16 of its 6 * 3 = 18."""
    t, f = one(SOBEL_TIME), one(np.transpose(SOBEL_TIME))
    assert t.vertical == pytest.approx(8 / 9) and t.horizontal == pytest.approx(0.0, abs=1e-12)
    assert t.mixed == pytest.approx(1 / 9)
    assert f.horizontal == pytest.approx(8 / 9) and f.vertical == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("size", [2, 4])
def test_a_checkerboard_is_neither(size: int) -> None:
    board = np.where(np.add.outer(np.arange(size), np.arange(size)) % 2 == 0, 1.0, -1.0)
    s = one(board)
    assert s.vertical < 0.1 and s.horizontal < 0.1
    assert s.mixed == pytest.approx(1.0)


def test_a_constant_kernel_is_all_level() -> None:
    s = one(np.full((3, 3), 0.4))
    assert s.dc == pytest.approx(1.0) and s.vertical == s.horizontal == pytest.approx(0.0, abs=1e-12)
    assert s.norm == pytest.approx(1.2)


@pytest.mark.parametrize(("n", "c", "kh", "kw"), [(8, 1, 3, 3), (5, 3, 4, 5), (4, 2, 7, 2), (3, 1, 1, 6), (3, 1, 6, 1)])
def test_random_kernels_split_their_energy_into_four_parts(n: int, c: int, kh: int, kw: int) -> None:
    k = np.random.default_rng(2015).normal(size=(n, c, kh, kw)) + 0.3
    shapes = kernel_shapes(k)
    assert [s.index for s in shapes] == list(range(n))
    for s in shapes:
        for share in (s.vertical, s.horizontal, s.mixed, s.dc):
            assert 0.0 <= share <= 1.0
        assert parts(s) == pytest.approx(1.0)
        assert -1.0 <= s.orientation <= 1.0 and s.orientation == pytest.approx(s.vertical - s.horizontal)
    np.testing.assert_allclose([s.norm for s in shapes], np.linalg.norm(k.reshape(n, -1), axis=1))


def test_shares_match_the_2d_dft_definition() -> None:
    """F[0, v != 0] is vertical, F[u != 0, 0] horizontal, F[0, 0] the mean, summed over input channels."""
    k = np.random.default_rng(7).normal(size=(6, 3, 5, 4))
    power = np.abs(np.fft.fft2(k)) ** 2  # over the last two axes: (frequency, time)
    total = power.sum(axis=(1, 2, 3))
    want_v = power[:, :, 0, 1:].sum(axis=(1, 2)) / total
    want_h = power[:, :, 1:, 0].sum(axis=(1, 2)) / total
    want_dc = power[:, :, 0, 0].sum(axis=1) / total
    shapes = kernel_shapes(k)
    np.testing.assert_allclose([s.vertical for s in shapes], want_v, rtol=1e-9)
    np.testing.assert_allclose([s.horizontal for s in shapes], want_h, rtol=1e-9)
    np.testing.assert_allclose([s.dc for s in shapes], want_dc, rtol=1e-9)


def test_one_row_or_one_column_kernels_have_no_share_on_the_missing_axis() -> None:
    row, column = one([[1.0, -1.0, 0.5]]), one([[1.0], [-1.0], [0.5]])
    assert row.horizontal == 0.0 and row.vertical + row.dc == pytest.approx(1.0)
    assert column.vertical == 0.0 and column.horizontal + column.dc == pytest.approx(1.0)
    assert one([[2.0]]).dc == pytest.approx(1.0)


def test_input_channels_add_their_energies() -> None:
    both = kernel_shapes(np.array([[VERTICAL, HORIZONTAL]], dtype=np.float32))[0]
    assert both.vertical == pytest.approx(0.5) and both.horizontal == pytest.approx(0.5)
    assert both.norm == pytest.approx(np.sqrt(8.0))


def test_zero_kernels_score_zero_without_warnings() -> None:
    k = np.zeros((3, 2, 3, 3), dtype=np.float32)
    k[1, 0] = VERTICAL[0][0]  # one live kernel among dead ones: nothing leaks between them
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shapes = kernel_shapes(k)
        tiny = kernel_shapes(np.full((1, 1, 2, 2), 1e-200))[0]
    for s in (shapes[0], shapes[2]):
        assert (s.vertical, s.horizontal, s.orientation, s.dc, s.norm, s.mixed) == (0.0,) * 6
    assert shapes[1].dc == pytest.approx(1.0)
    assert np.isfinite([tiny.vertical, tiny.horizontal, tiny.dc, tiny.norm]).all()


@pytest.mark.parametrize("gain", [7.0, -3.0, 1e-6])
def test_shares_do_not_depend_on_scale(gain: float) -> None:
    k = np.random.default_rng(3).normal(size=(4, 2, 3, 3)).astype(np.float32)
    a, b = kernel_shapes(k), kernel_shapes(k * gain)
    for x, y in zip(a, b, strict=True):
        for field in ("vertical", "horizontal", "orientation", "dc", "mixed"):
            assert getattr(y, field) == pytest.approx(getattr(x, field), rel=1e-5, abs=1e-9)
        assert y.norm == pytest.approx(abs(gain) * x.norm, rel=1e-5)


def test_sorting_runs_from_vertical_to_horizontal_edges_ties_by_index() -> None:
    k = np.array(
        [HORIZONTAL, CHECKER, VERTICAL, np.full((2, 2), 1.0), [[1, 0], [1, 0]], [[0, 0], [0, 0]], VERTICAL],
        dtype=np.float32,
    )
    order = [s.index for s in sort_by_orientation(kernel_shapes(k[:, None]))]
    # 2, 6: pure vertical; 4: half vertical, half level; 1, 3, 5: orientation 0, by index; 0: pure horizontal
    assert order == [2, 6, 4, 1, 3, 5, 0]
    assert sort_by_orientation([]) == []


def test_the_bundled_models_first_layer() -> None:
    from app.core.model import load_model

    model = load_model(ROOT / "models" / "choi2015-genre.safetensors")
    weights = model.kernels(1)
    assert weights is not None
    k = weights.detach().cpu().numpy()
    shapes = kernel_shapes(k)
    assert len(shapes) == k.shape[0] == 64
    for s in shapes:
        values = [s.vertical, s.horizontal, s.orientation, s.dc, s.norm, s.mixed]
        assert np.isfinite(values).all() and s.norm > 0
        assert parts(s) == pytest.approx(1.0)
    ordered = sort_by_orientation(shapes)
    assert ordered[0].vertical > 0.5 and ordered[-1].horizontal > 0.5  # the trained layer holds both kinds of edge
