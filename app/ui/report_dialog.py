"""Export a listening report (`app.core.report.write_report`, as ``aurascope report``): which maps, clips, where."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.types import DEFAULT_EXCERPTS, MOST_EXCERPTS, FeatureRef, Method
from app.ui.export_dialog import describe_refs
from app.ui.forms import accept_cancel, chosen, vocabulary_box, with_browse

SCOPES = ("selected", "layer", "all")
ERROR_STYLE = "color: #ff6b6b;"
WARNING_STYLE = "color: #ffc04d;"
KEY_ROLE = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class ClipChoice:
    """A clip the report can cover; ``available`` False: its file is missing, so it cannot be rendered."""

    key: str  # the clip's sha256
    name: str
    available: bool


@dataclass(frozen=True)
class ReportRequest:
    """`write_report`'s arguments as the user chose them; ``refs`` None: every map of every layer."""

    folder: Path
    title: str  # empty: the report's own default ("Listening report: <model name>")
    scope: str  # "selected" | "layer" | "all"
    refs: tuple[FeatureRef, ...] | None
    clips: tuple[str, ...]  # sha256 keys, in the listed order
    method: Method
    open_when_done: bool
    atlas: Path | None = None  # a corpus atlas of the same model: each map then shows its top excerpts
    excerpts: int = DEFAULT_EXCERPTS  # top excerpts per map from ``atlas``

    def __post_init__(self) -> None:  # the vocabulary's members, whether given members or their names
        if self.refs is not None:
            object.__setattr__(self, "refs", tuple(FeatureRef.of(r) for r in self.refs))
        object.__setattr__(self, "method", Method(self.method))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def folder_problem(folder: Path | None) -> tuple[str | None, str | None]:
    """(why the report cannot be written there, what to be warned of) for an output folder."""
    if folder is None:
        return "Folder: choose where to write the report", None
    if folder.exists() and not folder.is_dir():
        return f"Folder: '{folder}' is a file, not a folder", None
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"Folder: '{existing}' is a file, so no folder can be made inside it", None
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"Folder: no permission to write in '{existing}'", None
    if folder.is_dir() and any(folder.iterdir()):
        return None, f"Folder: '{folder.name}' is not empty: files with the same names will be replaced"
    return None, None


class ReportDialog(QDialog):
    """Collects a :class:`ReportRequest`; Write is enabled when there is a clip, a map and a usable folder."""

    def __init__(
        self,
        *,
        selected: list[FeatureRef],
        current_layer: int,
        layer_sizes: list[int],
        clips: list[ClipChoice],
        current_clip: str | None,
        method: Method,
        folder: str = "",
        title: str = "",
        atlas: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export listening report")
        self.atlas_path = atlas
        self.selected = tuple(sorted({FeatureRef.of(r) for r in selected}))
        self.layer_sizes = list(layer_sizes)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "A folder that opens in any browser: per map and clip, spectrograms and players for the original, "
            "the feature and the residual, with suggested tags; report.json holds the same figures."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()

        self.title = QLineEdit(title)
        self.title.setPlaceholderText("Listening report: <model name>")
        form.addRow("Title", self.title)

        scope_col = QVBoxLayout()
        self.scope = QButtonGroup(self)
        self.scope_buttons: dict[str, QRadioButton] = {}
        n_all = sum(self.layer_sizes)
        texts = {
            "selected": f"Selected maps ({len(self.selected)})",
            "layer": "Layer",
            "all": f"All layers ({_plural(n_all, 'map')})",
        }
        for i, key in enumerate(SCOPES):
            radio = QRadioButton(texts[key])
            radio.setProperty("key", key)
            self.scope.addButton(radio, i)
            self.scope_buttons[key] = radio
        selected_radio = self.scope_buttons["selected"]
        selected_radio.setEnabled(bool(self.selected))
        selected_radio.setToolTip(
            describe_refs(list(self.selected)) if self.selected else "Select maps in the tree (Ctrl/Shift-click)"
        )
        self.layer = QComboBox()
        for number, n_maps in enumerate(self.layer_sizes, start=1):
            self.layer.addItem(f"{number}  ({_plural(n_maps, 'map')})", number)
        self.layer.setCurrentIndex(max(0, self.layer.findData(current_layer)))
        self.layer.activated.connect(lambda _i: self.scope_buttons["layer"].setChecked(True))
        self.layer.currentIndexChanged.connect(self._update)
        self.scope_buttons["layer"].setEnabled(bool(self.layer_sizes))
        self.scope_buttons["all"].setEnabled(bool(self.layer_sizes))
        layer_row = QHBoxLayout()
        layer_row.addWidget(self.scope_buttons["layer"])
        layer_row.addWidget(self.layer)
        layer_row.addStretch(1)
        scope_col.addWidget(selected_radio)
        scope_col.addLayout(layer_row)
        scope_col.addWidget(self.scope_buttons["all"])
        self.scope_buttons["selected" if self.selected else "layer"].setChecked(True)
        self.scope.buttonToggled.connect(self._update)
        form.addRow("Maps", scope_col)

        self.clips = QListWidget()
        ordered = sorted(clips, key=lambda c: c.key != current_clip)  # stable: the current clip first
        for clip in ordered:
            item = QListWidgetItem(clip.name if clip.available else f"{clip.name}  (file missing)")
            item.setData(KEY_ROLE, clip.key)
            if clip.available:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked)
                item.setToolTip(f"sha256 {clip.key}")
            else:
                item.setFlags(item.flags() & ~(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable))
                item.setCheckState(Qt.CheckState.Unchecked)
                item.setToolTip(
                    "The audio file is missing, so this clip cannot be rendered; find the file to include it"
                )
            self.clips.addItem(item)
        self.clips.setMaximumHeight(max(60, min(160, 22 * len(ordered) + 8)))
        self.clips.itemChanged.connect(self._update)
        form.addRow("Clips", self.clips)

        self.method = vocabulary_box(Method, method)
        form.addRow("Method", self.method)

        self.folder = QLineEdit(folder)
        self.folder.setPlaceholderText("the folder for index.html, report.json, images/ and audio/")
        self.folder.textChanged.connect(self._update)
        form.addRow("Folder", with_browse(self.folder, self._browse))
        # with an atlas open: each map's strongest excerpts of its corpus, as the Top excerpts panel lists them
        self.atlas = QCheckBox(f"Each map's top excerpts from {atlas.name}" if atlas else "Top excerpts: no atlas open")
        self.atlas.setEnabled(atlas is not None)
        self.atlas.setChecked(atlas is not None)
        self.atlas.setToolTip(
            str(atlas) if atlas else "Open a corpus atlas (File › Open atlas) to add each map's top excerpts"
        )
        self.excerpts = QSpinBox()
        self.excerpts.setRange(1, MOST_EXCERPTS)
        self.excerpts.setValue(DEFAULT_EXCERPTS)
        self.excerpts.setSuffix(" per map")
        self.excerpts.setEnabled(atlas is not None)
        self.atlas.toggled.connect(self.excerpts.setEnabled)
        atlas_row = QHBoxLayout()
        atlas_row.addWidget(self.atlas)
        atlas_row.addWidget(self.excerpts)
        atlas_row.addStretch(1)
        form.addRow("Corpus", atlas_row)
        self.open_when_done = QCheckBox("Open in browser when done")
        self.open_when_done.setChecked(True)
        form.addRow("", self.open_when_done)
        layout.addLayout(form)

        self.estimate_label = QLabel("")
        layout.addWidget(self.estimate_label)
        self.reason = QLabel("")
        self.reason.setWordWrap(True)
        layout.addWidget(self.reason)
        self.buttons, self.write_button = accept_cancel(self, layout, "Write report")
        self.resize(560, self.sizeHint().height())
        self._update()

    # --- values ------------------------------------------------------------------------------------
    def scope_key(self) -> str:
        checked = self.scope.checkedButton()
        return checked.property("key") if checked is not None else "layer"

    def refs(self) -> tuple[FeatureRef, ...] | None:
        """The maps of the chosen scope (layer from 1, map from 0); None for all layers."""
        scope = self.scope_key()
        if scope == "selected":
            return self.selected
        if scope == "layer":
            number = self.layer.currentData()
            return tuple(FeatureRef(number, k) for k in range(self.layer_sizes[number - 1])) if number else ()
        return None

    def checked_clips(self) -> tuple[str, ...]:
        items = (self.clips.item(i) for i in range(self.clips.count()))
        return tuple(item.data(KEY_ROLE) for item in items if item.checkState() == Qt.CheckState.Checked)

    def estimate(self) -> tuple[int, int]:
        """(maps, clips) the report would render: each pair is one rendering (feature and residual)."""
        refs = self.refs()
        return (sum(self.layer_sizes) if refs is None else len(refs)), len(self.checked_clips())

    def problems(self) -> list[str]:
        """Why the report cannot be written as chosen; empty when it can."""
        maps, clips = self.estimate()
        out = []
        if not maps:
            out.append("Maps: this choice has no maps")
        if not clips:
            out.append("Clips: check at least one clip")
        blocking, _ = folder_problem(self._folder())
        if blocking:
            out.append(blocking)
        return out

    def request(self) -> ReportRequest:
        """The request as chosen (after accept); raises ``ValueError`` naming the problems if it cannot be written."""
        problems = self.problems()
        folder = self._folder()
        if problems or folder is None:
            raise ValueError("; ".join(problems))
        return ReportRequest(
            folder=folder,
            title=self.title.text().strip(),
            scope=self.scope_key(),
            refs=self.refs(),
            clips=self.checked_clips(),
            method=chosen(self.method, Method),
            open_when_done=self.open_when_done.isChecked(),
            atlas=self.atlas_path if self.atlas.isChecked() else None,
            excerpts=self.excerpts.value(),
        )

    def accept(self) -> None:
        self._update()  # the folder may have changed since the last edit
        if self.write_button.isEnabled():
            super().accept()

    # --- widgets -------------------------------------------------------------------------------------
    def _folder(self) -> Path | None:
        text = self.folder.text().strip()
        return Path(text).expanduser() if text else None

    def _update(self) -> None:
        maps, clips = self.estimate()
        self.estimate_label.setText(
            f"{_plural(maps, 'map')} × {_plural(clips, 'clip')} = {_plural(maps * clips, 'rendering')}"
        )
        problems = self.problems()
        _, warning = folder_problem(self._folder())
        self.reason.setText("\n".join(problems) if problems else warning or "")
        self.reason.setStyleSheet(ERROR_STYLE if problems else WARNING_STYLE)
        self.reason.setVisible(bool(problems or warning))
        self.write_button.setEnabled(not problems)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Write the report in", self.folder.text())
        if folder:
            self.folder.setText(folder)
