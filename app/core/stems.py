"""What share of a map's auralisation comes from each source of a mix whose stems are known.

A Choi-mode rendering is ``Y = X · M`` (``M`` the deconvolved map as a linear-bin mask) and the STFT is linear,
so with stems ``S_i`` that add up to the mix (``X = Σ S_i``) the rendering splits exactly into ``S_i · M``. The
share of the rendering's energy that stem ``i`` carries is

    share_i = Σ_{f,t} M² · Re(S_i · conj X)  /  Σ_{f,t} M² · |X|²

(cross terms split evenly between the two stems, so the shares add up to 1; one may be slightly negative where a
stem cancels another). With ``M = 1`` it is the stem's share of the mix. ``Re(S_i · conj X)`` is computed once
per clip, so a map costs one weighted sum: the whole of a layer's maps take milliseconds.

Stems are found beside a clip by name, ``band.flac`` -> ``band.<stem>.flac`` (any audio suffix), or given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.audio import load_audio
from app.core.errors import AurascopeError

if TYPE_CHECKING:
    from app.core.analysis import Analysis

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
MAX_MISMATCH_DB = -30.0  # stems whose sum misses the mix by more than this (re the mix) measure nothing
MAX_STEMS = 16


class StemsError(AurascopeError):
    """Stems that cannot be used for a clip: unreadable, of another length, or not adding up to the mix."""

    def __init__(self, clip: str | Path, reason: str) -> None:
        self.clip = Path(clip)
        self.reason = reason
        super().__init__(f"cannot use the stems of '{self.clip}': {reason}")


@dataclass(frozen=True, eq=False)
class Stems:
    """The known sources of one clip at the model's rate.

    ``samples``: float32 ``[shape=(n_stems, n_samples)]``; ``mismatch_db``: level of ``mix - Σ stems`` re the mix.
    """

    names: tuple[str, ...]
    paths: tuple[Path, ...]
    samples: np.ndarray
    mismatch_db: float


def find_stems(clip_path: str | Path) -> dict[str, Path]:
    """``{stem name: path}`` of the files named ``<clip stem>.<name>.<audio suffix>`` beside ``clip_path``."""
    clip_path = Path(clip_path)
    prefix = clip_path.stem + "."
    found: dict[str, Path] = {}
    try:
        candidates = sorted(clip_path.parent.iterdir())
    except OSError:
        return {}
    for path in candidates:
        if path == clip_path or not path.name.startswith(prefix) or path.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        name = path.name[len(prefix) : -len(path.suffix)]
        if name and "." not in name and path.is_file():
            found[name] = path
    return found


def load_stems(mix: np.ndarray, clip_path: str | Path, paths: Mapping[str, Path], sample_rate: int) -> Stems:
    """Load stems for a mix ``[shape=(n_samples,)]`` at ``sample_rate``; check that they add up to it.

    Raises :class:`StemsError` naming the clip for fewer than two stems, more than :data:`MAX_STEMS`, a length
    that differs by more than 10 ms, or a sum that misses the mix by more than :data:`MAX_MISMATCH_DB`.
    """
    if len(paths) < 2:
        raise StemsError(clip_path, f"{len(paths)} stem(s) found; at least two are needed to compare sources")
    if len(paths) > MAX_STEMS:
        raise StemsError(clip_path, f"{len(paths)} stems; at most {MAX_STEMS} are measured")
    n = mix.shape[-1]
    rows = []
    for name, path in paths.items():
        samples = load_audio(path, sample_rate).samples
        if abs(samples.shape[-1] - n) > 0.01 * sample_rate:
            seconds = samples.shape[-1] / sample_rate
            raise StemsError(clip_path, f"stem '{name}' lasts {seconds:.2f} s, the clip {n / sample_rate:.2f} s")
        rows.append(np.pad(samples[:n], (0, max(0, n - samples.shape[-1]))))
    stacked = np.stack(rows).astype(np.float32)
    residual = mix - stacked.sum(axis=0)
    mix_power = float(np.mean(np.square(mix, dtype=np.float64)))
    mismatch_db = 10 * np.log10(
        max(float(np.mean(np.square(residual, dtype=np.float64))), 1e-30) / max(mix_power, 1e-30)
    )
    if mismatch_db > MAX_MISMATCH_DB:
        raise StemsError(
            clip_path,
            f"the stems add up to the clip only within {mismatch_db:+.1f} dB (at most {MAX_MISMATCH_DB:.0f} dB is "
            "needed: stems of another mix, level or excerpt?)",
        )
    return Stems(tuple(paths), tuple(Path(p) for p in paths.values()), stacked, float(mismatch_db))


@dataclass(frozen=True)
class StemShares:
    """Shares of the rendering's energy per stem for maps of one layer.

    ``maps``: ``[shape=(n_maps, n_stems)]``, rows add up to 1; ``mix``: ``[shape=(n_stems,)]``, the stems' shares of
    the clip itself.
    """

    names: tuple[str, ...]
    maps: np.ndarray
    mix: np.ndarray


class StemProjection:
    """``Re(S_i · conj X)`` for one analysis and its stems, kept to weigh any map's mask with."""

    def __init__(self, analysis: Analysis, stems: Stems) -> None:
        import torch

        fe = analysis.model.front_end
        spectrum = analysis.spectrum
        with torch.no_grad():
            stem_spectra = fe.stft(torch.from_numpy(stems.samples).to(spectrum.device))
            # float64: the shares are sums over ~10^6 bins and must add up to 1 to ~1e-6
            cross = (stem_spectra * spectrum.conj()[None]).real
            self.cross = cross.to(torch.float64)  # (n_stems, n_freq, n_frames)
            self.power = spectrum.abs().square().to(torch.float64)  # (n_freq, n_frames)
        self.names = stems.names
        total = float(self.power.sum())
        self.mix = (self.cross.sum(dim=(-2, -1)) / max(total, 1e-30)).cpu().numpy()

    def shares(self, masks) -> StemShares:
        """Shares for masks on linear bins ``[shape=(n_maps, n_freq, n_frames)]`` (a torch tensor)."""
        import torch

        with torch.no_grad():
            weight = masks.to(self.power.dtype).square()
            energy = torch.einsum("kft,ft->k", weight, self.power)
            parts = torch.einsum("kft,ift->ki", weight, self.cross)
            out = (parts / energy.clamp_min(1e-30)[:, None]).cpu().numpy()
        return StemShares(self.names, out, self.mix)

    def of_maps(self, analysis: Analysis, layer: int, features: Sequence[int], method: str = "deconvnet") -> StemShares:
        """Shares for maps ``features`` of ``layer`` of ``analysis`` (the one this projection was made for)."""
        deconv = analysis.deconv(layer, list(features), method=method)
        return self.shares(analysis.model.front_end.mask_to_linear(deconv))


def stem_shares(analysis: Analysis, stems: Stems, layer: int, features: Sequence[int]) -> StemShares:
    """Each stem's share of the Choi-mode auralisation of maps ``features`` of ``layer`` (deconvnet)."""
    return StemProjection(analysis, stems).of_maps(analysis, layer, features)


def stems_beside(clip_path: str | Path, mix: np.ndarray, sample_rate: int) -> tuple[Stems | None, str | None]:
    """The stems found beside a clip, loaded, or ``(None, why not)`` when there are some that cannot be used."""
    found = find_stems(clip_path)
    if not found:
        return None, None
    try:
        return load_stems(mix, clip_path, found, sample_rate), None
    except AurascopeError as err:
        return None, str(err)
