"""Dialogs: errors with details, the model selector, and the New anchor dialog."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QColorDialog, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QMessageBox, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from engine.backends import BackendSpec, available_backends


def show_error(parent: QWidget | None, message: str, details: str = "") -> QMessageBox:
    """A non-blocking error box; the traceback is one click away under "Show Details"."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Prosemix", message, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.setModal(False)
    box.show()
    return box


class ModelDialog(QDialog):
    """Choose the base model (embedded, a GGUF file or an HF folder), backend and device."""

    def __init__(self, current: BackendSpec, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Model")
        self.source = QComboBox()
        self.source.addItems(["Embedded SmolLM2-135M-Instruct", "GGUF file…", "Hugging Face folder…",
                              "Remote llama-server…"])
        self.api_key = QLineEdit(current.api_key or "")
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("optional")
        self.test_button = QPushButton("Test connection")
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        self.path = QLineEdit(current.server or current.model or "")
        self.path.setPlaceholderText("path to a .gguf file or a model folder")
        browse = QPushButton("Browse…")
        self.backend = QComboBox()
        avail = available_backends()
        self.backend.addItem("auto", "auto")
        for name, label in (("llama", "llama.cpp (CPU, quantized)"), ("torch", "torch (GPU or CPU)")):
            self.backend.addItem(label if avail[name] else f"{label} — not in this build", name)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.gpu_layers = QSpinBox()
        self.gpu_layers.setRange(-1, 999)
        self.gpu_layers.setSpecialValueText("all")  # shown for -1
        self.gpu_layers.setToolTip("Layers llama.cpp offloads to the GPU (0: CPU only; needs a GPU "
                                   "build of llama-cpp-python). Anchors are then applied as runtime adapters.")
        self.gpu_layers.setValue(current.gpu_layers)
        self._select(self.backend, current.backend if not current.remote else "auto")
        self.device.setCurrentText(current.device)
        model = str(current.model or "")
        self.source.setCurrentIndex(3 if current.remote else 0 if not model
                                    else 1 if model.endswith(".gguf") else 2)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Model", self.source)
        form.addRow("Path", path_row)
        form.addRow("Backend", self.backend)
        form.addRow("Device (torch)", self.device)
        form.addRow("GPU layers (llama.cpp)", self.gpu_layers)
        form.addRow("API key (remote)", self.api_key)
        form.addRow(self.test_button, self.test_result)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        browse.clicked.connect(self._browse)
        self.test_button.clicked.connect(self._test)
        self.source.currentIndexChanged.connect(self._sync)
        self._sync()

    @staticmethod
    def _select(combo: QComboBox, data: str) -> None:
        index = combo.findData(data)
        combo.setCurrentIndex(max(0, index))

    def _sync(self) -> None:
        remote = self.source.currentIndex() == 3
        self.path.setEnabled(self.source.currentIndex() != 0)
        self.path.setPlaceholderText("http://host:8080" if remote else "path to a .gguf file or a model folder")
        for w in (self.api_key, self.test_button):
            w.setEnabled(remote)
        self.backend.setEnabled(not remote)
        self.device.setEnabled(not remote)
        self.gpu_layers.setEnabled(not remote)

    def _test(self) -> None:
        """Ask the server for its model and adapters (a quick, blocking check)."""
        from engine.backends.remote import adapter_name, probe_server
        from engine.errors import ProsemixError

        try:
            info = probe_server(self.path.text().strip(), api_key=self.api_key.text() or None, timeout=5.0)
        except ProsemixError as exc:
            self.test_result.setText(f"<span style='color:#b03030'>{exc}</span>")
            return
        names = [adapter_name(a.get("path", "")) for a in info["adapters"]]
        self.test_result.setText(f"OK: {Path(str(info['props'].get('model_path', '?'))).name}, "
                                 f"anchors: {', '.join(names) or 'none'}")

    def _browse(self) -> None:
        if self.source.currentIndex() == 2:
            path = QFileDialog.getExistingDirectory(self, "Hugging Face model folder")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "GGUF model", "", "GGUF (*.gguf)")
        if path:
            self.path.setText(path)

    def choice(self) -> BackendSpec:
        text = self.path.text().strip() or None
        if self.source.currentIndex() == 3:
            return BackendSpec(backend="remote", server=text, api_key=self.api_key.text() or None)
        return BackendSpec(model=None if self.source.currentIndex() == 0 else text,
                           backend=self.backend.currentData(), device=self.device.currentText(),
                           gpu_layers=self.gpu_layers.value())


class NewAnchorDialog(QDialog):
    """Train an anchor on the writer's own text files."""

    LENGTHS = (("Quick (30 steps, about 3 min)", 30), ("Standard (80 steps, about 7 min)", 80),
               ("Thorough (200 steps, about 18 min)", 200))

    def __init__(self, parent: QWidget | None = None, colour: str = "#2874a6"):
        super().__init__(parent)
        self.setWindowTitle("New anchor")
        self.files = QListWidget()
        add = QPushButton("Add text files…")
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. my-voice")
        self.colour = colour
        self.colour_button = QPushButton(self.colour)
        self.length = QComboBox()
        for label, steps in self.LENGTHS:
            self.length.addItem(label, steps)
        self.length.setCurrentIndex(1)
        self.rank = QSpinBox()
        self.rank.setRange(2, 32)
        self.rank.setValue(16)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Colour", self.colour_button)
        form.addRow("Training length", self.length)
        form.addRow("Rank", self.rank)
        note = QLabel("Times measured on 2 CPU cores. Training runs in the background; "
                      "you can cancel it and resume later with the same settings.")
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Train")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Your texts (.txt or .jsonl with a \"text\" field):"))
        layout.addWidget(self.files)
        layout.addWidget(add)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        add.clicked.connect(self._add)
        self.colour_button.clicked.connect(self._colour)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    def _add(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Your texts", "", "Text (*.txt *.jsonl)")
        for p in paths:
            self.files.addItem(p)

    def _colour(self) -> None:
        colour = QColorDialog.getColor(QColor(self.colour), self, "Anchor colour")
        if colour.isValid():
            self.colour = colour.name()
            self.colour_button.setText(self.colour)

    def values(self) -> dict:
        return {"files": [Path(self.files.item(i).text()) for i in range(self.files.count())],
                "name": self.name.text().strip(), "colour": self.colour,
                "steps": self.length.currentData(), "rank": self.rank.value()}
