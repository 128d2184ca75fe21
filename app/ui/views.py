"""The centre of the window: three stacked, time-synced pyqtgraph views on one log-frequency axis.

Original spectrogram, the auralised feature's spectrogram (or the residual's), and the feature's activation
map. One playhead across all three; left-drag on any view sets the loop region, a click seeks, the wheel
zooms time (Ctrl+wheel: frequency), Shift+drag or the middle button pans; all three follow each other.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from app.core.display import LogFrequencyGrid, db_levels, format_hz, format_time

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background="#16161c", foreground="#c8c8d0")

SPECTROGRAM_MAP = "inferno"
ACTIVATION_MAP = "viridis"
AXIS_WIDTH = 62
BAR_WIDTH = 14
PLAYHEAD_PEN = pg.mkPen("#7df9ff", width=2)
LOOP_BRUSH = pg.mkBrush(125, 249, 255, 40)
NICE_HZ = (20, 30, 50, 100, 200, 300, 500, 1000, 2000, 3000, 5000, 10000, 20000)
PREFERRED_HZ = (100, 1000, 10000, 50, 500, 5000)
MIN_TICK_PX = 16


class LogFrequencyAxis(pg.AxisItem):
    """A y axis in log2(Hz) units labelled in Hz at round frequencies."""

    def tickValues(self, minVal: float, maxVal: float, size: float):
        """Round frequencies, thinned so labels stay at least ``MIN_TICK_PX`` apart (preferring 100 Hz, 1 kHz...)."""
        inside = [f for f in NICE_HZ if minVal <= math.log2(f) <= maxVal]
        px_per_unit = size / max(maxVal - minVal, 1e-9)
        kept: list[float] = []
        for f in sorted(inside, key=lambda f: (f not in PREFERRED_HZ, f)):
            y = math.log2(f)
            if all(abs(y - k) * px_per_unit >= MIN_TICK_PX for k in kept):
                kept.append(y)
        return [(1.0, sorted(kept))]

    def tickStrings(self, values, scale, spacing):
        return [format_hz(2**v).replace(" Hz", "").replace(" kHz", "k") for v in values]


class TimeViewBox(pg.ViewBox):
    """Left-drag: loop region; click: seek; wheel: zoom time, Ctrl+wheel: zoom frequency; Shift-drag: pan."""

    seekRequested = Signal(float)
    loopDragged = Signal(float, float, bool)  # start, end, finished

    def __init__(self) -> None:
        super().__init__(enableMenu=True)
        self._drag_start: float | None = None

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == Qt.MouseButton.LeftButton and not (ev.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            ev.accept()
            if ev.isStart():
                self._drag_start = self.mapToView(ev.buttonDownPos()).x()
            if self._drag_start is None:
                return
            x = self.mapToView(ev.pos()).x()
            a, b = sorted((self._drag_start, x))
            self.loopDragged.emit(a, b, bool(ev.isFinish()))
            if ev.isFinish():
                self._drag_start = None
            return
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()  # Shift + left: pan in time like the middle button
            if not ev.isStart():
                delta = self.mapToView(ev.lastPos()).x() - self.mapToView(ev.pos()).x()
                self.translateBy(x=delta)
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.seekRequested.emit(self.mapToView(ev.pos()).x())
            return
        super().mouseClickEvent(ev)

    def wheelEvent(self, ev, axis=None):
        ctrl = bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier)
        super().wheelEvent(ev, axis=1 if ctrl else 0)


class Pane(pg.PlotWidget):
    """One view: an image on the shared axes, a playhead, a loop region and a colour bar."""

    def __init__(self, title: str, colormap: str, bar_label: str, show_time_axis: bool) -> None:
        self.vb = TimeViewBox()
        super().__init__(viewBox=self.vb, axisItems={"left": LogFrequencyAxis("left")})
        item = self.getPlotItem()
        item.setMenuEnabled(True)
        item.hideButtons()
        left = item.getAxis("left")
        left.setWidth(AXIS_WIDTH)
        left.setLabel("Hz")
        if show_time_axis:
            item.getAxis("bottom").setLabel("time", units="s")
        else:
            item.getAxis("bottom").setStyle(showValues=False)
            item.getAxis("bottom").setHeight(6)
        self.title = title
        item.setTitle(title, size="9pt", justify="left")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setAutoDownsample(True)
        item.addItem(self.image)
        self.colormap = pg.colormap.get(colormap)
        self.image.setColorMap(self.colormap)
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=self.colormap, label=bar_label, width=BAR_WIDTH)
        self.bar.setImageItem(self.image, insert_in=item)
        self.playhead = pg.InfiniteLine(0.0, angle=90, movable=True, pen=PLAYHEAD_PEN, hoverPen=pg.mkPen("w", width=3))
        self.playhead.setZValue(20)
        item.addItem(self.playhead)
        self.region = pg.LinearRegionItem((0, 1), orientation="vertical", brush=LOOP_BRUSH, movable=True)
        self.region.setZValue(10)
        self.region.hide()
        item.addItem(self.region)
        self.data: np.ndarray | None = None
        self.extent = QRectF()
        self.setMinimumHeight(90)

    def set_title(self, text: str) -> None:
        self.title = text
        self.getPlotItem().setTitle(text, size="9pt", justify="left")

    def show_array(self, data: np.ndarray | None, rect: QRectF | None = None, levels=None) -> None:
        self.data = data
        if data is None or data.size == 0:
            self.image.clear()
            return
        self.extent = rect if rect is not None else self.extent
        self.image.setImage(data, autoLevels=False)
        self.image.setRect(self.extent)
        lo, hi = levels if levels is not None else (float(np.min(data)), float(np.max(data)))
        if hi <= lo:
            hi = lo + 1.0
        self.bar.setLevels((lo, hi))

    def value_at(self, x: float, y: float) -> float | None:
        """The shown value at data coordinates (s, log2 Hz), or None outside the image."""
        if self.data is None or not self.extent.contains(x, y):
            return None
        rows, cols = self.data.shape
        c = int((x - self.extent.left()) / self.extent.width() * cols)
        r = int((y - self.extent.top()) / self.extent.height() * rows)
        if 0 <= r < rows and 0 <= c < cols:
            return float(self.data[r, c])
        return None


class SpectrogramStack(QWidget):
    """Original / auralised / activation, stacked in a splitter so the user can give each its height."""

    seekRequested = Signal(float)
    loopChanged = Signal(object)  # (start_s, end_s) or None
    hoverText = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.original = Pane("Original", SPECTROGRAM_MAP, "dB", show_time_axis=False)
        self.feature = Pane("Auralised feature", SPECTROGRAM_MAP, "dB", show_time_axis=False)
        self.activation = Pane("Activation map", ACTIVATION_MAP, "act.", show_time_axis=True)
        self.panes = (self.original, self.feature, self.activation)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        for pane in self.panes:
            self.splitter.addWidget(pane)
        self.splitter.setSizes([300, 300, 200])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        for pane in self.panes[1:]:
            pane.setXLink(self.original)
            pane.setYLink(self.original)
        for pane in self.panes:
            pane.vb.seekRequested.connect(self._seek)
            pane.vb.loopDragged.connect(self._loop_dragged)
            pane.playhead.sigDragged.connect(self._playhead_dragged)
            pane.region.sigRegionChanged.connect(self._region_moved)
            pane.region.sigRegionChangeFinished.connect(self._region_finished)
            pane.scene().sigMouseMoved.connect(lambda pos, p=pane: self._hover(p, pos))
        self.duration = 0.0
        self.grid: LogFrequencyGrid | None = None
        self.follow = True
        self._loop: tuple[float, float] | None = None
        self._syncing = False
        self._placeholder = pg.TextItem(
            "Open an audio file (Ctrl+O) or drop one here", color="#9090a0", anchor=(0.5, 0.5)
        )
        self.original.addItem(self._placeholder)
        self._placeholder.setPos(0.5, 0.5)
        self.original.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)

    # --- content ----------------------------------------------------------------------------------
    def set_clip(self, grid: LogFrequencyGrid, duration: float, frame_seconds: float, original_db: np.ndarray) -> None:
        """A new clip: the original's dB image ``[shape=(grid rows, n_frames)]`` and the axes' extent."""
        self.grid, self.duration = grid, duration
        self.original.removeItem(self._placeholder)
        n_frames = original_db.shape[1]
        rect = QRectF(-0.5 * frame_seconds, grid.y_min, n_frames * frame_seconds, grid.y_max - grid.y_min)
        self.original.show_array(original_db, rect, db_levels(original_db))
        self.feature.show_array(None)
        self.activation.show_array(None)
        for pane in self.panes:
            pane.vb.setLimits(
                xMin=rect.left(), xMax=rect.right(), yMin=grid.y_min, yMax=grid.y_max, minXRange=0.05, minYRange=0.5
            )
        self.original.setRange(xRange=(0, duration), yRange=(grid.y_min, grid.y_max), padding=0)
        self.set_loop(None)
        self.set_playhead(0.0)

    def set_feature(self, display_db: np.ndarray, title: str, frame_seconds: float) -> None:
        rect = QRectF(-0.5 * frame_seconds, self.grid.y_min, display_db.shape[1] * frame_seconds, self._height())
        self.feature.show_array(display_db, rect, db_levels(display_db))
        self.feature.set_title(title)
        self.set_busy(False)

    def set_activation(self, display: np.ndarray, seconds: float, title: str, frame_seconds: float) -> None:
        rect = QRectF(-0.5 * frame_seconds, self.grid.y_min, seconds, self._height())
        top = float(display.max()) if display.size else 1.0
        self.activation.show_array(display, rect, (0.0, top if top > 0 else 1.0))
        self.activation.set_title(title)

    def clear_feature(self, title: str = "Auralised feature") -> None:
        self.feature.show_array(None)
        self.activation.show_array(None)
        self.feature.set_title(title)
        self.activation.set_title("Activation map")

    def set_busy(self, busy: bool, text: str | None = None) -> None:
        """While a render runs the feature and activation views dim and say what is coming."""
        for pane in (self.feature, self.activation):
            pane.image.setOpacity(0.35 if busy else 1.0)
        if busy and text:
            self.feature.set_title(text)

    def _height(self) -> float:
        return self.grid.y_max - self.grid.y_min if self.grid else 1.0

    # --- playhead and loop ----------------------------------------------------------------------------
    def set_playhead(self, seconds: float, playing: bool = False) -> None:
        self._syncing = True
        for pane in self.panes:
            if not pane.playhead.moving:
                pane.playhead.setValue(seconds)
        self._syncing = False
        if playing and self.follow and self.duration > 0:
            (x0, x1), _ = self.original.vb.viewRange()
            width = x1 - x0
            if width < self.duration * 0.98 and not x0 <= seconds <= x1:
                start = min(max(0.0, seconds - 0.05 * width), self.duration - width)
                self.original.setXRange(start, start + width, padding=0)

    def playhead(self) -> float:
        return float(self.original.playhead.value())

    def set_loop(self, region: tuple[float, float] | None) -> None:
        self._loop = region
        self._syncing = True
        for pane in self.panes:
            if region is None:
                pane.region.hide()
            else:
                pane.region.setRegion(region)
                pane.region.show()
        self._syncing = False

    def loop(self) -> tuple[float, float] | None:
        return self._loop

    def _clamp(self, x: float) -> float:
        return min(max(0.0, x), self.duration)

    def _seek(self, x: float) -> None:
        if self.duration > 0:
            self.seekRequested.emit(self._clamp(x))

    def _playhead_dragged(self, line: pg.InfiniteLine) -> None:
        if self._syncing or self.duration <= 0:
            return
        x = self._clamp(line.value())
        self._syncing = True
        for pane in self.panes:
            if pane.playhead is not line:
                pane.playhead.setValue(x)
        self._syncing = False
        self.seekRequested.emit(x)

    def _loop_dragged(self, a: float, b: float, finished: bool) -> None:
        if self.duration <= 0:
            return
        a, b = self._clamp(a), self._clamp(b)
        if b - a < 0.02:
            if finished:
                self._seek(a)
            return
        self.set_loop((a, b))
        if finished:
            self.loopChanged.emit((a, b))

    def _region_moved(self, item: pg.LinearRegionItem) -> None:
        if self._syncing:
            return
        a, b = item.getRegion()
        self._syncing = True
        for pane in self.panes:
            if pane.region is not item:
                pane.region.setRegion((a, b))
        self._syncing = False

    def _region_finished(self, item: pg.LinearRegionItem) -> None:
        if self._syncing or not item.isVisible():
            return
        a, b = (self._clamp(v) for v in item.getRegion())
        if b - a >= 0.02:
            self._loop = (a, b)
            self.loopChanged.emit((a, b))

    # --- read-out ------------------------------------------------------------------------------------------
    def _hover(self, pane: Pane, pos) -> None:
        if self.grid is None or not pane.vb.sceneBoundingRect().contains(pos):
            return
        point = pane.vb.mapSceneToView(pos)
        x, y = point.x(), point.y()
        if not (0 <= x <= self.duration and self.grid.y_min <= y <= self.grid.y_max):
            return
        value = pane.value_at(x, y)
        unit = "" if pane is self.activation else " dB"
        shown = (
            f" · {value:.1f}{unit}" if value is not None and unit else (f" · {value:.3g}" if value is not None else "")
        )
        self.hoverText.emit(f"{format_time(x)} · {format_hz(2**y)}{shown}")
