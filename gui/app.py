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


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that ships a library: libxcb-icccm.so.4 -> libxcb-icccm4,
    libxkbcommon-x11.so.0 -> libxkbcommon-x11-0 (a name ending in a digit takes a hyphen)."""
    name, _, version = soname.partition(".so.")
    return f"{name}-{version}" if name[-1:].isdigit() else f"{name}{version}"


def missing_x11_libraries() -> list[str]:
    """The packages to install before Qt can open a window on X11 here: only on Linux, only
    where the X11 plugin will be used (QT_QPA_PLATFORM unset or xcb), only the libraries the
    loader cannot find for Qt's xcb plugin (ldd). Without them Qt aborts with a message about
    plugins that names at most one of them (a fresh Debian lacked libxcb-icccm4,
    libxcb-keysyms1 and libxcb-cursor0)."""
    import shutil
    import subprocess
    from pathlib import Path

    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or (platform and not platform.startswith("xcb")):
        return []
    if not platform and not os.environ.get("DISPLAY") and os.environ.get("WAYLAND_DISPLAY"):
        return []  # Qt picks Wayland there
    import PySide6

    if not getattr(PySide6, "__file__", None):  # a frozen build may not say where it is
        return []
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file() or not shutil.which("ldd"):
        return []
    try:  # one call: ldd lists the plugin's libraries and theirs (libQt6XcbQpa's among them)
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    missing: list[str] = []
    for line in out.splitlines():
        if "not found" in line:
            package = debian_package(line.split("=>")[0].strip())
            if package not in missing:
                missing.append(package)
    # Qt 6.5+ loads libxcb-cursor at run time, so ldd does not list it
    import ctypes.util

    if ctypes.util.find_library("xcb-cursor") is None and "libxcb-cursor0" not in missing:
        missing.append("libxcb-cursor0")
    return missing


def run(argv: list[str] | None = None) -> int:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from engine.paths import resources_dir

    from .dialogs import show_error
    from .main_window import MainWindow

    existing = QApplication.instance()
    missing = [] if existing else missing_x11_libraries()
    if missing:
        print(f"prosemix: Qt cannot open a window on X11 without {', '.join(missing)}. Install "
              f"{'them' if len(missing) > 1 else 'it'} (Debian/Ubuntu: sudo apt-get install "
              f"{' '.join(missing)}) and start Prosemix again; "
              "the command line (python main.py --help) works without it.", file=sys.stderr)
        return 2
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
