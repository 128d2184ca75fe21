"""A map's top excerpts as audio: each excerpt's original and its auralisation, computed on the excerpt with its
context (the exact windowed rendering the window plays), never on the whole clip."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.analysis import Analysis
from app.core.atlas.store import AtlasFile
from app.core.atlas.topk import Hit
from app.core.audio import load_audio, write_wav
from app.core.errors import AtlasError
from app.core.types import FeatureRef, Mode

if TYPE_CHECKING:
    from app.core.model_runtime import Model
    from app.core.sources import Network


def excerpt_samples(hit: Hit, sample_rate: int, n_samples: int) -> tuple[int, int]:
    """Samples ``[first, last)`` of the clip the hit's window covers."""
    return max(0, round(hit.start * sample_rate)), min(n_samples, round(hit.end * sample_rate))


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
    if atlas.meta.get("model_sha256") != network.sha256:
        raise AtlasError(
            atlas.path, f"it was built with another model (hash {str(atlas.meta.get('model_sha256'))[:12]})"
        )
    hits = atlas.hits(ref.layer, ref.index)
    if not hits:
        raise AtlasError(atlas.path, f"no excerpts for layer {ref.layer} feature {ref.index}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rate = network.front_end.sample_rate
    written: list[Path] = []
    for rank, hit in enumerate(hits, start=1):
        entry = atlas.clip(hit.clip)
        clip = load_audio(entry.path, rate)
        if clip.sha256 != hit.clip:
            raise AtlasError(atlas.path, f"clip '{entry.path}' changed since the atlas was built (its hash differs)")
        first, last = excerpt_samples(hit, rate, clip.samples.shape[-1])
        sidecar = {
            "atlas": str(atlas.path),
            "clip": entry.path,
            "clip_sha256": hit.clip,
            "layer": ref.layer,
            "feature": ref.index,
            "rank": rank,
            "start_s": hit.start,
            "end_s": hit.end,
            "peak": hit.peak,
            "peak_time_s": hit.peak_time,
            "peak_frequency_hz": hit.peak_frequency,
            "mean": hit.mean,
        }
        stem = f"L{ref.layer}-F{ref.index:03d}-rank{rank:02d}"
        path = out / f"{stem}-original.wav"
        written.append(
            write_wav(path, clip.samples[first:last], rate, subtype=subtype, sidecar=dict(sidecar, mode="original"))
        )
        analysis = Analysis(clip, network)
        for rendering in analysis.render_window(ref.layer, [ref.index], first, last, modes):
            path = out / f"{stem}-{rendering.mode.value}.wav"
            doc = dict(sidecar, mode=rendering.mode.value, context_frames=rendering.context_frames)
            written.append(write_wav(path, rendering.audio, rate, subtype=subtype, sidecar=doc))
        if progress is not None:
            progress(rank, len(hits))
    return written
