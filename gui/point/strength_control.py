"""The global strength s beside the picker: W = W_base + s * sum_i w_i Delta_i. 0 is the
base model, 1 the blend, above 1 extrapolates along it. The strip under the slider shows the
paper's zones: interpolation (s <= 1), stable extrapolation (s <= 2), unstable beyond."""
from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QSlider, QStyle, QWidget

from engine.weights import STRENGTH_RANGE, Zone, zone_of

ZONE_STRIP = {Zone.INTERPOLATION: QColor("#9ccc9c"), Zone.STABLE_EXTRAPOLATION: QColor("#f4c65a"),
              Zone.UNSTABLE_EXTRAPOLATION: QColor("#e07070")}
STEPS = 100  # slider steps per unit of strength


class ZoneStrip(QWidget):
    """A thin bar coloured by zone across the strength range, with a tick at the value."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.value = 1.0
        self.inset = 0  # pixels at each end, so the strip spans the slider handle's travel
        self.setFixedHeight(8)

    def sizeHint(self) -> QSize:
        return QSize(200, 8)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        lo, hi = STRENGTH_RANGE
        width = max(1, self.width() - 2 * self.inset)
        for x in range(width):
            s = lo + (hi - lo) * (x + 0.5) / width
            painter.fillRect(QRectF(self.inset + x, 0, 1, self.height()), ZONE_STRIP[zone_of(s)])
        tick = self.inset + (self.value - lo) / (hi - lo) * (width - 1)
        painter.fillRect(QRectF(tick - 1, 0, 2, self.height()), self.palette().text().color())


class StrengthControl(QWidget):
    changed = Signal(float)  # while dragging
    committed = Signal(float)  # released, or changed by keyboard

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lo, hi = STRENGTH_RANGE
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(int(lo * STEPS), int(hi * STEPS))
        self.slider.setSingleStep(5)
        self.slider.setPageStep(25)
        self.slider.setValue(STEPS)
        self.slider.setToolTip("Strength: 0 is the base model, 1 the blend, above 1 extrapolates "
                               "(amber: stable, red: unstable)")
        self.slider.setAccessibleName("Strength")
        self.label = QLabel()
        self.label.setMinimumWidth(150)
        self.strip = ZoneStrip()
        self.strip.inset = self.slider.style().pixelMetric(QStyle.PixelMetric.PM_SliderLength) // 2
        layout = QGridLayout(self)  # the strip sits right under the slider's track
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setVerticalSpacing(1)
        layout.addWidget(QLabel("Strength"), 0, 0)
        layout.addWidget(self.slider, 0, 1)
        layout.addWidget(self.label, 0, 2)
        layout.addWidget(self.strip, 1, 1)
        layout.setColumnStretch(1, 1)
        self.slider.valueChanged.connect(self._moved)
        self.slider.sliderReleased.connect(lambda: self.committed.emit(self.value()))
        self._moved(self.slider.value())

    def value(self) -> float:
        return self.slider.value() / STEPS

    def set_value(self, strength: float, emit: bool = True) -> None:
        """Move the slider; ``emit=False`` updates the display without announcing a change."""
        blocked = self.signalsBlocked()
        self.blockSignals(not emit)
        self.slider.setValue(round(strength * STEPS))
        self.blockSignals(blocked)

    def _moved(self, _raw: int) -> None:
        s = self.value()
        zone = zone_of(s)
        what = "base model" if s == 0 else "blend" if s == 1 else zone.label
        self.label.setText(f"{s:.2f} · {what}")
        self.strip.value = s
        self.strip.update()
        self.changed.emit(s)
        if not self.slider.isSliderDown():
            self.committed.emit(s)
