"""Take the README's screenshot: the real window on a virtual X screen (xvfb-run), after a
generation at a chosen point.    xvfb-run -s "-screen 0 1280x860x24" .venv/bin/python docs/screenshot.py"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication(sys.argv)
    window = MainWindow()
    window.generation.live.setChecked(False)
    window.generation.max_tokens.setValue(90)
    window.show()
    out = ROOT / "docs" / "screenshot.png"

    def generate() -> None:
        if len(window.picker.anchor_names()) >= 3:
            window.picker.set_weights([0.55, 0.3, 0.15] + [0.0] * (len(window.picker.anchor_names()) - 3))
        window.generate()

    def shoot(*_args: object) -> None:
        QTimer.singleShot(300, lambda: (window.grab().save(str(out)), print(f"wrote {out}"), window.close()))

    window.worker.loaded.connect(lambda _info: QTimer.singleShot(200, generate))
    window.worker.finished.connect(shoot)
    QTimer.singleShot(60000, window.close)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
