"""Compare: the same prompt and seed at several points, or several seeds at one point, side
by side."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QFileDialog, QGroupBox, QHBoxLayout, QInputDialog, QLabel,
                               QListWidget, QPlainTextEdit, QPushButton, QScrollArea, QVBoxLayout,
                               QWidget)

from engine.geometry import edge_steps
from ..layouts import clear_layout, weights_label


POINTS_HEADING = "Points to compare (same prompt, same seed):"


class CompareView(QWidget):
    runRequested = Signal()
    pinsChanged = Signal(object)  # list of weight lists

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.names: list[str] = []
        self.points: list[list[float]] = []
        self.seeds: list[int] = []  # seeds mode: one point (points[0]) with these seeds
        self.results: list[str] = []
        self.prompt = ""
        self.pin_list = QListWidget()
        self.pin_list.setMaximumHeight(110)
        self.pin_button = QPushButton("Pin current point")
        self.edge_button = QPushButton("Steps along an edge…")
        self.seeds_button = QPushButton("Seeds at this point…")
        self.seeds_button.setToolTip("The picker's point with several seeds, written together")
        self.clear_button = QPushButton("Clear")
        self.run_button = QPushButton("Generate all")
        self.export_button = QPushButton("Export Markdown…")
        self.copy_button = QPushButton("Copy all as Markdown")
        self._cards = QWidget()
        self._cards_layout = QHBoxLayout(self._cards)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._cards)
        row = QHBoxLayout()
        for b in (self.pin_button, self.edge_button, self.seeds_button, self.clear_button,
                  self.run_button):
            row.addWidget(b)
        out_row = QHBoxLayout()
        out_row.addStretch(1)
        out_row.addWidget(self.copy_button)
        out_row.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        self.heading = QLabel(POINTS_HEADING)
        layout.addWidget(self.heading)
        layout.addWidget(self.pin_list)
        layout.addLayout(row)
        layout.addWidget(scroll, 1)
        layout.addLayout(out_row)
        self.clear_button.clicked.connect(self.clear)
        self.edge_button.clicked.connect(self._ask_edge)
        self.run_button.clicked.connect(self.runRequested)
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.markdown()))
        self.export_button.clicked.connect(self._export)

    def set_anchors(self, names: list[str]) -> None:
        if names != self.names:
            self.names = list(names)
            self.clear()

    def add_point(self, weights: list[float]) -> None:
        if self.seeds:  # pinning leaves seeds mode
            self.clear()
        self.points.append(list(weights))
        self.pin_list.addItem(f"{len(self.points)}. {weights_label(self.names, weights)}")
        self.pinsChanged.emit(self.points)

    def add_edge(self, i: int, j: int, steps: int) -> None:
        for w in edge_steps(i, j, len(self.names), steps):
            self.add_point(w)

    def set_seeds(self, weights: list[float], seeds: list[int]) -> None:
        """Seeds mode: ``weights`` with each of ``seeds`` (one candidates request)."""
        self.clear()
        self.seeds = list(seeds)
        self.points = [list(weights) for _ in seeds]
        self.heading.setText("Seeds at one point (same prompt), written in one call:")
        for seed in seeds:
            self.pin_list.addItem(f"seed {seed}. {weights_label(self.names, weights)}")
        self._rebuild_cards()
        self.pinsChanged.emit(self.points[:1])

    def _title(self, k: int) -> str:
        if self.seeds:
            return f"seed {self.seeds[k]}"
        return f"{k + 1}. {weights_label(self.names, self.points[k])}"

    def clear(self) -> None:
        self.points, self.results, self.seeds = [], [], []
        self.heading.setText(POINTS_HEADING)
        self.pin_list.clear()
        self._rebuild_cards()
        self.pinsChanged.emit(self.points)

    def start(self, prompt: str) -> None:
        self.prompt = prompt
        self.results = ["" for _ in self.points]
        self._rebuild_cards()

    def append(self, index: int, piece: str) -> None:
        if 0 <= index < len(self.results):
            self.results[index] += piece
            item = self._cards_layout.itemAt(index)
            card = item.widget() if item is not None else None
            editor = card.findChild(QPlainTextEdit) if card is not None else None
            if editor is not None:
                editor.setPlainText(self.results[index])

    def markdown(self) -> str:
        lines = ["# Prosemix comparison\n", f"**Prompt:** {self.prompt}\n"]
        for k, text in enumerate(self.results):
            title = (f"seed {self.seeds[k]} at {weights_label(self.names, self.points[k])}"
                     if self.seeds else weights_label(self.names, self.points[k]))
            lines.append(f"## {title}\n\n{text.strip()}\n")
        return "\n".join(lines)

    def _rebuild_cards(self) -> None:
        clear_layout(self._cards_layout)
        for k in range(len(self.points)):
            box = QGroupBox(self._title(k))
            editor = QPlainTextEdit(self.results[k] if k < len(self.results) else "")
            editor.setReadOnly(True)
            editor.setMinimumWidth(240)
            copy = QPushButton("Copy")
            copy.clicked.connect(lambda _=False, e=editor: QGuiApplication.clipboard().setText(e.toPlainText()))
            inner = QVBoxLayout(box)
            inner.addWidget(editor)
            inner.addWidget(copy)
            self._cards_layout.addWidget(box)

    def _ask_edge(self) -> None:
        if len(self.names) < 2:
            return
        first, ok = QInputDialog.getItem(self, "Edge", "From anchor", self.names, 0, False)
        if not ok:
            return
        second, ok = QInputDialog.getItem(self, "Edge", "To anchor",
                                          [n for n in self.names if n != first], 0, False)
        if not ok:
            return
        steps, ok = QInputDialog.getInt(self, "Edge", "Number of points", 5, 2, 21)
        if ok:
            self.add_edge(self.names.index(first), self.names.index(second), steps)

    def _export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export comparison", "comparison.md",
                                              "Markdown (*.md)")
        if path:
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.markdown())
