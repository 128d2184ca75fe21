"""Click a map -> its audio is in slot B, on a 30 s clip (target < 250 ms). Prints JSON lines.

    python bench/gui_click.py [--seconds 30] [--maps 3]

The window runs in this process (offscreen unless DISPLAY is set). A "click" is the tree's current item
changing, exactly what a mouse click does; "audio ready" is the moment the window has loaded the rendering into
slot B (its ``featureReady`` signal), so the figure includes the worker's queue, the deconvolution, the
inverse STFT, loudness, resampling to the device rate and the hand-over to the GUI thread.

- click_ready_ms_L<n>_cold: maps whose deconvolution is not cached (the first click on a map), median.
- click_ready_ms_L<n>_warm: the same maps clicked again (deconvolution cached; Choi/magnitude switch, revisit).
- click_ready_ms_busy: first clicks while the thumbnails are being computed in the background.
- residual_ready_ms: click to slot R (the residual) loaded as well.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gui_common import clip_of, emit, make_app, model_path, spin, temp_settings


def click(app, window, ref) -> tuple[float, float]:
    """(ms to slot B, ms to slot R) for one click on ``ref``."""
    started = time.perf_counter()
    window.tree.select(ref)
    if not spin(app, lambda: window.feature is not None and window.feature.ref == ref, 60):
        raise RuntimeError(f"{ref} was not rendered within 60 s")
    ready = time.perf_counter() - started
    spin(app, lambda: window.residual is not None and window.residual.ref == ref, 60)
    return 1000 * ready, 1000 * (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length (default 30)")
    parser.add_argument("--maps", type=int, default=3, help="maps per layer to click (default 3)")
    args = parser.parse_args(argv)
    temp_settings()
    app = make_app()
    from app.ui.main_window import MainWindow
    from app.ui.style import apply_style

    apply_style(app)
    work = Path(tempfile.mkdtemp(prefix="aurascope-bench-"))
    model, what = model_path(work)
    audio = clip_of(args.seconds, work)
    window = MainWindow(thumbnails=False)
    window.show()
    window.start(audio, model)
    if not spin(app, lambda: window.residual is not None and window.worker.idle, 300):
        print("the window did not open the clip", file=sys.stderr)
        return 1
    emit("clip_seconds", args.seconds, "s", model=what)
    residual_ms = []
    for layer in window.summary.layers:
        refs = [(layer.number, k) for k in range(1, 1 + args.maps)]
        cold = [click(app, window, ref) for ref in refs]
        warm = [click(app, window, ref) for ref in refs]
        residual_ms += [r for _, r in cold]
        emit(
            f"click_ready_ms_L{layer.number}_cold",
            statistics.median(c for c, _ in cold),
            "ms",
            max=round(max(c for c, _ in cold), 1),
        )
        emit(f"click_ready_ms_L{layer.number}_warm", statistics.median(c for c, _ in warm), "ms")
    emit("residual_ready_ms", statistics.median(residual_ms), "ms")

    # the realistic case: thumbnails are being computed in the background while the user clicks
    window.thumbnails_enabled = True
    window._start_thumbnails(5)
    spin(app, lambda: window._thumb_done > 0, 120)
    busy = []
    for k in range(20, 20 + args.maps):
        for layer in (2, 4):
            busy.append(click(app, window, (layer, k))[0])
            spin(app, lambda: False, 0.3)
    emit("click_ready_ms_busy", statistics.median(busy), "ms", max=round(max(busy), 1))
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
