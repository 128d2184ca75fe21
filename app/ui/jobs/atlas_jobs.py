"""What the worker runs for the Top excerpts panel: open a corpus atlas, list a map's excerpts, render one. No Qt.

Runs on the compute worker only (`app.ui.controller.Controller` submits these); torch and the core modules that
import it are imported inside the functions. Each job opens its own connection to the atlas (SQLite connections
belong to the thread that made them), so the GUI never holds one. The GUI receives the frozen values below.
These are interactive, newest-wins jobs like a map's rendering (a click waits for them), so they report through
the controller's typed signals, not a `JobHandle` with progress and cancel as the long jobs here do.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.errors import AtlasError
from app.core.loudness import Level
from app.core.types import FeatureRef, Method, Mode

if TYPE_CHECKING:  # app.core.atlas's package imports torch: the GUI thread only names its values
    from app.core.analysis import Analysis
    from app.core.atlas.store import ClipEntry
    from app.core.atlas.tags import CorpusTag
    from app.core.atlas.topk import Hit
    from app.core.model import Model
    from app.core.sources import Network


@dataclass(frozen=True)
class AtlasSummary:
    """An open atlas as the window shows it: the file (its SHA-256 and size in bytes), the model it was built with,
    how many clips it holds (``skipped`` of them unreadable), ``k`` excerpts per map, and how many of the scanned
    clips carry each corpus label (for each map's over-represented labels)."""

    path: Path
    sha256: str
    size: int
    model_sha256: str
    model_name: str
    k: int
    clips: int
    skipped: int
    label_counts: tuple[tuple[str, int], ...] = ()

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def labelled(self) -> bool:
        return bool(self.label_counts)


@dataclass(frozen=True)
class Excerpt:
    """One of a map's top excerpts: ``rank`` from 1, the clip (``found`` False when its file is gone) with its
    corpus labels, and the atlas's hit (window start/end, peak, the peak's time and frequency, mean)."""

    ref: FeatureRef
    rank: int
    clip_path: Path
    labels: tuple[str, ...]
    hit: Hit
    found: bool = True

    @property
    def clip_sha256(self) -> str:
        return self.hit.clip

    @property
    def name(self) -> str:
        return self.clip_path.name

    @property
    def start_s(self) -> float:
        return self.hit.start

    @property
    def end_s(self) -> float:
        return self.hit.end

    @property
    def key(self) -> tuple[FeatureRef, str, int]:
        """Which excerpt this is, whatever its rank: map, clip, window start frame."""
        return (self.ref, self.hit.clip, self.hit.start_frame)


@dataclass(frozen=True)
class Listing:
    """A map's excerpts, best first, and the corpus labels over-represented among their clips (`CorpusTag`, best
    first; empty for a corpus without labels) — what ``aurascope atlas tags`` says of that map."""

    ref: FeatureRef
    excerpts: tuple[Excerpt, ...]
    tags: tuple[CorpusTag, ...] = ()


@dataclass(frozen=True)
class ExcerptAudio:
    """An excerpt made audible: ``original`` and ``feature`` (the map's auralisation of the excerpt, computed on it
    with its context, as `aurascope atlas export` writes it), float32 mono ``[shape=(n,)]`` at ``device_rate``, with
    their levels as played (BS.1770 loudness and sample peak at the device rate); ``seconds`` on the worker."""

    excerpt: Excerpt
    mode: Mode
    method: Method
    original: np.ndarray
    feature: np.ndarray
    device_rate: int
    original_level: Level
    feature_level: Level
    seconds: float


def open_atlas(path: str | Path, model: Model | Network | None) -> AtlasSummary:
    """Open and describe the atlas at ``path``, hashing it; :class:`AtlasError` when it is not an atlas, or when it
    was built with another model than ``model`` (the open network; None: no model open yet)."""
    from app.core.atlas.excerpts import check_model
    from app.core.atlas.store import AtlasFile
    from app.core.atlas.tags import label_counts
    from app.core.audio import file_sha256

    path = Path(path).resolve()
    with AtlasFile(path) as atlas:
        if model is not None:  # the hits are another network's peaks: listing them under this one's would mislead
            check_model(atlas, model)
        meta = atlas.meta
        clips = atlas.clips()
    try:
        sha, size = file_sha256(path), path.stat().st_size
    except OSError as err:
        raise AtlasError(path, f"cannot read it ({err.strerror or err})") from None
    return AtlasSummary(
        path=path,
        sha256=sha,
        size=size,
        model_sha256=str(meta.get("model_sha256") or ""),
        model_name=str(meta.get("model_name") or "?"),
        k=int(meta.get("k", 0)),
        clips=sum(c.status == "done" for c in clips),
        skipped=sum(c.status == "skipped" for c in clips),
        label_counts=tuple(sorted(label_counts(c.labels for c in clips if c.status == "done").items())),
    )


def list_excerpts(
    atlas: AtlasSummary,
    ref: FeatureRef,
    *,
    alpha: float = 0.05,
    on_excerpt: Callable[[Excerpt], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Listing:
    """Map ``ref``'s excerpts in ``atlas``, best first, each handed to ``on_excerpt`` as it is read (the panel fills
    row by row), then the labels over-represented among their clips at p <= ``alpha``. Empty when cancelled."""
    from app.core.atlas.store import AtlasFile
    from app.core.atlas.tags import map_tags

    out: list[Excerpt] = []
    with AtlasFile(atlas.path) as db:
        for rank, hit in enumerate(db.hits(ref.layer, ref.index), start=1):
            if cancelled():
                return Listing(ref, ())
            entry = db.clip(hit.clip)
            clip_path = Path(entry.path)
            excerpt = Excerpt(ref, rank, clip_path, tuple(entry.labels), hit, clip_path.is_file())
            out.append(excerpt)
            if on_excerpt is not None:
                on_excerpt(excerpt)
    tags: list[CorpusTag] = []
    if atlas.label_counts and out:
        top_labels = {e.clip_sha256: set(e.labels) for e in out}  # a clip with several top windows counts once
        counts = dict(atlas.label_counts)
        tags = map_tags(ref.layer, ref.index, list(top_labels.values()), counts, atlas.clips, alpha)
    return Listing(ref, tuple(out), tuple(tags))


class ExcerptClips:
    """The clips last opened for excerpts, with their analyses (the worker's only): a map's excerpts often come from
    one clip, and loading, hashing and analysing it again is most of an excerpt's rendering (measured: 1.0 + 0.6 s
    of 2.2 s on a 46 s song with choi2015-genre). A clip whose file changed size or time is opened (and checked
    against the atlas's hash) again."""

    def __init__(self, model: Model | Network, keep: int = 2) -> None:
        self.model = model
        self.keep = keep
        self._kept: OrderedDict[str, tuple[tuple[int, int], Analysis]] = OrderedDict()  # sha256 -> (stamp, analysis)

    def analysis(self, atlas_path: str | Path, entry: ClipEntry) -> Analysis:
        """The `Analysis` of the atlas's clip ``entry``."""
        from app.core.analysis import Analysis
        from app.core.atlas.excerpts import open_clip

        try:
            stat = Path(entry.path).stat()
            stamp = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            stamp = (-1, -1)  # gone: open_clip says so
        kept = self._kept.get(entry.sha256)
        if kept is not None and kept[0] == stamp:
            self._kept.move_to_end(entry.sha256)
            return kept[1]
        analysis = Analysis(open_clip(atlas_path, entry, self.model.front_end.sample_rate), self.model)
        self._kept[entry.sha256] = (stamp, analysis)
        while len(self._kept) > self.keep:
            self._kept.popitem(last=False)
        return analysis

    def __len__(self) -> int:
        return len(self._kept)


def render_excerpt(
    clips: ExcerptClips, atlas_path: str | Path, excerpt: Excerpt, mode: Mode, method: Method, device_rate: int
) -> ExcerptAudio:
    """The excerpt's original and its auralisation by the map in ``mode`` with ``method``, both at ``device_rate``:
    the core's one `render_excerpt` (the crop with its context), whose samples `atlas export` and the report write;
    the clip's analysis from ``clips`` (its network is the one rendering).

    Raises :class:`AudioLoadError` for a clip that cannot be read and :class:`AtlasError` for one that changed
    since the atlas was built (its SHA-256 differs)."""
    from app.core.atlas.excerpts import render_excerpt as render
    from app.core.atlas.store import ClipEntry
    from app.core.resampling import resample

    started = time.perf_counter()
    rate = clips.model.front_end.sample_rate
    entry = ClipEntry(str(excerpt.clip_path), excerpt.clip_sha256, None, excerpt.labels, "done")
    analysis = clips.analysis(atlas_path, entry)
    made = render(analysis, entry, excerpt.hit, excerpt.rank, [Mode(mode)], method=method)
    original = resample(made.original, rate, device_rate)
    feature = resample(made.renderings[0].audio, rate, device_rate)
    return ExcerptAudio(
        excerpt=excerpt,
        mode=Mode(mode),
        method=Method(method),
        original=original,
        feature=feature,
        device_rate=int(device_rate),
        original_level=Level.of(original, device_rate),
        feature_level=Level.of(feature, device_rate),
        seconds=time.perf_counter() - started,
    )
