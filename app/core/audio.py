"""Audio in and out: load any common format to mono float32 at the model's rate; write WAV + JSON sidecar."""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from app.core import limits
from app.core.errors import AudioLoadError, NonFiniteError
from app.core.files import atomic_files, write_all
from app.core.formats.jsonio import dump_bytes
from app.core.resampling import resample

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


@dataclass(frozen=True)
class AudioHeader:
    """What an audio file's header declares, read before anything is decoded."""

    sample_rate: int
    frames: int
    channels: int

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.frames / self.sample_rate if self.sample_rate > 0 else float("inf")


def read_header(handle: BinaryIO, path: Path) -> AudioHeader | None:
    """The header of an open audio file as libsndfile reads it, checked against :mod:`app.core.limits` (sample
    rate, channels, duration) so a few bytes declaring 15 hours are refused before a sample is decoded.

    None when libsndfile cannot read it (the fallback decoder's formats). Leaves ``handle`` at its start.
    """
    try:
        info = sf.info(handle)
    except Exception:
        return None
    finally:
        handle.seek(0)
    header = AudioHeader(int(info.samplerate), int(info.frames), int(info.channels))
    try:
        limits.check_sample_rate(header.sample_rate, "its sample rate")
        limits.MAX_CHANNELS.check(header.channels, "its channel count")
        limits.MAX_DURATION.check(round(header.duration, 3), "its length")
    except limits.LimitError as err:
        raise AudioLoadError(path, err.reason) from None
    return header


def _read_any(path: Path, handle: BinaryIO) -> tuple[np.ndarray, int]:
    """(channels, samples) float32 and its rate; libsndfile first (from the open ``handle``, so any bytes in the
    file's name are fine), then librosa's audioread fallback."""
    try:
        data, rate = sf.read(handle, dtype="float32", always_2d=True)
        return np.ascontiguousarray(data.T), int(rate)
    except Exception as sf_error:
        first_reason = str(sf_error).strip() or type(sf_error).__name__
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            duration = librosa.get_duration(path=str(path))
            limits.MAX_DURATION.check(round(duration, 3), "its length")
            data, rate = librosa.load(str(path), sr=None, mono=False, dtype=np.float32)
    except limits.LimitError as err:
        raise AudioLoadError(path, err.reason) from None
    except Exception as fallback_error:
        reason = f"{first_reason}; fallback decoder: {str(fallback_error).strip() or type(fallback_error).__name__}"
        raise AudioLoadError(path, f"unsupported or corrupt audio ({reason})") from None
    data = np.atleast_2d(np.asarray(data, dtype=np.float32))
    try:
        limits.check_sample_rate(rate, "its sample rate")
    except limits.LimitError as err:
        raise AudioLoadError(path, err.reason) from None
    return data, int(rate)


def load_audio(path: str | Path, sample_rate: int, *, sha256: str | None = None) -> Clip:
    """Load an audio file as a :class:`Clip`, mono at ``sample_rate`` Hz. ``sha256``: the file's hash when the
    caller has just computed it (an atlas build, which skips clips it holds by hash), else it is read here.

    Raises :class:`AudioLoadError` naming the file for a missing, empty, corrupt or unsupported file, or one
    whose header declares more than :mod:`app.core.limits` allows (checked before decoding). An OS error
    (permission, a name too long) is raised as it is, naming the path.
    """
    path = Path(path)
    if not path.exists():
        raise AudioLoadError(path, "no such file")
    if not path.is_file():
        raise AudioLoadError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise AudioLoadError(path, "the file is empty")
    with open(path, "rb") as handle:
        read_header(handle, path)
        original, rate = _read_any(path, handle)
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
        sha256=sha256 or file_sha256(path),
        samples=samples,
        sample_rate=sample_rate,
        original=original,
        original_rate=rate,
    )


def audio_header(path: str | Path) -> AudioHeader | None:
    """The header of an audio file (limits checked), or None when only the fallback decoder reads it."""
    path = Path(path)
    if not path.is_file():
        raise AudioLoadError(path, "no such file" if not path.exists() else "not a regular file")
    with open(path, "rb") as handle:
        return read_header(handle, path)


def iter_windows(path: str | Path, sample_rate: int, window_s: float, *, block_s: float = 10.0) -> Iterator[Clip]:
    """A long file as consecutive windows of about ``window_s`` seconds, each a :class:`Clip` (mono at
    ``sample_rate``; ``original`` is that mono window, not the file's channels). Decoded and resampled block by
    block (soxr's stream), so memory holds two windows whatever the file's length. The last window takes the
    remainder when that is shorter than half a window. ``sha256`` is the whole file's.
    """
    import soxr

    path = Path(path)
    with open(path, "rb") as handle:
        header = read_header(handle, path)
        if header is None:  # only the fallback decoder reads it: whole, then cut
            clip = load_audio(path, sample_rate)
            yield from _cut(clip, int(window_s * sample_rate))
            return
        digest = file_sha256(path)
        want = max(1, round(window_s * sample_rate))
        stream = soxr.ResampleStream(header.sample_rate, sample_rate, 1, dtype="float32", quality="HQ")
        pending: list[np.ndarray] = []
        held: np.ndarray | None = None
        size = 0

        def window(samples: np.ndarray) -> Clip:
            return Clip(path.resolve(), digest, samples, sample_rate, samples[None], sample_rate)

        with sf.SoundFile(handle) as reader:
            blocks = reader.blocks(blocksize=max(1024, int(block_s * header.sample_rate)), dtype="float32")
            for last, block in _flag_last(blocks):
                block = np.atleast_2d(block.T if block.ndim > 1 else block[None])
                if not np.all(np.isfinite(block)):
                    raise AudioLoadError(path, "the audio holds NaN or infinite samples")
                out = stream.resample_chunk(np.ascontiguousarray(block.mean(axis=0)), last=last)
                pending.append(out)
                size += out.shape[-1]
                while size >= want:
                    joined = np.concatenate(pending)
                    if held is not None:
                        yield window(held)
                    held, rest = joined[:want], joined[want:]
                    pending, size = [rest], rest.shape[-1]
        tail = np.concatenate(pending) if pending else np.zeros(0, np.float32)
        if held is None:
            if tail.size == 0:
                raise AudioLoadError(path, "the file holds no audio samples")
            yield window(np.ascontiguousarray(tail))
        elif tail.size < want // 2:
            yield window(np.concatenate([held, tail]))
        else:
            yield window(held)
            yield window(np.ascontiguousarray(tail))


def _flag_last(items: Iterator[np.ndarray]) -> Iterator[tuple[bool, np.ndarray]]:
    previous = None
    for item in items:
        if previous is not None:
            yield False, previous
        previous = item
    if previous is not None:
        yield True, previous


def _cut(clip: Clip, want: int) -> Iterator[Clip]:
    n = clip.samples.shape[-1]
    starts = list(range(0, max(n - want // 2, 1), max(want, 1)))
    for i, start in enumerate(starts):
        end = n if i == len(starts) - 1 else start + want
        part = np.ascontiguousarray(clip.samples[start:end])
        yield Clip(clip.path, clip.sha256, part, clip.sample_rate, part[None], clip.sample_rate)


def write_wav(
    path: str | Path,
    audio: np.ndarray,
    sample_rate: int,
    *,
    subtype: str = "float32",
    sidecar: Mapping[str, object] | None = None,  # any JSON document the caller records beside the WAV
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
    if not np.isfinite(audio).all():  # a NaN WAV, or full-scale DC in PCM, is never a file
        raise NonFiniteError(f"'{path}' not written: the audio holds NaN or infinite samples")
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
