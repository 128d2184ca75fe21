"""The controller's atlas jobs driven without a window: open (hashed, checked against the open network), a map's
excerpts row by row then the whole listing, an excerpt rendered by the core's one `render_excerpt` at the device
rate, the newest render request winning, a rendered excerpt served again at once, another model's atlas refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.core.analysis import Analysis
from app.core.atlas import ScanSettings
from app.core.atlas.build import build_atlas
from app.core.atlas.excerpts import render_excerpt
from app.core.atlas.store import AtlasFile
from app.core.audio import file_sha256, load_audio
from app.core.loudness import Level
from app.core.model import random_weights, save_model
from app.core.resampling import resample
from app.core.types import FeatureRef, Method, Mode
from app.ui import compute
from app.ui.controller import Controller

ROOT = Path(__file__).resolve().parents[2]
RATE = 48000
REF = FeatureRef(2, 4)


@pytest.fixture
def controller(qtbot, wav_file, model_file):
    made = Controller(thumbnails=False)
    made.model_handle, made.summary = compute.open_network(model_file)
    yield made
    made.cancel_all()
    made.shutdown()


@pytest.fixture
def atlas(tmp_path: Path, controller: Controller) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("resources/demo/piano.wav", "resources/demo/real/groove.bass.flac"):
        shutil.copy(ROOT / name, corpus / Path(name).name)
    out = tmp_path / "two.atlas"
    network = controller.model_handle
    build_atlas(out, [corpus], network, ScanSettings.for_network(network, k=3))
    return out


def test_open_list_and_render_an_excerpt(controller, qtbot, atlas) -> None:
    with qtbot.waitSignal(controller.atlasOpened, timeout=30000) as opened:
        controller.open_atlas(atlas)
    summary = opened.args[0]
    assert controller.atlas is summary and summary.sha256 == file_sha256(atlas) and summary.size == atlas.stat().st_size
    assert (summary.clips, summary.skipped, summary.k, summary.labelled) == (2, 0, 3, False)
    assert summary.model_sha256 == controller.summary.sha256

    rows = []
    controller.excerptFound.connect(rows.append)
    with qtbot.waitSignal(controller.excerptsListed, timeout=30000) as listed:
        assert controller.list_excerpts(REF)
    listing = listed.args[0]
    with AtlasFile(atlas) as db:
        hits = db.hits(REF.layer, REF.index)
    assert [e.hit for e in listing.excerpts] == hits and len(hits) == 3
    assert rows == list(listing.excerpts) and [e.rank for e in rows] == [1, 2, 3]  # row by row, then all
    assert listing.tags == ()  # no corpus labels

    # two requests in a row: only the newest is delivered
    delivered = []
    controller.excerptRendered.connect(delivered.append)
    first, second = listing.excerpts[0], listing.excerpts[1]
    controller.render_excerpt(first, Mode.CHOI, Method.DECONVNET, RATE)
    controller.render_excerpt(second, Mode.CHOI, Method.DECONVNET, RATE)
    qtbot.waitUntil(lambda: controller.worker.idle and bool(delivered), timeout=60000)
    assert [a.excerpt.key for a in delivered] == [second.key]
    audio = delivered[0]
    rate = controller.summary.sample_rate
    clip = load_audio(second.clip_path, rate)
    start, end = round(second.hit.start * rate), min(clip.samples.shape[-1], round(second.hit.end * rate))
    np.testing.assert_allclose(audio.original, resample(clip.samples[start:end], rate, RATE), atol=1e-6)
    assert audio.device_rate == RATE and audio.feature.shape == audio.original.shape
    with AtlasFile(atlas) as db:  # the feature: the core's rendering of that hit, at the device rate
        made = render_excerpt(Analysis(clip, controller.model_handle), db.clip(second.clip_sha256), second.hit, 2)
    np.testing.assert_allclose(audio.feature, resample(made.renderings[0].audio, rate, RATE), atol=1e-6)
    assert np.max(np.abs(audio.feature)) > 0
    assert audio.feature_level == Level.of(audio.feature, RATE)  # levels as played, for loudness matching
    assert audio.original_level == Level.of(audio.original, RATE)

    # the same excerpt again: from the cache, synchronously, no job
    again = []
    controller.excerptRendered.connect(again.append)
    controller.render_excerpt(second, Mode.CHOI, Method.DECONVNET, RATE)
    assert again == [audio] and controller.worker.idle


def test_an_atlas_of_another_model_is_refused(controller, qtbot, atlas, tmp_path) -> None:
    from model_specs import small_choi_spec

    other = tmp_path / "other.safetensors"
    spec = small_choi_spec()
    save_model(other, spec, random_weights(spec, seed=9))
    controller.model_handle, controller.summary = compute.open_network(other)
    with qtbot.waitSignal(controller.atlasFailed, timeout=30000) as failed:
        controller.open_atlas(atlas)
    assert failed.args[0] == atlas and "it was built with another model" in failed.args[1]
    assert controller.atlas is None and not controller.list_excerpts(REF)


def test_excerpts_of_one_clip_open_it_once_until_its_file_changes(controller, qtbot, atlas, monkeypatch) -> None:
    import app.core.atlas.excerpts as excerpts_module

    opened: list[str] = []
    real_open = excerpts_module.open_clip
    monkeypatch.setattr(
        excerpts_module,
        "open_clip",
        lambda path, entry, rate: opened.append(entry.path) or real_open(path, entry, rate),
    )
    with qtbot.waitSignal(controller.atlasOpened, timeout=30000):
        controller.open_atlas(atlas)
    with qtbot.waitSignal(controller.excerptsListed, timeout=30000) as listed:
        controller.list_excerpts(REF)
    by_clip: dict[str, list] = {}
    for excerpt in listed.args[0].excerpts:
        by_clip.setdefault(excerpt.clip_sha256, []).append(excerpt)
    same = max(by_clip.values(), key=len)
    assert len(same) >= 2, "two of the map's excerpts come from one clip"
    for excerpt in same[:2]:
        with qtbot.waitSignal(controller.excerptRendered, timeout=60000):
            controller.render_excerpt(excerpt, Mode.CHOI, Method.DECONVNET, RATE)
    assert opened == [str(same[0].clip_path)]  # opened (read, hashed, analysed) once for both

    # the file changed: opened again, and refused (another SHA-256 than the atlas's)
    audio, rate = sf.read(same[0].clip_path, dtype="float32")
    sf.write(same[0].clip_path, 0.5 * audio, rate, subtype="FLOAT")
    with qtbot.waitSignal(controller.excerptFailed, timeout=60000) as failed:
        controller.render_excerpt(same[0], Mode.MAGNITUDE, Method.DECONVNET, RATE)
    assert len(opened) == 2 and "changed since the atlas was built" in failed.args[1]


def test_another_network_or_an_unreadable_atlas_lets_go_of_the_rendered_excerpts(
    controller, qtbot, atlas, tmp_path, model_file
) -> None:
    from model_specs import small_choi_spec

    from app.ui.compute import ModelSource

    with qtbot.waitSignal(controller.atlasOpened, timeout=30000):
        controller.open_atlas(atlas)
    with qtbot.waitSignal(controller.excerptsListed, timeout=30000) as listed:
        controller.list_excerpts(REF)
    first = listed.args[0].excerpts[0]

    def rendered() -> None:
        with qtbot.waitSignal(controller.excerptRendered, timeout=60000):
            controller.render_excerpt(first, Mode.CHOI, Method.DECONVNET, RATE)
        assert len(controller.excerpt_cache) == 1 and controller._excerpt_clips is not None

    rendered()
    other = tmp_path / "other.safetensors"
    spec = small_choi_spec()
    save_model(other, spec, random_weights(spec, seed=9))
    with qtbot.waitSignal(controller.open_model(ModelSource(str(other))).ended, timeout=60000):
        pass
    # the old network's renderings (and its clip analyses, and so the network) are not held any more
    assert not controller.excerpt_cache and controller._excerpt_clips is None and controller._wanted_excerpt is None

    with qtbot.waitSignal(controller.open_model(ModelSource(str(model_file))).ended, timeout=60000):
        pass
    rendered()
    atlas.unlink()  # deleted while open: the listing fails
    with qtbot.waitSignal(controller.atlasFailed, timeout=30000):
        controller.list_excerpts(REF)
    assert not controller.excerpt_cache and controller._excerpt_clips is None and controller._wanted_excerpt is None
