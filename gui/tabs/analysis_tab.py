"""The Analysis tab: run a sweep in the worker, plot it, and lay a score over the picker."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout,
                               QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from engine.anchors.shipped import ATTRIBUTES
from engine.evaluation.plots import PLOT_KINDS

from ..images import rgba_image
from engine.paths import sweeps_dir
from engine.errors import ProsemixError

SCORERS = (("sentiment", "Sentiment (VADER)"), ("reading_ease", "Reading ease (Flesch)"),
           ("grade", "Grade (Flesch-Kincaid)"), ("formality", "Formality (classifier)"),
           ("humor", "Humor (classifier)"), ("affinity", "Affinity to each anchor's corpus"),
           ("style", "Style recognised (prosemix style-scorer)"))


def sweep_task(grid: str, step: float, attribute: str, start: float, stop: float, prompts: int,
               samples: int, max_tokens: int, scorers: list[str], out: Path) -> Callable[..., Any]:
    """A worker task running the sweep on the worker's backend."""
    def task(backend: Any, report: Callable[[str, float], None], should_stop: Callable[[], bool]) -> str:
        from engine.evaluation.scoring import get_scorers
        from engine.evaluation.sweep import DEFAULT_PROMPTS, SweepConfig, eval_texts, plan_points, run_sweep

        names = backend.anchor_names
        points = plan_points(grid, names, ATTRIBUTES, step=step, attribute=attribute,
                             start=start, stop=stop)
        report("preparing scorers", -1.0)
        chosen = get_scorers(scorers, eval_texts(names) if "affinity" in scorers else {})

        def progress(p) -> None:
            eta = f", about {int(p.eta_seconds)} s left" if p.done else ""
            report(f"sweep: {p.done}/{p.total} samples{eta}", p.done / max(1, p.total) * 0.99)

        run_sweep(backend, points, chosen, out,
                  SweepConfig(prompts=list(DEFAULT_PROMPTS)[:prompts], samples=samples,
                              max_tokens=max_tokens), progress=progress, should_stop=should_stop)
        return str(out)

    return task


class AnalysisTab(QWidget):
    runRequested = Signal(object)  # the task callable
    overlayRequested = Signal(object, str)  # QImage or None, label

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: list[dict] = []
        self.table_path: Path | None = None
        self.anchors: list = []  # the loaded anchors (remote ones hold no factors)
        self.grid = QComboBox()
        self.grid.addItem("Triangle (all enabled anchors)", "simplex")
        self.grid.addItem("One attribute's alpha", "alpha")
        self.grid.addItem("Every loaded pair's alpha (entanglement)", "attributes")
        self.step = QDoubleSpinBox()
        self.step.setRange(0.05, 1.0)
        self.step.setSingleStep(0.05)
        self.step.setValue(0.25)
        self.attribute = QComboBox()
        self.attribute.addItems([a.name for a in ATTRIBUTES])
        self.start, self.stop = QDoubleSpinBox(), QDoubleSpinBox()
        for box, value in ((self.start, -0.5), (self.stop, 1.5)):
            box.setRange(-3.0, 3.0)
            box.setSingleStep(0.25)
            box.setValue(value)
        self.prompts, self.samples, self.tokens = QSpinBox(), QSpinBox(), QSpinBox()
        for spin, lo, hi, count in ((self.prompts, 1, 5, 3), (self.samples, 1, 8, 2), (self.tokens, 8, 256, 32)):
            spin.setRange(lo, hi)
            spin.setValue(count)
        self.scorer_boxes = {key: QCheckBox(label) for key, label in SCORERS}
        for key in ("sentiment", "reading_ease"):
            self.scorer_boxes[key].setChecked(True)
        self.run_button = QPushButton("Run sweep")
        self.resume_button = QPushButton("Resume last")
        self.open_button = QPushButton("Open table…")
        self.plot_kind = QComboBox()
        self.plot_kind.addItems(PLOT_KINDS)
        self.score = QComboBox()
        self.overlay_button = QPushButton("Show on picker")
        self.clear_overlay = QPushButton("Clear overlay")
        self.save_button = QPushButton("Save figure…")
        self.status = QLabel("Run a sweep to measure how the style moves across the triangle.")
        self.status.setWordWrap(True)
        self.canvas_holder = QVBoxLayout()
        self._canvas: Any = None  # a FigureCanvasQTAgg once a figure is shown
        self._figure: Any = None
        self._layout()
        self.run_button.clicked.connect(lambda: self._run(new=True))
        self.resume_button.clicked.connect(lambda: self._run(new=False))
        self.open_button.clicked.connect(self._open)
        self.plot_kind.currentIndexChanged.connect(self.redraw)
        self.score.currentIndexChanged.connect(self.redraw)
        self.overlay_button.clicked.connect(self._overlay)
        self.clear_overlay.clicked.connect(lambda: self.overlayRequested.emit(None, ""))
        self.save_button.clicked.connect(self._save)

    def _layout(self) -> None:
        setup = QGroupBox("Sweep")
        g = QGridLayout(setup)
        cells = [("Grid", self.grid), ("Step", self.step), ("Attribute", self.attribute),
                 ("Alpha from", self.start), ("to", self.stop), ("Prompts", self.prompts),
                 ("Samples", self.samples), ("Tokens", self.tokens)]
        for k, (label, w) in enumerate(cells):
            g.addWidget(QLabel(label), k // 4, (k % 4) * 2)
            g.addWidget(w, k // 4, (k % 4) * 2 + 1)
        scorers = QGridLayout()  # two rows, so the tab (and the window) stays narrow
        for k, box in enumerate(self.scorer_boxes.values()):
            scorers.addWidget(box, k // 4, k % 4)
        g.addLayout(scorers, 2, 0, 1, 8)
        buttons = QHBoxLayout()
        for b in (self.run_button, self.resume_button, self.open_button):
            buttons.addWidget(b)
        g.addLayout(buttons, 3, 0, 1, 8)
        plot_row = QHBoxLayout()
        plot_row.addWidget(QLabel("Plot"))
        plot_row.addWidget(self.plot_kind)
        plot_row.addWidget(QLabel("Score"))
        plot_row.addWidget(self.score, 1)
        for b in (self.overlay_button, self.clear_overlay, self.save_button):
            plot_row.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(setup)
        layout.addLayout(plot_row)
        layout.addLayout(self.canvas_holder, 1)
        layout.addWidget(self.status)

    # ----- running -----------------------------------------------------------------------------
    def _run(self, new: bool) -> None:
        scorers = [k for k, box in self.scorer_boxes.items() if box.isChecked()]
        if not scorers:
            self.status.setText("Choose at least one scorer.")
            return
        if new or self.table_path is None:
            sweeps_dir().mkdir(parents=True, exist_ok=True)
            self.table_path = sweeps_dir() / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}.csv"
        task = sweep_task(self.grid.currentData(), round(self.step.value(), 4), self.attribute.currentText(),
                          self.start.value(), self.stop.value(), self.prompts.value(),
                          self.samples.value(), self.tokens.value(), scorers, self.table_path)
        self.status.setText(f"Sweeping into {self.table_path} …")
        self.runRequested.emit(task)

    def show_table(self, path: str) -> None:
        from engine.evaluation.sweep import read_table

        self.table_path = Path(path)
        self.rows = read_table(path)
        columns = ([k for k in self.rows[0] if k.startswith("score:")] +
                   [k for k in self.rows[0] if k.startswith("ppl_")])
        self.score.blockSignals(True)
        self.score.clear()
        self.score.addItems(columns)
        self.score.blockSignals(False)
        self.plot_kind.setCurrentText("ternary" if self.rows[0]["attribute"] == "" else "alpha")
        self.status.setText(f"{len(self.rows)} samples in {path}")
        self.redraw()

    def _open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Sweep table", str(sweeps_dir()), "CSV (*.csv)")
        if path:
            try:
                self.show_table(path)
            except ProsemixError as exc:
                self.status.setText(str(exc))

    # ----- plotting ----------------------------------------------------------------------------
    def set_anchors(self, anchors: list) -> None:
        """The loaded anchors, for the geometry plot (a server's anchors hold no factors)."""
        self.anchors = [a for a in anchors if a.factors]

    def redraw(self) -> None:
        from engine.evaluation import plots

        kind = self.plot_kind.currentText()
        if kind != "anchors" and not self.rows:
            return
        scores = [c for c in self.rows[0] if c.startswith("score:")] if self.rows else []
        columns = scores if kind in ("spider", "entanglement") else [self.score.currentText()]
        try:
            fig = plots.make_plot(kind, self.rows, columns, anchors=self.anchors)
        except ProsemixError as exc:
            self.status.setText(str(exc) if self.anchors or kind != "anchors" else
                                "no anchors with LoRA factors here (a server's anchors stay on the server)")
            return
        self._show_figure(fig)

    def _show_figure(self, fig) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

        if self._canvas is not None:
            self.canvas_holder.removeWidget(self._canvas)
            self._canvas.deleteLater()
        self._figure = fig
        self._canvas = FigureCanvasQTAgg(fig)
        self.canvas_holder.addWidget(self._canvas)

    def _save(self) -> None:
        if self._figure is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save figure", "figure.png", "PNG (*.png);;SVG (*.svg)")
        if path:
            self._figure.savefig(path)

    def _overlay(self) -> None:
        from engine.evaluation import plots

        if not self.rows:
            self.status.setText("Run or open a triangle sweep first.")
            return
        column = self.score.currentText()
        try:
            z, _box = plots.heat_grid(self.rows, column)
        except ProsemixError as exc:
            self.status.setText(str(exc))
            return
        self.overlayRequested.emit(heat_image(z), column)


def heat_image(z: np.ndarray) -> QImage:
    """A [0, 1] grid as a viridis-like QImage (transparent where nan)."""
    from matplotlib import colormaps

    finite = np.isfinite(z)
    rgba = (colormaps["viridis"](np.where(finite, z, 0.0)) * 255).astype(np.uint8)
    rgba[..., 3] = np.where(finite, 200, 0)
    return rgba_image(rgba)
