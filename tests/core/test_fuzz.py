"""Fuzzing the loaders: random, truncated and header-damaged audio and model files raise only our errors.

1,600 cases in all (marked slow; CI runs them). A crash of the process would fail the run too.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.audio import load_audio
from app.core.errors import AudioLoadError, ModelFormatError
from app.core.model import choi2015_spec, load_model, random_weights, save_model

pytestmark = pytest.mark.slow
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _real_audio_bytes() -> dict[str, bytes]:
    t = np.arange(8000) / 8000
    y = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = {}
    for ext, fmt, subtype in [
        ("wav", "WAV", "PCM_16"),
        ("flac", "FLAC", "PCM_16"),
        ("ogg", "OGG", "VORBIS"),
        ("mp3", "MP3", "MPEG_LAYER_III"),
    ]:
        buf = io.BytesIO()
        sf.write(buf, y, 8000, format=fmt, subtype=subtype)
        out[ext] = buf.getvalue()
    return out


def _real_model_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        spec = choi2015_spec(n_maps=2, n_layers=2, labels=("a", "b"), head_input_frames=None)
        path = save_model(Path(tmp) / "m.safetensors", spec, random_weights(spec))
        return path.read_bytes()


AUDIO = _real_audio_bytes()
MODEL = _real_model_bytes()


def _try_audio(data: bytes, ext: str) -> None:
    fd, name = tempfile.mkstemp(suffix=f".{ext}")
    try:
        os.write(fd, data)
        os.close(fd)
        try:
            clip = load_audio(name, 11025)
        except AudioLoadError as err:
            assert name in str(err)
        else:
            assert np.all(np.isfinite(clip.samples)) and clip.samples.dtype == np.float32
    finally:
        os.unlink(name)


def _try_model(data: bytes) -> None:
    fd, name = tempfile.mkstemp(suffix=".safetensors")
    try:
        os.write(fd, data)
        os.close(fd)
        try:
            load_model(name)
        except ModelFormatError as err:
            assert Path(name).name in str(err)
    finally:
        os.unlink(name)


def _damage(data: bytes, cut: int, flips: list[tuple[int, int]], head_only: bool) -> bytes:
    out = bytearray(data[: max(0, len(data) - cut)])
    span = min(len(out), 256) if head_only else len(out)
    for pos, value in flips:
        if span:
            out[pos % span] = value
    return bytes(out)


@FUZZ
@given(data=st.binary(max_size=4096), ext=st.sampled_from(["wav", "flac", "ogg", "mp3", "bin"]))
def test_random_bytes_as_audio(data: bytes, ext: str) -> None:
    _try_audio(data, ext)


@FUZZ
@given(
    ext=st.sampled_from(sorted(AUDIO)),
    cut=st.integers(0, 20000),
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8),
    head_only=st.booleans(),
)
def test_truncated_and_damaged_real_audio(ext: str, cut: int, flips: list[tuple[int, int]], head_only: bool) -> None:
    _try_audio(_damage(AUDIO[ext], cut, flips, head_only), ext)


@settings(FUZZ, max_examples=300)
@given(data=st.binary(max_size=4096))
def test_random_bytes_as_model(data: bytes) -> None:
    _try_model(data)


@settings(FUZZ, max_examples=500)
@given(
    cut=st.integers(0, len(MODEL)),
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8),
    head_only=st.booleans(),
)
def test_truncated_and_damaged_real_model(cut: int, flips: list[tuple[int, int]], head_only: bool) -> None:
    _try_model(_damage(MODEL, cut, flips, head_only))
