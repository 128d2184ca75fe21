"""The atlas's reduction on real forward passes of a small model: the merge law with seeded random splits, the
brute-force top k, the windows and their overlap, and memory that does not grow with the corpus."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Iterator
from functools import reduce
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from signals import chord_clip

from app.core.atlas import Hit, ScanSettings, TopK, scan_clip, window_starts
from app.core.audio import Clip, load_audio
from app.core.model import Model

RATE = 11025
K = 4


def _clip_file(folder: Path, i: int) -> Path:
    rng = np.random.default_rng(i)
    seconds = 1.5 + (i % 5) * 0.9
    y = chord_clip(RATE, seconds, seed=i) * (0.2 + 0.8 * rng.random())
    if i % 3 == 0:  # some noise bursts so the maps that like broadband sound have something
        y = y + 0.05 * rng.standard_normal(y.shape[-1]).astype(np.float32)
    path = folder / f"clip{i:02d}.wav"
    sf.write(path, y, RATE, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Clip]:
    folder = tmp_path_factory.mktemp("corpus")
    return [load_audio(_clip_file(folder, i), RATE) for i in range(10)]


@pytest.fixture(scope="module")
def per_clip(clips: list[Clip], small_model: Model) -> list[TopK]:
    settings = ScanSettings.for_network(small_model, k=K)
    return [scan_clip(clip, small_model, settings, device="cpu") for clip in clips]


def _all_hits(clips: list[Clip], model: Model, settings: ScanSettings) -> list[Hit]:
    """Every window of every clip for every map, computed directly (no threshold, no top k)."""
    hits = []
    for clip in clips:
        one = ScanSettings(k=10_000, window_frames=settings.window_frames, hop_frames=settings.hop_frames)
        hits.extend(scan_clip(clip, model, one, device="cpu"))
    return hits


def test_windows_overlap_by_half_and_cover_the_clip() -> None:
    assert window_starts(300, 87, 44) == [0, 44, 88, 132, 176, 213]
    assert window_starts(87, 87, 44) == [0] and window_starts(50, 87, 44) == [0]


def test_settings_take_the_head_input_length(small_model: Model) -> None:
    settings = ScanSettings.for_network(small_model)
    assert (settings.k, settings.window_frames, settings.hop_frames) == (16, 87, 43)
    assert settings.overlap == pytest.approx(0.506, abs=1e-3)


def test_top_k_is_the_brute_force_top_k(clips: list[Clip], per_clip: list[TopK], small_model: Model) -> None:
    settings = ScanSettings.for_network(small_model, k=K)
    everything = _all_hits(clips, small_model, settings)
    whole = reduce(TopK.merge, per_clip)
    n_maps = sum(layer.n_maps for layer in small_model.layers)
    assert len(whole.maps()) == n_maps and whole.n_hits == n_maps * K
    windows = sum(len(window_starts(int(c.duration * RATE) // 256 + 1, 87, 43)) for c in clips)
    assert len(everything) == windows * n_maps  # every window of every clip reached every map
    for layer, index in whole.maps():
        expected = sorted((h for h in everything if (h.layer, h.map) == (layer, index)), key=lambda h: h.order)[:K]
        assert whole.hits(layer, index) == expected
    assert len({h.clip for h in whole}) > 3  # the winners come from several clips, so the ranking is not trivial


@pytest.mark.parametrize("seed", range(25))
def test_merge_law_random_splits(seed: int, per_clip: list[TopK]) -> None:
    """Any partition of the corpus, each part reduced in any order, the parts merged in any order (and nested):
    the same atlas as one pass in corpus order."""
    one_pass = TopK(K)
    for part in per_clip:
        one_pass.update(part)
    rnd = random.Random(seed)
    items = per_clip[:]
    rnd.shuffle(items)
    cuts = sorted(rnd.sample(range(1, len(items)), rnd.randint(1, len(items) - 1)))
    parts = [items[a:b] for a, b in zip([0, *cuts], [*cuts, len(items)], strict=True)]
    reduced = [reduce(TopK.merge, part) for part in parts]
    rnd.shuffle(reduced)
    while len(reduced) > 1:  # a random merge tree, not just a left fold
        i = rnd.randrange(len(reduced) - 1)
        reduced[i : i + 2] = [reduced[i].merge(reduced[i + 1])]
    assert reduced[0] == one_pass
    assert one_pass.merge(one_pass) == one_pass  # a part seen twice counts once


@pytest.mark.parametrize("seed", range(5))
def test_entry_thresholds_follow_every_add(seed: int, per_clip: list[TopK], small_model: Model) -> None:
    """The thresholds a scan reads (kept up to date as hits come, not rebuilt) are each map's k-th best peak, -inf
    while it holds fewer than k; a snapshot (what a pool worker is sent) says the same."""
    rnd = random.Random(seed)
    top = TopK(K)
    layers = [(layer.number, layer.n_maps) for layer in small_model.layers]
    for layer, n in layers:
        assert (top.threshold(layer, n) == -np.inf).all()  # asked before any hit: kept from then on
    for part in rnd.sample(per_clip, len(per_clip)):
        top.update(part)
        snapshot = top.snapshot()
        for layer, n in layers:
            expected = [top.hits(layer, i)[-1].peak if len(top.hits(layer, i)) >= K else -np.inf for i in range(n)]
            assert top.threshold(layer, n).tolist() == expected
            assert snapshot.threshold(layer, n).tolist() == expected
    assert any((top.threshold(layer, n) > -np.inf).any() for layer, n in layers)  # maps did fill up


def test_hits_say_where_the_peak_is(clips: list[Clip], per_clip: list[TopK], small_model: Model) -> None:
    clip, top = clips[3], per_clip[3]
    hit = top.hits(1, 0)[0]
    fe = small_model.front_end
    x = fe.input_from_stft(fe.stft(torch.from_numpy(clip.samples)))[None, None]
    window = x[..., hit.start_frame : hit.start_frame + hit.n_frames]
    act = small_model.layer_output(small_model.forward_record(window), 1)[0, 0]
    assert hit.peak == pytest.approx(float(act.max()), rel=1e-5)
    assert hit.mean == pytest.approx(float(act.double().mean()), rel=1e-5)
    f, t = np.unravel_index(int(act.argmax()), tuple(act.shape))
    hop_s = fe.hop_length / fe.sample_rate
    cell = hit.n_frames / act.shape[-1]  # input frames per output cell of layer 1 (its pooling)
    assert cell > 1.5
    assert hit.peak_time == pytest.approx((hit.start_frame + (t + 0.5) * cell) * hop_s, abs=1e-9)
    assert hit.start <= hit.peak_time <= hit.end + hop_s
    bins = fe.bin_frequencies()
    band = bins[int(f * len(bins) / act.shape[-2]) : int((f + 1) * len(bins) / act.shape[-2]) + 1]
    assert band.min() <= hit.peak_frequency <= band.max()  # inside the peak cell's band of input bins


def _stream(clips: list[Clip], times: int) -> Iterator[Clip]:
    for _ in range(times):
        yield from clips


def _reduce_peak_bytes(clips: list[Clip], model: Model, times: int) -> tuple[int, TopK]:
    settings = ScanSettings.for_network(model, k=K)
    top = TopK(K)
    tracemalloc.start()
    try:
        for i, clip in enumerate(_stream(clips, times)):
            # each repeat is a new clip to the atlas (another hash): the corpus really is `times` as large
            renamed = Clip(clip.path, f"{clip.sha256}-{i}", clip.samples, clip.sample_rate, clip.original, RATE)
            top.update(scan_clip(renamed, model, settings, device="cpu"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, top


def test_memory_does_not_grow_with_the_corpus(clips: list[Clip], small_model: Model) -> None:
    small, top1 = _reduce_peak_bytes(clips[:5], small_model, 1)
    large, top4 = _reduce_peak_bytes(clips[:5], small_model, 4)
    n_maps = sum(layer.n_maps for layer in small_model.layers)
    assert top1.n_hits == top4.n_hits == n_maps * K
    assert len({h.clip for h in top4}) > len({h.clip for h in top1})  # the 4x corpus really was scanned
    assert large < 1.3 * small, (small, large)


def test_the_corpus_floor_skips_windows_without_changing_the_atlas(tmp_path: Path, model_file: Path) -> None:
    """The in-process engine offers a clip only the windows the corpus's running top k does not already beat."""
    from app.core.atlas.build import LocalEngine, build_atlas
    from app.core.atlas.store import AtlasFile
    from app.core.model import load_model

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(10):
        sf.write(corpus / f"s{i}.wav", chord_clip(11025, 1.5 + 0.3 * i, seed=40 + i) * (0.2 + 0.05 * i), 11025)
    model = load_model(model_file)
    settings = ScanSettings.for_network(model, k=2)

    class Counting(LocalEngine):
        def __init__(self, floored: bool) -> None:
            super().__init__(model, settings)
            self.floored, self.offered = floored, 0

        def scan(self, paths, *, floor=None, hashes=None):
            # build_atlas hands every engine the floor; the plain one refuses it
            for result in super().scan(paths, floor=floor if self.floored else None, hashes=hashes):
                self.offered += len(result.hits)
                yield result

    plain, floored = Counting(False), Counting(True)
    build_atlas(tmp_path / "plain.atlas", [corpus], model, settings, engine=plain)
    build_atlas(tmp_path / "floored.atlas", [corpus], model, settings, engine=floored)
    with AtlasFile(tmp_path / "plain.atlas") as a, AtlasFile(tmp_path / "floored.atlas") as b:
        assert a.contents() == b.contents()
    assert floored.offered < 0.8 * plain.offered, (floored.offered, plain.offered)


def test_a_build_reads_each_file_for_its_hash_once(
    tmp_path: Path, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build hashes every file to skip those the atlas holds, and hands the hash on: loading does not read the
    file a second time for it (the clips' hashes in the atlas are still the files' own)."""
    import hashlib

    import app.core.audio
    from app.core.atlas.build import build_atlas
    from app.core.atlas.store import AtlasFile
    from app.core.model import load_model

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(4):
        sf.write(corpus / f"s{i}.wav", chord_clip(11025, 1.5, seed=60 + i) * 0.3, 11025)
    hashed: list[str] = []
    real = app.core.audio.file_sha256

    def counting(path: str | Path) -> str:
        hashed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(app.core.audio, "file_sha256", counting)
    monkeypatch.setattr("app.core.atlas.build.file_sha256", counting)
    model = load_model(model_file)
    build_atlas(tmp_path / "a.atlas", [corpus], model, ScanSettings.for_network(model, k=2))
    assert sorted(hashed) == [f"s{i}.wav" for i in range(4)]
    with AtlasFile(tmp_path / "a.atlas") as atlas:
        assert {c.sha256 for c in atlas.clips()} == {
            hashlib.sha256((corpus / f"s{i}.wav").read_bytes()).hexdigest() for i in range(4)
        }
