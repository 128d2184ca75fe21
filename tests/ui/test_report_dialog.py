"""The "Export listening report…" dialog: scope to refs, clips checked, the estimate, why Write is disabled."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.ui.report_dialog import ClipChoice, ReportDialog, ReportRequest

CLIPS = [
    ClipChoice("aaa111", "drums.wav", True),
    ClipChoice("bbb222", "gone.wav", False),
    ClipChoice("ccc333", "chords.wav", True),
    ClipChoice("ddd444", "voice.flac", True),
]


@pytest.fixture
def make(qtbot, tmp_path: Path):
    def make(**kwargs) -> ReportDialog:
        args = {
            "selected": [(2, 5), (1, 3), (2, 5)],
            "current_layer": 2,
            "layer_sizes": [64, 64, 64],
            "clips": CLIPS,
            "current_clip": "ccc333",
            "method": "guided-backprop",
            "folder": str(tmp_path / "report"),
            "title": "Listening report — tagger",
        }
        dialog = ReportDialog(**{**args, **kwargs})
        qtbot.addWidget(dialog)
        return dialog

    return make


def rows(dialog: ReportDialog) -> list[tuple[str, str, bool, bool]]:
    """(key, text, checked, enabled) per listed clip."""
    out = []
    for i in range(dialog.clips.count()):
        item = dialog.clips.item(i)
        checked = item.checkState() == Qt.CheckState.Checked
        out.append(
            (item.data(Qt.ItemDataRole.UserRole), item.text(), checked, bool(item.flags() & Qt.ItemFlag.ItemIsEnabled))
        )
    return out


def test_defaults_check_every_available_clip_current_first_and_grey_the_missing_one(make, tmp_path: Path) -> None:
    dialog = make()
    assert rows(dialog) == [
        ("ccc333", "chords.wav", True, True),
        ("aaa111", "drums.wav", True, True),
        ("bbb222", "gone.wav  (file missing)", False, False),
        ("ddd444", "voice.flac", True, True),
    ]
    missing = dialog.clips.item(2)
    assert not missing.flags() & Qt.ItemFlag.ItemIsUserCheckable
    assert "missing" in missing.toolTip()
    assert dialog.write_button.isEnabled() and dialog.reason.isHidden()
    assert dialog.request() == ReportRequest(
        folder=tmp_path / "report",
        title="Listening report — tagger",
        scope="selected",
        refs=((1, 3), (2, 5)),
        clips=("ccc333", "aaa111", "ddd444"),
        method="guided-backprop",
        open_when_done=True,
    )
    assert dialog.scope_buttons["selected"].text() == "Selected maps (2)"
    assert dialog.scope_buttons["all"].text() == "All layers (192 maps)"
    assert dialog.scope_buttons["selected"].toolTip() == "L1: F3 · L2: F5"


def test_scopes_give_the_maps_write_report_takes(make) -> None:
    dialog = make()
    dialog.scope_buttons["layer"].setChecked(True)
    assert dialog.layer.currentData() == 2  # the current layer
    dialog.layer.setCurrentIndex(dialog.layer.findData(3))
    request = dialog.request()
    assert request.scope == "layer" and request.refs == tuple((3, k) for k in range(64))
    assert request.refs[0] == (3, 0) and request.refs[-1] == (3, 63)
    assert dialog.estimate() == (64, 3)
    assert dialog.estimate_label.text() == "64 maps × 3 clips = 192 renderings"
    dialog.scope_buttons["all"].setChecked(True)
    request = dialog.request()
    assert request.scope == "all" and request.refs is None
    assert dialog.estimate() == (192, 3)
    assert dialog.estimate_label.text() == "192 maps × 3 clips = 576 renderings"
    dialog.scope_buttons["selected"].setChecked(True)
    assert dialog.request().refs == ((1, 3), (2, 5)) and dialog.estimate() == (2, 3)
    dialog.clips.item(1).setCheckState(Qt.CheckState.Unchecked)
    dialog.clips.item(3).setCheckState(Qt.CheckState.Unchecked)
    assert dialog.estimate() == (2, 1)
    assert dialog.estimate_label.text() == "2 maps × 1 clip = 2 renderings"
    assert dialog.request().clips == ("ccc333",)


def test_picking_a_layer_in_its_list_chooses_that_scope(make) -> None:
    dialog = make()
    dialog.layer.activated.emit(0)  # as a click in the combo's list does
    assert dialog.scope_key() == "layer" and dialog.refs() == tuple((2, k) for k in range(64))


def test_with_nothing_selected_the_selected_scope_is_off_and_the_current_layer_is_chosen(make) -> None:
    dialog = make(selected=[], current_layer=1, layer_sizes=[8, 16], current_clip=None)
    assert not dialog.scope_buttons["selected"].isEnabled()
    assert dialog.scope_buttons["selected"].text() == "Selected maps (0)"
    assert dialog.scope_key() == "layer" and dialog.refs() == tuple((1, k) for k in range(8))
    assert dialog.estimate() == (8, 3)
    assert [key for key, *_ in rows(dialog)] == ["aaa111", "bbb222", "ccc333", "ddd444"]  # no current: as given


def test_write_is_disabled_with_the_reason(make, tmp_path: Path) -> None:
    dialog = make()
    for i in range(dialog.clips.count()):
        dialog.clips.item(i).setCheckState(Qt.CheckState.Unchecked)
    assert not dialog.write_button.isEnabled()
    assert dialog.reason.text() == "Clips: check at least one clip" and not dialog.reason.isHidden()
    with pytest.raises(ValueError, match="check at least one clip"):
        dialog.request()
    dialog.clips.item(0).setCheckState(Qt.CheckState.Checked)
    assert dialog.write_button.isEnabled() and dialog.reason.isHidden()

    dialog.folder.setText("  ")
    assert not dialog.write_button.isEnabled()
    assert dialog.reason.text() == "Folder: choose where to write the report"

    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    dialog.folder.setText(str(a_file))
    assert not dialog.write_button.isEnabled()
    assert dialog.reason.text() == f"Folder: '{a_file}' is a file, not a folder"
    dialog.folder.setText(str(a_file / "report"))
    assert not dialog.write_button.isEnabled()
    assert dialog.reason.text() == f"Folder: '{a_file}' is a file, so no folder can be made inside it"

    for i in range(dialog.clips.count()):
        dialog.clips.item(i).setCheckState(Qt.CheckState.Unchecked)
    assert dialog.problems() == [
        "Clips: check at least one clip",
        f"Folder: '{a_file}' is a file, so no folder can be made inside it",
    ]
    assert dialog.reason.text() == "\n".join(dialog.problems())


def test_a_non_empty_folder_is_warned_about_not_refused(make, tmp_path: Path) -> None:
    folder = tmp_path / "old-report"
    folder.mkdir()
    (folder / "index.html").write_text("<html></html>")
    dialog = make(folder=str(folder))
    assert dialog.write_button.isEnabled() and not dialog.reason.isHidden()
    assert dialog.reason.text() == "Folder: 'old-report' is not empty: files with the same names will be replaced"
    dialog.folder.setText(str(tmp_path / "new" / "report"))  # not there yet: write_report makes it
    assert dialog.write_button.isEnabled() and dialog.reason.isHidden()


def test_the_request_carries_title_method_and_the_browser_choice(make, tmp_path: Path) -> None:
    dialog = make(title="", method="gradient")
    assert dialog.method.currentData() == "gradient"
    dialog.title.setText("  Layer 3 of the tagger  ")
    dialog.method.setCurrentIndex(dialog.method.findData("deconvnet"))
    dialog.open_when_done.setChecked(False)
    dialog.folder.setText(str(tmp_path / "out"))
    request = dialog.request()
    assert (request.title, request.method, request.open_when_done) == ("Layer 3 of the tagger", "deconvnet", False)
    assert request.folder == tmp_path / "out" and isinstance(request.folder, Path)
    assert make(title="").request().title == ""  # write_report then titles it after the model


def test_an_open_atlas_is_offered_with_its_excerpts_per_map(make, tmp_path: Path) -> None:
    atlas = tmp_path / "corpus.atlas"
    dialog = make(atlas=atlas)
    assert dialog.atlas.text() == "Each map's top excerpts from corpus.atlas" and dialog.atlas.isChecked()
    assert dialog.excerpts.isEnabled() and dialog.excerpts.value() == 3
    dialog.excerpts.setValue(5)
    request = dialog.request()
    assert (request.atlas, request.excerpts) == (atlas, 5)
    dialog.atlas.setChecked(False)
    assert not dialog.excerpts.isEnabled() and dialog.request().atlas is None


def test_without_an_atlas_the_choice_is_greyed(make) -> None:
    dialog = make()
    assert not dialog.atlas.isEnabled() and not dialog.atlas.isChecked() and not dialog.excerpts.isEnabled()
    assert "File › Open atlas" in dialog.atlas.toolTip() and dialog.request().atlas is None
