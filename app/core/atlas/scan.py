"""One clip through the model for the atlas: the forward pass over windows of the model's input length, and per map
of every layer each window's peak (with its time and frequency) and mean, reduced to a :class:`TopK`.

Only the forward pass runs here; deconvolution happens later, for the excerpts a listener opens.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from app.core.analysis import Analysis
from app.core.atlas.topk import DEFAULT_K, EntryFloor, Hit, TopK
from app.core.audio import Clip
from app.core.model_runtime import Model

if TYPE_CHECKING:
    from app.core.frontend import FrontEnd
    from app.core.sources import Network

#: Windows overlap by half their length: a sound cut by one window's edge lies whole inside the next.
DEFAULT_OVERLAP = 0.5
#: A network without a fixed head input length is scanned in windows of this many seconds.
DEFAULT_WINDOW_SECONDS = 3.0
#: Windows of one clip per forward pass (bounds its memory on long clips).
WINDOW_BATCH = 8


@dataclass(frozen=True)
class ScanSettings:
    """How clips are scanned: ``k`` hits kept per map, windows of ``window_frames`` input frames every
    ``hop_frames`` (``overlap`` of a window)."""

    k: int
    window_frames: int
    hop_frames: int

    @property
    def overlap(self) -> float:
        return 1.0 - self.hop_frames / self.window_frames

    @classmethod
    def for_network(
        cls, network: Model | Network, *, k: int = DEFAULT_K, overlap: float = DEFAULT_OVERLAP
    ) -> ScanSettings:
        """Windows of the network's own input length (its head's), else :data:`DEFAULT_WINDOW_SECONDS`."""
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), not {overlap}")
        fe = network.front_end
        window = network.head_input_frames or fe.n_frames(round(DEFAULT_WINDOW_SECONDS * fe.sample_rate))
        window = max(int(window), network.min_input_frames())
        hop = max(1, window - round(window * overlap))
        return cls(k=k, window_frames=window, hop_frames=hop)


def window_starts(n_frames: int, window: int, hop: int) -> list[int]:
    """First input frame of each window over a clip of ``n_frames``: every ``hop``, the last one aligned to the end;
    a clip shorter than a window is one window of its own length (never padded: silence would be a sound)."""
    if n_frames <= window:
        return [0]
    starts = list(range(0, n_frames - window + 1, hop))
    if starts[-1] + window < n_frames:
        starts.append(n_frames - window)
    return starts


def _batches(x: torch.Tensor, starts: list[int], window: int, size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
    for i in range(0, len(starts), size):
        part = starts[i : i + size]
        yield part, torch.cat([x[..., s : s + window] for s in part], dim=0)


@functools.lru_cache(maxsize=8)
def _bin_axis(fe: FrontEnd) -> tuple[np.ndarray, np.ndarray]:
    """The input bins' centre frequencies (Hz, float64) and their indices: the same for every clip of a corpus."""
    bin_hz = fe.bin_frequencies().astype(np.float64)
    bin_hz.flags.writeable = False
    index = np.arange(len(bin_hz))
    index.flags.writeable = False
    return bin_hz, index


@torch.no_grad()
def scan_clip(
    clip: Clip,
    network: Model | Network,
    settings: ScanSettings,
    *,
    device: str | None = None,
    floor: EntryFloor | None = None,
) -> TopK:
    """The clip's :class:`TopK` (at most ``settings.k`` windows per map).

    ``floor`` (the corpus's top k so far) raises each map's entry threshold: a window below its k-th best can never
    enter the corpus's top k (which only gets better), so no Hit is built for it; ties still pass.

    Raises :class:`~app.core.errors.ClipTooShortError` for a clip shorter than the network's smallest input.
    """
    analysis = Analysis(clip, network, device=device)  # checks the rate and the length, computes the input once
    fe = network.front_end
    x = analysis.input  # (1, 1, n_bins, n_frames)
    n_frames = int(x.shape[-1])
    window = min(settings.window_frames, n_frames)
    starts = window_starts(n_frames, window, settings.hop_frames)
    seconds_per_frame = fe.hop_length / fe.sample_rate
    bin_hz, bin_index = _bin_axis(fe)
    n_bins = len(bin_hz)
    out = TopK(settings.k)
    batch = WINDOW_BATCH if isinstance(network, Model) else 1  # a traced graph is recorded for one input at a time
    for n_batch, (part, xb) in enumerate(_batches(x, starts, window, batch)):
        first_batch = n_batch == 0
        record = network.forward_record(xb)
        for layer in network.layers:
            act = network.layer_output(record, layer.number)  # (B, C, H, W)
            b, c, h, w = act.shape
            flat = act.reshape(b, c, h * w)
            # the peak's place only for the candidates below: max with indices over the whole layer costs ten
            # times amax (argmax, like max, gives the first of equal peaks)
            peaks_np = flat.amax(dim=-1).double().cpu().numpy()
            # the clip's own top k bars nothing before its first batch is in (most clips are one batch)
            threshold = None if first_batch else out.threshold(layer.number, c)
            if floor is not None:
                corpus = floor.threshold(layer.number, c)
                threshold = corpus if threshold is None else np.maximum(threshold, corpus)
            if threshold is None:
                rows, maps = np.nonzero(~np.isnan(peaks_np))  # every window (as >= -inf: NaN is not one)
            else:
                rows, maps = np.nonzero(peaks_np >= threshold[None, :])  # windows that may enter some map's top k
            if rows.size == 0:
                continue  # most layers of most clips, once the corpus's top k has filled
            means = flat.mean(dim=-1)  # float32: a float64 copy of every layer costs a third of the conv time
            # every candidate's fields at once (numpy, float64 as the scalar arithmetic was), then one Hit each
            where = flat[torch.from_numpy(rows), torch.from_numpy(maps)].argmax(dim=-1)
            f_cell, t_cell = np.divmod(where.cpu().numpy(), w)
            starts_np = np.asarray(part, dtype=np.int64)[rows]
            bin_pos = np.minimum((f_cell + 0.5) * n_bins / h, n_bins - 1)  # the peak cell's centre, in input bins
            peak_times = (starts_np + (t_cell + 0.5) * window / w) * seconds_per_frame
            frequencies = np.interp(bin_pos, bin_index, bin_hz)
            hits = [
                Hit(
                    layer=layer.number,
                    map=index,
                    clip=clip.sha256,
                    start_frame=start,
                    n_frames=window,
                    start=start * seconds_per_frame,
                    end=min((start + window) * seconds_per_frame, clip.duration),
                    peak=peak,
                    peak_time=peak_time,
                    peak_frequency=frequency,
                    mean=mean,
                )
                for index, start, peak, peak_time, frequency, mean in zip(
                    maps.tolist(),
                    starts_np.tolist(),
                    peaks_np[rows, maps].tolist(),
                    peak_times.tolist(),
                    frequencies.tolist(),
                    means.cpu().numpy()[rows, maps].tolist(),
                    strict=True,
                )
            ]
            out.add(hits)
    return out
