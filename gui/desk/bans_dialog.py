"""The document's banned phrases: one a line (a line starting "re:" is a regex), case
sensitivity for the plain ones, and the default "slop" list, off until the writer ticks it."""
from __future__ import annotations

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QLabel, QPlainTextEdit,
                               QVBoxLayout, QWidget)

from engine.backends.bans import DEFAULT_SLOP, MAX_BANS, BanList, PhraseBan
from engine.errors import ProsemixError

REGEX_PREFIX = "re:"


def bans_text(bans: BanList) -> str:
    return "\n".join(REGEX_PREFIX + p.text if p.regex else p.text for p in bans.phrases)


def parse_bans(text: str, case_sensitive: bool, slop: bool) -> BanList:
    """The dialog's lines as a BanList; an error names the line."""
    phrases: list[PhraseBan] = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            if line.startswith(REGEX_PREFIX):
                ban = PhraseBan(line[len(REGEX_PREFIX):].strip(), regex=True, case_sensitive=case_sensitive)
            else:
                ban = PhraseBan(line, case_sensitive=case_sensitive)
        except ProsemixError as exc:
            raise ProsemixError(f"line {n}: {exc}") from None
        if ban not in phrases:
            phrases.append(ban)
    return BanList(tuple(phrases), slop)


class BansDialog(QDialog):
    def __init__(self, bans: BanList, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Banned phrases")
        self.text = QPlainTextEdit(bans_text(bans))
        self.text.setPlaceholderText("one phrase a line, e.g.\nshivers down her spine\nre:\\bdelv(e|ed|ing)\\b")
        self.case = QCheckBox("Case-sensitive")
        self.case.setChecked(any(p.case_sensitive for p in bans.phrases))
        self.slop = QCheckBox(f"Also ban the default list of {len(DEFAULT_SLOP)} machine-prose phrases")
        self.slop.setChecked(bans.slop)
        self.slop.setToolTip(", ".join(DEFAULT_SLOP))
        self.error = QLabel("")
        self.error.setStyleSheet("color: #b03a2e")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"No passage will hold these (at most {MAX_BANS}). When the model starts "
                                "one, the desk goes back to where it began and writes on another way."))
        layout.addWidget(self.text, 1)
        layout.addWidget(self.case)
        layout.addWidget(self.slop)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.result_bans: BanList | None = None

    def accept(self) -> None:
        try:
            self.result_bans = parse_bans(self.text.toPlainText(), self.case.isChecked(), self.slop.isChecked())
        except ProsemixError as exc:
            self.error.setText(str(exc))  # the dialog stays open with what was typed
            return
        super().accept()
