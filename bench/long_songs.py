"""Whole songs at the speed of a click: click to sound, fill rate, thumbnails, peak memory and launch (issue 13).

    python bench/long_songs.py                  # 30, 180 and 600 s clips, musicnn-mtt-vgg and choi2015-genre
    python bench/long_songs.py --quick          # 30 s clips only, no launch runs: proves the script works

Prints JSON lines ``{"figure": ..., "value": ..., "unit": ...}``. Clips are real songs from ../shared/real/songs
(five recordings, concatenated and looped to the length asked for), at the model's rate.

- ``click_to_sound_ms_L<layer>_<seconds>s`` (after): from a click on a map of a layer not clicked before (its
  window's forward pass not yet run) until the first FIRST_WINDOW_SECONDS from the playhead are rendered exactly
  and written, resampled, into a progressive playback slot (`app.playback.progressive`): the sound can start.
  ``..._cached_...``: a second map of the same layer and window (forward pass reused).
  ``click_to_sound_whole_ms_...`` (before, same run): the whole-clip render of the same map, as the window did
  before (forward pass already run, as it was then); at 600 s only with ``--whole-600`` (it needs ~4 GB).
- ``fill_rate_x_realtime_L<layer>_180s``: seconds of audio the background fill makes per second of compute,
  over the chunks after the window (``--fill-chunks`` of them).
- ``thumbnails_all_maps_s_180s``: every map's tree and gallery thumbnail (`app.ui.compute.thumbnails`, the
  clip's loudest THUMB_SECONDS) for all layers, per model, on one thread as the window makes them
  (``--thumbs-all-cores`` adds ``thumbnails_all_maps_all_cores_s_180s``); ``thumbnails_all_maps_whole_s_<s>s``
  (before) on the 30 s clip.
- ``peak_rss_mb_<s>s``: a fresh process opens the clip and clicks one map on every layer (windowed), for each
  length and model, so the growth with length shows; ``peak_rss_whole_mb_30s``: the same with whole-clip
  renders. The child's own peak, through a small launcher (Linux carries a peak RSS across fork and exec).
- ``startup_<step>_s``: where the time to the first playable map goes, in a fresh process (torch import, app
  import, model load, clip load + STFT, the first map's window; then the clip's findings, after it).
- ``launch_to_painted_s`` / ``launch_to_playable_s`` (and ``_opened_``, ``_findings_``): `bench/gui_launch.py`'s
  runs of ``main.py`` with its defaults (musicnn-mtt-vgg, the band demo clip).

``--only clicks,rss,startup,launch`` runs some of these groups (clicks: click to sound, fill, thumbnails).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SONGS = next(
    (
        p / "songs"
        for p in (Path(os.environ.get("AURASCOPE_REAL", "/nonexistent")), ROOT.parent / "shared" / "real")
        if (p / "songs").is_dir()
    ),
    ROOT.parent.parent / "shared" / "real" / "songs",
)
MODELS = ("musicnn-mtt-vgg", "choi2015-genre")  # the real default and the 2015 setting (issue 13)


def emit(figure: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"figure": figure, "value": round(float(value), 4), "unit": unit, **extra}), flush=True)


def song_clip(seconds: float, sample_rate: int):
    """The five real songs one after another, looped to ``seconds``, mono at ``sample_rate`` (a Clip)."""
    from app.core.audio import Clip, load_audio

    parts = [load_audio(path, sample_rate).samples for path in sorted(SONGS.glob("*.ogg"))]
    joined = np.concatenate(parts)
    n = round(seconds * sample_rate)
    samples = np.ascontiguousarray(np.resize(joined, n), dtype=np.float32)
    return Clip(SONGS / f"songs_{seconds:g}s", "0" * 64, samples, sample_rate, samples[None], sample_rate)


def click_to_sound(analysis, layer: int, index: int, playhead: int, device_rate: int = 48000) -> float:
    """Seconds from a click to the first window rendered and written into a progressive playback slot."""
    from app.core.progressive import FIRST_WINDOW_SECONDS, ProgressiveRendering
    from app.playback.progressive import ProgressiveBuffer

    sr = analysis.clip.sample_rate
    n = analysis.clip.samples.shape[0]
    t0 = time.perf_counter()
    fill = ProgressiveRendering(layer, index, n, sr, (playhead, min(n, playhead + round(FIRST_WINDOW_SECONDS * sr))))
    buffer = ProgressiveBuffer(n, sr, device_rate)
    chunk = fill.fill_next(analysis)
    buffer.write(chunk.first, chunk.last, chunk.audio, chunk.padded_first)
    return time.perf_counter() - t0


def measure_model(name: str, lengths: list[float], args: argparse.Namespace) -> None:
    import torch

    from app.core.analysis import Analysis, FeatureRef
    from app.core.model import load_model
    from app.core.progressive import ProgressiveRendering

    model = load_model(ROOT / "models" / f"{name}.safetensors")
    sr = model.front_end.sample_rate
    for seconds in lengths:
        clip = song_clip(seconds, sr)
        t0 = time.perf_counter()
        analysis = Analysis(clip, model)
        emit(f"open_clip_ms_{seconds:g}s", 1000 * (time.perf_counter() - t0), "ms", model=name)
        playhead = clip.samples.shape[0] // 3
        for layer in range(1, len(model.layers) + 1):
            ms = 1000 * click_to_sound(analysis, layer, 0, playhead)
            emit(f"click_to_sound_ms_L{layer}_{seconds:g}s", ms, "ms", model=name, route="windowed")
            ms = 1000 * click_to_sound(analysis, layer, 1, playhead)
            emit(f"click_to_sound_cached_ms_L{layer}_{seconds:g}s", ms, "ms", model=name, route="windowed")
        if seconds <= 180 or args.whole_600:
            whole = Analysis(clip, model)
            whole._chunk_frames = 10**9  # the whole-clip pass, as before (even past CHUNK_FRAMES)
            t0 = time.perf_counter()
            _ = whole.record
            emit(f"whole_forward_ms_{seconds:g}s", 1000 * (time.perf_counter() - t0), "ms", model=name)
            for layer in range(1, len(model.layers) + 1):
                t0 = time.perf_counter()
                whole.render(FeatureRef(layer, 0))
                ms = 1000 * (time.perf_counter() - t0)
                emit(f"click_to_sound_whole_ms_L{layer}_{seconds:g}s", ms, "ms", model=name, route="whole clip")
            del whole
        if seconds == 180:
            for layer in range(1, len(model.layers) + 1):
                n = clip.samples.shape[0]
                fill = ProgressiveRendering(layer, 2, n, sr, (playhead, playhead + 5 * sr))
                fill.fill_next(analysis)
                t0 = time.perf_counter()
                made = 0
                for _ in range(args.fill_chunks):
                    chunk = fill.fill_next(analysis)
                    if chunk is None:
                        break
                    made += chunk.last - chunk.first
                rate = made / sr / (time.perf_counter() - t0)
                emit(f"fill_rate_x_realtime_L{layer}_180s", rate, "x", model=name, threads=torch.get_num_threads())
                emit(f"fill_min_slack_s_L{layer}_180s", fill_slack(analysis, layer, playhead), "s", model=name)
            emit_thumbnails(analysis, model, "thumbnails_all_maps_s_180s", name=name, threads=1)
            if args.thumbs_all_cores:
                emit_thumbnails(analysis, model, "thumbnails_all_maps_all_cores_s_180s", name=name, threads=None)
        if seconds == 30 and name == "choi2015-genre" and args.thumbs_whole:
            whole = Analysis(clip, model)
            emit_thumbnails(whole, model, "thumbnails_all_maps_whole_s_30s", name=name, whole_clip=True)
        del analysis


def fill_slack(analysis, layer: int, playhead: int, chunks: int = 4) -> float:
    """Least time (s) by which a chunk was ready before a real-time playhead started on the window reached it,
    over the window and the next ``chunks`` chunks, with the compute times measured here: negative = a hold."""
    from app.core.progressive import FIRST_WINDOW_SECONDS, ProgressiveRendering

    sr = analysis.clip.sample_rate
    n = analysis.clip.samples.shape[0]
    fill = ProgressiveRendering(layer, 3, n, sr, (playhead, playhead + round(FIRST_WINDOW_SECONDS * sr)))
    window = fill.fill_next(analysis)
    started = time.perf_counter()  # playback starts on the window
    audio_ahead = (window.last - window.first) / sr
    slack = float("inf")
    for _ in range(chunks):
        chunk = fill.fill_next(analysis)
        if chunk is None:
            break
        slack = min(slack, audio_ahead - (time.perf_counter() - started))
        audio_ahead += (chunk.last - chunk.first) / sr
    return slack


def emit_thumbnails(
    analysis, model, figure: str, *, name: str, whole_clip: bool = False, threads: int | None = None
) -> None:
    """Every map's tree and gallery thumbnail, one call per layer, on ``threads`` torch threads (the window's 1;
    None: all cores). The window makes the same images in jobs of about THUMBNAIL_TARGET_S each, between which a
    click's render can run."""
    import torch

    from app.ui import compute

    summary = compute.summarise_model(model)
    span = compute.thumbnail_span(analysis)
    if whole_clip:
        span = (0, analysis.clip.samples.shape[0])
        compute.thumbnail_span, saved = (lambda a: (0, a.clip.samples.shape[0])), compute.thumbnail_span
    t0 = time.perf_counter()
    per_layer = {}
    try:
        for layer in model.layers:
            t1 = time.perf_counter()
            compute.thumbnails(analysis, summary, layer.number, range(layer.n_maps), threads=threads)
            per_layer[f"L{layer.number}"] = round(time.perf_counter() - t1, 2)
    finally:
        if whole_clip:
            compute.thumbnail_span = saved
    seconds = time.perf_counter() - t0
    shown = [round(x / analysis.clip.sample_rate, 1) for x in span]
    emit(
        figure,
        seconds,
        "s",
        model=name,
        maps=sum(layer.n_maps for layer in model.layers),
        shows_seconds=shown,
        threads=threads or torch.get_num_threads(),
        per_layer=per_layer,
    )


def rss_child(name: str, samples_file: str, whole: bool) -> None:
    """Runs in a fresh process: open the clip (samples made by the parent, so decoding the songs is not
    counted), one map per layer; prints the peak RSS in MB."""
    from app.core.analysis import Analysis, FeatureRef
    from app.core.audio import Clip
    from app.core.model import load_model

    model = load_model(ROOT / "models" / f"{name}.safetensors")
    samples = np.load(samples_file)
    sr = model.front_end.sample_rate
    clip = Clip(Path(samples_file), "0" * 64, samples, sr, samples[None], sr)
    analysis = Analysis(clip, model)
    playhead = clip.samples.shape[0] // 3
    for layer in range(1, len(model.layers) + 1):
        if whole:
            analysis._chunk_frames = 10**9
            analysis.render(FeatureRef(layer, 0))
        else:
            click_to_sound(analysis, layer, 0, playhead)


#: Linux carries a process's peak RSS across fork and exec (a child of this big process would report at least
#: this process's size): a small launcher runs the child and reports the child's own peak (RUSAGE_CHILDREN), as
#: tests/cli_process.run_measured does.
_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    "sys.exit(code)\n"
)


def startup_child() -> None:
    """Runs in a fresh process: where the time to the first playable map goes, step by step, in the window's
    own order (model, clip and its STFT, the first map's window, then the clip's findings: the whole forward
    pass, energies and predictions, computed after the first map is playable)."""
    marks: dict[str, float] = {}
    t0 = time.perf_counter()

    def mark(step: str) -> None:
        marks[step] = time.perf_counter() - t0 - sum(marks.values())

    import torch  # noqa: F401

    mark("import_torch")
    from app.ui import compute

    mark("import_app")
    from app.ui.app import DEFAULT_AUDIO, DEFAULT_MODEL

    model, summary = compute.open_network(DEFAULT_MODEL)
    mark("load_model")
    opened = compute.open_session(None, DEFAULT_AUDIO, model=model, summary=summary)
    mark("open_clip_stft")
    click_to_sound(opened.analysis, 2, 0, 0)
    mark("first_window_layer2")
    playable = sum(marks.values())
    modules = sorted(m for m in ("librosa", "numba", "scipy.signal", "pyloudnorm") if m in sys.modules)
    compute.clip_findings(opened.analysis, summary)
    mark("after_playable_findings_forward_energies_predictions")
    marks["to_playable"] = playable
    print(json.dumps({"marks": marks, "imported": modules}))


def peak_rss(name: str, seconds: float, whole: bool = False) -> float:
    """Peak resident memory (MB) of a fresh process that opens a ``seconds`` clip with model ``name`` and clicks
    one map per layer (windowed, or ``whole``-clip renders)."""
    import tempfile

    from app.core.model import load_model

    sr = load_model(ROOT / "models" / f"{name}.safetensors").front_end.sample_rate
    path = Path(tempfile.gettempdir()) / f"aurascope-long-songs-{sr}-{seconds:g}.npy"
    if not path.is_file():
        np.save(path, song_clip(seconds, sr).samples)
    child = [sys.executable, __file__, "--rss-child", name, str(path)] + (["--whole"] if whole else [])
    out = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *child], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 s clips only, no launch runs")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--fill-chunks", type=int, default=3)
    parser.add_argument("--whole-600", action="store_true", help="also the whole-clip path at 600 s (~4 GB)")
    parser.add_argument("--thumbs-whole", action="store_true", help="also whole-clip thumbnails at 30 s (slow)")
    parser.add_argument("--thumbs-all-cores", action="store_true", help="also thumbnails on every core")
    parser.add_argument("--launch-runs", type=int, default=3)
    parser.add_argument("--only", help="some of: clicks (click, fill, thumbnails), rss, startup, launch")
    parser.add_argument("--rss-child", nargs=2, metavar=("MODEL", "SAMPLES"), help=argparse.SUPPRESS)
    parser.add_argument("--whole", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--startup-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.startup_child:
        startup_child()
        return 0
    if args.rss_child:
        rss_child(args.rss_child[0], args.rss_child[1], args.whole)
        return 0

    import torch

    from app.core.analysis import default_device

    device = default_device()
    emit("device", 0, str(device), torch=torch.__version__, threads=torch.get_num_threads(), cpus=os.cpu_count())
    lengths = [30.0] if args.quick else [30.0, 180.0, 600.0]
    models = args.models.split(",")
    only = set(args.only.split(",")) if args.only else {"clicks", "rss", "startup", "launch"}
    if "clicks" in only:  # click to sound, fill rate, thumbnails
        for name in models:
            measure_model(name, lengths, args)
    if "rss" in only:
        for name in models:
            for seconds in lengths:
                emit(f"peak_rss_mb_{seconds:g}s", peak_rss(name, seconds), "MB", model=name, route="windowed")
            for seconds in [30.0] if args.quick else [30.0, 180.0]:
                rss = peak_rss(name, seconds, whole=True)
                emit(f"peak_rss_whole_mb_{seconds:g}s", rss, "MB", model=name, route="whole clip")
    if "startup" in only:
        out = subprocess.run(
            [sys.executable, __file__, "--startup-child"], capture_output=True, text=True, check=True, cwd=ROOT
        )
        startup = json.loads(out.stdout.strip().splitlines()[-1])
        for step, seconds in startup["marks"].items():
            emit(
                f"startup_{step}_s",
                seconds,
                "s",
                note="fresh process, the window's default model and clip",
                heavy_imports_before_playable=startup["imported"],
            )
    if "launch" in only and not args.quick:
        from gui_launch import launch_figures

        launch_figures(args.launch_runs)  # launch_to_painted_s, launch_to_playable_s (and where between)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
