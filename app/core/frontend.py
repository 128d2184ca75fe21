"""Front ends: the STFT (complex result kept), linear or mel scale, compression, normalisation,
and the map from a deconvolved input-domain array back to linear STFT bins (DESIGN 1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from functools import cache
from typing import Any

import numpy as np
import torch

from app.core.errors import ModelFormatError


class Scale(StrEnum):
    LINEAR = "linear"
    MEL = "mel"


class Compression(StrEnum):
    NONE = "none"
    LOG1P = "log1p"
    DB = "db"


@dataclass(frozen=True)
class FrontEnd:
    """How audio becomes the network's input ``[shape=(n_bins, n_frames)]``.

    magnitude ``|X|**power`` -> (mel filterbank) -> compression -> ``(v - norm_mean) / norm_std``.
    Defaults are Choi et al. 2015: 11025 Hz, n_fft 512, hop 256, linear magnitude, no compression.
    """

    sample_rate: int = 11025
    n_fft: int = 512
    hop_length: int = 256
    window: str = "hann"
    center: bool = True
    power: float = 1.0
    scale: Scale = Scale.LINEAR
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    compression: Compression = Compression.NONE
    log1p_factor: float = 1.0
    db_amin: float = 1e-10
    db_top_db: float | None = 80.0
    norm_mean: float = 0.0
    norm_std: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", Scale(self.scale))
        object.__setattr__(self, "compression", Compression(self.compression))
        checks = {
            "sample_rate": self.sample_rate > 0,
            "n_fft": self.n_fft >= 16,
            "hop_length": 0 < self.hop_length <= self.n_fft,
            "window": self.window == "hann",
            "power": self.power in (1.0, 2.0),
            "n_mels": self.n_mels > 0,
            "fmin": 0 <= self.fmin < self.sample_rate / 2,
            "fmax": self.fmax is None or self.fmin < self.fmax <= self.sample_rate / 2,
            "log1p_factor": self.log1p_factor > 0,
            "db_amin": self.db_amin > 0,
            "db_top_db": self.db_top_db is None or self.db_top_db > 0,
            "norm_std": self.norm_std > 0 and math.isfinite(self.norm_std),
            "norm_mean": math.isfinite(self.norm_mean),
        }
        for name, ok in checks.items():
            if not ok:
                raise ModelFormatError(None, f"invalid value {getattr(self, name)!r}", field=f"front_end.{name}")

    # --- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scale"] = self.scale.value
        d["compression"] = self.compression.value
        return d

    @classmethod
    def from_dict(cls, data: Any) -> FrontEnd:
        """Build from the metadata's ``front_end`` block; raises ModelFormatError naming the field."""
        if not isinstance(data, dict):
            raise ModelFormatError(None, "must be a JSON object", field="front_end")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ModelFormatError(None, f"unknown key(s) {unknown}", field="front_end")
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            expected = known[name].type
            try:
                kwargs[name] = _coerce(value, str(expected))
            except (TypeError, ValueError) as err:
                raise ModelFormatError(None, str(err), field=f"front_end.{name}") from None
        return cls(**kwargs)

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
            import librosa

            return librosa.mel_frequencies(n_mels=self.n_mels + 2, fmin=self.fmin, fmax=self._fmax, htk=False)[
                1:-1
            ].astype(np.float32)
        return np.linspace(0, self.sample_rate / 2, self.n_freq, dtype=np.float32)

    @property
    def _fmax(self) -> float:
        return float(self.fmax) if self.fmax is not None else self.sample_rate / 2

    # --- the transform ---------------------------------------------------------------------------
    def stft(self, y: torch.Tensor) -> torch.Tensor:
        """Complex STFT ``[shape=(..., n_freq, n_frames)]`` of audio ``[shape=(..., n_samples)]``."""
        window = _hann(self.n_fft, y.device)
        return torch.stft(
            y,
            self.n_fft,
            self.hop_length,
            window=window,
            center=self.center,
            pad_mode="constant",
            return_complex=True,
        )

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse of :meth:`stft`: audio ``[shape=(..., length)]``."""
        window = _hann(self.n_fft, spec.device)
        return torch.istft(spec, self.n_fft, self.hop_length, window=window, center=self.center, length=length)

    def input_from_stft(self, spec: torch.Tensor) -> torch.Tensor:
        """The network's input ``[shape=(..., n_bins, n_frames)]`` from a complex STFT."""
        v = spec.abs()
        if self.power != 1.0:
            v = v**self.power
        if self.scale is Scale.MEL:
            v = torch.matmul(self.mel_basis(v.device), v)
        if self.compression is Compression.LOG1P:
            v = torch.log1p(self.log1p_factor * v)
        elif self.compression is Compression.DB:
            power = v if self.power == 2.0 else v * v
            v = 10.0 * torch.log10(torch.clamp(power, min=self.db_amin))
            if self.db_top_db is not None:
                floor = v.amax(dim=(-2, -1), keepdim=True) - self.db_top_db
                v = torch.maximum(v, floor)
        if self.norm_mean != 0.0 or self.norm_std != 1.0:
            v = (v - self.norm_mean) / self.norm_std
        return v.float()

    def mel_basis(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Slaney mel filterbank ``[shape=(n_mels, n_freq)]``."""
        return torch.from_numpy(_mel_basis(self.sample_rate, self.n_fft, self.n_mels, self.fmin, self._fmax)).to(device)

    def mask_to_linear(self, mask: torch.Tensor) -> torch.Tensor:
        """Map a deconvolved input-domain array ``[shape=(..., n_bins, n_frames)]`` to linear STFT bins.

        Linear scale: unchanged (for a compressed input the mask stays in the compressed domain, as DESIGN 1
        says). Mel: the filterbank transpose with each linear bin's weights normalised to sum to 1, so a
        constant mel mask maps to the same constant on every linear bin; bins no filter covers (DC, above
        fmax) take the weights of the nearest covered bin.
        """
        if self.scale is Scale.LINEAR:
            return mask
        back = torch.from_numpy(_mel_to_linear(self.sample_rate, self.n_fft, self.n_mels, self.fmin, self._fmax)).to(
            device=mask.device, dtype=mask.dtype
        )
        return torch.matmul(back, mask)

    def linear_to_input_scale(self, linear: torch.Tensor) -> torch.Tensor:
        """Average linear bins into the input's bins (mel filters normalised to sum 1); for round trips."""
        if self.scale is Scale.LINEAR:
            return linear
        basis = self.mel_basis(linear.device).to(linear.dtype)
        basis = basis / basis.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return torch.matmul(basis, linear)


def _coerce(value: Any, type_name: str) -> Any:
    if "bool" in type_name:
        if not isinstance(value, bool):
            raise TypeError(f"expected true/false, got {value!r}")
        return value
    if "Scale" in type_name or "Compression" in type_name:
        enum = Scale if "Scale" in type_name else Compression
        try:
            return enum(value)
        except ValueError:
            raise ValueError(f"expected one of {[e.value for e in enum]}, got {value!r}") from None
    if "str" in type_name:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    if value is None and "None" in type_name:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    if type_name.startswith("int"):
        if float(value) != int(value):
            raise ValueError(f"expected a whole number, got {value!r}")
        return int(value)
    if not math.isfinite(float(value)):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


@cache
def _hann_cpu(n_fft: int) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True)


def _hann(n_fft: int, device: torch.device | str) -> torch.Tensor:
    return _hann_cpu(n_fft).to(device)


@cache
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    return librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney"
    ).astype(np.float32)


@cache
def _mel_to_linear(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    back = _mel_basis(sample_rate, n_fft, n_mels, fmin, fmax).T.copy()  # (n_freq, n_mels)
    sums = back.sum(axis=1)
    covered = np.flatnonzero(sums > 1e-12)
    if covered.size == 0:
        raise ModelFormatError(None, "the mel filterbank covers no STFT bin", field="front_end.n_mels")
    back[covered] /= sums[covered, None]
    for row in np.flatnonzero(sums <= 1e-12):
        back[row] = back[covered[np.argmin(np.abs(covered - row))]]
    return back
