"""What every hostile case checks, and the tally the suite prints at the end (cases, tracebacks, half-written)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import soundfile as sf

EXIT_BAD_INPUT = 2
TALLY: Counter[str] = Counter()


def stderr_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def half_written(out: Path | None) -> list[Path]:
    """Files under ``out`` that are not whole: temporaries, WAVs without their sidecar (or unreadable), empty files."""
    if out is None or not out.exists() or not out.is_dir():
        return []
    bad = []
    for path in out.rglob("*"):
        if path.is_dir():
            continue
        if path.name.endswith(".part") or path.stat().st_size == 0:
            bad.append(path)
        elif path.suffix == ".wav":
            try:
                with open(path, "rb") as handle:  # a handle: the name may hold bytes that are not UTF-8
                    sf.info(handle)
            except Exception:
                bad.append(path)
            if not path.with_suffix(".json").exists() and path.parent.name != "audio":  # report WAVs: no sidecar
                bad.append(path)
    return bad


def files_in(out: Path | None) -> list[Path]:
    if out is None or not out.exists():
        return []
    return sorted(p for p in out.rglob("*") if p.is_file()) if out.is_dir() else [out]


def tally(result: subprocess.CompletedProcess[str], out: Path | None = None) -> None:
    TALLY["cases"] += 1
    TALLY["tracebacks"] += "Traceback" in result.stderr or "Traceback" in result.stdout
    TALLY["half-written files"] += len(half_written(out))


def assert_refused(
    result: subprocess.CompletedProcess[str], *expected: str, out: Path | None = None, wrote_nothing: bool = True
) -> str:
    """Exit status 2, exactly one line on stderr naming ``expected``, no traceback, nothing half-written in
    ``out`` (and, unless the failure came mid-way, nothing at all). Returns the line."""
    tally(result, out)
    lines = stderr_lines(result)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]
    assert result.returncode == EXIT_BAD_INPUT, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1, lines
    assert lines[0].startswith("aurascope: error: "), lines[0]
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert half_written(out) == []
    if wrote_nothing:
        assert files_in(out) == [] or (out is not None and out.is_file()), files_in(out)
    return lines[0]


def assert_worked(result: subprocess.CompletedProcess[str], out: Path | None = None) -> None:
    tally(result, out)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]
    assert result.returncode == 0, result.stderr[-2000:]
    assert half_written(out) == []


def without_root_overrides() -> tuple[str, ...]:
    """A command prefix under which root obeys permission bits (so 'unreadable' means unreadable)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to test permissions as root"
    return (setpriv, "--bounding-set=-dac_override,-dac_read_search")
