"""Token alternatives on the desk, as the window shows them: the popup with a token's
alternatives when the mouse rests on it, and the confidence tint. The tokens themselves are
the desk's (engine.documents.tokens.TokenLog).
"""
from __future__ import annotations

import math

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QTextEdit, QVBoxLayout, QWidget

from engine.documents.desk import Desk
from engine.documents.tokens import TokenHit, probability_text
from ..layouts import clear_layout


def confidence_selections(text_document: QTextDocument, desk: Desk) -> list[QTextEdit.ExtraSelection]:
    """Each generated token tinted by how likely it was: red below 5%, amber below 20% (at
    temperature 0.8 a small model's ordinary words sit between 20% and 50%: tinting them too
    would tint everything)."""
    out = []
    size = len(desk.doc.text)
    for offset, length, p in desk.tokens.unlikely(desk.doc, 0.2):
        sel = QTextEdit.ExtraSelection()
        fmt = QTextCharFormat()
        fmt.setBackground(QColor(231, 76, 60, 110) if p < 0.05 else QColor(243, 156, 18, 90))
        sel.format = fmt
        cursor = QTextCursor(text_document)
        cursor.setPosition(offset)
        cursor.setPosition(min(offset + length, size), QTextCursor.MoveMode.KeepAnchor)
        sel.cursor = cursor
        out.append(sel)
    return out


def shown(text: str) -> str:
    """A token as the popup shows it: its spaces and line breaks made visible."""
    return text.replace("\n", "⏎").replace(" ", "·") or "∅"


class AlternativesPopup(QFrame):
    """The alternatives at one token; a click on one asks for the passage written again from it."""

    chosen = Signal(object, str)  # the TokenHit, the alternative's text

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.ToolTip | Qt.WindowType.FramelessWindowHint)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.hit: TokenHit | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 4, 6, 4)
        self._layout.setSpacing(0)
        self.header = QLabel("")
        self.buttons: list[QPushButton] = []

    def show_hit(self, hit: TokenHit, where: QPoint) -> None:
        if self.hit == hit and self.isVisible():
            return
        self.hit = hit
        clear_layout(self._layout, keep=self.header)
        self.header.setText(f"<b>{shown(hit.text)}</b> {probability_text(hit.text, hit.alternatives)} — "
                            "click another to write on from it")
        self._layout.addWidget(self.header)
        self.buttons = []
        for alt, lp in hit.alternatives:
            button = QPushButton(f"{shown(alt)}   {math.exp(lp):.1%}")
            button.setFlat(True)
            button.setStyleSheet("text-align: left; padding: 1px 4px")
            button.setEnabled(alt != hit.text and bool(alt))
            button.clicked.connect(lambda _=False, a=alt: self._choose(a))
            self._layout.addWidget(button)
            self.buttons.append(button)
        self.adjustSize()
        self.move(where + QPoint(12, 16))
        self.show()

    def _choose(self, alt: str) -> None:
        hit = self.hit
        self.hide()
        if hit is not None:
            self.chosen.emit(hit, alt)
