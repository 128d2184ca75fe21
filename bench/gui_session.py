"""A listening session's moves, timed in the real window: the same map on another clip, the layer gallery's
thumbnails, characterising a layer over the session's clips, and save/open of the session. Prints JSON lines.

    python bench/gui_session.py [--seconds 10] [--clips 4]

The window runs in this process (offscreen unless DISPLAY is set) on the bundled model and the demo clips made
``--seconds`` long. Figures:

- clip_first_ms: "]" onto a clip never analysed -> the same map's audio in slot B (load, STFT, forward pass,
  deconvolution, resynthesis), median over the clips.
- clip_return_ms: "]" back onto an analysed clip -> slot B ready (its analysis kept; the map rendered again).
- ratio_first_over_return: the two measured side by side in this run.
- gallery_layer_ms_per_map: background thumbnails of a 64-map layer, worker time per map (tree + gallery images).
- gallery_thumbnails_cached: maps recomputed when coming back to a clip (0 = all cached).
- characterise_layer_s: Analyse > Characterise this layer over all clips (64 maps x clips), wall time.
- session_save_ms / session_open_ms: Ctrl+S of the session, and opening it in a fresh window until the map plays.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gui_common import ROOT, emit, make_app, model_path, spin, temp_settings


def demo_clips(seconds: float, count: int, workdir: Path) -> list[Path]:
    """The demo clips, each repeated or cut to ``seconds``."""
    import numpy as np
    import soundfile as sf

    out = []
    for src in sorted((ROOT / "resources" / "demo").glob("*.wav"))[:count]:
        data, rate = sf.read(src, dtype="float32", always_2d=True)
        n = round(seconds * rate)
        path = workdir / f"{src.stem}_{seconds:g}s.wav"
        sf.write(path, np.tile(data, (int(np.ceil(n / len(data))), 1))[:n], rate, subtype="FLOAT")
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clips", type=int, default=4)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="aurascope-bench-session-"))
    temp_settings()
    app = make_app()
    from app.core.session import Session
    from app.ui.main_window import MainWindow

    model, what = model_path(workdir)
    clips = demo_clips(args.seconds, args.clips, workdir)
    ref = (2, 5)
    start = Session()  # a session naming the model and the clips: only the shown clip gets analysed on open
    start.set_model(model)
    for path in clips:
        start.add_clip(path)
    start.select(layer=ref[0], index=ref[1])
    window = MainWindow(thumbnails=True, ask_to_save=False)
    window.resize(1480, 900)
    window.show()
    window.start(None, None, start.save(workdir / "start.aurascope"))
    if not spin(app, lambda: window.feature is not None and window.feature.ref == ref and window.worker.idle, 120):
        raise RuntimeError("the session's map was not rendered")
    spin(app, lambda: not window._thumb_queue and window.worker.idle, 600)
    layer2 = window._thumb_per_map.get(2)
    emit("gallery_layer_ms_per_map", 1000 * layer2 if layer2 else float("nan"), "ms", model=what)

    def step() -> float:
        before = window.clip.sha256
        started = time.perf_counter()
        window.act_next_clip.trigger()
        if not spin(
            app,
            lambda: (
                window.clip is not None
                and window.clip.sha256 != before
                and window.feature is not None
                and window.feature.ref == ref
            ),
            120,
        ):
            raise RuntimeError("the next clip's map was not rendered")
        elapsed = 1000 * (time.perf_counter() - started)
        spin(app, lambda: window.worker.idle and not window._thumb_queue, 600)
        return elapsed

    first = [step() for _ in clips[1:]]
    back = [step() for _ in clips]  # all analysed now (MAX_ANALYSES covers 4 clips)
    emit("clip_first_ms", statistics.median(first), "ms", clips=len(first), seconds=args.seconds)
    emit("clip_return_ms", statistics.median(back), "ms", clips=len(back), seconds=args.seconds)
    emit("ratio_first_over_return", statistics.median(first) / statistics.median(back), "x")
    emit("gallery_thumbnails_cached", window._thumb_total, "maps recomputed")

    started = time.perf_counter()
    window.characterise(True)
    spin(app, lambda: window.worker.idle and bool(window.session.suggestions), 1800)
    tagged = sum(1 for tags in window.session.suggestions.values() if tags)
    emit("characterise_layer_s", time.perf_counter() - started, "s", maps=64, clips=len(clips), tagged=tagged)

    target = workdir / "bench.aurascope"
    started = time.perf_counter()
    window._save_to(target)
    emit("session_save_ms", 1000 * (time.perf_counter() - started), "ms", bytes=target.stat().st_size)
    window.close()
    second = MainWindow(thumbnails=False, ask_to_save=False)
    second.show()
    started = time.perf_counter()
    second.open_session_file(target)
    if not spin(app, lambda: second.feature is not None and second.feature.ref == ref, 120):
        raise RuntimeError("the session did not open")
    emit("session_open_ms", 1000 * (time.perf_counter() - started), "ms", clips=len(second.session.clips))
    second.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
