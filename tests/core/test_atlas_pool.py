"""The embedded engine as a local process pool: the same atlas as the in-process engine (an unreadable clip skipped by
both), the same incremental build, a model a worker cannot open said in one line, and the workers' own settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import soundfile as sf
from signals import chord_clip

from app.core.atlas import ScanSettings
from app.core.atlas.build import LocalEngine, ModelSource, build_atlas, corpus_files
from app.core.atlas.pool_engine import PoolEngine
from app.core.atlas.store import AtlasFile
from app.core.errors import EngineError
from app.core.model import load_model

RATE = 11025


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pool-corpus")
    for i in range(9):
        y = chord_clip(RATE, 1.2 + 0.4 * (i % 5), seed=40 + i) * (0.2 + 0.07 * i)
        sf.write(folder / f"s{i}.wav", y, RATE, subtype="FLOAT")
    (folder / "bad.flac").write_bytes(b"fLaC" + bytes(100))
    return folder


@pytest.fixture(scope="module")
def local_atlas(tmp_path_factory: pytest.TempPathFactory, corpus: Path, model_file: Path) -> Path:
    model = load_model(model_file)
    settings = ScanSettings.for_network(model, k=3)
    out = tmp_path_factory.mktemp("local") / "local.atlas"
    build_atlas(out, [corpus], model, settings, engine=LocalEngine(model, settings))
    return out


def test_pool_and_local_engines_build_identical_atlases(
    tmp_path: Path, corpus: Path, model_file: Path, local_atlas: Path
) -> None:
    model = load_model(model_file)
    settings = ScanSettings.for_network(model, k=3)
    engine = PoolEngine(ModelSource(str(model_file)), settings, workers=2)
    summary = build_atlas(tmp_path / "pool.atlas", [corpus], model, settings, engine=engine, batch_size=4)
    assert (summary.scanned, summary.skipped, summary.already) == (9, 1, 0)
    with AtlasFile(local_atlas) as a, AtlasFile(tmp_path / "pool.atlas") as b:
        assert a.contents() == b.contents()
        assert len(b.contents()["hits"]) == 40 * 3
        bad = [c for c in b.clips() if Path(c.path).name == "bad.flac"]
        assert [c.status for c in bad] == ["skipped"] and "bad.flac" in (bad[0].reason or "")


def test_pool_build_is_incremental_like_the_local_one(
    tmp_path: Path, corpus: Path, model_file: Path, local_atlas: Path
) -> None:
    model = load_model(model_file)
    settings = ScanSettings.for_network(model, k=3)
    engine = PoolEngine(ModelSource(str(model_file)), settings, workers=2)
    out = tmp_path / "grown.atlas"
    files = corpus_files([corpus])
    first = build_atlas(out, files[:4], model, settings, engine=engine)
    again = build_atlas(out, [corpus], model, settings, engine=engine, batch_size=2)
    assert (first.scanned + first.skipped, again.already, again.scanned + again.skipped) == (4, 4, 6)
    with AtlasFile(local_atlas) as a, AtlasFile(out) as b:
        assert a.contents() == b.contents()


def test_the_pool_skips_windows_below_the_floor_too(tmp_path: Path, model_file: Path) -> None:
    """Each clip goes to a worker with a snapshot of the corpus's floor: fewer hits come back, the same atlas as
    the pool without it and the in-process engine."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(12):  # one window each (shorter than the model's 2 s), k = 1: the floor bites from the 3rd clip
        sf.write(corpus / f"s{i}.wav", chord_clip(RATE, 1.0 + 0.07 * i, seed=70 + i) * (0.2 + 0.05 * i), RATE)
    model = load_model(model_file)
    settings = ScanSettings.for_network(model, k=1)

    class Counting:
        def __init__(self, floored: bool) -> None:
            self.pool = PoolEngine(ModelSource(str(model_file)), settings, workers=1)
            self.floored, self.offered = floored, 0

        def scan(self, paths, *, floor=None, hashes=None):
            for result in self.pool.scan(paths, floor=floor if self.floored else None, hashes=hashes):
                self.offered += len(result.hits)
                yield result

    plain, floored = Counting(False), Counting(True)
    build_atlas(tmp_path / "local.atlas", [corpus], model, settings)
    build_atlas(tmp_path / "plain.atlas", [corpus], model, settings, engine=plain)
    build_atlas(tmp_path / "floored.atlas", [corpus], model, settings, engine=floored)
    with (
        AtlasFile(tmp_path / "local.atlas") as a,
        AtlasFile(tmp_path / "plain.atlas") as b,
        AtlasFile(tmp_path / "floored.atlas") as c,
    ):
        assert a.contents() == b.contents() == c.contents()
    assert plain.offered == 12 * 40  # every clip's one window, every map
    assert floored.offered < 0.6 * plain.offered, (floored.offered, plain.offered)


def test_a_model_a_worker_cannot_open_is_one_clear_error(
    tmp_path: Path, corpus: Path, model_file: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    model = load_model(model_file)
    settings = ScanSettings.for_network(model, k=3)
    engine = PoolEngine(ModelSource(str(tmp_path / "gone.safetensors")), settings, workers=1)
    with pytest.raises(EngineError, match=r"cannot open the model '.*gone\.safetensors' in a worker: .*gone"):
        list(engine.scan([str(p) for p in corpus_files([corpus])[:2]]))
    assert "Traceback" not in capfd.readouterr().err


def test_each_worker_runs_one_torch_thread_with_its_own_model(model_file: Path) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from app.core.atlas import pool_engine

    settings = ScanSettings.for_network(load_model(model_file), k=1)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        1,
        mp_context=context,
        initializer=pool_engine._start_worker,
        initargs=(ModelSource(str(model_file)), settings, os.getpid()),
    ) as pool:
        threads, name = pool.submit(_worker_state).result(timeout=120)
    assert (threads, name) == (1, load_model(model_file).name)
    with pytest.raises(EngineError, match="at least 1 worker"):
        PoolEngine(ModelSource(str(model_file)), settings, workers=0)


def _worker_state() -> tuple[int, str]:
    import torch

    from app.core.atlas import pool_engine

    assert isinstance(pool_engine._worker, tuple)
    return torch.get_num_threads(), pool_engine._worker[0].name
