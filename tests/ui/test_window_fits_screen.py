"""The window fits a 1280-px-wide screen with the Top excerpts panel shown and an excerpt playing (offscreen).

Without a window manager (Xvfb, some kiosks) nothing keeps a window inside the screen. With the transport inside
the central widget beside the dock, the window's minimum width was ~1590 px once the panel showed; with the panel's
playhead beside its buttons (or a long clip name in its status line) it grew further while an excerpt played, and
the panel's rows lay past the screen's edge where they could not be clicked (found by
tests/e2e/test_excerpts_e2e.py on Xvfb's 1280x800).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

SCREEN_WIDTH = 1280


def test_the_window_with_the_panel_shown_and_an_excerpt_playing_fits_1280_px(make_window, qtbot) -> None:
    window = make_window(None, None, wait=False)
    panel = window.excerpts
    panel.show()
    # what playing puts on screen: the panel's playhead, Pause, a long status; the transport's gains
    panel.time_label.setText("0:02.274 / 0:03.969")
    panel.play_button.setText("Pause")
    panel.status.setText("#1 kick_walking_bass_recorded_live_at_the_club_second_set_take_3.wav: rendered in 0.14 s")
    panel.header.setText("Atlas <b>magnatagatune_full_corpus_rebuilt_with_the_retrained_model.atlas</b>: 25863 clips")
    window.transport.set_gain({"A": -1.2, "B": -8.9, "R": -3.0}, True)
    QApplication.processEvents()
    qtbot.waitUntil(lambda: panel.isVisible(), timeout=5000)

    assert window.dockWidgetArea(panel) is Qt.DockWidgetArea.RightDockWidgetArea
    assert window.minimumSizeHint().width() <= SCREEN_WIDTH, window.minimumSizeHint()
    assert panel.minimumSizeHint().width() <= 360, panel.minimumSizeHint()
    # the transport runs under the dock too (its width is the window's, not the central widget's beside the dock)
    left = window.transport.mapTo(window, QPoint(0, 0)).x()
    assert left < panel.x() < left + window.transport.width()
