"""What a user sees of the custom-painted widget (the picker), checked pixel by pixel in
every state: focused, hovered, dragged, and with the extrapolation zones. The first round's
picker painted itself solid in the handle's colour as soon as it had focus; every offscreen
test passed, because none gave it focus."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from engine.geometry import plane_to_pixel, regular_polygon
from gui.point.simplex_picker import SimplexPicker

COLOURS = ["#c0392b", "#2874a6", "#1e8449"]


@pytest.fixture
def picker(qtbot):
    p = SimplexPicker()
    qtbot.addWidget(p)
    p.resize(360, 360)
    p.set_anchors(["a", "b", "c"], COLOURS)
    p.show()
    qtbot.waitExposed(p)
    return p


def _image(p: SimplexPicker) -> QImage:
    p.repaint()
    return p.grab().toImage()


def _at(p: SimplexPicker, plane: tuple[float, float]) -> QPoint:
    x, y = plane_to_pixel(plane, p.transform())
    return QPoint(round(x), round(y))


def _share(image: QImage, colour: QColor, tolerance: int = 12) -> float:
    """The share of pixels within ``tolerance`` of ``colour`` (sampled on a grid)."""
    hits = total = 0
    for y in range(0, image.height(), 3):
        for x in range(0, image.width(), 3):
            c = image.pixelColor(x, y)
            total += 1
            hits += max(abs(c.red() - colour.red()), abs(c.green() - colour.green()),
                        abs(c.blue() - colour.blue())) <= tolerance
    return hits / total


def _handle_colour(p: SimplexPicker) -> QColor:
    return _image(p).pixelColor(_at(p, p._point))


def _close(a: QColor, b: QColor, tolerance: int = 20) -> bool:
    return max(abs(a.red() - b.red()), abs(a.green() - b.green()), abs(a.blue() - b.blue())) <= tolerance


def _focus(qtbot, p: SimplexPicker) -> None:
    p.activateWindow()
    p.setFocus(Qt.OtherFocusReason)
    qtbot.waitUntil(p.hasFocus, timeout=3000)


def test_focus_draws_a_frame_not_a_filled_square(qtbot, picker):
    p = picker
    p.set_weights([1.0, 0.0, 0.0])  # the handle takes the first anchor's colour
    handle = _handle_colour(p)
    p.clearFocus()
    assert not p.hasFocus()
    before = _image(p)
    _focus(qtbot, p)
    after = _image(p)
    # the handle's colour covers a small disc and the corner dot, not the widget
    assert _share(after, handle) < 0.03
    # inside the triangle, away from the handle, the fill is what it was without focus
    inside = _at(p, (0.0, -0.2))
    assert _close(after.pixelColor(inside), before.pixelColor(inside), 4)
    # and the focus frame is there: the highlight colour on the border, dashed
    highlight = p.palette().highlight().color()
    border = [after.pixelColor(x, 1) for x in range(4, p.width() - 4)]
    assert any(_close(c, highlight, 40) for c in border)
    assert not all(_close(c, highlight, 40) for c in border)


def test_hover_shows_a_ring_where_a_click_would_land(qtbot, picker):
    p = picker
    target = _at(p, (0.15, 0.1))
    plain = _image(p)
    QApplication.sendEvent(p, QMouseEvent(QMouseEvent.MouseMove, QPointF(target), QPointF(target),
                                          Qt.NoButton, Qt.NoButton, Qt.NoModifier))
    hovered = _image(p)
    ring = [QPoint(target.x() + 9, target.y()), QPoint(target.x() - 9, target.y()),
            QPoint(target.x(), target.y() + 9), QPoint(target.x(), target.y() - 9)]
    assert any(not _close(hovered.pixelColor(q), plain.pixelColor(q), 8) for q in ring)
    assert _close(hovered.pixelColor(target), plain.pixelColor(target), 4)  # a ring, not a disc
    QApplication.sendEvent(p, QEvent(QEvent.Leave))
    assert _image(p) == plain


def test_a_drag_moves_the_handle_and_leaves_nothing_behind(qtbot, picker):
    p = picker
    start = _at(p, p._point)
    before = _image(p)
    centre_colour = before.pixelColor(start)
    corner = regular_polygon(3)[2]
    end = _at(p, (corner[0] * 0.6, corner[1] * 0.6))
    hover_at = QPoint(start.x() - 40, start.y() + 20)
    ring = QPoint(hover_at.x() + 9, hover_at.y())
    QApplication.sendEvent(p, QMouseEvent(QMouseEvent.MouseMove, QPointF(hover_at), QPointF(hover_at),
                                          Qt.NoButton, Qt.NoButton, Qt.NoModifier))
    assert not _close(_image(p).pixelColor(ring), before.pixelColor(ring), 8)  # the hover ring
    qtbot.mousePress(p, Qt.LeftButton, pos=start)
    for k in range(1, 6):
        step = QPoint(start.x() + (end.x() - start.x()) * k // 5, start.y() + (end.y() - start.y()) * k // 5)
        qtbot.mouseMove(p, step)
    qtbot.mouseRelease(p, Qt.LeftButton, pos=end)
    after = _image(p)
    assert p.weights()[2] > 0.5
    # the handle is drawn at the new point, and the old place shows the triangle again
    assert _close(after.pixelColor(_at(p, p._point)), _handle_colour(p), 4)
    assert not _close(after.pixelColor(start), centre_colour, 20) or p.weights()[2] < 0.9
    assert _share(after, after.pixelColor(_at(p, p._point))) < 0.03
    assert _close(after.pixelColor(ring), before.pixelColor(ring), 4)  # no stale hover ring


def test_extrapolation_zones_are_shaded_around_the_triangle(qtbot, picker):
    p = picker
    plain = _image(p)
    p.set_extrapolation(True)
    zoned = _image(p)
    near = _at(p, (0.0, -0.75))  # just outside the bottom edge: the stable zone (amber)
    far = QPoint(12, p.height() - 12)  # a far corner of the widget: unstable (red)
    inside = _at(p, (0.2, -0.15))  # inside, away from the handle
    assert _close(zoned.pixelColor(inside), plain.pixelColor(inside), 4)
    amber, red = zoned.pixelColor(near), zoned.pixelColor(far)
    assert amber.red() > amber.blue() + 10 and amber.green() > amber.blue()  # warm, yellowish
    assert red.red() > red.green() + 10  # reddish
    assert not _close(amber, plain.pixelColor(near), 6)


def test_strength_strip_shows_the_three_zones_and_the_value(qtbot):
    from gui.point.strength_control import ZONE_STRIP, StrengthControl

    from engine.weights import Zone

    c = StrengthControl()
    qtbot.addWidget(c)
    c.resize(330, 40)
    c.show()
    qtbot.waitExposed(c)
    seen = []
    c.committed.connect(seen.append)
    c.set_value(2.5)
    assert seen == [2.5] and "unstable" in c.label.text()
    c.set_value(0.0, emit=False)
    assert seen == [2.5] and "base model" in c.label.text()
    c.set_value(1.0)
    strip = c.strip.grab().toImage()
    y, inset = strip.height() // 2, c.strip.inset
    w = strip.width() - 2 * inset
    assert _close(strip.pixelColor(inset + w // 6, y), ZONE_STRIP[Zone.INTERPOLATION], 2)
    assert _close(strip.pixelColor(inset + w // 2, y), ZONE_STRIP[Zone.STABLE_EXTRAPOLATION], 2)
    assert _close(strip.pixelColor(inset + 5 * w // 6, y), ZONE_STRIP[Zone.UNSTABLE_EXTRAPOLATION], 2)
    tick = inset + round(w / 3)  # strength 1.0 of 0..3
    assert any(_close(strip.pixelColor(x, y), c.palette().text().color(), 30)
               for x in range(tick - 2, tick + 3))
