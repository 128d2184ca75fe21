"""The CLI on your own models, in a subprocess: module:callable with weights and a sidecar, ONNX, --method,
warnings on stderr, and a crafted pickle given as --weights refused (exit 2) without running."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch
from cli_process import run
from user_models.nets import FunctionalChoi

from app.core.frontend import FrontEnd


def sidecar(tmp_path: Path, labels: tuple[str, ...] = ("calm", "busy", "loud")) -> Path:
    path = tmp_path / "fe.json"
    fe = FrontEnd(sample_rate=22050)  # the test clip's rate
    path.write_text(json.dumps({"front_end": fe.to_dict(), "labels": list(labels), "name": "mine"}))
    return path


def test_module_callable_info_predict_and_export_with_a_method(tmp_path: Path, wav_file: Path) -> None:
    weights = tmp_path / "w.pt"
    torch.save(FunctionalChoi(seed=9).state_dict(), weights)
    source = ["user_models.nets:functional_choi", "--weights", str(weights), "--front-end", str(sidecar(tmp_path))]

    info = run("info", *source, "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert [(r["name"], r["maps"], r["kernel"]) for r in data["layers"]] == [
        (f"convs.{i}", 6, [3, 3]) for i in range(4)
    ]
    assert data["layers"][0]["output_shape_4s"] == [6, 128, 172]  # 4 s at 22050 Hz, hop 256: 345 frames
    assert data["relus"].startswith("4 ReLUs") and data["warnings"] == [] and data["name"] == "mine"
    assert run("layers", *source).stdout.splitlines() == [f"{n + 1}\tconvs.{n}\t6" for n in range(4)]

    predict = run("predict", "--model", *source, "--audio", str(wav_file), "--json")
    assert predict.returncode == 0, predict.stderr
    assert {s["label"] for s in json.loads(predict.stdout)["scores"]} == {"calm", "busy", "loud"}

    out = tmp_path / "out"
    export = run(
        "export", "--model", *source, "--audio", str(wav_file), "-l", "2", "-f", "0,3", "--method", "guided-backprop",
        "--out", str(out), "-q",
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    assert sorted(p.name for p in out.glob("*.wav")) == [
        "chords_L2_F0_choi_guided-backprop.wav",
        "chords_L2_F3_choi_guided-backprop.wav",
    ]
    meta = json.loads((out / "chords_L2_F3_choi_guided-backprop.json").read_text())
    assert meta["method"] == "guided-backprop" and meta["model_source"] == "user_models.nets:functional_choi"
    assert meta["model_file"] == str(weights.resolve()) and meta["model_name"] == "mine"


def test_warnings_go_to_stderr(tmp_path: Path) -> None:
    result = run("layers", "user_models.nets:residual_net", "--front-end", str(sidecar(tmp_path, labels=())))
    assert result.returncode == 0, result.stderr
    assert "aurascope: warning: 'add' adds two paths" in result.stderr and "Affects layer 4 (relu_2)" in result.stderr
    assert result.stdout.splitlines()[-1] == "4\trelu_2\t4"


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def test_crafted_weights_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    weights = tmp_path / "evil.pt"
    weights.write_bytes(pickle.dumps({"convs.0.weight": _RunsCode(marker)}))
    result = run(
        "info", "user_models.nets:functional_choi", "--weights", str(weights), "--front-end", str(sidecar(tmp_path))
    )
    assert result.returncode == 2
    assert "refused by torch's weights_only loader" in result.stderr and str(weights) in result.stderr
    assert not marker.exists()


def test_bad_sources_exit_2_with_one_line(tmp_path: Path) -> None:
    fe = sidecar(tmp_path)
    cases = [
        (["info", "user_models.nets:functional_choi"], "needs a front-end sidecar"),
        (["info", "user_models.nets:ControlFlowNet", "--front-end", str(fe)], "torch.fx cannot trace its forward"),
        (["info", str(tmp_path / "none.onnx"), "--front-end", str(fe)], "no such file"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and message in result.stderr


def test_characterise_and_report_take_a_module_source_and_a_method(tmp_path: Path, wav_file: Path) -> None:
    source = ["--model", "user_models.nets:functional_choi", "--front-end", str(sidecar(tmp_path))]
    result = run("characterise", *source, "-a", str(wav_file), "-l", "1", "-f", "0,1", "--method", "gradient", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)
    out = tmp_path / "report"
    result = run("report", *source, "-a", str(wav_file), "-l", "2", "-f", "3", "--method", "gradient", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "report.json").read_text())["method"] == "gradient"


def test_a_users_builder_that_raises_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    for command in (["info"], ["layers"]):
        result = run(*command, "user_models.nets:broken_builder", "--front-end", str(sidecar(tmp_path)))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [
            "aurascope: error: cannot use model 'user_models.nets:broken_builder': the module's code raised "
            "ValueError while loading: weights folder not configured"
        ]
