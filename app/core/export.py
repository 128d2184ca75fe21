"""Writing renderings as WAV files with their JSON sidecars: one routine for the CLI and the window."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from itertools import groupby
from pathlib import Path

from app import __version__
from app.core.analysis import Analysis, FeatureRef, Rendering
from app.core.audio import write_wav
from app.core.methods import Method
from app.core.resynth import Mode, apply_gain, peak_gain_db
from app.core.types import Loudness, export_name


def path_text(path: str | Path) -> str:
    """A path as JSON text: a byte of the name that is not UTF-8 is written ``\\xff`` (JSON has no lone surrogates)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def sidecar_for(
    analysis: Analysis, rendering: Rendering, gain_db: float, loudness: Loudness, peak_limited: bool = False
) -> dict:
    clip, model = analysis.clip, analysis.model
    return {
        "aurascope_version": __version__,
        "source_file": path_text(clip.path),
        "source_sha256": clip.sha256,
        "model_file": path_text(model.path) if model.path else None,
        "model_source": getattr(model, "source", None) or (path_text(model.path) if model.path else model.name),
        "model_sha256": model.sha256,
        "model_name": model.name,
        "layer": rendering.ref.layer,
        "feature": rendering.ref.index,
        "mode": rendering.mode.value,
        "method": Method(rendering.method).value,
        "front_end": model.front_end.to_dict(),
        "loudness_normalisation": loudness.value,
        "gain_db": round(gain_db, 4),
        "gain_limited_to_avoid_clipping": peak_limited,
        "rendering_lufs": rendering.loudness_lufs,
        "original_lufs": rendering.reference_lufs,
    }


def export_features(
    analysis: Analysis,
    refs: Sequence[FeatureRef],
    modes: Sequence[Mode],
    out_dir: str | Path,
    *,
    subtype: str = "float32",
    loudness: Loudness = Loudness.NONE,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    method: Method | str = Method.DECONVNET,
) -> list[Path]:
    """Render and write every (ref, mode); maps of a layer are deconvolved as one batch.

    Each file is written whole or not at all (temporary file + rename). Integer formats never clip: a gain
    that would push the peak over full scale is capped, and the sidecar says so. ``progress(done, total)`` is
    called after each file; when ``cancelled()`` turns true the export stops after the current file.
    ``method`` (deconvnet, guided-backprop or gradient) is written in each sidecar and, unless deconvnet, in
    each file name.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    total = len(refs) * len(modes)
    written: list[Path] = []
    ordered = sorted(dict.fromkeys(refs))
    for layer, group in groupby(ordered, key=lambda r: r.layer):
        for rendering in analysis.render_many(layer, [r.index for r in group], modes, method=method):
            if cancelled is not None and cancelled():
                return written
            gain = 0.0
            if loudness is Loudness.MATCH:
                gain = rendering.gain_to_match_db
            elif loudness is Loudness.PEAK:
                gain = peak_gain_db(rendering.audio)
            # integer formats would clip a loudness-matched rendering with a high crest factor: cap the gain
            ceiling = peak_gain_db(rendering.audio, 0.999) if subtype != "float32" else float("inf")
            limited = gain > ceiling
            gain = min(gain, ceiling)
            path = out / export_name(analysis.clip.name, rendering.ref, rendering.mode, method=rendering.method)
            write_wav(
                path,
                apply_gain(rendering.audio, gain),
                rendering.sample_rate,
                subtype=subtype,
                sidecar=sidecar_for(analysis, rendering, gain, loudness, limited),
            )
            written.append(path)
            if progress is not None:
                progress(len(written), total)
    return written
