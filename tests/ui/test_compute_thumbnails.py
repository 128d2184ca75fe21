"""Thumbnails of the bundled models on the real demo song (no Qt): each is the thumbnail of the whole clip's Choi
rendering over the stretch it says it shows (the clip's loudest THUMB_SECONDS), to at most one grey level of 255
on any pixel (float rounding between the window's computation and the whole clip's), on every layer, with one
thread (as while audio plays) and with all of them (as while nothing plays)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core.analysis import Analysis
from app.core.audio import load_audio
from app.core.display import LogFrequencyGrid, linear_bin_hz, thumbnail
from app.core.model import load_model
from app.core.types import FeatureRef, Mode
from app.ui import compute

ROOT = Path(__file__).resolve().parents[2]
SONG = ROOT / "resources" / "demo" / "real" / "band.flac"  # 25 s: longer than the thumbnails' 6 s


@pytest.mark.parametrize(("name", "threads"), [("musicnn-mtt-vgg", 1), ("choi2015-genre", None)])
def test_thumbnails_equal_the_whole_renderings_over_the_loudest_stretch(name: str, threads: int | None) -> None:
    path = ROOT / "models" / f"{name}.safetensors"
    if not path.is_file() or not SONG.is_file():
        pytest.skip("the bundled model or demo song is not there")
    model = load_model(path)
    analysis = Analysis(load_audio(SONG, model.front_end.sample_rate), model, device="cpu")
    summary = compute.summarise_model(model)
    first, last = compute.thumbnail_span(analysis)
    sr = analysis.clip.sample_rate
    assert last - first == round(compute.THUMB_SECONDS * sr) < analysis.clip.samples.shape[0]
    frames = analysis.frames_for_samples(first, last)
    bin_hz = linear_bin_hz(summary.sample_rate, summary.n_fft)
    small = LogFrequencyGrid(summary.grid.fmin, summary.grid.fmax, compute.THUMB_ROWS)
    large = LogFrequencyGrid(summary.grid.fmin, summary.grid.fmax, compute.GALLERY_ROWS)
    worst = 0
    for layer in summary.layers:
        loudest = int(np.argmax(analysis.layer_activation_energy(layer.number)))
        indices = [0, loudest] if loudest else [0, layer.n_maps - 1]
        made = compute.thumbnails(analysis, summary, layer.number, indices, threads=threads)
        for k in indices:
            whole = analysis.render(FeatureRef(layer.number, k), Mode.CHOI).spectrogram_db[:, frames[0] : frames[1]]
            tree, gallery = made[FeatureRef(layer.number, k)]
            want_tree = thumbnail(whole, small, bin_hz, compute.THUMB_COLS)
            want_gallery = thumbnail(whole, large, bin_hz, compute.GALLERY_COLS)
            assert tree.shape == want_tree.shape == (compute.THUMB_ROWS, compute.THUMB_COLS)
            assert gallery.shape == want_gallery.shape == (compute.GALLERY_ROWS, compute.GALLERY_COLS)
            if k == loudest:
                assert int(want_tree.max()) == 255  # a real image, not a silent one compared with another
            worst = max(
                worst,
                int(np.abs(tree.astype(int) - want_tree).max()),
                int(np.abs(gallery.astype(int) - want_gallery).max()),
            )
    assert worst <= 1
