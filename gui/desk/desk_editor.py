"""The part of the Write tab that renders an engine Desk in a QPlainTextEdit: the writer's
typing goes to the desk (`_typed`), and after each of the desk's steps the editor is brought to
the desk's text by one edit of the span that changed (`_render`, the cursor and scroll stay
where they were). The desk owns undo: the editor's own undo stack is off, and Ctrl+Z and
Ctrl+Shift+Z (or Ctrl+Y) go to the desk. `WritePanel` builds the desk's keys on it.
"""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from engine.documents.desk import Desk, changed_span
from engine.documents.model import Document

from .context_counter import ContextBox
from .passage_tint import tint_selections


class DocumentEditor(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.desk = Desk()
        self.colours: dict[str, str] = {}
        self._mirroring = False  # our own edits of the editor: not the writer's typing
        self.editor = QPlainTextEdit()
        self.editor.setUndoRedoEnabled(False)  # the desk keeps the one undo history
        self.editor.setPlaceholderText("Write here. Ctrl+Enter continues from the cursor in the "
                                       "blend of the picker; drag the handle to restyle the new passage.")
        font = self.editor.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.editor.setFont(font)
        self.editor.document().contentsChange.connect(self._typed)
        self.editor.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.editor.customContextMenuRequested.connect(self._context_menu)
        self.context_box = ContextBox()
        box = self.context_box
        self.memory, self.note, self.window_tokens = box.memory, box.note, box.window_tokens
        self.memory.textChanged.connect(lambda: setattr(self.desk.doc, "memory", self.memory.toPlainText()))
        self.note.textChanged.connect(lambda: setattr(self.desk.doc, "note", self.note.toPlainText()))
        self.window_tokens.valueChanged.connect(lambda v: setattr(self.desk, "window", v))
        self.desk.window = self.window_tokens.value()

    @property
    def doc(self) -> Document:
        return self.desk.doc

    def _interrupt(self) -> None:
        """Stop what the desk is writing: the writer took over (typing, undo, a new document)."""

    # ----- keeping the editor equal to the desk ------------------------------------------------------
    def _render(self) -> None:
        """Bring the editor to the desk's text with one edit of the span that changed."""
        old, new = self.editor.toPlainText(), self.doc.text
        if old != new:
            start, old_end, new_end = changed_span(old, new)
            cursor = QTextCursor(self.editor.document())
            cursor.setPosition(start)
            cursor.setPosition(old_end, QTextCursor.MoveMode.KeepAnchor)
            self._mirroring = True
            try:
                cursor.beginEditBlock()  # laid out at once, so the tint below sees the new lines
                cursor.insertText(new[start:new_end])
                cursor.endEditBlock()
            finally:
                self._mirroring = False
        self._paint()

    def _typed(self, pos: int, removed: int, added: int) -> None:
        if self._mirroring:
            return
        text = self.editor.toPlainText()
        if self.doc.pending is not None or self.desk.job is not None:
            self._interrupt()
        inserted = text[pos:pos + added] if added else ""
        removed = min(removed, len(self.doc.text) - pos)
        try:
            self.desk.type(pos, max(0, removed), inserted)
        except Exception:  # noqa: BLE001 - resync below, never lose the writer's text
            pass
        if self.doc.text != text:  # a change Qt reported differently (e.g. a whole paste)
            self.desk.type(0, len(self.doc.text), text)
        self._paint()

    def undo(self) -> None:
        self._interrupt()
        self.desk.undo()
        self._render()

    def redo(self) -> None:
        self._interrupt()
        self.desk.redo()
        self._render()

    def _context_menu(self, where: QPoint) -> None:
        """The editor's own menu, its Undo and Redo the desk's."""
        menu = self.editor.createStandardContextMenu()
        for action in menu.actions():
            name = action.objectName()
            if name in ("edit-undo", "edit-redo"):
                undo = name == "edit-undo"
                action.setEnabled(self.desk.can_undo if undo else self.desk.can_redo)
                action.triggered.connect(self.undo if undo else self.redo)
        menu.exec(self.editor.mapToGlobal(where))
        menu.deleteLater()

    def _paint(self) -> None:
        self._show(tint_selections(self.editor.document(), self.doc, self.colours))

    def _show(self, selections: list) -> None:
        """Tint with ``selections`` and repaint the whole view: a line the desk just wrote is
        not yet in the region Qt would repaint for them."""
        self.editor.setExtraSelections(selections)
        self.editor.viewport().update()

    # ----- whole documents -------------------------------------------------------------------------
    def set_document(self, doc: Document) -> None:
        self._interrupt()
        self.desk.open(doc)
        self._mirroring = True
        try:
            self.editor.setPlainText(doc.text)
        finally:
            self._mirroring = False
        memory, note = doc.memory, doc.note  # setting the boxes writes them back into doc
        self.memory.setPlainText(memory)
        self.note.setPlainText(note)
        self._paint()

    def document(self) -> Document:
        """The document (its memory and note follow the boxes as they change)."""
        return self.doc
