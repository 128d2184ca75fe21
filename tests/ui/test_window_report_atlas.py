"""The window's listening report with a corpus atlas open (offscreen): the report dialog offers the open atlas, and
the report it writes shows each map's top excerpts of the corpus as the atlas holds them, with their players."""

from __future__ import annotations

import json
from pathlib import Path

from app.core.atlas import ScanSettings
from app.core.atlas.build import build_atlas
from app.core.atlas.store import AtlasFile
from app.core.model import load_model
from app.ui.report_dialog import ReportDialog

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


def test_the_report_dialog_offers_the_open_atlas_and_the_report_shows_its_excerpts(
    make_window, qtbot, monkeypatch, tmp_path, wav_file, model_file
) -> None:
    model = load_model(model_file)
    atlas = tmp_path / "demo.atlas"
    build_atlas(atlas, [DEMO / "piano.wav", DEMO / "real" / "groove.flac"], model, ScanSettings.for_network(model, k=3))
    window = make_window(wav_file, model_file)
    with qtbot.waitSignal(window.controller.atlasOpened, timeout=30000):
        window.open_atlas(atlas)
    window.tree.select((2, 3))
    qtbot.waitUntil(lambda: window.feature is not None and window.feature.ref == (2, 3), timeout=30000)
    out = tmp_path / "report"
    shown: list[tuple[str, bool, bool]] = []

    def write(dialog: ReportDialog) -> ReportDialog.DialogCode:  # the listener sets a folder and presses Write
        shown.append((dialog.atlas.text(), dialog.atlas.isChecked(), dialog.excerpts.isEnabled()))
        dialog.scope_buttons["selected"].setChecked(True)
        dialog.excerpts.setValue(2)
        dialog.folder.setText(str(out))
        dialog.open_when_done.setChecked(False)
        return ReportDialog.DialogCode.Accepted

    monkeypatch.setattr(ReportDialog, "exec", write)
    window.export_report()
    qtbot.waitUntil(lambda: window.worker.idle and getattr(window, "last_report", None) is not None, timeout=120000)
    assert shown == [("Each map's top excerpts from demo.atlas", True, True)]
    doc = json.loads((out / "report.json").read_text())
    (m,) = doc["layers"][0]["maps"]
    with AtlasFile(atlas) as opened:
        expected = [(h.clip, h.start, h.peak) for h in opened.hits(2, 3)[:2]]
    assert [(e["sha256"], e["start_s"], e["peak"]) for e in m["excerpts"]] == expected
    assert doc["atlas"]["file"] == str(atlas) and window.last_report.excerpts == 2
    page = (out / "index.html").read_text()
    for e in m["excerpts"]:
        assert (out / e["original_wav"]).is_file() and (out / e["feature_wav"]).is_file()
        assert f"src='{e['feature_wav']}'" in page
