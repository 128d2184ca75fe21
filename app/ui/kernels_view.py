"""The first layer's kernels as a grid of small pictures, from vertical edges (onset detectors) to horizontal
edges (attack suppressors / sustain selectors), as in Choi et al. 2015's figure; a click plays that map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from app.core.kernels import KernelShape, kernel_shapes, sort_by_orientation
from app.core.types import FeatureRef
from app.ui.images import kernel_mosaic

IMAGE = 48  # px: a 3x3 kernel drawn 16 px a weight, big enough to read the sign pattern at a glance
MARGIN, GAP, PAD = 6, 6, 5  # px around the grid, between cells and inside a cell
BORDER = 3  # px of the selection frame
NOT_A_CONV = (
    "This network's first layer is not one plain convolution, so it has no kernels to show. "
    "Pick its maps in the tree to hear them."
)
CAPTION = (
    "Layer 1's kernels (frequency up, time right; blue −, red +), sorted from <b>vertical edges</b> "
    "(onset detectors: a change in time at every frequency) to <b>horizontal edges</b> (attack suppressors / "
    "sustain selectors: a change across frequency, steady in time). V and H: each kernel's share of energy in "
    "each pattern. Click a kernel to hear its map."
)


@dataclass(frozen=True)
class _Cell:
    shape: KernelShape
    pixmap: QPixmap
    top: float  # max |w|: the colour scale's end
    size: tuple[int, int, int]  # (in_channels, kh, kw)


def _fit(pixmap: QPixmap) -> QPixmap:
    """The mosaic within the image box, nearest neighbour, at least 8 px a side (1xN kernels would be a sliver)."""
    scale = min(1.0, IMAGE / max(pixmap.width(), pixmap.height()))
    w, h = (min(IMAGE, max(8, round(side * scale))) for side in (pixmap.width(), pixmap.height()))
    if (w, h) == (pixmap.width(), pixmap.height()):
        return pixmap
    return pixmap.scaled(w, h, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.FastTransformation)


def _tooltip(cell: _Cell, rank: int, count: int, label: str) -> str:
    s, (c, kh, kw) = cell.shape, cell.size
    head = f"F{s.index}" + (f" · {label}" if label else "")
    if s.norm == 0.0:
        return f"{head}\nA dead kernel: all its weights are zero ({kh}×{kw}, {c} input channel{'s' * (c != 1)})."
    return (
        f"{head}\n"
        f"vertical edge (onset detector): {s.vertical:.2f} of the energy\n"
        f"horizontal edge (sustain / attack suppressor): {s.horizontal:.2f}\n"
        f"both at once (diagonal, checkerboard): {s.mixed:.2f}\n"
        f"mean (level / smoothing): {s.dc:.2f}\n"
        f"orientation V − H: {s.orientation:+.2f}, {rank + 1} of {count} from vertical\n"
        f"L2 norm {s.norm:.3g}; colours span ±{cell.top:.3g}\n"
        f"{kh}×{kw} kernel (frequency × time), {c} input channel{'s' * (c != 1)}"
    )


class _KernelGrid(QWidget):
    """The painted grid; reflows to its width (height for width) inside the scroll area."""

    cellClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.cells: list[_Cell] = []  # in displayed order
        self.labels: dict[int, str] = {}
        self.selected: int | None = None
        self.hovered: int | None = None
        self._position: dict[int, int] = {}  # kernel index -> place in the grid
        self._bold = QFont(self.font())
        self._bold.setBold(True)
        self._line = max(QFontMetrics(self.font()).height(), QFontMetrics(self._bold).height())
        self._cell_w = max(IMAGE, QFontMetrics(self.font()).horizontalAdvance("V 0.00 · H 0.00")) + 2 * PAD
        self._cell_h = PAD + IMAGE + PAD + 3 * self._line + PAD

    def set_cells(self, cells: list[_Cell]) -> None:
        self.cells = cells
        self._position = {cell.shape.index: i for i, cell in enumerate(cells)}
        self.hovered = None
        self.updateGeometry()
        self.update()

    # --- geometry -------------------------------------------------------------------------------------------
    def _columns(self, width: int | None = None) -> int:
        width = self.width() if width is None else width
        return max(1, (width - 2 * MARGIN + GAP) // (self._cell_w + GAP))

    def heightForWidth(self, width: int) -> int:
        rows = -(-len(self.cells) // self._columns(width))
        return 2 * MARGIN + max(0, rows * (self._cell_h + GAP) - GAP)

    def hasHeightForWidth(self) -> bool:
        return True

    def sizeHint(self) -> QSize:
        width = 2 * MARGIN + 8 * (self._cell_w + GAP) - GAP
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        return QSize(2 * MARGIN + self._cell_w, 2 * MARGIN + self._cell_h)

    def cell_rect(self, index: int) -> QRect | None:
        place = self._position.get(index)
        if place is None:
            return None
        columns = self._columns()
        row, col = divmod(place, columns)
        left = max(MARGIN, (self.width() - columns * (self._cell_w + GAP) + GAP) // 2)  # centred in a wide panel
        return QRect(left + col * (self._cell_w + GAP), MARGIN + row * (self._cell_h + GAP), self._cell_w, self._cell_h)

    def image_rect(self, index: int) -> QRect | None:
        rect = self.cell_rect(index)
        if rect is None:
            return None
        pixmap = self.cells[self._position[index]].pixmap
        x = rect.left() + (rect.width() - pixmap.width()) // 2
        y = rect.top() + PAD + (IMAGE - pixmap.height()) // 2
        return QRect(x, y, pixmap.width(), pixmap.height())

    def index_at(self, pos: QPoint) -> int | None:
        for cell in self.cells:
            rect = self.cell_rect(cell.shape.index)
            if rect is not None and rect.contains(pos):
                return cell.shape.index
        return None

    # --- painting and input ---------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        highlight = palette.color(QPalette.ColorRole.Highlight)
        dim = palette.color(QPalette.ColorRole.PlaceholderText)
        for cell in self.cells:
            index = cell.shape.index
            rect = self.cell_rect(index)
            if rect is None or not rect.intersects(event.rect()):
                continue
            background = palette.color(QPalette.ColorRole.AlternateBase)
            if index == self.hovered:
                background = palette.color(QPalette.ColorRole.Button).lighter(135)
            painter.fillRect(rect, background)
            if index == self.selected:
                tint = QColor(highlight)
                tint.setAlpha(70)
                painter.fillRect(rect, tint)
                painter.setPen(QPen(highlight, BORDER, Qt.PenStyle.SolidLine, Qt.PenCapStyle.SquareCap))
                half = BORDER // 2
                painter.drawRect(rect.adjusted(half, half, -half - 1, -half - 1))
            painter.drawPixmap(self.image_rect(index), cell.pixmap)
            text = rect.adjusted(PAD, PAD + IMAGE + PAD, -PAD, -PAD)
            line = QRect(text.left(), text.top(), text.width(), self._line)
            painter.setFont(self._bold)
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            name = f"F{index}" + ("  dead" if cell.shape.norm == 0.0 else "")
            painter.drawText(line, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, name)
            painter.setFont(self.font())
            painter.setPen(dim)
            score = f"V {cell.shape.vertical:.2f} · H {cell.shape.horizontal:.2f}"
            painter.drawText(line.translated(0, self._line), Qt.AlignmentFlag.AlignHCenter, score)
            label = self.labels.get(index, "")
            if label:
                painter.setPen(palette.color(QPalette.ColorRole.Text))
                elided = painter.fontMetrics().elidedText(label, Qt.TextElideMode.ElideRight, line.width())
                painter.drawText(line.translated(0, 2 * self._line), Qt.AlignmentFlag.AlignHCenter, elided)
        painter.end()

    def _hover(self, index: int | None) -> None:
        if index != self.hovered:
            self.hovered = index
            self.setCursor(Qt.CursorShape.PointingHandCursor if index is not None else Qt.CursorShape.ArrowCursor)
            self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._hover(self.index_at(event.position().toPoint()))
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self._hover(None)
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        index = self.index_at(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and index is not None:
            self.cellClicked.emit(index)
            event.accept()
            return
        super().mousePressEvent(event)

    def tooltip(self, index: int) -> str:
        place = self._position[index]
        cell = self.cells[place]
        return _tooltip(cell, place, len(self.cells), self.labels.get(index, ""))

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            index = self.index_at(event.pos())
            if index is None:
                QToolTip.hideText()
                event.ignore()
            else:
                QToolTip.showText(event.globalPos(), self.tooltip(index), self, self.cell_rect(index))
            return True
        return super().event(event)


class KernelsView(QWidget):
    """Emits ``mapClicked(ref)`` with ``ref = (1, kernel index)`` when a kernel is clicked."""

    mapClicked = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.caption.setStyleSheet("color: #9a9aa8;")
        self.message = QLabel(NOT_A_CONV)
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet("color: #9a9aa8; padding: 24px;")
        self._grid = _KernelGrid()
        self._grid.cellClicked.connect(self._clicked)
        self._scroll = QScrollArea()
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._scroll.setWidget(self._grid)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.caption)
        layout.addWidget(self._scroll, 1)
        layout.addWidget(self.message, 1)
        self._labels: dict[FeatureRef, str] = {}
        self.set_kernels(None)

    def set_kernels(self, kernels: np.ndarray | None) -> None:
        """Layer 1's weights ``[shape=(n_maps, in_channels, kh, kw)]`` (frequency, time), or None when the first
        layer is not a plain convolution (then a message says so)."""
        if kernels is not None and hasattr(kernels, "detach"):  # a torch tensor, without importing torch here
            kernels = kernels.detach().cpu().numpy()
        k = None if kernels is None else np.asarray(kernels, dtype=np.float32)
        cells = []
        if k is not None and k.shape[0] > 0:
            for shape in sort_by_orientation(kernel_shapes(k)):
                pixmap, top = kernel_mosaic(k[shape.index], width=IMAGE)
                cells.append(_Cell(shape, _fit(pixmap), top, (k.shape[1], k.shape[2], k.shape[3])))
        self._grid.selected = None
        self._grid.set_cells(cells)
        self._grid.labels = self._layer_labels()
        self.message.setText(NOT_A_CONV if k is None else "This network's first layer has no kernels.")
        self.caption.setVisible(bool(cells))
        self._scroll.setVisible(bool(cells))
        self.message.setVisible(not cells)

    def set_labels(self, labels: dict[FeatureRef, str]) -> None:
        """The user's labels by ``(layer, map)``; only layer 1's are shown."""
        self._labels = dict(labels)
        self._grid.labels = self._layer_labels()
        self._grid.update()

    def set_selected(self, index: int | None) -> None:
        """Highlight kernel ``index`` (None: none) and scroll to it, without emitting ``mapClicked``."""
        self._grid.selected = index if index in self.order() else None
        rect = self._grid.cell_rect(index) if index is not None else None
        if rect is not None and self._scroll.isVisible():
            self._scroll.ensureVisible(rect.center().x(), rect.center().y(), rect.width(), rect.height())
        self._grid.update()

    def order(self) -> list[int]:
        """Kernel indices in displayed order: most vertical-edge-like first."""
        return [cell.shape.index for cell in self._grid.cells]

    def cell_rect(self, index: int) -> QRect | None:
        """Kernel ``index``'s cell in ``view()``'s coordinates, or None if it is not shown."""
        return self._grid.cell_rect(index)

    def image_rect(self, index: int) -> QRect | None:
        """Where kernel ``index``'s picture is drawn, in ``view()``'s coordinates."""
        return self._grid.image_rect(index)

    def view(self) -> QWidget:
        """The widget that receives clicks and draws the cells."""
        return self._grid

    def _layer_labels(self) -> dict[int, str]:
        return {index: text for (layer, index), text in self._labels.items() if layer == 1 and text}

    def _clicked(self, index: int) -> None:
        self.set_selected(index)
        self.mapClicked.emit(FeatureRef(1, index))
