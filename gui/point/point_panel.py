"""The point: the simplex picker and the attribute sliders, the weights read-out, the
extrapolation switch and presets. It owns which point is current; the window asks it."""
from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QInputDialog, QLabel, QMenu,
                               QPushButton, QTabWidget, QToolButton, QVBoxLayout, QWidget)

from engine.anchors.shipped import ATTRIBUTES
from engine.errors import ProsemixError
from engine.weights import Point, attribute_point, make_point

from .attribute_panel import AttributePanel
from ..layouts import weights_label
from .presets import PresetStore
from .simplex_picker import SimplexPicker
from .strength_control import StrengthControl


class PointPanel(QTabWidget):
    committed = Signal()  # the writer let go of the point (release, key, preset)
    message = Signal(str)  # something to say in the status bar
    pairToggled = Signal(object, bool)  # load (or unload) an attribute pair's two poles

    def __init__(self, presets: PresetStore, parent: QWidget | None = None):
        super().__init__(parent)
        self._store = presets
        self.names: list[str] = []
        self.picker = SimplexPicker()
        self.weights_label = QLabel("")
        self.weights_label.setWordWrap(True)
        self.extrapolate = QCheckBox("Extrapolate (leave the triangle)")
        self.strength = StrengthControl()
        self.presets = QComboBox()
        self.presets.setPlaceholderText("Presets")
        self.save_preset = QPushButton("Save point…")
        # which voices are on the picker: the document's palette (the window fills the menu)
        self.palette_menu = QMenu("Palette", self)
        self.palette_button = QToolButton()
        self.palette_button.setText("Voices on the picker ▾")
        self.palette_button.setToolTip("Choose the voices this document blends (Ctrl+Shift+A); "
                                       "the choice is saved with the document")
        self.palette_button.setMenu(self.palette_menu)
        self.palette_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        simplex_tab = QWidget()
        layout = QVBoxLayout(simplex_tab)
        layout.addWidget(self.palette_button)
        layout.addWidget(self.picker, 1)
        layout.addWidget(self.weights_label)
        layout.addWidget(self.strength)
        layout.addWidget(self.extrapolate)
        row = QHBoxLayout()
        row.addWidget(self.presets, 1)
        row.addWidget(self.save_preset)
        layout.addLayout(row)
        self.attributes = AttributePanel()
        self.attributes.set_catalogue(list(ATTRIBUTES))
        self.attributes.pairToggled.connect(self.pairToggled)
        self.addTab(simplex_tab, "Simplex")
        self.addTab(self.attributes, "Attributes")
        self.picker.weightsChanged.connect(self.show_weights)
        self.picker.weightsCommitted.connect(lambda *_: self.committed.emit())
        self.attributes.changed.connect(lambda *_: self.show_weights(self.weights()))
        self.attributes.committed.connect(lambda *_: self.committed.emit())
        self.extrapolate.toggled.connect(self.picker.set_extrapolation)
        self.strength.committed.connect(lambda *_: self.committed.emit())
        self.presets.activated.connect(self._apply_preset)
        self.save_preset.clicked.connect(self.ask_save_preset)
        self.refresh_presets()

    def set_anchors(self, names: Sequence[str], colours: Sequence[str]) -> None:
        self.names = list(names)
        self.picker.set_anchors(self.names, list(colours))
        self.attributes.set_loaded(set(self.names))
        self.show_weights(self.picker.weights())

    # ----- the current point ------------------------------------------------------------------
    def weights(self) -> list[float]:
        if self.currentWidget() is self.attributes and self.attributes.attributes:
            alphas, lambdas = self.attributes.values()
            point = attribute_point(self.attributes.attributes, alphas, lambdas, extrapolate=True)
            by_name = point.as_dict()
            return [by_name.get(n, 0.0) for n in self.names]
        return self.picker.weights()

    def point(self) -> Point:
        """The current point, validated: the weights by name, the strength, its zones
        (a ProsemixError names what is wrong)."""
        return make_point(self.weights(), self.names, extrapolate=self.extrapolating(),
                          strength=self.strength.value())

    def point_at(self, weights: Sequence[float]) -> Point:
        """Another point at the current strength (Compare's pinned points may leave the simplex)."""
        return make_point(list(weights), self.names, extrapolate=True, strength=self.strength.value())

    def extrapolating(self) -> bool:
        if self.currentWidget() is self.attributes:
            return self.attributes.extrapolate.isChecked()
        return self.picker.extrapolation()

    def set_weights(self, weights: Sequence[float]) -> None:
        """Move the picker's handle (switching to it) and commit the point."""
        self.setCurrentIndex(0)
        self.picker.set_weights(list(weights))
        self.committed.emit()

    def centre(self) -> None:
        if self.names:
            self.set_weights([1 / len(self.names)] * len(self.names))

    def show_weights(self, weights: Sequence[float]) -> None:
        if not self.names:
            self.weights_label.setText("No anchors: generating with the base model.")
            return
        try:
            point = make_point(list(weights), self.names, extrapolate=True)
            zone = f" — {point.zone.label}" if point.zone.value else ""
            self.weights_label.setText(weights_label(self.names, list(weights)) + zone)
        except ProsemixError as exc:
            self.weights_label.setText(str(exc))

    # ----- presets ----------------------------------------------------------------------------
    def ask_save_preset(self) -> None:
        if not self.names:
            return
        name, ok = QInputDialog.getText(self, "Save preset", "Name for this point:")
        if ok and name.strip():
            self._store.save(name.strip(), dict(zip(self.names, self.weights())))
            self.refresh_presets()

    def refresh_presets(self) -> None:
        self.presets.clear()
        for name in sorted(self._store.all()):
            self.presets.addItem(name)

    def _apply_preset(self, index: int) -> None:
        weights = self._store.all().get(self.presets.itemText(index), {})
        if set(weights) != set(self.names):
            self.message.emit("that preset is for other anchors: " + ", ".join(weights))
            return
        self.set_weights([weights[n] for n in self.names])
