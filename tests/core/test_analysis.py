"""Analysis: caching, renderings' shapes and levels, prediction windows, export files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from app.core.analysis import Analysis, FeatureRef, pad_for_prediction, prediction_frames
from app.core.audio import load_audio
from app.core.errors import ClipTooShortError
from app.core.export import Loudness, export_features
from app.core.model import Model, load_model
from app.core.resynth import Mode, loudness_lufs


@pytest.fixture(scope="module")
def analysis(model_file: Path, wav_file: Path) -> Analysis:
    model = load_model(model_file)
    return Analysis(load_audio(wav_file, model.front_end.sample_rate), model, device="cpu")


def test_render_shapes_and_raw_level(analysis: Analysis) -> None:
    r = analysis.render(FeatureRef(2, 3), Mode.CHOI)
    n = analysis.clip.samples.shape[0]
    fe = analysis.model.front_end
    assert r.audio.shape == (n,) and r.audio.dtype == np.float32
    assert r.spectrogram_db.shape == (fe.n_freq, fe.n_frames(n))
    assert r.deconv.shape == (fe.n_bins, fe.n_frames(n))
    assert r.activation.shape == tuple(analysis.record.outputs[analysis.model.layer(2).last_op].shape[-2:])
    assert np.isfinite(r.loudness_lufs) and r.gain_to_match_db == pytest.approx(
        r.reference_lufs - r.loudness_lufs, abs=1e-9
    )
    assert np.max(np.abs(r.audio)) > 0


def test_batched_render_equals_single_and_is_cached(analysis: Analysis) -> None:
    many = {r.ref.index: r.audio for r in analysis.render_many(3, [0, 4, 7])}
    cached = analysis._deconv_cache[FeatureRef(3, 4)]
    single = analysis.render(FeatureRef(3, 4)).audio
    assert analysis._deconv_cache[FeatureRef(3, 4)] is cached
    assert float(np.max(np.abs(many[4] - single))) < 1e-6


def test_cache_is_bounded_by_bytes(model_file: Path, wav_file: Path) -> None:
    model = load_model(model_file)
    clip = load_audio(wav_file, model.front_end.sample_rate)
    one_map = model.front_end.n_bins * model.front_end.n_frames(clip.samples.shape[0]) * 4
    small = Analysis(clip, model, device="cpu", cache_bytes=3 * one_map)
    small.deconv(1, range(8))
    assert len(small._deconv_cache) == 3
    assert sorted(r.index for r in small._deconv_cache) == [5, 6, 7]


def test_predict_averages_windows_and_sums_to_one(analysis: Analysis) -> None:
    ranked = analysis.predict()
    assert [label for label, _ in ranked] != []
    assert sum(score for _, score in ranked) == pytest.approx(1.0, abs=1e-5)
    assert ranked == sorted(ranked, key=lambda p: -p[1])
    # manual: windows of 87 frames, the last aligned to the end
    x = analysis.input
    frames = x.shape[-1]
    starts = list(range(0, frames - 87 + 1, 87))
    if starts[-1] + 87 < frames:
        starts.append(frames - 87)
    probs = torch.softmax(analysis.model.logits(torch.cat([x[..., s : s + 87] for s in starts])), -1).mean(0)
    assert dict(ranked)[analysis.model.spec.labels[int(probs.argmax())]] == pytest.approx(float(probs.max()))


def test_too_short_clip_is_refused_with_the_needed_length(tmp_path: Path, small_model: Model) -> None:
    sf.write(tmp_path / "blip.wav", np.zeros(2000, dtype=np.float32) + 0.1, 11025)
    clip = load_audio(tmp_path / "blip.wav", 11025)
    # 5 poolings of 2: 32 frames at least, i.e. 31 hops of 256 samples = 0.72 s
    with pytest.raises(ClipTooShortError, match=r"lasts 0\.18 s; this model needs at least 0\.72 s"):
        Analysis(clip, small_model, device="cpu")


def test_clip_shorter_than_the_head_window_is_padded_for_prediction(tmp_path: Path, small_model: Model) -> None:
    sf.write(tmp_path / "short.wav", np.random.default_rng(0).standard_normal(11025).astype(np.float32) * 0.1, 11025)
    analysis = Analysis(load_audio(tmp_path / "short.wav", 11025), small_model, device="cpu")
    assert analysis.input.shape[-1] == 44 < 87
    assert sum(s for _, s in analysis.predict()) == pytest.approx(1.0, abs=1e-5)
    assert analysis.render(FeatureRef(5, 0)).audio.shape == (11025,)


def kick(seconds: float = 0.27, rate: int = 22050) -> np.ndarray:
    """A synthetic kick drum: a 150 -> 45 Hz sine sweep under a 60 ms decay, with a click at the start."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * (45 * t + (150 - 45) * 0.04 * (1 - np.exp(-t / 0.04)))
    y = 0.8 * np.sin(phase) * np.exp(-t / 0.06)
    y[:40] += np.hanning(80)[:40] * 0.3
    return y.astype(np.float32)


def test_a_kick_shorter_than_the_window_is_padded_with_silence_for_prediction(tmp_path: Path) -> None:
    """The bundled mel tagger (dB input, 80 dB floor) on a 0.27 s kick: padded in the audio, so the network hears
    the kick then what its front end makes of silence (the dB floor, not the 0 dB the old input-domain zeros were)."""
    model = load_model(Path(__file__).resolve().parents[2] / "models" / "mel-tagger.safetensors")
    sf.write(tmp_path / "kick.wav", kick(), 22050, subtype="FLOAT")
    clip = load_audio(tmp_path / "kick.wav", model.front_end.sample_rate)
    with pytest.raises(ClipTooShortError):
        Analysis(clip, model, device="cpu")
    padded, added = pad_for_prediction(clip, model)
    need = prediction_frames(model)
    assert model.front_end.n_frames(padded.samples.size) == need
    assert added == pytest.approx(padded.duration - clip.duration)
    n = clip.samples.size
    assert np.array_equal(padded.samples[:n], clip.samples) and not padded.samples[n:].any()
    scores = dict(Analysis(padded, model, device="cpu").predict())
    assert len(scores) == len(model.labels) and all(0.0 < v < 1.0 for v in scores.values())  # sigmoid tags
    # a clip long enough for the layers but not the head: padding inside predict() is the same silence
    fe = model.front_end
    body_only = (model.min_input_frames() - 1) * fe.hop_length
    if body_only < padded.samples.size:
        part = type(clip)(
            clip.path,
            clip.sha256,
            padded.samples[:body_only].copy(),
            clip.sample_rate,
            clip.original,
            clip.original_rate,
        )
        inside = dict(Analysis(part, model, device="cpu").predict())
        assert max(abs(inside[k] - scores[k]) for k in scores) < 1e-5
    assert pad_for_prediction(padded, model) == (padded, 0.0)


@pytest.mark.parametrize("loudness", list(Loudness))
def test_export_writes_files_with_sidecars(tmp_path: Path, analysis: Analysis, loudness: Loudness) -> None:
    refs = [FeatureRef(1, 0), FeatureRef(1, 2), FeatureRef(4, 5)]
    seen: list[tuple[int, int]] = []
    written = export_features(
        analysis,
        refs,
        [Mode.CHOI, Mode.RESIDUAL],
        tmp_path,
        subtype="pcm24",
        loudness=loudness,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert len(written) == 6 and seen[-1] == (6, 6)
    limited = [json.loads(p.with_suffix(".json").read_text())["gain_limited_to_avoid_clipping"] for p in written]
    if loudness is Loudness.MATCH:
        assert any(limited) and not all(limited)  # this fixture has both kinds (measured: 2 of 6 capped)
    names = sorted(p.name for p in tmp_path.glob("*.wav"))
    assert names[0] == "chords_L1_F0_choi.wav" and "chords_L4_F5_residual.wav" in names
    for path in written:
        meta = json.loads(path.with_suffix(".json").read_text())
        audio, sr = sf.read(path, dtype="float32")
        assert sr == 11025 and meta["source_sha256"] == analysis.clip.sha256
        assert meta["model_sha256"] == analysis.model.sha256 and meta["format"] == "pcm24"
        assert meta["clipped_samples"] == 0 and float(np.max(np.abs(audio))) <= 1.0
        if loudness is Loudness.MATCH and meta["mode"] == "choi":
            if meta["gain_limited_to_avoid_clipping"]:
                assert loudness_lufs(audio, sr) < meta["original_lufs"]
                assert float(np.max(np.abs(audio))) == pytest.approx(0.999, abs=1e-4)
            else:
                assert loudness_lufs(audio, sr) == pytest.approx(meta["original_lufs"], abs=0.1)
        if loudness is Loudness.PEAK:
            assert float(np.max(np.abs(audio))) == pytest.approx(0.99, abs=1e-3)
        if loudness is Loudness.NONE:  # raw level, unless the integer format would clip it
            assert (meta["gain_db"] == 0.0) != meta["gain_limited_to_avoid_clipping"]


def test_export_stops_when_cancelled(tmp_path: Path, analysis: Analysis) -> None:
    refs = [FeatureRef(2, k) for k in range(8)]
    written = export_features(
        analysis, refs, [Mode.CHOI], tmp_path, cancelled=lambda: len(list(tmp_path.glob("*.wav"))) >= 2
    )
    assert len(written) == 2 and len(list(tmp_path.glob("*.wav"))) == 2
