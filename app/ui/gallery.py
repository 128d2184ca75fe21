"""The layer gallery: every feature map of one layer as a cell in a grid (its auralised spectrogram thumbnail,
name, the user's label and its activation energy), to pick a map to hear (click) or to compare A/B (Shift+click).

One ``QListView`` in icon mode over a list model of the shown layer and a delegate that paints each cell, so
hundreds of maps cost no widgets; the model holds every layer's thumbnails, labels and energies.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSignalBlocker,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QKeyEvent, QMouseEvent, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.core.types import FeatureRef
from app.ui.feature_tree import LABEL_ROLE, REF_ROLE, SHARE_ROLE, ref_text

ENERGY_ROLE = Qt.ItemDataRole.UserRole + 10
SELECTED_ROLE = Qt.ItemDataRole.UserRole + 11
COMPARE_ROLE = Qt.ItemDataRole.UserRole + 12

ACCENT = QColor(0x60, 0xAA, 0xFF)  # the selected map
COMPARE = QColor(0xFF, 0x9F, 0x40)  # the map compared A/B with it
ENERGY = QColor(96, 170, 255, 200)  # as the tree's energy bars

IMAGE = QSize(150, 70)
PAD = 6
BAR_GAP, BAR_HEIGHT = 3, 4
TEXT_GAP = 3
SPACING = 6

# "F12" or "L2 F12" (spaces optional): a map's name, matched exactly rather than as a substring of "F120"
_NAME = re.compile(r"(?:l\s*(\d+)\s*)?f\s*(\d+)")


def image_rect(cell: QRect) -> QRect:
    """Where a cell (``cell``: its rect in the viewport) draws its thumbnail."""
    return QRect(cell.left() + PAD, cell.top() + PAD, IMAGE.width(), IMAGE.height())


def bar_rect(cell: QRect) -> QRect:
    """Where a cell draws its energy bar (full width = the layer's largest energy), just under the thumbnail."""
    return QRect(cell.left() + PAD, cell.top() + PAD + IMAGE.height() + BAR_GAP, IMAGE.width(), BAR_HEIGHT)


def cell_size(line_height: int) -> QSize:
    """A cell's size for text lines ``line_height`` pixels high: thumbnail, bar, name + energy, label."""
    height = PAD + IMAGE.height() + BAR_GAP + BAR_HEIGHT + TEXT_GAP + 2 * line_height + PAD
    return QSize(IMAGE.width() + 2 * PAD, height)


class GalleryModel(QAbstractListModel):
    """The shown layer's maps that pass the filter, one row each in the chosen order; holds every layer's data."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.counts: list[int] = []
        self.layer = 0
        self.thumbnails: dict[FeatureRef, QPixmap] = {}
        self.labels: dict[FeatureRef, str] = {}
        self.energies: dict[int, np.ndarray] = {}
        self._tops: dict[int, float] = {}
        self.selected: FeatureRef | None = None
        self.compare: FeatureRef | None = None
        self.by_energy = False
        self.filter_text = ""
        self._maps: list[int] = []  # map index per row
        self._rows: dict[int, int] = {}  # row per shown map index

    # --- Qt model ------------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._maps)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._maps):
            return None
        ref = FeatureRef(self.layer, self._maps[index.row()])
        if role == REF_ROLE:
            return ref
        if role == Qt.ItemDataRole.DisplayRole:
            return ref_text(ref)
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnails.get(ref)
        if role == LABEL_ROLE:
            return self.labels.get(ref, "")
        if role == ENERGY_ROLE:
            return self.energy(ref)
        if role == SHARE_ROLE:
            return self.share(ref)
        if role == SELECTED_ROLE:
            return ref == self.selected
        if role == COMPARE_ROLE:
            return ref == self.compare
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(ref)
        return None

    # --- values ------------------------------------------------------------------------------------------
    def energy(self, ref: FeatureRef) -> float | None:
        values = self.energies.get(ref[0])
        return float(values[ref[1]]) if values is not None and ref[1] < len(values) else None

    def share(self, ref: FeatureRef) -> float | None:
        """The map's energy as a share of its layer's largest (0..1), None without energies."""
        value = self.energy(ref)
        if value is None:
            return None
        top = self._tops.get(ref[0], 0.0)
        return value / top if top > 0 else 0.0

    def set_energies(self, energies: dict[int, np.ndarray]) -> None:
        self.energies = {layer: np.asarray(v, dtype=np.float64).ravel() for layer, v in energies.items()}
        self._tops = {layer: float(np.max(v)) if v.size else 0.0 for layer, v in self.energies.items()}

    def _tooltip(self, ref: FeatureRef) -> str:
        label = self.labels.get(ref, "")
        lines = [ref_text(ref) + (f": {label}" if label else "")]
        value, share = self.energy(ref), self.share(ref)
        if value is not None and share is not None:
            lines.append(f"mean squared activation {value:.4g} ({100 * share:.0f} % of the layer's largest)")
        lines.append("Click: select and hear · Shift+click: compare A/B with the selected map · Double-click: play")
        return "\n".join(lines)

    # --- rows ---------------------------------------------------------------------------------------------
    def rebuild(self) -> None:
        """Recompute which maps are shown and in what order (a model reset)."""
        self.beginResetModel()
        n = self.counts[self.layer - 1] if 1 <= self.layer <= len(self.counts) else 0
        maps = [k for k in range(n) if self._passes(k)]
        values = self.energies.get(self.layer)
        if self.by_energy and values is not None:
            # highest first; maps the energies do not cover go last, in index order
            maps.sort(key=lambda k: (-float(values[k]) if k < len(values) else math.inf, k))
        self._maps = maps
        self._rows = {k: row for row, k in enumerate(maps)}
        self.endResetModel()

    def _passes(self, k: int) -> bool:
        text = self.filter_text
        if not text:
            return True
        if text in self.labels.get((self.layer, k), "").lower():
            return True
        match = _NAME.fullmatch(text)
        return match is not None and int(match[2]) == k and (match[1] is None or int(match[1]) == self.layer)

    def index_of(self, ref: FeatureRef | None) -> QModelIndex:
        """The row showing ``ref`` (invalid if it is in another layer or filtered out)."""
        if ref is None or ref[0] != self.layer or ref[1] not in self._rows:
            return QModelIndex()
        return self.index(self._rows[ref[1]], 0)

    def shown_refs(self) -> list[FeatureRef]:
        return [(self.layer, k) for k in self._maps]

    def total(self) -> int:
        return self.counts[self.layer - 1] if 1 <= self.layer <= len(self.counts) else 0

    def refresh(self, refs: Iterable[FeatureRef | None], roles: list[int] | None = None) -> None:
        """Repaint the cells of ``refs`` that are shown: one ``dataChanged`` per run of adjacent rows."""
        rows = sorted({self._rows[r[1]] for r in refs if r is not None and r[0] == self.layer and r[1] in self._rows})
        start = 0
        for i in range(1, len(rows) + 1):
            if i == len(rows) or rows[i] != rows[i - 1] + 1:
                self.dataChanged.emit(self.index(rows[start], 0), self.index(rows[i - 1], 0), roles or [])
                start = i

    def refresh_all(self, roles: list[int] | None = None) -> None:
        if self._maps:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._maps) - 1, 0), roles or [])


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved ``t`` (0..1) of the way to ``b``."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


class MapCellDelegate(QStyledItemDelegate):
    """Paints one cell: a card with the thumbnail (or a neutral placeholder), the energy bar, name, energy, label.

    Thumbnails are scaled once per pixmap and size (smoothly) and kept, so a repaint is a blit.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scaled: dict[tuple[int, int, int, float], QPixmap] = {}

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return cell_size(option.fontMetrics.height())

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        cell = option.rect
        palette = option.palette
        base, text = palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Text)
        selected, compare = bool(index.data(SELECTED_ROLE)), bool(index.data(COMPARE_ROLE))
        hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)

        card = _mix(base, text, 0.10 if hover else 0.05)
        if selected:
            card = _mix(card, ACCENT, 0.18)
        elif compare:
            card = _mix(card, COMPARE, 0.14)
        if selected or compare:
            # a 2 px pen on integer edges fills exactly the cell's outer two pixel rows (crisp, testable)
            painter.setPen(QPen(ACCENT if selected else COMPARE, 2))
            painter.setBrush(card)
            painter.drawRoundedRect(QRectF(cell).adjusted(1, 1, -1, -1), 5, 5)
        else:
            painter.setPen(QPen(_mix(base, text, 0.16), 1))
            painter.setBrush(card)
            painter.drawRoundedRect(QRectF(cell).adjusted(1.5, 1.5, -1.5, -1.5), 5, 5)

        image = image_rect(cell)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            painter.drawPixmap(image.topLeft(), self._fit(pixmap, image.size(), painter.device().devicePixelRatioF()))
        else:
            painter.fillRect(image, _mix(base, text, 0.09))
        if compare:
            self._badge(painter, image, option.font)

        bar = bar_rect(cell)
        painter.fillRect(bar, _mix(base, text, 0.12))
        share = index.data(SHARE_ROLE)
        if share is not None:
            fill = round(bar.width() * min(max(float(share), 0.0), 1.0))
            painter.fillRect(QRect(bar.left(), bar.top(), fill, bar.height()), ENERGY)

        metrics = option.fontMetrics
        line = metrics.height()
        top = bar.bottom() + 1 + TEXT_GAP
        name_rect = QRect(image.left(), top, image.width(), line)
        label_rect = QRect(image.left(), top + line, image.width(), line)
        dim = palette.color(QPalette.ColorRole.PlaceholderText)
        value = index.data(ENERGY_ROLE)
        if value is not None:
            painter.setPen(dim)
            painter.setFont(option.font)
            painter.drawText(name_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{value:.3g}")
        bold = QFont(option.font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(text)
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, index.data())
        label = index.data(LABEL_ROLE)
        if label:
            painter.setFont(option.font)
            painter.setPen(_mix(text, base, 0.25))
            elided = metrics.elidedText(label, Qt.TextElideMode.ElideRight, label_rect.width())
            painter.drawText(label_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided)
        painter.restore()

    def _fit(self, pixmap: QPixmap, size: QSize, ratio: float) -> QPixmap:
        """``pixmap`` stretched to ``size`` logical pixels (time and frequency fill the cell), cached."""
        key = (pixmap.cacheKey(), size.width(), size.height(), ratio)
        scaled = self._scaled.get(key)
        if scaled is None:
            if len(self._scaled) > 1024:  # thumbnails replaced by newer ones leave stale entries behind
                self._scaled.clear()
            target = QSize(round(size.width() * ratio), round(size.height() * ratio))
            scaled = pixmap.scaled(
                target, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            scaled.setDevicePixelRatio(ratio)
            self._scaled[key] = scaled
        return scaled

    @staticmethod
    def _badge(painter: QPainter, image: QRect, font: QFont) -> None:
        small = QFont(font)
        small.setBold(True)
        small.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        painter.setFont(small)
        width = painter.fontMetrics().horizontalAdvance("A/B") + 8
        height = painter.fontMetrics().height() + 2
        badge = QRect(image.right() - width - 2, image.top() + 3, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(COMPARE)
        painter.drawRoundedRect(QRectF(badge), 3, 3)
        painter.setPen(QColor(30, 20, 10))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "A/B")


_MOVES = {
    Qt.Key.Key_Left: QAbstractItemView.CursorAction.MoveLeft,
    Qt.Key.Key_Right: QAbstractItemView.CursorAction.MoveRight,
    Qt.Key.Key_Up: QAbstractItemView.CursorAction.MoveUp,
    Qt.Key.Key_Down: QAbstractItemView.CursorAction.MoveDown,
    Qt.Key.Key_Home: QAbstractItemView.CursorAction.MoveHome,
    Qt.Key.Key_End: QAbstractItemView.CursorAction.MoveEnd,
    Qt.Key.Key_PageUp: QAbstractItemView.CursorAction.MovePageUp,
    Qt.Key.Key_PageDown: QAbstractItemView.CursorAction.MovePageDown,
}


class GalleryView(QListView):
    """The grid of cells. Clicks and keys become its own signals; Qt's current index only follows the selection."""

    chosen = Signal(object)  # FeatureRef: clicked, or reached with the arrow keys
    compareChosen = Signal(object)  # FeatureRef: Shift-clicked
    opened = Signal(object)  # FeatureRef: double-clicked, or Enter on the selected map

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSpacing(SPACING // 2)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setDragEnabled(False)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setMouseTracking(True)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_Hover, True)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        index = self.indexAt(event.position().toPoint())
        if event.button() != Qt.MouseButton.LeftButton or not index.isValid():
            return
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.compareChosen.emit(FeatureRef.of(index.data(REF_ROLE)))
        else:
            self.chosen.emit(FeatureRef.of(index.data(REF_ROLE)))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        index = self.indexAt(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and index.isValid():
            self.opened.emit(FeatureRef.of(index.data(REF_ROLE)))

    def event(self, event: QEvent) -> bool:
        # the window's arrow and Home shortcuts step through the tree; in the grid the keys move the selection
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() in _MOVES
            and not event.modifiers()
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if not self.currentIndex().data(SELECTED_ROLE):
            # Qt puts the current index on the first cell on focus-in; the keys start from the selection instead
            self.selectionModel().setCurrentIndex(QModelIndex(), QItemSelectionModel.SelectionFlag.NoUpdate)
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self.currentIndex().isValid():
                self.opened.emit(FeatureRef.of(self.currentIndex().data(REF_ROLE)))
            event.accept()
            return
        action = _MOVES.get(key)
        if action is None:
            super().keyPressEvent(event)
            return
        index = self.moveCursor(action, event.modifiers())
        if index.isValid() and index != self.currentIndex():
            self.chosen.emit(FeatureRef.of(index.data(REF_ROLE)))
        event.accept()

    def keyboardSearch(self, search: str) -> None:
        """Type-ahead would move the current index behind the selection's back; the filter box does this job."""


class LayerGallery(QWidget):
    """Every feature map of one layer as a grid of cells, with a layer chooser, a sort chooser and a filter."""

    mapClicked = Signal(object)  # FeatureRef: plain click (or arrow key) -> select and hear
    compareRequested = Signal(object)  # FeatureRef: Shift-click -> compare with the selected map
    activated = Signal(object)  # FeatureRef: double-click / Enter
    layerChanged = Signal(int)  # the user chose another layer

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("The layer whose feature maps are shown")
        self.sort_box = QComboBox()
        self.sort_box.addItems(["By index", "By energy"])
        self.sort_box.setToolTip("Order the maps by number, or by activation energy on this clip (highest first)")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: label or F12")
        self.filter.setToolTip("Show only maps whose label contains this text, or the map named so (F12, L2 F12)")
        self.filter.setClearButtonEnabled(True)
        self.count = QLabel()
        self.count.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.model = GalleryModel(self)
        self._view = GalleryView()
        self._view.setModel(self.model)
        self._view.setItemDelegate(MapCellDelegate(self._view))

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.setSpacing(6)
        header.addWidget(self.layer_box)
        header.addWidget(self.sort_box)
        header.addWidget(self.filter, 1)
        header.addWidget(self.count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self._view, 1)

        self.layer_box.currentIndexChanged.connect(self._layer_chosen)
        self.sort_box.currentIndexChanged.connect(self._sort_chosen)
        self.filter.textChanged.connect(self._filter)
        self._view.chosen.connect(self._choose)
        self._view.compareChosen.connect(self.compareRequested)
        self._view.opened.connect(self.activated)
        self._rebuilt()

    # --- layers --------------------------------------------------------------------------------------------
    def set_layers(self, counts: list[int]) -> None:
        """Maps per layer (layer 1 first); forgets thumbnails, labels, energies, selection and filter."""
        model = self.model
        model.counts = [int(n) for n in counts]
        model.layer = 1 if model.counts else 0
        model.thumbnails.clear()
        model.labels.clear()
        model.set_energies({})
        model.selected = model.compare = None
        model.filter_text = ""
        with QSignalBlocker(self.layer_box), QSignalBlocker(self.filter):
            self.layer_box.clear()
            for number, n in enumerate(model.counts, start=1):
                self.layer_box.addItem(f"Layer {number}")
                self.layer_box.setItemData(number - 1, f"{n} feature maps", Qt.ItemDataRole.ToolTipRole)
            self.filter.clear()
        model.rebuild()
        self._rebuilt()

    def show_layer(self, layer: int) -> None:
        """Show ``layer`` (from 1); no ``layerChanged``: that is for the user's choice."""
        if not 1 <= layer <= len(self.model.counts):
            raise ValueError(f"no layer {layer}: the model has {len(self.model.counts)}")
        with QSignalBlocker(self.layer_box):
            self.layer_box.setCurrentIndex(layer - 1)
        if layer != self.model.layer:
            self.model.layer = layer
            self.model.rebuild()
            self._rebuilt()

    def layer(self) -> int:
        """The shown layer (from 1; 0 before ``set_layers`` or for a model without layers)."""
        return self.model.layer

    def _layer_chosen(self, row: int) -> None:
        if row < 0:
            return
        self.show_layer(row + 1)
        self.layerChanged.emit(row + 1)

    # --- content ----------------------------------------------------------------------------------------------
    def set_thumbnails(self, pixmaps: dict[FeatureRef, QPixmap]) -> None:
        """Thumbnails of any layers' maps; repaints only the shown cells whose picture changed."""
        changed = []
        for ref, pixmap in pixmaps.items():
            ref = FeatureRef.of(ref)
            old = self.model.thumbnails.get(ref)
            if old is not None and old.cacheKey() == pixmap.cacheKey():
                continue
            self.model.thumbnails[ref] = pixmap
            changed.append(ref)
        self.model.refresh(changed, [Qt.ItemDataRole.DecorationRole])

    def clear_thumbnails(self) -> None:
        """Every cell back to the placeholder."""
        self.model.thumbnails.clear()
        self.model.refresh_all([Qt.ItemDataRole.DecorationRole])

    def set_energies(self, energies: dict[int, np.ndarray]) -> None:
        """Activation energy per map ``[shape=(n_maps,)]``, per layer; ``{}`` removes them all."""
        self.model.set_energies(energies)
        if self.model.by_energy:
            self.model.rebuild()
            self._rebuilt()
        else:
            self.model.refresh_all()

    def set_labels(self, labels: dict[FeatureRef, str]) -> None:
        """The user's labels, replacing all."""
        self.model.labels = {FeatureRef.of(r): text for r, text in labels.items() if text}
        self._labels_changed(None)

    def set_label(self, ref: FeatureRef, label: str) -> None:
        """One map's label (``""`` removes it)."""
        ref = FeatureRef.of(ref)
        if label:
            self.model.labels[ref] = label
        else:
            self.model.labels.pop(ref, None)
        self._labels_changed(ref)

    def _labels_changed(self, ref: FeatureRef | None) -> None:
        if self.model.filter_text:  # the filter matches labels, so which maps are shown may have changed
            self.model.rebuild()
            self._rebuilt()
        elif ref is None:
            self.model.refresh_all()
        else:
            self.model.refresh([ref])

    # --- selection ---------------------------------------------------------------------------------------------
    def set_selected(self, ref: FeatureRef | None) -> None:
        """Highlight ``ref`` (accent border), showing its layer if needed; emits nothing."""
        ref = self._checked(ref)
        if ref is not None and ref[0] != self.model.layer:
            self.show_layer(ref[0])
        self._select(ref)

    def set_compare(self, ref: FeatureRef | None) -> None:
        """Highlight ``ref`` as the map compared A/B with the selected one (orange border, "A/B"); emits nothing."""
        ref = self._checked(ref)
        old, self.model.compare = self.model.compare, ref
        self.model.refresh([old, ref], [COMPARE_ROLE])

    def selected_ref(self) -> FeatureRef | None:
        return self.model.selected

    def compare_ref(self) -> FeatureRef | None:
        return self.model.compare

    def _select(self, ref: FeatureRef | None) -> None:
        old, self.model.selected = self.model.selected, ref
        self.model.refresh([old, ref], [SELECTED_ROLE])
        self._sync_current()

    def _choose(self, ref: FeatureRef) -> None:
        self._select(ref)
        self.mapClicked.emit(ref)

    def _checked(self, ref: FeatureRef | None) -> FeatureRef | None:
        if ref is None:
            return None
        layer, k = int(ref[0]), int(ref[1])
        if not 1 <= layer <= len(self.model.counts) or not 0 <= k < self.model.counts[layer - 1]:
            raise ValueError(f"no feature map {ref_text((layer, k))}: the layers have {self.model.counts} maps")
        return layer, k

    def _sync_current(self) -> None:
        """Qt's current index (where the arrow keys start) on the selected cell, or nowhere if it is not shown.

        Qt scrolls a new current cell into view, so the selected map stays in sight through layer, sort and filter.
        """
        index = self.model.index_of(self.model.selected)
        self._view.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)

    # --- sorting and filtering ------------------------------------------------------------------------------
    def sort_by_energy(self, on: bool) -> None:
        """Order the maps by energy (highest first) or by index; the sort chooser follows."""
        with QSignalBlocker(self.sort_box):
            self.sort_box.setCurrentIndex(1 if on else 0)
        self._sort(bool(on))

    def _sort_chosen(self, row: int) -> None:
        self._sort(row == 1)

    def _sort(self, by_energy: bool) -> None:
        if by_energy != self.model.by_energy:
            self.model.by_energy = by_energy
            self.model.rebuild()
            self._rebuilt()

    def _filter(self, text: str) -> None:
        self.model.filter_text = text.strip().lower()
        self.model.rebuild()
        self._rebuilt()

    def _rebuilt(self) -> None:
        self._sync_current()
        shown, total = self.model.rowCount(), self.model.total()
        self.count.setText(f"{total} maps" if shown == total else f"{shown} of {total} maps")

    # --- geometry -------------------------------------------------------------------------------------------
    def shown_refs(self) -> list[FeatureRef]:
        """The maps shown, in their order in the grid (the shown layer, filtered and sorted)."""
        return self.model.shown_refs()

    def cell_rect(self, ref: FeatureRef) -> QRect | None:
        """Where ``ref``'s cell is, in the view's viewport coordinates (None if it is not shown)."""
        index = self.model.index_of(FeatureRef.of(ref))
        if not index.isValid():
            return None
        rect = self._view.visualRect(index)
        return rect if rect.isValid() else None

    def view(self) -> QListView:
        """The grid widget; its viewport receives the clicks."""
        return self._view
