"""The listening report: the 2015 demo page, generated. A self-contained folder that opens in any browser::

    index.html      one row per map, grouped by layer: label, suggested tags with their figures, and per clip
                    the original and auralised spectrograms and players for original / feature / residual
    report.json     the same, machine-readable (figures, changes, tags, gains, file names)
    images/*.png    spectrograms on a log-frequency axis, original and feature on one dB scale
    audio/*.wav     16-bit WAVs at the model's rate: each clip as the model hears it, and per (map, clip) the
                    feature (Choi mode) and the residual, both loudness-matched to the clip (BS.1770) with the
                    gain capped so that nothing clips; the page says the gain
    audio/atlas/    with a corpus atlas: per map its top excerpts of the corpus, original and feature
                    (:mod:`app.core.report_atlas`)

No script runs in the page and nothing is fetched from elsewhere. Files are written whole or not at all;
``index.html`` and ``report.json`` last, so an interrupted report has no page pointing at missing files.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict
from urllib.parse import quote

import jinja2
import numpy as np

from app import __version__
from app.core.audio import write_wav
from app.core.characterise import (
    Baseline,
    Characterisation,
    MapCharacter,
    MeasuresDoc,
    RuleDoc,
    baseline_of,
    characterise_renderings,
    rule_docs,
)
from app.core.errors import ReportError, SelectionError
from app.core.files import write_bytes, write_text
from app.core.formats.jsonio import dump_bytes, unicode_text
from app.core.loudness import apply_gain, peak_gain_db
from app.core.png import spectrogram_rgb, write_png
from app.core.types import DEFAULT_EXCERPTS, Mode, TagDoc

if TYPE_CHECKING:
    from app.core.analysis import Analysis, FeatureRef, Rendering
    from app.core.model import Model
    from app.core.report_atlas import AtlasDoc, ExcerptDoc  # with torch: write_report imports it when it runs
    from app.core.session import Session
    from app.core.sources import Network
    from app.core.stems import Stems

REPORT_FORMAT = "aurascope-report"
REPORT_VERSION = 1
RANGE_DB = 80.0
CHUNK = 16
PEAK = 0.999  # 16-bit WAVs: loudness-matching gain capped so the peak stays below full scale


# --- report.json, as app/core/formats/report.py declares it (its models validate a file read back) ---------------
class ClipDoc(TypedDict):
    key: str  # the clip's name in file names
    name: str
    file: str
    sha256: str
    seconds: float
    sample_rate: int
    onsets: int
    figures: dict[str, float | None]
    wav: str
    png: str
    png_size: list[int]  # [width, height] in pixels
    gain_db: float
    top_db: float


class CellFiles(TypedDict):
    """One map on one clip's files: feature and residual WAVs with the gains (dB) they were written at."""

    clip: str  # the clip's key
    feature_wav: str
    feature_gain_db: float
    feature_gain_limited: bool
    feature_lufs: float | None
    residual_wav: str
    residual_gain_db: float
    residual_gain_limited: bool
    residual_lufs: float | None
    feature_png: str
    png_size: list[int]


class CellDoc(CellFiles, MeasuresDoc):
    """One map on one clip: its files and what was measured."""


class ModelDoc(TypedDict):
    name: str
    file: str | None
    sha256: str


class MapDoc(TypedDict):
    layer: int
    index: int
    id: str  # "L<layer>F<index>"
    label: str
    notes: str
    rating: int | None
    suggested_tags: list[TagDoc]
    clips: list[CellDoc]
    excerpts: NotRequired[list[ExcerptDoc]]  # the atlas's top excerpts: added once they are written


class LayerDoc(TypedDict):
    layer: int
    maps: list[MapDoc]


class ReportDoc(TypedDict):
    format: str
    version: int
    title: str
    created_at: str
    aurascope_version: str
    model: ModelDoc
    session: str | None
    method: str
    resynthesis: str
    loudness: str
    range_db: float
    rules: list[RuleDoc]
    clips: list[ClipDoc]
    layers: list[LayerDoc]
    complete: bool
    pairs_done: int
    pairs_planned: int
    seconds_per_map: float
    atlas: NotRequired[AtlasDoc | None]
    seconds: NotRequired[float]


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote. ``cancelled``: stopped early; the page shows what was done."""

    folder: Path
    index: Path
    json: Path
    maps: int
    clips: int
    files: int
    seconds: float
    characterisation: Characterisation
    cancelled: bool = False
    excerpts: int = 0  # top excerpts of a corpus atlas written (each an original and a feature WAV)


def write_report(
    out_dir: str | Path,
    analyses: Analysis | Sequence[Analysis],
    refs: Iterable[FeatureRef | tuple[int, int]] | None = None,
    session: Session | None = None,
    *,
    title: str | None = None,
    method: str = "deconvnet",
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    stems: Sequence[Stems | None] | None = None,
    atlas: str | Path | None = None,
    excerpts: int = DEFAULT_EXCERPTS,
) -> Report:
    """Write the listening report for ``refs`` (default: every map of every layer) on every clip.

    ``analyses``: one per clip, all on the same model. ``session``: labels, notes and ratings to show (and its
    path in the page). ``method``: the attribution (deconvnet, guided-backprop, gradient). Each layer's maps are
    projected as one batch and rendered ``CHOI`` + ``RESIDUAL``
    in chunks; ``progress(done, total)`` counts (clip, map) pairs; ``cancelled()`` is checked between chunks.
    ``stems``: per clip, its known sources or None (each map then shows the stems' shares and source tags).
    ``atlas``: a corpus atlas built with the same model; each map then shows its top ``excerpts`` excerpts of the
    corpus with players for the original excerpt and its auralisation.
    Raises :class:`SelectionError` for a map the model does not have, :class:`AtlasError` for an atlas that is
    not one or was built with another model, and :class:`ReportError` when the folder cannot be written, before
    writing anything where it can.
    """
    from app.core.analysis import Analysis
    from app.core.report_atlas import plan_excerpts, write_excerpts  # with torch: not at this module's import
    from app.core.stems import StemProjection

    start = time.perf_counter()
    group = [analyses] if isinstance(analyses, Analysis) else list(analyses)
    if not group:
        raise ReportError(out_dir, "no clips to report on")
    model = group[0].model
    if any(a.model is not model and a.model.sha256 != model.sha256 for a in group):
        raise ReportError(out_dir, "the clips were analysed with different models")
    layers = _layer_groups(model, refs)
    plan = None
    if atlas is not None:  # read and checked before any file is written
        plan = plan_excerpts(atlas, model, [(layer, i) for layer, ix in layers.items() for i in ix], excerpts)
    out = Path(out_dir)
    try:
        for sub in ("images", "audio"):
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReportError(out, f"cannot create the folder ({err.strerror or err})") from None

    keys = _clip_keys(group)
    total = len(group) * sum(len(ix) for ix in layers.values())
    rows: dict[tuple[int, int], list[CellDoc]] = {}
    characters: list[MapCharacter] = []
    clips_doc: list[ClipDoc] = []
    baselines: list[Baseline] = []
    done = files = 0
    stopped = False
    known = list(stems) if stems is not None else [None] * len(group)
    try:
        for analysis, key, clip_stems in zip(group, keys, known, strict=True):
            if stopped or (cancelled is not None and cancelled()):
                stopped = True
                break
            projection = StemProjection(analysis, clip_stems) if clip_stems is not None else None
            baseline = baseline_of(analysis)
            if projection is not None:
                baseline = replace(baseline, sources=dict(zip(projection.names, projection.mix.tolist(), strict=True)))
            baselines.append(baseline)
            original_db = analysis.original_spectrogram_db()
            top_db = float(original_db.max())
            clips_doc.append(_write_original(out, analysis, key, baseline, original_db, top_db))
            files += 2
            for layer, indices in layers.items():
                for part in _chunks(indices, CHUNK):
                    if cancelled is not None and cancelled():
                        stopped = True
                        break
                    renderings = list(analysis.render_many(layer, part, [Mode.CHOI, Mode.RESIDUAL], method=method))
                    choi = renderings[0::2]
                    residual = renderings[1::2]
                    shares = projection.of_maps(analysis, layer, part, method) if projection is not None else None
                    measured = characterise_renderings(baseline, choi, shares)
                    characters += measured
                    for feature, rest, character in zip(choi, residual, measured, strict=True):
                        files_of = _write_map_clip(out, key, feature, rest, top_db, analysis.clip.sample_rate)
                        cell: CellDoc = {**files_of, **character.measures()}
                        rows.setdefault((feature.ref.layer, feature.ref.index), []).append(cell)
                        files += 3
                        done += 1
                        if progress is not None:
                            progress(done, total)
                if stopped:
                    break
        top: dict[tuple[int, int], list[ExcerptDoc]] = {}
        if plan is not None and not stopped:
            top, written, stopped = write_excerpts(out, plan, model, method=method, peak=PEAK, cancelled=cancelled)
            files += written
    except OSError as err:
        raise ReportError(out, f"cannot write the report ({err.strerror or err})") from None

    characterisation = Characterisation(tuple(characters), tuple(baselines), time.perf_counter() - start, stopped)
    doc = _report_doc(model, session, clips_doc, layers, rows, characterisation, stopped, total, done, title, method)
    doc["atlas"] = plan.doc() if plan is not None else None
    for x in doc["layers"]:
        for m in x["maps"]:
            m["excerpts"] = top.get((m["layer"], m["index"]), [])
    doc["seconds"] = round(time.perf_counter() - start, 3)
    doc = unicode_text(doc)  # a clip named with a byte that is not UTF-8 shows as 'clip\\xff.wav' on the page too
    json_path = out / "report.json"
    index = out / "index.html"
    try:
        write_bytes(json_path, dump_bytes(doc, indent=1))
        write_text(index, render_html(doc))
    except OSError as err:
        raise ReportError(out, f"cannot write the report ({err.strerror or err})") from None
    return Report(
        folder=out,
        index=index,
        json=json_path,
        maps=len(rows),
        clips=len(clips_doc),
        files=files + 2,
        seconds=time.perf_counter() - start,
        characterisation=characterisation,
        cancelled=stopped,
        excerpts=sum(1 for ex in top.values() for e in ex if e["unavailable"] is None),
    )


# --- files ---------------------------------------------------------------------------------------------
def _write_original(
    out: Path, analysis: Analysis, key: str, baseline: Baseline, db: np.ndarray, top_db: float
) -> ClipDoc:
    clip = analysis.clip
    audio = clip.samples
    gain = min(0.0, peak_gain_db(audio, PEAK))  # only ever down: a float source above full scale
    wav = f"audio/{key}.wav"
    png = f"images/{key}.png"
    write_wav(out / wav, apply_gain(audio, gain), clip.sample_rate, subtype="pcm16")
    image = spectrogram_rgb(db, clip.sample_rate, top_db=top_db, range_db=RANGE_DB)
    write_png(out / png, image)
    return {
        "key": key,
        "name": clip.path.name,
        "file": str(clip.path),
        "sha256": clip.sha256,
        "seconds": round(clip.duration, 3),
        "sample_rate": clip.sample_rate,
        "onsets": len(baseline.onsets),
        "figures": baseline.figures.to_dict(),
        "wav": wav,
        "png": png,
        "png_size": [int(image.shape[1]), int(image.shape[0])],
        "gain_db": round(gain, 3),
        "top_db": round(top_db, 2),
    }


def _write_map_clip(
    out: Path, key: str, feature: Rendering, residual: Rendering, top_db: float, sample_rate: int
) -> CellFiles:
    stem = f"L{feature.ref.layer}F{feature.ref.index}_{key}"
    f_wav, f_gain, f_limited = _write_matched(out, f"audio/{stem}_feature.wav", feature, sample_rate)
    r_wav, r_gain, r_limited = _write_matched(out, f"audio/{stem}_residual.wav", residual, sample_rate)
    # drawn at the gain it is played at, on the original's scale: what you see is what you hear
    image = spectrogram_rgb(feature.spectrogram_db + f_gain, sample_rate, top_db=top_db, range_db=RANGE_DB)
    png = f"images/{stem}.png"
    write_png(out / png, image)
    return {
        "clip": key,
        "feature_wav": f_wav,
        "feature_gain_db": f_gain,
        "feature_gain_limited": f_limited,
        "feature_lufs": _finite(feature.loudness_lufs),
        "residual_wav": r_wav,
        "residual_gain_db": r_gain,
        "residual_gain_limited": r_limited,
        "residual_lufs": _finite(residual.loudness_lufs),
        "feature_png": png,
        "png_size": [int(image.shape[1]), int(image.shape[0])],
    }


def _write_matched(out: Path, wav: str, rendering: Rendering, sample_rate: int) -> tuple[str, float, bool]:
    """Write ``rendering`` matched to its clip's loudness, the gain capped below full scale: (file, gain in dB
    rounded as report.json gives it, whether the cap held it below the match)."""
    wanted = rendering.gain_to_match_db
    gain = min(wanted, peak_gain_db(rendering.audio, PEAK)) if np.any(rendering.audio) else 0.0
    write_wav(out / wav, apply_gain(rendering.audio, gain), sample_rate, subtype="pcm16")
    return wav, round(gain, 3), bool(gain < wanted - 1e-6)


def _report_doc(
    model: Model | Network,
    session: Session | None,
    clips: list[ClipDoc],
    layers: dict[int, list[int]],
    rows: dict[tuple[int, int], list[CellDoc]],
    characterisation: Characterisation,
    stopped: bool,
    total: int,
    done: int,
    title: str | None,
    method: str,
) -> ReportDoc:
    doc_layers: list[LayerDoc] = []
    for layer, indices in layers.items():
        maps: list[MapDoc] = []
        for index in indices:
            cells = rows.get((layer, index))
            if not cells:
                continue
            notes = session.notes_for((layer, index)) if session is not None else None
            maps.append(
                {
                    "layer": layer,
                    "index": index,
                    "id": f"L{layer}F{index}",
                    "label": notes.label if notes else "",
                    "notes": notes.notes if notes else "",
                    "rating": notes.rating if notes else None,
                    "suggested_tags": [t.to_dict() for t in characterisation.tags((layer, index))],
                    "clips": cells,
                }
            )
        if maps:
            doc_layers.append({"layer": layer, "maps": maps})
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "title": title or f"Listening report: {model.name}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "aurascope_version": __version__,
        "model": {"name": model.name, "file": str(model.path) if model.path else None, "sha256": model.sha256},
        "session": str(session.path) if session is not None and session.path else None,
        "method": method,
        "resynthesis": "Choi mode: ISTFT(X * D), D the method's projection of the map; residual = original - feature",
        "loudness": "feature and residual matched to the clip (BS.1770), gain capped at -0.01 dBFS peak",
        "range_db": RANGE_DB,
        "rules": rule_docs(),
        "clips": clips,
        "layers": doc_layers,
        "complete": not stopped,
        "pairs_done": done,
        "pairs_planned": total,
        "seconds_per_map": round(characterisation.seconds_per_map, 4),
    }


# --- the page ------------------------------------------------------------------------------------------------
def render_html(doc: ReportDoc) -> str:
    """The page for a report document (as written to ``report.json``), from ``templates/report.html``."""
    clips = {c["key"]: c for c in doc["clips"]}
    return _page_template().render(doc=doc, clips=clips, figures=_FIGURES)


@functools.cache
def _page_template() -> jinja2.Template:
    # autoescape everywhere: labels, notes and file names are the user's text; StrictUndefined: a field the
    # document lacks is an error, not an empty cell
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("app.core", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["url"] = quote
    env.filters["file_name"] = lambda path: Path(path).name
    env.filters["figure"] = lambda value, fmt: "n/a" if value is None else fmt.format(value)
    env.filters["tag_text"] = _tag_text
    return env.get_template("report.html")


_FIGURES = (
    ("onset_corr", "onset corr.", "{:+.2f}"),
    ("attack_sustain_db", "attack/sustain", "{:+.1f} dB"),
    ("centroid_hz", "centroid", "{:.0f} Hz"),
    ("low_share", "< 200 Hz", "{:.0%}"),
    ("percussive_share", "percussive", "{:.0%}"),
    ("pitch_salience", "pitch salience", "{:.2f}"),
    ("sparsity", "sparsity", "{:.2f}"),
)


def _tag_text(t: TagDoc) -> str:
    from app.core.characterise import SuggestedTag

    return SuggestedTag.from_dict(t).text()


# --- helpers -----------------------------------------------------------------------------------------------
def _layer_groups(model: Model | Network, refs: Iterable[FeatureRef | tuple[int, int]] | None) -> dict[int, list[int]]:
    if refs is None:
        return {layer.number: list(range(layer.n_maps)) for layer in model.layers}
    groups: dict[int, list[int]] = {}
    for ref in refs:
        layer, index = (int(ref[0]), int(ref[1])) if isinstance(ref, tuple) else (int(ref.layer), int(ref.index))
        n_maps = model.layer(layer).n_maps  # raises SelectionError for a bad layer
        if not 0 <= index < n_maps:
            raise SelectionError(f"feature {index} is out of range: layer {layer} has features 0-{n_maps - 1}")
        groups.setdefault(layer, []).append(index)
    return {layer: sorted(set(ix)) for layer, ix in sorted(groups.items())}


def _clip_keys(analyses: Sequence[Analysis]) -> list[str]:
    """File-name-safe, unique names for the clips (the stem; with the hash's start when stems collide)."""
    stems = [re.sub(r"[^A-Za-z0-9._-]+", "_", a.clip.path.stem).strip("._") or "clip" for a in analyses]
    keys = []
    for stem, a in zip(stems, analyses, strict=True):
        keys.append(stem if stems.count(stem) == 1 else f"{stem}-{a.clip.sha256[:8]}")
    seen: dict[str, int] = {}
    out = []
    for k in keys:  # the same file twice: number the repeats
        seen[k] = seen.get(k, 0) + 1
        out.append(k if seen[k] == 1 else f"{k}-{seen[k]}")
    return out


def _chunks(items: Sequence[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _finite(value: float) -> float | None:
    return round(float(value), 3) if math.isfinite(value) else None


__all__ = ["Report", "render_html", "write_report"]
