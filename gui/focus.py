"""The window gets its keys back when a dialog closes.

A window manager hands the keyboard focus back to the window a dialog came from. Where there is
none (a bare X server, as under Xvfb), the focus went nowhere once a
dialog closed, so Esc, Ctrl+Enter and every other shortcut did nothing until the writer clicked:
a voice's stronger-LoRA check could not be skipped with Esc right after Make the voice. KeysBack
watches every dialog (the window's own, message boxes, file and input dialogs alike) and
activates the window it belongs to as it hides.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QDialog


class KeysBack(QObject):
    """An application-wide event filter, owned by ``window`` (it stops with it): a dialog that
    hides gives the keys back to the window (or the dialog) it came from. Two windows' filters
    both activating the same one do no harm."""

    def __init__(self, window: QObject) -> None:
        super().__init__(window)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Hide and isinstance(watched, QDialog):
            parent = watched.parentWidget()
            target = parent.window() if parent is not None else None
            if target is not None and target.isVisible():
                target.activateWindow()
        return False
