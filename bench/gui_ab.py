"""A/B through the window on the real (virtual) device: switch latency in blocks, and a soak. JSON lines.

    eval "$(bash scripts/ci_env.sh)" && python bench/gui_ab.py [--seconds 600] [--switches 40]

The window runs in this process (on the X display when DISPLAY is set, else offscreen) with its own engine on
the default output device (the PulseAudio null sink under CI). Needs that device: exits 2 without it.

- ab_switch_latency_blocks: as in bench/playback_ab.py, the switch block's index minus the callbacks completed
  when the B key's action ran (1 = the next block), median and max over ``--switches`` toggles;
  ab_switch_offset_samples: where the crossfade starts minus the next sample to be written at the key press
  (0 = the very next sample); ab_switch_audible_delay_ms: the same against the sample being heard (the output
  latency); block_frames is the device's block.
- soak: the clip loops, A/B toggles every 100 ms through the window's action, the playhead is drawn at ~30 Hz
  and every 2 s another map is selected (rendered on the worker, the views redrawn) for ``--seconds``.
  Figures: underflows (target 0), toggles that did not land, device errors, the longest gap between two
  playhead redraws (GUI responsiveness), renders done.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gui_common import DEMO_CLIP, emit, make_app, model_path, spin, temp_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="soak length (default 600 = 10 minutes)")
    parser.add_argument("--switches", type=int, default=40)
    args = parser.parse_args(argv)
    temp_settings()
    app = make_app()
    from PySide6.QtCore import QTimer

    from app.playback import Slot
    from app.ui.main_window import MainWindow
    from app.ui.style import apply_style

    apply_style(app)
    work = Path(tempfile.mkdtemp(prefix="aurascope-bench-"))
    model, what = model_path(work)
    window = MainWindow()
    window.show()
    window.start(DEMO_CLIP, model)
    if not spin(app, lambda: window.residual is not None and window.worker.idle and window._device_ok, 300):
        print(f"no output device or no rendering: {window.banner.text.text()}", file=sys.stderr)
        return 2
    engine = window.engine
    mixer = engine.mixer
    window.act_loop.setChecked(True)
    window.set_looping()
    window.select_slot(Slot.A)
    window.play()
    spin(app, lambda: engine.position() > 0.5, 10)

    # --- switch latency ------------------------------------------------------------------------------------
    latencies, offsets, delays = [], [], []
    for _ in range(args.switches):
        before_blocks, before_switch = mixer.blocks, mixer.last_switch_block
        playhead, audible = engine.playhead_samples, engine.position_samples()
        window.act_toggle_ab.trigger()
        if not spin(app, lambda b=before_switch: mixer.last_switch_block != b, 2.0):
            continue
        latencies.append(mixer.last_switch_block - before_blocks)
        offsets.append(mixer.last_switch_sample - playhead)
        delays.append(1000 * (mixer.last_switch_sample - audible) / engine.sample_rate)
        spin(app, lambda: False, 0.05 + 0.037 * (len(latencies) % 3))  # toggles at varying block phases
    emit(
        "ab_switch_latency_blocks",
        statistics.median(latencies),
        "blocks",
        max=max(latencies),
        block_frames=mixer.max_block_frames,
        device_rate=engine.sample_rate,
        model=what,
    )
    emit("ab_switch_offset_samples", statistics.median(offsets), "samples", max=max(offsets))
    emit("ab_switch_audible_delay_ms", statistics.median(delays), "ms", max=round(max(delays), 1))

    # --- soak ------------------------------------------------------------------------------------------------
    underflows0 = engine.underflows
    toggles = missed = renders = 0
    gaps: list[float] = []
    last_poll = [time.perf_counter()]
    original_poll = window._poll

    def timed_poll() -> None:
        now = time.perf_counter()
        gaps.append(now - last_poll[0])
        last_poll[0] = now
        original_poll()

    window.poll.timeout.disconnect()
    window.poll.timeout.connect(timed_poll)

    def toggle() -> None:
        nonlocal toggles, missed
        if toggles and mixer.slot_index != engine.selected.index:  # the previous toggle, 100 ms ago
            missed += 1
        toggles += 1
        window.act_toggle_ab.trigger()

    maps = [(layer.number, k) for layer in window.summary.layers[:3] for k in range(4)]

    def next_map() -> None:
        nonlocal renders
        renders += 1
        window.tree.select(maps[renders % len(maps)])

    toggler, selector = QTimer(), QTimer()
    toggler.timeout.connect(toggle)
    selector.timeout.connect(next_map)
    toggler.start(100)
    selector.start(2000)
    started = time.monotonic()
    errors = 0
    while time.monotonic() - started < args.seconds:
        app.processEvents()
        if engine.device_error is not None:
            errors += 1
            break
        time.sleep(0.002)
    toggler.stop()
    selector.stop()
    engine.pause()
    soak_s = time.monotonic() - started
    emit("soak_seconds", soak_s, "s", toggles=toggles)
    emit("soak_toggles_not_landed", missed, "count")
    emit("soak_underflows", engine.underflows - underflows0, "count")
    emit("soak_device_errors", errors, "count")
    emit("soak_max_redraw_gap_ms", 1000 * max(gaps[5:] or [0.0]), "ms", median=round(1000 * statistics.median(gaps), 1))
    emit("soak_renders", renders, "count")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
