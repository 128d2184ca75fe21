"""``aurascope atlas build | top | export`` in a subprocess on real files: the atlas written, progress with an ETA,
the top excerpts as JSON, the exported audio equal to the excerpt, and one-line errors with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_process import run
from signals import chord_clip

from app.core.atlas.store import AtlasFile

RATE = 11025


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for i in range(5):
        sf.write(folder / f"song{i}.wav", chord_clip(RATE, 2.0 + i * 0.6, seed=i) * 0.5, RATE, subtype="FLOAT")
    (folder / "corrupt.flac").write_bytes(b"fLaC" + bytes(range(200)))
    (folder / "labels.csv").write_text("file,labels\nsong0.wav,piano\nsong3.wav,piano;slow\n")
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, corpus: Path, model_file: Path) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("atlas") / "corpus.atlas"
    result = run(
        "atlas", "build", "-m", str(model_file), str(corpus), "-o", str(out), "--k", "3", "--batch", "2",
        "--labels", str(corpus / "labels.csv"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, result.stderr + result.stdout


def test_build_writes_the_atlas_with_progress_and_eta(built: tuple[Path, str]) -> None:
    out, text = built
    assert "atlas: 6/6 clips, 1 skipped" in text and "ETA 0:00:00" in text
    assert "atlas: 2/6 clips" in text and "ETA " in text  # one line per committed batch of 2
    assert "5 clip(s) scanned, 1 skipped, 0 already in the atlas" in text
    with AtlasFile(out) as atlas:
        clips = {Path(c.path).name: c for c in atlas.clips()}
        assert clips["corrupt.flac"].status == "skipped" and "corrupt.flac" in clips["corrupt.flac"].reason
        assert clips["song3.wav"].labels == ("piano", "slow")
        assert len(atlas.contents()["hits"]) == 40 * 3


def test_build_again_skips_what_is_there(built: tuple[Path, str], corpus: Path, model_file: Path) -> None:
    out, _ = built
    result = run("atlas", "build", "-m", str(model_file), str(corpus), "-o", str(out), "--k", "3", "-q")
    assert result.returncode == 0, result.stderr
    assert "0 clip(s) scanned, 0 skipped, 6 already in the atlas" in result.stdout and result.stderr == ""


def test_top_json(built: tuple[Path, str]) -> None:
    out, _ = built
    result = run("atlas", "top", "-a", str(out), "--layer", "3", "--feature", "5", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    top = doc["top"]
    assert (doc["layer"], doc["feature"], len(top)) == (3, 5, 3)
    assert [t["rank"] for t in top] == [1, 2, 3]
    assert top[0]["peak"] >= top[1]["peak"] >= top[2]["peak"] > 0
    for t in top:
        assert t["start_s"] <= t["peak_time_s"] <= t["end_s"] + 0.05 and Path(t["clip"]).name.startswith("song")
    text = run("atlas", "top", "-a", str(out), "--layer", "3", "--feature", "5")
    assert text.returncode == 0 and len(text.stdout.splitlines()) == 3 and "song" in text.stdout


def test_export_writes_original_and_auralised_excerpts(tmp_path: Path, built: tuple[Path, str]) -> None:
    out, _ = built
    dest = tmp_path / "excerpts"
    result = run("atlas", "export", "-a", str(out), "--layer", "2", "--feature", "1", "-o", str(dest), "--mode",
                 "choi", "--mode", "residual")  # fmt: skip
    assert result.returncode == 0, result.stderr
    top = json.loads(run("atlas", "top", "-a", str(out), "-l", "2", "-f", "1", "--json").stdout)["top"]
    for rank, hit in enumerate(top, start=1):
        stem = dest / f"L2-F001-rank{rank:02d}"
        original, rate = sf.read(f"{stem}-original.wav", dtype="float32")
        choi, _ = sf.read(f"{stem}-choi.wav", dtype="float32")
        residual, _ = sf.read(f"{stem}-residual.wav", dtype="float32")
        source, _ = sf.read(hit["clip"], dtype="float32")
        first = round(hit["start_s"] * rate)
        assert rate == RATE and original.shape == choi.shape == residual.shape
        assert len(original) == min(len(source), round(hit["end_s"] * rate)) - first
        np.testing.assert_array_equal(original, source[first : first + len(original)])
        np.testing.assert_allclose(choi + residual, original, atol=2e-4)  # residual is y - choi on the excerpt
        assert 0.0 < np.sqrt(np.mean(choi**2)) < np.sqrt(np.mean(original**2)) * 4
        side = json.loads(Path(f"{stem}-choi.json").read_text())
        assert side["rank"] == rank and side["peak"] == hit["peak"] and side["context_frames"] > 0


def test_tags_json_counts_and_p_values(built: tuple[Path, str]) -> None:
    from math import comb

    out, _ = built
    result = run("atlas", "tags", "-a", str(out), "--alpha", "1", "--json")
    assert result.returncode == 0, result.stderr
    tags = json.loads(result.stdout)["tags"]
    assert tags and {t["label"] for t in tags} <= {"piano", "slow"}
    for t in tags:
        n, labelled = t["top_clips"], {"piano": 2, "slow": 1}[t["label"]]
        assert (t["corpus"], t["labelled"]) == (5, labelled) and 1 <= t["hits"] <= min(n, labelled)
        expected = sum(comb(labelled, x) * comb(5 - labelled, n - x) for x in range(t["hits"], n + 1)) / comb(5, n)
        assert t["p_value"] == pytest.approx(expected, rel=1e-9)
        assert t["hits"] / n > labelled / 5  # over-represented, never merely present


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("atlas", "top", "-a", "{tmp}/missing.atlas", "-l", "1", "-f", "0"), "missing.atlas': no such file"),
        (("atlas", "top", "-a", "{tmp}/junk.atlas", "-l", "1", "-f", "0"), "junk.atlas': not an atlas"),
        (("atlas", "top", "-a", "{atlas}", "-l", "9", "-f", "0"), "layer 9 is out of range"),
        (("atlas", "top", "-a", "{atlas}", "-l", "1", "-f", "8"), "feature 8 is out of range"),
        (("atlas", "build", "-m", "{model}", "{tmp}/nowhere", "-o", "{tmp}/x.atlas"), "nowhere': no such file"),
        (("atlas", "build", "-m", "{model}", "{corpus}", "-o", "{atlas}", "--k", "5"), "built with k 3"),
        (("atlas", "build", "-m", "{model}", "{corpus}", "-o", "{tmp}/no/x.atlas"), "no' does not exist"),
        (("atlas", "top", "-a", "{tmp}/cut.atlas", "-l", "1", "-f", "0"), "cut.atlas': "),
        (("atlas", "export", "-a", "{tmp}/cut.atlas", "-l", "1", "-f", "0", "-m", "{model}"), "cut.atlas': "),
        (("atlas", "build", "-m", "{model}", "{corpus}", "-o", "{tmp}/w.atlas", "--workers", "2"), "--engine pool"),
        (
            ("atlas", "build", "-m", "{model}", "{corpus}", "-o", "{tmp}/w", "--engine", "pool", "--workers", "0"),
            "at least 1 worker, not 0",
        ),
    ],
)
def test_errors_are_one_line_exit_2(
    tmp_path: Path, built: tuple[Path, str], corpus: Path, model_file: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "junk.atlas").write_bytes(b"x" * 4096)
    whole = built[0].read_bytes()  # a real atlas cut short: its header opens, its pages are gone
    (tmp_path / "cut.atlas").write_bytes(whole[: len(whole) // 3])
    values = {"tmp": tmp_path, "atlas": built[0], "model": model_file, "corpus": corpus}
    result = run(*(a.format(**values) for a in args))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_build_with_the_ray_engine_gives_the_same_atlas(
    tmp_path: Path, built: tuple[Path, str], corpus: Path, model_file: Path
) -> None:
    pytest.importorskip("ray.data", reason="the ray extra (pip install 'aurascope[ray]') is not installed")
    out = tmp_path / "ray.atlas"
    result = run(
        "atlas", "build", "-m", str(model_file), str(corpus), "-o", str(out), "--k", "3", "--batch", "2",
        "--labels", str(corpus / "labels.csv"), "--engine", "ray",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "5 clip(s) scanned, 1 skipped" in result.stdout and "atlas: 6/6 clips" in result.stderr
    with AtlasFile(out) as remote, AtlasFile(built[0]) as local:
        assert remote.contents() == local.contents()


def test_build_with_the_pool_engine_gives_the_same_atlas(
    tmp_path: Path, built: tuple[Path, str], corpus: Path, model_file: Path
) -> None:
    out = tmp_path / "pool.atlas"
    result = run(
        "atlas", "build", "-m", str(model_file), str(corpus), "-o", str(out), "--k", "3", "--batch", "2",
        "--labels", str(corpus / "labels.csv"), "--engine", "pool", "--workers", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "5 clip(s) scanned, 1 skipped" in result.stdout and "atlas: 6/6 clips" in result.stderr
    with AtlasFile(out) as pooled, AtlasFile(built[0]) as local:
        assert pooled.contents() == local.contents()


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, parent in parents.items() if parent == p}
        out |= kids
        todo.extend(kids)
    return out


def _pool_workers(pid: int) -> set[int]:
    """The pool's worker processes under ``pid``: spawned by multiprocessing's spawn_main (not its resource tracker,
    also a child, which would make two processes appear before the second worker is there)."""
    out = set()
    for child in _children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.add(child)
        except OSError:
            continue
    return out


def _ignores_sigint(pid: int) -> bool:
    """``pid`` has SIGINT ignored now (its SigIgn mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (2 - 1)))  # SIGINT is signal 2: bit 1
    return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended: only its exit status waits for its new parent


def test_a_pool_build_killed_mid_run_resumes_and_leaves_no_worker(tmp_path: Path, model_file: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from cli_process import ROOT, TESTS, as_from_a_terminal

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(14):
        sf.write(folder / f"c{i:02d}.wav", chord_clip(RATE, 2.0 + 0.3 * (i % 4), seed=60 + i) * 0.4, RATE)
    killed = tmp_path / "killed.atlas"
    command = [sys.executable, "-m", "app", "atlas", "build", "-m", str(model_file), str(folder), "-o", str(killed),
               "--k", "3", "--batch", "2", "--engine", "pool", "--workers", "2"]  # fmt: skip
    env = {"PYTHONPATH": f"{ROOT}:{TESTS}", "PATH": "/usr/bin:/bin"}
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=as_from_a_terminal,
    )
    try:
        assert child.stderr is not None
        for line in child.stderr:
            if line.startswith("atlas: 4/14 clips"):
                break
        workers = _children(child.pid)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
    assert len(workers) >= 2  # the pool's processes were there
    deadline = time.monotonic() + 20  # each worker sees its parent gone within half a second
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in workers if _alive(p)]
    with AtlasFile(killed) as atlas:
        committed = len(atlas.clips())
    assert 4 <= committed < 14 and committed % 2 == 0  # whole batches only
    result = run("atlas", "build", "-m", str(model_file), str(folder), "-o", str(killed), "--k", "3", "--engine",
                 "pool", "--workers", "2", "-q")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"{14 - committed} clip(s) scanned, 0 skipped, {committed} already in the atlas" in result.stdout
    straight = tmp_path / "straight.atlas"
    local = run("atlas", "build", "-m", str(model_file), str(folder), "-o", str(straight), "--k", "3", "-q")
    assert local.returncode == 0, local.stderr
    with AtlasFile(killed) as resumed, AtlasFile(straight) as one_pass:
        assert resumed.contents() == one_pass.contents()


@pytest.mark.parametrize("moment", ["workers starting", "after a batch"])
def test_ctrl_c_on_a_pool_build_is_one_line_and_leaves_no_worker(tmp_path: Path, model_file: Path, moment: str) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from cli_process import ROOT, TESTS, as_from_a_terminal

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(10):
        sf.write(folder / f"c{i:02d}.wav", chord_clip(RATE, 2.0 + 0.3 * (i % 4), seed=80 + i) * 0.4, RATE)
    out = tmp_path / "interrupted.atlas"
    command = [sys.executable, "-m", "app", "atlas", "build", "-m", str(model_file), str(folder), "-o", str(out),
               "--k", "3", "--batch", "2", "--engine", "pool", "--workers", "2"]  # fmt: skip
    env = {"PYTHONPATH": f"{ROOT}:{TESTS}", "PATH": "/usr/bin:/bin"}
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
        preexec_fn=as_from_a_terminal,
    )
    try:
        assert child.stderr is not None
        if moment == "workers starting":  # both spawned, still importing torch: Ctrl-C lands in their start-up
            deadline = time.monotonic() + 120
            while len(workers := _pool_workers(child.pid)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            while _ignores_sigint(child.pid) and time.monotonic() < deadline:  # the build listens again
                time.sleep(0.005)
        else:
            for line in child.stderr:
                if line.startswith("atlas: 2/10 clips"):
                    break
            workers = _pool_workers(child.pid)
        os.killpg(child.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground group
        rest = child.stderr.read()
        assert child.wait(timeout=60) == 130
    finally:
        child.kill()
    assert len(workers) >= 2
    lines = [line for line in rest.splitlines() if not line.startswith("atlas: ")]
    assert lines == ["aurascope: interrupted"], rest  # no worker's KeyboardInterrupt traceback
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in workers if _alive(p)]
    if out.exists():
        with AtlasFile(out) as atlas:
            assert len(atlas.clips()) % 2 == 0  # whole batches only
