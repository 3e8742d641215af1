"""The simplex picker: mouse, keyboard, snapping, N-gons, extrapolation."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from engine.geometry import plane_to_pixel, regular_polygon
from gui.point.simplex_picker import SimplexPicker

NAMES = ["a", "b", "c"]
COLOURS = ["#ff0000", "#00ff00", "#0000ff"]


@pytest.fixture
def picker(qtbot):
    p = SimplexPicker()
    qtbot.addWidget(p)
    p.resize(400, 400)
    p.set_anchors(NAMES, COLOURS)
    p.show()
    qtbot.waitExposed(p)
    return p


def _pixel(p, plane):
    x, y = plane_to_pixel(plane, p.transform())
    return QPoint(round(x), round(y))


def test_starts_at_the_centre(picker):
    assert picker.weights() == pytest.approx([1 / 3] * 3)


def test_click_near_a_corner_snaps_to_it(qtbot, picker):
    corner = regular_polygon(3)[1]
    with qtbot.waitSignal(picker.weightsCommitted) as sig:
        qtbot.mouseClick(picker, Qt.LeftButton, pos=_pixel(picker, (corner[0] + 0.02, corner[1])))
    assert sig.args[0] == pytest.approx([0, 1, 0], abs=1e-9)


def test_drag_emits_live_weights(qtbot, picker):
    seen = []
    picker.weightsChanged.connect(seen.append)
    start = _pixel(picker, (0.3, 0.1))
    qtbot.mousePress(picker, Qt.LeftButton, pos=start)
    qtbot.mouseMove(picker, _pixel(picker, (-0.2, -0.1)))
    qtbot.mouseRelease(picker, Qt.LeftButton, pos=_pixel(picker, (-0.2, -0.1)))
    assert len(seen) >= 2
    w = picker.weights()
    assert sum(w) == pytest.approx(1) and all(x >= 0 for x in w)


def test_click_outside_is_clamped_without_extrapolation(qtbot, picker):
    qtbot.mouseClick(picker, Qt.LeftButton, pos=_pixel(picker, (0.9, 0.9)))
    assert all(x >= -1e-9 for x in picker.weights())


def test_arrow_keys_move_and_commit(qtbot, picker):
    picker.setFocus()
    before = picker.weights()
    with qtbot.waitSignal(picker.weightsCommitted):
        qtbot.keyClick(picker, Qt.Key_Up)
    after = picker.weights()
    assert after[0] > before[0]
    qtbot.keyClick(picker, Qt.Key_Home)
    assert picker.weights() == pytest.approx([1 / 3] * 3)


def test_extrapolation_mode_leaves_the_triangle(qtbot, picker):
    picker.set_extrapolation(True)
    qtbot.mouseClick(picker, Qt.LeftButton, pos=_pixel(picker, (0.0, 1.6)))
    w = picker.weights()
    assert w[0] > 1 and min(w) < 0 and sum(w) == pytest.approx(1)
    picker.grab()  # paints the zone shading without error
    picker.set_extrapolation(False)
    assert all(x >= -1e-9 for x in picker.weights())


def test_polygon_for_five_anchors(qtbot, picker):
    picker.set_anchors(list("abcde"), ["#000000"] * 5)
    assert picker.weights() == pytest.approx([0.2] * 5)
    qtbot.mouseClick(picker, Qt.LeftButton, pos=_pixel(picker, (0.2, 0.3)))
    w = picker.weights()
    assert sum(w) == pytest.approx(1) and all(x >= 0 for x in w)
    picker.set_extrapolation(True)
    assert not picker.extrapolation()  # triangles only


def test_set_weights_round_trip(picker):
    picker.set_weights([0.5, 0.3, 0.2])
    assert picker.weights() == pytest.approx([0.5, 0.3, 0.2])
    picker.set_anchors(["x", "y"], COLOURS[:2])
    picker.set_weights([0.25, 0.75])
    assert picker.weights() == pytest.approx([0.25, 0.75])
    picker.set_anchors([], [])
    assert picker.weights() == []
    picker.grab()
