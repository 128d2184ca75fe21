"""The "Open PyTorch module…" dialog: the Python file read (never run), each field checked, the request as typed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from app.ui.model_source_dialog import (
    ModelSourceDialog,
    ModuleSourceRequest,
    module_for_file,
    scan_definitions,
)

NET = """\
import pathlib
pathlib.Path(__file__).with_name("ran.marker").write_text("the file was executed")

from torch import nn


def _seeded():
    return 0


def make_net():
    return TinyNet()


class Config:
    pass


class TinyNet(nn.Module):
    def forward(self, x):
        return x

    def inner(self):
        pass
"""
FRONT_END = {"sample_rate": 22050, "n_fft": 1024, "hop_length": 512, "scale": "mel", "n_mels": 96}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """mynet.py (writes ran.marker if it is ever run), a sidecar, weights, and a few bad sidecars."""
    net = tmp_path / "mynet.py"
    net.write_text(NET)
    fe = tmp_path / "fe.json"
    fe.write_text(json.dumps({"front_end": FRONT_END, "labels": ["calm", "busy"]}))
    no_front_end = tmp_path / "labels_only.json"
    no_front_end.write_text(json.dumps({"labels": ["calm"]}))
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(FRONT_END))
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"\0" * 16)  # the dialog checks the name and existence; the loader reads it
    return {"net": net, "fe": fe, "no_front_end": no_front_end, "bare": bare, "weights": weights}


@pytest.fixture
def dialog(qtbot) -> ModelSourceDialog:
    d = ModelSourceDialog()
    qtbot.addWidget(d)
    return d


def fill(d: ModelSourceDialog, source: str, front_end: Path | str, weights: Path | str = "", folder: Path | str = ""):
    d.set_source(source)
    d.search_folder.setText(str(folder))
    d.weights.setText(str(weights))
    d.front_end.setText(str(front_end))


def test_the_scan_lists_top_level_definitions_modules_first_and_never_runs_the_file(files) -> None:
    found = scan_definitions(files["net"])
    assert [d.name for d in found] == ["TinyNet", "make_net", "Config", "_seeded"]
    assert [d.kind for d in found] == ["class", "function", "class", "function"]
    assert found[0].bases == ("nn.Module",) and found[0].builds_module and not found[2].builds_module
    assert found[0].describe() == "class TinyNet(nn.Module), line 19"
    assert not (files["net"].parent / "ran.marker").exists()
    assert "mynet" not in sys.modules


def test_picking_the_python_file_sets_folder_module_and_callable_without_running_it(dialog, files) -> None:
    dialog.use_python_file(files["net"])
    assert dialog.search_folder.text() == str(files["net"].parent)
    assert dialog.module.text() == "mynet"
    assert [dialog.callable.itemText(i) for i in range(dialog.callable.count())] == [
        "TinyNet",
        "make_net",
        "Config",
        "_seeded",
    ]
    assert dialog.callable.currentText() == "TinyNet"  # the nn.Module subclass is the first guess
    assert "4 top-level definition(s)" in dialog.file_note.text()
    assert not (files["net"].parent / "ran.marker").exists()
    assert "mynet" not in sys.modules
    # a callable the user already chose that the file defines is left alone
    dialog.callable.setEditText("make_net")
    dialog.use_python_file(files["net"])
    assert dialog.callable.currentText() == "make_net"


def test_a_file_inside_a_package_is_imported_through_the_package(tmp_path: Path) -> None:
    pkg = tmp_path / "src" / "mypkg" / "models"
    pkg.mkdir(parents=True)
    (tmp_path / "src" / "mypkg" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text("def build():\n    pass\n")
    assert module_for_file(pkg / "nets.py") == (tmp_path / "src", "mypkg.models.nets")
    assert module_for_file(pkg / "__init__.py") == (tmp_path / "src", "mypkg.models")
    assert module_for_file(tmp_path / "loose.py") == (tmp_path, "loose")


def test_a_file_that_does_not_parse_is_said_so(dialog, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    dialog.use_python_file(broken)
    assert dialog.module.text() == "broken" and dialog.callable.count() == 0
    assert "broken.py: cannot be read as Python" in dialog.file_note.text()


def test_a_sidecar_beside_the_python_file_is_offered(dialog, files) -> None:
    sidecar = files["net"].with_suffix(".json")
    sidecar.write_text(files["fe"].read_text())
    dialog.use_python_file(files["net"])
    assert dialog.front_end.text() == str(sidecar)
    assert dialog.open_button.isEnabled()


@pytest.mark.parametrize(
    ("source", "field", "words"),
    [
        ("mynet", "callable", "Callable: needed"),
        ("my net:x", "module", "Module: 'my net' is not an importable name"),
        ("my-net:make_net", "module", "Module: 'my-net'"),
        ("mynet:make net", "callable", "Callable: 'make net' is not a Python name"),
        (":make_net", "module", "Module: needed"),
        ("mynet.:make_net", "module", "Module: 'mynet.'"),
    ],
)
def test_open_is_disabled_for_a_source_the_core_cannot_import(dialog, files, source, field, words) -> None:
    fill(dialog, source, files["fe"])
    assert not dialog.open_button.isEnabled()
    assert list(dialog.problems()) == [field]
    label = dialog.problem_labels[field]
    assert label.text().startswith(words) and not label.isHidden()
    with pytest.raises(ValueError, match=words.split(":")[0]):
        dialog.request()


def test_open_is_disabled_for_a_bad_front_end_naming_the_field(dialog, files, tmp_path: Path) -> None:
    fill(dialog, "mynet:make_net", "")
    assert dialog.problems() == {
        "front_end": "Front end: needed — the JSON sidecar with the spectrogram the network was trained on"
    }
    dialog.front_end.setText(str(tmp_path / "missing.json"))
    assert dialog.problems() == {"front_end": "Front end: no such file"}
    assert not dialog.open_button.isEnabled()
    dialog.front_end.setText(str(files["no_front_end"]))
    assert dialog.problems()["front_end"] == (
        "Front end, field 'front_end': missing: the front end the network was trained with"
    )
    assert not dialog.open_button.isEnabled()
    assert dialog.problem_labels["front_end"].text() == dialog.problems()["front_end"]
    # the core's reader takes only a sidecar; a bare front-end block is refused with how to fix it
    dialog.front_end.setText(str(files["bare"]))
    assert dialog.problems()["front_end"] == (
        'Front end: this is the front-end block alone; the sidecar holds it as {"front_end": {…}}'
    )
    bad_scale = tmp_path / "bad_scale.json"
    bad_scale.write_text(json.dumps({"front_end": {**FRONT_END, "scale": "bark"}}))
    dialog.front_end.setText(str(bad_scale))
    assert dialog.problems()["front_end"].startswith("Front end, field 'front_end.scale': ")
    not_json = tmp_path / "fe.txt"
    not_json.write_text("{front_end:")
    dialog.front_end.setText(str(not_json))
    assert dialog.problems()["front_end"].startswith("Front end: not valid JSON")
    dialog.front_end.setText(str(files["fe"]))
    assert dialog.problems() == {} and dialog.open_button.isEnabled()
    assert dialog.problem_labels["front_end"].isHidden()


def test_open_is_disabled_for_bad_weights_or_search_folder(dialog, files, tmp_path: Path) -> None:
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(b"x")
    fill(dialog, "mynet:make_net", files["fe"], weights=ckpt)
    assert list(dialog.problems()) == ["weights"] and not dialog.open_button.isEnabled()
    assert dialog.problems()["weights"] == (
        "Weights: use .safetensors, or a .pt/.pth/.bin state dict ('last.ckpt' is neither)"
    )
    dialog.weights.setText(str(tmp_path / "gone.pt"))
    assert dialog.problems() == {"weights": f"Weights: no such file '{tmp_path / 'gone.pt'}'"}
    (tmp_path / "dir.pth").mkdir()
    dialog.weights.setText(str(tmp_path / "dir.pth"))
    assert dialog.problems() == {"weights": f"Weights: '{tmp_path / 'dir.pth'}' is not a regular file"}
    upper = files["weights"].rename(tmp_path / "w.SafeTensors")
    dialog.weights.setText(str(upper))
    assert dialog.problems() == {} and dialog.open_button.isEnabled()  # suffixes case-blind, as the loader reads
    dialog.search_folder.setText(str(tmp_path / "nowhere"))
    assert dialog.problems() == {"search_folder": f"Search folder: no such folder '{tmp_path / 'nowhere'}'"}
    dialog.search_folder.setText(str(files["fe"]))
    assert dialog.problems()["search_folder"].endswith("is a file, not a folder")
    assert not dialog.open_button.isEnabled()


def test_a_valid_set_enables_open_and_the_request_is_what_was_typed(dialog, files) -> None:
    fill(dialog, "mynet:make_net", files["fe"], weights=files["weights"], folder=files["net"].parent)
    assert dialog.problems() == {} and dialog.open_button.isEnabled()
    assert all(label.isHidden() for label in dialog.problem_labels.values())
    request = dialog.request()
    assert request == ModuleSourceRequest(
        source="mynet:make_net",
        search_folder=files["net"].parent,
        weights=files["weights"],
        front_end=files["fe"],
    )
    assert all(isinstance(p, Path) for p in (request.search_folder, request.weights, request.front_end))
    # optional fields left empty are None
    fill(dialog, "mynet:make_net", files["fe"])
    assert dialog.request() == ModuleSourceRequest("mynet:make_net", None, None, files["fe"])
    assert not (files["net"].parent / "ran.marker").exists()


def test_a_colon_typed_or_pasted_in_the_module_moves_on_to_the_callable(dialog, qtbot, qapp) -> None:
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    dialog.module.setFocus()
    qtbot.keyClicks(dialog.module, "pkg.nets:")
    assert dialog.module.text() == "pkg.nets"
    assert dialog.focusWidget() is dialog.callable  # its line edit takes the keys
    qtbot.keyClicks(dialog.callable.lineEdit(), "build")
    assert dialog.source_text() == "pkg.nets:build"
    dialog.module.clear()
    qapp.clipboard().setText("other.mod:Factory.create")
    dialog.module.paste()
    assert dialog.module.text() == "other.mod" and dialog.callable.currentText() == "Factory.create"


def test_the_last_request_fills_the_fields_and_lists_its_file(qtbot, files) -> None:
    last = ModuleSourceRequest("mynet:make_net", files["net"].parent, files["weights"], files["fe"])
    dialog = ModelSourceDialog(last=last, start_dir=str(files["net"].parent))
    qtbot.addWidget(dialog)
    assert dialog.module.text() == "mynet" and dialog.callable.currentText() == "make_net"
    assert dialog.search_folder.text() == str(files["net"].parent)
    assert dialog.weights.text() == str(files["weights"]) and dialog.front_end.text() == str(files["fe"])
    assert dialog.callable.count() == 4  # mynet.py in the search folder, read again
    assert dialog.open_button.isEnabled() and dialog.request() == last
    assert not (files["net"].parent / "ran.marker").exists()


def test_a_module_name_already_loaded_elsewhere_is_warned_about_not_refused(dialog, files) -> None:
    fill(dialog, "json:loads", files["fe"], folder=files["net"].parent)
    assert dialog.open_button.isEnabled() and not dialog.warning.isHidden()
    assert dialog.warning.text().startswith("Module: 'json' is already loaded from ")
    dialog.search_folder.setText("")  # no folder of one's own: an installed package is meant
    assert dialog.warning.isHidden()
