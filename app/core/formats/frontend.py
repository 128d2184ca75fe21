"""The ``front_end`` block (in a model file's metadata, a front-end sidecar ``fe.json``, every WAV sidecar), declared
once, with the words its values take. :class:`app.core.frontend.FrontEnd` is what it becomes in memory (with the
transform and the checks that span fields, such as ``hop_length <= n_fft``); this is its file format.

Every field has a default, the value files written before the field existed meant, so old files keep their
meaning. Torch-free.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator
from pydantic import Strict as StrictFlag

from app.core.errors import ModelFormatError
from app.core.formats.schema import Closed, validate


class Scale(StrEnum):
    LINEAR = "linear"
    MEL = "mel"


class MelScale(StrEnum):
    """How Hz map to mel: Slaney's (linear below 1 kHz, librosa's default) or HTK's ``2595·log10(1 + f/700)``
    (torchaudio's default)."""

    SLANEY = "slaney"
    HTK = "htk"


class MelNorm(StrEnum):
    """Filter normalisation: ``slaney`` scales each triangle to unit area per Hz (librosa); ``none`` keeps peaks
    at 1 (torchaudio)."""

    SLANEY = "slaney"
    NONE = "none"


class PadMode(StrEnum):
    """What centred frames see beyond the clip's ends: zeros (librosa >= 0.10) or its mirror image (torchaudio,
    librosa < 0.10)."""

    CONSTANT = "constant"
    REFLECT = "reflect"


class Window(StrEnum):
    """``hann`` is periodic (the DFT-even window of librosa, torch and tf.signal); ``hann_symmetric`` ends in
    zeros at both sides (``scipy.signal.windows.hann(sym=True)``)."""

    HANN = "hann"
    HANN_SYMMETRIC = "hann_symmetric"


class Compression(StrEnum):
    NONE = "none"
    LOG1P = "log1p"  # ln(1 + factor·v)
    LOG10_1P = "log10_1p"  # log10(1 + factor·v): musicnn's "logC" with factor 10000
    DB = "db"


class DbReference(StrEnum):
    """What the dB conversion takes the values to be: ``power`` gives ``10·log10(max(v, amin))`` (torchaudio
    ``AmplitudeToDB("power")``, librosa ``power_to_db``, kapre ``MagnitudeToDecibel``, whatever ``power`` is);
    ``amplitude`` gives ``20·log10(max(v, amin))`` (torchaudio ``AmplitudeToDB("magnitude")``, librosa
    ``amplitude_to_db``)."""

    POWER = "power"
    AMPLITUDE = "amplitude"


PRESET_NAMES = ("librosa", "torchaudio", "musicnn", "kapre")  # app.core.frontend.PRESETS (a test keeps them equal)


def _whole(value: Any) -> Any:
    """512.0 is the whole number 512 (JSON writers differ); 512.5 and "512" stay wrong."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole)]
Choice = StrictFlag(False)  # an enum reads from its JSON value ("mel"), still refusing anything else


class FrontEndBlock(Closed):
    """How audio becomes the network's input: ``window``/``pad_mode`` STFT -> ``|X|**power`` -> (mel filterbank:
    ``mel_scale``, ``mel_norm``) -> compression -> ``(v - norm_mean) / norm_std``. Defaults are Choi et al. 2015
    (11025 Hz, n_fft 512, hop 256, periodic Hann, zero padding, linear magnitude, no compression).
    """

    preset: Literal[PRESET_NAMES] | None = Field(  # type: ignore[valid-type]
        None, description="a published network's front end as the starting point; the other keys override it"
    )
    sample_rate: WholeNumber = Field(11025, gt=0, description="Hz; audio is resampled to it")
    n_fft: WholeNumber = Field(512, ge=16, description="STFT frame length in samples")
    hop_length: WholeNumber = Field(256, gt=0, description="samples between frames, at most n_fft")
    window: Annotated[Window, Choice] = Window.HANN
    center: bool = Field(True, description="frames centred on their time (the clip padded by n_fft/2)")
    pad_mode: Annotated[PadMode, Choice] = PadMode.CONSTANT
    power: float = Field(1.0, description="1 magnitude, 2 power")
    scale: Annotated[Scale, Choice] = Scale.LINEAR
    n_mels: WholeNumber = Field(128, gt=0, description="mel bands (scale 'mel')")
    fmin: float = Field(0.0, ge=0, allow_inf_nan=False, description="Hz, lowest mel band edge, below Nyquist")
    fmax: float | None = Field(None, gt=0, allow_inf_nan=False, description="Hz, highest mel edge; null: Nyquist")
    mel_scale: Annotated[MelScale, Choice] = MelScale.SLANEY
    mel_norm: Annotated[MelNorm, Choice] = MelNorm.SLANEY
    compression: Annotated[Compression, Choice] = Compression.NONE
    log1p_factor: float = Field(1.0, gt=0, allow_inf_nan=False, description="log1p / log10_1p: log(1 + factor·v)")
    db_reference: Annotated[DbReference, Choice] | None = Field(
        None, description="db: 10·log10 (power) or 20·log10 (amplitude); null: the dB of the power, as before"
    )
    db_amin: float = Field(1e-10, gt=0, allow_inf_nan=False, description="db: the floor inside the logarithm")
    db_top_db: float | None = Field(80.0, gt=0, allow_inf_nan=False, description="db: floor below the maximum")
    norm_mean: float = Field(0.0, allow_inf_nan=False, description="subtracted last")
    norm_std: float = Field(1.0, gt=0, allow_inf_nan=False, description="divided by last")

    @field_validator("power")
    @classmethod
    def _power(cls, value: float) -> float:
        if value not in (1.0, 2.0):
            raise ValueError(f"invalid value {value!r} (expected 1 or 2)")
        return float(value)


def parse_front_end(
    data: object, *, path: str | Path | None = None, field: str = "front_end"
) -> tuple[str | None, dict[str, Any]]:
    """``(preset, the keys given)`` from a parsed ``front_end`` block, for :meth:`app.core.frontend.FrontEnd.from_dict`.

    Raises :class:`ModelFormatError` naming ``path`` and the field (``front_end.n_fft``): unknown keys, wrong
    types, values out of range.
    """

    def fail(reason: str, where: str | None) -> ModelFormatError:
        return ModelFormatError(path, reason, field=where or field)

    if not isinstance(data, dict):
        raise fail("must be a JSON object", field)
    return declared_keys(validate(FrontEndBlock, data, fail, prefix=field))


def declared_keys(block: FrontEndBlock) -> tuple[str | None, dict[str, Any]]:  # each field its own type
    """``(preset, the keys the file gave)`` of a validated block: what the preset's values are overridden with."""
    return block.preset, {name: getattr(block, name) for name in block.model_fields_set if name != "preset"}


# --- the front-end file beside a module or ONNX network -------------------------------------------------------
def _labels(value: Any) -> Any:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of strings")
    return value


def _positive(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return value


class FrontEndFile(Closed):
    """``fe.json`` beside a ``package.module:callable`` or ``.onnx`` network: the front end it was trained with,
    and how to read its output (labels, activation), which such files cannot say themselves."""

    front_end: FrontEndBlock
    labels: Annotated[list[str], BeforeValidator(_labels)] = Field(default_factory=list)
    output: Literal["softmax", "sigmoid", "none"] | None = Field(None, description="null: guessed from the graph")
    task: str = ""
    name: str = ""
    head_input_frames: Annotated[int, BeforeValidator(_positive), Field(ge=1)] | None = None


def parse_front_end_file(data: object, *, path: str | Path | None = None) -> FrontEndFile:
    """A parsed ``fe.json``; raises :class:`ModelFormatError` naming ``path`` and the field. The ``front_end``
    block is then read by :meth:`app.core.frontend.FrontEnd.from_dict` (from the dict: a preset and the keys given)."""

    def fail(reason: str, where: str | None) -> ModelFormatError:
        return ModelFormatError(path, reason, field=where)

    if not isinstance(data, dict):
        raise fail("the sidecar must be a JSON object with a 'front_end' block", None)
    if "front_end" not in data and set(data) <= set(FrontEndFile.model_fields):  # unknown keys are told first
        raise fail("missing: the front end the network was trained with", "front_end")
    return validate(FrontEndFile, data, fail)


__all__ = [
    "Compression",
    "DbReference",
    "FrontEndBlock",
    "FrontEndFile",
    "MelNorm",
    "MelScale",
    "PadMode",
    "Scale",
    "Window",
    "declared_keys",
    "parse_front_end",
    "parse_front_end_file",
]
