"""The words every layer shares: which feature map, how it is rendered and exported, and the records a session keeps.

Imports no torch, numpy or Qt (import-linter holds it to that), so the window, the CLI and the session file read
these names on any thread, at start-up, for free. The core's modules that compute with them re-export them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple, TypedDict, TypeVar, cast

E = TypeVar("E", bound=StrEnum)
W = TypeVar("W", bound="Worded")
_MAP_NAME = re.compile(r"^L(\d+)F(\d+)$")


# --- which feature ------------------------------------------------------------------------------------------------
class FeatureRef(NamedTuple):
    """Feature map ``index`` (from 0) of ``layer`` (from 1): ``L2F17``.

    A named pair rather than a dataclass on purpose: it is the same value as the ``(layer, index)`` tuple Qt
    signals, dict keys and sorted lists carry, so a feature stays one value from the click to the file name.
    """

    layer: int
    index: int

    def __str__(self) -> str:
        return f"L{self.layer}F{self.index}"

    @classmethod
    def of(cls, value: FeatureRef | tuple[int, int] | str) -> FeatureRef:
        """A ref from a pair or a name (``"L2F17"``, as session files and the CLI write it)."""
        if isinstance(value, str):
            return cls.parse(value)
        layer, index = value
        return cls(int(layer), int(index))

    @classmethod
    def parse(cls, text: str) -> FeatureRef:
        """``"L2F17"`` -> ``FeatureRef(2, 17)``; ValueError naming the text otherwise."""
        m = _MAP_NAME.match(text)
        if not m:
            raise ValueError(f"not a map name: {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))


# --- how it is rendered -------------------------------------------------------------------------------------------
class Worded(StrEnum):
    """A choice with words for the user: ``label`` (what a menu, a combo box shows) and ``hint`` (one line saying
    what it does: a tooltip, ``--help``), said once per member with :func:`_say`."""

    @property
    def label(self) -> str:
        return _WORDS[type(self), self.value][0]

    @property
    def hint(self) -> str:
        return _WORDS[type(self), self.value][1]


# keyed by (enum, value): members of different enums with one value ("none") are equal strings
_WORDS: dict[tuple[type[Worded], str], tuple[str, str]] = {}


def _say(words: Mapping[W, tuple[str, str]]) -> None:
    _WORDS.update({(type(member), member.value): said for member, said in words.items()})


class Mode(Worded):
    """``choi``: ISTFT(X * D); ``magnitude``: ISTFT(max(D, 0) * e^{i angle X}); ``residual``: y - choi."""

    CHOI = "choi"
    MAGNITUDE = "magnitude"
    RESIDUAL = "residual"

    @property
    def description(self) -> str:
        """One line saying what is played (a tooltip, ``--help``)."""
        return self.hint


_say(
    {
        Mode.CHOI: ("Choi X·D", "ISTFT(X·D): D as a mask on the clip's STFT (Choi et al.)"),
        Mode.MAGNITUDE: ("Magnitude", "ISTFT(max(D, 0)·e^{i∠X}): D as a magnitude, the clip's phase"),
        Mode.RESIDUAL: ("Residual X − X·D", "X − X·D: what the feature leaves out of the clip"),
    }
)


class Method(Worded):
    """How the signal passes a ReLU on its way down to the input (`app.core.methods` applies it)."""

    DECONVNET = "deconvnet"
    GUIDED_BACKPROP = "guided-backprop"
    GRADIENT = "gradient"

    @property
    def description(self) -> str:
        """The hint with the method's name in front."""
        return f"{self.label.lower()}: {self.hint}"


_say(
    {
        Method.DECONVNET: (
            "Deconvnet",
            "each ReLU rectifies the signal coming down (Zeiler & Fergus; Choi et al. 2015)",
        ),
        Method.GUIDED_BACKPROP: (
            "Guided backprop",
            "the signal is rectified and kept only where the forward ReLU was on",
        ),
        Method.GRADIENT: (
            "Gradient",
            "the plain gradient of the map (saliency): gated by the forward ReLU, not rectified",
        ),
    }
)


class Loudness(Worded):
    """Level of exported files: raw (as rendered), matched to the original's LUFS, or peak-normalised."""

    NONE = "none"
    MATCH = "match"
    PEAK = "peak"


_say(
    {
        Loudness.NONE: ("None: raw level, as rendered", "the rendering's own level"),
        Loudness.MATCH: ("Match the original's loudness (BS.1770 LUFS)", "the clip's integrated loudness"),
        Loudness.PEAK: ("Peak-normalise (−0.1 dBFS)", "the loudest sample at −0.1 dBFS"),
    }
)


def member_or(kind: type[E], value: object, default: E) -> E:
    """``value`` as a member of ``kind``, or ``default`` when it names none (a stale setting, a hand-edited file)."""
    try:
        return kind(value)
    except ValueError:
        return default


def export_name(clip_name: str, ref: FeatureRef, mode: Mode | str, *, method: Method | str = Method.DECONVNET) -> str:
    """``clip_L3_F6_choi.wav``; a method other than the deconvnet is added: ``clip_L3_F6_choi_gradient.wav``."""
    suffix = "" if Method(method) is Method.DECONVNET else f"_{Method(method).value}"
    return f"{clip_name}_L{ref.layer}_F{ref.index}_{Mode(mode).value}{suffix}.wav"


@dataclass(frozen=True)
class ExportRequest:
    """What to export: every (map, mode) of ``refs`` x ``modes`` as ``subtype`` WAVs (``"float32"``, ``"pcm24"``,
    ``"pcm16"``) at ``loudness`` into ``folder``, rendered with ``method``; named by `export_name`."""

    refs: tuple[FeatureRef, ...]
    modes: tuple[Mode, ...]
    subtype: str
    loudness: Loudness
    folder: Path
    method: Method = Method.DECONVNET

    def __post_init__(self) -> None:  # the vocabulary's members, whether given members or their names
        object.__setattr__(self, "refs", tuple(FeatureRef.of(r) for r in self.refs))
        object.__setattr__(self, "modes", tuple(Mode(m) for m in self.modes))
        object.__setattr__(self, "loudness", Loudness(self.loudness))
        object.__setattr__(self, "method", Method(self.method))
        object.__setattr__(self, "folder", Path(self.folder))


# --- the listening report -----------------------------------------------------------------------------------------
#: Corpus excerpts per map a report shows when the listener does not say (the report dialog's default too).
DEFAULT_EXCERPTS = 3
#: The most excerpts per map the report dialog offers (each is two players and two WAVs per map).
MOST_EXCERPTS = 16


# --- suggested tags (app.core.characterise measures them) --------------------------------------------------------
#: The figures a tag rule reads, in words: ``"change.<field>"`` of the clip-vs-map changes, ``"map.<field>"`` of
#: the map's own figures.
FIGURE_WORDS: dict[str, str] = {
    "change.onset_corr": "onset correlation change",
    "change.attack_sustain_db": "attack/sustain change",
    "change.low_emphasis_db": "low-frequency emphasis (< 200 Hz)",
    "change.percussive_emphasis_db": "percussive emphasis (HPSS)",
    "change.pitch_salience": "pitch salience change",
    "map.low_share": "low-frequency share (< 200 Hz)",
    "stem.share": "share of the auralisation from the stem",
}


def format_figure(value: float, figure: str) -> str:
    """A figure as the tag text shows it: dB with a sign, changes with a sign, shares plain; n/a for NaN."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return "n/a" if math.isnan(value) else ("∞" if value > 0 else "-∞")
    if figure.endswith("_db"):
        return f"{value:+.1f} dB"
    if figure.startswith("change."):
        return f"{value:+.2f}"
    return f"{value:.2f}"


def json_number(value: float) -> float | None:
    """JSON has no NaN or infinity: they become null."""
    return None if isinstance(value, float) and not math.isfinite(value) else round(float(value), 6)


class TagDoc(TypedDict):
    """A suggested tag in JSON (`SuggestedTag.to_dict`): its fields, ``value`` null when not finite."""

    tag: str
    figure: str
    value: float | None
    threshold: float
    op: str
    detail: str
    clip_sha256: str
    clip_name: str
    support: int
    of: int


@dataclass(frozen=True)
class SuggestedTag:
    """A tag suggested by a rule, with the figure that triggered it (its value and threshold) and the clip.

    ``support`` of ``of`` clips met the rule; ``value`` and ``clip_name`` are from the clip where it held best.
    """

    tag: str
    figure: str
    value: float
    threshold: float
    op: str
    detail: str
    clip_sha256: str = ""
    clip_name: str = ""
    support: int = 1
    of: int = 1

    def text(self) -> str:
        where = f" on {self.clip_name}" if self.clip_name else ""
        count = f" ({self.support} of {self.of} clips)" if self.of > 1 else ""
        sign = "≥" if self.op == ">=" else "≤"
        return (
            f"{self.tag}: {FIGURE_WORDS.get(self.figure, self.figure)} {format_figure(self.value, self.figure)} "
            f"{sign} {format_figure(self.threshold, self.figure)}{where}{count}"
        )

    def to_dict(self) -> TagDoc:
        out = cast(TagDoc, asdict(self))
        out["value"] = json_number(self.value)
        return out

    @classmethod
    def from_dict(cls, data: TagDoc) -> SuggestedTag:
        return cls(**{**data, "value": float("nan") if data.get("value") is None else data["value"]})


# --- A/B/X records (app.core.abx runs the trials) ----------------------------------------------------------------
class Choice(StrEnum):
    """A = the original, B = the feature (as on the transport)."""

    A = "A"
    B = "B"


class MapOnClip(TypedDict):
    """The keys a record about one map on one clip starts with in JSON (a session's A/B/X runs, report.json)."""

    layer: int
    index: int
    clip: str  # the clip's SHA-256
    clip_name: str


def map_on_clip(layer: int, index: int, clip_sha256: str, clip_name: str) -> MapOnClip:
    """The keys a record about one map on one clip starts with in JSON (a session's A/B/X runs, report.json)."""
    return {"layer": layer, "index": index, "clip": clip_sha256, "clip_name": clip_name}


class AnswerDoc(TypedDict):
    x: str  # "A" or "B"
    answer: str
    seconds: float | None


class AbxDoc(MapOnClip):
    """An A/B/X run in a session file (`AbxResult.to_dict`)."""

    seed: int
    planned_trials: int
    gain_db: float
    gain_a_db: float
    level_difference_lu: float | None
    mode: str
    loop: list[float] | None  # [start_s, end_s]
    answers: list[AnswerDoc]
    correct: int
    trials: int
    p_value: float
    finished_at: str


def binomial_p_value(correct: int, trials: int, chance: float = 0.5) -> float:
    """One-sided exact p-value ``P(K >= correct)`` for ``K ~ Binomial(trials, chance)``.

    Summed in exact rational arithmetic, so e.g. 9 of 10 gives 11/1024 = 0.0107421875 exactly.
    """
    if trials < 0 or not 0 <= correct <= trials:
        raise ValueError(f"need 0 <= correct <= trials, got {correct} of {trials}")
    if not 0.0 < chance < 1.0:
        raise ValueError(f"chance must lie strictly between 0 and 1, got {chance}")
    p = Fraction(chance)
    q = 1 - p
    tail = sum(math.comb(trials, k) * p**k * q ** (trials - k) for k in range(correct, trials + 1))
    return float(tail)


@dataclass(frozen=True)
class AbxAnswer:
    """One answered trial: what X was, what the listener said, and how long they took (s, or None)."""

    x_is: Choice
    answer: Choice
    seconds: float | None = None

    @property
    def correct(self) -> bool:
        return self.x_is is self.answer


@dataclass(frozen=True)
class AbxResult:
    """A finished (or abandoned) A/B/X run on one map of one clip, as saved in the session."""

    layer: int
    index: int
    clip_sha256: str
    clip_name: str
    seed: int
    planned_trials: int
    gain_db: float
    mode: str = "choi"
    loop: tuple[float, float] | None = None
    answers: tuple[AbxAnswer, ...] = ()
    finished_at: str = ""
    #: A's gain in dB (A is turned down when B cannot be raised to it without clipping)
    gain_a_db: float = 0.0
    #: measured |loudness(A as played) - loudness(B as played)| in LU; None in runs saved before it was measured
    level_difference_lu: float | None = None

    @property
    def ref(self) -> FeatureRef:
        return FeatureRef(self.layer, self.index)

    @property
    def trials(self) -> int:
        return len(self.answers)

    @property
    def correct(self) -> int:
        return sum(a.correct for a in self.answers)

    @property
    def p_value(self) -> float:
        return binomial_p_value(self.correct, self.trials) if self.trials else 1.0

    def to_dict(self) -> AbxDoc:
        return {
            **map_on_clip(self.layer, self.index, self.clip_sha256, self.clip_name),
            "seed": self.seed,
            "planned_trials": self.planned_trials,
            "gain_db": self.gain_db,
            "gain_a_db": self.gain_a_db,
            "level_difference_lu": self.level_difference_lu,
            "mode": self.mode,
            "loop": list(self.loop) if self.loop else None,
            "answers": [{"x": a.x_is.value, "answer": a.answer.value, "seconds": a.seconds} for a in self.answers],
            "correct": self.correct,
            "trials": self.trials,
            "p_value": self.p_value,
            "finished_at": self.finished_at,
        }
