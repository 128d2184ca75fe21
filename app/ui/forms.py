"""Form pieces the dialogs and the transport share: choice combos (of the shared vocabulary's enums too), a
folder row with "Browse…", and the Cancel / accept buttons."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout

E = TypeVar("E", bound=StrEnum)


def choice_box(items: Sequence[tuple[str, str]], current: str) -> QComboBox:
    """A combo of (key, text) items with ``current``'s key selected (the first if it is not there)."""
    box = QComboBox()
    for key, text in items:
        box.addItem(text, key)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box


def vocabulary_box(members: Iterable[E], current: E | str) -> QComboBox:
    """A combo of `app.core.types` members (``Mode``, ``Method``…): each one's ``label``, its ``description`` as
    the tooltip when it has one, its value as the item's data; ``current`` selected (else the first)."""
    box = QComboBox()
    for member in members:
        box.addItem(getattr(member, "label", member.value), member.value)
        hint = getattr(member, "description", "")
        if hint:
            box.setItemData(box.count() - 1, hint, Qt.ItemDataRole.ToolTipRole)
    box.setCurrentIndex(max(0, box.findData(str(current))))
    return box


def chosen(box: QComboBox, kind: type[E]) -> E:
    """The member a `vocabulary_box` shows (Qt hands its data back as a plain string)."""
    return kind(box.currentData())


def select_value(box: QComboBox, value: str) -> None:
    """Select the item whose data is ``value``; nothing changes when there is none."""
    index = box.findData(str(value))
    if index >= 0:
        box.setCurrentIndex(index)


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
