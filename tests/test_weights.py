from __future__ import annotations

import math

import pytest
from hypothesis import given, strategies as st

from engine.errors import ProsemixError
from engine.weights import (Attribute, Zone, attribute_point, balanced, make_point, parse_weights,
                            zone_of)

NAMES = ("a", "b", "c")


def test_simplex_point_accepted_and_ordered():
    p = make_point({"c": 0.2, "a": 0.5, "b": 0.3}, NAMES)
    assert p.values == (0.5, 0.3, 0.2)
    assert p.zone is Zone.INTERPOLATION
    assert p.as_dict() == {"a": 0.5, "b": 0.3, "c": 0.2}


@pytest.mark.parametrize("weights, message", [
    ([0.5, 0.5], "2 weight"),
    ([0.5, 0.3, 0.3], "sum to 1.1"),
    ([1.2, -0.1, -0.1], "negative"),
    ([math.nan, 0.5, 0.5], "not a finite"),
    ([math.inf, 0, 0], "not a finite"),
    ({"a": 1.0, "zz": 0.0}, "unknown anchor name"),
    (["x", 0.5, 0.5], "not a finite"),
])
def test_bad_weights_name_the_problem(weights, message):
    with pytest.raises(ProsemixError, match=message):
        make_point(weights, NAMES)


def test_normalise_is_explicit():
    with pytest.raises(ProsemixError):
        make_point([2, 1, 1], NAMES)
    p = make_point([2, 1, 1], NAMES, normalize=True)
    assert p.values == (0.5, 0.25, 0.25)
    with pytest.raises(ProsemixError, match="sum to 0"):
        make_point([0, 0, 0], NAMES, normalize=True)


def test_extrapolation_needs_flag_and_reports_zone():
    p = make_point([1.5, -0.5, 0.0], NAMES, extrapolate=True)
    assert p.zones == (Zone.STABLE_EXTRAPOLATION, Zone.STABLE_EXTRAPOLATION, Zone.INTERPOLATION)
    assert p.zone is Zone.STABLE_EXTRAPOLATION
    p = make_point([3.0, -2.0, 0.0], NAMES, extrapolate=True)
    assert p.zone is Zone.UNSTABLE_EXTRAPOLATION


@pytest.mark.parametrize("x, zone", [(0, Zone.INTERPOLATION), (1, Zone.INTERPOLATION),
                                     (0.5, Zone.INTERPOLATION), (-1, Zone.STABLE_EXTRAPOLATION),
                                     (-0.01, Zone.STABLE_EXTRAPOLATION), (2, Zone.STABLE_EXTRAPOLATION),
                                     (2.01, Zone.UNSTABLE_EXTRAPOLATION),
                                     (-1.01, Zone.UNSTABLE_EXTRAPOLATION)])
def test_zone_boundaries(x, zone):
    assert zone_of(x) is zone


simplex = st.lists(st.floats(0, 1), min_size=1, max_size=8).filter(lambda v: sum(v) > 1e-3)


@given(simplex)
def test_normalised_points_lie_on_the_simplex(values):
    names = [f"n{i}" for i in range(len(values))]
    p = make_point(values, names, normalize=True)
    assert abs(math.fsum(p.values) - 1) <= 1e-9
    assert all(v >= 0 for v in p.values)
    # and a valid point passes validation unchanged
    assert make_point(list(p.values), names).values == p.values


ATTRS = [Attribute("sentiment", "positive", "negative"), Attribute("simplicity", "simple", "complex")]


def test_attribute_form_matches_the_paper():
    p = attribute_point(ATTRS, [0.75, 0.2], [0.6, 0.4])
    d = p.as_dict()
    assert d["positive"] == pytest.approx(0.45) and d["negative"] == pytest.approx(0.15)
    assert d["simple"] == pytest.approx(0.08) and d["complex"] == pytest.approx(0.32)
    assert math.fsum(p.values) == pytest.approx(1.0)


def test_attribute_extrapolation_zones():
    with pytest.raises(ProsemixError, match="alpha outside"):
        attribute_point(ATTRS, [1.5, 0.5], [0.5, 0.5])
    p = attribute_point(ATTRS, [1.5, 0.5], [0.5, 0.5], extrapolate=True)
    assert p.zones[:2] == (Zone.STABLE_EXTRAPOLATION,) * 2
    assert p.zones[2:] == (Zone.INTERPOLATION,) * 2
    assert attribute_point(ATTRS, [3.0, 0.5], [0.5, 0.5], extrapolate=True).zone \
        is Zone.UNSTABLE_EXTRAPOLATION
    with pytest.raises(ProsemixError, match="lambda sum"):
        attribute_point(ATTRS, [0.5, 0.5], [0.5, 0.6])
    with pytest.raises(ProsemixError, match=">= 0"):
        attribute_point(ATTRS, [0.5, 0.5], [1.5, -0.5])


@given(st.lists(st.floats(-1, 2), min_size=2, max_size=2),
       st.lists(st.floats(0, 1), min_size=2, max_size=2).filter(lambda v: sum(v) > 1e-3))
def test_attribute_points_sum_to_one(alphas, lambdas):
    total = sum(lambdas)
    lambdas = [l / total for l in lambdas]
    lambdas[-1] = 1 - math.fsum(lambdas[:-1])
    p = attribute_point(ATTRS, alphas, lambdas, extrapolate=True)
    assert math.fsum(p.values) == pytest.approx(1.0, abs=1e-9)


def test_parse_weights_forms():
    assert parse_weights("a=0.5, b=0.5", NAMES) == {"a": 0.5, "b": 0.5}
    assert parse_weights("0.2,0.3,0.5", NAMES) == [0.2, 0.3, 0.5]
    with pytest.raises(ProsemixError, match="not a number"):
        parse_weights("0.2,x,0.5", NAMES)
    with pytest.raises(ProsemixError, match="mix"):
        parse_weights("a=0.2,0.8", NAMES)


def test_thirds_as_typed_are_normalised_and_said_so():
    p = make_point([0.333333, 0.333333, 0.333333], ["a", "b", "c"])
    assert sum(p.values) == pytest.approx(1.0, abs=1e-12)
    assert p.normalized_from == pytest.approx(0.999999) and "0.999999" in p.note
    exact = make_point([0.5, 0.25, 0.25], ["a", "b", "c"])
    assert exact.note == "" and exact.normalized_from is None
    with pytest.raises(ProsemixError, match="sum to 0.99"):
        make_point([0.33, 0.33, 0.33], ["a", "b", "c"])  # 0.99: really off, refused


def test_strength_scales_the_effective_weights_and_has_zones():
    p = make_point([0.2, 0.8], ["a", "b"], strength=1.5)
    assert p.effective == pytest.approx((0.3, 1.2))
    assert p.zone == Zone.STABLE_EXTRAPOLATION
    assert make_point([0.2, 0.8], ["a", "b"], strength=0.0).effective == (0.0, 0.0)
    assert make_point([0.2, 0.8], ["a", "b"], strength=2.5).zone == Zone.UNSTABLE_EXTRAPOLATION
    assert make_point([0.2, 0.8], ["a", "b"]).zone == Zone.INTERPOLATION
    for bad in (-0.1, 3.5, float("nan"), True):
        with pytest.raises(ProsemixError, match="strength"):
            make_point([0.2, 0.8], ["a", "b"], strength=bad)


def test_balance_moves_the_centre_and_keeps_corners_and_edges():
    b = (1.0, 6.0, 3.0)  # the centre should become (0.1, 0.6, 0.3)
    assert balanced((1 / 3, 1 / 3, 1 / 3), b) == pytest.approx((0.1, 0.6, 0.3))
    for corner in ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)):
        assert balanced(corner, b) == corner
    for edge in ((0.3, 0.7, 0.0), (0.0, 0.25, 0.75), (0.5, 0.0, 0.5)):
        assert balanced(edge, b) == edge
    # extrapolation (a negative weight) is left as it is
    assert balanced((1.2, -0.2, 0.0), b) == (1.2, -0.2, 0.0)
    # equal balances, and a single anchor, are the identity
    assert balanced((0.2, 0.5, 0.3), (2.0, 2.0, 2.0)) == (0.2, 0.5, 0.3)
    assert balanced((1.0,), (3.0,)) == (1.0,)
    # an interior point moves part of the way: (0.5, 0.25, 0.25) has m = 0.25
    assert balanced((0.5, 0.25, 0.25), b) == pytest.approx((0.5 - 0.25 * 0.7, 0.25 + 0.25 * 0.8, 0.25 - 0.25 * 0.1))
    with pytest.raises(ProsemixError, match="balances"):
        balanced((0.5, 0.5), (1.0, 2.0, 3.0))


@given(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3).filter(lambda v: sum(v) > 1e-3),
       st.lists(st.floats(0.1, 10.0), min_size=3, max_size=3), st.floats(0.0, 3.0))
def test_balance_stays_on_the_simplex_and_commutes_with_strength(values, b, s):
    w = [v / sum(values) for v in values]
    moved = balanced(w, b)
    assert sum(moved) == pytest.approx(1.0)
    assert min(moved) >= -1e-12
    assert balanced([s * v for v in w], b) == pytest.approx([s * v for v in moved], abs=1e-12)


def test_balance_is_one_to_one_along_a_line_through_the_centre():
    """Moving from a corner through the centre to the opposite edge, the moved point's first
    weight falls strictly: the map does not fold the triangle."""
    b = (1.0, 6.0, 3.0)
    line = [(1 - t, t / 2, t / 2) for t in [k / 20 for k in range(21)]]
    firsts = [balanced(p, b)[0] for p in line]
    assert all(x > y for x, y in zip(firsts, firsts[1:]))
