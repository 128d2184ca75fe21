"""The kernel grid: sorted from vertical to horizontal edges, clickable, drawn blue-white-red with frequency up."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QColor, QHelpEvent, QImage, QPalette
from PySide6.QtWidgets import QToolTip

from app.core.kernels import kernel_shapes, sort_by_orientation
from app.ui.kernels_view import NOT_A_CONV, KernelsView

VERTICAL = [[1, -1], [1, -1]]  # rows frequency (row 0 lowest), columns time: positive, then negative
HORIZONTAL = [[1, 1], [-1, -1]]
CHECKER = [[1, -1], [-1, 1]]


def mixed_kernels() -> np.ndarray:
    """``[shape=(12, 1, 2, 2)]``: random kernels around a vertical edge (index 7) and a horizontal one (index 2)."""
    k = np.random.default_rng(12).normal(size=(12, 1, 2, 2)).astype(np.float32) * 0.3
    k[2, 0], k[5, 0], k[7, 0] = HORIZONTAL, CHECKER, VERTICAL
    return k


@pytest.fixture
def view(qtbot) -> KernelsView:
    widget = KernelsView()
    qtbot.addWidget(widget)
    widget.resize(520, 420)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def show_kernels(widget: KernelsView, kernels: np.ndarray | None, qtbot) -> None:
    """Set the kernels and let the scroll area settle the grid's width (cell positions depend on it)."""
    widget.set_kernels(kernels)
    qtbot.wait(20)


def grab(widget: KernelsView) -> QImage:
    image = widget.view().grab().toImage()
    assert image.devicePixelRatio() == 1.0  # pixel coordinates below are widget coordinates
    return image


def test_order_is_sort_by_orientation(view: KernelsView, qtbot) -> None:
    k = mixed_kernels()
    show_kernels(view, k, qtbot)
    assert view.order() == [s.index for s in sort_by_orientation(kernel_shapes(k))]
    assert view.order()[0] == 7 and view.order()[-1] == 2
    real = np.random.default_rng(1).normal(size=(64, 1, 3, 3))
    show_kernels(view, real, qtbot)
    assert view.order() == [s.index for s in sort_by_orientation(kernel_shapes(real))]


def test_clicking_the_first_cell_plays_the_most_vertical_kernel(view: KernelsView, qtbot) -> None:
    show_kernels(view, mixed_kernels(), qtbot)
    rect = view.cell_rect(view.order()[0])
    assert rect is not None and rect.topLeft().x() < rect.bottomRight().x()
    with qtbot.waitSignal(view.mapClicked, timeout=1000) as blocker:
        qtbot.mouseClick(view.view(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [(1, 7)]
    last = view.cell_rect(2)
    with qtbot.waitSignal(view.mapClicked, timeout=1000) as blocker:
        qtbot.mouseClick(view.view(), Qt.MouseButton.LeftButton, pos=last.center())
    assert blocker.args == [(1, 2)]
    with qtbot.assertNotEmitted(view.mapClicked):
        qtbot.mouseClick(view.view(), Qt.MouseButton.LeftButton, pos=QPoint(1, 1))  # the margin, no cell


def test_a_vertical_edge_is_drawn_red_then_blue_in_time(view: KernelsView, qtbot) -> None:
    show_kernels(view, mixed_kernels(), qtbot)
    qtbot.wait(10)
    image, box = grab(view), view.image_rect(7)
    cell = view.cell_rect(7)
    assert box is not None and cell.contains(box) and box.width() == box.height() == 48  # 2x2 -> 24 px a weight
    for y in (box.top() + 6, box.bottom() - 6):  # high and low frequency alike
        left = image.pixelColor(box.left() + 6, y)
        right = image.pixelColor(box.right() - 6, y)
        assert left.red() > 150 and left.blue() < 60, left.getRgb()  # +1 at the earlier frame: red
        assert right.blue() > 150 and right.red() < 60, right.getRgb()  # -1 at the later frame: blue
    # the horizontal edge's positive row is the lowest frequency, drawn at the bottom
    h = view.image_rect(2)
    top, bottom = image.pixelColor(h.center().x(), h.top() + 6), image.pixelColor(h.center().x(), h.bottom() - 6)
    assert top.blue() > 150 and top.red() < 60 and bottom.red() > 150 and bottom.blue() < 60


def test_cells_show_name_scores_and_label(view: KernelsView, qtbot) -> None:
    show_kernels(view, mixed_kernels(), qtbot)
    view.set_labels({(1, 7): "snare onsets", (2, 7): "another layer's map"})
    tip = view.view().tooltip(7)
    assert tip.startswith("F7 · snare onsets\n")
    assert "vertical edge (onset detector): 1.00" in tip
    assert "horizontal edge (sustain / attack suppressor): 0.00" in tip
    assert "1 of 12 from vertical" in tip and "2×2 kernel" in tip
    assert view.view().labels == {7: "snare onsets"}


def test_tooltip_event_shows_the_cells_figures(view: KernelsView, qtbot, qapp) -> None:
    show_kernels(view, mixed_kernels(), qtbot)
    grid = view.view()
    centre = view.cell_rect(2).center()
    qapp.sendEvent(grid, QHelpEvent(QEvent.Type.ToolTip, centre, grid.mapToGlobal(centre)))
    qtbot.waitUntil(lambda: QToolTip.isVisible(), timeout=2000)
    text = QToolTip.text()
    assert text.startswith("F2\n") and "horizontal edge (sustain / attack suppressor): 1.00" in text
    QToolTip.hideText()


def test_none_shows_the_message(view: KernelsView, qtbot) -> None:
    show_kernels(view, mixed_kernels(), qtbot)
    assert view.view().isVisible() and not view.message.isVisible()
    show_kernels(view, None, qtbot)
    assert view.message.isVisible() and view.message.text() == NOT_A_CONV and "not one plain convolution" in NOT_A_CONV
    assert not view.view().isVisible() and not view.caption.isVisible()
    assert view.order() == [] and view.cell_rect(0) is None


def test_set_selected_frames_the_cell_without_a_signal(view: KernelsView, qtbot) -> None:
    show_kernels(view, mixed_kernels(), qtbot)
    highlight = view.view().palette().color(QPalette.ColorRole.Highlight)
    rect = view.cell_rect(5)
    edge = QPoint(rect.left() + 1, rect.center().y())  # inside the 3 px frame

    def near(a: QColor, b: QColor) -> bool:
        return max(abs(a.red() - b.red()), abs(a.green() - b.green()), abs(a.blue() - b.blue())) <= 8

    assert not near(grab(view).pixelColor(edge), highlight)
    with qtbot.assertNotEmitted(view.mapClicked):
        view.set_selected(5)
        qtbot.wait(10)
    image = grab(view)
    assert near(image.pixelColor(edge), highlight)
    other = view.cell_rect(view.order()[0])
    assert not near(image.pixelColor(other.left() + 1, other.center().y()), highlight)
    view.set_selected(None)
    assert not near(grab(view).pixelColor(edge), highlight)


def test_hover_lightens_the_cell(view: KernelsView, qtbot) -> None:
    show_kernels(view, mixed_kernels(), qtbot)
    rect = view.cell_rect(view.order()[1])
    probe = QPoint(rect.left() + 2, rect.center().y())
    before = grab(view).pixelColor(probe)
    qtbot.mouseMove(view.view(), rect.center())
    qtbot.waitUntil(lambda: view.view().hovered == view.order()[1], timeout=1000)
    assert grab(view).pixelColor(probe).lightness() > before.lightness()


def test_the_grid_reflows_and_scrolls_to_the_selection(view: KernelsView, qtbot) -> None:
    show_kernels(view, np.random.default_rng(5).normal(size=(64, 1, 3, 3)), qtbot)
    first, second = view.cell_rect(view.order()[0]), view.cell_rect(view.order()[1])
    assert second.top() == first.top() and second.left() > first.right()  # a row, not a column
    assert view.image_rect(view.order()[0]).size().toTuple() == (48, 48)  # 3x3 -> 16 px a weight
    last = view.order()[-1]
    assert view.cell_rect(last).bottom() > view.view().visibleRegion().boundingRect().bottom()
    view.set_selected(last)
    qtbot.waitUntil(lambda: view.view().visibleRegion().boundingRect().contains(view.cell_rect(last)), timeout=1000)


def test_many_input_channels_and_odd_shapes_draw_within_the_box(view: KernelsView, qtbot) -> None:
    for shape in [(8, 16, 3, 3), (4, 1, 1, 9), (4, 1, 40, 1), (3, 2, 5, 7)]:
        show_kernels(view, np.random.default_rng(0).normal(size=shape), qtbot)
        for index in view.order():
            box = view.image_rect(index)
            assert view.cell_rect(index).contains(box) and 8 <= box.width() <= 48 and 8 <= box.height() <= 48
        grab(view)
    show_kernels(view, np.zeros((2, 1, 3, 3)), qtbot)
    assert "dead kernel" in view.view().tooltip(0)
