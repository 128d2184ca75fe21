"""The model's tree: layer -> feature maps, each with a thumbnail of its auralised spectrogram, its activation
energy on the clip (a bar, sortable) and the user's label; a filter box above it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QRect, QSize, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLineEdit,
    QStyledItemDelegate,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.core.display import format_time
from app.core.types import FeatureRef
from app.ui.compute import THUMB_COLS, THUMB_ROWS, ModelSummary

REF_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
SHARE_ROLE = Qt.ItemDataRole.UserRole + 3
LABEL_ROLE = Qt.ItemDataRole.UserRole + 4
FEATURE_COLUMN, ENERGY_COLUMN = 0, 1


def ref_text(ref: FeatureRef) -> str:
    return f"L{ref[0]} F{ref[1]}"


_VIEW_TIP = (
    "Click a map to render it; Ctrl/Shift+click to select several (across layers) for export.\n"
    "Double-click plays it. A layer row selects all its maps for export."
)


class EnergyDelegate(QStyledItemDelegate):
    """The energy as a bar (share of the layer's largest) under its number."""

    def paint(self, painter, option, index) -> None:
        super().paint(painter, option, index)
        share = index.data(SHARE_ROLE)
        if share is None:
            return
        r = option.rect.adjusted(3, option.rect.height() - 6, -3, -2)
        painter.save()
        painter.fillRect(QRect(r.left(), r.top(), int(r.width() * float(share)), r.height()), QColor(96, 170, 255, 200))
        painter.restore()


class FeatureSortProxy(QSortFilterProxyModel):
    """Layers stay in their order whatever the sort; maps sort by index or by energy within their layer."""

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        if not left.parent().isValid():
            a, b = left.data(REF_ROLE)[0], right.data(REF_ROLE)[0]
            return a > b if self.sortOrder() == Qt.SortOrder.DescendingOrder else a < b
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if a is None or b is None:
            return False
        return a < b


class FeatureTree(QWidget):
    currentChanged = Signal(object)  # FeatureRef | None
    selectionChanged = Signal()
    activated = Signal(object)  # FeatureRef (double-click or Enter): play it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: label or F12")
        self.filter.setToolTip("Show only maps whose label or number contains this text")
        self.filter.setClearButtonEnabled(True)
        self.model = QStandardItemModel(0, 2, self)
        self.model.setHorizontalHeaderLabels(["Feature map", "Energy"])
        self.proxy = FeatureSortProxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(FEATURE_COLUMN)
        self.view = QTreeView()
        self.view.setModel(self.proxy)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setIconSize(QSize(THUMB_COLS, THUMB_ROWS))
        self.view.setUniformRowHeights(True)
        self.view.setSortingEnabled(True)
        self.view.setAlternatingRowColors(True)
        self.view.setItemDelegateForColumn(ENERGY_COLUMN, EnergyDelegate(self.view))
        header = self.view.header()
        header.setSectionResizeMode(FEATURE_COLUMN, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(ENERGY_COLUMN, QHeaderView.ResizeMode.Fixed)
        header.setStretchLastSection(False)
        header.resizeSection(ENERGY_COLUMN, 74)
        header.setToolTip("Click a header to sort; Energy sorts each layer's maps by activation energy on this clip")
        self.view.setToolTip(_VIEW_TIP)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.filter)
        layout.addWidget(self.view)
        self._items: dict[FeatureRef, QStandardItem] = {}
        self._energy_items: dict[FeatureRef, QStandardItem] = {}
        self._layers: dict[int, QStandardItem] = {}
        self._labels: dict[FeatureRef, str] = {}
        self.filter.textChanged.connect(self._filter)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self.selectionChanged.emit())
        self.view.doubleClicked.connect(self._double_clicked)
        self.sort_by_index()

    # --- content ------------------------------------------------------------------------------------
    def set_model(self, summary: ModelSummary, labels: dict[FeatureRef, str]) -> None:
        self.model.removeRows(0, self.model.rowCount())
        self._items.clear()
        self._energy_items.clear()
        self._layers.clear()
        self._labels = dict(labels)
        for layer in summary.layers:
            row = QStandardItem(f"Layer {layer.number} · {layer.name} · {layer.n_maps} maps")
            row.setData((layer.number, -1), REF_ROLE)
            row.setData(layer.number, SORT_ROLE)
            energy = QStandardItem("")
            energy.setData((layer.number, -1), REF_ROLE)
            energy.setData(layer.number, SORT_ROLE)
            for k in range(layer.n_maps):
                ref = FeatureRef(layer.number, k)
                item = QStandardItem()
                item.setData(ref, REF_ROLE)
                item.setData(k, SORT_ROLE)
                item.setData(_blank_thumbnail(), Qt.ItemDataRole.DecorationRole)
                e = QStandardItem("")
                e.setData(ref, REF_ROLE)
                e.setData(0.0, SORT_ROLE)
                e.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self._items[ref], self._energy_items[ref] = item, e
                self._set_text(ref)
                row.appendRow([item, e])
            self._layers[layer.number] = row
            self.model.appendRow([row, energy])
        self.proxy.invalidate()

    def set_energies(self, energies: dict[int, np.ndarray]) -> None:
        """Mean squared activation per map, per layer (None clears)."""
        for layer, values in energies.items():
            top = float(np.max(values)) if len(values) else 0.0
            for k, value in enumerate(values):
                e = self._energy_items.get((layer, k))
                if e is None:
                    continue
                e.setText(f"{value:.3g}")
                e.setData(float(value), SORT_ROLE)
                e.setData(float(value) / top if top > 0 else 0.0, SHARE_ROLE)
                share = 100 * value / top if top > 0 else 0.0
                e.setToolTip(f"mean squared activation {value:.4g} ({share:.0f} % of the layer's largest)")
        self.proxy.invalidate()

    def set_energies_pending(self) -> None:
        """ "…" in every map's energy until the clip's findings are in (computed after its first map)."""
        for e in self._energy_items.values():
            e.setText("…")
            e.setData(0.0, SORT_ROLE)
            e.setData(None, SHARE_ROLE)
            e.setToolTip("the clip's energies are being computed (the whole forward pass, after the first map)")
        self.proxy.invalidate()

    def clear_clip(self) -> None:
        for ref, e in self._energy_items.items():
            e.setText("")
            e.setData(0.0, SORT_ROLE)
            e.setData(None, SHARE_ROLE)
            self._items[ref].setData(_blank_thumbnail(), Qt.ItemDataRole.DecorationRole)

    def set_thumbnail_span(self, span_s: tuple[float, float] | None, duration_s: float) -> None:
        """Say in the tooltip what the thumbnails show: the whole clip, or (a long clip) one stretch of it."""
        if span_s is None or (span_s[0] <= 0.0 and span_s[1] >= duration_s - 1e-3):
            what = "Thumbnails: each map's auralised spectrogram over the whole clip."
        else:
            what = (
                f"Thumbnails: each map's auralised spectrogram over the clip's loudest {span_s[1] - span_s[0]:.0f} s "
                f"({format_time(span_s[0])} – {format_time(span_s[1])}), the same stretch for every map so they "
                "compare; the rendering itself covers the whole clip."
            )
        self.view.setToolTip(f"{_VIEW_TIP}\n{what}")

    def clear_thumbnails(self) -> None:
        for item in self._items.values():
            item.setData(_blank_thumbnail(), Qt.ItemDataRole.DecorationRole)

    def set_thumbnails(self, pixmaps: dict[FeatureRef, QPixmap]) -> None:
        for ref, pixmap in pixmaps.items():
            item = self._items.get(ref)
            if item is not None:
                item.setData(pixmap, Qt.ItemDataRole.DecorationRole)

    def set_label(self, ref: FeatureRef, label: str) -> None:
        self._labels[ref] = label
        self._set_text(ref)

    def _set_text(self, ref: FeatureRef) -> None:
        label = self._labels.get(ref, "")
        item = self._items[ref]
        item.setText(f"F{ref[1]}  {label}" if label else f"F{ref[1]}")
        item.setData(label, LABEL_ROLE)
        item.setToolTip(f"{ref_text(ref)}" + (f": {label}" if label else ""))

    # --- sorting and filtering ---------------------------------------------------------------------------
    def sort_by_energy(self) -> None:
        self.view.sortByColumn(ENERGY_COLUMN, Qt.SortOrder.DescendingOrder)

    def sort_by_index(self) -> None:
        self.view.sortByColumn(FEATURE_COLUMN, Qt.SortOrder.AscendingOrder)

    @property
    def sorted_by_energy(self) -> bool:
        return self.proxy.sortColumn() == ENERGY_COLUMN

    def _filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        if text.strip():
            self.view.expandAll()

    # --- selection -------------------------------------------------------------------------------------
    def current_ref(self) -> FeatureRef | None:
        ref = self.view.currentIndex().data(REF_ROLE)
        return FeatureRef.of(ref) if ref is not None and ref[1] >= 0 else None

    def select(self, ref: FeatureRef) -> bool:
        """Make ``ref`` the current map (expanding its layer); False if it is not shown."""
        index = self._proxy_index(ref)
        if not index.isValid():
            return False
        self.view.expand(index.parent())
        self.view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self.view.scrollTo(index)
        return True

    def select_many(self, refs: Iterable[FeatureRef]) -> None:
        selection = self.view.selectionModel()
        selection.clearSelection()
        for ref in refs:
            index = self._proxy_index(ref)
            if index.isValid():
                self.view.expand(index.parent())
                selection.select(
                    index, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
                )

    def selected_refs(self) -> list[FeatureRef]:
        """Selected maps in layer/index order; a selected layer row stands for all its maps."""
        refs: set[FeatureRef] = set()
        for index in self.view.selectionModel().selectedRows(FEATURE_COLUMN):
            layer, k = index.data(REF_ROLE)
            if k >= 0:
                refs.add(FeatureRef(layer, k))
            else:
                item = self._layers[layer]
                refs.update(FeatureRef(layer, j) for j in range(item.rowCount()))
        return sorted(refs)

    def step_map(self, step: int) -> FeatureRef | None:
        """The map ``step`` rows away in the current sort order, within the current layer (clamped)."""
        index = self.view.currentIndex()
        if not index.isValid():
            return None
        if not index.parent().isValid():  # on a layer row: go into it
            child = self.proxy.index(0, 0, index)
            return FeatureRef.of(child.data(REF_ROLE)) if child.isValid() else None
        row = min(max(0, index.row() + step), self.proxy.rowCount(index.parent()) - 1)
        return FeatureRef.of(self.proxy.index(row, 0, index.parent()).data(REF_ROLE))

    def step_layer(self, step: int) -> FeatureRef | None:
        """The same map number in the layer ``step`` away (clamped to that layer's maps)."""
        ref = self.view.currentIndex().data(REF_ROLE)
        if ref is None or not self._layers:
            return None
        layer, k = ref
        target = min(max(1, layer + step), len(self._layers))
        n = self._layers[target].rowCount()
        return FeatureRef(target, min(max(k, 0), n - 1))

    def visual_rect(self, ref: FeatureRef) -> QRect | None:
        """Where ``ref``'s row is drawn, in the view's viewport coordinates (None if hidden)."""
        index = self._proxy_index(ref)
        if not index.isValid():
            return None
        rect = self.view.visualRect(index)
        return rect if rect.isValid() else None

    def _proxy_index(self, ref: FeatureRef) -> QModelIndex:
        item = self._items.get(FeatureRef.of(ref))
        if item is None:
            return QModelIndex()
        return self.proxy.mapFromSource(self.model.indexFromItem(item))

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        ref = current.data(REF_ROLE)
        self.currentChanged.emit(FeatureRef.of(ref) if ref is not None and ref[1] >= 0 else None)

    def _double_clicked(self, index: QModelIndex) -> None:
        ref = index.data(REF_ROLE)
        if ref is not None and ref[1] >= 0:
            self.activated.emit(FeatureRef.of(ref))


_BLANK: QPixmap | None = None


def _blank_thumbnail() -> QPixmap:
    """A dark placeholder until the map's thumbnail has been computed."""
    global _BLANK
    if _BLANK is None:
        _BLANK = QPixmap(THUMB_COLS, THUMB_ROWS)
        _BLANK.fill(QColor(30, 30, 38))
    return _BLANK
