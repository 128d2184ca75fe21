"""The real CLI in a subprocess on real files: outputs, sidecars, counts, and exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
from cli_process import run


def test_info_json(model_file: Path) -> None:
    result = run("info", str(model_file), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert [layer["maps"] for layer in info["layers"]] == [8] * 5
    assert info["layers"][0]["output_shape_4s"] == [8, 128, 86]
    assert info["front_end"]["n_fft"] == 512 and info["labels"] == ["calm", "busy", "loud"]


def test_info_text_and_layers(model_file: Path) -> None:
    text = run("info", str(model_file))
    assert text.returncode == 0 and "conv5" in text.stdout and "11025 Hz" in text.stdout
    layers = run("layers", str(model_file))
    assert layers.stdout.splitlines() == [f"{n}\tconv{n}\t8" for n in range(1, 6)]


def test_predict_json(model_file: Path, wav_file: Path) -> None:
    result = run("predict", "--model", str(model_file), "--audio", str(wav_file), "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)["scores"]
    assert {s["label"] for s in scores} == {"calm", "busy", "loud"}
    assert sum(s["score"] for s in scores) == pytest.approx(1.0, abs=1e-4)


def test_export_writes_the_named_files_and_sidecars(tmp_path: Path, model_file: Path, wav_file: Path) -> None:
    out = tmp_path / "out"
    result = run(
        "export",
        "--model",
        str(model_file),
        "--audio",
        str(wav_file),
        "--layer",
        "1",
        "--layer",
        "3",
        "--features",
        "0,5-7",
        "--mode",
        "choi",
        "--mode",
        "residual",
        "--format",
        "pcm24",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    wavs = sorted(p.name for p in out.glob("*.wav"))
    assert len(wavs) == 2 * 4 * 2 and len(list(out.glob("*.json"))) == 16
    assert "chords_L3_F6_residual.wav" in wavs and "chords_L1_F0_choi.wav" in wavs
    meta = json.loads((out / "chords_L3_F6_residual.json").read_text())
    assert (meta["layer"], meta["feature"], meta["mode"], meta["format"]) == (3, 6, "residual", "pcm24")
    assert meta["source_file"] == str(wav_file.resolve()) and len(meta["model_sha256"]) == 64
    info = sf.info(out / "chords_L3_F6_residual.wav")
    assert info.samplerate == 11025 and info.subtype == "PCM_24" and info.frames == 3 * 11025


def test_export_all_layers_default(tmp_path: Path, model_file: Path, wav_file: Path) -> None:
    result = run("export", "-m", str(model_file), "-a", str(wav_file), "--layer", "all", "-f", "2", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == [f"chords_L{n}_F2_choi.wav" for n in range(1, 6)]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--layer", "9"], "layer 9 is out of range: the model has layers 1-5"),
        (["--layer", "2", "--features", "3,8"], "feature 8 is out of range: the model has features 0-7"),
        (["--features", "x-y"], "cannot read feature list 'x-y': use numbers, ranges like 9-12, or 'all'"),
    ],
)
def test_bad_selection_exit_2_and_nothing_written(
    tmp_path: Path, model_file: Path, wav_file: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    result = run("export", "-m", str(model_file), "-a", str(wav_file), "-o", str(out), *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"aurascope: error: {message}"]
    assert not out.exists() or not any(out.iterdir())


def test_bad_files_exit_2_with_one_clear_line(tmp_path: Path, model_file: Path, wav_file: Path) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + bytes(200))
    not_model = tmp_path / "notes.safetensors"
    not_model.write_text("hello")
    cases = [
        (["export", "-m", str(model_file), "-a", str(corrupt)], "cannot read audio file", "corrupt.wav"),
        (["export", "-m", str(model_file), "-a", str(tmp_path / "missing.flac")], "no such file", "missing.flac"),
        (
            ["export", "-m", str(not_model), "-a", str(wav_file)],
            "not a valid Aurascope model file",
            "notes.safetensors",
        ),
        (["info", str(wav_file)], "not a valid Aurascope model file", "chords.wav"),
    ]
    for args, reason, name in cases:
        result = run(*args, "-o", str(tmp_path / "o")) if args[0] == "export" else run(*args)
        assert result.returncode == 2, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and reason in lines[0] and name in lines[0], lines
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("model", ["mel-tagger", "choi2015-genre"])
def test_predict_pads_a_short_kick_instead_of_refusing_it(tmp_path: Path, model: str) -> None:
    """A 0.27 s kick (synthesised: a 150 -> 45 Hz sweep under a 60 ms decay) is a fair question to a tagger."""
    import numpy as np

    t = np.arange(int(0.27 * 22050)) / 22050
    y = 0.8 * np.sin(2 * np.pi * (45 * t + 4.2 * (1 - np.exp(-t / 0.04)))) * np.exp(-t / 0.06)
    sf.write(tmp_path / "kick.wav", y.astype(np.float32), 22050, subtype="PCM_16")
    root = Path(__file__).resolve().parents[1]
    result = run(
        "predict", "-m", str(root / "models" / f"{model}.safetensors"), "-a", str(tmp_path / "kick.wav"), "--json"
    )
    assert result.returncode == 0, result.stderr
    assert "'kick.wav' lasts 0.27 s, shorter than the model's window: padded with" in result.stderr
    scores = json.loads(result.stdout)["scores"]
    assert len(scores) == 8 and all(0 < s["score"] < 1 for s in scores)
    if model == "choi2015-genre":  # softmax over genres
        assert sum(s["score"] for s in scores) == pytest.approx(1.0, abs=1e-4)


def test_front_end_prints_a_preset_with_fields_overridden_and_refuses_bad_ones() -> None:
    result = run("front-end", "torchaudio", "n_fft=512", "hop_length=256", "n_mels=96", "fmax=8000")
    assert result.returncode == 0, result.stderr
    fe = json.loads(result.stdout)["front_end"]
    assert (fe["n_fft"], fe["hop_length"], fe["n_mels"], fe["fmax"]) == (512, 256, 96, 8000.0)
    assert (fe["mel_scale"], fe["mel_norm"], fe["pad_mode"], fe["db_top_db"]) == ("htk", "none", "reflect", None)
    listed = run("front-end")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["librosa", "torchaudio", "musicnn", "kapre"]
    bad = run("front-end", "musicnn", "mel_scale=bark")
    assert bad.returncode == 2 and "field 'front_end.mel_scale'" in bad.stderr and "Traceback" not in bad.stderr
    unknown = run("front-end", "essentia")
    assert unknown.returncode == 2 and "front_end.preset" in unknown.stderr
