"""The JSON sidecar written beside every exported WAV (``x.wav`` -> ``x.json``): what was rendered, from what, how.

Non-finite figures are written as null (strict JSON): ``rendering_lufs`` and ``original_lufs`` are null for
silence (-inf LUFS). Torch-free.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from app.core.formats.frontend import FrontEndBlock
from app.core.formats.schema import Closed

Lufs = float | None


class WavSidecar(Closed):
    """One exported rendering."""

    model_config = ConfigDict(title="Aurascope WAV sidecar")

    aurascope_version: str
    source_file: str = Field(description="the clip, as an absolute path")
    source_sha256: str = Field(pattern="^[0-9a-f]{64}$")
    model_file: str | None = Field(description="null for a network given as package.module:callable")
    model_source: str
    model_sha256: str | None
    model_name: str
    layer: int = Field(ge=1)
    feature: int = Field(ge=0)
    mode: Literal["choi", "magnitude", "residual"]
    method: Literal["deconvnet", "guided-backprop", "gradient"]
    front_end: FrontEndBlock
    loudness_normalisation: Literal["none", "match", "peak"]
    gain_db: float
    gain_limited_to_avoid_clipping: bool
    rendering_lufs: Lufs = Field(description="BS.1770 loudness before the gain; null: silence (-inf)")
    original_lufs: Lufs = Field(description="the clip's loudness; null: silence (-inf)")
    format: Literal["float32", "pcm24", "pcm16"]
    sample_rate: int = Field(gt=0)
    clipped_samples: int = Field(ge=0, description="samples beyond full scale in an integer format")


__all__ = ["WavSidecar"]
