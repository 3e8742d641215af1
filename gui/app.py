"""QApplication start-up."""
from __future__ import annotations

import sys


def run(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication.instance() or QApplication(argv or sys.argv)
    app.setApplicationName("Prosemix")
    window = QMainWindow()
    window.setWindowTitle("Prosemix")
    label = QLabel("Prosemix: the full window arrives with the GUI issue. "
                   "Use `python main.py generate --prompt ...` meanwhile.")
    label.setMargin(24)
    window.setCentralWidget(label)
    window.show()
    return app.exec()
