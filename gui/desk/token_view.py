"""Token alternatives on the desk: each generated passage's tokens with the most likely tokens
at each step (kept in memory, by the passage's provenance), the popup that shows them when the
mouse rests on a token, and the confidence tint.

A token's alternatives hold only while the text is the text it wrote: a passage edited there
(or before it, which moves it) no longer shows them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QTextEdit, QVBoxLayout, QWidget

from engine.documents.model import Document, Provenance
from ..layouts import clear_layout

Alts = tuple[tuple[str, float], ...]
TOP_K = 10  # alternatives the desk asks for per token


@dataclass(frozen=True)
class TokenHit:
    """The token under the mouse: its passage's start, its index, where it starts in the text,
    its text, the alternatives at its step and the passage's provenance."""

    start: int
    index: int
    at: int
    text: str
    alternatives: Alts
    provenance: Provenance


def _key(provenance: Provenance) -> tuple[float, int]:
    return provenance.created, provenance.seed


class TokenStore:
    def __init__(self) -> None:
        self._tokens: dict[tuple[float, int], tuple[tuple[str, ...], tuple[Alts, ...]]] = {}

    def put(self, provenance: Provenance, texts: tuple[str, ...], alternatives: tuple[Alts, ...]) -> None:
        if texts and len(texts) == len(alternatives):
            self._tokens[_key(provenance)] = (tuple(texts), tuple(alternatives))

    def tokens(self, provenance: Provenance) -> tuple[tuple[str, ...], tuple[Alts, ...]] | None:
        return self._tokens.get(_key(provenance))

    def _spans(self, doc: Document) -> list[tuple[int, int, Provenance]]:
        spans = [(p.start, p.end, p.provenance) for p in doc.passages]
        span = doc.pending_span()
        if span and doc.pending is not None:
            spans.append((span[0], span[1], doc.pending.candidates[doc.pending.current][1]))
        return spans

    def at(self, doc: Document, pos: int) -> TokenHit | None:
        """The generated token at character ``pos``, if its text is still what was written."""
        for start, end, provenance in self._spans(doc):
            if not start <= pos < end:
                continue
            found = self.tokens(provenance)
            if found is None:
                return None
            offset = start
            for index, (text, alts) in enumerate(zip(*found)):
                if offset <= pos < offset + len(text):
                    if doc.text[offset:offset + len(text)] != text or not alts:
                        return None  # edited here (or before it): its alternatives are gone
                    return TokenHit(start, index, offset, text, alts, provenance)
                offset += len(text)
            return None
        return None

    def confidence_selections(self, text_document: QTextDocument, doc: Document) -> list[QTextEdit.ExtraSelection]:
        """Each generated token tinted by how likely it was: red below 5%, amber below 20% (at
        temperature 0.8 a small model's ordinary words sit between 20% and 50%: tinting them
        too would tint everything)."""
        out = []
        for start, end, provenance in self._spans(doc):
            found = self.tokens(provenance)
            if found is None:
                continue
            offset = start
            for text, alts in zip(*found):
                p = probability(text, alts)
                if text.strip() and p is not None and p < 0.2 and doc.text[offset:offset + len(text)] == text:
                    sel = QTextEdit.ExtraSelection()
                    fmt = QTextCharFormat()
                    fmt.setBackground(QColor(231, 76, 60, 110) if p < 0.05 else QColor(243, 156, 18, 90))
                    sel.format = fmt
                    cursor = QTextCursor(text_document)
                    cursor.setPosition(offset)
                    cursor.setPosition(min(offset + len(text), len(doc.text)), QTextCursor.MoveMode.KeepAnchor)
                    sel.cursor = cursor
                    out.append(sel)
                offset += len(text)
        return out


def probability(text: str, alts: Alts) -> float | None:
    """p of the token that was written: from the alternatives, or (sampled from outside them)
    half the least of them, a bound for the tint."""
    if not alts:
        return None
    for alt, lp in alts:
        if alt == text:
            return math.exp(lp)
    return min(math.exp(lp) for _, lp in alts) * 0.5


def probability_text(text: str, alts: Alts) -> str:
    """How likely the written token was, as the popup says it."""
    for alt, lp in alts:
        if alt == text:
            return f"{math.exp(lp):.1%}"
    return f"under {min(math.exp(lp) for _, lp in alts):.1%}" if alts else ""


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
