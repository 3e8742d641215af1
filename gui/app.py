"""Application start-up: the QApplication, error routing, and the main window."""
from __future__ import annotations

from typing import Any

import os
import sys
import threading
import traceback

from PySide6.QtCore import QObject, Signal


class ErrorRouter(QObject):
    """Every uncaught exception, from any thread, ends up in one dialog in the GUI thread."""

    raised = Signal(str, str)

    def install(self) -> None:
        def hook(exc_type, exc, tb):
            self.raised.emit(f"{exc_type.__name__}: {exc}", "".join(traceback.format_exception(exc_type, exc, tb)))

        def thread_hook(args):
            hook(args.exc_type, args.exc_value, args.exc_traceback)

        sys.excepthook = hook
        threading.excepthook = thread_hook


def run(argv: list[str] | None = None) -> int:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from engine.paths import resources_dir

    from .dialogs import show_error
    from .main_window import MainWindow

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv or sys.argv)
    app.setApplicationName("Prosemix")
    app.setOrganizationName("Prosemix")
    icon = resources_dir() / "icons" / "prosemix.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    window = MainWindow()
    router = ErrorRouter()
    boxes: list = []
    router.raised.connect(lambda message, details: boxes.append(show_error(window, message, details)))
    router.install()
    window.show()
    if os.environ.get("PROSEMIX_SMOKE"):
        _smoke(app, window)
    return app.exec()


def _smoke(app, window) -> None:
    """PROSEMIX_SMOKE=1: report that the window is up and the model loaded, then quit (used
    by the packaging smoke test)."""
    from PySide6.QtCore import QTimer

    import time

    app.processEvents()
    print(f"SMOKE shown_at={time.time():.3f}", flush=True)

    def done(_request: object, info: Any) -> None:
        print(f"SMOKE OK window={window.windowTitle()!r} visible={window.isVisible()} "
              f"backend={info.backend} anchors={len(info.anchors)} ready_at={time.time():.3f}",
              flush=True)
        QTimer.singleShot(100, window.close)

    def failed(_request: object, failure: Any) -> None:
        print(f"SMOKE FAILED {failure.message}", flush=True)
        window.close()  # stops the worker thread before the event loop ends
        app.exit(1)

    window.worker.loaded.connect(done)
    window.worker.errored.connect(failed)
    QTimer.singleShot(60000, lambda: (print("SMOKE FAILED timeout", flush=True), app.exit(1)))
