"""The part of the Write tab that keeps a QPlainTextEdit and an engine Document equal: the
writer's typing goes into the Document (`_typed`), the desk's own edits go into the editor as
Qt edit blocks (`_edit`, one undo step per generation), undo and redo restore the passages of
each text seen, and the passages are tinted with their provenance. `WritePanel` builds the
desk on it.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from engine.documents.model import Document

from .context_counter import ContextBox
from .passage_tint import PassageMemory, tint_selections


class DocumentEditor(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = Document()
        self.colours: dict[str, str] = {}
        self._mirroring = False  # our own edits of the editor: not the writer's typing
        self._known = PassageMemory()  # the passages of each text seen, for undo/redo
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("Write here. Ctrl+Enter continues from the cursor in the "
                                       "blend of the picker; drag the handle to restyle the new passage.")
        font = self.editor.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.editor.setFont(font)
        self.editor.document().contentsChange.connect(self._typed)
        self.context_box = ContextBox()
        box = self.context_box
        self.memory, self.note, self.window_tokens = box.memory, box.note, box.window_tokens

    def _interrupt(self) -> None:
        """Stop what the desk is writing: the writer took over (typing, undo, a new document)."""

    # ----- keeping the editor and the document equal ---------------------------------------------
    def _edit(self, start: int, end: int, text: str, join: bool) -> None:
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        self._mirroring = True
        try:
            if join:
                cursor.joinPreviousEditBlock()
            else:
                cursor.beginEditBlock()
            cursor.insertText(text)
            cursor.endEditBlock()
        finally:
            self._mirroring = False

    def _typed(self, pos: int, removed: int, added: int) -> None:
        if self._mirroring:
            return
        text = self.editor.toPlainText()
        if self.doc.pending is not None:
            self._interrupt()
        inserted = text[pos:pos + added] if added else ""
        removed = min(removed, len(self.doc.text) - pos)
        try:
            self.doc.edit(pos, max(0, removed), inserted)
        except Exception:  # noqa: BLE001 - resync below, never lose the writer's text
            pass
        if self.doc.text != text:  # a change Qt reported differently (e.g. a whole paste)
            self.doc.edit(0, len(self.doc.text), text)
        self._paint()

    def undo(self) -> None:
        self._undo_redo(self.editor.undo)

    def redo(self) -> None:
        self._undo_redo(self.editor.redo)

    def _undo_redo(self, action: Callable[[], None]) -> None:
        self._interrupt()
        self._mirroring = True
        try:
            action()
        finally:
            self._mirroring = False
        text = self.editor.toPlainText()
        self.doc.pending = None
        self.doc.text = text
        self.doc.passages = self._known.recall(text, [p for p in self.doc.passages
                                                      if p.end <= len(text)])
        self._paint()

    def _remember(self) -> None:
        self._known.remember(self.doc.text, self.doc.passages)

    def _paint(self) -> None:
        self.editor.setExtraSelections(tint_selections(self.editor.document(), self.doc,
                                                       self.colours))

    # ----- whole documents -------------------------------------------------------------------------
    def set_document(self, doc: Document) -> None:
        self._interrupt()
        self.doc = doc
        self._mirroring = True
        try:
            self.editor.setPlainText(doc.text)
        finally:
            self._mirroring = False
        self.memory.setPlainText(doc.memory)
        self.note.setPlainText(doc.note)
        self._known.clear()
        self._remember()
        self._paint()

    def document(self) -> Document:
        """The document with the memory and note as shown."""
        self.doc.memory = self.memory.toPlainText()
        self.doc.note = self.note.toPlainText()
        return self.doc
