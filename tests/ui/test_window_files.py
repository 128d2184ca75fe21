"""File dialogs open where the listener was: "Add clip…" in the folder of the last audio file (not the model's),
"Open model…" in the folder of the last model."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtWidgets import QFileDialog


def test_add_clip_opens_in_the_last_audio_folder_and_open_model_in_the_model_folder(
    make_window, qtbot, monkeypatch, wav_file, model_file, tmp_path
) -> None:
    audio_dir, model_dir = tmp_path / "my music", tmp_path / "my models"
    audio_dir.mkdir()
    model_dir.mkdir()
    clip, model = audio_dir / wav_file.name, model_dir / model_file.name
    shutil.copy(wav_file, clip)
    shutil.copy(model_file, model)
    window = make_window(clip, model)  # the model is opened last
    asked: list[tuple[str, str]] = []

    def fake_dialog(parent, caption, folder, *rest):
        asked.append((caption, folder))
        return ([], "") if "clip" in caption.lower() else ("", "")

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(fake_dialog))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_dialog))
    window.choose_audio()
    window.choose_model()
    assert [Path(folder) for _, folder in asked] == [audio_dir, model_dir], asked
