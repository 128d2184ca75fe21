"""Export the selected feature maps as WAV files with JSON sidecars (the CLI's exporter and file names)."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.core.types import ExportRequest, FeatureRef, Loudness, Method, Mode, export_name
from app.ui.forms import accept_cancel, choice_box, chosen, vocabulary_box, with_browse

FORMATS = (("float32", "32-bit float (exact)"), ("pcm24", "24-bit PCM"), ("pcm16", "16-bit PCM"))


def describe_refs(refs: list[FeatureRef]) -> str:
    """``L1: F0, F3–F5 · L2: F9``."""
    parts = []
    for layer, group in groupby(sorted(refs), key=lambda r: r[0]):
        ks = [k for _, k in group]
        runs, start = [], ks[0]
        for a, b in zip(ks, [*ks[1:], None], strict=True):
            if b != a + 1:
                runs.append(f"F{start}" if start == a else f"F{start}–F{a}")
                start = b
        parts.append(f"L{layer}: {', '.join(runs)}")
    return " · ".join(parts)


class ExportDialog(QDialog):
    def __init__(
        self,
        refs: list[FeatureRef],
        clip_name: str,
        *,
        folder: str,
        modes: list[Mode],
        subtype: str,
        loudness: Loudness,
        method: Method = Method.DECONVNET,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export feature maps as WAV")
        self.refs = sorted(FeatureRef.of(r) for r in refs)
        self.clip_name = clip_name
        layout = QVBoxLayout(self)
        summary = QLabel(f"<b>{len(self.refs)} map(s)</b> of '{clip_name}': {describe_refs(self.refs)}")
        summary.setWordWrap(True)
        layout.addWidget(summary)
        hint = QLabel("Select more in the tree with Ctrl/Shift-click; a layer row stands for all its maps.")
        hint.setStyleSheet("color: #9a9aa8;")
        layout.addWidget(hint)

        form = QFormLayout()
        mode_row = QHBoxLayout()
        self.mode_boxes: dict[Mode, QCheckBox] = {}
        for mode in Mode:
            box = QCheckBox(mode.label)
            box.setToolTip(mode.description)
            box.setChecked(mode in modes)
            box.toggled.connect(self._update)
            self.mode_boxes[mode] = box
            mode_row.addWidget(box)
        form.addRow("Modes", mode_row)
        self.method = vocabulary_box(Method, method)
        self.method.setToolTip("File names carry the method unless it is the deconvnet")
        self.method.currentIndexChanged.connect(self._update)
        form.addRow("Method", self.method)
        self.format = choice_box(FORMATS, subtype)
        form.addRow("Format", self.format)
        loud_col = QVBoxLayout()
        self.loudness = QButtonGroup(self)
        for i, choice in enumerate(Loudness):
            radio = QRadioButton(choice.label)
            radio.setProperty("key", choice.value)
            radio.setChecked(choice == loudness)
            self.loudness.addButton(radio, i)
            loud_col.addWidget(radio)
        if self.loudness.checkedButton() is None:
            self.loudness.button(0).setChecked(True)
        form.addRow("Loudness", loud_col)
        self.folder = QLineEdit(folder or str(Path.cwd() / "aurascope-export"))
        self.folder.textChanged.connect(self._update)
        form.addRow("Folder", with_browse(self.folder, self._browse))
        layout.addLayout(form)
        self.files = QLabel("")
        layout.addWidget(self.files)
        self.buttons, self.export_button = accept_cancel(self, layout, "Export")
        self.resize(560, self.sizeHint().height())
        self._update()

    def request(self) -> ExportRequest:
        checked = self.loudness.checkedButton()
        return ExportRequest(
            refs=tuple(self.refs),
            modes=tuple(k for k, box in self.mode_boxes.items() if box.isChecked()),
            subtype=self.format.currentData(),
            loudness=Loudness(checked.property("key")) if checked is not None else Loudness.NONE,
            folder=Path(self.folder.text().strip()).expanduser(),
            method=chosen(self.method, Method),
        )

    def _update(self) -> None:
        req = self.request()
        n = len(req.refs) * len(req.modes)
        ok = n > 0 and bool(self.folder.text().strip())
        self.export_button.setEnabled(ok)
        example = export_name(self.clip_name, req.refs[0], req.modes[0], method=req.method) if n else "–"
        self.files.setText(f"{n} WAV file(s) + {n} JSON sidecar(s), e.g. {example}")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if folder:
            self.folder.setText(folder)
