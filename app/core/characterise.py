"""Automatic characterisation: what each feature map's auralisation does to the clip, measured, and the 2015
demo's names for it suggested from the measurements.

For every map (Choi mode, the sound slot B plays) against the original clip:

- **onset correlation**: Pearson correlation of the RMS envelope (512-sample frames every 128) with a
  smoothed impulse train at the *original's* detected onsets (librosa spectral flux), and its change;
- **attack-to-sustain ratio** (dB): energy in the 30 ms after each onset over that 80-250 ms after, averaged
  over notes, and its change;
- **spectral centroid** (Hz) and **low-frequency share** (power below 200 Hz), on the model's STFT grid (the
  512-point window's main lobe is +-43 Hz wide, so a 220 Hz tone leaks ~1 % below 200 Hz), with the centroid's
  change in octaves, the low share's change and its emphasis (:func:`emphasis_db`);
- **percussive share**: energy fraction HPSS (soft masks, 17-point medians) assigns to the percussive part,
  and its emphasis;
- **pitch salience**: chroma peakiness (0 flat chroma .. 1 one pitch class per frame; a pure tone measures 0.74
  as librosa's chroma filters overlap, white noise < 0.1), energy-weighted, 3-4 ms a map. Chosen over pYIN's
  voiced fraction (measured 1.2 s per 10 s map, and blind to chords) and over the HPSS harmonic share (only
  1 - percussive share);
- **temporal sparsity**: Gini coefficient of the RMS envelope (0 steady .. 1 one burst).

Suggested tags come from :data:`RULES`; each names the figure that triggered it and the threshold. Maps whose
level is more than 50 dB under the original's get no tags (their figures describe numerical dust). The
thresholds, and the measurements they were chosen from, are in the comment above :data:`RULES`.

This module imports neither torch nor the analysis at import time (the window reads :data:`RULES` and
:class:`SuggestedTag` on its GUI thread); :func:`characterise` imports them when it runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from app.core import descriptors as d
from app.core.types import (
    FIGURE_WORDS,
    FeatureRef,
    MapOnClip,
    SuggestedTag,
    TagDoc,
    format_figure,
    json_number,
    map_on_clip,
)

if TYPE_CHECKING:
    from app.core.analysis import Analysis, Rendering
    from app.core.stems import Stems, StemShares

LOW_CUTOFF_HZ = 200.0
SILENT_DB = -50.0  # a map this far under the original's RMS is treated as silent: no tags
DEFAULT_CHUNK = 16  # maps rendered and measured together (memory ~ chunk x 3 spectrogram-sized arrays)


@dataclass(frozen=True)
class Figures:
    """Descriptors of one signal (a map's auralisation or the original). Units in the field names."""

    onset_corr: float
    attack_sustain_db: float
    centroid_hz: float
    low_share: float
    percussive_share: float
    pitch_salience: float
    sparsity: float
    rms_db: float

    def to_dict(self) -> dict[str, float | None]:
        return {k: json_number(v) for k, v in asdict(self).items()}


def emphasis_db(share: float, original_share: float) -> float:
    """How much a map boosts one part of the energy against the rest, in dB: the change of the part's odds.

    ``10 log10((s / (1 - s)) / (s0 / (1 - s0)))`` for the part's share ``s`` in the map and ``s0`` in the
    original, i.e. the gain applied to that part minus the gain applied to everything else. Unlike the change of
    the share it is not capped by the original (a clip that is already 94 % bass can still be made 99.99 %
    bass: +28 dB). Shares are clipped to [1e-6, 1 - 1e-6], so the result lies within +-120 dB.
    """

    def odds(p: float) -> float:
        p = min(max(p, 1e-6), 1 - 1e-6)
        return p / (1 - p)

    return 10 * math.log10(odds(share) / odds(original_share))


@dataclass(frozen=True)
class Changes:
    """A map's figures against the original's: differences, except where a ratio reads better."""

    onset_corr: float
    attack_sustain_db: float
    centroid_octaves: float  # log2(map / original)
    low_share: float
    low_emphasis_db: float  # how much more the map passes low than high frequencies, see `emphasis_db`
    percussive_share: float
    percussive_emphasis_db: float  # the same for the percussive part against the harmonic part
    pitch_salience: float
    sparsity: float
    level_db: float  # RMS of the map re the original's

    @classmethod
    def between(cls, m: Figures, o: Figures) -> Changes:
        return cls(
            onset_corr=m.onset_corr - o.onset_corr,
            attack_sustain_db=m.attack_sustain_db - o.attack_sustain_db,
            centroid_octaves=math.log2(m.centroid_hz / o.centroid_hz) if m.centroid_hz > 0 < o.centroid_hz else 0.0,
            low_share=m.low_share - o.low_share,
            low_emphasis_db=emphasis_db(m.low_share, o.low_share),
            percussive_share=m.percussive_share - o.percussive_share,
            percussive_emphasis_db=emphasis_db(m.percussive_share, o.percussive_share),
            pitch_salience=m.pitch_salience - o.pitch_salience,
            sparsity=m.sparsity - o.sparsity,
            level_db=m.rms_db - o.rms_db,
        )

    def to_dict(self) -> dict[str, float | None]:
        return {k: json_number(v) for k, v in asdict(self).items()}


# --- rules -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """``figure`` is ``"change.<field>"`` (of :class:`Changes`) or ``"map.<field>"`` (of the map's :class:`Figures`)."""

    figure: str
    op: str  # ">=" or "<="
    threshold: float

    @property
    def words(self) -> str:
        return FIGURE_WORDS[self.figure]

    def value(self, figures: Figures, changes: Changes) -> float:
        source, name = self.figure.split(".", 1)
        return float(getattr(changes if source == "change" else figures, name))

    def holds(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value >= self.threshold if self.op == ">=" else value <= self.threshold

    def describe(self, value: float) -> str:
        sign = "≥" if self.op == ">=" else "≤"
        return f"{self.words} {format_figure(value, self.figure)} {sign} {format_figure(self.threshold, self.figure)}"


@dataclass(frozen=True)
class Rule:
    """A tag and the conditions that must all hold; the first condition is the figure shown with the tag."""

    tag: str
    conditions: tuple[Condition, ...]

    def text(self) -> str:
        return " and ".join(f"{c.words} {c.op} {format_figure(c.threshold, c.figure)}" for c in self.conditions)


# Thresholds, chosen from measurements (bench/characterise.py: the four demo clips at 11025 Hz, every map of
# the five layers; "trained" = models/choi2015-genre, "random" = the same architecture with random weights;
# "known" = the hand-weighted networks of tests/core/test_characterise.py on synthetic clips). Rates are of
# audible (clip, map) pairs, trained layers 1..5 / random over all layers:
# - onset detector: onset correlation +0.20 and attack/sustain +6 dB. Vertical-edge kernels measure +0.29..+0.79
#   and +11..+20 dB. Trained 9 / 13 / 20 / 26 / 24 % (deep maps keep few, onset-aligned positions); random
#   1.4 % (at +0.15 / +3 dB: 3 %).
# - attack suppressor: attack/sustain -2 dB, onset correlation not up. The horizontal-edge kernel measures
#   -2.4..-3.7 dB on four clips (-3 dB would miss two). Trained 11 / 6 / 0.4 / 0 / 0 %; random 7.5 %.
# - bass selector: low frequencies (< 200 Hz) emphasised by +20 dB, at least half the energy there, and not
#   more percussive than the clip (+5 dB at most). The 200 Hz low-pass network measures +48..+79 dB; on bass +
#   melody and on kick + bass + hats + melody (bass dominates) its percussive emphasis is -2 / +3 dB; no other
#   known kernel passes. Trained 1.6 / 0.8 / 0.4 / 0 / 0 %; random 0.8 % (all the low-heavy trained maps are on
#   the kick clip, and most are kick selectors by the next rule).
# - percussive / kick selector: the percussive part (HPSS) emphasised by +10 dB; or, for a kick, by +5 dB with
#   the bass rule's low-frequency conditions (HPSS calls a decaying 55 Hz thump half harmonic: the low-pass
#   network on kicks + hats measures +6.3 dB, on kick + melody +14 dB). Vertical-edge and high-pass networks
#   measure +11..+79 dB. Trained 25 / 26 / 15 / 9 / 19 % (the genre model's data has drums in most styles);
#   random 7 % (at +6 dB: 17 %).
# - melody / harmonic selector: pitch salience +0.10, percussive part down by 3 dB, at most half the energy
#   below 200 Hz. The 300-1500 Hz band network on the four mixes measures +0.11..+0.34. Trained 15 / 5 / 2 /
#   0.4 / 0.4 %; random 22-37 % per layer: random filters make narrow, peaky-chroma renderings, so on an
#   untrained or deep layer this tag says "narrow-band", no more.
# Choi mode multiplies the spectrum by a mask that grows with |X|, so every auralisation is, against the
# original, sparser (Gini +0.3 on average), darker (centroid -0.55 octave) and more percussive: no tag uses
# sparsity or the centroid, and the low-frequency and percussive rules use emphasis (odds ratios), not share
# differences, which a clip that is already 94 % bass would cap.
RULES: tuple[Rule, ...] = (
    Rule(
        "onset detector",
        (
            Condition("change.onset_corr", ">=", 0.20),
            Condition("change.attack_sustain_db", ">=", 6.0),
        ),
    ),
    Rule(
        "attack suppressor",
        (
            Condition("change.attack_sustain_db", "<=", -2.0),
            Condition("change.onset_corr", "<=", 0.0),
        ),
    ),
    Rule(
        "bass selector",
        (
            Condition("change.low_emphasis_db", ">=", 20.0),
            Condition("map.low_share", ">=", 0.5),
            Condition("change.percussive_emphasis_db", "<=", 5.0),
        ),
    ),
    Rule(
        "percussive / kick selector",
        (Condition("change.percussive_emphasis_db", ">=", 10.0),),
    ),
    Rule(  # the kick: low and more percussive than the clip, though HPSS calls a 55 Hz thump half harmonic
        "percussive / kick selector",
        (
            Condition("change.percussive_emphasis_db", ">=", 5.0),
            Condition("change.low_emphasis_db", ">=", 20.0),
            Condition("map.low_share", ">=", 0.5),
        ),
    ),
    Rule(
        "melody / harmonic selector",
        (
            Condition("change.pitch_salience", ">=", 0.10),
            Condition("change.percussive_emphasis_db", "<=", -3.0),
            Condition("map.low_share", "<=", 0.5),
        ),
    ),
)
TAGS: tuple[str, ...] = tuple(dict.fromkeys(r.tag for r in RULES))


def suggest_tags(figures: Figures, changes: Changes, *, clip_sha256: str = "", clip_name: str = "") -> tuple:
    """The :class:`SuggestedTag` of every rule that holds (none for a silent map)."""
    if changes.level_db < SILENT_DB:
        return ()
    out: list[SuggestedTag] = []
    for rule in RULES:
        if any(t.tag == rule.tag for t in out):
            continue  # a tag with two rules (percussive / kick) is suggested once, by the first that holds
        values = [c.value(figures, changes) for c in rule.conditions]
        if all(c.holds(v) for c, v in zip(rule.conditions, values, strict=True)):
            first = rule.conditions[0]
            out.append(
                SuggestedTag(
                    tag=rule.tag,
                    figure=first.figure,
                    value=values[0],
                    threshold=first.threshold,
                    op=first.op,
                    detail="; ".join(c.describe(v) for c, v in zip(rule.conditions, values, strict=True)),
                    clip_sha256=clip_sha256,
                    clip_name=clip_name,
                )
            )
    return tuple(out)


# Source selector: where a clip's stems are known (app/core/stems.py), a map "selects" a stem when the stem carries
# at least half of the auralisation's energy and the map favours it by at least +6 dB over the rest (the odds of
# its share against the mix's, as for the bass rule: a stem that is already 53 % of the mix, the drums of the
# demo groove, must reach 82 %). Measured on the real demo clips (bench/source_selectors.py).
SOURCE_SHARE = 0.5
SOURCE_EMPHASIS_DB = 6.0
SOURCE_TAG = "source selector"
SOURCE_RULE_TEXT = (
    f"one stem's share of the auralisation ≥ {SOURCE_SHARE:.2f} and its emphasis over the mix "
    f"≥ {SOURCE_EMPHASIS_DB:+.1f} dB (only where the clip's stems are known)"
)


def source_tags(
    names: Sequence[str], shares: Sequence[float], mix: Sequence[float], *, clip_sha256: str = "", clip_name: str = ""
) -> tuple[SuggestedTag, ...]:
    """A ``source selector: <stem>`` tag for the stem (at most one) that dominates a map's auralisation."""
    best = int(np.argmax(shares))
    share, emphasis = float(shares[best]), emphasis_db(float(shares[best]), float(mix[best]))
    if share < SOURCE_SHARE or emphasis < SOURCE_EMPHASIS_DB:
        return ()
    return (
        SuggestedTag(
            tag=f"{SOURCE_TAG}: {names[best]}",
            figure="stem.share",
            value=share,
            threshold=SOURCE_SHARE,
            op=">=",
            detail=(
                f"share of the auralisation from stem '{names[best]}' {share:.2f} ≥ {SOURCE_SHARE:.2f} "
                f"(in the mix {float(mix[best]):.2f}); its emphasis {emphasis:+.1f} dB ≥ {SOURCE_EMPHASIS_DB:+.1f} dB"
            ),
            clip_sha256=clip_sha256,
            clip_name=clip_name,
        ),
    )


# --- results ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Baseline:
    """The original clip measured once: its onsets (s) and figures, for comparing every map against."""

    clip_sha256: str
    clip_name: str
    sample_rate: int
    onsets: np.ndarray
    figures: Figures
    seconds: float
    sources: dict[str, float] = field(default_factory=dict)  # each stem's share of the clip, where stems are known


class MeasuresDoc(TypedDict):
    """What was measured of one map on one clip, in JSON (`MapCharacter.measures`)."""

    silent: bool
    figures: dict[str, float | None]
    changes: dict[str, float | None]
    tags: list[TagDoc]
    sources: dict[str, float | None]  # each stem's share
    seconds: float


class MapCharacterDoc(MapOnClip, MeasuresDoc):
    """One map on one clip in ``aurascope characterise --json``."""


class RuleDoc(TypedDict):
    tag: str
    when: str


class BaselineDoc(TypedDict):
    sha256: str
    name: str
    onsets: int
    figures: dict[str, float | None]
    sources: dict[str, float | None]


class CharacterisationDoc(TypedDict):
    """``aurascope characterise --json``: every clip's baseline, the rules, every (clip, map) and each map's tags."""

    clips: list[BaselineDoc]
    rules: list[RuleDoc]
    maps: list[MapCharacterDoc]
    suggested_tags: dict[str, list[TagDoc]]  # "L<layer>F<index>" -> tags
    seconds: float
    seconds_per_map: float
    cancelled: bool


@dataclass(frozen=True)
class MapCharacter:
    """One map on one clip: its figures, their change against the original, suggested tags and the cost (s)."""

    layer: int
    index: int
    clip_sha256: str
    clip_name: str
    figures: Figures
    original: Figures
    changes: Changes
    tags: tuple[SuggestedTag, ...]
    seconds: float
    sources: dict[str, float] = field(default_factory=dict)  # each stem's share of the auralisation

    @property
    def silent(self) -> bool:
        return self.changes.level_db < SILENT_DB

    def to_dict(self) -> MapCharacterDoc:
        return {**map_on_clip(self.layer, self.index, self.clip_sha256, self.clip_name), **self.measures()}

    def measures(self) -> MeasuresDoc:
        """What was measured, as JSON (without which map and clip: a report's cell names those its own way)."""
        return {
            "silent": self.silent,
            "figures": self.figures.to_dict(),
            "changes": self.changes.to_dict(),
            "tags": [t.to_dict() for t in self.tags],
            "sources": {k: json_number(v) for k, v in self.sources.items()},
            "seconds": round(self.seconds, 4),
        }


@dataclass(frozen=True)
class Characterisation:
    """Every (clip, map) measured. ``cancelled`` when stopped early (what was measured is kept)."""

    maps: tuple[MapCharacter, ...]
    baselines: tuple[Baseline, ...]
    seconds: float
    cancelled: bool = False

    def for_map(self, ref: FeatureRef) -> list[MapCharacter]:
        return [m for m in self.maps if (m.layer, m.index) == ref]

    def refs(self) -> list[FeatureRef]:
        return sorted({FeatureRef(m.layer, m.index) for m in self.maps})

    def tags(self, ref: FeatureRef) -> tuple[SuggestedTag, ...]:
        """Tags of one map over all clips: each tag once, from the clip where it held best, with its support."""
        return merge_tags(self.for_map(ref))

    def suggestions(self) -> dict[FeatureRef, tuple[SuggestedTag, ...]]:
        """``{(layer, index): tags}`` for every measured map (empty tuples included), for the session."""
        return {ref: self.tags(ref) for ref in self.refs()}

    @property
    def seconds_per_map(self) -> float:
        return self.seconds / max(1, len(self.maps))

    def to_dict(self) -> CharacterisationDoc:
        return {
            "clips": [
                {
                    "sha256": b.clip_sha256,
                    "name": b.clip_name,
                    "onsets": len(b.onsets),
                    "figures": b.figures.to_dict(),
                    "sources": {k: json_number(v) for k, v in b.sources.items()},
                }
                for b in self.baselines
            ],
            "rules": [*rule_docs(), {"tag": f"{SOURCE_TAG}: <stem>", "when": SOURCE_RULE_TEXT}],
            "maps": [m.to_dict() for m in self.maps],
            "suggested_tags": {
                f"L{layer}F{index}": [t.to_dict() for t in tags] for (layer, index), tags in self.suggestions().items()
            },
            "seconds": round(self.seconds, 3),
            "seconds_per_map": round(self.seconds_per_map, 4),
            "cancelled": self.cancelled,
        }


def rule_docs() -> list[RuleDoc]:
    """The tagging rules as JSON documents say them: each tag and when it is suggested."""
    return [{"tag": r.tag, "when": r.text()} for r in RULES]


def merge_tags(characters: Sequence[MapCharacter]) -> tuple[SuggestedTag, ...]:
    """One :class:`SuggestedTag` per tag over several clips of a map, best clip first; ``of`` counts audible clips."""
    audible = [c for c in characters if not c.silent]
    by_tag: dict[str, list[SuggestedTag]] = {}
    for c in audible:
        for t in c.tags:
            by_tag.setdefault(t.tag, []).append(t)
    out = []
    for tag in (*TAGS, *sorted(t for t in by_tag if t not in TAGS)):
        hits = by_tag.get(tag)
        if hits:
            best = max(hits, key=_margin)
            out.append(SuggestedTag(**{**asdict(best), "support": len(hits), "of": len(audible)}))
    return tuple(out)


# --- measuring -------------------------------------------------------------------------------------------
def figures_of(audio: np.ndarray, spectrogram_db: np.ndarray, sample_rate: int, onsets: np.ndarray) -> list[Figures]:
    """Figures of a batch of signals: audio ``[shape=(k, n_samples)]`` and the magnitude of the spectrum each
    plays, in dB, ``[shape=(k, n_freq, n_frames)]`` on the model's STFT grid (``n_freq`` bins, 0..sr/2)."""
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    magnitude = np.power(10.0, np.asarray(spectrogram_db, dtype=np.float32) / 20.0, dtype=np.float32)
    if magnitude.ndim == 2:
        magnitude = magnitude[None]
    power = magnitude * magnitude
    freqs = np.linspace(0.0, sample_rate / 2, power.shape[-2])
    envelopes = d.rms_envelopes(audio)
    many_onsets = len(onsets) >= 2  # correlation with a train of 0 or 1 impulse measures nothing
    onset_corr = d.onset_correlations(envelopes, onsets, sample_rate) if many_onsets else np.full(len(audio), np.nan)
    attack = d.attack_sustain_ratios(audio, onsets, sample_rate)
    centroid = d.spectral_centroids_hz(power, freqs)
    low = d.low_frequency_shares(power, freqs, LOW_CUTOFF_HZ)
    percussive = d.percussive_shares(magnitude)
    salience = d.pitch_saliences(audio, sample_rate)
    sparsity = d.gini(envelopes)
    rms = np.sqrt(np.mean(np.square(audio, dtype=np.float64), axis=-1))
    rms_db = 20 * np.log10(np.maximum(rms, 1e-12))
    return [
        Figures(
            onset_corr=float(onset_corr[i]),
            attack_sustain_db=float(attack[i]),
            centroid_hz=float(centroid[i]),
            low_share=float(low[i]),
            percussive_share=float(percussive[i]),
            pitch_salience=float(salience[i]),
            sparsity=float(sparsity[i]),
            rms_db=float(rms_db[i]),
        )
        for i in range(len(audio))
    ]


def baseline_of(analysis: Analysis) -> Baseline:
    """Measure the original clip of an analysis (onsets detected on it, figures as for a map)."""
    start = time.perf_counter()
    clip = analysis.clip
    onsets = d.detect_onsets(clip.samples, clip.sample_rate, hop_length=128, backtrack=True, wait_s=0.05)
    figures = figures_of(clip.samples[None], analysis.original_spectrogram_db()[None], clip.sample_rate, onsets)[0]
    return Baseline(clip.sha256, clip.path.name, clip.sample_rate, onsets, figures, time.perf_counter() - start)


def characterise_renderings(
    baseline: Baseline, renderings: Sequence[Rendering], sources: StemShares | None = None
) -> list[MapCharacter]:
    """Measure renderings of one clip (any maps, any layers) against its baseline, as one batch.

    ``sources``: the stems' shares of each rendering (rows in the order of ``renderings``), where stems are known.
    """
    if not renderings:
        return []
    start = time.perf_counter()
    audio = np.stack([r.audio for r in renderings])
    spectra = np.stack([r.spectrogram_db for r in renderings])
    figures = figures_of(audio, spectra, baseline.sample_rate, baseline.onsets)
    measure_share = (time.perf_counter() - start) / len(renderings)
    out = []
    for i, (r, f) in enumerate(zip(renderings, figures, strict=True)):
        changes = Changes.between(f, baseline.figures)
        tags = suggest_tags(f, changes, clip_sha256=baseline.clip_sha256, clip_name=baseline.clip_name)
        shares: dict[str, float] = {}
        if sources is not None:
            shares = dict(zip(sources.names, sources.maps[i].tolist(), strict=True))
            if changes.level_db >= SILENT_DB:
                tags += source_tags(
                    sources.names,
                    sources.maps[i],
                    sources.mix,
                    clip_sha256=baseline.clip_sha256,
                    clip_name=baseline.clip_name,
                )
        out.append(
            MapCharacter(
                layer=r.ref.layer,
                index=r.ref.index,
                clip_sha256=baseline.clip_sha256,
                clip_name=baseline.clip_name,
                figures=f,
                original=baseline.figures,
                changes=changes,
                tags=tags,
                seconds=r.seconds + measure_share,
                sources=shares,
            )
        )
    return out


def characterise(
    analyses: Analysis | Sequence[Analysis],
    refs: Iterable[FeatureRef] | None = None,
    *,
    mode: str = "choi",
    method: str = "deconvnet",
    chunk: int = DEFAULT_CHUNK,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    stems: Sequence[Stems | None] | None = None,
) -> Characterisation:
    """Measure every map in ``refs`` (default: every map of every layer) on every clip, against that clip.

    ``stems``: per analysis, its clip's known sources or None; where given (Choi mode), each map also gets the
    stems' shares of its auralisation and, when one dominates, a ``source selector: <stem>`` tag.

    Maps of a layer are rendered in batches (``render_many``, with the attribution ``method``: deconvnet,
    guided-backprop or gradient) and measured ``chunk`` at a time.
    ``progress(done, total)`` counts (clip, map) pairs; ``cancelled()`` is checked between chunks.
    """
    from app.core.analysis import Analysis
    from app.core.resynth import Mode
    from app.core.stems import StemProjection

    start = time.perf_counter()
    group = [analyses] if isinstance(analyses, Analysis) else list(analyses)
    maps: list[MapCharacter] = []
    baselines: list[Baseline] = []
    done = 0
    plan = [(a, _layer_groups(a, refs)) for a in group]
    known = list(stems) if stems is not None else [None] * len(group)
    if len(known) != len(group):
        raise ValueError(f"{len(known)} stem sets for {len(group)} clips")
    total = sum(len(ix) for _, layers in plan for ix in layers.values())
    for (analysis, layers), clip_stems in zip(plan, known, strict=True):
        if cancelled is not None and cancelled():
            return Characterisation(tuple(maps), tuple(baselines), time.perf_counter() - start, True)
        projection = StemProjection(analysis, clip_stems) if clip_stems is not None and mode == "choi" else None
        baseline = baseline_of(analysis)
        if projection is not None:
            baseline = replace(baseline, sources=dict(zip(projection.names, projection.mix.tolist(), strict=True)))
        baselines.append(baseline)
        for layer, indices in layers.items():
            for part in _chunks(indices, chunk):
                if cancelled is not None and cancelled():
                    return Characterisation(tuple(maps), tuple(baselines), time.perf_counter() - start, True)
                renderings = list(analysis.render_many(layer, part, [Mode(mode)], method=method))
                shares = projection.of_maps(analysis, layer, part, method) if projection is not None else None
                maps += characterise_renderings(baseline, renderings, shares)
                done += len(part)
                if progress is not None:
                    progress(done, total)
    return Characterisation(tuple(maps), tuple(baselines), time.perf_counter() - start)


def combine_windows(parts: Sequence[Characterisation], seconds: Sequence[float]) -> Characterisation:
    """One clip measured window by window (a long clip streamed in bounded memory), as one characterisation.

    Each figure of a map, and of the original, is the mean over the windows weighted by their length in
    seconds (windows where a figure is undefined, NaN, are left out of its mean); the changes and tags are
    then derived from those means exactly as for a whole clip. Onsets are gathered with their window offsets.
    """
    if len(parts) == 1:
        return parts[0]
    weights = np.asarray(seconds, dtype=np.float64)
    offsets = np.concatenate([[0.0], np.cumsum(weights)[:-1]])

    def mean(figures: Sequence[Figures]) -> Figures:
        values = np.array([[getattr(f, k) for k in Figures.__dataclass_fields__] for f in figures], dtype=np.float64)
        known = np.isfinite(values)
        w = weights[:, None] * known
        total = w.sum(axis=0)
        means = np.where(total > 0, (np.where(known, values, 0.0) * w).sum(axis=0) / np.maximum(total, 1e-300), np.nan)
        return Figures(*map(float, means))

    first = parts[0].baselines
    baselines = []
    for i, base in enumerate(first):
        per_window = [p.baselines[i] for p in parts]
        onsets = np.concatenate([b.onsets + off for b, off in zip(per_window, offsets, strict=True)])
        figures = mean([b.figures for b in per_window])
        baselines.append(replace(base, onsets=onsets, figures=figures, seconds=sum(b.seconds for b in per_window)))
    maps = []
    for m in parts[0].maps:
        same = [
            next(x for x in p.maps if (x.layer, x.index, x.clip_sha256) == (m.layer, m.index, m.clip_sha256))
            for p in parts
        ]
        base = next(b for b in baselines if b.clip_sha256 == m.clip_sha256)
        figures = mean([x.figures for x in same])
        changes = Changes.between(figures, base.figures)
        tags = suggest_tags(figures, changes, clip_sha256=m.clip_sha256, clip_name=m.clip_name)
        maps.append(
            replace(
                m,
                figures=figures,
                original=base.figures,
                changes=changes,
                tags=tags,
                seconds=sum(x.seconds for x in same),
            )
        )
    return Characterisation(
        tuple(maps), tuple(baselines), sum(p.seconds for p in parts), any(p.cancelled for p in parts)
    )


def join_clips(parts: Sequence[Characterisation]) -> Characterisation:
    """Characterisations of different clips (same maps) as one, as :func:`characterise` of them all gives."""
    return Characterisation(
        tuple(m for p in parts for m in p.maps),
        tuple(b for p in parts for b in p.baselines),
        sum(p.seconds for p in parts),
        any(p.cancelled for p in parts),
    )


# --- helpers ---------------------------------------------------------------------------------------------
def _layer_groups(analysis: Analysis, refs: Iterable[FeatureRef] | None) -> dict[int, list[int]]:
    if refs is None:
        return {layer.number: list(range(layer.n_maps)) for layer in analysis.model.layers}
    groups: dict[int, list[int]] = {}
    for layer, index in sorted(dict.fromkeys(FeatureRef.of(r) for r in refs)):
        n_maps = analysis.model.layer(layer).n_maps  # raises SelectionError for a bad layer
        if not 0 <= index < n_maps:
            from app.core.errors import SelectionError

            raise SelectionError(f"feature {index} is out of range: layer {layer} has features 0-{n_maps - 1}")
        groups.setdefault(layer, []).append(index)
    return groups


def _chunks(items: Sequence[int], size: int) -> Iterable[list[int]]:
    size = max(1, size)
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _margin(tag: SuggestedTag) -> float:
    """How far a tag's figure lies past its threshold, relative to the threshold (to pick the clearest clip)."""
    scale = abs(tag.threshold) or 1.0
    return (tag.value - tag.threshold) / scale if tag.op == ">=" else (tag.threshold - tag.value) / scale
