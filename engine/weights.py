"""The point: a weight vector over named anchors, its validation and the paper's zones.

Kangaslahti & Alvarez-Melis (2024) find interpolation (each position in [0, 1]) well
behaved, a little extrapolation ([-1, 0) and (1, 2]) stable, and anything beyond unstable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Mapping, Sequence

from engine.errors import ProsemixError

SUM_TOLERANCE = 1e-6
# A sum this close to 1 is what people type for thirds (0.333333 x 3): it is normalised, and
# the Point says so. Further off is refused.
TYPED_SUM_TOLERANCE = 1e-3
STRENGTH_RANGE = (0.0, 3.0)


class Zone(IntEnum):
    """Ordered so that max() gives the worst zone of several positions."""

    INTERPOLATION = 0
    STABLE_EXTRAPOLATION = 1
    UNSTABLE_EXTRAPOLATION = 2

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


def zone_of(position: float) -> Zone:
    """The paper's zone of one position (a barycentric weight or an attribute's alpha)."""
    if 0.0 <= position <= 1.0:
        return Zone.INTERPOLATION
    if -1.0 <= position <= 2.0:
        return Zone.STABLE_EXTRAPOLATION
    return Zone.UNSTABLE_EXTRAPOLATION


@dataclass(frozen=True)
class Point:
    """Weights over named anchors, validated, times a global strength s:
    W = W_base + s * sum_i w_i Delta_i. s = 0 is the base model, s = 1 the blend itself,
    s > 1 extrapolates along it. ``zone`` is the worst of the weights' zones and the
    strength's."""

    names: tuple[str, ...]
    values: tuple[float, ...]
    zones: tuple[Zone, ...]
    strength: float = 1.0
    normalized_from: float | None = None  # the typed sum, when it was normalised

    @property
    def zone(self) -> Zone:
        return max((*self.zones, zone_of(self.strength)), default=Zone.INTERPOLATION)

    @property
    def effective(self) -> tuple[float, ...]:
        """What each anchor's delta is multiplied by: s * w_i."""
        return tuple(self.strength * v for v in self.values)

    @property
    def note(self) -> str:
        """What the user should be told about how the point was read ("" if nothing)."""
        if self.normalized_from is None:
            return ""
        return f"the weights summed to {self.normalized_from:.6g}; normalised to 1"

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.values))

    def label(self, digits: int = 2) -> str:
        return ", ".join(f"{n}={v:.{digits}f}" for n, v in zip(self.names, self.values))


def balanced(values: Sequence[float], balance: Sequence[float]) -> tuple[float, ...]:
    """The picker's weights moved so that the centre of the simplex lands on the balance point
    b = balance / sum(balance), while every corner and every edge stays where it is.

    The map is the stellar subdivision's piecewise-linear one: with m the smallest weight,
    w = n m c + sum_i (w_i - m) e_i (c the centre, e_i the corners) goes to
    n m b + sum_i (w_i - m) e_i, that is w + m (n b - 1). It keeps the sum of the weights, maps
    the simplex onto itself one to one, and is homogeneous (strength commutes with it). A point
    with a weight at or below 0 (an edge, a corner, extrapolation) has m <= 0 and is left as it
    is. Equal balances are the identity.
    """
    n = len(values)
    if n != len(balance):
        raise ProsemixError(f"{n} weights but {len(balance)} balances")
    if n < 2 or len(set(balance)) <= 1:
        return tuple(values)
    total = sum(balance)
    m = max(0.0, min(values))
    return tuple(v + m * (n * b / total - 1.0) for v, b in zip(values, balance))


def _check_finite(names: Sequence[str], values: Sequence[float]) -> None:
    for name, value in zip(names, values):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ProsemixError(f"weight for {name!r} is not a finite number: {value!r}")


def make_point(
    weights: Mapping[str, float] | Sequence[float],
    names: Sequence[str],
    *,
    normalize: bool = False,
    extrapolate: bool = False,
    strength: float = 1.0,
) -> Point:
    """Validate weights for the anchors ``names`` (in that order).

    By default the weights must lie on the simplex: each >= 0 and summing to 1. A sum within
    1e-3 of 1 (thirds typed as 0.333333) is normalised, and ``Point.note`` says so; further
    off is refused. ``normalize`` divides by any sum instead; it never happens silently.
    ``extrapolate`` admits negative weights and weights above 1 (the sum still has to be 1).
    ``strength`` (0..3) scales every anchor's delta.
    """
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) \
            or not STRENGTH_RANGE[0] <= strength <= STRENGTH_RANGE[1]:
        raise ProsemixError(f"strength must be a number in [{STRENGTH_RANGE[0]:g}, "
                            f"{STRENGTH_RANGE[1]:g}], got {strength!r}")
    names = tuple(names)
    if len(set(names)) != len(names):
        raise ProsemixError(f"anchor names must be unique, got {list(names)}")
    if isinstance(weights, Mapping):
        unknown = [k for k in weights if k not in names]
        if unknown:
            raise ProsemixError(
                f"unknown anchor name(s) {unknown}; known anchors: {list(names)}"
            )
        values = [weights.get(n, 0.0) for n in names]
    else:
        values = list(weights)
        if len(values) != len(names):
            raise ProsemixError(
                f"got {len(values)} weight(s) for {len(names)} anchor(s) {list(names)}"
            )
    _check_finite(names, values)
    values = [float(v) for v in values]
    if not names:
        return Point((), (), (), float(strength))
    total = math.fsum(values)
    typed = None
    if not normalize and SUM_TOLERANCE < abs(total - 1.0) <= TYPED_SUM_TOLERANCE:
        normalize, typed = True, total
    if normalize:
        if abs(total) < 1e-12:
            raise ProsemixError("cannot normalise weights that sum to 0")
        values = [v / total for v in values]
        total = 1.0
    if not extrapolate:
        negative = [(n, v) for n, v in zip(names, values) if v < 0]
        if negative:
            raise ProsemixError(
                f"negative weight(s) {negative}: pass the extrapolation flag to leave the simplex"
            )
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ProsemixError(
            f"weights sum to {total:.6g}, not 1; normalise them explicitly or fix them"
        )
    return Point(names, tuple(values), tuple(zone_of(v) for v in values), float(strength), typed)


def parse_weights(text: str, names: Sequence[str]) -> dict[str, float] | list[float]:
    """Parse ``NAME=W,...`` or ``W,W,...`` as typed on the command line."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ProsemixError("no weights given")
    if all("=" in p for p in parts):
        out: dict[str, float] = {}
        for part in parts:
            key, _, raw = part.partition("=")
            out[key.strip()] = _parse_float(raw, key.strip())
        return out
    if any("=" in p for p in parts):
        raise ProsemixError(f"mix of NAME=W and bare weights in {text!r}; use one form")
    return [_parse_float(p, f"#{i + 1}") for i, p in enumerate(parts)]


def _parse_float(raw: str, what: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ProsemixError(f"weight {what} is not a number: {raw.strip()!r}") from None


@dataclass(frozen=True)
class Attribute:
    """An attribute with two anchors as its poles, e.g. sentiment: positive / negative."""

    name: str
    plus: str
    minus: str


def attribute_point(
    attributes: Sequence[Attribute],
    alphas: Sequence[float],
    lambdas: Sequence[float],
    *,
    extrapolate: bool = False,
) -> Point:
    """The paper's two-level form: w(+i) = lambda_i * alpha_i, w(-i) = lambda_i * (1 - alpha_i).

    The lambdas must be >= 0 and sum to 1. Each alpha outside [0, 1] needs ``extrapolate``;
    the zones of the result are those of the alphas (both poles share their attribute's zone).
    """
    if not (len(attributes) == len(alphas) == len(lambdas)):
        raise ProsemixError(
            f"{len(attributes)} attribute(s) but {len(alphas)} alpha(s) and {len(lambdas)} lambda(s)"
        )
    _check_finite([f"alpha[{a.name}]" for a in attributes], list(alphas))
    _check_finite([f"lambda[{a.name}]" for a in attributes], list(lambdas))
    if any(l < 0 for l in lambdas):
        raise ProsemixError(f"mixing weights lambda must be >= 0, got {list(lambdas)}")
    if abs(math.fsum(lambdas) - 1.0) > SUM_TOLERANCE:
        raise ProsemixError(f"mixing weights lambda sum to {math.fsum(lambdas):.6g}, not 1")
    if not extrapolate:
        outside = [(a.name, x) for a, x in zip(attributes, alphas) if not 0.0 <= x <= 1.0]
        if outside:
            raise ProsemixError(
                f"alpha outside [0, 1] for {outside}: pass the extrapolation flag"
            )
    names: list[str] = []
    values: list[float] = []
    zones: list[Zone] = []
    for attr, alpha, lam in zip(attributes, alphas, lambdas):
        for pole, value in ((attr.plus, lam * alpha), (attr.minus, lam * (1.0 - alpha))):
            if pole in names:
                raise ProsemixError(f"anchor {pole!r} is a pole of more than one attribute")
            names.append(pole)
            values.append(value)
            zones.append(zone_of(alpha))
    return Point(tuple(names), tuple(values), tuple(zones))
