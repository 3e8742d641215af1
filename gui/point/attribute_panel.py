"""The paper's attribute form: one alpha slider per attribute between its two poles, plus
mixing weights lambda across attributes. Every shipped pair is listed with a tick box; ticking
one asks the window to load its two poles, unticking to unload them."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QGroupBox, QLabel, QSlider, QVBoxLayout, QWidget

from engine.weights import Attribute
from ..layouts import clear_layout

SCALE = 100  # slider units per 1.0


class AttributePanel(QWidget):
    """Emits the (alphas, lambdas) pair whenever a slider moves."""

    changed = Signal(object, object)
    committed = Signal()
    pairToggled = Signal(object, bool)  # an Attribute of the catalogue, ticked or not

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.attributes: list[Attribute] = []  # the pairs whose poles are loaded
        self.catalogue: list[Attribute] = []  # every pair a writer can tick
        self._alpha: list[QSlider] = []
        self._lambda: list[QSlider] = []
        self._labels: list[QLabel] = []
        self.extrapolate = QCheckBox("Allow extrapolation (alpha in [-1, 2])")
        self._grid = QGridLayout()
        self._pairs = QGroupBox("Attribute pairs")
        self._pairs.setToolTip("Tick a pair to load its two poles; its alpha slider moves between them")
        self._pair_boxes: dict[str, QCheckBox] = {}
        QVBoxLayout(self._pairs)
        self._empty = QLabel("Tick an attribute pair above to load its two poles and move "
                             "between them.")
        self._empty.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self._pairs)
        layout.addWidget(self._empty)
        layout.addLayout(self._grid)
        layout.addWidget(self.extrapolate)
        layout.addStretch(1)
        self.extrapolate.toggled.connect(self._range)

    def set_catalogue(self, attributes: list[Attribute]) -> None:
        """The pairs a writer can tick (the shipped ones)."""
        box_layout = self._pairs.layout()
        assert box_layout is not None  # set in __init__
        for box in self._pair_boxes.values():
            box_layout.removeWidget(box)
            box.deleteLater()
        self._pair_boxes = {}
        self.catalogue = list(attributes)
        for attr in attributes:
            box = QCheckBox(f"{attr.name}: {attr.minus} ↔ {attr.plus}")
            box.toggled.connect(lambda on, a=attr: self.pairToggled.emit(a, on))
            box_layout.addWidget(box)
            self._pair_boxes[attr.name] = box
        self.refresh_ticks()

    def refresh_ticks(self) -> None:
        """Tick exactly the pairs whose poles are loaded."""
        active = {a.name for a in self.attributes}
        for name, box in self._pair_boxes.items():
            box.blockSignals(True)
            box.setChecked(name in active)
            box.blockSignals(False)

    def set_loaded(self, names: set[str]) -> None:
        """The catalogue's pairs whose two poles are among the loaded anchors get sliders."""
        self.set_attributes([a for a in self.catalogue if a.plus in names and a.minus in names])

    def set_attributes(self, attributes: list[Attribute]) -> None:
        clear_layout(self._grid)
        self.attributes, self._alpha, self._lambda, self._labels = list(attributes), [], [], []
        self._empty.setVisible(not attributes)
        self.refresh_ticks()
        for row, attr in enumerate(attributes):
            alpha = self._slider(50)
            lam = self._slider(round(100 / len(attributes)))
            lam.setRange(0, 100)
            label = QLabel()
            self._grid.addWidget(QLabel(f"<b>{attr.name}</b>"), row * 2, 0)
            self._grid.addWidget(QLabel(attr.minus), row * 2, 1)
            self._grid.addWidget(alpha, row * 2, 2)
            self._grid.addWidget(QLabel(attr.plus), row * 2, 3)
            self._grid.addWidget(QLabel("lambda"), row * 2 + 1, 1)
            self._grid.addWidget(lam, row * 2 + 1, 2)
            self._grid.addWidget(label, row * 2 + 1, 3)
            self._alpha.append(alpha)
            self._lambda.append(lam)
            self._labels.append(label)
        self._range()
        self._emit()

    def _slider(self, value: int) -> QSlider:
        s = QSlider(Qt.Orientation.Horizontal)
        s.setRange(0, SCALE)
        s.setValue(value)
        s.valueChanged.connect(self._emit)
        s.sliderReleased.connect(self.committed)
        return s

    def _range(self) -> None:
        lo, hi = (-SCALE, 2 * SCALE) if self.extrapolate.isChecked() else (0, SCALE)
        for s in self._alpha:
            s.setRange(lo, hi)

    def values(self) -> tuple[list[float], list[float]]:
        alphas = [s.value() / SCALE for s in self._alpha]
        raw = [s.value() for s in self._lambda]
        total = sum(raw)
        lambdas = [r / total for r in raw] if total else [1 / len(raw)] * len(raw) if raw else []
        return alphas, lambdas

    def _emit(self) -> None:
        alphas, lambdas = self.values()
        for label, a, l in zip(self._labels, alphas, lambdas):
            label.setText(f"alpha {a:.2f}, lambda {l:.2f}")
        self.changed.emit(alphas, lambdas)
