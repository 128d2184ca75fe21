"""Launch to window painted (target < 1 s) and to the first map playable (target < 2.5 s). Prints JSON lines.

    python bench/gui_launch.py [--runs 3]

Starts ``python main.py`` with no arguments as a new process each run, as a double-click does: the bundled
default model (musicnn-mtt-vgg) and demo clip (resources/demo/real/band.flac), on the X display when DISPLAY is
set, else offscreen. Reads the wall-clock times the window records (``AURASCOPE_STATE_FILE``): first painted,
model and clip opened (STFT done), the first map's audio in slot B (playable), the clip's findings (energies
and predictions) shown. Medians over ``--runs``, after one run that warms the file cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gui_common import ROOT, emit

STEPS = ("painted", "opened", "playable", "findings")


def one_run(work: Path, index: int, files: list[Path] | None = None) -> dict[str, float]:
    """Seconds from launch to each of STEPS, in one fresh process of ``main.py [files]``."""
    state = work / f"state{index}.json"
    env = dict(os.environ, AURASCOPE_STATE_FILE=str(state), AURASCOPE_SETTINGS=str(work / f"s{index}.ini"))
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), *map(str, files or [])],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                data = json.loads(state.read_text())
            except (OSError, ValueError):
                data = {}
            if data.get("first_ready_at") and data.get("findings_ready"):
                findings = time.time() - started  # within the state file's 100 ms period
                return {
                    "painted": (data.get("painted_at") or data["shown_at"]) - started,
                    "opened": data["opened_at"] - started,
                    "playable": data["first_ready_at"] - started,
                    "findings": findings,
                }
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited: {proc.stderr.read()[-2000:]}")
            time.sleep(0.02)
        raise RuntimeError("the window did not get ready within 120 s")
    finally:
        proc.terminate()
        proc.wait(30)


def launch_figures(runs: int, files: list[Path] | None = None) -> None:
    """``launch_to_<step>_s`` for each of STEPS: medians of ``runs`` fresh launches (after a warm-up one)."""
    work = Path(tempfile.mkdtemp(prefix="aurascope-bench-"))
    measured = [one_run(work, i, files) for i in range(runs + 1)][1:]  # the first run warms the file cache
    what = " ".join(p.name for p in files) if files else "the defaults: musicnn-mtt-vgg, band.flac"
    for step in STEPS:
        values = [r[step] for r in measured]
        emit(
            f"launch_to_{step}_s",
            statistics.median(values),
            "s",
            runs=runs,
            all=[round(v, 3) for v in values],
            files=what,
            display=os.environ.get("DISPLAY") or "offscreen",
            cpus=os.cpu_count(),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("files", nargs="*", type=Path, help="files to open instead of the defaults")
    args = parser.parse_args(argv)
    launch_figures(args.runs, args.files or None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
