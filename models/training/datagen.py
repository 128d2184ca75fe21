"""Labelled training audio rendered from procedurally composed MIDI with FluidSynth.

Two tasks:

- genre-like styles (`STYLES`): `ClipRenderer.render_style`, `style_dataset` -> integer labels;
- instrument mixtures (`TAGS`): `ClipRenderer.render_mixture`, `mixture_dataset` -> multi-hot labels.

A clip is a function of (task, seed, duration, sample rate, soundfont) only: one FluidSynth stays loaded and
is brought to the same state before every clip (see `models.training.midisynth`), so the same seed gives
bit-identical samples in any order and in any worker process. Clips start at a random point of their first
bar, are mixed from per-part stems in a seeded synthetic room, and leave at an RMS of -26..-16 dBFS with
peaks at most 0.98. A draw that comes out near-silent (mix or any part below -60 dBFS RMS, or less than
half the clip sounding) is re-drawn from a seed derived from the original.

Render a cache for training::

    python -m models.training.datagen /tmp/styles.npz --task styles --n 200 --sample-rate 11025
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import TracebackType

import numpy as np

from models.training.arrangement import Arrangement
from models.training.midisynth import FLUIDR3, MUSESCORE, MidiSynth, SoundfontMissingError, require_soundfont
from models.training.mixing import SILENCE_DB, mix_stems, rms_db
from models.training.mixtures import TAGS, compose_mixture
from models.training.styles import COMPOSERS, STYLES_WITH_DRUMS

__all__ = [
    "FLUIDR3",
    "MUSESCORE",
    "STYLES",
    "STYLES_WITH_DRUMS",
    "TAGS",
    "ClipRenderer",
    "SilentClipError",
    "SoundfontMissingError",
    "mixture_dataset",
    "style_dataset",
]

STYLES: tuple[str, ...] = tuple(COMPOSERS)
MAX_ATTEMPTS = 8
LEVEL_DB = (-26.0, -16.0)
_MIXTURE_DOMAIN = 1000  # keeps mixture seeds apart from style seeds


class SilentClipError(RuntimeError):
    """Every re-draw of a clip came out near-silent (should not happen with the bundled styles)."""


class ClipRenderer:
    """Renders style clips and instrument mixtures with one persistent FluidSynth.

    `soundfont`: an .sf2/.sf3 file (`FLUIDR3`, `MUSESCORE` or your own); `sample_rate` [Hz] of the clips.
    """

    def __init__(self, soundfont: str | Path, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)
        self._synth = MidiSynth(soundfont, self.sample_rate)

    def close(self) -> None:
        self._synth.close()

    def __enter__(self) -> ClipRenderer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def render_style(self, style: str, seed: int, duration: float) -> np.ndarray:
        """A clip of `style` [shape=(round(duration * sample_rate),)] float32 mono, `duration` in s."""
        if style not in COMPOSERS:
            raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
        domain = STYLES.index(style)
        for attempt in range(MAX_ATTEMPTS):
            rng = np.random.default_rng([seed, domain, attempt])
            audio = self.render_arrangement(COMPOSERS[style](rng, duration), rng, duration)
            if audio is not None:
                return audio
        raise SilentClipError(f"style {style!r}, seed {seed}: {MAX_ATTEMPTS} draws were all near-silent")

    def render_mixture(self, seed: int, duration: float) -> tuple[np.ndarray, frozenset[str]]:
        """A mixture of 1-4 instruments and the set of `TAGS` it contains; audio as in `render_style`."""
        for attempt in range(MAX_ATTEMPTS):
            rng = np.random.default_rng([seed, _MIXTURE_DOMAIN, attempt])
            arrangement, tags = compose_mixture(rng, duration)
            audio = self.render_arrangement(arrangement, rng, duration)
            if audio is not None:
                return audio, tags
        raise SilentClipError(f"mixture seed {seed}: {MAX_ATTEMPTS} draws were all near-silent")

    def render_arrangement(
        self, arrangement: Arrangement, rng: np.random.Generator, duration: float
    ) -> np.ndarray | None:
        """Render and mix an arrangement from a random point of its first bar; None if near-silent."""
        n = round(duration * self.sample_rate)
        score = arrangement.score
        beats_per_bar = score.time_signature_changes[0].numerator if score.time_signature_changes else 4
        bar = beats_per_bar * 60.0 / score.get_tempo_changes()[1][0]
        slack = max(0.0, score.get_end_time() - duration)
        start = float(rng.uniform(0.0, min(bar, slack))) if slack > 0 else 0.0
        stems = self._synth.render(score, n, start=start)
        if not _audible(stems, self.sample_rate):
            return None
        return mix_stems(
            stems,
            arrangement.gains_db,
            self.sample_rate,
            rng,
            rt60=arrangement.rt60,
            wet_db=arrangement.wet_db,
            level_db=float(rng.uniform(*LEVEL_DB)),
        )


def _audible(stems: np.ndarray, sample_rate: int) -> bool:
    """Every part above `SILENCE_DB` RMS and the mix sounding (within 40 dB of its peak) half the time."""
    if any(rms_db(stem) < SILENCE_DB for stem in stems):
        return False
    mix = stems.sum(axis=0)
    hop = sample_rate // 10
    frames = np.mean(np.square(mix[: len(mix) // hop * hop].reshape(-1, hop), dtype=np.float64), axis=1)
    return bool(frames.size) and float(np.mean(frames > frames.max() * 1e-4)) >= 0.5


def clip_seed(seed: int, label: int, index: int) -> int:
    """The seed of clip `index` of class `label` in a dataset drawn with `seed` (independent streams)."""
    return int(np.random.SeedSequence([seed, label, index]).generate_state(1)[0])


# -- datasets -------------------------------------------------------------------------------------------
_worker: ClipRenderer | None = None


def _start_worker(soundfont: str, sample_rate: int) -> None:
    global _worker
    _worker = ClipRenderer(soundfont, sample_rate)


def _render_job(job: tuple[str, int, int, float]) -> tuple[np.ndarray, np.ndarray]:
    task, label, seed, duration = job
    assert _worker is not None
    if task == "style":
        return _worker.render_style(STYLES[label], seed, duration), np.int64(label)
    audio, tags = _worker.render_mixture(seed, duration)
    return audio, np.array([tag in tags for tag in TAGS], np.float32)


def _run_jobs(
    jobs: list[tuple[str, int, int, float]],
    soundfont: str | Path,
    sample_rate: int,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    soundfont = str(require_soundfont(soundfont))
    if workers <= 1:
        _start_worker(soundfont, sample_rate)
        results = map(_render_job, jobs)
    else:
        # spawn, not fork: the parent may hold torch/OpenMP threads that a forked child would inherit.
        pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(soundfont, sample_rate),
        )
        results = pool.map(_render_job, jobs, chunksize=8)
    try:
        for done, result in enumerate(results, 1):
            if progress is not None:
                progress(done, len(jobs))
            yield result
    finally:
        if workers > 1:
            pool.shutdown(cancel_futures=True)
        elif _worker is not None:
            _worker.close()


def style_dataset(
    n_per_style: int,
    seed: int,
    soundfont: str | Path,
    sample_rate: int,
    duration: float,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`n_per_style` clips of every style, grouped by style in `STYLES` order.

    Returns audio float32 [shape=(n, round(duration * sample_rate))] and labels int64 [shape=(n,)] indexing
    `STYLES`. Identical for any `workers` (processes); `progress(done, total)` is called after each clip.
    """
    jobs = [
        ("style", label, clip_seed(seed, label, i), duration)
        for label in range(len(STYLES))
        for i in range(n_per_style)
    ]
    return _stack(
        _run_jobs(jobs, soundfont, sample_rate, workers, progress), len(jobs), sample_rate, duration, np.int64, ()
    )


def mixture_dataset(
    n: int,
    seed: int,
    soundfont: str | Path,
    sample_rate: int,
    duration: float,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`n` instrument mixtures: audio float32 [shape=(n, samples)] and multi-hot float32 labels
    [shape=(n, len(TAGS))]."""
    jobs = [("mixture", 0, clip_seed(seed, _MIXTURE_DOMAIN, i), duration) for i in range(n)]
    return _stack(
        _run_jobs(jobs, soundfont, sample_rate, workers, progress), n, sample_rate, duration, np.float32, (len(TAGS),)
    )


def _stack(
    results: Iterator[tuple[np.ndarray, np.ndarray]],
    n: int,
    sample_rate: int,
    duration: float,
    label_dtype: type,
    label_shape: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    audio = np.zeros((n, round(duration * sample_rate)), np.float32)
    labels = np.zeros((n, *label_shape), label_dtype)
    for i, (clip, label) in enumerate(results):
        audio[i] = clip
        labels[i] = label
    return audio, labels


# -- command line ---------------------------------------------------------------------------------------
def _progress_line(started: float) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-9)
        eta = (total - done) / rate
        end = "\n" if done == total else ""
        print(
            f"\rrendered {done}/{total} clips, {rate:.1f} clips/s, ETA {eta:.0f} s ",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.training.datagen", description=__doc__.split("\n")[0])
    parser.add_argument("output", type=Path, help="the .npz cache to write (audio, labels, names, settings)")
    parser.add_argument("--task", choices=["styles", "mixtures"], default="styles")
    parser.add_argument("--n", type=int, default=100, help="clips per style, or mixtures in all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-rate", type=int, default=11025)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per clip")
    parser.add_argument("--soundfont", default="fluidr3", help="fluidr3, musescore or a path to an .sf2/.sf3")
    parser.add_argument("--workers", type=int, default=1, help="rendering processes")
    args = parser.parse_args(argv)
    soundfont = {"fluidr3": FLUIDR3, "musescore": MUSESCORE}.get(args.soundfont, Path(args.soundfont))
    try:
        require_soundfont(soundfont)
    except SoundfontMissingError as error:
        parser.exit(2, f"error: {error}\n")
    started = time.perf_counter()
    build = style_dataset if args.task == "styles" else mixture_dataset
    audio, labels = build(
        args.n,
        args.seed,
        soundfont,
        args.sample_rate,
        args.duration,
        workers=args.workers,
        progress=_progress_line(started),
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        args.output,
        audio=audio,
        labels=labels,
        names=np.array(STYLES if args.task == "styles" else TAGS),
        sample_rate=args.sample_rate,
        duration=args.duration,
        seed=args.seed,
        soundfont=str(soundfont),
    )
    print(
        f"wrote {args.output}: audio {audio.shape}, labels {labels.shape}, {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
