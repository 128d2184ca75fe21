"""The session's clips: a compact list (marker, name, duration, a dim second line) above the feature tree, from
which the user opens another clip while the same map stays selected.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeyEvent, QPainter, QPalette, QPolygonF
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.display import format_time

KEY_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
CURRENT_ROLE = Qt.ItemDataRole.UserRole + 3
DURATION_ROLE = Qt.ItemDataRole.UserRole + 4  # "0:04.0", or "" until analysed
DETAIL_ROLE = Qt.ItemDataRole.UserRole + 5  # the dim second line

#: rows the list shows without scrolling
DEFAULT_ROWS = 4
ERROR_COLOUR = QColor(236, 112, 100)
PAD = 4


class ClipStatus(StrEnum):
    READY = "ready"
    LOADING = "loading"
    MISSING = "missing"
    ERROR = "error"


@dataclass(frozen=True)
class ClipEntry:
    """One clip of the session as the list shows it.

    ``key`` is the clip's SHA-256 (64 hex digits); ``duration`` is in seconds, None until analysed; ``status`` is a
    `ClipStatus` value; ``detail`` is the top prediction ("rock 0.93") or why the clip is missing or failed.
    """

    key: str
    name: str
    path: Path
    duration: float | None
    status: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in set(ClipStatus):
            raise ValueError(f"clip {self.name!r}: status {self.status!r} is not one of {', '.join(ClipStatus)}")


def duration_text(seconds: float | None) -> str:
    """``0:04.0``: `format_time` to a tenth of a second (truncated, so it never reads longer than the clip)."""
    return "" if seconds is None else format_time(seconds)[:-2]


class ClipModel(QAbstractListModel):
    """The clips in display order and which of them is on screen; one row per `ClipEntry`."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._entries: list[ClipEntry] = []
        self._current: str | None = None

    # --- reading ---------------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._entries)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        # missing and failed rows stay selectable: Delete and the context menu act on them
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        e = self._entries[index.row()]
        R = Qt.ItemDataRole
        if role == R.DisplayRole:
            return e.name
        if role == KEY_ROLE:
            return e.key
        if role == STATUS_ROLE:
            return e.status
        if role == CURRENT_ROLE:
            return e.key == self._current
        if role == DURATION_ROLE:
            return duration_text(e.duration)
        if role == DETAIL_ROLE:
            return _second_line(e)
        if role == R.FontRole and e.key == self._current:
            font = QFont()
            font.setBold(True)
            return font
        if role == R.ToolTipRole:
            return _tooltip(e)
        if role == R.AccessibleTextRole:
            on_screen = ", on screen" if e.key == self._current else ""
            return f"{e.name}, {duration_text(e.duration) or e.status}{on_screen}, {_second_line(e)}"
        return None

    def entries(self) -> list[ClipEntry]:
        return list(self._entries)

    def row_of(self, key: str | None) -> int:
        """The row showing ``key``, -1 if none."""
        return next((i for i, e in enumerate(self._entries) if e.key == key), -1)

    def current(self) -> str | None:
        return self._current

    # --- writing ---------------------------------------------------------------------------------------
    def set_entries(self, entries: list[ClipEntry]) -> None:
        keys = [e.key for e in entries]
        doubled = sorted(k for k, n in Counter(keys).items() if n > 1)
        if doubled:
            raise ValueError(f"the same clip listed twice: {', '.join(k[:12] for k in doubled)}")
        self.beginResetModel()
        self._entries = list(entries)
        if self._current not in keys:
            self._current = None
        self.endResetModel()

    def update_entry(self, entry: ClipEntry) -> None:
        row = self.row_of(entry.key)
        if row < 0:
            self.beginInsertRows(QModelIndex(), len(self._entries), len(self._entries))
            self._entries.append(entry)
            self.endInsertRows()
            return
        self._entries[row] = entry
        self.dataChanged.emit(self.index(row), self.index(row))

    def set_current(self, key: str | None) -> None:
        old = self.row_of(self._current)
        self._current = key
        for row in {old, self.row_of(key)} - {-1}:
            self.dataChanged.emit(self.index(row), self.index(row))


def _second_line(e: ClipEntry) -> str:
    if e.status == ClipStatus.LOADING:
        return "analysing…"
    if e.status == ClipStatus.MISSING:
        return f"missing · {e.detail}" if e.detail else "missing"
    if e.status == ClipStatus.ERROR:
        return f"failed · {e.detail}" if e.detail else "failed"
    return e.detail


def _tooltip(e: ClipEntry) -> str:
    if e.status == ClipStatus.MISSING:
        lines = [f"Not found: {e.path}", e.detail, "Right-click → Locate file… to point to it"]
    elif e.status == ClipStatus.ERROR:
        lines = [f"Could not analyse {e.name}: {e.detail or 'unknown reason'}", str(e.path)]
    elif e.status == ClipStatus.LOADING:
        lines = [str(e.path), "Analysing…"]
    else:
        lines = [str(e.path), e.detail, "Click or Enter to open; the selected map stays selected"]
    return "\n".join(line for line in lines if line)


class ClipDelegate(QStyledItemDelegate):
    """Two lines per clip: marker, name (bold when on screen, elided in the middle) and duration; then the
    detail, dim. Missing clips are greyed, failed ones red-ish."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(120, row_height(option.font))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex):
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""  # the style draws only the background (selection, hover, focus); the text is ours
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)

        status = index.data(STATUS_ROLE)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        pal = opt.palette
        text = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        dim = text if selected else pal.color(QPalette.ColorRole.PlaceholderText)
        if status == ClipStatus.MISSING:
            text = dim = pal.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        elif status == ClipStatus.ERROR:
            text = dim = ERROR_COLOUR

        name_font = opt.font  # bold on the current row (FontRole)
        plain = QFont(option.font)
        small = _small(plain)
        fm, fm_small = QFontMetrics(name_font), QFontMetrics(small)
        r = opt.rect.adjusted(PAD, PAD // 2, -PAD, -PAD // 2)
        line1 = QRect(r.left(), r.top(), r.width(), QFontMetrics(plain).height())
        line2 = QRect(r.left(), line1.bottom() + 1, r.width(), fm_small.height())
        marker = QRect(line1.left(), line1.top(), line1.height(), line1.height())
        text_left = marker.right() + 1 + PAD

        painter.save()
        if index.data(CURRENT_ROLE):
            # a drawn triangle, not a "▶" glyph, which not every font has
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(text if selected else pal.color(QPalette.ColorRole.Link))
            m = marker.adjusted(3, 3, -3, -3)
            painter.drawPolygon(
                QPolygonF(
                    [
                        QPointF(m.left(), m.top()),
                        QPointF(m.right() + 1, m.center().y() + 0.5),
                        QPointF(m.left(), m.bottom() + 1),
                    ]
                )
            )
        duration = index.data(DURATION_ROLE) or ""
        painter.setFont(plain)
        painter.setPen(text)
        dur_width = QFontMetrics(plain).horizontalAdvance(duration)
        painter.drawText(line1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, duration)
        name_rect = QRect(
            text_left, line1.top(), line1.right() - text_left - dur_width - (PAD if duration else 0), line1.height()
        )
        name = fm.elidedText(
            index.data(Qt.ItemDataRole.DisplayRole) or "", Qt.TextElideMode.ElideMiddle, name_rect.width()
        )
        painter.setFont(name_font)
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
        detail_rect = QRect(text_left, line2.top(), line2.right() - text_left, line2.height())
        detail = fm_small.elidedText(index.data(DETAIL_ROLE) or "", Qt.TextElideMode.ElideRight, detail_rect.width())
        painter.setFont(small)
        painter.setPen(dim)
        painter.drawText(detail_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, detail)
        painter.restore()


def _small(font: QFont) -> QFont:
    small = QFont(font)
    if font.pointSizeF() > 0:
        small.setPointSizeF(font.pointSizeF() * 0.9)
    else:
        small.setPixelSize(max(8, round(font.pixelSize() * 0.9)))
    return small


def row_height(font: QFont) -> int:
    """Pixels per clip row: a line in ``font`` and a line in the smaller detail font, with padding."""
    return QFontMetrics(font).height() + QFontMetrics(_small(font)).height() + PAD + 1


class ClipView(QListView):
    """The list itself: ``DEFAULT_ROWS`` rows tall by default; Enter and Delete reported as signals."""

    enterPressed = Signal()
    deletePressed = Signal()

    def sizeHint(self) -> QSize:
        return QSize(220, DEFAULT_ROWS * row_height(self.font()) + 2 * self.frameWidth())

    def minimumSizeHint(self) -> QSize:
        return QSize(120, row_height(self.font()) + 2 * self.frameWidth())

    def event(self, event: QEvent) -> bool:
        # claim our keys before a window shortcut of the same key can take them
        if event.type() == QEvent.Type.ShortcutOverride and self._own_key(event):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers():
            self.enterPressed.emit()
        elif event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and not event.modifiers():
            self.deletePressed.emit()
        else:
            super().keyPressEvent(event)

    @staticmethod
    def _own_key(event) -> bool:
        keys = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
        return event.key() in keys and not event.modifiers()

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.model() is not None and self.model().rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                self.viewport().rect().adjusted(PAD, PAD, -PAD, -PAD),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                "No clips yet: + Add clip…",
            )
            painter.end()


class ClipList(QWidget):
    """The session's clips with a "Clips (n)" header and an add button. It only reports what the user asked for;
    the window opens, removes and relocates clips and tells the list what changed."""

    clipChosen = Signal(str)  # key of a ready clip the user clicked or pressed Enter on
    addRequested = Signal()
    removeRequested = Signal(str)  # key: Delete or "Remove from session"; the window decides (nothing is asked)
    locateRequested = Signal(str)  # key of a missing clip: "Locate file…"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.add_button = QToolButton()
        self.add_button.setText("+ Add clip…")
        self.add_button.setAutoRaise(True)
        self.add_button.setToolTip("Add audio files to the session, to hear the same map on other songs")
        self.model = ClipModel(self)
        self._view = ClipView()
        self._view.setModel(self.model)
        self._view.setItemDelegate(ClipDelegate(self._view))
        self._view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._view.setUniformItemSizes(True)
        self._view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = QHBoxLayout()
        header.setContentsMargins(2, 0, 0, 0)
        header.addWidget(self.title, 1)
        header.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self._view)
        self._view.clicked.connect(self._choose)
        self._view.enterPressed.connect(lambda: self._choose(self._view.currentIndex()))
        self._view.deletePressed.connect(self._delete_selected)
        self._view.customContextMenuRequested.connect(self._context_menu)
        self.add_button.clicked.connect(self.addRequested)
        self._update_title()

    # --- content ----------------------------------------------------------------------------------------
    def set_clips(self, entries: list[ClipEntry]) -> None:
        """Show ``entries`` in this order instead of what was there; the current clip stays current if listed."""
        selected = self._selected_key()
        self.model.set_entries(entries)
        self._select(selected if self.model.row_of(selected) >= 0 else self.model.current())
        self._update_title()

    def update_clip(self, entry: ClipEntry) -> None:
        """Replace the row with ``entry.key`` (append it if new)."""
        self.model.update_entry(entry)
        if entry.key == self.model.current() and self._selected_key() is None:
            self._select(entry.key)
        self._update_title()

    def set_current(self, key: str | None) -> None:
        """Mark the clip on screen (bold, with a marker) and select it; emits nothing. A key not listed yet is
        marked when its row arrives through `update_clip`."""
        self.model.set_current(key)
        self._select(key)

    def current(self) -> str | None:
        return self.model.current()

    def keys(self) -> list[str]:
        return [e.key for e in self.model.entries()]

    def step(self, step: int) -> str | None:
        """The key of the ready clip ``step`` ready clips after (negative: before) the current one, wrapping
        around; None if there is no ready clip other than the current one. Emits nothing."""
        entries = self.model.entries()
        n, here = len(entries), self.model.row_of(self.model.current())
        direction = 1 if step > 0 else -1
        if here < 0:  # nothing listed is current: start just outside the list on the side we walk from
            here = -1 if direction > 0 else n
        # every row once, walking from the current one; the current row itself comes last
        ready = [
            r for r in ((here + direction * k) % n for k in range(1, n + 1)) if entries[r].status == ClipStatus.READY
        ]
        if not ready or step == 0:
            return None
        key = entries[ready[(abs(step) - 1) % len(ready)]].key
        return None if key == self.model.current() else key

    # --- geometry ---------------------------------------------------------------------------------------
    def row_rect(self, key: str) -> QRect | None:
        """Where ``key``'s row is drawn, in the view's viewport coordinates (None if not listed)."""
        row = self.model.row_of(key)
        if row < 0:
            return None
        rect = self._view.visualRect(self.model.index(row))
        return rect if rect.isValid() else None

    def view(self) -> QAbstractItemView:
        return self._view

    # --- user actions -----------------------------------------------------------------------------------
    def _choose(self, index: QModelIndex) -> None:
        if index.isValid() and index.data(STATUS_ROLE) == ClipStatus.READY:
            self.clipChosen.emit(index.data(KEY_ROLE))

    def _delete_selected(self) -> None:
        key = self._selected_key()
        if key is not None:
            self.removeRequested.emit(key)

    def context_menu(self, key: str) -> QMenu:
        """The menu for ``key``'s row: "Remove from session", and "Locate file…" when the file is missing."""
        row = self.model.row_of(key)
        if row < 0:
            raise KeyError(f"no clip {key[:12]} in the list")
        entry = self.model.entries()[row]
        menu = QMenu(self)
        if entry.status == ClipStatus.MISSING:
            menu.addAction("Locate file…", lambda: self.locateRequested.emit(key))
        menu.addAction("Remove from session", lambda: self.removeRequested.emit(key))
        return menu

    def _context_menu(self, pos: QPoint) -> None:
        index = self._view.indexAt(pos)
        if not index.isValid():
            return
        menu = self.context_menu(index.data(KEY_ROLE))
        menu.exec(self._view.viewport().mapToGlobal(pos))
        menu.deleteLater()

    # --- helpers ----------------------------------------------------------------------------------------
    def _selected_key(self) -> str | None:
        rows = self._view.selectionModel().selectedRows()
        return rows[0].data(KEY_ROLE) if rows else None

    def _select(self, key: str | None) -> None:
        row = self.model.row_of(key)
        selection = self._view.selectionModel()
        if row < 0:
            selection.clearSelection()
            return
        index = self.model.index(row)
        selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self._view.scrollTo(index)

    def _update_title(self) -> None:
        entries = self.model.entries()
        self.title.setText(f"Clips ({len(entries)})")
        counts = {s: sum(e.status == s for e in entries) for s in ClipStatus}
        parts = [f"{n} {s.value}" for s, n in counts.items() if n]
        self.title.setToolTip(", ".join(parts) if parts else "No clips in this session")
