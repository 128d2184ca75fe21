"""The engines give one atlas: the embedded engine and Ray Data (started here with 2 CPUs, actors keeping the model
loaded) build identical SQLite contents from the same corpus, an unreadable clip skipped by both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf
from signals import chord_clip

from app.core.atlas import ScanSettings
from app.core.atlas.build import LocalEngine, ModelSource, build_atlas
from app.core.atlas.store import AtlasFile
from app.core.model import load_model

ray = pytest.importorskip("ray", reason="the ray extra (pip install 'aurascope[ray]') is not installed")
RATE = 11025


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_and_local_engines_build_identical_atlases(tmp_path: Path, model_file: Path, local_ray: None) -> None:
    from app.core.atlas.ray_engine import RayEngine

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(7):
        sf.write(corpus / f"s{i}.wav", chord_clip(RATE, 1.5 + 0.5 * i, seed=10 + i) * 0.4, RATE, subtype="FLOAT")
    (corpus / "bad.ogg").write_bytes(b"OggS" + b"\x00" * 64)
    model = load_model(model_file)
    settings = ScanSettings.for_network(model, k=4)
    local = build_atlas(tmp_path / "local.atlas", [corpus], model, settings, engine=LocalEngine(model, settings))
    engine = RayEngine(ModelSource(str(model_file)), settings, actors=2)
    remote = build_atlas(tmp_path / "ray.atlas", [corpus], model, settings, engine=engine, batch_size=3)
    assert (local.scanned, local.skipped) == (remote.scanned, remote.skipped) == (7, 1)
    with AtlasFile(tmp_path / "local.atlas") as a, AtlasFile(tmp_path / "ray.atlas") as b:
        assert a.contents() == b.contents()
        assert len(a.contents()["hits"]) == 40 * 4
        assert {c.status for c in b.clips() if Path(c.path).name == "bad.ogg"} == {"skipped"}
