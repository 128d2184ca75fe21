"""The atlas's reduction: per feature map, the k strongest windows of a corpus, mergeable in any order.

A :class:`TopK` is the k best :class:`Hit` per map under one total order (peak, then clip hash, then start frame),
so merging parts is taking the top k of their union: associative, commutative and idempotent, whatever the order
the clips were seen in, and its size is at most ``k`` hits per map whatever the size of the corpus.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, TypedDict

import numpy as np

from app.core.types import FeatureRef

DEFAULT_K = 16


class HitWindow(TypedDict):
    """A hit's window in seconds and the map's activation in it (peak at a time and frequency, mean)."""

    start_s: float
    end_s: float
    peak: float
    peak_time_s: float
    peak_frequency_hz: float
    mean: float


@dataclass(frozen=True)
class Hit:
    """One window of one clip as seen by one map.

    ``start_frame``/``n_frames``: the window in input frames; ``start``/``end`` the same in seconds (``end`` clamped
    to the clip); ``peak`` the map's largest activation in the window, at ``peak_time`` seconds of the clip and
    ``peak_frequency`` Hz (centre of the peak cell's span); ``mean`` the map's mean activation over the window.
    """

    layer: int
    map: int
    clip: str  # the clip's SHA-256
    start_frame: int
    n_frames: int
    start: float
    end: float
    peak: float
    peak_time: float
    peak_frequency: float
    mean: float

    @property
    def ref(self) -> FeatureRef:
        return FeatureRef(self.layer, self.map)

    def window_fields(self) -> HitWindow:
        """The window and what the map does in it, as every listing of a hit names them (JSON, sidecars, report)."""
        return {
            "start_s": self.start,
            "end_s": self.end,
            "peak": self.peak,
            "peak_time_s": self.peak_time,
            "peak_frequency_hz": self.peak_frequency,
            "mean": self.mean,
        }

    @property
    def order(self) -> tuple[float, str, int]:
        """Sort key, best first: a total order, so the top k of any union is one answer."""
        return (-self.peak, self.clip, self.start_frame)


class EntryFloor(Protocol):
    """What a scan needs of the corpus's top k so far: each map's entry threshold (a :class:`TopK`, or its
    :class:`FloorSnapshot` sent to another process)."""

    def threshold(self, layer: int, n_maps: int) -> np.ndarray: ...


@dataclass(frozen=True)
class FloorSnapshot:
    """A :class:`TopK`'s entry thresholds at one moment: per layer ``[shape=(maps,)]``, -inf for a map not yet full.
    Small and picklable (a pool worker gets one with each clip); a stale one is only lower than the live one (the
    top k only gets better), so it skips less but never a window that could enter."""

    thresholds: Mapping[int, np.ndarray]

    def threshold(self, layer: int, n_maps: int) -> np.ndarray:
        out = np.full(n_maps, -np.inf)
        known = self.thresholds.get(layer)
        if known is not None:
            m = min(len(known), n_maps)
            out[:m] = known[:m]
        return out


class TopK:
    """Per map, the ``k`` best hits seen so far (a mergeable summary of a corpus under a model)."""

    def __init__(self, k: int = DEFAULT_K) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        self.k = k
        self._maps: dict[tuple[int, int], list[Hit]] = {}
        # per layer, each map's entry threshold (see `threshold`), kept up to date by `add` once asked for
        self._thresholds: dict[int, np.ndarray] = {}
        # per map, the (clip, start frame) windows it holds: a window offered again is known at once
        self._windows: dict[tuple[int, int], set[tuple[str, int]]] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TopK) and self.k == other.k and self._maps == other._maps

    def __repr__(self) -> str:
        return f"TopK(k={self.k}, maps={len(self._maps)}, hits={self.n_hits})"

    @property
    def n_hits(self) -> int:
        return sum(len(hits) for hits in self._maps.values())

    def maps(self) -> list[tuple[int, int]]:
        """The ``(layer, map)`` pairs with at least one hit, sorted."""
        return sorted(self._maps)

    def hits(self, layer: int, index: int) -> list[Hit]:
        """Map ``(layer, index)``'s hits, best first."""
        return list(self._maps.get((layer, index), []))

    def __iter__(self) -> Iterator[Hit]:
        for key in sorted(self._maps):
            yield from self._maps[key]

    def threshold(self, layer: int, n_maps: int) -> np.ndarray:
        """``[shape=(n_maps,)]`` the peak a new window of each map of ``layer`` must reach to enter (-inf while a
        map holds fewer than k hits): the scan skips the rest without building a Hit. A read-only view, kept up to
        date by `add` (the scan asks once per layer and window batch: no loop over the maps each time)."""
        cached = self._thresholds.get(layer)
        if cached is None or len(cached) != n_maps:
            cached = np.full(n_maps, -np.inf)
            for index in range(n_maps) if self._maps else ():  # a fresh summary (a clip's own) lets all in
                hits = self._maps.get((layer, index))
                if hits is not None and len(hits) >= self.k:
                    cached[index] = hits[-1].peak
            self._thresholds[layer] = cached
        view = cached.view()
        view.flags.writeable = False
        return view

    def snapshot(self) -> FloorSnapshot:
        """The entry thresholds as they are now, for every layer with a full map."""
        full: dict[int, dict[int, float]] = {}
        for (layer, index), hits in self._maps.items():
            if len(hits) >= self.k:
                full.setdefault(layer, {})[index] = hits[-1].peak
        thresholds = {}
        for layer, peaks in full.items():
            row = np.full(max(peaks) + 1, -np.inf)
            row[list(peaks)] = list(peaks.values())
            thresholds[layer] = row
        return FloorSnapshot(thresholds)

    def add(self, hits: Iterable[Hit]) -> set[tuple[int, int]]:
        """Offer hits; returns the maps whose top k changed."""
        by_map: dict[tuple[int, int], list[Hit]] = {}
        for hit in hits:
            by_map.setdefault((hit.layer, hit.map), []).append(hit)
        changed = set()
        for key, new in by_map.items():
            best = self._offer(key, new)
            if best is None:
                continue
            self._maps[key] = best
            changed.add(key)
            thresholds = self._thresholds.get(key[0])
            if thresholds is not None and key[1] < len(thresholds):
                thresholds[key[1]] = best[-1].peak if len(best) >= self.k else -np.inf
        return changed

    def _offer(self, key: tuple[int, int], new: list[Hit]) -> list[Hit] | None:
        """Map ``key``'s hits with ``new`` offered in turn (None when none enters): the k best of their union, one
        hit per (clip, window), the first offered kept (the same window offered twice, a clip in two parts, counts
        once). Each hit is inserted where it belongs (no sort of the whole list); a hit a full list already beats
        is dropped at once (the order is total, so it could never enter)."""
        old = self._maps.get(key)
        if old is None and len(new) == 1:  # a map's first hit (every map of a clip's own summary)
            self._windows[key] = {(new[0].clip, new[0].start_frame)}
            return new
        old = old or []
        held = self._windows.get(key, set())  # old's windows
        best: list[Hit] | None = None
        windows: set[tuple[str, int]] = held
        entered: set[tuple[str, int]] = set()  # windows this call let in (one may be pushed out again by the next)
        for hit in new:
            current = old if best is None else best
            if len(current) >= self.k and hit.order >= current[-1].order:
                continue
            window = (hit.clip, hit.start_frame)
            if window in held or window in entered:
                continue
            if best is None:  # the first hit in: copy (the old list and set may be someone's view)
                best, windows = list(old), set(held)
            entered.add(window)
            windows.add(window)
            bisect.insort(best, hit, key=_ORDER)
            if len(best) > self.k:
                out = best.pop()
                windows.discard((out.clip, out.start_frame))
        if best is not None:
            self._windows[key] = windows
        return best

    def merge(self, other: TopK) -> TopK:
        """A new summary of both parts (neither is changed); ``k`` is the smaller of the two."""
        out = TopK(min(self.k, other.k))
        out.add(self)
        out.add(other)
        return out

    def update(self, other: TopK) -> set[tuple[int, int]]:
        """Merge ``other`` into this one in place; returns the maps whose top k changed."""
        return self.add(other)


_ORDER = operator.attrgetter("order")  # a sort key without a Python frame of its own
