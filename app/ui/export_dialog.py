"""Export the selected feature maps as WAV files with JSON sidecars (the CLI's exporter and file names)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.compute import Ref

FORMATS = (("float32", "32-bit float (exact)"), ("pcm24", "24-bit PCM"), ("pcm16", "16-bit PCM"))
LOUDNESS = (
    ("none", "None: raw level, as rendered"),
    ("match", "Match the original's loudness (BS.1770 LUFS)"),
    ("peak", "Peak-normalise (−0.1 dBFS)"),
)
MODE_TEXT = (("choi", "Choi  X·D"), ("magnitude", "Magnitude"), ("residual", "Residual  X − X·D"))


METHOD_TEXT = (
    ("deconvnet", "Deconvnet (Choi et al.)"),
    ("guided-backprop", "Guided backprop"),
    ("gradient", "Gradient"),
)


@dataclass(frozen=True)
class ExportRequest:
    refs: tuple[Ref, ...]
    modes: tuple[str, ...]
    subtype: str
    loudness: str
    folder: Path
    method: str = "deconvnet"


def export_name(clip_name: str, ref: Ref, mode: str, method: str) -> str:
    """The exporter's file name (as `app.core.export` names it; imported lazily there, so repeated here)."""
    suffix = "" if method == "deconvnet" else f"_{method}"
    return f"{clip_name}_L{ref[0]}_F{ref[1]}_{mode}{suffix}.wav"


def describe_refs(refs: list[Ref]) -> str:
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


def choice_box(items: Sequence[tuple[str, str]], current: str) -> QComboBox:
    """A combo of (key, text) items with ``current``'s key selected (the first if it is not there)."""
    box = QComboBox()
    for key, text in items:
        box.addItem(text, key)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box


def with_browse(edit: QLineEdit, browse: Callable[[], None]) -> QHBoxLayout:
    """``edit`` with a "Browse…" button after it that calls ``browse``."""
    row = QHBoxLayout()
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    row.addWidget(edit)
    row.addWidget(button)
    return row


def accept_cancel(dialog: QDialog, layout: QVBoxLayout, accept_text: str) -> tuple[QDialogButtonBox, QPushButton]:
    """Cancel and the dialog's own accept button (``accept_text``) at the bottom of ``layout``."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
    accept = buttons.addButton(accept_text, QDialogButtonBox.ButtonRole.AcceptRole)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    return buttons, accept


class ExportDialog(QDialog):
    def __init__(
        self,
        refs: list[Ref],
        clip_name: str,
        *,
        folder: str,
        modes: list[str],
        subtype: str,
        loudness: str,
        method: str = "deconvnet",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export feature maps as WAV")
        self.refs = sorted(refs)
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
        self.mode_boxes: dict[str, QCheckBox] = {}
        for key, text in MODE_TEXT:
            box = QCheckBox(text)
            box.setChecked(key in modes)
            box.toggled.connect(self._update)
            self.mode_boxes[key] = box
            mode_row.addWidget(box)
        form.addRow("Modes", mode_row)
        self.method = choice_box(METHOD_TEXT, method)
        self.method.setToolTip("File names carry the method unless it is the deconvnet")
        self.method.currentIndexChanged.connect(self._update)
        form.addRow("Method", self.method)
        self.format = choice_box(FORMATS, subtype)
        form.addRow("Format", self.format)
        loud_col = QVBoxLayout()
        self.loudness = QButtonGroup(self)
        for i, (key, text) in enumerate(LOUDNESS):
            radio = QRadioButton(text)
            radio.setProperty("key", key)
            radio.setChecked(key == loudness)
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
            loudness=checked.property("key") if checked is not None else "none",
            folder=Path(self.folder.text().strip()).expanduser(),
            method=self.method.currentData(),
        )

    def _update(self) -> None:
        req = self.request()
        n = len(req.refs) * len(req.modes)
        ok = n > 0 and bool(self.folder.text().strip())
        self.export_button.setEnabled(ok)
        example = export_name(self.clip_name, req.refs[0], req.modes[0], req.method) if n else "–"
        self.files.setText(f"{n} WAV file(s) + {n} JSON sidecar(s), e.g. {example}")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if folder:
            self.folder.setText(folder)
