"""Audio in and out: load any common format to mono float32 at the model's rate; write WAV + JSON sidecar."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from app.core.errors import AudioLoadError
from app.core.files import atomic_files, write_all
from app.core.formats.jsonio import dump_bytes

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")
WAV_SUBTYPES = {"float32": "FLOAT", "pcm24": "PCM_24", "pcm16": "PCM_16"}


@dataclass(frozen=True, eq=False)
class Clip:
    """A loaded audio file.

    ``samples``: mono float32 ``[shape=(n_samples,)]`` at ``sample_rate`` (the model's rate).
    ``original``: the file as it is, float32 ``[shape=(n_channels, n_original_samples)]`` at
    ``original_rate``, kept for display and for A/B at full quality.
    """

    path: Path
    sha256: str
    samples: np.ndarray
    sample_rate: int
    original: np.ndarray = field(repr=False)
    original_rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples.shape[-1] / self.sample_rate

    @property
    def name(self) -> str:
        return self.path.stem


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resample(y: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample along the last axis (soxr, high quality); float32 out."""
    if orig_rate == target_rate:
        return np.ascontiguousarray(y, dtype=np.float32)
    import soxr  # directly: librosa's resample is the same call behind a ~2 s numba import

    x = np.asarray(y, dtype=np.float32)
    out = soxr.resample(x.T if x.ndim > 1 else x, orig_rate, target_rate, quality="HQ")
    return np.ascontiguousarray(out.T if x.ndim > 1 else out, dtype=np.float32)


def _read_any(path: Path) -> tuple[np.ndarray, int]:
    """(channels, samples) float32 and its rate; libsndfile first, then librosa's audioread fallback."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return np.ascontiguousarray(data.T), int(rate)
    except Exception as sf_error:
        first_reason = str(sf_error).strip() or type(sf_error).__name__
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, rate = librosa.load(str(path), sr=None, mono=False, dtype=np.float32)
    except Exception as fallback_error:
        reason = f"{first_reason}; fallback decoder: {str(fallback_error).strip() or type(fallback_error).__name__}"
        raise AudioLoadError(path, f"unsupported or corrupt audio ({reason})") from None
    data = np.atleast_2d(np.asarray(data, dtype=np.float32))
    return data, int(rate)


def load_audio(path: str | Path, sample_rate: int) -> Clip:
    """Load an audio file as a :class:`Clip`, mono at ``sample_rate`` Hz.

    Raises :class:`AudioLoadError` naming the file for a missing, empty, corrupt or unsupported file.
    """
    path = Path(path)
    if not path.exists():
        raise AudioLoadError(path, "no such file")
    if not path.is_file():
        raise AudioLoadError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise AudioLoadError(path, "the file is empty")
    original, rate = _read_any(path)
    if original.size == 0 or original.shape[-1] == 0:
        raise AudioLoadError(path, "the file holds no audio samples")
    if rate <= 0:
        raise AudioLoadError(path, f"invalid sample rate {rate}")
    if not np.all(np.isfinite(original)):
        raise AudioLoadError(path, "the audio holds NaN or infinite samples")
    mono = original.mean(axis=0)
    samples = resample(mono, rate, sample_rate)
    return Clip(
        path=path.resolve(),
        sha256=file_sha256(path),
        samples=samples,
        sample_rate=sample_rate,
        original=original,
        original_rate=rate,
    )


def write_wav(
    path: str | Path,
    audio: np.ndarray,
    sample_rate: int,
    *,
    subtype: str = "float32",
    sidecar: dict[str, Any] | None = None,
) -> Path:
    """Write mono ``audio`` as WAV (``float32``, ``pcm24`` or ``pcm16``), and ``<path>.json`` if a sidecar is given.

    Integer formats clip at full scale; the sidecar records that as ``clipped_samples``. The WAV and its sidecar
    land together or not at all (:func:`app.core.files.atomic_files`); the sidecar is strict JSON, a non-finite
    figure (the LUFS of silence) written as null. Raises OSError (full disk, read-only folder) leaving neither.
    """
    path = Path(path)
    if subtype not in WAV_SUBTYPES:
        raise ValueError(f"unknown WAV format '{subtype}', choose one of {', '.join(WAV_SUBTYPES)}")
    audio = np.asarray(audio, dtype=np.float32)
    clipped = int(np.count_nonzero(np.abs(audio) > 1.0)) if subtype != "float32" else 0
    paths = [path]
    meta = b""
    if sidecar is not None:
        doc = dict(sidecar, format=subtype, sample_rate=sample_rate, clipped_samples=clipped)
        meta = dump_bytes(doc, indent=2, sort_keys=True)  # before any file is touched: a bad figure writes nothing
        paths.append(sidecar_path(path))
    wav = io.BytesIO()  # encoded in memory: a full disk is then a plain OSError from the writer, not libsndfile's
    sf.write(wav, audio, sample_rate, subtype=WAV_SUBTYPES[subtype], format="WAV")
    with atomic_files(paths) as handles:
        write_all(handles[0], wav.getbuffer())
        if sidecar is not None:
            write_all(handles[1], meta)
    return path


def sidecar_path(wav_path: str | Path) -> Path:
    """The JSON sidecar beside a WAV: ``x.wav`` -> ``x.json``."""
    return Path(wav_path).with_suffix(".json")
