"""The hostile-input suite (issue 11): the real CLI in subprocesses, fed what a hostile or unlucky user gives it.

Every refusal must be exit status 2 with exactly one line on stderr, no traceback, and nothing half-written in
``--out``; the inputs that are valid (a safetensors header length ending in 0x80, a non-UTF-8 file name) must
work. The suite prints its tally at the end: cases, tracebacks, half-written files.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from cli_process import ROOT, TESTS, run, run_measured
from conftest import SR, tiny_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from needs import missing
from refusal import assert_refused, assert_worked, files_in, tally, without_root_overrides
from safetensors.torch import save_file

from app.core.model import random_weights, save_model
from app.core.session import Session

LONG = "n" * 300  # one path component over the 255 bytes Linux allows
MARKER_MODULE = """
import os
from pathlib import Path

import torch
from torch import nn

Path(os.environ["AURASCOPE_TEST_MARKER"]).write_text("this module ran")


def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
"""


@dataclass
class Case:
    """One hostile input: the command line, where it may write, and what the one error line must name."""

    args: list[str | os.PathLike[str] | bytes]
    expected: tuple[str, ...]
    out: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    unprivileged: bool = False  # run so that root obeys permission bits
    marker: Path | None = None  # a file that must never appear (code that ran without consent)


@pytest.fixture
def make(tmp_path: Path, tiny_model: Path, clip: Path, front_end_json: Path):
    """The case builders get (tmp_path, tiny_model, clip, front_end_json)."""
    return lambda build: build(tmp_path, tiny_model, clip, front_end_json)


def _write_code(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(text)
    return folder


def _module_session(tmp: Path, clip: Path, fe: Path) -> tuple[Path, Path]:
    code = _write_code(tmp / "shared" / "code", "marked_net", MARKER_MODULE)
    session = Session()
    session.set_module_model("marked_net:build", fe, None, code)
    session.add_clip(clip)
    return session.save(tmp / "shared" / "listening.aurascope"), tmp / "marker"


def _session_with_clip_path(tmp: Path, clip: Path, model: Path, clip_path: str) -> Path:
    session = Session()
    session.set_model(model)
    session.add_clip(clip)
    path = session.save(tmp / "s.aurascope")
    data = json.loads(path.read_text())
    data["clips"][0]["path"] = data["clips"][0]["absolute"] = clip_path
    path.write_text(json.dumps(data))
    return path


def _model_variant(tmp: Path, name: str, change: Callable[[dict, dict], None]) -> Path:
    spec = tiny_spec()
    meta, weights = json.loads(spec.to_json()), random_weights(spec, seed=2)
    change(meta, weights)
    path = tmp / name
    save_file({k: v.contiguous() for k, v in weights.items()}, str(path), metadata={"aurascope": json.dumps(meta)})
    return path


def _million_maps(tmp: Path) -> Path:
    """A 4 MB file whose metadata declares a million 1x1 maps (float16 weights that match the declaration)."""
    spec = tiny_spec()
    meta = json.loads(spec.to_json())
    meta["architecture"]["body"] = [
        {"type": "conv2d", "in_channels": 1, "out_channels": 1_000_000, "kernel_size": [1, 1]},
        {"type": "relu"},
    ]
    meta["architecture"]["head"], meta["labels"] = [], []
    tensors = {"body.0.weight": torch.ones(1_000_000, 1, 1, 1, dtype=torch.float16)}
    tensors["body.0.bias"] = torch.zeros(1_000_000, dtype=torch.float16)
    path = tmp / "million.safetensors"
    save_file(tensors, str(path), metadata={"aurascope": json.dumps(meta)})
    assert 3.9e6 < path.stat().st_size < 4.3e6
    return path


def _wav(path: Path, samples: np.ndarray, rate: int = SR, subtype: str = "FLOAT") -> Path:
    sf.write(path, samples, rate, subtype=subtype)
    return path


def _unreadable(path: Path) -> Path:
    path.chmod(0)
    return path


def _integer_weights_case(dtype: str) -> Callable[[Path, Path, Path, Path], Case]:
    def build(t: Path, m: Path, c: Path, fe: Path) -> Case:
        path = _model_variant(t, "ints.safetensors", lambda meta, w: _cast(w, dtype))
        return Case(["info", path], ("not floating point", "weights.body.0.weight"))

    return build


# --- the refusals ------------------------------------------------------------------------------------------------
CASES: dict[str, Callable[[Path, Path, Path, Path], Case]] = {
    # 1. a shared session's module never runs without consent
    "session module, report": lambda t, m, c, fe: Case(
        ["report", "--session", _module_session(t, c, fe)[0], "--out", t / "out", "-l", "1", "-f", "0"],
        ("--trust-module", "marked_net.py", "sha256"),
        out=t / "out",
        env={"AURASCOPE_TEST_MARKER": str(t / "marker")},
        marker=t / "marker",
    ),
    "session module, characterise": lambda t, m, c, fe: Case(
        ["characterise", "--session", _module_session(t, c, fe)[0], "-l", "1"],
        ("--trust-module",),
        env={"AURASCOPE_TEST_MARKER": str(t / "marker")},
        marker=t / "marker",
    ),
    # 2. real pickles are still refused
    "pickled checkpoint as a model": lambda t, m, c, fe: Case(
        ["info", _pickled(t / "evil.safetensors", t / "marker")],
        ("never unpickles",),
        marker=t / "marker",
    ),
    # 3. limits, checked before allocating
    "WAV header saying 1 Hz": lambda t, m, c, fe: Case(
        ["predict", "-m", m, "-a", _wav(t / "onehz.wav", np.zeros(56_000, np.int16), 1, "PCM_16")],
        ("lowest sample rate", "AURASCOPE_MIN_SAMPLE_RATE", "onehz.wav"),
    ),
    "model declaring a million maps": lambda t, m, c, fe: Case(
        ["info", _million_maps(t)], ("maps per layer", "AURASCOPE_MAX_MAPS", "million.safetensors")
    ),
    "--features 0-999999999": lambda t, m, c, fe: Case(
        ["export", "-m", m, "-a", c, "--features", "0-999999999", "--out", t / "out"],
        ("feature 999999999 is out of range",),
        out=t / "out",
    ),
    "model kernel of 1000": lambda t, m, c, fe: Case(
        ["info", _model_variant(t, "k.safetensors", lambda meta, w: _kernel(meta, w, 5000))],
        ("kernel size", "AURASCOPE_MAX_KERNEL"),
    ),
    "front end with n_fft 2**24": lambda t, m, c, fe: Case(
        ["info", _model_variant(t, "fft.safetensors", lambda meta, w: meta["front_end"].update(n_fft=2**24))],
        ("FFT size", "AURASCOPE_MAX_N_FFT"),
    ),
    "clip longer than the limit": lambda t, m, c, fe: Case(
        ["predict", "-m", m, "-a", c], ("longest clip", "AURASCOPE_MAX_DURATION"), env={"AURASCOPE_MAX_DURATION": "1"}
    ),
    # 4. huge but finite samples or weights: an error naming the cause, never a NaN file
    "samples of 3e38": lambda t, m, c, fe: Case(
        ["export", "-m", m, "-a", _wav(t / "loud.wav", np.full(2 * SR, 3e38, np.float32)), "--out", t / "out"],
        ("overflows", "loud.wav"),
        out=t / "out",
    ),
    "samples of 1e20, PCM export": lambda t, m, c, fe: Case(
        [
            "export",
            "-m",
            m,
            "-a",
            _wav(t / "big.wav", np.full(2 * SR, 1e20, np.float32)),
            "-o",
            t / "out",
            "--format=pcm16",
        ],
        ("overflowed to NaN or infinity", "big.wav"),
        out=t / "out",
    ),
    "weights of 1e30": lambda t, m, c, fe: Case(
        ["predict", "-m", _huge_weights(t), "-a", c], ("overflowed to NaN or infinity", "huge")
    ),
    "weights of 1e30, export": lambda t, m, c, fe: Case(
        ["export", "-m", _huge_weights(t), "-a", c, "--format", "pcm24", "--out", t / "out"],
        ("overflowed to NaN or infinity",),
        out=t / "out",
    ),
    # 5. only floating weights
    **{f"{dtype} weights": _integer_weights_case(dtype) for dtype in ("int8", "uint8", "int64", "bool")},
    # 6. OS errors, each one line naming the path
    "unreadable model": lambda t, m, c, fe: Case(
        ["info", _unreadable(_copy(m, t / "locked.safetensors"))],
        ("locked.safetensors", "Permission denied"),
        unprivileged=True,
    ),
    "unreadable front end": lambda t, m, c, fe: Case(
        ["info", "user_models.nets:functional_choi", "--front-end", _unreadable(_copy(fe, t / "fe.json"))],
        ("fe.json", "Permission denied"),
        unprivileged=True,
    ),
    "unreadable audio": lambda t, m, c, fe: Case(
        ["predict", "-m", m, "-a", _unreadable(_copy(c, t / "locked.wav"))],
        ("locked.wav", "Permission denied"),
        unprivileged=True,
    ),
    "audio name over 255 bytes": lambda t, m, c, fe: Case(
        ["predict", "-m", m, "-a", t / f"{LONG}.wav"], ("File name too long",)
    ),
    "model name over 255 bytes": lambda t, m, c, fe: Case(["info", t / f"{LONG}.safetensors"], ("File name too long",)),
    "--out name over 255 bytes": lambda t, m, c, fe: Case(
        ["export", "-m", m, "-a", c, "-l", "1", "--out", t / LONG / "x"], ("File name too long",)
    ),
    "session clip name over 255 bytes": lambda t, m, c, fe: Case(
        ["report", "--session", _session_with_clip_path(t, c, m, f"{LONG}.wav"), "--out", t / "out"],
        ("File name too long",),
        out=t / "out",
    ),
    "session clip unreadable": lambda t, m, c, fe: Case(
        ["report", "--session", _session_with_clip_path(t, _unreadable(_copy(c, t / "c.wav")), m, "c.wav"), "-q"],
        ("c.wav", "Permission denied"),
        out=t / "out",
        unprivileged=True,
    ),
    "--out naming an existing file": lambda t, m, c, fe: Case(
        ["export", "-m", m, "-a", c, "-l", "1", "--out", _copy(c, t / "taken")], ("taken", "File exists")
    ),
    "--out in a read-only folder": lambda t, m, c, fe: Case(
        ["export", "-m", m, "-a", c, "-l", "1", "--out", _read_only(t / "ro")],
        ("ro", "Permission denied"),
        out=t / "ro",
        unprivileged=True,
    ),
    "module that raises when called": lambda t, m, c, fe: Case(
        ["info", "raising_net:build", "--front-end", fe],
        ("raised ValueError", "no weights here"),
        env={"PYTHONPATH": f"{_write_code(t / 'code', 'raising_net', RAISES)}:{ROOT}"},
    ),
    "module that raises on import": lambda t, m, c, fe: Case(
        ["info", "broken_net:build", "--front-end", fe],
        ("raised RuntimeError",),
        env={"PYTHONPATH": f"{_write_code(t / 'code', 'broken_net', 'raise RuntimeError(1)')}:{ROOT}"},
    ),
    "sys:exit as the model": lambda t, m, c, fe: Case(["info", "sys:exit", "--front-end", fe], ("called exit",)),
    "os:_exit is not a network": lambda t, m, c, fe: Case(["layers", "os:getcwd", "--front-end", fe], ("str",)),
    "--top -1": lambda t, m, c, fe: Case(["predict", "-m", m, "-a", c, "--top", "-1"], ("--top", "at least 1")),
    "--top 0": lambda t, m, c, fe: Case(["predict", "-m", m, "-a", c, "--top", "0"], ("--top", "at least 1")),
    "unknown option": lambda t, m, c, fe: Case(["export", "-m", m, "-a", c, "--bogus"], ("unrecognized", "--bogus")),
    # 7. several clips of one name would overwrite each other
    "two clips of one name": lambda t, m, c, fe: Case(
        ["export", "-m", m, "-a", c, "-a", _copy(c, t / "other" / c.name), "-l", "1", "--out", t / "out"],
        ("same names",),
        out=t / "out",
    ),
}

RAISES = "def build():\n    raise ValueError('no weights here')\n"


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    return dst


def _read_only(folder: Path) -> Path:
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def _kernel(meta: dict, weights: dict, size: int) -> None:
    meta["architecture"]["body"][0].update(kernel_size=[size, size], padding=[0, 0])
    weights["body.0.weight"] = torch.zeros(2, 1, 1, 1)


def _cast(weights: dict, dtype: str) -> None:
    weights["body.0.weight"] = (weights["body.0.weight"] * 10).to(getattr(torch, dtype))


def _huge_weights(tmp: Path) -> Path:
    spec = tiny_spec()
    weights = {k: v * 1e30 if k.endswith("weight") else v for k, v in random_weights(spec, seed=2).items()}
    return save_model(tmp / "huge.safetensors", spec, weights)


class _WritesMarker:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def _pickled(path: Path, marker: Path) -> Path:
    torch.save({"state": _WritesMarker(marker)}, path)
    return path


@pytest.mark.parametrize("name", list(CASES))
def test_refused_in_one_line(name: str, make, tmp_path: Path) -> None:
    case: Case = make(CASES[name])
    prefix = without_root_overrides() if case.unprivileged else ()
    result = run(*case.args, env=case.env, prefix=prefix, cwd=tmp_path)
    line = assert_refused(result, *case.expected, out=case.out)
    assert len(line) < 1500
    if case.marker is not None:
        assert not case.marker.exists(), "code ran without consent"


# --- the valid inputs that used to fail -------------------------------------------------------------------------
def test_session_module_runs_with_consent(tmp_path: Path, clip: Path, front_end_json: Path) -> None:
    session, marker = _module_session(tmp_path, clip, front_end_json)
    env = {"AURASCOPE_TEST_MARKER": str(marker)}
    args = ["--session", session, "-l", "1", "-f", "0"]
    assert_refused(run("characterise", *args, env=env), "--trust-module")
    assert not marker.exists()
    result = run("report", *args, "--trust-module", "--out", tmp_path / "out", "-q", env=env)
    assert_worked(result, tmp_path / "out")
    assert marker.read_text() == "this module ran"
    assert (tmp_path / "out" / "index.html").is_file()


def test_header_length_ending_in_0x80_loads_in_the_cli(tmp_path: Path, tiny_model: Path) -> None:
    data = tiny_model.read_bytes()
    old = int.from_bytes(data[:8], "little")
    header = data[8 : 8 + old].rstrip(b" ")
    length = next(n for n in range(len(header), len(header) + 512) if n % 256 == 0x80)
    path = tmp_path / "padded.safetensors"
    path.write_bytes(length.to_bytes(8, "little") + header.ljust(length) + data[8 + old :])
    assert path.read_bytes()[:1] == b"\x80"
    result = run("info", path)
    assert_worked(result)
    assert "sha256" in result.stdout


def test_non_utf8_names_work(tmp_path: Path, tiny_model: Path, clip: Path) -> None:
    """A valid WAV whose name has a byte that is not UTF-8 is read, and an --out folder with one is written."""
    folder = os.fsencode(tmp_path)
    audio = folder + b"/clip\xff.wav"
    Path(os.fsdecode(audio)).write_bytes(clip.read_bytes())
    predicted = run("predict", "-m", tiny_model, "-a", audio)
    assert_worked(predicted)
    assert {line.split()[-1] for line in predicted.stdout.splitlines()} == {"calm", "busy"}
    out = folder + b"/out\xfe"
    exported = run("export", "-m", tiny_model, "-a", audio, "-l", "1", "--out", out)
    assert_worked(exported, Path(os.fsdecode(out)))
    assert len(list(Path(os.fsdecode(out)).glob("*.wav"))) == 2
    assert "wrote 2 file(s)" in exported.stdout
    sidecar = json.loads(next(Path(os.fsdecode(out)).glob("*.json")).read_text())
    assert sidecar["source_file"].endswith("clip\\xff.wav")


def test_non_utf8_clip_names_reach_report_characterise_and_sessions(tmp_path: Path, tiny_model: Path, clip: Path):
    """The report's page and JSON, characterise --json and a saved session all name such a clip: valid UTF-8 JSON
    with the byte written as its ``\\xff`` text, never a UnicodeEncodeError."""
    audio = os.fsencode(tmp_path) + b"/clip\xff.wav"
    Path(os.fsdecode(audio)).write_bytes(clip.read_bytes())
    out = tmp_path / "report"
    reported = run("report", "-m", tiny_model, "-a", audio, "-l", "1", "-f", "0", "--out", out, "-q")
    assert_worked(reported, out)
    doc = json.loads((out / "report.json").read_bytes().decode("utf-8"))
    assert doc["clips"][0]["name"] == "clip\\xff.wav"
    assert "clip\\xff.wav" in (out / "index.html").read_bytes().decode("utf-8")
    measured = run("characterise", "-m", tiny_model, "-a", audio, "-l", "1", "-f", "0", "--json")
    assert_worked(measured)
    assert json.loads(measured.stdout)["clips"][0]["name"].endswith(".wav")
    session = Session()
    session.add_clip(Path(os.fsdecode(audio)))
    session.save(tmp_path / "s.aurascope")
    assert json.loads((tmp_path / "s.aurascope").read_bytes().decode("utf-8"))["clips"][0]["path"].endswith(
        "clip\\xff.wav"
    )


def test_export_takes_several_clips(tmp_path: Path, tiny_model: Path, clip: Path) -> None:
    other = _wav(tmp_path / "other.wav", 0.1 * np.sin(np.arange(2 * SR) / 7).astype(np.float32))
    result = run("export", "-m", tiny_model, "-a", clip, "-a", other, "-l", "2", "-f", "1", "--out", tmp_path / "o")
    assert_worked(result, tmp_path / "o")
    names = sorted(p.name for p in (tmp_path / "o").glob("*.wav"))
    assert names == ["clip_L2_F1_choi.wav", "other_L2_F1_choi.wav"]
    for name in names:
        assert json.loads((tmp_path / "o" / name).with_suffix(".json").read_text())["source_file"].endswith(
            name.split("_L")[0] + ".wav"
        )


def test_a_closed_pipe_ends_quietly(tiny_model: Path) -> None:
    """``aurascope info m | head``: the reader goes away before the writer is done."""
    for command in (["info", str(tiny_model)], ["info", str(tiny_model), "--json"], ["layers", str(tiny_model)]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", *command],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PYTHONPATH": f"{ROOT}:{TESTS}", "PATH": "/usr/bin:/bin"},
        )
        proc.stdout.close()  # before the process has written a byte
        stderr = proc.stderr.read().decode()
        code = proc.wait(timeout=300)
        tally(subprocess.CompletedProcess(command, code, "", stderr))
        assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
        assert stderr == "" and code == 1


def test_full_disk_leaves_nothing_half_written(tmp_path: Path, tiny_model: Path, clip: Path) -> None:
    disk = tmp_path / "full"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        missing(f"cannot mount a small tmpfs to fill: {mounted.stderr.decode().strip()}")
    try:
        result = run("export", "-m", tiny_model, "-a", clip, "--out", disk / "out")
        assert_refused(result, "No space left on device", out=disk / "out", wrote_nothing=False)
        assert [p.name for p in files_in(disk) if p.name.endswith(".part")] == []
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(["umount", str(disk)], check=True)


# --- bounded memory (3): fail fast with a small peak, whatever the file declares --------------------------------
@pytest.mark.parametrize("name", ["WAV header saying 1 Hz", "model declaring a million maps", "--features 0-999999999"])
def test_declared_sizes_fail_fast_in_little_memory(name: str, make, tmp_path: Path) -> None:
    case: Case = make(CASES[name])
    result, peak_mb = run_measured(*case.args, env=case.env, cwd=tmp_path)
    assert_refused(result, *case.expected, out=case.out)
    print(f"{name}: peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 1500


# --- generated cases (slow: one process each) ---------------------------------------------------------------------
@pytest.mark.slow
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    offset=st.integers(0, 2047),
    data=st.binary(min_size=1, max_size=16),
    cut=st.one_of(st.none(), st.integers(0, 4096)),
)
def test_damaged_model_files_through_the_cli(tiny_model: Path, tmp_path_factory, offset: int, data: bytes, cut) -> None:
    """Bytes overwritten anywhere in the header and first tensors, or the file cut short: ``info`` either reads a
    model or refuses it in one line; never a traceback, never another exit status."""
    raw = bytearray(tiny_model.read_bytes())
    raw[offset : offset + len(data)] = data
    path = tmp_path_factory.mktemp("damaged") / "damaged.safetensors"
    path.write_bytes(bytes(raw[:cut] if cut is not None else raw))
    result = run("info", path)
    if result.returncode == 0:
        assert_worked(result)
    else:
        assert_refused(result, "damaged.safetensors")


@pytest.mark.slow
def test_predict_memory_does_not_grow_with_the_clip(tmp_path: Path, tiny_model: Path) -> None:
    """A long clip is streamed in 60 s windows: 20 minutes take about the memory of 5 (bench/bounded_memory.py
    measured 352, 363 and 422 MB for 5, 20 and 120 minutes)."""
    peaks = {}
    for minutes in (5, 20):
        path = tmp_path / f"long{minutes}.flac"
        t = np.arange(60 * SR) / SR
        minute = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16", format="FLAC") as out:
            for _ in range(minutes):
                out.write(minute)
        result, peaks[minutes] = run_measured("predict", "-m", tiny_model, "-a", path, timeout=1800)
        assert_worked(result)
        assert {line.split()[-1] for line in result.stdout.splitlines()} == {"calm", "busy"}
    print(f"peak RSS of predict: {peaks}")
    assert peaks[20] < 1500 and peaks[20] - peaks[5] < 100, peaks
