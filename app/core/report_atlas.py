"""The listening report's top excerpts: per map in the report, its ``n`` strongest excerpts of a corpus atlas,
each written as the original excerpt and its auralisation (``audio/atlas/*.wav``, 16-bit), rendered by
:func:`app.core.atlas.excerpts.render_excerpt` exactly as ``aurascope atlas export`` and the window render them.

The original excerpt is written at its own level (turned down only if a float source peaks above full scale); the
feature is matched to the excerpt's loudness (BS.1770, short excerpts by their mean K-weighted power) with the gain
capped below full scale, the gain recorded beside each file. Divide it out and the samples are the export's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict

import numpy as np

from app.core.atlas.excerpts import check_model, open_clip, render_excerpt
from app.core.atlas.store import AtlasFile, AtlasMeta, ClipEntry
from app.core.atlas.topk import Hit, HitWindow
from app.core.audio import write_wav
from app.core.errors import AurascopeError, SelectionError, first_line
from app.core.loudness import apply_gain, matching_gain_db, peak_gain_db, segment_loudness_lufs
from app.core.types import DEFAULT_EXCERPTS, Method, Mode

if TYPE_CHECKING:
    from app.core.model_runtime import Model
    from app.core.sources import Network

FOLDER = "audio/atlas"


class AtlasDoc(TypedDict):
    """The atlas as ``report.json`` describes it."""

    file: str
    name: str
    model_sha256: str | None
    k: int | None
    clips: int  # scanned clips
    excerpts_per_map: int


class ExcerptDoc(HitWindow):
    """One excerpt as ``report.json`` lists it under its map: the clip, its window, and its two files (gains in dB)
    once written, or ``unavailable`` saying why not."""

    rank: int
    clip: str
    name: str
    sha256: str
    labels: list[str]
    unavailable: NotRequired[str | None]
    context_frames: NotRequired[int]
    original_wav: NotRequired[str]
    original_gain_db: NotRequired[float]
    feature_wav: NotRequired[str]
    feature_gain_db: NotRequired[float]
    feature_gain_limited: NotRequired[bool]


@dataclass(frozen=True)
class PlannedExcerpt:
    rank: int  # from 1, best first
    hit: Hit
    clip: ClipEntry


@dataclass(frozen=True)
class AtlasPlan:
    """What the report will show from the atlas, read (and checked against the model) before anything is written."""

    path: Path
    meta: AtlasMeta
    n: int
    clips: int
    excerpts: dict[tuple[int, int], list[PlannedExcerpt]]

    def doc(self) -> AtlasDoc:
        """The atlas as ``report.json`` describes it."""
        return {
            "file": str(self.path),
            "name": self.path.name,
            "model_sha256": self.meta.get("model_sha256"),
            "k": self.meta.get("k"),
            "clips": self.clips,
            "excerpts_per_map": self.n,
        }


def plan_excerpts(
    atlas_path: str | Path, model: Model | Network, refs: Iterable[tuple[int, int]], n: int = DEFAULT_EXCERPTS
) -> AtlasPlan:
    """Read the top ``n`` excerpts of each map ``refs`` names from the atlas.

    Raises :class:`~app.core.errors.AtlasError` for a file that is not an atlas or one built with another model,
    :class:`SelectionError` for ``n`` < 1.
    """
    if n < 1:
        raise SelectionError(f"excerpts per map must be at least 1, not {n}")
    with AtlasFile(atlas_path) as atlas:
        check_model(atlas, model)
        entries: dict[str, ClipEntry] = {}
        excerpts: dict[tuple[int, int], list[PlannedExcerpt]] = {}
        for layer, index in refs:
            planned = []
            for rank, hit in enumerate(atlas.hits(layer, index)[:n], start=1):
                if hit.clip not in entries:
                    entries[hit.clip] = atlas.clip(hit.clip)
                planned.append(PlannedExcerpt(rank, hit, entries[hit.clip]))
            excerpts[(layer, index)] = planned
        n_clips = sum(1 for c in atlas.clips() if c.status == "done")
        return AtlasPlan(Path(atlas_path), atlas.meta, n, n_clips, excerpts)


def write_excerpts(
    out: Path,
    plan: AtlasPlan,
    model: Model | Network,
    *,
    method: Method | str = Method.DECONVNET,
    peak: float = 0.999,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[dict[tuple[int, int], list[ExcerptDoc]], int, bool]:
    """Render and write every planned excerpt under ``out / FOLDER``, each clip loaded once.

    Returns (per map its excerpts' documents in rank order, files written, stopped by ``cancelled``). A clip that
    is gone, changed or cannot be analysed leaves its excerpts in the documents with ``unavailable`` saying why.
    Raises OSError when a file cannot be written.
    """
    from app.core.analysis import Analysis

    rate = model.front_end.sample_rate
    (out / FOLDER).mkdir(parents=True, exist_ok=True)
    by_clip: dict[str, list[tuple[tuple[int, int], PlannedExcerpt]]] = {}
    for ref, planned in plan.excerpts.items():
        for p in planned:
            by_clip.setdefault(p.hit.clip, []).append((ref, p))
    docs: dict[tuple[int, int], dict[int, ExcerptDoc]] = {ref: {} for ref in plan.excerpts}
    files = 0
    stopped = False
    for wanted in by_clip.values():
        if cancelled is not None and cancelled():
            stopped = True
            break
        try:
            entry = wanted[0][1].clip
            clip = open_clip(plan.path, entry, rate)
            analysis = Analysis(clip, model)
        except AurascopeError as err:
            for ref, p in wanted:
                docs[ref][p.rank] = _hit_doc(p, unavailable=first_line(err))
            continue
        for ref, p in wanted:
            excerpt = render_excerpt(analysis, entry, p.hit, p.rank, (Mode.CHOI,), method=method)
            doc = _hit_doc(p, unavailable=None)
            doc["context_frames"] = excerpt.renderings[0].context_frames
            stem = f"{FOLDER}/L{ref[0]}F{ref[1]}_top{p.rank:02d}"
            gain = min(0.0, peak_gain_db(excerpt.original, peak))  # only ever down: a float source above full scale
            write_wav(out / f"{stem}_original.wav", apply_gain(excerpt.original, gain), rate, subtype="pcm16")
            feature = excerpt.renderings[0].audio
            wanted_db = matching_gain_db(
                segment_loudness_lufs(feature, rate), segment_loudness_lufs(excerpt.original, rate)
            )
            feature_gain = min(wanted_db, peak_gain_db(feature, peak)) if np.any(feature) else 0.0
            write_wav(out / f"{stem}_feature.wav", apply_gain(feature, feature_gain), rate, subtype="pcm16")
            doc["original_wav"] = f"{stem}_original.wav"
            doc["original_gain_db"] = gain  # unrounded: the file's samples are the excerpt's times this
            doc["feature_wav"] = f"{stem}_feature.wav"
            doc["feature_gain_db"] = feature_gain
            doc["feature_gain_limited"] = bool(feature_gain < wanted_db - 1e-6)
            docs[ref][p.rank] = doc
            files += 2
    ordered = {ref: [by_rank[r] for r in sorted(by_rank)] for ref, by_rank in docs.items()}
    return ordered, files, stopped


def _hit_doc(p: PlannedExcerpt, *, unavailable: str | None) -> ExcerptDoc:
    hit = p.hit
    return {
        "rank": p.rank,
        "clip": p.clip.path,
        "name": Path(p.clip.path).name,
        "sha256": hit.clip,
        "labels": list(p.clip.labels),
        **hit.window_fields(),
        "unavailable": unavailable,
    }
