"""Make docs/screenshot.png: the app in a real X window (run it under Xvfb), after using it the
way a writer does: type, continue at one point, keep it, continue at another, retry twice,
with a memory. Not a test; a tool for the README's picture.

    Xvfb :99 -screen 0 1400x900x24 & DISPLAY=:99 python packaging/screenshot.py [OUT.png]
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from PySide6.QtCore import QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QTextCursor  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

OPENING = ("Chapter One\n\nThe letter arrived on a grey morning, when the whole household was "
           "still asleep. Mr. Harland turned it over twice before he opened it, for he")


def type_text(widget, text: str) -> None:  # type: ignore[no-untyped-def]
    """Type as a writer does (QTest cannot type a newline as a character)."""
    for k, line in enumerate(text.split("\n")):
        if k:
            QTest.keyClick(widget, Qt.Key_Return)
        if line:
            QTest.keyClicks(widget, line)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshot.png"
    os.environ["PROSEMIX_DATA"] = tempfile.mkdtemp()
    app = QApplication([])
    from gui.main_window import MainWindow

    w = MainWindow(settings=QSettings(str(Path(os.environ["PROSEMIX_DATA"]) / "s.ini"), QSettings.IniFormat))
    w.resize(1360, 860)
    w.show()
    desk = w.write
    steps = []

    def wait_done(then):  # type: ignore[no-untyped-def]
        def check() -> None:
            if desk._job is None:
                then()
            else:
                QTimer.singleShot(200, check)
        QTimer.singleShot(400, check)

    def type_opening() -> None:
        desk.memory.setPlainText("A quiet country house, 1811. Mr. Harland, a widower; his daughter Anne.")
        desk.editor.setFocus()
        type_text(desk.editor, OPENING)
        desk.editor.moveCursor(QTextCursor.End)
        w.picker.set_weights([0.8, 0.1, 0.1])
        w.generation.max_tokens.setValue(28)
        desk.continue_here()
        wait_done(second)

    def second() -> None:
        desk.accept()
        QTest.keyClicks(desk.editor, " Anne only laughed.")
        w.picker.set_weights([0.1, 0.2, 0.7])
        desk.continue_here()
        wait_done(lambda: (desk.accept(), QTest.keyClicks(desk.editor, " "), third()))

    def third() -> None:
        w.picker.set_weights([0.2, 0.7, 0.1])
        desk.continue_here()
        wait_done(lambda: (desk.retry(), wait_done(lambda: (desk.retry(), wait_done(shot)))))

    def shot() -> None:
        desk.cycle(-1)  # show 2/3
        app.processEvents()
        w.grab().save(str(out))
        print(f"wrote {out}")
        w.files.dirty = False
        w.close()
        app.quit()

    w.worker.loaded.connect(lambda *_: steps or (steps.append(1), QTimer.singleShot(300, type_opening)))
    QTimer.singleShot(600000, app.quit)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
