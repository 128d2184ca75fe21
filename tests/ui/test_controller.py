"""The window's controller driven without a window: select a map, get its rendering; mode and method are
arguments; the newest request wins; thumbnails come from its queue."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.types import FeatureRef, Method, Mode
from app.ui import compute
from app.ui.controller import Controller

RATE = 48000


@pytest.fixture
def controller(qtbot, wav_file, model_file):
    made = Controller(thumbnails=True)
    opened = compute.open_session(model_file, wav_file)
    made.model_handle, made.summary, made.analysis, made.clip = (
        opened.model,
        opened.summary,
        opened.analysis,
        opened.clip,
    )
    made.keep_analysis(opened.analysis, opened.clip)
    yield made
    made.cancel_all()
    made.shutdown()


def test_selecting_a_map_renders_it_with_the_mode_and_method_given(controller, qtbot) -> None:
    ref = FeatureRef(2, 3)
    with (
        qtbot.waitSignal(controller.residualRendered, timeout=60000) as residual,
        qtbot.waitSignal(controller.featureRendered, timeout=60000) as feature,
    ):
        assert controller.render(ref, Mode.MAGNITUDE, Method.GRADIENT, RATE)
    b, r = feature.args[0], residual.args[0]
    assert controller.selected == ref and controller.feature is b and controller.residual is r
    assert (b.ref, b.mode, b.method, b.device_rate) == (ref, Mode.MAGNITUDE, Method.GRADIENT, RATE)
    assert (r.ref, r.mode, r.method) == (ref, Mode.RESIDUAL, Method.GRADIENT)
    direct = compute.render_feature(
        controller.analysis, controller.summary, ref, Mode.MAGNITUDE, RATE, method=Method.GRADIENT, residual=False
    )
    np.testing.assert_allclose(b.audio, direct.audio, atol=1e-6)
    assert np.max(np.abs(b.audio)) > 0 and controller.last_ready_seconds > 0


def test_the_newest_request_wins(controller, qtbot) -> None:
    delivered: list[FeatureRef] = []
    controller.featureRendered.connect(lambda result: delivered.append(result.ref))
    controller.render(FeatureRef(1, 0), Mode.CHOI, Method.DECONVNET, RATE)
    controller.render(FeatureRef(1, 5), Mode.CHOI, Method.DECONVNET, RATE)
    qtbot.waitUntil(lambda: controller.residual is not None and controller.worker.idle, timeout=60000)
    assert delivered == [FeatureRef(1, 5)] and controller.feature.ref == (1, 5)


def test_a_compared_map_renders_without_a_residual(controller, qtbot) -> None:
    with qtbot.waitSignal(controller.comparedRendered, timeout=60000) as compared:
        assert controller.set_compare(FeatureRef(3, 1), Mode.CHOI, Method.DECONVNET, RATE)
    assert compared.args[0].ref == (3, 1) and controller.compared is compared.args[0]
    assert not controller.set_compare(None, Mode.CHOI, Method.DECONVNET, RATE) and controller.compared is None


def test_a_selection_without_a_clip_moves_but_renders_nothing(qtbot) -> None:
    bare = Controller()
    try:
        assert not bare.render(FeatureRef(1, 2), Mode.CHOI, Method.DECONVNET, RATE)
        assert bare.selected == (1, 2) and bare.feature is None and bare.worker.idle
        assert bare.default_ref() == (1, 0) and not bare.valid(FeatureRef(1, 2))
    finally:
        bare.shutdown()


def test_thumbnails_fill_the_cache_for_the_clip_and_method(controller, qtbot, monkeypatch) -> None:
    monkeypatch.setattr("app.ui.controller.THUMBNAIL_PAUSE_S", 0.0)
    made: dict = {}
    controller.thumbnailsMade.connect(made.update)
    first = controller.start_thumbnails(3, Method.DECONVNET)
    assert first == {} and controller.thumb_queue[0].layer == 3  # the layer asked for first
    n_maps = sum(layer.n_maps for layer in controller.summary.layers)
    qtbot.waitUntil(lambda: len(made) == n_maps, timeout=120000)
    assert set(made) == {FeatureRef(la.number, k) for la in controller.summary.layers for k in range(la.n_maps)}
    again = controller.start_thumbnails(1, Method.DECONVNET)  # the same clip and method: all there at once
    assert set(again) == set(made) and not controller.thumb_queue
    assert controller.start_thumbnails(1, Method.GRADIENT) == {} and controller.thumb_total == n_maps
