"""How the Write tab shows provenance: each generated passage tinted in its point's blend of
the anchors' colours (the pending one stronger, italic and underlined; a drag's preview grey
with a wavy underline, until the exact passage replaces it)."""
from __future__ import annotations

from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import QTextEdit

from engine.documents.model import Document, Provenance


def blend_colour(weights: dict[str, float], colours: dict[str, str], alpha: int) -> QColor:
    """The anchors' colours mixed by the point's weights (clamped to [0, 1])."""
    mix, total = [0.0, 0.0, 0.0], 0.0
    for name, w in weights.items():
        w = min(1.0, max(0.0, w))
        c = QColor(colours.get(name, "#888888"))
        mix = [mix[0] + w * c.red(), mix[1] + w * c.green(), mix[2] + w * c.blue()]
        total += w
    if total <= 0:
        return QColor(160, 160, 160, alpha)
    return QColor(int(mix[0] / total), int(mix[1] / total), int(mix[2] / total), alpha)


def tint_selections(text_document: QTextDocument, doc: Document, colours: dict[str, str]
                    ) -> list[QTextEdit.ExtraSelection]:
    """The editor's extra selections that tint ``doc``'s passages."""
    selections = []
    spans: list[tuple[int, int, Provenance, bool, bool]] = [
        (p.start, p.end, p.provenance, p.edited, False) for p in doc.passages]
    span = doc.pending_span()
    if span and doc.pending is not None:
        spans.append((span[0], span[1], doc.pending.candidates[doc.pending.current][1], False, True))
    for start, end, provenance, edited, pending in spans:
        sel = QTextEdit.ExtraSelection()
        fmt = QTextCharFormat()
        fmt.setBackground(blend_colour(provenance.weights, colours, 90 if pending else 45))
        if pending:  # not yet kept: italic and underlined in its blend
            fmt.setFontItalic(True)
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.SingleUnderline)
            fmt.setUnderlineColor(blend_colour(provenance.weights, colours, 255))
        if pending and provenance.sampling.get("preview"):  # a drag's preview, not yet the passage
            fmt.setForeground(QColor(110, 110, 110))
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        if edited:
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.DotLine)
        sel.format = fmt
        cursor = QTextCursor(text_document)
        cursor.setPosition(start)
        cursor.setPosition(min(end, len(doc.text)), QTextCursor.MoveMode.KeepAnchor)
        sel.cursor = cursor
        selections.append(sel)
    return selections
