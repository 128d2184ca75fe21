"""``report.json``, the machine-readable half of a listening report (``aurascope report``).

Non-finite figures are written as null (strict JSON): a silent clip has no onset correlation, a silent
rendering no loudness. Paths of audio and pictures are relative to the report's folder. Torch-free.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from app.core.formats.schema import Open, Pair

Figures = dict[str, float | None]


class ReportModel(Open):
    name: str
    file: str | None
    sha256: str | None


class Rule(Open):
    tag: str
    when: str


class ReportClip(Open):
    key: str = Field(description="the clip's name in file names")
    name: str
    file: str
    sha256: str
    seconds: float
    sample_rate: int
    onsets: int
    figures: Figures
    wav: str
    png: str
    png_size: Pair
    gain_db: float
    top_db: float


class Tag(Open):
    tag: str
    figure: str
    value: float | None
    threshold: float
    op: Literal[">=", "<="]


class Cell(Open):
    """One map on one clip."""

    clip: str = Field(description="a clip's key")
    feature_wav: str
    feature_gain_db: float
    feature_gain_limited: bool
    feature_lufs: float | None
    residual_wav: str
    residual_gain_db: float
    residual_gain_limited: bool
    residual_lufs: float | None
    feature_png: str
    png_size: Pair
    silent: bool
    figures: Figures
    changes: Figures
    tags: list[Tag]
    seconds: float


class ReportMap(Open):
    layer: int = Field(ge=1)
    index: int = Field(ge=0)
    id: str = Field(pattern=r"^L\d+F\d+$")
    label: str
    notes: str
    rating: int | None = Field(ge=1, le=5)
    suggested_tags: list[Tag]
    clips: list[Cell]


class ReportLayer(Open):
    layer: int = Field(ge=1)
    maps: list[ReportMap]


class ReportJson(Open):
    """The report; ``complete`` is false when it was cancelled (``pairs_done`` of ``pairs_planned``)."""

    model_config = ConfigDict(title="Aurascope report.json")

    format: Literal["aurascope-report"]
    version: Literal[1]
    title: str
    created_at: str
    aurascope_version: str
    model: ReportModel
    session: str | None
    method: Literal["deconvnet", "guided-backprop", "gradient"]
    resynthesis: str
    loudness: str
    range_db: float
    rules: list[Rule]
    clips: list[ReportClip]
    layers: list[ReportLayer]
    complete: bool
    pairs_done: int
    pairs_planned: int
    seconds_per_map: float
    seconds: float


__all__ = ["ReportJson"]
