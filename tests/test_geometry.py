from __future__ import annotations

import math

import pytest
from hypothesis import given, strategies as st

from engine.geometry import (bary_to_cart, contains, edge_steps, plane_to_weights, regular_polygon, snap, triangle_bary, wachspress)

TRI = regular_polygon(3)


def simplex_points(n):
    return st.lists(st.floats(0.001, 1), min_size=n, max_size=n).map(
        lambda v: [x / sum(v) for x in v])


@given(simplex_points(3))
def test_triangle_round_trip(w):
    p = bary_to_cart(w, TRI)
    back = plane_to_weights(p, TRI)
    assert back == pytest.approx(w, abs=1e-9)


@given(st.lists(st.floats(-1, 2), min_size=2, max_size=2))
def test_extrapolated_triangle_round_trip(w2):
    w = [w2[0], w2[1], 1 - w2[0] - w2[1]]
    back = plane_to_weights(bary_to_cart(w, TRI), TRI, extrapolate=True)
    assert back == pytest.approx(w, abs=1e-9)


def test_outside_without_extrapolation_is_clamped_to_the_triangle():
    w = plane_to_weights((0.0, 5.0), TRI)
    assert w == pytest.approx([1, 0, 0], abs=1e-9)
    assert all(x >= -1e-12 for x in plane_to_weights((3.0, -3.0), TRI))


@pytest.mark.parametrize("n", [3, 4, 5, 6, 8])
@given(data=st.data())
def test_wachspress_reproduces_points(n, data):
    poly = regular_polygon(n)
    w = data.draw(simplex_points(n))
    p = bary_to_cart(w, poly)  # inside (convex combination)
    coords = wachspress(p, poly)
    assert math.fsum(coords) == pytest.approx(1.0)
    assert all(c >= -1e-12 for c in coords)
    assert bary_to_cart(coords, poly) == pytest.approx(p, abs=1e-9)


def test_wachspress_corners_edges_and_triangle():
    poly = regular_polygon(5)
    assert wachspress(poly[2], poly) == pytest.approx([0, 0, 1, 0, 0])
    mid = ((poly[0][0] + poly[1][0]) / 2, (poly[0][1] + poly[1][1]) / 2)
    assert wachspress(mid, poly) == pytest.approx([0.5, 0.5, 0, 0, 0])
    assert wachspress((0.1, 0.2), TRI) == pytest.approx(list(triangle_bary((0.1, 0.2), *TRI)))
    assert wachspress((0.0, 0.0), poly) == pytest.approx([0.2] * 5)


def test_snap_prefers_corners_then_centre_then_edges():
    assert snap((0.02, 0.97), TRI, 0.1) == TRI[0]
    assert snap((0.03, -0.02), TRI, 0.1) == pytest.approx((0.0, 0.0))
    q = snap((0.0, -0.55), TRI, 0.1)
    assert q[1] == pytest.approx(-0.5) and contains(q, TRI)
    assert snap((0.3, 0.1), TRI, 0.05) == (0.3, 0.1)


def test_edge_steps():
    steps = edge_steps(0, 2, 3, 5)
    assert steps[0] == [1, 0, 0] and steps[-1] == [0, 0, 1]
    assert steps[2] == pytest.approx([0.5, 0, 0.5])
    with pytest.raises(ValueError):
        edge_steps(0, 1, 3, 1)


def test_polygon_needs_three_vertices():
    with pytest.raises(ValueError):
        regular_polygon(2)


def test_a_point_snapped_onto_an_edge_is_on_the_simplex_exactly():
    """Dragging onto an edge snapped the handle there with a weight of -4e-17, which the engine
    refused as a negative weight (found using the app under Xvfb)."""
    import random

    from engine.weights import make_point

    rng = random.Random(0)
    vertices = regular_polygon(3)
    for _ in range(2000):
        i = rng.randrange(3)
        a, b = vertices[i], vertices[(i + 1) % 3]
        t = rng.random()
        on_edge = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
        near = (on_edge[0] + rng.uniform(-0.02, 0.02), on_edge[1] + rng.uniform(-0.02, 0.02))
        w = plane_to_weights(snap(near, vertices, 0.05), vertices)
        assert min(w) >= 0.0 and abs(sum(w) - 1) < 1e-12
        make_point(w, ["a", "b", "c"])  # accepted without the extrapolation flag
