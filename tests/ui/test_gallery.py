"""The layer gallery: clicks, keys and highlights on real cells (offscreen), checked by signals and by pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QImage, QPixmap

from app.ui.gallery import ACCENT, COMPARE, ENERGY, LayerGallery, bar_rect, image_rect

GREEN = QColor(20, 200, 40)


@pytest.fixture
def gallery(qtbot) -> LayerGallery:
    """A shown gallery of two layers (16 and 64 maps), about four cells a row."""
    g = LayerGallery()
    qtbot.addWidget(g)
    g.resize(720, 560)
    g.set_layers([16, 64])
    g.show()
    qtbot.waitExposed(g)
    return g


def solid(colour: QColor, w: int = 64, h: int = 18) -> QPixmap:
    pixmap = QPixmap(w, h)
    pixmap.fill(colour)
    return pixmap


def picture(g: LayerGallery) -> QImage:
    return g.grab().toImage()


def pixel(g: LayerGallery, image: QImage, point: QPoint) -> QColor:
    """The colour at ``point`` of the view's viewport, in a grab of the whole gallery."""
    return image.pixelColor(g.view().viewport().mapTo(g, point))


def near(a: QColor, b: QColor, tolerance: int = 6) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a.getRgb()[:3], b.getRgb()[:3], strict=True))


def border_points(rect: QRect) -> list[QPoint]:
    """The middle of each edge, one pixel inside the cell (the border is its outer two pixels)."""
    c = rect.center()
    return [
        QPoint(rect.left() + 1, c.y()),
        QPoint(rect.right() - 1, c.y()),
        QPoint(c.x(), rect.top() + 1),
        QPoint(c.x(), rect.bottom() - 1),
    ]


def click(qtbot, g: LayerGallery, ref, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.mouseClick(g.view().viewport(), Qt.MouseButton.LeftButton, modifier, g.cell_rect(ref).center())


def test_click_selects_and_emits_that_map(qtbot, gallery):
    with qtbot.waitSignal(gallery.mapClicked, timeout=1000) as blocker:
        click(qtbot, gallery, (1, 6))
    assert blocker.args == [(1, 6)]
    assert gallery.selected_ref() == (1, 6)


def test_shift_click_requests_compare_and_not_select(qtbot, gallery):
    gallery.set_selected((1, 2))
    with (
        qtbot.assertNotEmitted(gallery.mapClicked),
        qtbot.waitSignal(gallery.compareRequested, timeout=1000) as blocker,
    ):
        click(qtbot, gallery, (1, 5), Qt.KeyboardModifier.ShiftModifier)
    assert blocker.args == [(1, 5)]
    assert gallery.selected_ref() == (1, 2)


def test_double_click_activates_the_map(qtbot, gallery):
    with qtbot.waitSignal(gallery.activated, timeout=1000) as blocker:
        qtbot.mouseDClick(gallery.view().viewport(), Qt.MouseButton.LeftButton, pos=gallery.cell_rect((1, 9)).center())
    assert blocker.args == [(1, 9)]


def test_click_between_cells_emits_nothing(qtbot, gallery):
    a, b = gallery.cell_rect((1, 0)), gallery.cell_rect((1, 1))
    gap = QPoint((a.right() + b.left()) // 2, a.center().y())
    assert a.right() < gap.x() < b.left()
    with qtbot.assertNotEmitted(gallery.mapClicked), qtbot.assertNotEmitted(gallery.compareRequested):
        qtbot.mouseClick(gallery.view().viewport(), Qt.MouseButton.LeftButton, pos=gap)


def test_selected_cell_has_the_accent_border_and_others_do_not(qtbot, gallery):
    gallery.set_selected((1, 5))
    image = picture(gallery)
    for point in border_points(gallery.cell_rect((1, 5))):
        assert near(pixel(gallery, image, point), ACCENT), point
    for other in [(1, 4), (1, 6)]:
        for point in border_points(gallery.cell_rect(other)):
            assert not near(pixel(gallery, image, point), ACCENT, 40), (other, point)

    gallery.set_selected((1, 6))
    image = picture(gallery)
    assert near(pixel(gallery, image, border_points(gallery.cell_rect((1, 6)))[0]), ACCENT)
    assert not near(pixel(gallery, image, border_points(gallery.cell_rect((1, 5)))[0]), ACCENT, 40)


def test_compare_cell_has_the_orange_border(qtbot, gallery):
    gallery.set_selected((1, 1))
    with qtbot.assertNotEmitted(gallery.compareRequested), qtbot.assertNotEmitted(gallery.mapClicked):
        gallery.set_compare((1, 2))
    image = picture(gallery)
    for point in border_points(gallery.cell_rect((1, 2))):
        assert near(pixel(gallery, image, point), COMPARE), point
    assert near(pixel(gallery, image, border_points(gallery.cell_rect((1, 1)))[0]), ACCENT)
    gallery.set_compare(None)
    assert not near(pixel(gallery, picture(gallery), border_points(gallery.cell_rect((1, 2)))[0]), COMPARE, 40)


def test_set_selected_switches_layer_without_signals(qtbot, gallery):
    with (
        qtbot.assertNotEmitted(gallery.layerChanged),
        qtbot.assertNotEmitted(gallery.mapClicked),
    ):
        gallery.set_selected((2, 40))
    assert gallery.layer() == 2
    assert gallery.layer_box.currentText() == "Layer 2"
    rect = gallery.cell_rect((2, 40))
    assert rect is not None and gallery.view().viewport().rect().contains(rect)  # scrolled into view
    assert gallery.cell_rect((1, 0)) is None
    with pytest.raises(ValueError, match="L2 F64"):
        gallery.set_selected((2, 64))


def test_layer_chooser_emits_only_on_user_change(qtbot, gallery):
    with qtbot.assertNotEmitted(gallery.layerChanged):
        gallery.show_layer(2)
    assert len(gallery.shown_refs()) == 64
    with qtbot.waitSignal(gallery.layerChanged, timeout=1000) as blocker:
        gallery.layer_box.setCurrentIndex(0)  # as a user's pick does
    assert blocker.args == [1]
    assert gallery.layer() == 1 and len(gallery.shown_refs()) == 16
    assert [gallery.layer_box.itemText(i) for i in range(gallery.layer_box.count())] == ["Layer 1", "Layer 2"]


def test_thumbnail_fills_the_image_area_and_others_keep_the_placeholder(qtbot, gallery):
    gallery.set_thumbnails({(1, 3): solid(GREEN)})
    image = picture(gallery)
    area = image_rect(gallery.cell_rect((1, 3)))
    inside = [area.center(), area.topLeft() + QPoint(3, 3), area.bottomRight() - QPoint(3, 3)]
    for point in inside:
        assert near(pixel(gallery, image, point), GREEN), point
    placeholder = pixel(gallery, image, image_rect(gallery.cell_rect((1, 2))).center())
    assert not near(placeholder, GREEN, 60)
    assert max(placeholder.getRgb()[:3]) - min(placeholder.getRgb()[:3]) < 16  # neutral grey

    gallery.clear_thumbnails()
    assert not near(pixel(gallery, picture(gallery), area.center()), GREEN, 60)


def test_thumbnails_repaint_only_shown_cells_that_changed(qtbot, gallery):
    model = gallery.view().model()
    with qtbot.assertNotEmitted(model.dataChanged):
        gallery.set_thumbnails({(2, k): solid(GREEN) for k in range(64)})  # another layer
    pixmap = solid(GREEN)
    changed = []
    model.dataChanged.connect(lambda top, bottom, roles: changed.append((top.row(), bottom.row())))
    gallery.set_thumbnails({(1, 7): pixmap})
    assert changed == [(7, 7)]
    gallery.set_thumbnails({(1, 7): pixmap})  # the same picture again
    assert changed == [(7, 7)]


def test_energy_bar_shows_the_share_of_the_largest(qtbot, gallery):
    energies = np.zeros(16)
    energies[0], energies[1] = 2.0, 1.0
    gallery.set_energies({1: energies})
    image = picture(gallery)
    bars = [bar_rect(gallery.cell_rect((1, k))) for k in range(3)]
    at = [QPoint(bar.left() + int(0.75 * bar.width()), bar.center().y()) for bar in bars]
    assert near(pixel(gallery, image, at[0]), ENERGY, 40)  # the largest fills the bar
    assert not near(pixel(gallery, image, at[1]), ENERGY, 40)  # half: filled to 50 %, not 75 %
    assert near(pixel(gallery, image, QPoint(bars[1].left() + int(0.4 * bars[1].width()), at[1].y())), ENERGY, 40)
    assert not near(pixel(gallery, image, QPoint(bars[2].left() + 2, at[2].y())), ENERGY, 40)  # zero: empty


def test_filter_by_label_and_by_name(qtbot, gallery):
    gallery.set_labels({(1, 3): "Kick drum", (1, 9): "snare", (2, 3): "kick too"})
    qtbot.keyClicks(gallery.filter, "kick")
    assert gallery.shown_refs() == [(1, 3)]
    assert gallery.view().model().rowCount() == 1
    assert gallery.cell_rect((1, 3)) is not None and gallery.cell_rect((1, 9)) is None
    assert gallery.count.text() == "1 of 16 maps"

    gallery.filter.setText("F12")
    assert gallery.shown_refs() == [(1, 12)]  # a name, not the substring of F1 or F12x
    gallery.filter.setText("l1 f1")
    assert gallery.shown_refs() == [(1, 1)]
    gallery.filter.setText("L2 F1")
    assert gallery.shown_refs() == []

    gallery.filter.setText("snare")
    gallery.set_label((1, 4), "snare roll")  # a new label that matches appears
    assert gallery.shown_refs() == [(1, 4), (1, 9)]
    gallery.filter.clear()
    assert len(gallery.shown_refs()) == 16


def test_sort_by_energy_puts_the_highest_first(qtbot, gallery):
    energies = np.random.default_rng(3).random(16)
    gallery.set_energies({1: energies})
    gallery.sort_by_energy(True)
    assert gallery.sort_box.currentIndex() == 1
    order = sorted(gallery.shown_refs(), key=lambda ref: (gallery.cell_rect(ref).top(), gallery.cell_rect(ref).left()))
    assert [k for _, k in order] == list(np.argsort(-energies))
    first = gallery.cell_rect(order[0])
    assert first.topLeft() == gallery.cell_rect((1, int(np.argmax(energies)))).topLeft()

    gallery.sort_box.setCurrentIndex(0)  # the user's choice
    assert [k for _, k in gallery.shown_refs()] == list(range(16))


def test_arrow_keys_move_the_selection(qtbot, gallery):
    gallery.set_selected((1, 0))
    gallery.view().setFocus()
    with qtbot.waitSignal(gallery.mapClicked, timeout=1000) as blocker:
        qtbot.keyClick(gallery.view(), Qt.Key.Key_Right)
    assert blocker.args == [(1, 1)]
    assert gallery.selected_ref() == (1, 1)

    with qtbot.waitSignal(gallery.mapClicked, timeout=1000) as blocker:
        qtbot.keyClick(gallery.view(), Qt.Key.Key_Down)
    below = blocker.args[0]
    assert gallery.cell_rect(below).left() == gallery.cell_rect((1, 1)).left()
    assert gallery.cell_rect(below).top() > gallery.cell_rect((1, 1)).top()

    with qtbot.waitSignal(gallery.activated, timeout=1000) as blocker:
        qtbot.keyClick(gallery.view(), Qt.Key.Key_Return)
    assert blocker.args == [below]

    gallery.set_selected((1, 15))
    with qtbot.assertNotEmitted(gallery.mapClicked):
        qtbot.keyClick(gallery.view(), Qt.Key.Key_Right)  # the last map: nowhere to go


def test_cells_reflow_with_width(qtbot, gallery):
    def per_row() -> int:
        top = gallery.cell_rect((1, 0)).top()
        return sum(1 for ref in gallery.shown_refs() if gallery.cell_rect(ref).top() == top)

    wide = per_row()
    gallery.resize(400, 560)
    qtbot.waitUntil(lambda: per_row() < wide, timeout=2000)
    assert per_row() >= 1


def test_256_maps(qtbot, gallery):
    gallery.set_layers([256])
    gallery.set_energies({1: np.linspace(0.0, 1.0, 256)})
    gallery.set_thumbnails({(1, k): solid(GREEN) for k in range(256)})
    assert len(gallery.shown_refs()) == 256
    area = image_rect(gallery.cell_rect((1, 0)))
    assert near(pixel(gallery, picture(gallery), area.center()), GREEN)
    gallery.set_selected((1, 255))
    rect = gallery.cell_rect((1, 255))
    assert gallery.view().viewport().rect().contains(rect)
    assert near(pixel(gallery, picture(gallery), image_rect(rect).center()), GREEN)


def test_set_layers_resets_everything(qtbot, gallery):
    gallery.set_labels({(1, 3): "kick"})
    gallery.set_thumbnails({(1, 3): solid(GREEN)})
    gallery.set_selected((2, 5))
    gallery.set_compare((1, 2))
    gallery.filter.setText("kick")
    with qtbot.assertNotEmitted(gallery.layerChanged):
        gallery.set_layers([8, 8, 8])
    assert gallery.layer() == 1 and gallery.layer_box.count() == 3
    assert gallery.selected_ref() is None and gallery.compare_ref() is None
    assert gallery.filter.text() == "" and len(gallery.shown_refs()) == 8
    assert not near(pixel(gallery, picture(gallery), image_rect(gallery.cell_rect((1, 3))).center()), GREEN, 60)
