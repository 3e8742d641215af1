"""Draw the app icon (a triangle of three anchor colours with a handle) to resources/icons/."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QColor, QGuiApplication, QImage, QLinearGradient, QPainter, QPen, QPolygonF

    app = QGuiApplication(sys.argv)  # noqa: F841
    size = 256
    image = QImage(size, size, QImage.Format_ARGB32)
    image.fill(Qt.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.Antialiasing)
    pts = [QPointF(128, 22), QPointF(232, 214), QPointF(24, 214)]
    grad = QLinearGradient(pts[2], pts[1])
    grad.setColorAt(0, QColor("#1e8449"))
    grad.setColorAt(0.5, QColor("#8e44ad"))
    grad.setColorAt(1, QColor("#c0392b"))
    p.setBrush(grad)
    p.setPen(QPen(QColor("#2c2c2c"), 10, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin))
    p.drawPolygon(QPolygonF(pts))
    p.setBrush(QColor("#ffffff"))
    p.setPen(QPen(QColor("#2c2c2c"), 8))
    p.drawEllipse(QPointF(120, 150), 24, 24)
    p.end()
    out = ROOT / "resources" / "icons" / "prosemix.png"
    image.save(str(out))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
