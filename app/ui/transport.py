"""The bottom bar: play/pause, A/B/R (and C, a compared map), loop, loudness match, volume, device, underflows.

Its buttons show the window's QActions (the same ones the keyboard shortcuts trigger), so a button and its
key can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QWidget,
)

from app.core.display import format_time
from app.core.types import Method, Mode
from app.ui.forms import chosen, select_value, vocabulary_box


def _separator() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.VLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


class TransportBar(QWidget):
    volumeChanged = Signal(float)
    deviceChosen = Signal(str)  # '' = system default
    rescanRequested = Signal()

    def __init__(self, actions: dict[str, QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(6)

        def button(name: str, text: str | None = None, width: int | None = None) -> QToolButton:
            b = QToolButton()
            b.setDefaultAction(actions[name])
            if text is not None:
                b.setText(text)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            if width:
                b.setMinimumWidth(width)
            layout.addWidget(b)
            return b

        self.play = button("play", width=84)
        self.time = QLabel("0:00.000 / 0:00.000")
        self.time.setMinimumWidth(140)
        self.time.setStyleSheet("font-family: monospace;")
        layout.addWidget(self.time)
        layout.addWidget(_separator())
        self.slot_a = button("slot_a")
        self.slot_b = button("slot_b")
        self.slot_r = button("slot_r")
        self.slot_c = button("slot_c")  # shown only while a second map is being compared
        self.slot_c.hide()
        for b in (self.slot_a, self.slot_b, self.slot_r, self.slot_c):
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        layout.addWidget(_separator())
        self.loop = button("loop")
        self.match = button("match")
        self.gain = QLabel("")
        self.gain.setMinimumWidth(100)
        self.gain.setToolTip("Gains applied to A, B and R so that they play equally loud (BS.1770), never clipped")
        layout.addWidget(self.gain)
        layout.addWidget(_separator())
        self.volume_icon = QLabel("Vol")
        layout.addWidget(self.volume_icon)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setFixedWidth(90)
        self.volume.setToolTip("Master volume")
        self.volume_label = QLabel("80 %")
        self.volume_label.setMinimumWidth(40)
        self.volume.valueChanged.connect(self._volume)
        layout.addWidget(self.volume)
        layout.addWidget(self.volume_label)
        layout.addStretch(1)
        self.device = QComboBox()
        self.device.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device.setMinimumContentsLength(14)
        self.device.setToolTip("Output device")
        self.device.activated.connect(lambda _: self.deviceChosen.emit(self.device.currentData() or ""))
        layout.addWidget(self.device)
        self.rescan = QToolButton()
        self.rescan.setText("⟳")
        self.rescan.setToolTip("Look for output devices again")
        self.rescan.clicked.connect(self.rescanRequested.emit)
        layout.addWidget(self.rescan)
        self.underflows = QLabel("underflows 0")
        layout.addWidget(self.underflows)

    def set_time(self, position: float, duration: float) -> None:
        self.time.setText(f"{format_time(position)} / {format_time(duration)}")

    def set_volume(self, volume: float) -> None:
        self.volume.setValue(round(100 * volume))
        self._volume(self.volume.value())

    def _volume(self, value: int) -> None:
        self.volume_label.setText(f"{value} %")
        self.volumeChanged.emit(value / 100.0)

    def set_gain(self, gains: Mapping[str, float] | None, match: bool) -> None:
        """The gains in dB applied to A, B and R (``{"A": -3.5, "B": -5.3}``), or None with no rendering. With
        matching on they make every source equally loud; a negative gain on A means the original was turned
        down so that a rendering could reach its loudness without clipping."""
        if not gains:
            self.gain.setText("")
            self.gain.setToolTip("")
            return
        html = " · ".join(f"{name} {gain:+.1f} dB" for name, gain in gains.items())
        lowered = gains.get("A", 0.0) < 0.0
        if lowered:
            html = f"<span style='color:#ffb74d'>{html}*</span>"
        self.gain.setText(html if match or lowered else f"<span style='color:#777'>{html}</span>")
        if match:
            tip = "A, B and R play equally loud (BS.1770), none above full scale"
        else:
            tip = "Loudness matching is off: each source at its own level, turned down only where it would clip"
        if lowered:
            tip += (
                f"\n* the original is turned down {-gains['A']:.1f} dB: a louder level would push a rendering's peak"
                " over full scale (turning only the rendering down would make it quieter than A)"
            )
        self.gain.setToolTip(tip)

    def set_devices(self, names: list[tuple[str, str]], current: str) -> None:
        """``names``: (label, device name) pairs; ``current``: the device name in use ('' = default)."""
        self.device.blockSignals(True)
        self.device.clear()
        for label, name in names:
            self.device.addItem(label, name)
        index = self.device.findData(current)
        self.device.setCurrentIndex(index if index >= 0 else 0)
        self.device.blockSignals(False)

    def set_underflows(self, playing: int, idle: int = 0) -> None:
        """Underflows while something was playing (audible gaps) and while the stream only ran silence."""
        self.underflows.setText(f"underflows {playing}")
        self.underflows.setStyleSheet("color: #ff8a65; font-weight: 600;" if playing else "")
        self.underflows.setToolTip(
            "Audio blocks the device had to play late (audible gaps) while playing, since start"
            + (f"; {idle} more while paused (silent, not heard)" if idle else "")
        )


class RenderOptions(QWidget):
    """How a map becomes sound: the attribution method and the resynthesis of B (above the views)."""

    modeChanged = Signal(object)  # Mode
    methodChanged = Signal(object)  # Method

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        # B plays a mode chosen here; the residual has its own slot (R), so it is not offered
        self.mode = vocabulary_box((Mode.CHOI, Mode.MAGNITUDE), Mode.CHOI)
        self.mode.setToolTip("How B is resynthesised from the projected map D (the residual is always X − X·D)")
        self.mode.currentIndexChanged.connect(lambda _: self.modeChanged.emit(chosen(self.mode, Mode)))
        self.method = vocabulary_box(Method, Method.DECONVNET)
        self.method.setToolTip("How a map is projected back to the spectrogram (the deconvnet is the paper's)")
        self.method.currentIndexChanged.connect(lambda _: self.methodChanged.emit(chosen(self.method, Method)))
        for widget in (QLabel("Method"), self.method, QLabel("Resynthesis"), self.mode):
            layout.addWidget(widget)

    def set_mode(self, mode: Mode | str) -> None:
        select_value(self.mode, mode)

    def set_method(self, method: Method | str) -> None:
        select_value(self.method, method)

    def current_mode(self) -> Mode:
        return chosen(self.mode, Mode)

    def current_method(self) -> Method:
        return chosen(self.method, Method)
