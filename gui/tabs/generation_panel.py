"""The prompt, the sampling controls, Generate / Stop, and the streamed output."""
from __future__ import annotations

import random

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from engine.errors import ProsemixError
from engine.sampling import SamplingConfig

DEFAULTS = SamplingConfig()  # the one home of the defaults: engine.sampling

DEFAULT_PROMPT = "The letter arrived on a grey morning, and"


class GenerationPanel(QWidget):
    generateRequested = Signal()
    stopRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.prompt = QPlainTextEdit(DEFAULT_PROMPT)
        self.prompt.setPlaceholderText("Write the beginning of a text (continuation) or a request (chat)")
        self.prompt.setMaximumHeight(110)
        self.mode = QComboBox()
        self.mode.addItems(["Continuation", "Chat"])
        self.mode.setToolTip("Continuation extends your text; Chat answers it with the model's chat template")
        self.max_tokens = _spin(1, 2048, DEFAULTS.max_tokens)
        self.temperature = _dspin(0.0, 2.0, DEFAULTS.temperature, 0.05)
        self.top_p = _dspin(0.05, 1.0, DEFAULTS.top_p, 0.05)
        self.top_k = _spin(0, 500, DEFAULTS.top_k)
        self.repetition = _dspin(1.0, 2.0, DEFAULTS.repetition_penalty, 0.05)
        self.dry = _dspin(0.0, 3.0, DEFAULTS.dry, 0.1)
        self.dry.setSpecialValueText("off")
        self.dry.setToolTip("No repeats (DRY): a penalty on writing again a run of words that the text above "
                            "already has, growing with the run; 0.8 is the usual setting. Also for the Write tab.")
        self.seed = _spin(0, 2**31 - 1, DEFAULTS.seed)
        self.seed_lock = QCheckBox("lock")
        self.seed_lock.setChecked(True)
        self.seed_lock.setToolTip("Keep the seed, so moving the point shows the change of style, not of chance")
        self.live = QCheckBox("Live preview")
        self.live.setChecked(True)
        self.live.setToolTip("Regenerate shortly after you release the handle")
        self.generate_button = QPushButton("Generate  (Ctrl+Enter)")
        self.generate_button.setDefault(True)
        self.stop_button = QPushButton("Stop  (Esc)")
        self.stop_button.setEnabled(False)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setPlaceholderText("Generated text appears here as it streams.")
        font = QFont(self.output.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.output.setFont(font)
        self.info = QLabel("")
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout()
        self.generate_button.clicked.connect(self.generateRequested)
        self.stop_button.clicked.connect(self.stopRequested)
        # Ctrl+Enter and Esc are the window's shortcuts: they act on the tab in view

    def _layout(self) -> None:
        controls = QGroupBox("Sampling")
        grid = QGridLayout(controls)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.seed_lock)
        cells = [("Mode", self.mode), ("Max tokens", self.max_tokens),
                 ("Temperature", self.temperature), ("Top-p", self.top_p),
                 ("Top-k (0 = off)", self.top_k), ("Repetition penalty", self.repetition),
                 ("No repeats (DRY)", self.dry)]
        for k, (label, widget) in enumerate(cells):
            grid.addWidget(QLabel(label), k // 2, (k % 2) * 2)
            grid.addWidget(widget, k // 2, (k % 2) * 2 + 1)
        grid.addWidget(QLabel("Seed"), 3, 2)
        grid.addLayout(seed_row, 3, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.live)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Prompt"))
        layout.addWidget(self.prompt)
        layout.addLayout(buttons)
        layout.addWidget(self.output, 1)
        layout.addWidget(self.info)
        layout.addWidget(controls)

    # ----- state -------------------------------------------------------------------------------
    def sampling(self) -> SamplingConfig:
        """The sampling settings; an unlocked seed is drawn anew for each generation."""
        if not self.seed_lock.isChecked():
            self.seed.setValue(random.randrange(0, 2**31 - 1))
        return SamplingConfig(
            max_tokens=self.max_tokens.value(), temperature=round(self.temperature.value(), 4),
            top_p=round(self.top_p.value(), 4), top_k=self.top_k.value(),
            repetition_penalty=round(self.repetition.value(), 4), dry=round(self.dry.value(), 4),
            seed=self.seed.value(),
            chat=self.mode.currentIndex() == 1)

    def prompt_text(self) -> str:
        text = self.prompt.toPlainText()
        if not text.strip():
            raise ProsemixError("the prompt is empty: write something to continue")
        return text

    def set_running(self, running: bool) -> None:
        self.stop_button.setEnabled(running)

    def start_output(self) -> None:
        self.output.clear()
        self.info.clear()

    def append(self, piece: str) -> None:
        cursor = self.output.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(piece)
        self.output.setTextCursor(cursor)

    def settings(self) -> dict:
        return {"prompt": self.prompt.toPlainText(), "mode": self.mode.currentIndex(),
                "max_tokens": self.max_tokens.value(), "temperature": self.temperature.value(),
                "top_p": self.top_p.value(), "top_k": self.top_k.value(),
                "repetition": self.repetition.value(), "dry": self.dry.value(), "seed": self.seed.value(),
                "seed_lock": self.seed_lock.isChecked(), "live": self.live.isChecked()}

    def restore(self, s: dict) -> None:
        try:
            self.prompt.setPlainText(str(s.get("prompt", DEFAULT_PROMPT)))
            self.mode.setCurrentIndex(int(s.get("mode", 0)))
            self.max_tokens.setValue(int(s.get("max_tokens", DEFAULTS.max_tokens)))
            self.temperature.setValue(float(s.get("temperature", DEFAULTS.temperature)))
            self.top_p.setValue(float(s.get("top_p", DEFAULTS.top_p)))
            self.top_k.setValue(int(s.get("top_k", DEFAULTS.top_k)))
            self.repetition.setValue(float(s.get("repetition", DEFAULTS.repetition_penalty)))
            self.dry.setValue(float(s.get("dry", DEFAULTS.dry)))
            self.seed.setValue(int(s.get("seed", DEFAULTS.seed)))
            self.seed_lock.setChecked(bool(s.get("seed_lock", True)))
            self.live.setChecked(bool(s.get("live", True)))
        except (TypeError, ValueError):
            return  # a damaged settings entry falls back to the defaults already shown

    def apply_record(self, prompt: str, params: dict, seed: int) -> None:
        """Load a history record's prompt and settings (for re-running it)."""
        self.prompt.setPlainText(prompt)
        self.mode.setCurrentIndex(1 if params.get("chat") else 0)
        self.max_tokens.setValue(int(params.get("max_tokens", self.max_tokens.value())))
        self.temperature.setValue(float(params.get("temperature", self.temperature.value())))
        self.top_p.setValue(float(params.get("top_p", self.top_p.value())))
        self.top_k.setValue(int(params.get("top_k", self.top_k.value())))
        self.repetition.setValue(float(params.get("repetition_penalty", self.repetition.value())))
        self.dry.setValue(float(params.get("dry", 0.0)))
        self.seed.setValue(int(seed))
        self.seed_lock.setChecked(True)


def _spin(lo: int, hi: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    return box


def _dspin(lo: float, hi: float, value: float, step: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setDecimals(2)
    box.setValue(value)
    return box
