"""Front ends: the STFT (complex result kept), linear or mel scale, compression, normalisation,
and the map from a deconvolved input-domain array back to linear STFT bins (DESIGN 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from app.core import limits
from app.core.errors import ModelFormatError
from app.core.formats.frontend import (
    Compression,
    DbReference,
    MelNorm,
    MelScale,
    PadMode,
    Scale,
    Window,
    parse_front_end,
)

_ENUMS: dict[str, type[StrEnum]] = {
    "scale": Scale,
    "mel_scale": MelScale,
    "mel_norm": MelNorm,
    "pad_mode": PadMode,
    "window": Window,
    "compression": Compression,
    "db_reference": DbReference,
}

if TYPE_CHECKING:  # the description imports without torch (app.core.model_spec); the transform needs it
    import torch


@dataclass(frozen=True)
class FrontEnd:
    """How audio becomes the network's input ``[shape=(n_bins, n_frames)]``.

    ``window`` and ``pad_mode`` STFT -> ``|X|**power`` -> (mel filterbank: ``mel_scale``, ``mel_norm``) ->
    compression -> ``(v - norm_mean) / norm_std``. Defaults are Choi et al. 2015: 11025 Hz, n_fft 512, hop 256,
    periodic Hann, zero padding, linear magnitude, no compression. Every field added later defaults to what
    files written before it meant, so old files keep their meaning.

    Compression ``log1p`` is ``ln(1 + log1p_factor·v)``, ``log10_1p`` is ``log10(1 + log1p_factor·v)``.
    ``db`` is ``10·log10(max(v, db_amin))`` or ``20·log10(...)`` per ``db_reference``; when that is None (files
    from before the field) it is the dB of the power: ``10·log10(max(P, db_amin))`` with ``P = v`` for
    ``power`` 2 and ``P = v²`` for ``power`` 1. ``db_top_db`` (None: no floor) floors the result that many dB
    below the clip's maximum.
    """

    sample_rate: int = 11025
    n_fft: int = 512
    hop_length: int = 256
    window: Window = Window.HANN
    center: bool = True
    pad_mode: PadMode = PadMode.CONSTANT
    power: float = 1.0
    scale: Scale = Scale.LINEAR
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    mel_scale: MelScale = MelScale.SLANEY
    mel_norm: MelNorm = MelNorm.SLANEY
    compression: Compression = Compression.NONE
    log1p_factor: float = 1.0
    db_reference: DbReference | None = None
    db_amin: float = 1e-10
    db_top_db: float | None = 80.0
    norm_mean: float = 0.0
    norm_std: float = 1.0

    def __post_init__(self) -> None:
        for name, enum in _ENUMS.items():
            value = getattr(self, name)
            if value is None and name == "db_reference":
                continue
            try:
                object.__setattr__(self, name, enum(value))
            except ValueError:
                choices = [e.value for e in enum]
                raise ModelFormatError(
                    None, f"expected one of {choices}, got {value!r}", field=f"front_end.{name}"
                ) from None
        checks = {
            "sample_rate": self.sample_rate > 0,
            "n_fft": self.n_fft >= 16,
            "hop_length": 0 < self.hop_length <= self.n_fft,
            "center": isinstance(self.center, bool),
            "power": self.power in (1.0, 2.0),
            "n_mels": self.n_mels > 0,
            "fmin": 0 <= self.fmin < self.sample_rate / 2,
            "fmax": self.fmax is None or self.fmin < self.fmax <= self.sample_rate / 2,
            "log1p_factor": self.log1p_factor > 0 and math.isfinite(self.log1p_factor),
            "db_amin": self.db_amin > 0 and math.isfinite(self.db_amin),
            "db_top_db": self.db_top_db is None or (self.db_top_db > 0 and math.isfinite(self.db_top_db)),
            "norm_std": self.norm_std > 0 and math.isfinite(self.norm_std),
            "norm_mean": math.isfinite(self.norm_mean),
        }
        for name, ok in checks.items():
            if not ok:
                raise ModelFormatError(None, f"invalid value {getattr(self, name)!r}", field=f"front_end.{name}")
        for name, limit in (
            ("sample_rate", limits.MIN_SAMPLE_RATE),
            ("sample_rate", limits.MAX_SAMPLE_RATE),
            ("n_fft", limits.MAX_N_FFT),
            ("n_mels", limits.MAX_N_MELS),
        ):
            reason = limit.problem(getattr(self, name), name)
            if reason is not None:
                raise ModelFormatError(None, reason, field=f"front_end.{name}")

    # --- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in _ENUMS:
            if d[name] is not None:
                d[name] = d[name].value
        return d

    @classmethod
    def from_dict(cls, data: object) -> FrontEnd:
        """Build from the metadata's ``front_end`` block; raises ModelFormatError naming the field.

        An optional ``"preset"`` key (one of :data:`PRESETS`) is the starting point the other keys override. The
        block's file format is declared once, in :class:`app.core.formats.frontend.FrontEndBlock`.
        """
        return cls.from_keys(*parse_front_end(data))

    @classmethod
    def from_keys(cls, preset: str | None, given: Mapping[str, Any]) -> FrontEnd:
        """A preset's front end (None: the defaults) with the ``given`` fields overriding it."""
        base = asdict(PRESETS[preset]) if preset is not None else {}
        return cls(**{**base, **given})

    # --- shapes --------------------------------------------------------------------------------
    @property
    def n_freq(self) -> int:
        """Linear STFT bins."""
        return self.n_fft // 2 + 1

    @property
    def n_bins(self) -> int:
        """Bins of the network's input (mel bands or linear bins)."""
        return self.n_mels if self.scale is Scale.MEL else self.n_freq

    def n_frames(self, n_samples: int) -> int:
        return n_samples // self.hop_length + 1 if self.center else 1 + (n_samples - self.n_fft) // self.hop_length

    def bin_frequencies(self) -> np.ndarray:
        """Centre frequency in Hz of each input bin ``[shape=(n_bins,)]``."""
        if self.scale is Scale.MEL:
            from app.core.mel import mel_frequencies

            htk = self.mel_scale is MelScale.HTK
            hz = mel_frequencies(self.n_mels + 2, fmin=self.fmin, fmax=self._fmax, htk=htk)
            return hz[1:-1].astype(np.float32)
        return np.linspace(0, self.sample_rate / 2, self.n_freq, dtype=np.float32)

    @property
    def _fmax(self) -> float:
        return float(self.fmax) if self.fmax is not None else self.sample_rate / 2

    @property
    def _mel_key(self) -> tuple[int, int, int, float, float, MelScale, MelNorm]:
        return (self.sample_rate, self.n_fft, self.n_mels, self.fmin, self._fmax, self.mel_scale, self.mel_norm)

    # --- the transform ---------------------------------------------------------------------------
    def window_tensor(self, device: torch.device | str = "cpu", dtype: torch.dtype | None = None) -> torch.Tensor:
        """The analysis window ``[shape=(n_fft,)]`` (float32 unless ``dtype``)."""
        import torch

        return _window(self.n_fft, self.window, dtype or torch.float32).to(device)

    def stft(self, y: torch.Tensor) -> torch.Tensor:
        """Complex STFT ``[shape=(..., n_freq, n_frames)]`` of audio ``[shape=(..., n_samples)]``.

        Reflect padding needs more than ``n_fft // 2`` samples; a shorter clip is padded with zeros to that
        length first (reflection of a few samples is no better defined), the frames then cropped to the count
        of the real length.
        """
        import torch

        n = y.shape[-1]
        if self.center and self.pad_mode is PadMode.REFLECT and n <= self.n_fft // 2:
            y = torch.nn.functional.pad(y, (0, self.n_fft // 2 + 1 - n))
        spec = torch.stft(
            y,
            self.n_fft,
            self.hop_length,
            window=self.window_tensor(y.device, y.dtype),
            center=self.center,
            pad_mode=self.pad_mode.value,
            return_complex=True,
        )
        return spec[..., : self.n_frames(n)]

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse of :meth:`stft`: audio ``[shape=(..., length)]``."""
        import torch

        return torch.istft(
            spec,
            self.n_fft,
            self.hop_length,
            window=self.window_tensor(spec.device, spec.real.dtype),
            center=self.center,
            length=length,
        )

    def input_from_stft(self, spec: torch.Tensor) -> torch.Tensor:
        """The network's input ``[shape=(..., n_bins, n_frames)]``, float32, from a complex STFT (computed in the
        STFT's precision)."""
        import torch

        v = spec.abs()
        if self.power != 1.0:
            v = v**self.power
        if self.scale is Scale.MEL:
            v = torch.matmul(self.mel_basis(v.device).to(v.dtype), v)
        if self.compression is Compression.LOG1P:
            v = torch.log1p(self.log1p_factor * v)
        elif self.compression is Compression.LOG10_1P:
            v = torch.log10(1.0 + self.log1p_factor * v)
        elif self.compression is Compression.DB:
            v = self._db(v)
        if self.norm_mean != 0.0 or self.norm_std != 1.0:
            v = (v - self.norm_mean) / self.norm_std
        return v.float()

    def _db(self, v: torch.Tensor) -> torch.Tensor:
        import torch

        if self.db_reference is DbReference.AMPLITUDE:
            v = 20.0 * torch.log10(torch.clamp(v, min=self.db_amin))
        elif self.db_reference is DbReference.POWER:
            v = 10.0 * torch.log10(torch.clamp(v, min=self.db_amin))
        else:  # files from before db_reference: the dB of the power, whatever ``power`` is
            power = v if self.power == 2.0 else v * v
            v = 10.0 * torch.log10(torch.clamp(power, min=self.db_amin))
        if self.db_top_db is not None:
            floor = v.amax(dim=(-2, -1), keepdim=True) - self.db_top_db
            v = torch.maximum(v, floor)
        return v

    def mel_basis(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The mel filterbank ``[shape=(n_mels, n_freq)]`` (``mel_scale``, ``mel_norm``)."""
        import torch

        return torch.from_numpy(_mel_basis(*self._mel_key)).to(device)

    def mask_to_linear(self, mask: torch.Tensor) -> torch.Tensor:
        """Map a deconvolved input-domain array ``[shape=(..., n_bins, n_frames)]`` to linear STFT bins.

        Linear scale: unchanged (for a compressed input the mask stays in the compressed domain, as DESIGN 1
        says). Mel: the filterbank transpose with each linear bin's weights normalised to sum to 1, so a
        constant mel mask maps to the same constant on every linear bin whatever the mel scale and filter
        norm; bins no filter covers (DC, above fmax) take the weights of the nearest covered bin.
        """
        import torch

        if self.scale is Scale.LINEAR:
            return mask
        back = torch.from_numpy(_mel_to_linear(*self._mel_key)).to(device=mask.device, dtype=mask.dtype)
        return torch.matmul(back, mask)

    def linear_to_input_scale(self, linear: torch.Tensor) -> torch.Tensor:
        """Average linear bins into the input's bins (mel filters normalised to sum 1); for round trips."""
        import torch

        if self.scale is Scale.LINEAR:
            return linear
        basis = self.mel_basis(linear.device).to(linear.dtype)
        basis = basis / basis.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return torch.matmul(basis, linear)


def front_end_preset(name: str, **overrides: object) -> FrontEnd:
    """The named preset with some fields overridden, e.g. ``front_end_preset("torchaudio", n_fft=512)``."""
    return FrontEnd.from_dict({"preset": name, **overrides})


# Where a published network's training code started. Each one is checked against an independent computation in
# tests/core/test_frontend.py; a sidecar names one as ``{"front_end": {"preset": "torchaudio", ...overrides}}``.
# librosa.feature.melspectrogram defaults (librosa >= 0.10) -> power_to_db(ref=1.0, amin=1e-10, top_db=80)
_LIBROSA = FrontEnd(
    sample_rate=22050,
    n_fft=2048,
    hop_length=512,
    pad_mode=PadMode.CONSTANT,
    power=2.0,
    scale=Scale.MEL,
    n_mels=128,
    compression=Compression.DB,
    db_reference=DbReference.POWER,
    db_amin=1e-10,
    db_top_db=80.0,
)
PRESETS: dict[str, FrontEnd] = {
    "librosa": _LIBROSA,
    # torchaudio.transforms.MelSpectrogram defaults -> AmplitudeToDB(stype="power", top_db=None): librosa's pipeline
    # with other sizes, reflect padding, HTK mel without filter normalisation and no dB floor
    "torchaudio": replace(
        _LIBROSA,
        sample_rate=16000,
        n_fft=400,
        hop_length=200,
        pad_mode=PadMode.REFLECT,
        mel_scale=MelScale.HTK,
        mel_norm=MelNorm.NONE,
        db_top_db=None,
    ),
    # musicnn (Pons & Serra 2019) preprocess: librosa 0.7 melspectrogram (reflect padding then) -> log10(1 + 10000·x)
    "musicnn": replace(
        _LIBROSA,
        sample_rate=16000,
        n_fft=512,
        hop_length=256,
        pad_mode=PadMode.REFLECT,
        n_mels=96,
        compression=Compression.LOG10_1P,
        log1p_factor=10000.0,
        db_reference=None,  # no dB here: the field keeps the value files without it meant
    ),
    # kapre.composed.get_melspectrogram_layer(return_decibel=True) defaults: tf.signal.stft without padding,
    # magnitude, Slaney mel, MagnitudeToDecibel = 10·log10(max(v, 1e-5)) floored 80 dB below the maximum; otherwise
    # librosa's sizes and mel
    "kapre": replace(_LIBROSA, center=False, power=1.0, db_amin=1e-5),
}


@cache
def _window(n_fft: int, window: Window, dtype: torch.dtype) -> torch.Tensor:
    import torch

    # computed in the precision asked for: torch's float32 window is the one torchaudio stores in checkpoints
    return torch.hann_window(n_fft, periodic=window is Window.HANN, dtype=dtype)


@cache
def _mel_basis(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float, mel_scale: MelScale, mel_norm: MelNorm
) -> np.ndarray:
    from app.core.mel import mel_filterbank  # librosa's filters.mel without librosa's ~1 s import

    # torchaudio's own defaults (n_fft 400, 128 HTK bands at 16 kHz) leave low bands empty; that is the published
    # front end, reproduced as it is (an empty band contributes nothing to the mask's way back)
    basis = mel_filterbank(
        sr=sample_rate,
        n_fft=n_fft,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        htk=mel_scale is MelScale.HTK,
        slaney_norm=mel_norm is MelNorm.SLANEY,
    )
    return basis.astype(np.float32)


@cache
def _mel_to_linear(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float, mel_scale: MelScale, mel_norm: MelNorm
) -> np.ndarray:
    back = _mel_basis(sample_rate, n_fft, n_mels, fmin, fmax, mel_scale, mel_norm).T.copy()  # (n_freq, n_mels)
    sums = back.sum(axis=1)
    covered = np.flatnonzero(sums > 1e-12)
    if covered.size == 0:
        raise ModelFormatError(None, "the mel filterbank covers no STFT bin", field="front_end.n_mels")
    back[covered] /= sums[covered, None]
    for row in np.flatnonzero(sums <= 1e-12):
        back[row] = back[covered[np.argmin(np.abs(covered - row))]]
    return back
