"""The corpus atlas's speed and memory (issue 14): clips per second of the bare forward pass, the embedded engine
in-process (``local``) and as a process pool (``pool``), and Ray, all in one run on one corpus; peak memory for 1x
and 4x the corpus; the device.

    python bench/atlas.py                          # 500 clips of 3 s: bare, local, pool, Ray (if installed), memory
    python bench/atlas.py --clips 12 --workers 2   # proves the script works in a couple of minutes

The corpus (at least ``--clips`` clips) is written into a temporary folder, never into the repository: the real
recordings of ../shared/real/songs (read-only; ``AURASCOPE_REAL`` names another place) cut into consecutive clips,
up to half the corpus, and the rest excerpts of the demo material (resources/demo and resources/demo/real), each at
its own offset and gain so every clip has its own hash. Prints JSON lines ``{"figure": ..., "value": ..., "unit":
...}``:

- ``device``, ``cuda``: where the forward passes ran, and the GPU torch sees (``none``);
- ``clips``, ``clips_real``, ``clips_rendered``: the corpus;
- ``bare_forward_clips_per_s``: load + front end + the model's forward passes over the same windows, nothing kept,
  in this process with torch's own threads;
- ``local_clips_per_s`` / ``local_vs_bare``: ``build_atlas`` with the in-process engine (SQLite commits included);
- ``pool_clips_per_s`` / ``pool_vs_bare``: the process pool (``--workers`` processes of one torch thread each),
  its start-up (spawning the workers, each opening the model) included;
- ``ray_clips_per_s`` / ``ray_vs_bare``: the Ray Data engine on a local Ray (``--cpus`` actors), start-up included;
- ``<engine>_first_result_s`` / ``<engine>_steady_clips_per_s``: the engine's start-up (to its first result) and its
  rate after it (what a large corpus sees), for local and pool (Ray's results arrive in whole blocks);
- ``atlases_identical``: the local, pool and Ray atlases hold the same contents;
- ``local_stage_ms_per_clip`` (``--stages``): where the in-process build's time goes, per clip (wall ms, each stage
  without the stages inside it): decode, hash, front end, forward, reduce (the per-map peaks and means, the clip's
  own top k), top-k (the corpus's), sqlite, other; from one more build with timers in (not the one measured above);
- ``peak_rss_mb_1x`` / ``peak_rss_mb_4x``: a fresh process building the atlas of N and 4N clips (local engine), its
  own peak (VmHWM), not the bench's.
"""

from __future__ import annotations

import argparse
import json
import os
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
SONGS = next(
    (
        p / "songs"
        for p in (
            Path(os.environ.get("AURASCOPE_REAL", "/nonexistent")),
            ROOT.parent / "shared" / "real",
            ROOT.parent.parent / "shared" / "real",
        )
        if (p / "songs").is_dir()
    ),
    None,
)


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


def cut_songs(folder: Path, n: int, seconds: float, sample_rate: int) -> list[Path]:
    """At most ``n`` consecutive clips of ``seconds`` cut from the real songs (read, never copied elsewhere than
    ``folder``), song after song; none when the songs are not there."""
    import soundfile as sf

    from app.core.audio import load_audio

    if SONGS is None or n <= 0:
        return []
    width = round(seconds * sample_rate)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for song in sorted(SONGS.glob("*.ogg")):
        y = load_audio(song, sample_rate).samples
        for start in range(0, len(y) - width + 1, width):
            if len(paths) == n:
                return paths
            path = folder / f"{song.stem[:24]}-{start // width:03d}.wav"
            sf.write(path, y[start : start + width], sample_rate, subtype="FLOAT")
            paths.append(path)
    return paths


def build_corpus(folder: Path, n: int, seconds: float, sample_rate: int, seed: int = 0) -> tuple[int, int]:
    """``n`` clips in ``folder``: real song cuts (up to half) and rendered demo excerpts; (real, rendered)."""
    real = cut_songs(folder / "real", n // 2, seconds, sample_rate)
    rendered = render_corpus(folder / "rendered", n - len(real), seconds, sample_rate, seed=seed)
    return len(real), len(rendered)


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
    print(own_peak_mb())


def own_peak_mb() -> float:
    """This process's own peak resident memory (MB): VmHWM belongs to the address space, which exec replaces,
    whereas ``ru_maxrss`` carries the forking parent's peak (the bench's own, with torch and Ray in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: no fork carries it there


class StageTimer:
    """Wall time per stage of a build, each stage without the stages it calls (a stack of open stages)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stack: list[list[float]] = []  # per open stage: [start, time spent in stages inside it]

    def wrap(self, name: str, fn, *, outermost: bool = False):
        """``fn`` timed as ``name``; with ``outermost``, only calls made outside every other stage (the rest count
        to the stage that made them)."""

        def timed(*args, **kwargs):
            if outermost and self._stack:
                return fn(*args, **kwargs)
            self._stack.append([time.perf_counter(), 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                start, inner = self._stack.pop()
                spent = time.perf_counter() - start
                self.seconds[name] = self.seconds.get(name, 0.0) + spent - inner
                if self._stack:
                    self._stack[-1][1] += spent

        return timed


def stage_breakdown(corpus: Path, out: Path, network, settings) -> dict[str, float]:
    """One more in-process build with timers around its stages: seconds per stage (``other`` the rest)."""
    from app.core.atlas import build, scan, store, topk

    timer = StageTimer()
    patches = [
        (build, "load_audio", "decode"),
        (build, "file_sha256", "hash"),
        (scan, "Analysis", "front end"),
        (network, "forward_record", "forward"),
        (build, "scan_clip", "reduce"),
        (topk.TopK, "add", "top-k"),
        (store.AtlasFile, "commit_batch", "sqlite"),
    ]
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in patches]
    try:
        for owner, attr, name in patches:
            # the clip's own top k (inside the scan) is the scan's reduction; top-k is the corpus's
            setattr(owner, attr, timer.wrap(name, getattr(owner, attr), outermost=name == "top-k"))
        summary = build.build_atlas(out, [corpus], network, settings)
    finally:
        for owner, attr, fn in saved:
            if owner is network:
                delattr(network, attr)  # back to the class's own method
            else:
                setattr(owner, attr, fn)
    stages = dict(timer.seconds)
    stages["other"] = summary.seconds - sum(stages.values())
    return stages


class FirstResult:
    """An engine timed: when the scan started, and when its first and last results came (start-up apart)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.started = self.first = self.last = None

    def scan(self, paths, **hints):
        self.started = time.perf_counter()
        for result in self.engine.scan(paths, **hints):  # the build's floor and hashes, passed on
            self.last = time.perf_counter()
            if self.first is None:
                self.first = self.last
            yield result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "choi2015-genre.safetensors"))
    parser.add_argument("--clips", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=None, help="the pool's processes (default: one per core)")
    parser.add_argument("--cpus", type=int, default=2, help="Ray's CPUs (and actors)")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--no-pool", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--stages", action="store_true", help="also where the in-process build's time goes")
    parser.add_argument("--child-build", nargs=3, metavar=("MODEL", "CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_build:
        child_build(*args.child_build)
        return

    import torch

    from app.core.analysis import default_device
    from app.core.atlas import ScanSettings
    from app.core.atlas.build import LocalEngine, ModelSource, build_atlas
    from app.core.atlas.pool_engine import PoolEngine, default_workers
    from app.core.atlas.store import AtlasFile
    from app.core.model import load_model

    network = load_model(args.model)
    settings = ScanSettings.for_network(network)
    rate = network.front_end.sample_rate
    emit("device", str(default_device()))
    emit("cuda", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
    emit("torch_threads", torch.get_num_threads())
    emit("model", network.name)
    emit("window_frames", settings.window_frames, "frames")
    emit("overlap", round(settings.overlap, 3))
    with tempfile.TemporaryDirectory(prefix="aurascope-atlas-bench-") as tmp:
        tmp_path = Path(tmp)
        real, rendered = build_corpus(tmp_path / "corpus", args.clips, args.seconds, rate)
        corpus = sorted((tmp_path / "corpus").rglob("*.wav"))
        emit("clips", len(corpus))
        emit("clips_real", real)
        emit("clips_rendered", rendered)
        emit("clip_seconds", args.seconds, "s")
        bare_forward(corpus[:2], network, settings)  # warm-up: first calls allocate
        bare = len(corpus) / bare_forward(corpus, network, settings)
        emit("bare_forward_clips_per_s", round(bare, 2), "clips/s")
        atlases = {}

        def measure(name: str, engine) -> None:
            out = tmp_path / f"{name}.atlas"
            timed = FirstResult(engine)
            summary = build_atlas(out, [tmp_path / "corpus"], network, settings, engine=timed)
            rate_here = len(corpus) / summary.seconds
            emit(f"{name}_clips_per_s", round(rate_here, 2), "clips/s")
            emit(f"{name}_vs_bare", round(rate_here / bare, 3))
            if name != "ray" and timed.first is not None and timed.last is not None and len(corpus) > 1:
                # start-up apart (not for Ray: its results arrive in whole blocks, the first late, the rest at once)
                emit(f"{name}_first_result_s", round(timed.first - timed.started, 2), "s")
                steady = (len(corpus) - 1) / max(timed.last - timed.first, 1e-9)
                emit(f"{name}_steady_clips_per_s", round(steady, 2), "clips/s")
            atlases[name] = out

        measure("local", LocalEngine(network, settings))
        if args.stages:
            stages = stage_breakdown(tmp_path / "corpus", tmp_path / "stages.atlas", network, settings)
            emit(
                "local_stage_ms_per_clip",
                {name: round(seconds / len(corpus) * 1000, 2) for name, seconds in stages.items()},
                "ms/clip",
            )

        if not args.no_pool:
            workers = args.workers or default_workers()
            emit("pool_workers", workers)
            measure("pool", PoolEngine(ModelSource(args.model), settings, workers=workers))
        if not args.no_ray:
            try:
                import ray

                from app.core.atlas.ray_engine import RayEngine
            except ImportError as err:
                emit("ray", f"not installed: {err}")
            else:
                ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
                try:
                    measure("ray", RayEngine(ModelSource(args.model), settings, actors=args.cpus))
                finally:
                    ray.shutdown()
        contents = []
        for out in atlases.values():
            with AtlasFile(out) as atlas:
                contents.append(atlas.contents())
        emit("atlases_identical", all(c == contents[0] for c in contents), "+".join(atlases))
        if not args.no_memory:
            build_corpus(tmp_path / "corpus4", 4 * args.clips, args.seconds, rate, seed=1)
            for name, folder in (("1x", "corpus"), ("4x", "corpus4")):
                out = subprocess.run(
                    [sys.executable, __file__, "--child-build", args.model, str(tmp_path / folder),
                     str(tmp_path / f"mem{name}.atlas")],
                    capture_output=True, text=True, check=True, cwd=ROOT,
                )  # fmt: skip
                emit(f"peak_rss_mb_{name}", round(float(out.stdout.split()[-1]), 1), "MB")


if __name__ == "__main__":
    main()
