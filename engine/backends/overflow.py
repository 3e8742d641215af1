"""The cheap overflow bound both mergers use before they look at a merged matrix.

For W = W0 + sum_i w_i s_i B_i A_i, each entry satisfies
|W| <= max|W0| + sum_i |w_i| r_i max|s_i B_i| max|A_i|. Where that bound stays below the
dtype's largest value divided by SAFETY, the result is finite without checking it; elsewhere
the merged matrix is checked exactly before anything is written.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

SAFETY = 4.0


def anchor_bound(rank: int, b_absmax: float, a_absmax: float) -> float:
    """One anchor's share of the bound per unit weight: r max|s B| max|A|."""
    return rank * b_absmax * a_absmax


def merged_bound(w0_absmax: np.ndarray | float, bounds: np.ndarray | Sequence[float],
                 weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """The bound for each matrix (rows of ``bounds``: matrices x anchors, or one row)."""
    w = np.abs(np.asarray(weights, dtype=np.float64))
    return np.asarray(w0_absmax, dtype=np.float64) + np.asarray(bounds, dtype=np.float64) @ w


def needs_exact_check(bound: np.ndarray | float, limit: np.ndarray | float) -> np.ndarray:
    return np.asarray(bound) >= np.asarray(limit) / SAFETY
