"""The atlas as a SQLite file: built from real clips by real forward passes, incremental by hash, tolerant of
unreadable clips, and resumable after a build is killed with SIGKILL in the middle of a batch."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from functools import reduce
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from signals import chord_clip

from app.core.atlas import ScanSettings, TopK, scan_clip
from app.core.atlas.build import build_atlas, read_labels
from app.core.atlas.store import AtlasFile
from app.core.audio import load_audio
from app.core.errors import AtlasError
from app.core.model import load_model

RATE = 11025
K = 3
ROOT = Path(__file__).resolve().parents[2]


def _write_corpus(folder: Path, n: int, first: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(first, first + n):
        y = chord_clip(RATE, 1.2 + (i % 4) * 0.7, seed=i) * (0.3 + 0.1 * (i % 5))
        path = folder / f"c{i:03d}.wav"
        sf.write(path, y, RATE, subtype="FLOAT")
        paths.append(path)
    return paths


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    _write_corpus(folder, 6)
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really a wav file at all")
    sf.write(folder / "tiny.wav", np.zeros(100, dtype=np.float32), RATE)  # far shorter than the model's input
    return folder


def test_build_records_clips_maps_and_the_top_k(tmp_path: Path, corpus: Path, model_file: Path) -> None:
    model = load_model(model_file)
    settings = ScanSettings.for_network(model, k=K)
    (tmp_path / "labels.csv").write_text("file,labels\nc000.wav,piano;calm\nc001,busy\n")
    summary = build_atlas(
        tmp_path / "a.atlas", [corpus], model, settings, labels=read_labels(tmp_path / "labels.csv"), batch_size=4
    )
    assert (summary.scanned, summary.skipped, summary.already) == (6, 2, 0)
    with AtlasFile(tmp_path / "a.atlas") as atlas:
        meta = atlas.meta
        assert meta["model_sha256"] == model.sha256 and meta["k"] == K and meta["window_frames"] == 87
        assert meta["front_end"]["sample_rate"] == RATE and meta["format"] == "aurascope-atlas"
        clips = {Path(c.path).name: c for c in atlas.clips()}
        assert len(atlas.maps()) == 40
        assert clips["c000.wav"].labels == ("piano", "calm") and clips["c001.wav"].labels == ("busy",)
        assert clips["c003.wav"].duration == pytest.approx(3.3, abs=1e-3) and clips["c003.wav"].status == "done"
        assert clips["broken.wav"].status == "skipped" and "broken.wav" in clips["broken.wav"].reason
        assert clips["tiny.wav"].status == "skipped" and "needs at least" in clips["tiny.wav"].reason
        expected = reduce(
            TopK.merge,
            [scan_clip(load_audio(p, RATE), model, settings, device="cpu") for p in sorted(corpus.glob("c*.wav"))],
        )
        assert atlas.top() == expected
        assert atlas.hits(2, 5) == expected.hits(2, 5) and len(atlas.hits(2, 5)) == K


def test_build_is_incremental_by_hash(tmp_path: Path, corpus: Path, model_file: Path) -> None:
    model = load_model(model_file)
    settings = ScanSettings.for_network(model, k=K)
    build_atlas(tmp_path / "inc.atlas", [corpus], model, settings)
    more = _write_corpus(tmp_path / "more", 3, first=40)
    (tmp_path / "more" / "copy.wav").write_bytes((corpus / "c002.wav").read_bytes())  # same bytes, another name
    summary = build_atlas(tmp_path / "inc.atlas", [corpus, tmp_path / "more"], model, settings)
    assert (summary.scanned, summary.skipped, summary.already) == (3, 0, 9)
    build_atlas(tmp_path / "all.atlas", [corpus, *more], model, settings)
    with AtlasFile(tmp_path / "inc.atlas") as inc, AtlasFile(tmp_path / "all.atlas") as whole:
        assert inc.contents() == whole.contents()
        assert len(inc.contents()["clips"]) == 11


def test_an_atlas_built_otherwise_or_not_an_atlas_is_refused(tmp_path: Path, corpus: Path, model_file: Path) -> None:
    model = load_model(model_file)
    build_atlas(tmp_path / "a.atlas", [corpus / "c000.wav"], model, ScanSettings.for_network(model, k=K))
    with pytest.raises(AtlasError, match=r"a\.atlas.*built with k 3, this build has 5"):
        build_atlas(tmp_path / "a.atlas", [corpus / "c001.wav"], model, ScanSettings.for_network(model, k=5))
    (tmp_path / "junk.atlas").write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(AtlasError, match=r"junk\.atlas.*not an atlas"):
        AtlasFile(tmp_path / "junk.atlas")
    with pytest.raises(AtlasError, match="no such file"):
        AtlasFile(tmp_path / "missing.atlas")


CHILD = textwrap.dedent(
    """
    import sys, time
    from app.core.atlas import ScanSettings
    from app.core.atlas.build import LocalEngine, build_atlas
    from app.core.model import load_model

    model_path, corpus, out = sys.argv[1:4]
    model = load_model(model_path)
    settings = ScanSettings.for_network(model, k=3)

    class SlowEngine(LocalEngine):  # slow enough that the parent's SIGKILL lands inside a batch
        def scan(self, paths, **hints):
            for result in super().scan(paths, **hints):
                time.sleep(0.4)
                yield result

    def progress(p):
        print(f"committed {p.done}", file=sys.stderr, flush=True)

    build_atlas(out, [corpus], model, settings, engine=SlowEngine(model, settings), batch_size=3,
                on_progress=progress)
    """
)


def test_a_build_killed_mid_batch_resumes_to_the_same_atlas(tmp_path: Path, model_file: Path) -> None:
    corpus = tmp_path / "corpus"
    _write_corpus(corpus, 12)
    model = load_model(model_file)
    settings = ScanSettings.for_network(model, k=3)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    killed = tmp_path / "killed.atlas"
    child = subprocess.Popen(
        [sys.executable, str(script), str(model_file), str(corpus), str(killed)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    try:
        assert child.stderr is not None
        for line in child.stderr:
            if line.strip() == "committed 6":
                break
        time.sleep(0.6)  # inside the third batch: one or two of its clips scanned, none committed
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
    log = killed.with_name(killed.name + "-wal")
    assert log.is_file()  # the build's write-ahead log, left by the kill: opening the atlas replays it
    with contextlib.closing(sqlite3.connect(killed)) as db:  # closed: an open connection would keep the log
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM clips").fetchone() == (6,)  # the batch in flight lost, no more
    with AtlasFile(killed) as atlas:  # what survived is exactly the atlas of the committed clips
        done = sorted(Path(c.path) for c in atlas.clips())
        assert atlas.top() == reduce(
            TopK.merge, [scan_clip(load_audio(p, RATE), model, settings, device="cpu") for p in done]
        )
    summary = build_atlas(killed, [corpus], model, settings, batch_size=3)
    assert (summary.scanned, summary.already) == (6, 6)
    build_atlas(tmp_path / "straight.atlas", [corpus], model, settings, batch_size=5)
    with AtlasFile(killed) as resumed, AtlasFile(tmp_path / "straight.atlas") as straight:
        assert resumed.contents() == straight.contents()
        assert len(resumed.contents()["hits"]) == 40 * 3
    assert not log.exists()  # a finished build leaves one self-contained file
    with contextlib.closing(sqlite3.connect(killed)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_an_atlas_on_a_full_disk_is_refused_in_words_and_leaves_no_file(tmp_path: Path, model_file: Path) -> None:
    """A real 64 KiB tmpfs (root only): creating the atlas fails on the disk, not on the file; nothing is left."""
    import os

    from needs import missing

    _write_corpus(tmp_path / "corpus", 2)
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        missing("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        missing(f"cannot mount a tmpfs: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        model = load_model(model_file)
        with pytest.raises(AtlasError, match=r"full\.atlas.*cannot write it \(SQLite says: .*(disk|full)"):
            build_atlas(disk / "full.atlas", [tmp_path / "corpus"], model, ScanSettings.for_network(model, k=3))
        assert sorted(p.name for p in disk.iterdir()) == []  # no empty atlas, no -wal or -shm left behind
    finally:
        subprocess.run(["umount", str(disk)], check=True)
