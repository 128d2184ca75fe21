"""The corpus atlas's speed and memory (issue 14): clips per second of the embedded engine and of Ray against the
bare forward pass in the same run, and peak memory for 1x and 4x the corpus.

    python bench/atlas.py                        # 500 clips of 3 s, embedded + bare + memory 1x/4x (+ Ray if installed)
    python bench/atlas.py --clips 40 --no-ray    # proves the script works in a minute

The corpus is rendered into a temporary folder: excerpts of the demo material (resources/demo, and the CC0/CC BY
recordings in resources/demo/real), each at its own offset and gain, so every clip has its own hash. Prints JSON lines
``{"figure": ..., "value": ..., "unit": ...}``:

- ``bare_forward_clips_per_s``: load + front end + the model's forward passes over the same windows, nothing kept;
- ``embedded_clips_per_s`` / ``embedded_vs_bare``: ``build_atlas`` with the local engine (SQLite commits included);
- ``ray_clips_per_s`` / ``ray_vs_bare``: the Ray Data engine on a local Ray (``--cpus`` actors), start-up included;
- ``peak_rss_mb_1x`` / ``peak_rss_mb_4x``: a fresh process building the atlas of N and 4N clips;
- ``device``: where the forward pass ran.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEMO = ROOT / "resources" / "demo"


def emit(figure: str, value: object, unit: str = "") -> None:
    print(json.dumps({"figure": figure, "value": value, "unit": unit}), flush=True)


def render_corpus(folder: Path, n: int, seconds: float, sample_rate: int, seed: int = 0) -> list[Path]:
    """``n`` excerpts of ``seconds`` from the demo material, cycling through it at different offsets and gains."""
    import soundfile as sf

    from app.core.audio import load_audio

    sources = sorted(DEMO.glob("*.wav")) + sorted(p for p in (DEMO / "real").glob("*.flac"))
    material = [load_audio(p, sample_rate).samples for p in sources]
    rng = np.random.default_rng(seed)
    width = round(seconds * sample_rate)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        y = material[i % len(material)]
        start = int(rng.integers(0, max(1, len(y) - width)))
        clip = y[start : start + width] * np.float32(0.5 + rng.random())
        path = folder / f"clip{i:05d}.wav"
        sf.write(path, clip, sample_rate, subtype="FLOAT")
        paths.append(path)
    return paths


def bare_forward(paths: list[Path], network, settings) -> float:
    """Seconds for load + front end + forward passes over the atlas's windows, keeping nothing."""
    import torch

    from app.core.analysis import Analysis
    from app.core.atlas.scan import WINDOW_BATCH, window_starts
    from app.core.audio import load_audio

    started = time.perf_counter()
    with torch.no_grad():
        for path in paths:
            analysis = Analysis(load_audio(path, network.front_end.sample_rate), network)
            x = analysis.input
            window = min(settings.window_frames, x.shape[-1])
            starts = window_starts(x.shape[-1], window, settings.hop_frames)
            for i in range(0, len(starts), WINDOW_BATCH):
                network.forward_record(torch.cat([x[..., s : s + window] for s in starts[i : i + WINDOW_BATCH]]))
    return time.perf_counter() - started


def child_build(model: str, corpus: str, out: str) -> None:
    """A fresh process's build (for its peak RSS)."""
    from app.core.atlas import ScanSettings
    from app.core.atlas.build import build_atlas
    from app.core.model import load_model

    network = load_model(model)
    build_atlas(out, [corpus], network, ScanSettings.for_network(network))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "choi2015-genre.safetensors"))
    parser.add_argument("--clips", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--cpus", type=int, default=2, help="Ray's CPUs (and actors)")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--child-build", nargs=3, metavar=("MODEL", "CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_build:
        child_build(*args.child_build)
        return

    from app.core.analysis import default_device
    from app.core.atlas import ScanSettings
    from app.core.atlas.build import ModelSource, build_atlas
    from app.core.model import load_model

    network = load_model(args.model)
    settings = ScanSettings.for_network(network)
    rate = network.front_end.sample_rate
    emit("device", str(default_device()))
    emit("model", network.name)
    emit("window_frames", settings.window_frames, "frames")
    emit("overlap", round(settings.overlap, 3))
    with tempfile.TemporaryDirectory(prefix="aurascope-atlas-bench-") as tmp:
        tmp_path = Path(tmp)
        corpus = render_corpus(tmp_path / "corpus", args.clips, args.seconds, rate)
        emit("clips", len(corpus))
        emit("clip_seconds", args.seconds, "s")
        bare_forward(corpus[:2], network, settings)  # warm-up: first calls allocate
        bare = bare_forward(corpus, network, settings)
        emit("bare_forward_clips_per_s", round(len(corpus) / bare, 2), "clips/s")
        summary = build_atlas(tmp_path / "local.atlas", [tmp_path / "corpus"], network, settings)
        embedded = len(corpus) / summary.seconds
        emit("embedded_clips_per_s", round(embedded, 2), "clips/s")
        emit("embedded_vs_bare", round(embedded / (len(corpus) / bare), 3))
        if not args.no_ray:
            try:
                import ray

                from app.core.atlas.ray_engine import RayEngine
            except ImportError as err:
                emit("ray", f"not installed: {err}")
            else:
                ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
                try:
                    engine = RayEngine(ModelSource(args.model), settings, actors=args.cpus)
                    summary = build_atlas(
                        tmp_path / "ray.atlas", [tmp_path / "corpus"], network, settings, engine=engine
                    )
                finally:
                    ray.shutdown()
                emit("ray_clips_per_s", round(len(corpus) / summary.seconds, 2), "clips/s")
                emit("ray_vs_bare", round(len(corpus) / summary.seconds / (len(corpus) / bare), 3))
        if not args.no_memory:
            render_corpus(tmp_path / "corpus4", 4 * args.clips, args.seconds, rate, seed=1)
            for name, folder in (("1x", "corpus"), ("4x", "corpus4")):
                out = subprocess.run(
                    [sys.executable, __file__, "--child-build", args.model, str(tmp_path / folder),
                     str(tmp_path / f"mem{name}.atlas")],
                    capture_output=True, text=True, check=True, cwd=ROOT,
                )  # fmt: skip
                emit(f"peak_rss_mb_{name}", round(float(out.stdout.split()[-1]), 1), "MB")


if __name__ == "__main__":
    main()
