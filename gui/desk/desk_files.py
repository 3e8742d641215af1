"""The Write tab's files: New, Open, Save, Save As, Recent, Export, the unsaved-changes
question on close, autosave to the user data folder, and recovery after a crash.

The formats are the engine's (engine.documents.files): the text is a plain .md or .txt file,
provenance and the rest sit in a sidecar. Autosave writes the whole document (text and
sidecar) to engine.documents.recovery two seconds after the last change; a clean close
removes it, so what is left at the next start is what a crash would otherwise have lost.
"""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from engine.documents import files
from engine.documents.model import Document
from engine.documents.recovery import RecoveryStore
from engine.errors import ProsemixError
from engine.paths import atomic_write_text

from .write_panel import WritePanel

AUTOSAVE_MS = 2000
RECENT_KEY = "recent_documents"
FILTER = "Text (*.md *.txt)"


# Qt's generic theme (Linux without a desktop's own) labels a box's buttons without an Alt
# shortcut; a writer closing the window should not need the mouse to say Discard
MNEMONICS = {QMessageBox.StandardButton.Save: "&Save", QMessageBox.StandardButton.Discard: "&Discard",
             QMessageBox.StandardButton.Yes: "&Yes", QMessageBox.StandardButton.No: "&No"}


def ask(parent: QWidget, title: str, text: str, buttons: QMessageBox.StandardButton,
        default: QMessageBox.StandardButton) -> QMessageBox.StandardButton:
    """QMessageBox.question with an Alt shortcut on each button (Escape cancels); the button
    chosen, Cancel if the box was closed without one."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, buttons, parent)
    box.setDefaultButton(default)
    for which, label in MNEMONICS.items():
        if (button := box.button(which)) is not None:
            button.setText(label)
    box.exec()
    clicked = box.clickedButton()
    answer = box.standardButton(clicked) if clicked is not None else QMessageBox.StandardButton.Cancel
    box.deleteLater()  # not kept as the window's child, one a question
    return answer


class DeskFiles(QObject):
    titleChanged = Signal(str)
    message = Signal(str)
    documentSet = Signal(object)  # the Document now on the desk (new, opened or recovered)

    def __init__(self, desk: WritePanel, settings: QSettings, parent_widget: QWidget,
                 store: RecoveryStore | None = None):
        super().__init__(parent_widget)
        self.desk, self.settings, self.parent_widget = desk, settings, parent_widget
        self.store = store or RecoveryStore()
        self.path: Path | None = None
        self.doc_id = RecoveryStore.new_id()
        self.dirty = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(AUTOSAVE_MS)
        self.timer.timeout.connect(self.autosave)
        for signal in (desk.editor.textChanged, desk.memory.textChanged, desk.note.textChanged):
            signal.connect(self.mark_changed)

    # ----- state ------------------------------------------------------------------------------
    def mark_changed(self) -> None:
        """The document changed (typing, or what only the sidecar holds: the palette)."""
        if not self.dirty:
            self.dirty = True
            self.titleChanged.emit(self.title())
        self.timer.start()

    def title(self) -> str:
        name = self.path.name if self.path else "Untitled"
        return f"{'*' if self.dirty else ''}{name}"

    def autosave(self) -> None:
        if not self.dirty:
            return
        try:
            self.store.save(self.doc_id, self.desk.document(), self.path)
        except OSError as exc:
            self.message.emit(f"autosave failed: {exc}")

    def _set(self, doc: Document, path: Path | None) -> None:
        self.store.discard(self.doc_id)
        self.timer.stop()
        self.desk.set_document(doc)
        self.path, self.doc_id, self.dirty = path, RecoveryStore.new_id(), False
        self.titleChanged.emit(self.title())
        self.documentSet.emit(doc)

    # ----- commands -----------------------------------------------------------------------------
    def new(self) -> None:
        if self.maybe_save():
            self._set(Document(), None)

    def open(self, path: str | Path | None = None) -> None:
        if not self.maybe_save():
            return
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self.parent_widget, "Open a document",
                                                    str(self.folder()), FILTER)
            if not chosen:
                return
            path = chosen
        try:
            doc, warnings = files.load(path)
        except ProsemixError as exc:
            self.message.emit(str(exc))
            return
        self._set(doc, Path(path))
        self._add_recent(Path(path))
        if warnings:
            QMessageBox.information(self.parent_widget, "Opened with notes", "\n".join(warnings))

    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        try:
            files.save(self.desk.document(), self.path)
        except ProsemixError as exc:
            QMessageBox.warning(self.parent_widget, "Not saved", str(exc))
            return False
        self.store.discard(self.doc_id)
        self.dirty = False
        self.titleChanged.emit(self.title())
        self._add_recent(self.path)
        self.message.emit(f"saved {self.path}")
        return True

    def save_as(self) -> bool:
        chosen, _ = QFileDialog.getSaveFileName(self.parent_widget, "Save the document",
                                                str(self.path or self.folder() / "untitled.md"),
                                                FILTER)
        if not chosen:
            return False
        path = Path(chosen)
        self.path = path if path.suffix else path.with_suffix(".md")
        return self.save()

    def export(self, markdown: bool) -> None:
        suffix = ".md" if markdown else ".txt"
        chosen, _ = QFileDialog.getSaveFileName(self.parent_widget, "Export", str(
            (self.path or self.folder() / "untitled").with_suffix(suffix)), FILTER)
        if not chosen:
            return
        doc = self.desk.document()
        text = files.export_markdown(doc, Path(chosen).stem) if markdown else files.export_text(doc)
        try:
            atomic_write_text(Path(chosen), text)
        except OSError as exc:
            QMessageBox.warning(self.parent_widget, "Not exported", str(exc))

    def maybe_save(self) -> bool:
        """Ask before unsaved changes are lost; False means the writer cancelled."""
        if not self.dirty or not self.desk.doc.text.strip():
            return True
        answer = ask(
            self.parent_widget, "Unsaved changes", f"Save the changes to {self.title().lstrip('*')}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        return self.save() if answer == QMessageBox.StandardButton.Save else True

    def closed_cleanly(self) -> None:
        """The window closes with nothing unsaved: no recovery file is needed."""
        self.timer.stop()
        self.store.discard(self.doc_id)

    # ----- recent and recovery -----------------------------------------------------------------
    def folder(self) -> Path:
        """Where the file dialogs start: the last document's folder, else the user's
        documents folder (not the folder the app was started from)."""
        for recent in self.recent():
            if Path(recent).parent.is_dir():
                return Path(recent).parent
        documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        return Path(documents) if documents and Path(documents).is_dir() else Path.home()

    def recent(self) -> list[str]:
        try:
            data = json.loads(str(self.settings.value(RECENT_KEY, "[]")))
        except ValueError:
            return []
        return [p for p in data if isinstance(p, str)] if isinstance(data, list) else []

    def _add_recent(self, path: Path) -> None:
        items = [str(path)] + [p for p in self.recent() if p != str(path)]
        self.settings.setValue(RECENT_KEY, json.dumps(items[:10]))

    def offer_recovery(self) -> None:
        """At start: offer what a crash left behind (the newest document)."""
        entries, problems = self.store.entries()
        for problem in problems:
            self.message.emit(problem)
        if not entries:
            return
        newest = entries[0]
        where = newest.path or "an unsaved document"
        answer = ask(
            self.parent_widget, "Recover your writing?",
            f"Prosemix closed without saving {where}. Recover it?\n\n\"{newest.preview}…\"",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            doc, warnings = self.store.load(newest.id)
        except (OSError, ValueError, KeyError) as exc:
            self.message.emit(f"the recovery file could not be read ({exc})")
            return
        self._set(doc, Path(newest.path) if newest.path else None)
        self.doc_id = newest.id  # keep autosaving into it until it is saved
        self.dirty = True
        self.titleChanged.emit(self.title())
        for w in warnings:
            self.message.emit(w)
