"""The session's clip list: what a click, Enter, Delete and the context menu report, how `step` walks the ready
clips, and what each row shows (read through the model's roles and from rendered pixels)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QContextMenuEvent, QImage, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu

from app.ui.clip_list import (
    CURRENT_ROLE,
    DETAIL_ROLE,
    DURATION_ROLE,
    KEY_ROLE,
    ClipEntry,
    ClipList,
    row_height,
)
from app.ui.style import apply_style

LEFT = Qt.MouseButton.LeftButton


def key(n: int) -> str:
    return f"{n:064x}"


def entry(n: int, status: str = "ready", duration: float | None = 4.0, detail: str = "") -> ClipEntry:
    return ClipEntry(key(n), f"clip{n}.wav", Path(f"/music/clip{n}.wav"), duration, status, detail)


MIXED = [
    entry(0, detail="rock 0.93"),
    entry(1, "missing", detail="moved or deleted"),
    entry(2, "loading", None),
    entry(3, detail="jazz 0.71"),
    entry(4, "error", detail="not an audio file"),
    entry(5, detail="pop 0.40"),
]


@pytest.fixture
def dark_style(qapp) -> Iterator[None]:
    """The app's own dark Fusion look (pixel tests read light text on a dark base), restored afterwards."""
    palette, style, sheet = qapp.palette(), qapp.style().name(), qapp.styleSheet()
    apply_style(qapp)
    yield
    qapp.setStyleSheet(sheet)
    qapp.setStyle(style)
    qapp.setPalette(palette)


@pytest.fixture
def clips(qtbot, dark_style) -> ClipList:
    widget = ClipList()
    qtbot.addWidget(widget)
    widget.resize(280, 260)
    widget.set_clips(MIXED)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def recorder(signal) -> list:
    got: list = []
    signal.connect(got.append)
    return got


def click(qtbot, clips: ClipList, k: str, button=LEFT) -> None:
    rect = clips.row_rect(k)
    assert rect is not None
    qtbot.mouseClick(clips.view().viewport(), button, pos=rect.center())


def row_index(clips: ClipList, k: str):
    return clips.view().model().index(clips.keys().index(k), 0)


# --- clicks and keys ----------------------------------------------------------------------------------
def test_clicking_a_ready_rows_centre_emits_its_key_once(qtbot, clips) -> None:
    chosen = recorder(clips.clipChosen)
    click(qtbot, clips, key(3))
    assert chosen == [key(3)]
    click(qtbot, clips, key(0))
    assert chosen == [key(3), key(0)]


@pytest.mark.parametrize("n", [1, 2, 4], ids=["missing", "loading", "error"])
def test_clicking_a_clip_that_cannot_open_emits_nothing(qtbot, clips, n) -> None:
    chosen = recorder(clips.clipChosen)
    click(qtbot, clips, key(n))
    qtbot.keyClick(clips.view(), Qt.Key.Key_Return)
    assert chosen == []
    assert clips.view().currentIndex().data(KEY_ROLE) == key(n)  # it was hit and selected, just not opened


def test_right_click_does_not_open_a_clip(qtbot, clips) -> None:
    chosen = recorder(clips.clipChosen)
    click(qtbot, clips, key(3), Qt.MouseButton.RightButton)
    assert chosen == []


def test_enter_opens_the_selected_ready_clip(qtbot, clips) -> None:
    chosen = recorder(clips.clipChosen)
    clips.view().setCurrentIndex(row_index(clips, key(5)))
    qtbot.keyClick(clips.view(), Qt.Key.Key_Return)
    qtbot.keyClick(clips.view(), Qt.Key.Key_Enter)
    assert chosen == [key(5), key(5)]


@pytest.mark.parametrize("n", [3, 1], ids=["ready", "missing"])
def test_delete_asks_to_remove_the_selected_row(qtbot, clips, n) -> None:
    removed = recorder(clips.removeRequested)
    click(qtbot, clips, key(n))
    qtbot.keyClick(clips.view(), Qt.Key.Key_Delete)
    assert removed == [key(n)]
    assert clips.keys() == [e.key for e in MIXED]  # the list itself removes nothing: the window decides


def test_delete_with_nothing_selected_asks_nothing(qtbot, clips) -> None:
    removed = recorder(clips.removeRequested)
    clips.view().clearSelection()
    qtbot.keyClick(clips.view(), Qt.Key.Key_Delete)
    assert removed == []


def test_delete_reaches_the_list_even_when_the_window_has_a_delete_shortcut(qtbot) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    clips = ClipList()
    clips.set_clips(MIXED)
    window.setCentralWidget(clips)
    fired = []
    action = QAction("Window delete", window)
    action.setShortcut(QKeySequence(Qt.Key.Key_Delete))
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    action.triggered.connect(lambda: fired.append(True))
    window.addAction(action)
    window.show()
    with qtbot.waitActive(window):  # a window shortcut only fires in the active window
        window.activateWindow()
    removed = recorder(clips.removeRequested)
    clips.add_button.setFocus()
    qtbot.keyClick(clips.add_button, Qt.Key.Key_Delete)  # with the focus elsewhere the shortcut is live
    assert fired == [True]
    clips.view().setFocus()
    clips.view().setCurrentIndex(row_index(clips, key(0)))
    qtbot.keyClick(clips.view(), Qt.Key.Key_Delete)
    assert removed == [key(0)]
    assert fired == [True]


def test_add_button_asks_for_a_clip(qtbot, clips) -> None:
    asked = []
    clips.addRequested.connect(lambda: asked.append(True))
    qtbot.mouseClick(clips.add_button, LEFT)
    assert asked == [True]
    assert clips.title.text() == "Clips (6)"


# --- context menu -------------------------------------------------------------------------------------
def capture_menus(clips: ClipList, monkeypatch) -> list[QMenu]:
    """Menus the list would show, kept instead of run (a real ``exec`` would block the test)."""
    shown: list[QMenu] = []
    build = clips.context_menu

    def build_and_capture(k: str) -> QMenu:
        menu = build(k)
        menu.exec = lambda *args: shown.append(menu)
        return menu

    monkeypatch.setattr(clips, "context_menu", build_and_capture)
    return shown


def right_click(clips: ClipList, pos: QPoint) -> None:
    """A context-menu event at ``pos`` in the viewport, as the platform sends after a right click."""
    viewport = clips.view().viewport()
    QApplication.sendEvent(viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, viewport.mapToGlobal(pos)))


def open_context_menu(clips: ClipList, k: str, monkeypatch) -> QMenu:
    shown = capture_menus(clips, monkeypatch)
    right_click(clips, clips.row_rect(k).center())
    assert len(shown) == 1
    return shown[0]


def test_context_menu_of_a_missing_clip_locates_or_removes_it(qtbot, clips, monkeypatch) -> None:
    located, removed = recorder(clips.locateRequested), recorder(clips.removeRequested)
    menu = open_context_menu(clips, key(1), monkeypatch)
    actions = {a.text(): a for a in menu.actions()}
    assert set(actions) == {"Locate file…", "Remove from session"}
    actions["Locate file…"].trigger()
    assert located == [key(1)] and removed == []
    actions["Remove from session"].trigger()
    assert removed == [key(1)]


def test_context_menu_of_a_present_clip_only_removes(qtbot, clips, monkeypatch) -> None:
    removed = recorder(clips.removeRequested)
    menu = open_context_menu(clips, key(3), monkeypatch)
    assert [a.text() for a in menu.actions()] == ["Remove from session"]
    menu.actions()[0].trigger()
    assert removed == [key(3)]


def test_context_menu_on_empty_space_shows_nothing(qtbot, clips, monkeypatch) -> None:
    shown = capture_menus(clips, monkeypatch)
    below = QPoint(10, clips.view().viewport().height() - 2)
    assert not clips.view().indexAt(below).isValid()
    right_click(clips, below)
    assert shown == []
    right_click(clips, clips.row_rect(key(0)).center())
    assert len(shown) == 1  # the same path does show a menu over a row


# --- step ---------------------------------------------------------------------------------------------
def test_step_walks_ready_clips_only_and_wraps(clips) -> None:
    chosen = recorder(clips.clipChosen)
    clips.set_current(key(0))
    assert clips.step(1) == key(3)  # skips missing 1 and loading 2
    assert clips.step(-1) == key(5)  # wraps backwards
    assert clips.step(2) == key(5)  # skips error 4 too
    clips.set_current(key(3))
    assert clips.step(1) == key(5)
    assert clips.step(-1) == key(0)
    clips.set_current(key(5))
    assert clips.step(1) == key(0)  # wraps forwards
    assert clips.step(5) == key(3)  # more steps than ready clips keep wrapping: 0, 3, 5, 0, 3
    assert clips.step(3) is None  # once round lands on the clip already on screen
    assert chosen == []  # step only answers; the window opens the clip


def test_step_from_a_clip_that_is_not_ready_or_from_none(clips) -> None:
    clips.set_current(key(2))  # loading
    assert (clips.step(1), clips.step(-1)) == (key(3), key(0))
    clips.set_current(key(4))  # error, between 3 and 5
    assert (clips.step(1), clips.step(-1)) == (key(5), key(3))
    clips.set_current(None)
    assert (clips.step(1), clips.step(-1)) == (key(0), key(5))


def test_step_is_none_when_no_other_clip_is_ready(clips) -> None:
    clips.set_clips([entry(0), entry(1, "missing"), entry(2, "loading")])
    clips.set_current(key(0))
    assert clips.step(1) is None and clips.step(-1) is None
    clips.set_clips([entry(1, "missing"), entry(2, "loading")])
    assert clips.step(1) is None
    clips.set_clips([])
    assert clips.step(1) is None and clips.step(-1) is None


# --- content --------------------------------------------------------------------------------------------
def test_set_clips_keeps_the_current_clip_where_it_moved(clips) -> None:
    clips.set_current(key(3))
    reordered = [entry(7), MIXED[3], MIXED[0]]
    clips.set_clips(reordered)
    assert clips.keys() == [key(7), key(3), key(0)]
    assert clips.current() == key(3)
    model = clips.view().model()
    assert [model.index(r, 0).data(CURRENT_ROLE) for r in range(3)] == [False, True, False]
    assert clips.view().currentIndex().data(KEY_ROLE) == key(3)
    assert clips.title.text() == "Clips (3)"
    clips.set_clips([entry(7)])
    assert clips.current() is None


def test_set_current_makes_only_that_row_bold(clips) -> None:
    model = clips.view().model()
    font = Qt.ItemDataRole.FontRole
    clips.set_current(key(3))
    assert clips.current() == key(3)
    assert [bool(model.index(r, 0).data(font) and model.index(r, 0).data(font).bold()) for r in range(6)] == [
        False,
        False,
        False,
        True,
        False,
        False,
    ]
    clips.set_current(key(0))
    assert model.index(3, 0).data(font) is None and model.index(0, 0).data(font).bold()


def ink(image: QImage) -> np.ndarray:
    """Bright (text-coloured) pixels of a grab ``[shape=(h, w)]``, bool."""
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    rgb = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    return rgb[:, : image.width(), :3].mean(axis=2) > 150


def test_the_current_row_is_drawn_bold_with_a_marker(qtbot, clips) -> None:
    emitted = recorder(clips.clipChosen)
    view = clips.view()
    rect = clips.row_rect(key(3))
    line = rect.height() // 2  # the name's line; the marker is the first square of it
    marker, name = rect.adjusted(0, 0, -(rect.width() - line), -line), rect.adjusted(line, 0, -80, -line)

    clips.set_current(None)
    plain_name, plain_marker = ink(view.viewport().grab(name).toImage()), view.viewport().grab(marker).toImage()
    clips.set_current(key(3))
    view.clearSelection()  # the same background both times: only the font and the marker may differ
    qtbot.wait(10)
    bold_name, bold_marker = ink(view.viewport().grab(name).toImage()), view.viewport().grab(marker).toImage()

    assert plain_name.sum() > 20  # the name is drawn at all
    assert bold_name.sum() > 1.15 * plain_name.sum()  # heavier strokes
    assert np.flatnonzero(bold_name.any(axis=0)).max() > np.flatnonzero(plain_name.any(axis=0)).max()  # wider
    blue = [bold_marker.pixelColor(x, y) for x in range(bold_marker.width()) for y in range(bold_marker.height())]
    assert any(c.blue() > 180 and c.blue() > c.red() + 60 for c in blue)  # the marker, in the link colour
    assert plain_marker != bold_marker
    assert emitted == []


def test_update_clip_turns_a_loading_row_ready_with_its_duration(qtbot, clips) -> None:
    index = row_index(clips, key(2))
    assert (index.data(DURATION_ROLE), index.data(DETAIL_ROLE)) == ("", "analysing…")
    chosen = recorder(clips.clipChosen)
    click(qtbot, clips, key(2))
    assert chosen == []
    clips.update_clip(entry(2, "ready", 64.25, "metal 0.88"))
    assert clips.keys() == [e.key for e in MIXED]  # replaced in place
    index = row_index(clips, key(2))
    assert (index.data(DURATION_ROLE), index.data(DETAIL_ROLE)) == ("1:04.2", "metal 0.88")
    click(qtbot, clips, key(2))
    assert chosen == [key(2)]


def test_update_clip_appends_an_unknown_clip_and_marks_it_if_current(clips) -> None:
    clips.set_current(key(9))  # the window may open a clip before its row arrives
    clips.update_clip(entry(9, "loading", None))
    assert clips.keys()[-1] == key(9)
    assert clips.title.text() == "Clips (7)"
    assert row_index(clips, key(9)).data(CURRENT_ROLE) is True
    assert clips.view().currentIndex().data(KEY_ROLE) == key(9)


def test_rows_say_what_state_each_clip_is_in(clips) -> None:
    tip = Qt.ItemDataRole.ToolTipRole
    ready, missing, loading = row_index(clips, key(0)), row_index(clips, key(1)), row_index(clips, key(2))
    error = row_index(clips, key(4))
    assert ready.data(DURATION_ROLE) == "0:04.0" and ready.data(DETAIL_ROLE) == "rock 0.93"
    assert missing.data(DETAIL_ROLE).startswith("missing") and "/music/clip1.wav" in missing.data(tip)
    assert loading.data(DETAIL_ROLE) == "analysing…"
    assert "not an audio file" in error.data(tip)


def test_missing_and_failed_rows_are_drawn_grey_and_red(qtbot, clips) -> None:
    clips.view().clearSelection()
    qtbot.wait(10)

    def name_colour(k: str) -> np.ndarray:
        rect = clips.row_rect(k)
        image = clips.view().viewport().grab(rect.adjusted(rect.height() // 2, 0, -80, -rect.height() // 2))
        image = image.toImage().convertToFormat(QImage.Format.Format_RGB32)
        px = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
        px = px[:, : image.width(), 2::-1].reshape(-1, 3).astype(int)  # BGRA in memory -> RGB
        return px[px.sum(axis=1).argmax()]  # the brightest pixel: the text's own colour

    ready, missing, error = name_colour(key(0)), name_colour(key(1)), name_colour(key(4))
    assert ready.min() > 170  # near-white text
    assert missing.max() < ready.min() - 30  # greyed
    assert error[0] > error[1] + 60 and error[0] > error[2] + 60  # red-ish


def test_the_list_is_about_four_rows_tall_and_fits_the_left_column(clips) -> None:
    view = clips.view()
    rows = view.sizeHint().height() / row_height(view.font())
    assert 4 <= rows < 4.5
    assert clips.sizeHint().width() <= 280
    assert clips.row_rect(key(0)).width() == view.viewport().width()  # no sideways scrolling: names elide


def test_bad_input_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="status 'done'"):
        entry(0, "done")
    widget = ClipList()
    with pytest.raises(ValueError, match="twice"):
        widget.set_clips([entry(0), entry(1), entry(0)])
