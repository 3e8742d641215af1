"""The Qt binding must not corrupt Python's reference counts. PySide6-Essentials 6.12.0
decref'd None on every call of a void C++ method under Python 3.11, so a long session (or the
picker drawing its zones pixel by pixel) crashed the interpreter with "none_dealloc:
deallocating None". pyproject.toml pins a release without the fault; this test keeps it so."""
from __future__ import annotations

import sys

from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QLabel


def test_void_calls_keep_none_and_bool_reference_counts(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    image = QImage(8, 8, QImage.Format_ARGB32)
    painter = QPainter(image)
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(500):
        label.setText("x")
        image.setPixelColor(1, 1, QColor(1, 2, 3))
        painter.drawEllipse(1, 1, 3, 3)
        label.isVisible()
    painter.end()
    assert abs(sys.getrefcount(None) - none_before) < 50
    assert abs(sys.getrefcount(True) - true_before) < 50
