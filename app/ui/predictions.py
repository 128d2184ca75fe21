"""Above the views: what the model says about the whole clip (its top labels, as bars)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

TOP = 5
MIN_CELL_PX = 130


class PredictionStrip(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scores: list[tuple[str, float]] = []
        self._caption = "Model's prediction: no clip analysed yet"
        self._output = "softmax"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(600, 30)

    def set_predictions(self, scores: list[tuple[str, float]], output: str, task: str) -> None:
        self._scores = list(scores)[:TOP]
        self._output = output
        kind = "probabilities" if output == "softmax" else ("tag scores" if output == "sigmoid" else "outputs")
        self._caption = "Model hears:" if scores else "This model has no classifier head"
        tip = "\n".join(f"{score:7.3f}  {label}" for label, score in scores)
        heading = f"{task}\n" if task else ""
        summary = f"{heading}All {len(scores)} {kind}, averaged over the clip's windows:\n{tip}"
        self.setToolTip(summary if scores else "")
        self.update()

    def set_pending(self) -> None:
        """While the clip's predictions are being computed (after its first map is playable)."""
        self._scores = []
        self._caption = "Model hears: …"
        self.setToolTip("The model's predictions for the whole clip are being computed.")
        self.update()

    def clear(self) -> None:
        self._scores = []
        self._caption = "Model's prediction: no clip analysed yet"
        self.setToolTip("")
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        h = self.height()
        fm = p.fontMetrics()
        p.setPen(QColor("#b8b8c4"))
        caption_w = fm.horizontalAdvance(self._caption) + 12
        p.drawText(QRectF(4, 0, caption_w, h), Qt.AlignmentFlag.AlignVCenter, self._caption)
        if not self._scores:
            return
        x = 4 + caption_w
        available = max(100, self.width() - x - 4)
        shown = self._scores[: max(1, min(len(self._scores), int(available // MIN_CELL_PX)))]
        cell = available / len(shown)
        top = max(abs(s) for _, s in shown) or 1.0
        for i, (label, score) in enumerate(shown):
            r = QRectF(x + i * cell + 2, 4, cell - 6, h - 8)
            p.fillRect(r, QColor(40, 40, 52))
            share = max(0.0, min(1.0, score if self._output in ("softmax", "sigmoid") else score / top))
            p.fillRect(
                QRectF(r.left(), r.top(), r.width() * share, r.height()),
                QColor(80, 130, 210) if i else QColor(240, 140, 60),
            )
            p.setPen(QColor("#f0f0f4"))
            value = f"{100 * score:.0f} %" if self._output in ("softmax", "sigmoid") else f"{score:.2f}"
            value_w = fm.horizontalAdvance(value) + 8
            name = fm.elidedText(label.replace("_", " "), Qt.TextElideMode.ElideRight, int(r.width() - value_w - 12))
            p.drawText(r.adjusted(6, 0, -6, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name)
            p.drawText(r.adjusted(6, 0, -6, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, value)
