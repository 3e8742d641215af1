"""Browse, search and re-run the history of generations."""
from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLineEdit,
                               QPlainTextEdit, QPushButton, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from engine.history import History, Record


class HistoryView(QWidget):
    rerunRequested = Signal(object)  # Record

    def __init__(self, history: History, parent: QWidget | None = None):
        super().__init__(parent)
        self.history = history
        self.records: list[Record] = []
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search prompts and outputs…")
        self.search.setClearButtonEnabled(True)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["When", "Prompt", "Weights", "Output"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.rerun_button = QPushButton("Re-run")
        self.copy_button = QPushButton("Copy output")
        self.delete_button = QPushButton("Delete")
        row = QHBoxLayout()
        row.addWidget(self.search, 1)
        for b in (self.rerun_button, self.copy_button, self.delete_button):
            row.addWidget(b)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.detail)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(split, 1)
        self.search.textChanged.connect(self.refresh)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.rerun_button.clicked.connect(self._rerun)
        self.copy_button.clicked.connect(self._copy)
        self.delete_button.clicked.connect(self._delete)
        self.refresh()

    def refresh(self) -> None:
        if self.history.closed:
            return
        self.records = self.history.search(self.search.text())
        self.table.setRowCount(len(self.records))
        for row, r in enumerate(self.records):
            weights = ", ".join(f"{k} {v:.2f}" for k, v in r.weights.items()) or "base"
            cells = [time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
                     r.prompt[:60], weights, r.output[:120].replace("\n", " ")]
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))

    def selected(self) -> Record | None:
        rows = self.table.selectionModel().selectedRows()
        return self.records[rows[0].row()] if rows else None

    def _show_selected(self) -> None:
        r = self.selected()
        if r is None:
            self.detail.clear()
            return
        params = ", ".join(f"{k}={v}" for k, v in r.params.items())
        self.detail.setPlainText(f"Prompt: {r.prompt}\nWeights: {r.weights}\nSeed: {r.seed}; {params}\n"
                                 f"Backend: {r.backend}; {r.tokens} tokens in {r.seconds:.2f} s\n\n{r.output}")

    def _rerun(self) -> None:
        r = self.selected()
        if r is not None:
            self.rerunRequested.emit(r)

    def _copy(self) -> None:
        r = self.selected()
        if r is not None:
            QGuiApplication.clipboard().setText(r.output)

    def _delete(self) -> None:
        r = self.selected()
        if r is not None and r.id is not None:
            self.history.delete(r.id)
            self.refresh()
