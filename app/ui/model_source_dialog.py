"""Open your own PyTorch network: ``package.module:callable``, optional weights and the front-end sidecar.

The dialog only collects and checks what the user gives (the terms of `app.core.sources.open_model`); the window
opens the model. The user's Python file is read as text to list what it defines, never imported here.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.forms import accept_cancel

#: What ``load_state_dict`` reads: safetensors, or a checkpoint torch's ``weights_only`` loader accepts.
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
FIELDS = ("search_folder", "module", "callable", "weights", "front_end")
ERROR_STYLE = "color: #ff6b6b;"
WARNING_STYLE = "color: #ffc04d;"
HINT_STYLE = "color: #9a9aa8;"


@dataclass(frozen=True)
class ModuleSourceRequest:
    """A module source as `open_model` takes it, plus the folder to put on ``sys.path`` while importing."""

    source: str  # "package.module:callable" (app.core.module_names.MODULE_SOURCE)
    search_folder: Path | None  # the folder holding the user's .py (or its top package)
    weights: Path | None  # .safetensors, or a .pt/.pth/.bin state dict
    front_end: Path  # the sidecar JSON with the "front_end" block


@dataclass(frozen=True)
class Definition:
    """A top-level ``def`` or ``class`` of a Python file, as its text shows it (line from 1)."""

    name: str
    kind: str  # "class" | "function"
    bases: tuple[str, ...]
    line: int

    @property
    def builds_module(self) -> bool:
        """A class deriving from something named like a module (``nn.Module``, ``LightningModule``)."""
        return self.kind == "class" and any("Module" in base for base in self.bases)

    def describe(self) -> str:
        if self.kind == "class":
            return f"class {self.name}({', '.join(self.bases)}), line {self.line}"
        return f"def {self.name}(), line {self.line}"


def scan_definitions(path: str | Path) -> tuple[Definition, ...]:
    """Top-level functions and classes of a Python file, parsed from its text (never imported or run).

    Module subclasses come first, private names (``_x``) last, otherwise file order. Raises ``OSError``,
    ``SyntaxError`` or ``ValueError`` for a file that cannot be read or parsed.
    """
    path = Path(path)
    tree = ast.parse(path.read_bytes(), filename=str(path))  # bytes: honours a coding cookie
    found = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            found.append(Definition(node.name, "class", tuple(ast.unparse(b) for b in node.bases), node.lineno))
        elif isinstance(node, ast.FunctionDef):
            found.append(Definition(node.name, "function", (), node.lineno))
    return tuple(sorted(found, key=lambda d: (not d.builds_module, d.name.startswith("_"))))


def module_for_file(path: str | Path) -> tuple[Path, str]:
    """(folder to put on ``sys.path``, dotted module name) for a ``.py`` file.

    A file inside a package (folders with ``__init__.py``) is imported through it, so its relative imports work:
    ``src/pkg/nets.py`` gives ``(src, "pkg.nets")``; a plain ``dir/mynet.py`` gives ``(dir, "mynet")``.
    """
    path = Path(path)
    folder = path.parent
    parts = [] if path.stem == "__init__" else [path.stem]
    while (folder / "__init__.py").is_file() and folder.name.isidentifier() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def source_problems(module: str, attr: str) -> dict[str, str]:
    """Problems with the two halves of ``module:callable``, by field ("module", "callable")."""
    problems = {}
    if not module:
        problems["module"] = "Module: needed — the module to import (package.module), or pick its Python file"
    if not attr:
        problems["callable"] = "Callable: needed — the function or class that builds the network, or its instance"
    if problems:
        return problems
    from app.core.module_names import MODULE_SOURCE

    if not MODULE_SOURCE.match(f"{module}:x") or not all(p.isidentifier() for p in module.split(".")):
        problems["module"] = (
            f"Module: '{module}' is not an importable name (letters, digits, _ and dots; no spaces or dashes)"
        )
    if not MODULE_SOURCE.match(f"x:{attr}") or not all(p.isidentifier() for p in attr.split(".")):
        problems["callable"] = f"Callable: '{attr}' is not a Python name such as make_net or Nets.build"
    return problems


def shadowed(module: str, search_folder: Path | None) -> str | None:
    """Why importing ``module`` from ``search_folder`` would give another module already loaded, or None."""
    top = module.split(".")[0]
    loaded = sys.modules.get(top)
    if search_folder is None or not top or loaded is None:
        return None
    origin = getattr(loaded, "__file__", None)
    try:
        if origin and Path(origin).resolve().is_relative_to(search_folder.resolve()):
            return None
    except OSError:
        pass
    where = f"from {origin}" if origin else "(built in)"
    return f"Module: '{top}' is already loaded {where}, so the import would give that, not your file; rename the file"


def folder_problem(folder: Path | None) -> str | None:
    if folder is None:
        return None
    if not folder.exists():
        return f"Search folder: no such folder '{folder}'"
    if not folder.is_dir():
        return f"Search folder: '{folder}' is a file, not a folder"
    return None


def weights_problem(weights: Path | None) -> str | None:
    if weights is None:
        return None
    if weights.suffix.lower() not in WEIGHT_SUFFIXES:
        return f"Weights: use .safetensors, or a .pt/.pth/.bin state dict ('{weights.name}' is neither)"
    if not weights.exists():
        return f"Weights: no such file '{weights}'"
    if not weights.is_file():
        return f"Weights: '{weights}' is not a regular file"
    return None


def front_end_problem(front_end: Path | None) -> str | None:
    """The sidecar checked by the core's own reader (`read_sidecar`), its complaint naming the field."""
    if front_end is None:
        return "Front end: needed — the JSON sidecar with the spectrogram the network was trained on"
    from app.core.errors import ModelFormatError
    from app.core.frontend import FrontEnd
    from app.core.sources import read_sidecar

    try:
        read_sidecar(front_end)
    except ModelFormatError as err:
        if err.reason.startswith("unknown key") and err.field in {f.name for f in fields(FrontEnd)}:
            return 'Front end: this is the front-end block alone; the sidecar holds it as {"front_end": {…}}'
        where = f", field '{err.field}'" if err.field else ""
        return f"Front end{where}: {err.reason}"
    return None


def _path(text: str) -> Path | None:
    text = text.strip()
    return Path(text).expanduser() if text else None


class ModelSourceDialog(QDialog):
    """Collects a :class:`ModuleSourceRequest`; Open is enabled only when every field checks out."""

    def __init__(
        self, *, last: ModuleSourceRequest | None = None, start_dir: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open PyTorch module")
        self.start_dir = start_dir
        self.definitions: tuple[Definition, ...] = ()
        self._scanned: tuple[Path, float] | None = None
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Aurascope imports <i>package.module</i> and calls <i>callable</i> for a <code>torch.nn.Module</code> "
            "(or takes the module instance it names). This runs your code: open only code you trust."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        self.grid = QGridLayout()  # not a form layout: that one mis-measures wrapped messages under a field
        self.grid.setColumnStretch(1, 1)
        self.problem_labels: dict[str, QLabel] = {}
        pick_row = QHBoxLayout()
        pick = QPushButton("Python file…")
        pick.setToolTip("Sets the search folder and module from the file; the file is read, not run")
        pick.clicked.connect(self._browse_python)
        self.file_note = QLabel("")
        self.file_note.setStyleSheet(HINT_STYLE)
        self.file_note.setWordWrap(True)
        pick_row.addWidget(pick)
        pick_row.addWidget(self.file_note, 1)
        self.grid.addWidget(QLabel("Python file"), 0, 0)
        self.grid.addLayout(pick_row, 0, 1, 1, 2)

        self.search_folder = QLineEdit()
        self.search_folder.setPlaceholderText("optional: the folder put on the import path (sys.path)")
        self._add_row("Search folder", "search_folder", self.search_folder, self._browse_folder)
        self.module = QLineEdit()
        self.module.setPlaceholderText("package.module")
        self.module.textEdited.connect(self._module_edited)
        self._add_row("Module", "module", self.module)
        self.callable = QComboBox()
        self.callable.setEditable(True)
        self.callable.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.callable.lineEdit().setPlaceholderText("callable: a function or class returning the nn.Module")
        self._add_row("Callable", "callable", self.callable)
        self.weights = QLineEdit()
        self.weights.setPlaceholderText("optional: .safetensors, or a .pt/.pth/.bin state dict")
        self._add_row("Weights", "weights", self.weights, self._browse_weights)
        self.front_end = QLineEdit()
        self.front_end.setPlaceholderText('fe.json: {"front_end": {"sample_rate": …}, "labels": […]}')
        self._add_row("Front end", "front_end", self.front_end, self._browse_front_end)
        layout.addLayout(self.grid)
        self.warning = QLabel("")
        self.warning.setStyleSheet(WARNING_STYLE)
        self.warning.setWordWrap(True)
        layout.addWidget(self.warning)

        self.buttons, self.open_button = accept_cancel(self, layout, "Open")

        if last is not None:
            self.set_source(last.source)
            self.search_folder.setText(str(last.search_folder) if last.search_folder else "")
            self.weights.setText(str(last.weights) if last.weights else "")
            self.front_end.setText(str(last.front_end))
            self._rescan()
        for edit in (self.search_folder, self.weights, self.front_end):
            edit.textChanged.connect(self._update)
        self.module.textChanged.connect(self._update)
        self.callable.editTextChanged.connect(self._update)
        self.search_folder.textChanged.connect(self._rescan)
        self.module.textChanged.connect(self._rescan)
        self.resize(640, self.sizeHint().height())
        self._update()

    # --- values ------------------------------------------------------------------------------------
    def source_text(self) -> str:
        """``module:callable`` as typed (just the module while the callable is empty)."""
        module, attr = self.module.text().strip(), self.callable.currentText().strip()
        return f"{module}:{attr}" if attr else module

    def set_source(self, source: str) -> None:
        module, _, attr = source.partition(":")
        self.module.setText(module.strip())
        self.callable.setEditText(attr.strip())

    def problems(self) -> dict[str, str]:
        """What keeps the request from being opened, by field (see ``FIELDS``); empty when it can be."""
        out = source_problems(self.module.text().strip(), self.callable.currentText().strip())
        checks = {
            "search_folder": folder_problem(_path(self.search_folder.text())),
            "weights": weights_problem(_path(self.weights.text())),
            "front_end": front_end_problem(_path(self.front_end.text())),
        }
        out.update({field: text for field, text in checks.items() if text})
        return {field: out[field] for field in FIELDS if field in out}

    def request(self) -> ModuleSourceRequest:
        """The request as typed (after accept); raises ``ValueError`` naming the problems if it is not valid."""
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems.values()))
        front_end = _path(self.front_end.text())
        assert front_end is not None  # checked by problems()
        return ModuleSourceRequest(
            source=self.source_text(),
            search_folder=_path(self.search_folder.text()),
            weights=_path(self.weights.text()),
            front_end=front_end,
        )

    def accept(self) -> None:
        self._update()  # files may have changed since the last edit
        if self.open_button.isEnabled():
            super().accept()

    # --- the Python file -----------------------------------------------------------------------------
    def use_python_file(self, path: str | Path) -> None:
        """Take the search folder and module from a ``.py`` file, list its definitions and pick a callable."""
        path = Path(path)
        folder, module = module_for_file(path)
        self.search_folder.setText(str(folder))
        self.module.setText(module)
        self._rescan(force=path)
        names = [d.name for d in self.definitions]
        if names and self.callable.currentText().strip() not in names:
            self.callable.setEditText(names[0])
        sidecar = path.with_suffix(".json")  # as ONNX files keep theirs: <name>.json beside the network
        if not self.front_end.text().strip() and sidecar.is_file():
            self.front_end.setText(str(sidecar))

    def _rescan(self, *_args: object, force: Path | None = None) -> None:
        """Offer the definitions of the file the search folder and module point at, if there is one."""
        path = force or self._module_file()
        if path is None:
            if self._scanned is not None:  # the module no longer names the file that was listed
                self._scanned, self.definitions = None, ()
                self._fill_callables()
                self.file_note.setText("")
            return
        try:
            stamp = (path, path.stat().st_mtime)
            if stamp == self._scanned:
                return
            self._scanned = stamp
            self.definitions = scan_definitions(path)
        except (OSError, SyntaxError, ValueError) as err:
            self.definitions = ()
            self.file_note.setText(f"{path.name}: cannot be read as Python ({err})")
            self.file_note.setStyleSheet(ERROR_STYLE)
            return
        self._fill_callables()
        n = len(self.definitions)
        self.file_note.setText(f"{path.name}: {n} top-level definition(s) listed under Callable (read, not run)")
        self.file_note.setStyleSheet(HINT_STYLE)

    def _fill_callables(self) -> None:
        """The combo lists ``definitions``; what the user typed stays."""
        text = self.callable.currentText()
        self.callable.blockSignals(True)
        self.callable.clear()
        for i, d in enumerate(self.definitions):
            self.callable.addItem(d.name)
            self.callable.setItemData(i, d.describe(), Qt.ItemDataRole.ToolTipRole)
        self.callable.setEditText(text)
        self.callable.blockSignals(False)

    def _module_file(self) -> Path | None:
        folder, module = _path(self.search_folder.text()), self.module.text().strip()
        if folder is None or not module:
            return None
        base = folder.joinpath(*module.split("."))
        for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    # --- widgets -------------------------------------------------------------------------------------
    def _add_row(self, label: str, field: str, widget: QWidget, browse=None) -> None:
        """A field, its "…" picker if it has one, and beneath it the red line for its problem."""
        row = self.grid.rowCount()
        self.grid.addWidget(QLabel(label), row, 0)
        self.grid.addWidget(widget, row, 1, 1, 1 if browse else 2)
        if browse is not None:
            button = QToolButton()
            button.setText("…")
            button.setToolTip(f"Choose the {label.lower()}")
            button.clicked.connect(browse)
            self.grid.addWidget(button, row, 2)
        problem = QLabel("")
        problem.setStyleSheet(ERROR_STYLE)
        problem.setWordWrap(True)
        problem.setVisible(False)
        self.problem_labels[field] = problem
        self.grid.addWidget(problem, row + 1, 1, 1, 2)

    def _update(self) -> None:
        problems = self.problems()
        for field, label in self.problem_labels.items():
            label.setText(problems.get(field, ""))
            label.setVisible(field in problems)
        warning = None if "module" in problems else shadowed(self.module.text().strip(), self._search_path())
        self.warning.setText(warning or "")
        self.warning.setVisible(warning is not None)
        self.open_button.setEnabled(not problems)
        self._fit()

    def _fit(self) -> None:
        """Grow to show every wrapped message (a top-level layout grows only to its minimum, one line each)."""
        layout = self.layout()
        layout.activate()
        height = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() else 0
        if height > self.height():
            self.resize(self.width(), height)

    def _search_path(self) -> Path | None:
        return _path(self.search_folder.text())

    def _module_edited(self, text: str) -> None:
        """A colon typed or pasted in the module moves what follows it to the callable."""
        if ":" not in text:
            return
        module, _, attr = text.partition(":")
        self.module.setText(module.strip())
        if attr.strip():
            self.callable.setEditText(attr.strip())
        self.callable.setFocus()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self._update()  # the user may have been away writing the sidecar or the weights

    def _start(self, text: str) -> str:
        """Where a file dialog opens: beside the field's file, else in the search folder, else ``start_dir``."""
        path = _path(text)
        return str(path.parent if path is not None else self._search_path() or self.start_dir)

    def _browse_python(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Python file that builds the network", self._start(""), "Python (*.py)"
        )
        if path:
            self.use_python_file(path)

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Search folder", self.search_folder.text() or self.start_dir)
        if folder:
            self.search_folder.setText(folder)

    def _browse_weights(self) -> None:
        patterns = " ".join(f"*{s}" for s in WEIGHT_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(
            self, "Weights", self._start(self.weights.text()), f"Weights ({patterns});;All files (*)"
        )
        if path:
            self.weights.setText(path)

    def _browse_front_end(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Front-end sidecar", self._start(self.front_end.text()), "JSON (*.json);;All files (*)"
        )
        if path:
            self.front_end.setText(path)
