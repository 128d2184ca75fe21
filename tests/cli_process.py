"""The real command line in a subprocess, as a user runs it: ``python -m app ...`` from the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


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


def run_measured(
    *args: str | os.PathLike[str] | bytes,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Like :func:`run`, and the child's peak resident memory in MB (``os.wait4``'s rusage: that child only)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "app", *args], cwd=cwd, stdout=out, stderr=err, env=_env(env))
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            out.read().decode("utf-8", "backslashreplace"),
            err.read().decode("utf-8", "backslashreplace"),
        )
    return result, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux
