"""The one atomic writer: whole files or none, WAV + sidecar together or not at all, umask modes, signals, full disks.

Real processes are killed with real signals at random moments; a real small filesystem is filled up.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_process import ROOT, TESTS, as_from_a_terminal
from jsonschema import Draft202012Validator
from model_specs import small_choi_spec
from needs import missing
from safetensors import safe_open

from app.core import files
from app.core.audio import sidecar_path, write_wav
from app.core.errors import SessionError
from app.core.files import atomic_files, clear_stale, is_temporary, write_bytes
from app.core.session import Session

PY = sys.executable
ENV = {"PYTHONPATH": f"{ROOT}:{TESTS}", "PATH": "/usr/bin:/bin"}
SUBTYPE_OF = {"float32": "FLOAT", "pcm16": "PCM_16", "pcm24": "PCM_24"}


def strict(path: Path) -> dict:
    """Parse as strict JSON with the standard library alone (not the app's reader): NaN/Infinity raise, the
    text is UTF-8 and re-encodes (no lone surrogate)."""

    def refuse(name: str) -> float:
        raise AssertionError(f"{path.name}: {name} is not JSON")

    text = path.read_bytes().decode("utf-8")
    doc = json.loads(text, parse_constant=refuse)
    json.dumps(doc, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return doc


def assert_meets_schema(doc: dict, kind: str) -> None:
    """``doc`` is valid under the committed ``docs/formats/<kind>.schema.json`` (a JSON Schema validator)."""
    schema = json.loads((ROOT / "docs" / "formats" / f"{kind}.schema.json").read_text())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(doc)]
    assert errors == [], (kind, errors[:5])


def check_pairs(folder: Path) -> int:
    """Every WAV has its sidecar and they describe each other; no temporaries. Returns the number of pairs."""
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if is_temporary(n) or n.endswith((".part", ".tmp"))], names
    wavs = [folder / n for n in names if n.endswith(".wav")]
    jsons = {folder / n for n in names if n.endswith(".json")}
    for wav in wavs:
        side = sidecar_path(wav)
        assert side in jsons, f"{wav.name} has no sidecar"
        doc = strict(side)
        info = sf.info(str(wav))
        assert SUBTYPE_OF[doc["format"]] == info.subtype and doc["sample_rate"] == info.samplerate, wav.name
        assert info.frames > 0
    assert {sidecar_path(w) for w in wavs} == jsons, "a sidecar without its WAV"
    return len(wavs)


# --- modes ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        write_bytes(tmp_path / "a.bin", b"x")
        write_wav(tmp_path / "b.wav", np.zeros(100, np.float32), 8000, sidecar={"layer": 1})
        s = Session()
        s.set_label((1, 2), "kick")
        saved = s.save(tmp_path / "s.aurascope")
        auto = s.write_autosave()
    finally:
        os.umask(old)
    for p in [tmp_path / "a.bin", tmp_path / "b.wav", tmp_path / "b.json", saved, auto]:
        assert p.stat().st_mode & 0o777 == mode, (p.name, oct(p.stat().st_mode & 0o777))


def test_every_file_of_real_runs_is_0644_under_umask_022_and_strict_json(tmp_path: Path) -> None:
    """The real CLI (export of a silent clip, report with a session) and a saved model, under umask 022."""
    from app.core.model import random_weights, save_model

    old = os.umask(0o022)
    try:
        model = save_model(tmp_path / "m.safetensors", small_choi_spec(), random_weights(small_choi_spec(), seed=3))
        silent = tmp_path / "silent.wav"
        sf.write(silent, np.zeros(11025 * 3, np.float32), 11025, subtype="FLOAT")
        s = Session()
        s.set_model(model)
        s.add_clip(silent)
        s.set_label((1, 0), "nothing at all")
        session = s.save(tmp_path / "listen.aurascope")
        s.set_label((1, 1), "unsaved")
        autosave = s.write_autosave()
        base = [PY, "-m", "app"]
        export = subprocess.run(
            [*base, "export", "-m", str(model), "-a", str(silent), "-l", "1", "-f", "0,1", "-o", str(tmp_path / "x")],
            env=ENV,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            preexec_fn=lambda: os.umask(0o022),
        )
        assert export.returncode == 0, export.stderr
        report = subprocess.run(
            [*base, "report", "-s", str(session), "-l", "1", "-f", "0", "-q", "-o", str(tmp_path / "r")],
            env=ENV,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            preexec_fn=lambda: os.umask(0o022),
        )
        assert report.returncode == 0, report.stderr
    finally:
        os.umask(old)
    written = [model, session, autosave, *(tmp_path / "x").iterdir(), *(p for p in (tmp_path / "r").rglob("*"))]
    written = [p for p in written if p.is_file()]
    assert len(written) >= 4 + 3 + 6
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {p.name: "0o644" for p in written}
    jsons = [p for p in written if p.suffix in (".json", ".aurascope", ".autosave")]
    assert {p.suffix for p in jsons} == {".json", ".aurascope", ".autosave"}
    docs = {p.name: strict(p) for p in jsons}
    side = docs["silent_L1_F0_choi.json"]
    assert side["rendering_lufs"] is None and side["original_lufs"] is None  # -inf LUFS of silence: null
    assert check_pairs(tmp_path / "x") == 2
    # every document meets its published schema (docs/formats), the model's metadata too
    for p in jsons:
        kind = "report" if p.name == "report.json" else "wav-sidecar" if p.suffix == ".json" else "session"
        assert_meets_schema(docs[p.name], kind)
    with safe_open(str(model), "pt") as reader:
        assert_meets_schema(json.loads(reader.metadata()["aurascope"]), "model-metadata")
    assert sorted({p.suffix for p in jsons}) == [".aurascope", ".autosave", ".json"]


# --- one file, and a group of files ---------------------------------------------------------------------------------
def test_an_error_while_writing_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = write_bytes(tmp_path / "a.txt", b"old")
    with pytest.raises(RuntimeError), atomic_files([target, tmp_path / "b.txt"]) as (a, b):
        a.write(b"new")
        b.write(b"new")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_group_must_share_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one folder"), atomic_files([tmp_path / "a", tmp_path / "d" / "b"]):
        pass


def test_stale_temporaries_of_dead_processes_are_cleared_and_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run([PY, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".x.wav.{dead}-0123abcd.aurascope-part"
    live = tmp_path / f".y.wav.{os.getppid()}-0123abcd.aurascope-part"  # our parent is alive
    mine = tmp_path / f".z.wav.{os.getpid()}-0123abcd.aurascope-part"  # this process, not writing it
    other = tmp_path / ".hidden-but-not-ours.part"
    users = tmp_path / ".notes.txt.abcd1234.tmp"  # a hidden file of the user's: not a name our writers made
    for p in (stale, live, mine, other):
        p.write_bytes(b"half")
    legacy_old = tmp_path / ".x.wav.k2j4_9ab.part"  # what mkstemp-based writers left, an hour and more ago
    legacy_new = tmp_path / ".y.aurascope.abcd1234.tmp"  # ... and one that may still be being written
    for p in (legacy_old, legacy_new, users):
        p.write_bytes(b"half")
    for p in (legacy_old, users):
        os.utime(p, (time.time() - files.LEGACY_AGE_S - 5,) * 2)
    removed = clear_stale(tmp_path)
    assert sorted(p.name for p in removed) == sorted([stale.name, mine.name, legacy_old.name])
    assert live.exists() and other.exists() and legacy_new.exists() and users.exists()
    assert not stale.exists() and not mine.exists() and not legacy_old.exists()


KILL_BETWEEN_RENAMES = """
import os, signal, sys
import numpy as np
from app.core.audio import write_wav
real = os.replace
def replace(src, dst):
    real(src, dst)
    if str(dst).endswith(".wav"):
        os.kill(os.getpid(), signal.SIGKILL)  # the WAV has landed, its sidecar not yet
os.replace = replace
write_wav(sys.argv[1], np.full(4000, 0.25, np.float32), 8000, subtype="pcm16", sidecar={"run": 2})
"""


def test_a_process_killed_between_the_renames_is_completed_by_the_next_write(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", np.zeros(100, np.float32), 8000, subtype="float32", sidecar={"run": 1})
    proc = subprocess.run([PY, "-c", KILL_BETWEEN_RENAMES, str(wav)], env=ENV, cwd=ROOT, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert sf.info(str(wav)).subtype == "PCM_16" and strict(sidecar_path(wav))["run"] == 1  # torn: new WAV, old JSON
    names = sorted(p.name for p in tmp_path.iterdir())
    assert sum(n.endswith(".aurascope-commit") for n in names) == 1 and sum(
        n.endswith(".aurascope-part") for n in names
    )
    nxt = (
        "import sys, numpy; from app.core.audio import write_wav as w; w(sys.argv[1], numpy.zeros(9), 800, sidecar={})"
    )
    done = subprocess.run([PY, "-c", nxt, str(tmp_path / "next.wav")], env=ENV, cwd=ROOT, capture_output=True)
    assert done.returncode == 0, done.stderr  # the next export into the folder, a new process
    assert strict(sidecar_path(wav))["run"] == 2 and strict(sidecar_path(wav))["format"] == "pcm16"
    assert check_pairs(tmp_path) == 2


# --- signals ----------------------------------------------------------------------------------------------------
WRITER = """
import sys, numpy as np
from app.core.audio import write_wav
out, n = sys.argv[1], 0
rng = np.random.default_rng(0)
print("ready", flush=True)
while True:
    fmt = ("float32", "pcm16", "pcm24")[n % 3]
    write_wav(f"{out}/f{n % 7}.wav", rng.uniform(-0.5, 0.5, 20000 + 997 * (n % 13)).astype(np.float32), 8000,
              subtype=fmt, sidecar={"n": n, "note": "x" * 5000})
    n += 1
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGKILL])
def test_a_writer_killed_at_random_moments_leaves_no_wav_without_its_sidecar(tmp_path: Path, sig: int) -> None:
    rng = random.Random(sig)
    for attempt in range(4):
        proc = subprocess.Popen(
            [PY, "-c", WRITER, str(tmp_path)], env=ENV, cwd=ROOT, stdout=subprocess.PIPE, preexec_fn=as_from_a_terminal
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
        assert code in (-sig, 1, 128 + sig), code  # SIGINT: a KeyboardInterrupt, which exits 1
        left = [p.name for p in tmp_path.iterdir() if is_temporary(p.name)]
        if sig != signal.SIGKILL:
            assert left == [], f"attempt {attempt}: {left}"  # a catchable signal removes them itself
        clear_stale(tmp_path, again=True)  # what the next export into the folder does first
        assert check_pairs(tmp_path) >= 1 or attempt == 0


@pytest.mark.slow
def test_the_real_export_killed_at_random_moments(tmp_path: Path, model_file: Path, wav_file: Path) -> None:
    """The CLI exporting many WAVs (48), killed by SIGINT, SIGTERM and SIGKILL once it has written a random number
    of them: counting files rather than sleeping keeps the kill inside the writing on a machine of any speed."""
    out = tmp_path / "out"
    rng = random.Random(11)

    def written_since(started: float) -> int:
        return sum(1 for p in out.glob("*.wav") if p.stat().st_mtime >= started) if out.exists() else 0

    args = [PY, "-m", "app", "export", "-m", str(model_file), "-a", str(wav_file), "-l", "1-3", "-q", "-o", str(out)]
    kills = 0
    for i, sig in enumerate([signal.SIGINT, signal.SIGTERM, signal.SIGKILL] * 2):
        fmt = ("float32", "pcm16")[i % 2]
        proc = subprocess.Popen(
            [*args, "--format", fmt, "--mode", "choi", "--mode", "residual"],
            env=ENV,
            cwd=ROOT,
            preexec_fn=as_from_a_terminal,
        )
        started, deadline, target = time.time(), time.monotonic() + 300, rng.randint(1, 36)
        while proc.poll() is None and written_since(started) < target:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(sig)
            kills += 1
        proc.wait(timeout=120)
        if sig != signal.SIGKILL:
            assert not [p.name for p in out.iterdir() if is_temporary(p.name)]
        clear_stale(out, again=True)
        check_pairs(out)
    assert kills >= 4
    assert check_pairs(out) >= 2


# --- a full disk ----------------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 192 KiB tmpfs mounted for the test (root only) and unmounted after it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        missing("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=192k,mode=0755", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        missing(f"cannot mount a tmpfs: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_leaves_whole_pairs_or_nothing(small_disk: Path) -> None:
    rng = np.random.default_rng(5)
    landed, refused = 0, 0
    for n in range(40):
        audio = rng.uniform(-0.5, 0.5, int(rng.integers(500, 9000))).astype(np.float32)
        try:
            write_wav(
                small_disk / f"f{n}.wav", audio, 8000, sidecar={"n": n, "note": "y" * int(rng.integers(10, 9000))}
            )
            landed += 1
        except OSError as err:
            assert err.errno == 28  # ENOSPC
            refused += 1
            assert not (small_disk / f"f{n}.wav").exists() and not (small_disk / f"f{n}.json").exists()
        assert check_pairs(small_disk) == landed
    assert landed >= 3 and refused >= 10, (landed, refused)


def test_a_session_saved_to_a_full_disk_keeps_the_old_file(small_disk: Path) -> None:
    s = Session()
    s.set_label((1, 1), "short")
    target = s.save(small_disk / "s.aurascope")
    before = target.read_bytes()
    fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:  # fill the disk
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError as err:
        assert err.errno == 28
    finally:
        os.close(fd)
    s.set_notes((1, 1), "n" * 50_000)
    with pytest.raises(SessionError, match="No space left"):
        s.save()
    assert target.read_bytes() == before
    assert not [p.name for p in small_disk.iterdir() if is_temporary(p.name)]


def test_temporary_names_are_recognised_and_short_enough(tmp_path: Path) -> None:
    long_name = "n" * 250 + ".wav"
    with atomic_files([tmp_path / long_name]) as (h,):
        (temp,) = [p.name for p in tmp_path.iterdir()]
        assert is_temporary(temp) and len(temp.encode()) <= 255 and str(os.getpid()) in temp
        h.write(b"x")
    assert [p.name for p in tmp_path.iterdir()] == [long_name]
    assert temp.endswith(files.PART)
