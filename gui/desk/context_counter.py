"""The desk's context: what goes into it besides the text (`ContextBox`: memory, author's
note, the style window) and the counter of the tokens a Continue at the cursor would use, out
of the budget, kept up to date while the writer types.

Counting needs the model's tokenizer, which the worker owns, so a count is a small task sent
to the worker once the writer pauses (COUNT_DELAY_MS) and is skipped while a passage is being
written (that passage's own count arrives with it).
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import (QFormLayout, QGroupBox, QLabel, QPlainTextEdit, QPushButton, QSpinBox,
                               QWidget)

from engine.documents.context import DEFAULT_STYLE_WINDOW, DocumentContext

from ..worker import Failure, Request, TaskKind, TaskRequest, count_context

COUNT_DELAY_MS = 600


class ContextBox(QGroupBox):
    """Memory, author's note, the style window's size and the banned phrases."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Context", parent)
        self.memory = QPlainTextEdit()
        self.memory.setPlaceholderText("Memory: always at the start of the context (characters, setting)")
        self.memory.setMaximumHeight(70)
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText("Author's note: a few lines before the cursor (tone, what happens next)")
        self.note.setMaximumHeight(50)
        self.window_tokens = QSpinBox()
        self.window_tokens.setRange(64, 4096)
        self.window_tokens.setSingleStep(64)
        self.window_tokens.setValue(DEFAULT_STYLE_WINDOW)
        self.window_tokens.setToolTip("The style window: memory plus this many tokens before the "
                                      "passage. A restyle evaluates it again at every new point, "
                                      "so smaller is livelier.")
        self.bans_button = QPushButton("Banned phrases…")
        self.bans_button.setToolTip("Phrases no passage may hold (Ctrl+Alt+B); kept with the document")
        form = QFormLayout(self)
        form.addRow(self.memory)
        form.addRow(self.note)
        form.addRow("Style window (tokens)", self.window_tokens)
        form.addRow(self.bans_button)


class ContextCounter(QObject):
    def __init__(self, label: QLabel, submit: Callable[[Request], None],
                 what: Callable[[], tuple[str, DocumentContext, int] | None],
                 parent: QObject | None = None):
        """``what`` gives (text before the cursor, the document's context, tokens to
        generate), or None when there is nothing to count now."""
        super().__init__(parent)
        self.label, self._submit, self._what = label, submit, what
        self._task: TaskRequest | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(COUNT_DELAY_MS)
        self.timer.timeout.connect(self.count_now)

    def schedule(self) -> None:
        self.timer.start()

    def count_now(self) -> None:
        what = self._what()
        if what is None:
            return
        self._task = count_context(*what)
        self._submit(self._task)

    def show(self, tokens: int, budget: int, dropped: int = 0, lore: tuple[str, ...] = ()) -> None:
        self.label.setText(f"context {tokens} / {budget} tokens"
                           + (f" · lore: {', '.join(lore)}" if lore else ""))
        self.label.setToolTip("What Continue sends the model: the memory, the lorebook entries whose "
                              "keys are in the text, the text before the cursor and the author's "
                              "note, within the style window."
                              + (f" The first {dropped} characters of the text do not fit and "
                                 "are left out." if dropped else ""))

    def on_done(self, request: object, context: object) -> bool:
        """A count came back; True if it was this counter's."""
        if request is not self._task:
            return _is_count(request)
        self._task = None
        self.show(context.tokens, context.budget, context.dropped, context.lore)  # type: ignore[attr-defined]  # a Context
        return True

    def on_failed(self, request: object, failure: Failure) -> bool:
        """A count failed (e.g. the memory alone overflows): shown here, not in a dialog."""
        if request is not self._task:
            return _is_count(request)
        self._task = None
        self.label.setText("context: not counted" if failure.no_model else "context: too long")
        self.label.setToolTip(failure.message)
        return True


def _is_count(request: object) -> bool:
    """An older count, overtaken by a newer one: handled by dropping it."""
    return isinstance(request, TaskRequest) and request.kind is TaskKind.COUNT
