"""docs/examples/fcn_mtat.py: Won et al.'s published FCN checkpoint opens as it is, through "your own model", and
tags five real recordings as its own pipeline does; every CLI command works on it without a traceback.

Needs ``../shared/real`` (the checkpoint and the songs; never copied into the repository): skipped locally
without it, failed under CI.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F
from cli_process import run
from needs import real_material

from app.core.analysis import Analysis, pad_for_prediction
from app.core.audio import load_audio
from app.core.errors import FidelityWarning, ModelFormatError
from app.core.sources import open_model
from app.core.types import FeatureRef

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "docs.examples.fcn_mtat:build"
SIDECAR = ROOT / "docs" / "examples" / "fcn_mtat.json"
SONGS = [
    "Kevin_MacLeod_-_Vibe_Ace.hq.ogg",
    "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg",
    "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.hq.ogg",
    "Hungarian_Dance_number_5.hq.ogg",
    "sorohanro_-_solo-trumpet-06.hq.ogg",
]
WINDOW = 1813  # frames the dense head takes: 29.0 s at 16 kHz, hop 256
POOLS = ((2, 4), (2, 4), (2, 4), (3, 5), (4, 4))


@pytest.fixture(scope="module")
def weights() -> Path:
    return real_material("fcn-mtat", "best_model.pth")


@pytest.fixture(scope="module")
def fcn(weights: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FidelityWarning)  # its one remark is checked below
        return open_model(SOURCE, weights=weights, front_end=SIDECAR)


def reference_scores(samples: np.ndarray, state: dict[str, torch.Tensor]) -> np.ndarray:
    """The original pipeline, written out from the checkpoint alone: torch.stft with its stored window (reflect
    padding), power 2, its stored filterbank, 10·log10 with amin 1e-10, spec_bn, five conv/bn/ReLU/pool blocks,
    dense, sigmoid; over the app's windows (consecutive, the last aligned to the end; silence after a clip
    shorter than one window), averaged."""
    need = (WINDOW - 1) * 256
    if samples.size < need:
        samples = np.concatenate([samples, np.zeros(need - samples.size, dtype=samples.dtype)])
    spec = torch.stft(
        torch.from_numpy(samples),
        512,
        256,
        window=state["spec.spectrogram.window"],
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    mel = (spec.abs() ** 2).transpose(0, 1) @ state["spec.mel_scale.fb"]  # (frames, 96)
    db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10)).transpose(0, 1)
    frames = db.shape[-1]
    starts = list(range(0, frames - WINDOW + 1, WINDOW))
    if starts[-1] + WINDOW < frames:
        starts.append(frames - WINDOW)
    x = torch.stack([db[:, s : s + WINDOW] for s in starts])[:, None]

    def bn(x: torch.Tensor, name: str) -> torch.Tensor:
        return F.batch_norm(
            x,
            state[f"{name}.running_mean"],
            state[f"{name}.running_var"],
            state[f"{name}.weight"],
            state[f"{name}.bias"],
            training=False,
            eps=1e-5,
        )

    x = bn(x, "spec_bn")
    for i, pool in enumerate(POOLS, start=1):
        x = F.conv2d(x, state[f"layer{i}.conv.weight"], state[f"layer{i}.conv.bias"], padding=1)
        x = F.max_pool2d(F.relu(bn(x, f"layer{i}.bn")), pool)
    x = torch.sigmoid(F.linear(x.flatten(1), state["dense.weight"], state["dense.bias"]))
    return x.mean(dim=0).numpy()


def test_the_checkpoint_opens_as_published(fcn, weights: Path) -> None:
    assert fcn.kind == "traced" and fcn.head_input_frames == WINDOW
    assert fcn.output == "none"  # its forward ends in its own sigmoid
    assert [layer.name for layer in fcn.layers] == [f"layer{i}.conv" for i in range(1, 6)]
    assert [layer.n_maps for layer in fcn.layers] == [64, 128, 128, 128, 64]
    assert fcn.labels[:3] == ("guitar", "classical", "slow") and fcn.labels[-1] == "choral" and len(fcn.labels) == 50
    # the input batch-norm is said to be what it is, not alarmed about
    assert len(fcn.remarks) == 1 and "spec_bn" in fcn.remarks[0] and "harmless to the method" in fcn.remarks[0]
    assert "fixed gain (x0.00955)" in fcn.remarks[0]
    assert fcn.warnings == fcn.remarks  # nothing else in its graph changes a map
    with pytest.warns(FidelityWarning, match="harmless to the method"):
        assert open_model(SOURCE, weights=weights, front_end=SIDECAR, strict=True).name == fcn.name


def test_a_sidecar_that_is_not_the_checkpoints_front_end_is_refused(weights: Path, tmp_path: Path) -> None:
    """The stored filterbank and window are checked: the librosa flavour of the same mel bands is refused."""
    sidecar = json.loads(SIDECAR.read_text())
    wrong = tmp_path / "slaney.json"
    wrong.write_text(json.dumps({**sidecar, "front_end": {**sidecar["front_end"], "mel_scale": "slaney"}}))
    with pytest.raises(ModelFormatError, match=r"'spec\.mel_scale\.fb' differs from the mel filterbank") as err:
        open_model(SOURCE, weights=weights, front_end=wrong)
    assert err.value.path == weights and err.value.field == "front_end"
    wrong.write_text(json.dumps({**sidecar, "front_end": {**sidecar["front_end"], "window": "hann_symmetric"}}))
    with pytest.raises(ModelFormatError, match=r"'spec\.spectrogram\.window' differs from the window"):
        open_model(SOURCE, weights=weights, front_end=wrong)
    wrong.write_text(json.dumps({**sidecar, "front_end": {**sidecar["front_end"], "n_mels": 128}}))
    with pytest.raises(ModelFormatError, match=r"'spec\.mel_scale\.fb' \(257x96\) is not the mel filterbank"):
        open_model(SOURCE, weights=weights, front_end=wrong)


@pytest.mark.parametrize("song", SONGS)
def test_predictions_on_real_songs_equal_the_original_pipeline(fcn, weights: Path, song: str) -> None:
    state = torch.load(weights, map_location="cpu", weights_only=True)
    clip = load_audio(real_material("songs", song), 16000)
    expected = reference_scores(clip.samples, state)
    padded, added = pad_for_prediction(clip, fcn)
    assert (added > 0) == (clip.duration < 20.5)  # the body alone needs 1280 frames; the trumpet loop is 5.3 s
    got = dict(Analysis(padded, fcn).predict())
    ours = np.array([got[label] for label in fcn.labels])
    assert float(np.abs(ours - expected).max()) < 1e-3
    assert sorted(got, key=got.get, reverse=True)[:3] == [fcn.labels[i] for i in np.argsort(-expected)[:3]]


@pytest.fixture(scope="module")
def excerpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 30 s of a real recording (Brahms, string orchestra) as a WAV file: one window of the head."""
    clip = load_audio(real_material("songs", "Hungarian_Dance_number_5.hq.ogg"), 16000)
    path = tmp_path_factory.mktemp("fcn") / "hungarian_30s.wav"
    sf.write(path, clip.samples[: 30 * 16000], 16000, subtype="FLOAT")
    return path


@pytest.mark.slow
def test_every_cli_command_works_on_it_without_a_traceback(weights: Path, excerpt: Path, tmp_path: Path) -> None:
    source = [SOURCE, "--weights", str(weights), "--front-end", str(SIDECAR)]
    model = ["-m", *source]
    results = {}
    info = results["info"] = run("info", *source, "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["shape_clip_frames"] == WINDOW and data["head_input_frames"] == WINDOW
    assert [row["output_shape"] for row in data["layers"]] == [
        [64, 48, 453],
        [128, 24, 113],
        [128, 12, 28],
        [128, 4, 5],
        [64, 1, 1],
    ]
    assert data["front_end"]["mel_scale"] == "htk" and data["front_end"]["pad_mode"] == "reflect"
    assert "aurascope: note: batch-norm 'spec_bn' on the input spectrogram is a fixed gain" in info.stderr
    assert "warning" not in info.stderr
    layers = results["layers"] = run("layers", *source)
    assert layers.returncode == 0 and layers.stdout.splitlines()[-1] == "5\tlayer5.conv\t64"
    predict = results["predict"] = run("predict", *model, "-a", str(excerpt), "--top", "3", "--json")
    assert predict.returncode == 0, predict.stderr
    scores = json.loads(predict.stdout)["scores"]
    assert len(scores) == 3 and scores[0]["label"] in ("classical", "strings", "violin")
    export = results["export"] = run(
        "export", *model, "-a", str(excerpt), "--layer", "2", "--features", "0,7", "--out", str(tmp_path / "out")
    )
    assert export.returncode == 0, export.stderr
    wavs = sorted(p.name for p in (tmp_path / "out").glob("*.wav"))
    assert wavs == ["hungarian_30s_L2_F0_choi.wav", "hungarian_30s_L2_F7_choi.wav"]
    audio, rate = sf.read(tmp_path / "out" / wavs[0])
    assert rate == 16000 and audio.shape[0] == 30 * 16000 and float(np.abs(audio).max()) > 0
    characterise = results["characterise"] = run(
        "characterise", *model, "-a", str(excerpt), "--layer", "1", "--features", "0-3", "--json"
    )
    assert characterise.returncode == 0, characterise.stderr
    assert len(json.loads(characterise.stdout)["maps"]) == 4
    report = results["report"] = run(
        "report", *model, "-a", str(excerpt), "--layer", "1", "--features", "0,1", "--out", str(tmp_path / "rep")
    )
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "rep" / "index.html").is_file()
    assert not [name for name, r in results.items() if "Traceback" in r.stderr + r.stdout]


def test_without_head_input_frames_info_still_describes_it(weights: Path, tmp_path: Path) -> None:
    """The published network with a sidecar that does not give the head's window: it used to crash ``info`` with
    a traceback (the head needs 1813 frames, the shape probe took 4 s); now the layers are described at the
    fewest frames they take, and predictions are said to need the window."""
    sidecar = json.loads(SIDECAR.read_text())
    del sidecar["head_input_frames"]
    del sidecar["labels"]
    bare = tmp_path / "no_window.json"
    bare.write_text(json.dumps(sidecar))
    info = run("info", SOURCE, "--weights", str(weights), "--front-end", str(bare), "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["shape_clip_frames"] == 1280  # 4 x 4 x 4 x 5 x 4: the fewest frames layer 5 takes
    assert data["layers"][-1]["output_shape"] == [64, 1, 1] and data["layers"][-1]["output_shape_4s"] is None
    assert "Traceback" not in info.stderr


@pytest.mark.parametrize("model", ["fcn", "mel-tagger"])
def test_predict_takes_a_quarter_second_excerpt_of_a_real_recording(weights: Path, tmp_path: Path, model: str) -> None:
    """0.27 s of the solo trumpet loop (its first note), padded with silence to the model's window."""
    clip = load_audio(real_material("songs", "sorohanro_-_solo-trumpet-06.hq.ogg"), 44100)
    excerpt = tmp_path / "trumpet_note.wav"
    sf.write(excerpt, clip.samples[: int(0.27 * 44100)], 44100, subtype="PCM_16")
    source = ["-m", SOURCE, "--weights", str(weights), "--front-end", str(SIDECAR)]
    if model == "mel-tagger":
        source = ["-m", str(ROOT / "models" / "mel-tagger.safetensors")]
    result = run("predict", *source, "-a", str(excerpt), "--json")
    assert result.returncode == 0, result.stderr
    assert "'trumpet_note.wav' lasts 0.27 s, shorter than the model's window: padded with" in result.stderr
    assert len(json.loads(result.stdout)["scores"]) == (50 if model == "fcn" else 8)


def test_a_window_renders_though_the_deeper_layers_need_more_than_it(fcn) -> None:
    """The window renders 5 s of layer 2 from a crop that layers 4-5 could not take (they need 1280 frames): the
    crop runs the layers up to 2 only, and equals the whole clip's rendering there."""
    song = load_audio(real_material("songs", "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"), 16000)
    analysis = Analysis(replace(song, samples=song.samples[: 22 * 16000].copy()), fcn)
    first, last = analysis.loudest_window(5.0)
    (window,) = analysis.render_window(2, [0], first, last)
    assert window.context_frames < 1280 and window.audio.shape == (last - first,)
    whole = analysis.render(FeatureRef(2, 0)).audio[first:last]
    assert float(np.abs(window.audio - whole).max()) <= 1e-5 * max(1.0, float(np.abs(whole).max()))
    assert float(np.abs(whole).max()) > 1e-4  # not vacuous
