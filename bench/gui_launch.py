"""Launch to window shown (target < 2 s), and to layer 2 map 0 ready to play. Prints JSON lines.

    python bench/gui_launch.py [--runs 3]

Starts ``python main.py`` as a new process each run, as a double-click does (on the X display when DISPLAY is
set, else offscreen), and reads the wall-clock times the window records when it is first shown and when the
first map's audio is in slot B (``AURASCOPE_STATE_FILE``). Uses the bundled model and the full-band demo clip
(or a random-weight model of the same shape until the bundled one exists).
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

from gui_common import DEMO_CLIP, ROOT, emit, model_path


def one_run(model: Path, work: Path, index: int) -> tuple[float, float, float]:
    state = work / f"state{index}.json"
    env = dict(os.environ, AURASCOPE_STATE_FILE=str(state), AURASCOPE_SETTINGS=str(work / f"s{index}.ini"))
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), str(DEMO_CLIP), str(model)],
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
            if data.get("first_ready_at") and data.get("residual_ready"):
                return data["shown_at"] - started, data["first_ready_at"] - started, time.time() - started
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited: {proc.stderr.read()[-2000:]}")
            time.sleep(0.02)
        raise RuntimeError("the window did not get ready within 120 s")
    finally:
        proc.terminate()
        proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="aurascope-bench-"))
    model, what = model_path(work)
    runs = [one_run(model, work, i) for i in range(args.runs + 1)][1:]  # the first run warms the file cache
    emit(
        "launch_to_window_shown_s",
        statistics.median(r[0] for r in runs),
        "s",
        model=what,
        display=os.environ.get("DISPLAY") or "offscreen",
        runs=args.runs,
    )
    emit("launch_to_first_map_ready_s", statistics.median(r[1] for r in runs), "s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
