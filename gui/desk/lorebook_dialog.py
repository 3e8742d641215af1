"""The document's lorebook: entries (name, keys, a regex key, text, always on, enabled,
priority), how far back keys are looked for and the entries' token budget; import from
SillyTavern or NovelAI files and export to our own. Nothing changes until OK, and OK with a
bad entry names it and keeps the dialog open with what was typed."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QPlainTextEdit,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from engine.documents import lorebook
from engine.documents.lorebook import DEFAULT_BUDGET, DEFAULT_SCAN_TOKENS, LoreEntry, Lorebook
from engine.errors import ProsemixError

FILTER = "Lorebooks (*.json *.lorebook);;All files (*)"


class LorebookDialog(QDialog):
    def __init__(self, book: Lorebook | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Lorebook")
        self.resize(760, 480)
        self.drafts: list[dict] = [_draft(e) for e in (book.entries if book else ())]
        self.result_book: Lorebook | None = book
        self._current = -1
        self.list = QListWidget()
        self.add_button, self.remove_button = QPushButton("Add entry"), QPushButton("Remove")
        self.import_button, self.export_button = QPushButton("Import…"), QPushButton("Export…")
        self.name, self.keys, self.regex = QLineEdit(), QLineEdit(), QLineEdit()
        self.keys.setPlaceholderText("words or phrases, separated by commas")
        self.regex.setPlaceholderText(r"optional, e.g. \bWend(s)?\b")
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("What the model should know when a key is in the text")
        self.always, self.enabled, self.case = QCheckBox("Always on"), QCheckBox("Enabled"), QCheckBox("Case-sensitive")
        self.priority = QSpinBox()
        self.priority.setRange(-100_000, 100_000)
        self.scan = QSpinBox()
        self.scan.setRange(1, 100_000)
        self.scan.setValue(book.scan_tokens if book else DEFAULT_SCAN_TOKENS)
        self.budget = QSpinBox()
        self.budget.setRange(1, 100_000)
        self.budget.setValue(book.budget if book else DEFAULT_BUDGET)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #b03a2e")
        self.error.setWordWrap(True)
        self._layout()
        self.list.currentRowChanged.connect(self._select)
        for field in (self.name, self.keys, self.regex):
            field.textChanged.connect(self._relabel)
        self.add_button.clicked.connect(self.add_entry)
        self.remove_button.clicked.connect(self.remove_entry)
        self.import_button.clicked.connect(self._ask_import)
        self.export_button.clicked.connect(self._ask_export)
        self._refill(0 if self.drafts else -1)

    def _layout(self) -> None:
        left = QVBoxLayout()
        left.addWidget(self.list, 1)
        for pair in ((self.add_button, self.remove_button), (self.import_button, self.export_button)):
            row = QHBoxLayout()
            for b in pair:
                row.addWidget(b)
            left.addLayout(row)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Keys", self.keys)
        form.addRow("Regex key", self.regex)
        form.addRow(self.text)
        flags = QHBoxLayout()
        for w in (self.always, self.enabled, self.case):
            flags.addWidget(w)
        form.addRow(flags)
        form.addRow("Priority (higher first)", self.priority)
        top = QHBoxLayout()
        top.addLayout(left, 1)
        top.addLayout(form, 2)
        book_form = QFormLayout()
        book_form.addRow("Look for keys in the last (tokens)", self.scan)
        book_form.addRow("Entries may take (tokens)", self.budget)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addLayout(book_form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    # ----- the entry in the form ------------------------------------------------------------------
    def _store(self) -> None:
        if 0 <= self._current < len(self.drafts):
            self.drafts[self._current] = {
                "name": self.name.text().strip(), "keys": [k.strip() for k in self.keys.text().split(",") if k.strip()],
                "regex": self.regex.text().strip(), "text": self.text.toPlainText(),
                "always": self.always.isChecked(), "enabled": self.enabled.isChecked(),
                "case_sensitive": self.case.isChecked(), "priority": self.priority.value()}

    def _relabel(self) -> None:
        """The list names the entry as its fields are typed."""
        item = self.list.item(self._current) if 0 <= self._current < self.list.count() else None
        if item is not None:
            item.setText(self.name.text().strip() or self.keys.text().strip() or self.regex.text().strip()
                         or "(new entry)")

    def _select(self, row: int) -> None:
        self._store()
        self._current = row
        on = 0 <= row < len(self.drafts)
        for w in (self.name, self.keys, self.regex, self.text, self.always, self.enabled, self.case,
                  self.priority, self.remove_button):
            w.setEnabled(on)
        d = self.drafts[row] if on else _draft(None)
        self.name.setText(d["name"])
        self.keys.setText(", ".join(d["keys"]))
        self.regex.setText(d["regex"])
        self.text.setPlainText(d["text"])
        self.always.setChecked(d["always"])
        self.enabled.setChecked(d["enabled"])
        self.case.setChecked(d["case_sensitive"])
        self.priority.setValue(d["priority"])

    def _refill(self, row: int) -> None:
        self._current = -1
        self.list.blockSignals(True)
        self.list.clear()
        for d in self.drafts:
            self.list.addItem(d["name"] or ", ".join(d["keys"]) or d["regex"] or d["text"][:30] or "(new entry)")
        self.list.blockSignals(False)
        self.list.setCurrentRow(row)
        self._select(row)

    def add_entry(self) -> None:
        self._store()
        self.drafts.append(_draft(None))
        self._refill(len(self.drafts) - 1)
        self.keys.setFocus()

    def remove_entry(self) -> None:
        if 0 <= self._current < len(self.drafts):
            row = self._current
            self._current = -1
            del self.drafts[row]
            self._refill(min(row, len(self.drafts) - 1))

    # ----- files ----------------------------------------------------------------------------------
    def import_file(self, path: str | Path) -> None:
        """The entries of a lorebook file (ours, SillyTavern, NovelAI) join these."""
        try:
            book = lorebook.read(path)
        except ProsemixError as exc:
            self.error.setText(str(exc))
            return
        self._store()
        self.drafts += [_draft(e) for e in book.entries]
        if not self.result_book or not self.result_book.entries:
            self.scan.setValue(book.scan_tokens)
            self.budget.setValue(book.budget)
        self.error.setText(f"{len(book.entries)} entries imported from {Path(path).name}")
        self._refill(len(self.drafts) - len(book.entries) if book.entries else self._current)

    def _ask_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a lorebook", "", FILTER)
        if path:
            self.import_file(path)

    def _ask_export(self) -> None:
        try:
            book = self.build()
        except ProsemixError as exc:
            self.error.setText(str(exc))
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the lorebook", "lorebook.json", "Lorebooks (*.json)")
        if path:
            try:
                lorebook.write(book, path)
            except OSError as exc:
                self.error.setText(f"cannot write {path}: {exc}")

    def build(self) -> Lorebook:
        """The lorebook as the dialog shows it; an error names the entry."""
        self._store()
        entries = []
        for n, d in enumerate(self.drafts, start=1):
            try:
                entries.append(LoreEntry(tuple(d["keys"]), d["text"], d["always"], d["priority"], d["regex"],
                                         d["case_sensitive"], d["enabled"], d["name"]))
            except ProsemixError as exc:
                raise ProsemixError(f"entry {n}: {exc}") from None
        return Lorebook(tuple(entries), self.scan.value(), self.budget.value())

    def accept(self) -> None:
        try:
            self.result_book = self.build()
        except ProsemixError as exc:
            self.error.setText(str(exc))
            return
        super().accept()


def _draft(entry: LoreEntry | None) -> dict:
    if entry is None:
        return {"name": "", "keys": [], "regex": "", "text": "", "always": False, "enabled": True,
                "case_sensitive": False, "priority": 0}
    d = asdict(entry)
    d["keys"] = list(entry.keys)
    return d
