"""The stated limits (app/core/limits.py): each refuses before allocating, names itself and the variable that
changes it, and that variable does change it. Long clips stream in windows equal to the whole-file read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from model_specs import small_choi_spec

from app.core import limits
from app.core.audio import iter_windows, load_audio
from app.core.errors import AudioLoadError, ModelFormatError
from app.core.limits import LimitError
from app.core.model import load_model, random_weights, save_model


def test_a_limit_names_itself_and_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    reason = limits.MAX_MAPS.problem(1_000_000, "its maps")
    assert reason == (
        "its maps is 1,000,000 maps, over the maps per layer limit of 4,096 maps "
        "(set the environment variable AURASCOPE_MAX_MAPS to raise it)"
    )
    assert limits.MAX_MAPS.problem(4096, "its maps") is None
    assert "under the lowest sample rate limit" in limits.MIN_SAMPLE_RATE.problem(1, "its rate")
    monkeypatch.setenv("AURASCOPE_MAX_MAPS", "2000000")
    assert limits.MAX_MAPS.problem(1_000_000, "its maps") is None
    monkeypatch.setenv("AURASCOPE_MAX_MAPS", "lots")
    with pytest.raises(LimitError, match="AURASCOPE_MAX_MAPS must be a whole number"):
        limits.MAX_MAPS.check(1, "x")


def test_audio_sample_rate_is_checked_from_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "slow.wav"
    sf.write(path, np.zeros(1000, np.float32), 500)
    with pytest.raises(AudioLoadError, match="AURASCOPE_MIN_SAMPLE_RATE") as err:
        load_audio(path, 11025)
    assert "slow.wav" in str(err.value) and "500 Hz" in str(err.value)
    monkeypatch.setenv("AURASCOPE_MIN_SAMPLE_RATE", "400")
    assert load_audio(path, 11025).original_rate == 500


def test_audio_duration_is_checked_from_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(3 * 8000, np.float32), 8000)
    monkeypatch.setenv("AURASCOPE_MAX_DURATION", "2")
    with pytest.raises(AudioLoadError, match="its length is 3 s, over the longest clip limit of 2 s"):
        load_audio(path, 11025)


def test_model_maps_are_checked_before_the_weights_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = small_choi_spec(n_maps=8)
    path = save_model(tmp_path / "m.safetensors", spec, random_weights(spec))
    monkeypatch.setenv("AURASCOPE_MAX_MAPS", "4")
    with pytest.raises(ModelFormatError, match="AURASCOPE_MAX_MAPS") as err:
        load_model(path)
    assert err.value.field == "architecture.body[0].out_channels"
    monkeypatch.delenv("AURASCOPE_MAX_MAPS")
    assert load_model(path).layers[0].n_maps == 8


@pytest.mark.parametrize("channels,rate", [(1, 11025), (2, 44100), (2, 22050)])
def test_streamed_windows_equal_the_whole_file(tmp_path: Path, channels: int, rate: int) -> None:
    """Block decoding + soxr's stream resampler give the very samples of a whole-file read, in windows."""
    rng = np.random.default_rng(channels)
    path = tmp_path / "x.flac"
    sf.write(path, (0.1 * rng.standard_normal((int(rate * 25.3), channels))).astype(np.float32), rate)
    windows = list(iter_windows(path, 11025, 10.0, block_s=3.0))
    whole = load_audio(path, 11025)
    assert [round(w.duration, 2) for w in windows] == [10.0, 10.0, 5.3]
    joined = np.concatenate([w.samples for w in windows])
    assert joined.shape == whole.samples.shape
    assert float(np.abs(joined - whole.samples).max()) < 1e-6
    assert {w.sha256 for w in windows} == {whole.sha256}


def test_whole_clip_analysis_is_checked_before_the_stft(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_model
) -> None:
    from app.core.analysis import Analysis, analysis_bytes

    path = tmp_path / "minute.wav"
    sf.write(path, np.zeros(60 * 11025, np.float32), 11025)
    clip = load_audio(path, 11025)
    need = analysis_bytes(small_model, clip.samples.shape[-1])
    assert 2 * need < analysis_bytes(small_model, 2 * clip.samples.shape[-1]) + 2**20  # linear in the length
    monkeypatch.setenv("AURASCOPE_MAX_ANALYSIS_MB", str(need // 2**20 - 1))
    with pytest.raises(LimitError, match="analysis memory limit") as err:
        Analysis(clip, small_model)
    assert "AURASCOPE_MAX_ANALYSIS_MB" in str(err.value) and "minute.wav" in str(err.value)
    monkeypatch.setenv("AURASCOPE_MAX_ANALYSIS_MB", str(need // 2**20 + 1))
    assert Analysis(clip, small_model).input.shape[-1] == clip.samples.shape[-1] // 256 + 1


def _metadata(spec_json: str, change) -> str:
    data = json.loads(spec_json)
    change(data["architecture"])
    return json.dumps(data)


@pytest.mark.parametrize(
    ("change", "env", "field", "words"),
    [
        (lambda a: a["body"][0].update(out_channels=10), "MAPS", "body[0].out_channels", "its maps is 10"),
        (lambda a: a["body"][0].update(kernel_size=[3, 9]), "KERNEL", "body[0].kernel_size", "kernel is 9"),
        (lambda a: a["body"][0].update(padding=[9, 1]), "KERNEL", "body[0].padding", "padding is 9"),
        (lambda a: a["body"][2].update(stride=[9, 1]), "KERNEL", "body[2].stride", "stride is 9"),
        (lambda a: a["head"][1].update(out_features=10), "FEATURES", "head[1].out_features", "output is 10"),
    ],
)
def test_the_model_limits_are_part_of_its_declared_format(change, env, field, words, monkeypatch) -> None:
    """One validation: the declaration (app/core/formats/model.py) refuses a size over a limit, read when the
    file is read (so the variable applies), naming the field."""
    from app.core.formats.model import ModelMetadata
    from app.core.formats.schema import validate
    from app.core.model_spec import spec_from_json

    text = _metadata(small_choi_spec(n_maps=8).to_json(), change)
    env = f"AURASCOPE_MAX_{env}"
    monkeypatch.setenv(env, "8")

    def fail(reason: str, where: str | None) -> ModelFormatError:
        return ModelFormatError(None, reason, field=where)

    with pytest.raises(ModelFormatError) as declared:
        validate(ModelMetadata, json.loads(text), fail)
    assert declared.value.field == f"architecture.{field}" and words in declared.value.reason
    assert env in declared.value.reason
    with pytest.raises(ModelFormatError) as read:
        spec_from_json(text)
    assert (read.value.field, read.value.reason) == (declared.value.field, declared.value.reason)
    monkeypatch.setenv(env, "100")
    assert validate(ModelMetadata, json.loads(text), fail).architecture.body[0].type == "conv2d"


def test_a_body_over_the_layer_limit_is_refused_before_its_blocks_are_read(monkeypatch) -> None:
    from app.core.model_spec import spec_from_json

    monkeypatch.setenv("AURASCOPE_MAX_BLOCKS", "50")
    # 100 blocks, each broken: the count is what is refused, not the first block
    text = _metadata(small_choi_spec().to_json(), lambda a: a.update(body=[{"type": "conv9d"}] * 100))
    with pytest.raises(ModelFormatError) as err:
        spec_from_json(text)
    assert err.value.field == "architecture.body"
    assert "the body is 100 blocks, over the layer count limit of 50 blocks" in err.value.reason
