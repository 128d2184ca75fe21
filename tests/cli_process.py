"""The real command line in a subprocess, as a user runs it: ``python -m app ...`` from the repository."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def as_from_a_terminal() -> None:
    """``preexec_fn`` for a child a test signals: the signals as a terminal gives them. A test run in the
    background (``nohup``, ``cmd &`` in a script) has SIGINT, SIGQUIT and SIGHUP ignored, and an ignored signal
    stays ignored across exec, so Ctrl-C and hang-up would never reach the child."""
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    return {"PYTHONPATH": f"{ROOT}:{TESTS}", "PATH": "/usr/bin:/bin", **(extra or {})}


def run(
    *args: str | os.PathLike[str] | bytes,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    prefix: Sequence[str] = (),
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``aurascope *args`` with a bare environment (the tests' user modules importable, plus ``env``); never
    raises. ``prefix``: a command to run it under (e.g. ``setpriv`` to drop root's permission overrides)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "app", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=timeout,
        env=_env(env),
    )


# Linux keeps a process's peak RSS across fork and exec, so a child forked from a large pytest process reports
# pytest's size as its own peak. A small launcher forks the real command and reports that grandchild's peak.
_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def run_measured(
    *args: str | os.PathLike[str] | bytes,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Like :func:`run`, and the command's own peak resident memory in MB (measured by a small launcher)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak_kib"
        command = [sys.executable, "-c", _LAUNCHER, str(peak_file), sys.executable, "-m", "app", *args]
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, env=_env(env))
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(
            [sys.executable, "-m", "app", *args],
            proc.returncode,
            out.read().decode("utf-8", "backslashreplace"),
            err.read().decode("utf-8", "backslashreplace"),
        )
        peak_kib = float(peak_file.read_text()) if peak_file.is_file() else float("nan")
    return result, peak_kib / 1024  # ru_maxrss is in KiB on Linux
