"""The right-hand panel: which feature this is, the user's label and notes, its figures and its kernel."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.display import format_hz
from app.core.types import FeatureRef
from app.ui.compute import Auralisation, LayerSummary
from app.ui.images import kernel_mosaic


def _db(value: float, unit: str = "dB") -> str:
    return f"{value:+.1f} {unit}" if math.isfinite(value) else "silent"


def _lufs(value: float) -> str:
    return f"{value:.1f} LUFS" if math.isfinite(value) else "silent"


class Inspector(QWidget):
    """Emits ``annotationChanged(ref, label, notes)`` shortly after the user stops typing, ``ratingChanged(ref,
    rating or None)`` on a click of the stars."""

    annotationChanged = Signal(object, str, str)
    ratingChanged = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(280)
        self._ref: FeatureRef | None = None
        self.heading = QLabel("No feature selected")
        self.heading.setStyleSheet("font-size: 13pt; font-weight: 600;")
        self.subheading = QLabel("")
        self.subheading.setStyleSheet("color: #9a9aa8;")
        self.subheading.setWordWrap(True)
        self.label = QLineEdit()
        self.label.setPlaceholderText("your name for this feature, e.g. 'kick onsets'")
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("notes (saved in the session)")
        self.notes.setFixedHeight(70)
        self.label.setEnabled(False)
        self.notes.setEnabled(False)
        self._rating: int | None = None
        stars = QWidget()
        stars_layout = QHBoxLayout(stars)
        stars_layout.setContentsMargins(0, 0, 0, 0)
        stars_layout.setSpacing(0)
        self.stars: list[QToolButton] = []
        for value in range(1, 6):
            star = QToolButton()
            star.setAutoRaise(True)
            star.setToolTip(f"Rate {value} of 5 (click the same star again to clear)")
            star.clicked.connect(lambda _=False, v=value: self._star_clicked(v))
            star.setEnabled(False)
            stars_layout.addWidget(star)
            self.stars.append(star)
        stars_layout.addStretch(1)
        self._show_stars()
        self.suggested = QLabel("")
        self.suggested.setWordWrap(True)
        self.suggested.setTextFormat(Qt.TextFormat.RichText)
        self.suggested.setToolTip("Suggested by Analyse › Characterise maps; never written into your label")
        self.use_tag = QPushButton("Use as label")
        self.use_tag.setToolTip("Copy the first suggested tag into the label")
        self.use_tag.clicked.connect(self._use_tag)
        self.use_tag.hide()
        self._tags: list[str] = []
        self.abx = QLabel("")
        self.abx.setWordWrap(True)

        notes_box = QGroupBox("Label and notes")
        form = QFormLayout(notes_box)
        form.addRow("Label", self.label)
        form.addRow("Rating", stars)
        form.addRow("Notes", self.notes)
        form.addRow("Suggested", self.suggested)
        form.addRow("", self.use_tag)
        form.addRow("A/B/X", self.abx)

        self.figures: dict[str, QLabel] = {}
        figures_box = QGroupBox("On this clip")
        fig_form = QFormLayout(figures_box)
        fig_form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        for key, title, tip in (
            (
                "energy",
                "Activation energy",
                "mean squared activation of this map over the clip (from the forward pass)",
            ),
            ("share", "Rank in layer", "by activation energy"),
            ("peak", "Peak activation", "largest activation, and where in time and frequency it is"),
            ("loudness", "Rendering loudness", "BS.1770 integrated loudness of the auralised feature"),
            ("reference", "Original loudness", "BS.1770 integrated loudness of the clip"),
            ("gain", "Gain to match", "what loudness matching applies to B"),
            ("level", "RMS / peak", "raw level of the rendering, before any matching gain (may exceed 0 dBFS)"),
            ("centroid", "Spectral centroid", "power-weighted mean frequency of the auralised spectrogram"),
            ("negative", "Negative mask", "share of the deconvolved map below zero (flips the phase in Choi mode)"),
            ("render", "Render time", "deconvolution + resynthesis on the worker"),
        ):
            value = QLabel("–")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            name = QLabel(title)
            name.setToolTip(tip)
            value.setToolTip(tip)
            fig_form.addRow(name, value)
            self.figures[key] = value

        kernel_box = QGroupBox("Kernel")
        kernel_layout = QVBoxLayout(kernel_box)
        self.kernel = QLabel()
        self.kernel.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.kernel_caption = QLabel("")
        self.kernel_caption.setWordWrap(True)
        self.kernel_caption.setStyleSheet("color: #9a9aa8;")
        kernel_layout.addWidget(self.kernel)
        kernel_layout.addWidget(self.kernel_caption)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.subheading)
        layout.addWidget(notes_box)
        layout.addWidget(figures_box)
        layout.addWidget(kernel_box)
        layout.addStretch(1)

        self._save = QTimer(self)
        self._save.setSingleShot(True)
        self._save.setInterval(400)
        self._save.timeout.connect(self._emit_annotation)
        self.label.textEdited.connect(lambda _: self._save.start())
        self.notes.textChanged.connect(self._notes_changed)
        self._loading = False

    # --- content -----------------------------------------------------------------------------------------
    def show_energy(self, energy: float | None, rank: str) -> None:
        """The map's activation energy and its rank in its layer; "…" in both while the clip's findings are
        being computed (after its first map is playable)."""
        if energy is not None:
            self.figures["energy"].setText(f"{energy:.4g}")
            self.figures["share"].setText(rank)
        elif rank == "…":
            self.figures["energy"].setText("…")
            self.figures["share"].setText("…")

    def show_feature(
        self,
        ref: FeatureRef | None,
        layer: LayerSummary | None,
        label: str,
        notes: str,
        energy: float | None,
        rank: str,
        rating: int | None = None,
    ) -> None:
        self.flush()
        self._ref = ref
        self._loading = True
        enabled = ref is not None
        self.label.setEnabled(enabled)
        self.notes.setEnabled(enabled)
        self.label.setText(label if enabled else "")
        self.notes.setPlainText(notes if enabled else "")
        self._loading = False
        self._rating = rating if enabled else None
        for star in self.stars:
            star.setEnabled(enabled)
        self._show_stars()
        self.show_suggestions([])
        self.abx.setText("")
        for value in self.figures.values():
            value.setText("–")
        if ref is None or layer is None:
            self.heading.setText("No feature selected")
            self.subheading.setText("Pick a map in the tree (arrow keys move through maps and layers).")
            self.kernel.clear()
            self.kernel_caption.setText("")
            return
        self.heading.setText(f"Layer {ref[0]} · map {ref[1]}")
        size = f", kernel {layer.kernels.shape[-2]}×{layer.kernels.shape[-1]}" if layer.kernels is not None else ""
        self.subheading.setText(f"{layer.name}, {layer.n_maps} maps{size}")
        self.show_energy(energy, rank)
        if layer.kernels is None:
            self.kernel.clear()
            self.kernel_caption.setText("This network's layer is not one plain convolution: no kernel to show.")
            return
        kernels = layer.kernels[ref[1]]
        pixmap, top = kernel_mosaic(kernels, width=230)
        self.kernel.setPixmap(pixmap)
        if kernels.shape[0] == 1:
            self.kernel_caption.setText(
                f"The {kernels.shape[-2]}×{kernels.shape[-1]} filter on the spectrogram (frequency up, time right); "
                f"blue − / red +, ±{top:.3g}."
            )
        else:
            self.kernel_caption.setText(
                f"One {kernels.shape[-2]}×{kernels.shape[-1]} tile per input map of layer {ref[0] - 1} "
                f"({kernels.shape[0]} tiles, row by row); blue − / red +, ±{top:.3g}."
            )

    def show_rendering(self, result: Auralisation) -> None:
        if self._ref != result.ref:
            return
        f = self.figures
        f["peak"].setText(
            f"{result.activation_peak:.3g} at {result.activation_peak_s:.2f} s, {format_hz(result.activation_peak_hz)}"
        )
        f["loudness"].setText(_lufs(result.loudness_lufs))
        f["reference"].setText(_lufs(result.reference_lufs))
        f["gain"].setText(_db(result.gain_db))
        level = f"{result.rms_db:.1f} / {result.peak_db:+.1f} dBFS" if math.isfinite(result.peak_db) else "silent"
        f["level"].setText(level)
        f["centroid"].setText(format_hz(result.centroid_hz))
        f["negative"].setText(f"{100 * result.negative_share:.1f} %")
        f["render"].setText(f"{1000 * result.seconds:.0f} ms")

    def show_suggestions(self, tags: list[tuple[str, str]]) -> None:
        """The machine's tags for this map as (tag, the figure that triggered it), shown apart from the label."""
        self._tags = [tag for tag, _ in tags]
        if not tags:
            self.suggested.setText("<span style='color:#777'>none yet (Analyse › Characterise maps)</span>")
        else:
            rows = (f"<b>{tag}</b> <span style='color:#9a9aa8'>{why}</span>" for tag, why in tags)
            self.suggested.setText("<br>".join(rows))
        self.use_tag.setVisible(bool(tags) and self._ref is not None)

    def show_abx(self, text: str) -> None:
        self.abx.setText(text)

    # --- annotations ---------------------------------------------------------------------------------------
    @property
    def rating(self) -> int | None:
        return self._rating

    def _star_clicked(self, value: int) -> None:
        if self._ref is None:
            return
        self._rating = None if self._rating == value else value
        self._show_stars()
        self.ratingChanged.emit(self._ref, self._rating)

    def _show_stars(self) -> None:
        for value, star in enumerate(self.stars, start=1):
            on = self._rating is not None and value <= self._rating
            star.setText("★" if on else "☆")
            star.setStyleSheet(f"font-size: 15pt; color: {'#ffc04d' if on else '#77778a'};")

    def _use_tag(self) -> None:
        if self._ref is None or not self._tags:
            return
        self.label.setText(self._tags[0])
        self._save.stop()
        self._emit_annotation()

    def _notes_changed(self) -> None:
        if not self._loading:
            self._save.start()

    def flush(self) -> None:
        if self._save.isActive():
            self._save.stop()
            self._emit_annotation()

    def _emit_annotation(self) -> None:
        if self._ref is not None:
            self.annotationChanged.emit(self._ref, self.label.text().strip(), self.notes.toPlainText().strip())
