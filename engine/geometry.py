"""Barycentric <-> plane coordinates for the picker: the triangle and the regular N-gon.

Pure functions on tuples of floats, so the GUI and the tests use them without Qt.
The anchors sit on the unit circle, the first at the top, the rest clockwise.
"""
from __future__ import annotations

import math
from typing import Sequence

Vec = tuple[float, float]


def regular_polygon(n: int) -> list[Vec]:
    """Vertices of a regular n-gon on the unit circle, first at the top, clockwise (y up)."""
    if n < 3:
        raise ValueError(f"a polygon needs at least 3 vertices, got {n}")
    return [
        (math.sin(2 * math.pi * k / n), math.cos(2 * math.pi * k / n)) for k in range(n)
    ]


def bary_to_cart(weights: Sequence[float], vertices: Sequence[Vec]) -> Vec:
    """The point sum_i w_i v_i (also outside the polygon, for extrapolated weights)."""
    if len(weights) != len(vertices):
        raise ValueError(f"{len(weights)} weights for {len(vertices)} vertices")
    return (
        math.fsum(w * v[0] for w, v in zip(weights, vertices)),
        math.fsum(w * v[1] for w, v in zip(weights, vertices)),
    )


def triangle_bary(p: Vec, a: Vec, b: Vec, c: Vec) -> tuple[float, float, float]:
    """Barycentric coordinates of p in triangle abc; negative outside, always summing to 1."""
    det = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
    if abs(det) < 1e-15:
        raise ValueError("degenerate triangle")
    l1 = ((b[1] - c[1]) * (p[0] - c[0]) + (c[0] - b[0]) * (p[1] - c[1])) / det
    l2 = ((c[1] - a[1]) * (p[0] - c[0]) + (a[0] - c[0]) * (p[1] - c[1])) / det
    return (l1, l2, 1.0 - l1 - l2)


def _cross(o: Vec, a: Vec, b: Vec) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def contains(p: Vec, vertices: Sequence[Vec], eps: float = 1e-12) -> bool:
    """True if p lies in the convex polygon (either winding), boundary included."""
    n = len(vertices)
    signs = [_cross(vertices[i], vertices[(i + 1) % n], p) for i in range(n)]
    return all(s >= -eps for s in signs) or all(s <= eps for s in signs)


def closest_on_segment(p: Vec, a: Vec, b: Vec) -> Vec:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2
    t = min(1.0, max(0.0, t))
    return (a[0] + t * dx, a[1] + t * dy)


def clamp_to_polygon(p: Vec, vertices: Sequence[Vec]) -> Vec:
    """p itself if inside, else the closest point of the polygon's boundary."""
    if contains(p, vertices):
        return p
    n = len(vertices)
    candidates = [closest_on_segment(p, vertices[i], vertices[(i + 1) % n]) for i in range(n)]
    return min(candidates, key=lambda q: _dist2(p, q))


def _dist2(p: Vec, q: Vec) -> float:
    return (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2


def wachspress(p: Vec, vertices: Sequence[Vec]) -> list[float]:
    """Wachspress generalised barycentric coordinates of p in a convex polygon.

    They are >= 0 inside, sum to 1 and reproduce p (sum w_i v_i = p). Points outside are
    first clamped to the boundary. For a triangle they equal ordinary barycentric coordinates.
    """
    n = len(vertices)
    p = clamp_to_polygon(p, vertices)
    # On a vertex or an edge the formula divides by zero: interpolate linearly there.
    for i in range(n):
        a, b = vertices[i], vertices[(i + 1) % n]
        if _dist2(p, a) < 1e-24:
            return [1.0 if k == i else 0.0 for k in range(n)]
        if abs(_cross(a, b, p)) < 1e-12 and _dist2(closest_on_segment(p, a, b), p) < 1e-24:
            t = math.sqrt(_dist2(p, a) / _dist2(a, b))
            out = [0.0] * n
            out[i], out[(i + 1) % n] = 1.0 - t, t
            return out
    weights = []
    for i in range(n):
        prev, cur, nxt = vertices[i - 1], vertices[i], vertices[(i + 1) % n]
        area_corner = abs(_cross(prev, cur, nxt))
        a_prev = abs(_cross(p, prev, cur))
        a_next = abs(_cross(p, cur, nxt))
        weights.append(area_corner / (a_prev * a_next))
    total = math.fsum(weights)
    return [w / total for w in weights]


def plane_to_weights(p: Vec, vertices: Sequence[Vec], *, extrapolate: bool = False) -> list[float]:
    """Weights for a point of the picker's plane.

    A triangle uses exact barycentric coordinates; with ``extrapolate`` they may be
    negative (outside the triangle), otherwise p is clamped onto the triangle first.
    An N-gon uses Wachspress coordinates, which exist only inside the polygon.
    """
    if len(vertices) == 3:
        if not extrapolate:
            p = clamp_to_polygon(p, vertices)
        weights = list(triangle_bary(p, *vertices))
        return weights if extrapolate else _on_simplex(weights)
    return _on_simplex(wachspress(p, vertices))


def _on_simplex(weights: list[float]) -> list[float]:
    """A point on an edge can come out of the arithmetic a hair below 0 (-4e-17): that is 0."""
    clean = [max(0.0, w) for w in weights]
    total = math.fsum(clean)
    return [w / total for w in clean] if clean != weights and total > 0 else weights


def snap(p: Vec, vertices: Sequence[Vec], radius: float) -> Vec:
    """Snap p to a corner, then the centre, then an edge, whichever is within ``radius``."""
    for v in vertices:
        if _dist2(p, v) <= radius * radius:
            return v
    n = len(vertices)
    centre = (math.fsum(v[0] for v in vertices) / n, math.fsum(v[1] for v in vertices) / n)
    if _dist2(p, centre) <= radius * radius:
        return centre
    for i in range(n):
        q = closest_on_segment(p, vertices[i], vertices[(i + 1) % n])
        if _dist2(p, q) <= radius * radius:
            return q
    return p


def edge_steps(i: int, j: int, n_anchors: int, steps: int) -> list[list[float]]:
    """``steps`` evenly spaced simplex points from corner i to corner j, both included."""
    if steps < 2:
        raise ValueError("an edge walk needs at least 2 steps")
    out = []
    for k in range(steps):
        t = k / (steps - 1)
        w = [0.0] * n_anchors
        w[i] += 1.0 - t
        w[j] += t
        out.append(w)
    return out


def view_transform(width: float, height: float, extent: float, margin: float = 28.0,
                   centre: Vec = (0.0, 0.0)) -> tuple[float, float, float]:
    """(scale, cx, cy): the plane square of half-size ``extent`` around ``centre`` fitted into
    a widget, y up; (cx, cy) is the pixel of the plane's origin."""
    scale = max(1e-6, (min(width, height) / 2 - margin) / extent)
    return scale, width / 2 - centre[0] * scale, height / 2 + centre[1] * scale


def plane_to_pixel(p: Vec, transform: tuple[float, float, float]) -> Vec:
    scale, cx, cy = transform
    return (cx + p[0] * scale, cy - p[1] * scale)


def pixel_to_plane(x: float, y: float, transform: tuple[float, float, float]) -> Vec:
    scale, cx, cy = transform
    return ((x - cx) / scale, (cy - y) / scale)
