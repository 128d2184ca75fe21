"""A map's top excerpts as audio: each excerpt's original and its auralisation, computed on the excerpt with its
context (the exact windowed rendering the window plays), never on the whole clip.

One rendering for every consumer: ``aurascope atlas export`` (:func:`export_excerpts`) and the listening report's
top excerpts (:mod:`app.core.report`) both take their samples from :func:`render_excerpt`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.analysis import Analysis, WindowRendering
from app.core.atlas.store import AtlasFile, ClipEntry
from app.core.atlas.topk import Hit, HitWindow
from app.core.audio import Clip, load_audio, write_wav
from app.core.errors import AtlasError
from app.core.types import FeatureRef, Method, Mode

if TYPE_CHECKING:
    from app.core.model_runtime import Model
    from app.core.sources import Network


class ExcerptSidecar(HitWindow):
    """Where an exported excerpt comes from, as its WAV's ``.json`` sidecar records it (with the mode and format)."""

    atlas: str
    clip: str
    clip_sha256: str
    layer: int
    feature: int
    rank: int


@dataclass(frozen=True, eq=False)
class Excerpt:
    """One top excerpt made audible: ``original`` ``[shape=(n,)]`` float32, samples ``[first, first + n)`` of the
    clip at ``sample_rate``, and one :class:`WindowRendering` per mode over the same samples."""

    rank: int  # from 1, best first
    hit: Hit
    clip: ClipEntry
    first: int
    original: np.ndarray
    sample_rate: int
    renderings: tuple[WindowRendering, ...]

    def sidecar(self, atlas: AtlasFile) -> ExcerptSidecar:
        """What a WAV of this excerpt records beside it (as ``atlas export`` writes)."""
        hit = self.hit
        return {
            "atlas": str(atlas.path),
            "clip": self.clip.path,
            "clip_sha256": hit.clip,
            "layer": hit.layer,
            "feature": hit.map,
            "rank": self.rank,
            **hit.window_fields(),
        }


def excerpt_samples(hit: Hit, sample_rate: int, n_samples: int) -> tuple[int, int]:
    """Samples ``[first, last)`` of the clip the hit's window covers."""
    return max(0, round(hit.start * sample_rate)), min(n_samples, round(hit.end * sample_rate))


def check_model(atlas: AtlasFile, network: Model | Network) -> None:
    """Raise :class:`AtlasError` unless ``atlas`` was built with ``network`` (the same SHA-256)."""
    meta = atlas.meta
    if meta.get("model_sha256") == network.sha256:
        return
    source = meta.get("model_source")
    built = f"{meta.get('model_name') or 'a model'}" + (f" from '{Path(str(source)).name}'" if source else "")
    this = f"{network.name}" + (f" from '{Path(network.path).name}'" if network.path else "")
    raise AtlasError(
        atlas.path,
        f"it was built with another model: {built} (SHA-256 {str(meta.get('model_sha256'))[:12]}), not {this} "
        f"(SHA-256 {str(network.sha256)[:12]})",
    )


def open_clip(atlas_path: str | Path, entry: ClipEntry, sample_rate: int) -> Clip:
    """The atlas's clip ``entry`` loaded at ``sample_rate``; :class:`AtlasError` when it changed since the build
    (an :class:`~app.core.errors.AudioLoadError` when it is gone)."""
    clip = load_audio(entry.path, sample_rate)
    if clip.sha256 != entry.sha256:
        raise AtlasError(atlas_path, f"clip '{entry.path}' changed since the atlas was built (its hash differs)")
    return clip


def render_excerpt(
    analysis: Analysis,
    entry: ClipEntry,
    hit: Hit,
    rank: int,
    modes: Sequence[Mode] = (Mode.CHOI,),
    *,
    method: Method | str = Method.DECONVNET,
) -> Excerpt:
    """Hit ``hit`` of the clip ``analysis`` holds: its original samples and its auralisations (one per mode)."""
    rate = analysis.clip.sample_rate
    first, last = excerpt_samples(hit, rate, analysis.clip.samples.shape[-1])
    renderings = tuple(analysis.render_window(hit.layer, [hit.map], first, last, modes, method=method))
    original = np.ascontiguousarray(analysis.clip.samples[first:last], dtype=np.float32)
    return Excerpt(rank, hit, entry, first, original, rate, renderings)


def export_excerpts(
    atlas: AtlasFile,
    ref: FeatureRef,
    network: Model | Network,
    out_dir: str | Path,
    *,
    modes: Sequence[Mode] = (Mode.CHOI,),
    subtype: str = "float32",
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write ``rankNN-original.wav`` and ``rankNN-<mode>.wav`` (each with a JSON sidecar) per top excerpt of ``ref``.

    Raises :class:`AtlasError` when the atlas was built with another model, or a clip moved or changed since.
    """
    check_model(atlas, network)
    hits = atlas.hits(ref.layer, ref.index)
    if not hits:
        raise AtlasError(atlas.path, f"no excerpts for layer {ref.layer} feature {ref.index}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rate = network.front_end.sample_rate
    written: list[Path] = []
    for rank, hit in enumerate(hits, start=1):
        entry = atlas.clip(hit.clip)
        clip = open_clip(atlas.path, entry, rate)
        excerpt = render_excerpt(Analysis(clip, network), entry, hit, rank, modes)
        sidecar = excerpt.sidecar(atlas)
        stem = f"L{ref.layer}-F{ref.index:03d}-rank{rank:02d}"
        doc = dict(sidecar, mode="original")
        written.append(write_wav(out / f"{stem}-original.wav", excerpt.original, rate, subtype=subtype, sidecar=doc))
        for rendering in excerpt.renderings:
            path = out / f"{stem}-{rendering.mode.value}.wav"
            doc = dict(sidecar, mode=rendering.mode.value, context_frames=rendering.context_frames)
            written.append(write_wav(path, rendering.audio, rate, subtype=subtype, sidecar=doc))
        if progress is not None:
            progress(rank, len(hits))
    return written
