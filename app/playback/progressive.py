"""A slot that fills while it plays: a preallocated whole-clip float32 buffer at the device rate, and per block of
``READY_BLOCK`` samples a flag saying it is written. The audio callback only reads both (see `Mixer`).

Chunks arrive at the model's rate, in any order, each with a margin of exact samples either side. Each is
resampled on its own by the app's one resampler (soxr, :func:`app.core.resampling.resample_part`) and only the
device samples that belong to the chunk are kept, so the buffer equals the soxr resampling of the whole clip (to
float rounding, < 1e-6) however the chunks were cut and in whatever order they came.

When the fill is slower than playback the mixer HOLDS: it fades the sound out at the last ready sample, keeps
the playhead there (silence, counted in ``Mixer.hold_blocks`` and shown as "preparing…"), and fades back in once
``resume`` samples ahead are ready. It never plays unready zeros as if they were the rendering, and never plays
the original in its place.
"""

from __future__ import annotations

import math

import numpy as np

from app.core import resampling
from app.core.windowing import merged

#: Device samples per ready flag.
READY_BLOCK = 256


class ProgressiveBuffer:
    """The device-rate buffer of one progressive slot.

    ``audio`` ``[shape=(ceil(n_source * device_rate / source_rate),)]`` float32, zeros until written;
    ``ready`` ``[shape=(ceil(len(audio) / READY_BLOCK),)]`` uint8, 1 once every sample of the block is written.
    """

    def __init__(self, n_source: int, source_rate: int, device_rate: int) -> None:
        if n_source <= 0 or source_rate <= 0 or device_rate <= 0:
            raise ValueError(f"need positive sizes and rates, got {n_source}, {source_rate}, {device_rate}")
        self.n_source = int(n_source)
        self.source_rate, self.device_rate = int(source_rate), int(device_rate)
        self.audio = np.zeros(self._device_index(self.n_source), dtype=np.float32)
        self.ready = np.zeros(math.ceil(self.audio.shape[0] / READY_BLOCK), dtype=np.uint8)
        self._written: list[tuple[int, int]] = []  # merged device-sample ranges
        self._source = np.zeros(self.n_source, dtype=np.float32)  # the exact samples received, at the source rate
        self._received: list[tuple[int, int]] = []  # merged source ranges in _source

    def _device_index(self, source_sample: int) -> int:
        """First device sample at or after source sample ``source_sample`` (chunks tile the device samples)."""
        return resampling.first_target_sample(source_sample, self.source_rate, self.device_rate)

    @property
    def margin_needed(self) -> int:
        """Source samples a chunk needs beyond each edge (grid alignment plus filter reach)."""
        return resampling.margin_needed(self.source_rate, self.device_rate)

    def write(self, first: int, last: int, audio: np.ndarray, padded_first: int) -> None:
        """Write source samples ``[first, last)``, given ``audio`` covering ``[padded_first, padded_first +
        len(audio))`` (margins clipped only at the clip's edges), then flag the blocks now complete."""
        audio = np.asarray(audio, dtype=np.float32)
        padded_last = padded_first + audio.shape[0]
        if not (0 <= padded_first <= first < last <= padded_last <= self.n_source):
            raise ValueError(f"chunk [{first}, {last}) not inside its audio [{padded_first}, {padded_last})")
        self._source[padded_first:padded_last] = audio
        self._received = merged(self._received, (padded_first, padded_last))
        d0, d1 = self._device_index(first), self._device_index(last)
        self.audio[d0:d1] = resampling.resample_part(
            audio, padded_first, first, last, self.n_source, self.source_rate, self.device_rate
        )
        self._mark(d0, d1)

    def retimed(self, device_rate: int) -> ProgressiveBuffer:
        """The same fill at another device rate (a device change): everything received, resampled again (less
        the margins at the inner edges of what has arrived, which the next chunks fill)."""
        new = ProgressiveBuffer(self.n_source, self.source_rate, device_rate)
        need = new.margin_needed
        for a, b in self._received:
            first = a if a == 0 else a + need
            last = b if b == self.n_source else b - need
            if last > first:
                new.write(first, last, self._source[a:b], a)
        return new

    def _mark(self, d0: int, d1: int) -> None:
        self._written = merged(self._written, (d0, d1))
        n = self.audio.shape[0]
        for block in range(d0 // READY_BLOCK, -(-d1 // READY_BLOCK)):
            b0, b1 = block * READY_BLOCK, min(n, (block + 1) * READY_BLOCK)
            if any(a <= b0 and b1 <= b for a, b in self._written):
                self.ready[block] = 1  # after the samples: the callback never sees a flag before its audio

    @property
    def complete(self) -> bool:
        return bool(self.ready.all())

    def ready_fraction(self) -> float:
        return float(self.ready.mean())
