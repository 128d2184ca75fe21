"""A map's whole-clip rendering filled window first: the part the listener hears now, then the rest in chunks.

:class:`ProgressiveRendering` holds a preallocated whole-clip float32 buffer and the order its chunks are made
in: the first window (e.g. 10 s from the playhead, or the loop region), then onwards to the clip's end, then
from the clip's start up to the window (the listener plays on from where they are; a wrap comes last). Each
chunk is an exact window rendering (:meth:`~app.core.analysis.Analysis.render_window`), so the filled buffer
equals the whole clip's rendering to float rounding, whatever the order the chunks came in.

Every chunk is computed over its range plus ``margin`` samples each side (exact too), so a player that resamples
chunk by chunk can produce, inside the chunk, the same samples a resampling of the whole clip would.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.core.methods import Method
from app.core.resynth import Mode
from app.core.windowing import Interval, merged

#: Seconds per background chunk: long enough that its crop's context (a few seconds at layer 5) is small beside
#: it, short enough that a new click waits for at most one chunk.
CHUNK_SECONDS = 8.0
#: Seconds of the first window (from the playhead) when there is no loop region: its cost is the click-to-sound
#: time (~370 ms of CPU at 5 s on choi2015 layer 3, so 3 s to stay near 150 ms on 2 cores); the next chunk
#: is made while these play.
FIRST_WINDOW_SECONDS = 3.0
#: Exact samples computed beyond each chunk's edges for a chunk-by-chunk resampler (see app.playback).
RESAMPLE_MARGIN = 512


@dataclass(frozen=True)
class Chunk:
    """Samples ``[first, last)`` of a map's rendering, computed with ``audio`` covering
    ``[first - before, last + after)`` (the margins, exact too, clipped at the clip's edges)."""

    first: int
    last: int
    audio: np.ndarray
    before: int
    seconds: float

    @property
    def padded_first(self) -> int:
        return self.first - self.before


def chunk_order(n_samples: int, window: Interval, chunk: int) -> list[Interval]:
    """The order a clip of ``n_samples`` is filled in: ``window`` first, then chunks to the end, then from 0 up
    to the window. The chunks after the window start as long as the window and double up to ``chunk`` samples:
    each must be made while the audio before it plays, so the first ones are short."""
    first, last = max(0, window[0]), min(n_samples, window[1])
    if last <= first:
        raise ValueError(f"empty first window {window} in a clip of {n_samples} samples")
    order = [(first, last)]
    size, a = min(chunk, last - first), last
    while a < n_samples:
        order.append((a, min(a + size, n_samples)))
        a, size = a + size, min(chunk, 2 * size)
    order += [(a, min(a + chunk, first)) for a in range(0, first, chunk)]
    return order


class ProgressiveRendering:
    """One map (``layer``, ``index``) in one ``mode``, filled chunk by chunk into ``audio`` ``[shape=(n,)]``
    float32 at ``sample_rate``. Not thread-safe for two writers; readers may read ``audio`` and ``filled`` at
    any time (a chunk's samples are written before it counts as filled)."""

    def __init__(
        self,
        layer: int,
        index: int,
        n_samples: int,
        sample_rate: int,
        window: Interval,
        *,
        mode: Mode = Mode.CHOI,
        method: Method = Method.DECONVNET,
        chunk_seconds: float = CHUNK_SECONDS,
    ) -> None:
        self.layer, self.index = int(layer), int(index)
        self.mode, self.method = Mode(mode), Method(method)
        self.sample_rate = int(sample_rate)
        self.audio = np.zeros(int(n_samples), dtype=np.float32)
        self._order = chunk_order(int(n_samples), window, max(1, round(chunk_seconds * sample_rate)))
        self._next = 0
        self._filled: list[Interval] = []
        self._lock = threading.Lock()
        self.seconds = 0.0  # compute time spent so far
        # the display arrays, frame by frame as chunks come (allocated at the first chunk)
        self.deconv: np.ndarray | None = None  # (n_bins, n_frames)
        self.spectrogram_db: np.ndarray | None = None  # (n_freq, n_frames)
        self.frames_written: np.ndarray | None = None  # (n_frames,) bool

    @property
    def n_samples(self) -> int:
        return int(self.audio.shape[0])

    @property
    def window(self) -> Interval:
        return self._order[0]

    def pending(self) -> Sequence[Interval]:
        """Chunks not made yet, in the order they will be."""
        return self._order[self._next :]

    @property
    def complete(self) -> bool:
        return self._next >= len(self._order)

    @property
    def filled(self) -> list[Interval]:
        """Merged sample ranges already in ``audio``."""
        with self._lock:
            return list(self._filled)

    def filled_fraction(self) -> float:
        return sum(b - a for a, b in self.filled) / max(1, self.n_samples)

    def ready_from(self, sample: int) -> int:
        """Samples ready from ``sample`` on (0 if ``sample`` itself is not filled)."""
        for a, b in self.filled:
            if a <= sample < b:
                return b - sample
        return 0

    def fill_next(self, analysis: object, margin: int = RESAMPLE_MARGIN) -> Chunk | None:
        """Render the next chunk with ``analysis`` (an :class:`~app.core.analysis.Analysis` of the clip) and
        write it into ``audio``; None when complete."""
        if self.complete:
            return None
        first, last = self._order[self._next]
        a, b = max(0, first - margin), min(self.n_samples, last + margin)
        (rendering,) = analysis.render_window(  # type: ignore[attr-defined]
            self.layer, [self.index], a, b, (self.mode,), method=self.method
        )
        self.audio[first:last] = rendering.audio[first - a : last - a]
        if self.deconv is None:
            n_frames = analysis.n_frames  # type: ignore[attr-defined]
            # zeros, not a -120 dB fill: calloc'd pages cost nothing until a chunk writes them, where np.full
            # wrote 40 MB at the first click on a 10-minute clip (~150 ms); unwritten frames get -120 dB at the end
            self.deconv = np.zeros((rendering.deconv.shape[0], n_frames), dtype=np.float32)
            self.spectrogram_db = np.zeros((rendering.spectrogram_db.shape[0], n_frames), dtype=np.float32)
            self.frames_written = np.zeros(n_frames, dtype=bool)
        cols = slice(rendering.first_frame, rendering.first_frame + rendering.deconv.shape[1])
        self.deconv[:, cols] = rendering.deconv  # every frame of a window is exact: overlaps agree
        self.spectrogram_db[:, cols] = rendering.spectrogram_db
        self.frames_written[cols] = True
        with self._lock:
            self._filled = merged(self._filled, (first, last))
            self._next += 1
        self.seconds += rendering.seconds
        return Chunk(first, last, rendering.audio, first - a, rendering.seconds)


def whole_rendering(fill: ProgressiveRendering, analysis: object):
    """The complete fill as the whole clip's :class:`~app.core.analysis.Rendering` (its activation map from
    the chunked forward pass, its loudness measured on the whole audio)."""
    from app.core.analysis import Rendering
    from app.core.resynth import loudness_lufs
    from app.core.types import FeatureRef

    if not fill.complete or fill.deconv is None or fill.spectrogram_db is None:
        raise ValueError("the rendering is not complete yet")
    ref = FeatureRef(fill.layer, fill.index)
    if fill.frames_written is not None and not fill.frames_written.all():
        fill.spectrogram_db[:, ~fill.frames_written] = -120.0  # no chunk's frame (none expected: they tile)
    activation = analysis.activation(ref).cpu().numpy()  # type: ignore[attr-defined]
    return Rendering(
        ref=ref,
        mode=fill.mode,
        audio=fill.audio,
        sample_rate=fill.sample_rate,
        spectrogram_db=fill.spectrogram_db,
        deconv=fill.deconv,
        activation=activation,
        loudness_lufs=loudness_lufs(fill.audio, fill.sample_rate),
        reference_lufs=analysis.reference_lufs,  # type: ignore[attr-defined]
        seconds=fill.seconds,
        method=fill.method,
    )
