"""New voice from my writing: paste text, add files, or take the document or its selection,
with a live word count; OK makes a voice anchor in the background (engine.training.voice)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget)

from engine.words import MIN_VOICE_WORDS, WHICH_PAGE_ADVICE, more_text_advice, word_count


class VoiceDialog(QDialog):
    def __init__(self, document_text: str = "", selection: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New voice from my writing")
        self.resize(620, 460)
        self._document, self._selection = document_text, selection
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. my-voice (letters, digits, - and _)")
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("Paste a page or more of your own writing here, or add files, "
                                     "or take the document you are writing.")
        self.count = QLabel("")
        self.advice = QLabel("")
        self.advice.setWordWrap(True)
        self.files_button = QPushButton("Add files…")
        self.document_button = QPushButton("Use the document")
        self.selection_button = QPushButton("Use the selection")
        self.document_button.setEnabled(bool(document_text.strip()))
        self.selection_button.setEnabled(bool(selection.strip()))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Make the voice")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Name", self.name)
        row = QHBoxLayout()
        for b in (self.files_button, self.document_button, self.selection_button):
            row.addWidget(b)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.text, 1)
        layout.addLayout(row)
        layout.addWidget(self.count)
        layout.addWidget(self.advice)
        self.which_page = QLabel(WHICH_PAGE_ADVICE)
        self.which_page.setWordWrap(True)
        layout.addWidget(self.which_page)
        note = QLabel("The voice trains in the background (at most a minute for a page here) and joins "
                      "the picker as a corner; a page's voice then tries itself a little stronger "
                      "(15-20 s more). The status bar has Cancel; Esc skips the trying.")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.text.textChanged.connect(self._recount)
        self.name.textChanged.connect(self._recount)
        self.files_button.clicked.connect(self._add_files)
        self.document_button.clicked.connect(lambda: self.text.setPlainText(self._document))
        self.selection_button.clicked.connect(lambda: self.text.setPlainText(self._selection))
        self._recount()

    def words(self) -> int:
        return word_count(self.text.toPlainText())

    def _recount(self) -> None:
        n = self.words()
        if n < MIN_VOICE_WORDS:
            self.count.setText(f"{n:,} words — a voice needs at least {MIN_VOICE_WORDS}")
        else:
            pages = n / 700
            self.count.setText(f"{n:,} words (about {pages:.1f} page{'s' if pages >= 1.05 else ''})")
        self.advice.setText(more_text_advice(n))
        self.ok.setEnabled(n >= MIN_VOICE_WORDS and bool(self.name.text().strip()))

    def add_files(self, paths: list[str]) -> list[str]:
        """Append the files' text; returns what could not be read, by name."""
        bad = []
        parts = [self.text.toPlainText().strip()]
        for p in paths:
            try:
                parts.append(Path(p).read_text(encoding="utf-8").strip())
            except (OSError, UnicodeDecodeError):
                bad.append(Path(p).name)
        self.text.setPlainText("\n\n".join(x for x in parts if x))
        if bad:
            self.count.setText(self.count.text() + f" — could not read {', '.join(bad)} (UTF-8 text only)")
        return bad

    def _add_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Your writing", "", "Text (*.txt *.md);;All files (*)")
        if paths:
            self.add_files(paths)

    def values(self) -> dict:
        return {"name": self.name.text().strip(), "text": self.text.toPlainText()}
