"""The automation hook: what the window shows, written as JSON to the file ``AURASCOPE_STATE_FILE`` names, for
end-to-end tests and benchmarks that drive the real process from outside (xdotool, a launcher).

Installed only when that variable is set (`install_automation`); a normal start creates nothing here.
"""

from __future__ import annotations

import gc
import json
import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget

from app.core.files import write_text
from app.core.types import FeatureRef
from app.playback import Slot
from app.ui.excerpts_panel import RANK

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

STATE_FILE_ENV = "AURASCOPE_STATE_FILE"
INTERVAL_MS = 100


class AutomationHook(QObject):
    """Writes `automation_state` to ``path`` every INTERVAL_MS when it changed."""

    def __init__(self, window: MainWindow, path: str) -> None:
        super().__init__(window)
        self.window = window
        self.path = path
        self._text = ""
        self.timer = QTimer(self)
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self.write)
        self.timer.start()

    def write(self) -> None:
        text = json.dumps(automation_state(self.window), sort_keys=True)
        if text != self._text:
            write_text(self.path, text)
            self._text = text


def install_automation(window: MainWindow) -> AutomationHook | None:
    """The hook, if ``AURASCOPE_STATE_FILE`` names a file; else None."""
    path = os.environ.get(STATE_FILE_ENV)
    return AutomationHook(window, path) if path else None


def automation_state(window: MainWindow) -> dict:
    """Where things are and what is ready, for tests that drive the real process from outside."""
    maps = {}
    for layer in window.summary.layers if window.summary else ():
        for k in range(layer.n_maps):
            rect = window.tree.visual_rect(FeatureRef(layer.number, k))
            if rect is not None and window.tree.view.viewport().rect().contains(rect.center()):
                centre = window.tree.view.viewport().mapToGlobal(rect.center())
                maps[f"L{layer.number}F{k}"] = [centre.x(), centre.y()]
    return {
        "pid": os.getpid(),
        "window_id": int(window.winId()),
        "shown_at": window.shown_at,
        "painted_at": window.painted_at,
        "opened_at": window.opened_at,
        "first_ready_at": window.first_ready_at,
        "collector": {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()},
        "findings_ready": window.clip is not None and window.clip.findings is not None,
        "model": str(window.summary.path) if window.summary else None,
        "clip": str(window.clip.path) if window.clip else None,
        "selected": str(window.selected) if window.selected else None,
        "feature_ready": str(window.feature.ref) if window.feature else None,
        "residual_ready": window.residual is not None,
        "device_rate": window.engine.sample_rate,
        "device_ok": window._device_ok,
        "playing": window.engine.is_playing,
        "slot": window.engine.selected.value,
        "position": round(window.engine.position(), 4),
        "underflows": window.underflows_playing,
        "underflows_idle": window.underflows_idle,
        "busy": not window.worker.idle,
        "maps": maps,
        "panes": {
            name: _global_rect(pane, pane.mapFromScene(pane.vb.sceneBoundingRect()).boundingRect())
            for name, pane in (
                ("original", window.stack.original),
                ("feature", window.stack.feature),
                ("activation", window.stack.activation),
            )
        },
        "error": window.last_error,
        "banner": window.banner.isVisible(),
        "model_banner": window.model_banner.isVisible(),
        "session": str(window.session.path) if window.session.path else None,
        "session_dirty": window.session.dirty,
        "clips": [e.name for e in window.clip_entries.values()],
        "compare": str(window.compare) if window.compare else None,
        "restore_offered": window.restore_box is not None,
        "excerpts": excerpts_state(window),
    }


def excerpts_state(window: MainWindow) -> dict:
    """The Top excerpts panel: whether it shows, its table's rectangle (global, for screenshots), the map it lists,
    its rows (rank, clip, the screen centre of the row's rank cell, which stays in view and which a click does not
    open in the main views as one on the clip's name does, and whether the row's audio is loaded), and its own
    playback (slot, gains in dB, volume, position in s)."""
    panel, engine = window.excerpts, window.excerpt_engine
    view = panel.table.viewport()
    loaded = panel.loaded.excerpt.key if panel.loaded is not None else None
    rows = []
    for i in range(panel.table.topLevelItemCount()):
        item = panel.table.topLevelItem(i)
        excerpt = panel._excerpt_of(item)
        rect = panel.table.visualRect(panel.table.indexFromItem(item, RANK))
        if excerpt is None or not view.rect().contains(rect.center()):
            continue
        centre = view.mapToGlobal(rect.center())
        rows.append(
            {
                "rank": excerpt.rank,
                "clip": str(excerpt.clip_path),
                "start": excerpt.start_s,
                "centre": [centre.x(), centre.y()],
                "ready": excerpt.key == loaded,
            }
        )
    return {
        "visible": panel.isVisible(),
        "atlas": str(panel.atlas.path) if panel.atlas else None,
        "map": str(panel.ref) if panel.ref else None,
        "listed": panel.status.text().endswith("first"),
        "status": panel.status.text(),
        "table": _global_rect(view, view.rect()),
        "rows": rows,
        "loaded_rank": panel.loaded.excerpt.rank if panel.loaded is not None else None,
        "playing": engine.is_playing,
        "slot": engine.selected.value,
        "gains_db": {slot.value: engine.slot_gain_db(slot) for slot in (Slot.A, Slot.B)},
        "volume": engine.volume,
        "position": round(engine.position(), 4),
        "device_rate": engine.sample_rate,
        "crossfade_samples": engine.crossfade_samples,
        "switch_sample": engine.mixer.last_switch_sample,
        "underflows": engine.underflows,
        "heard_underflows": engine.heard_underflows,
        "device_error": str(engine.device_error) if engine.device_error else None,
    }


def _global_rect(widget: QWidget, rect) -> list[int]:
    top_left = widget.mapToGlobal(rect.topLeft())
    return [top_left.x(), top_left.y(), rect.width(), rect.height()]
