"""The simplex picker: anchors at the corners of a triangle (or a regular N-gon), a handle
the writer drags, clicks or moves with the arrow keys. The geometry is engine.geometry's."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (QColor, QFont, QImage, QKeyEvent, QMouseEvent, QPainter, QPainterPath,
                           QPaintEvent, QPen, QPolygonF, QResizeEvent)
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..images import rgba_image
from ..layouts import weight_text

from engine.geometry import (bary_to_cart, pixel_to_plane, plane_to_pixel, plane_to_weights, regular_polygon, snap, view_transform)
from engine.weights import Zone, zone_of

KEY_STEP = 0.02  # plane units per arrow-key press (Shift: x5)
SNAP_PIXELS = 10.0
NO_ANCHORS = "No anchors enabled.\nEnable or add anchors in the Anchors panel."
ZONE_COLOURS = {Zone.STABLE_EXTRAPOLATION: QColor(255, 200, 80, 60),
                Zone.UNSTABLE_EXTRAPOLATION: QColor(220, 60, 60, 55)}


def _segment_weights(p: tuple[float, float]) -> list[float]:
    t = min(1.0, max(0.0, (p[0] + 1.0) / 2.0))
    return [1.0 - t, t]


class SimplexPicker(QWidget):
    """Emits ``weightsChanged`` while the handle moves and ``weightsCommitted`` when it is
    released (or moved by a key)."""

    weightsChanged = Signal(object)  # list[float]
    weightsCommitted = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._names: list[str] = []
        self._colours: list[QColor] = []
        self._vertices: list[tuple[float, float]] = []
        self._point = (0.0, 0.0)
        self._weights: list[float] = []
        self._extrapolate = False
        self._dragging = False
        self._zone_image: QImage | None = None
        self._overlay: QImage | None = None
        self._overlay_label = ""
        self._pins: list[list[float]] = []
        self._hover: tuple[float, float] | None = None  # where a click would put the handle
        self._empty_text = NO_ANCHORS  # what an empty picker says: why it is empty
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)  # the hover ring shows where a click would land
        self.setAccessibleName("Style picker")

    # ----- public API -------------------------------------------------------------------------
    def set_anchors(self, names: Sequence[str], colours: Sequence[str]) -> None:
        self._names = list(names)
        self._colours = [QColor(c) for c in colours]
        n = len(names)
        if n >= 3:
            self._vertices = regular_polygon(n)
        elif n == 2:
            self._vertices = [(-1.0, 0.0), (1.0, 0.0)]
        else:
            self._vertices = [(0.0, 0.0)] * n
        if n != 3:
            self._extrapolate = False
        self._pins = []
        self._overlay = None
        self._zone_image = None
        self._move_to(self._centre(), emit=False)
        self.update()

    def set_empty_text(self, text: str | None) -> None:
        """What the picker says while it has no anchors (a model loading, a load that failed);
        None: that no anchors are enabled."""
        text = text or NO_ANCHORS
        if text != self._empty_text:
            self._empty_text = text
            if not self._names:
                self.update()

    def empty_text(self) -> str:
        return self._empty_text

    def anchor_names(self) -> list[str]:
        return list(self._names)

    def weights(self) -> list[float]:
        return list(self._weights)

    def set_weights(self, weights: Sequence[float]) -> None:
        """Place the handle at ``weights`` (they are not validated here)."""
        if len(weights) != len(self._names) or not self._names:
            return
        if len(self._names) >= 3:
            self._move_to(bary_to_cart(list(weights), self._vertices), emit=True, exact=list(weights))
        elif len(self._names) == 2:
            self._move_to((2 * weights[1] - 1, 0.0), emit=True)

    def set_extrapolation(self, on: bool) -> None:
        """Let the handle leave the triangle (triangles only); zones are shaded."""
        on = bool(on) and len(self._names) == 3
        if on == self._extrapolate:
            return
        self._extrapolate = on
        self._zone_image = None
        if not on:
            self._move_to(self._point, emit=True)
        self.update()

    def extrapolation(self) -> bool:
        return self._extrapolate

    def set_pins(self, pins: Sequence[Sequence[float]]) -> None:
        self._pins = [list(p) for p in pins]
        self.update()

    def set_overlay(self, image: QImage | None, label: str = "") -> None:
        """A heat map drawn under the triangle (from the Analysis tab)."""
        self._overlay, self._overlay_label = image, label
        self.update()

    def extent(self) -> float:
        if self._extrapolate:
            return 2.6
        return 0.95 if len(self._vertices) == 3 else 1.12

    def transform(self) -> tuple[float, float, float]:
        # a triangle spans y in [-0.5, 1]: centre the view on it, not on its centroid
        centre = (0.0, 0.25) if len(self._vertices) == 3 and not self._extrapolate else (0.0, 0.0)
        return view_transform(self.width(), self.height(), self.extent(), centre=centre)

    def pixel_of_weights(self, weights: Sequence[float]) -> QPointF:
        x, y = plane_to_pixel(bary_to_cart(list(weights), self._vertices), self.transform())
        return QPointF(x, y)

    def sizeHint(self) -> QSize:
        return QSize(380, 360)

    def minimumSizeHint(self) -> QSize:
        return QSize(220, 200)

    # ----- geometry -----------------------------------------------------------------------------
    def _centre(self) -> tuple[float, float]:
        if not self._vertices:
            return (0.0, 0.0)
        n = len(self._vertices)
        return (sum(v[0] for v in self._vertices) / n, sum(v[1] for v in self._vertices) / n)

    def _weights_at(self, p: tuple[float, float]) -> list[float]:
        n = len(self._names)
        if n == 0:
            return []
        if n == 1:
            return [1.0]
        if n == 2:
            return _segment_weights(p)
        return plane_to_weights(p, self._vertices, extrapolate=self._extrapolate)

    def _move_to(self, p: tuple[float, float], emit: bool, exact: list[float] | None = None) -> None:
        weights = exact if exact is not None else self._weights_at(p)
        if len(self._names) >= 3:
            p = bary_to_cart(weights, self._vertices)
        elif len(self._names) == 2:
            p = (2 * weights[1] - 1, 0.0)
        if weights == self._weights and p == self._point:
            return
        self._point, self._weights = p, weights
        self.update()
        if emit:
            self.weightsChanged.emit(list(weights))

    def _plane_at(self, pos: QPointF) -> tuple[float, float]:
        t = self.transform()
        p = pixel_to_plane(pos.x(), pos.y(), t)
        if len(self._vertices) >= 3:
            return snap(p, self._vertices, SNAP_PIXELS / t[0])
        return p

    # ----- events ------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self._names:
            return
        self._dragging = True
        self._hover = None  # the handle itself is under the pointer now
        self._move_to(self._plane_at(event.position()), emit=True)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging:
            self._move_to(self._plane_at(event.position()), emit=True)
        elif self._names:
            self._hover = self._plane_at(event.position())
            self.setCursor(Qt.CursorShape.PointingHandCursor)
            self.update()

    def leaveEvent(self, event: QEvent) -> None:
        self._hover = None
        self.unsetCursor()
        self.update()
        super().leaveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._dragging:
            self._dragging = False
            self._move_to(self._plane_at(event.position()), emit=True)
            self.weightsCommitted.emit(self.weights())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        step = KEY_STEP * (5 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1)
        moves = {Qt.Key.Key_Left: (-step, 0), Qt.Key.Key_Right: (step, 0), Qt.Key.Key_Up: (0, step),
                 Qt.Key.Key_Down: (0, -step)}
        key = Qt.Key(event.key())
        if key in moves and self._names:
            dx, dy = moves[key]
            self._move_to((self._point[0] + dx, self._point[1] + dy), emit=True)
            self.weightsCommitted.emit(self.weights())
        elif event.key() == Qt.Key.Key_Home and self._names:
            self._move_to(self._centre(), emit=True)
            self.weightsCommitted.emit(self.weights())
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._zone_image = None
        super().resizeEvent(event)

    # ----- painting ----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        if not self._names:
            self._draw_empty(painter)
            return
        if self._extrapolate:
            self._draw_zones(painter)
        self._draw_shape(painter)
        self._draw_overlay(painter)
        self._draw_pins(painter)
        self._draw_vertices(painter)
        self._draw_hover(painter)
        self._draw_handle(painter)
        if self.hasFocus():
            self._draw_focus(painter)

    def _draw_focus(self, painter: QPainter) -> None:
        # no brush: with the handle's brush still set, the "frame" filled the whole widget
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)  # a crisp 1-pixel frame
        painter.setPen(QPen(self.palette().highlight().color(), 1, Qt.PenStyle.DashLine))
        painter.drawRect(self.rect().adjusted(1, 1, -2, -2))

    def _draw_hover(self, painter: QPainter) -> None:
        if self._hover is None or self._dragging:
            return
        x, y = plane_to_pixel(self._hover, self.transform())
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(self.palette().mid().color(), 1.5, Qt.PenStyle.DotLine))
        painter.drawEllipse(QPointF(x, y), 9, 9)

    def _polygon(self) -> QPolygonF:
        t = self.transform()
        return QPolygonF([QPointF(*plane_to_pixel(v, t)) for v in self._vertices])

    def _draw_empty(self, painter: QPainter) -> None:
        painter.setPen(self.palette().placeholderText().color())
        painter.drawText(self.rect().adjusted(12, 0, -12, 0),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._empty_text)

    def _draw_zones(self, painter: QPainter) -> None:
        if self._zone_image is None or self._zone_image.size() != self.size():
            self._zone_image = self._zone_raster()
        painter.drawImage(0, 0, self._zone_image.scaled(self.size()))

    def _zone_raster(self) -> QImage:
        w, h = max(1, self.width() // 4), max(1, self.height() // 4)
        rgba = np.zeros((h, w, 4), dtype=np.uint8)
        colours = {zone: np.array(c.getRgb(), dtype=np.uint8) for zone, c in ZONE_COLOURS.items()}
        t = self.transform()
        for y in range(h):
            for x in range(w):
                weights = plane_to_weights(pixel_to_plane(x * 4 + 2, y * 4 + 2, t),
                                           self._vertices, extrapolate=True)
                zone = max(zone_of(v) for v in weights)
                if zone in colours:
                    rgba[y, x] = colours[zone]
        return rgba_image(rgba)

    def _draw_shape(self, painter: QPainter) -> None:
        fill = QColor(self.palette().window().color())
        fill.setAlpha(220)
        painter.setPen(QPen(self.palette().text().color(), 1.5))
        painter.setBrush(fill)
        if len(self._vertices) >= 3:
            painter.drawPolygon(self._polygon())
            centre = QPointF(*plane_to_pixel(self._centre(), self.transform()))
            painter.setPen(QPen(self.palette().mid().color(), 1))
            painter.drawLine(centre + QPointF(-4, 0), centre + QPointF(4, 0))
            painter.drawLine(centre + QPointF(0, -4), centre + QPointF(0, 4))
        elif len(self._vertices) == 2:
            poly = self._polygon()
            painter.drawLine(poly.at(0), poly.at(1))

    def _draw_overlay(self, painter: QPainter) -> None:
        if self._overlay is None or len(self._vertices) < 3:
            return
        path = QPainterPath()
        path.addPolygon(self._polygon())
        painter.save()
        painter.setClipPath(path)
        painter.setOpacity(0.75)
        painter.drawImage(self._polygon().boundingRect(), self._overlay)
        painter.restore()
        painter.setPen(self.palette().text().color())
        painter.drawText(QRectF(6, self.height() - 22, self.width() - 12, 18), Qt.AlignmentFlag.AlignLeft,
                         f"heat map: {self._overlay_label}")

    def _draw_pins(self, painter: QPainter) -> None:
        painter.setPen(QPen(QColor("#555555"), 1))
        painter.setBrush(QColor("#ffffff"))
        for k, pin in enumerate(self._pins):
            if len(pin) != len(self._names) or len(self._names) < 3:
                continue
            at = self.pixel_of_weights(pin)
            painter.drawRect(QRectF(at.x() - 4, at.y() - 4, 8, 8))
            painter.drawText(at + QPointF(6, -6), str(k + 1))

    def _draw_vertices(self, painter: QPainter) -> None:
        t = self.transform()
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        for name, colour, v, w in zip(self._names, self._colours, self._vertices, self._weights):
            x, y = plane_to_pixel(v, t)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawEllipse(QPointF(x, y), 7, 7)
            label = f"{name}  {weight_text(w)}"
            width = metrics.horizontalAdvance(label)
            lx = min(max(4.0, x - width / 2), self.width() - width - 4)
            ly = y - 12 if v[1] >= 0 else y + 12 + metrics.ascent()
            painter.setPen(colour.darker(130))
            painter.drawText(QPointF(lx, ly), label)

    def _draw_handle(self, painter: QPainter) -> None:
        x, y = plane_to_pixel(self._point, self.transform())
        colour = QColor(0, 0, 0)
        if self._names and len(self._names) >= 3:
            mix = [0.0, 0.0, 0.0]
            for c, w in zip(self._colours, self._weights):
                cw = min(1.0, max(0.0, w))
                mix = [mix[0] + cw * c.red(), mix[1] + cw * c.green(), mix[2] + cw * c.blue()]
            colour = QColor(*[int(min(255, max(0, m))) for m in mix])
        painter.setPen(QPen(self.palette().text().color(), 2))
        painter.setBrush(colour)
        painter.drawEllipse(QPointF(x, y), 9, 9)
