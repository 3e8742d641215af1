"""Figures from sweep tables and from the anchors themselves (matplotlib, Agg; PNG and SVG)."""
from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.errors import ProsemixError
from engine.geometry import bary_to_cart, regular_polygon
from engine.weights import Zone, zone_of

ZONE_SHADE = {Zone.STABLE_EXTRAPOLATION: "#fde9b8", Zone.UNSTABLE_EXTRAPOLATION: "#f6c6c6"}


def _figure(figsize=(6.0, 4.5)):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=110, layout="constrained")


def save(fig, out: str | os.PathLike[str]) -> list[Path]:
    """Save as PNG and SVG next to each other (the suffix of ``out`` is replaced)."""
    out = Path(out)
    paths = [out.with_suffix(".png"), out.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p)
    return paths


def weight_columns(rows: Sequence[dict]) -> list[str]:
    return [k[2:] for k in rows[0] if k.startswith("w:")]


def mean_by_point(rows: Sequence[dict], column: str) -> dict[str, float]:
    acc: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        v = r.get(column, math.nan)
        if isinstance(v, float) and math.isfinite(v):
            acc[r["point"]].append(v)
    return {k: float(np.mean(v)) for k, v in acc.items()}


def _points(rows: Sequence[dict]) -> dict[str, dict]:
    return {r["point"]: r for r in rows}


def _check_column(rows: Sequence[dict], column: str) -> None:
    if column not in rows[0]:
        available = [k for k in rows[0] if k.startswith(("score:", "ppl_"))]
        raise ProsemixError(f"the table has no column {column!r}; it has {available}")


def ternary(rows: Sequence[dict], column: str, title: str = ""):
    """A filled contour of a score over the triangle of the first three anchors."""
    import matplotlib.tri as mtri

    _check_column(rows, column)
    names = weight_columns(rows)
    if len(names) != 3:
        raise ProsemixError(f"a ternary plot needs a sweep over 3 anchors, this one has {len(names)}")
    means = mean_by_point(rows, column)
    pts = _points(rows)
    verts = regular_polygon(3)
    xy, values = [], []
    for pid, value in means.items():
        w = [pts[pid][f"w:{n}"] for n in names]
        if min(w) < -1e-9:
            continue
        xy.append(bary_to_cart(w, verts))
        values.append(value)
    if len(xy) < 3:
        raise ProsemixError("a ternary plot needs at least 3 points inside the triangle")
    fig = _figure((5.6, 4.8))
    ax = fig.add_subplot()
    tri = mtri.Triangulation([p[0] for p in xy], [p[1] for p in xy])
    filled = ax.tricontourf(tri, values, levels=12, cmap="viridis")
    ax.plot([p[0] for p in xy], [p[1] for p in xy], "k.", ms=3)
    outline = verts + [verts[0]]
    ax.plot([v[0] for v in outline], [v[1] for v in outline], "k-", lw=1)
    for name, v in zip(names, verts):
        ax.annotate(name, v, xytext=(0, 8 if v[1] > 0 else -14), textcoords="offset points",
                    ha="center", fontsize=10, fontweight="bold")
    ax.set_aspect("equal")
    ax.axis("off")
    fig.colorbar(filled, ax=ax, label=column)
    ax.set_title(title or f"{column} over the triangle", pad=24)
    return fig


def alpha_plot(rows: Sequence[dict], columns: Sequence[str], attribute: str = ""):
    """Scores (and perplexity) against alpha, zones shaded; one panel per column."""
    rows = [r for r in rows if isinstance(r.get("alpha"), float) and math.isfinite(r["alpha"])
            and (not attribute or r["attribute"] == attribute)]
    if not rows:
        raise ProsemixError(f"the table holds no alpha sweep{' for ' + attribute if attribute else ''}")
    for c in columns:
        _check_column(rows, c)
    fig = _figure((5.0 * len(columns), 3.8))
    axes = fig.subplots(1, len(columns), squeeze=False)[0]
    alphas = sorted({r["alpha"] for r in rows})
    for ax, column in zip(axes, columns):
        lo, hi = min(alphas), max(alphas)
        for zone, colour in ZONE_SHADE.items():
            for a in alphas:
                if zone_of(a) is zone:
                    ax.axvspan(a - 0.5 * _step(alphas), a + 0.5 * _step(alphas), color=colour, lw=0)
        means, spreads = [], []
        for a in alphas:
            vals = [r[column] for r in rows if r["alpha"] == a and math.isfinite(r[column])]
            means.append(np.mean(vals) if vals else np.nan)
            spreads.append(np.std(vals) / math.sqrt(len(vals)) if len(vals) > 1 else 0.0)
        ax.errorbar(alphas, means, yerr=spreads, marker="o", ms=4, capsize=2)
        ax.axvline(0, color="grey", lw=0.6)
        ax.axvline(1, color="grey", lw=0.6)
        ax.set_xlim(lo - 0.5 * _step(alphas), hi + 0.5 * _step(alphas))
        ax.set_xlabel(f"alpha ({attribute or rows[0]['attribute']})")
        ax.set_ylabel(column)
        if column.startswith("ppl"):
            ax.set_yscale("log")
    fig.suptitle("white: interpolation · amber: stable extrapolation · red: unstable", fontsize=9)
    return fig


def _step(values: Sequence[float]) -> float:
    return min((b - a for a, b in zip(values, values[1:])), default=1.0)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho (average ranks for ties)."""
    def ranks(values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        order = v.argsort()
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for value in np.unique(v):
            tie = v == value
            r[tie] = r[tie].mean()
        return r

    xs, ys = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(xs) & np.isfinite(ys)
    if keep.sum() < 3:
        return math.nan
    rx, ry = ranks(xs[keep]), ranks(ys[keep])
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def entanglement(rows: Sequence[dict], scores: Sequence[str], interpolation_only: bool = True
                 ) -> tuple[list[str], list[str], np.ndarray]:
    """Spearman rho between each attribute's alpha and each score (over its own alpha sweep)."""
    attributes = sorted({r["attribute"] for r in rows if r["attribute"]})
    if not attributes:
        raise ProsemixError("the table holds no attribute (alpha) sweeps")
    matrix = np.full((len(attributes), len(scores)), np.nan)
    for i, attr in enumerate(attributes):
        sub = [r for r in rows if r["attribute"] == attr
               and (not interpolation_only or 0 <= r["alpha"] <= 1)]
        for j, s in enumerate(scores):
            matrix[i, j] = spearman([r["alpha"] for r in sub], [r[s] for r in sub])
    return attributes, list(scores), matrix


def effect_matrix(rows: Sequence[dict], scores: Sequence[str]) -> tuple[list[str], list[str], np.ndarray]:
    """How far moving each attribute's alpha from 0 to 1 moves each score: the mean score at
    alpha 1 less the mean at alpha 0, over that attribute's own sweep (in the score's units)."""
    attributes = sorted({r["attribute"] for r in rows if r["attribute"]})
    if not attributes:
        raise ProsemixError("the table holds no attribute (alpha) sweeps")
    matrix = np.full((len(attributes), len(scores)), np.nan)
    for i, attr in enumerate(attributes):
        for j, s in enumerate(scores):
            ends = [[r[s] for r in rows if r["attribute"] == attr and r["alpha"] == a
                     and math.isfinite(r[s])] for a in (0.0, 1.0)]
            if all(ends):
                matrix[i, j] = float(np.mean(ends[1]) - np.mean(ends[0]))
    return attributes, list(scores), matrix


def entangled_pairs(attributes: Sequence[str], scores: Sequence[str], matrix: np.ndarray,
                    own: dict[str, str], ratio: float = 0.5) -> list[tuple[str, str, float]]:
    """(moved, affected, off/diagonal) for every attribute whose alpha moves another
    attribute's own score by more than ``ratio`` of that attribute's own effect, as the paper
    names them. ``own`` maps an attribute to its score column."""
    out = []
    for j, affected in enumerate(attributes):
        if own.get(affected) not in scores:
            continue
        col = list(scores).index(own[affected])
        diagonal = matrix[j, col]
        for i, moved in enumerate(attributes):
            if i != j and math.isfinite(diagonal) and diagonal != 0 and math.isfinite(matrix[i, col]):
                r = float(matrix[i, col] / diagonal)
                if abs(r) > ratio:
                    out.append((moved, affected, r))
    return out


def entanglement_plot(rows: Sequence[dict], scores: Sequence[str]):
    attributes, cols, matrix = entanglement(rows, scores)
    fig = _figure((1.6 + 1.5 * len(cols), 1.4 + 0.8 * len(attributes)))
    ax = fig.add_subplot()
    im = ax.imshow(matrix, cmap="coolwarm", vmin=-1, vmax=1)
    ax.set_xticks(range(len(cols)), [c.replace("score:", "") for c in cols], rotation=20)
    ax.set_yticks(range(len(attributes)), [f"alpha {a}" for a in attributes])
    for i in range(len(attributes)):
        for j in range(len(cols)):
            ax.text(j, i, f"{matrix[i, j]:+.2f}", ha="center", va="center", fontsize=9)
    fig.colorbar(im, ax=ax, label="Spearman rho over alpha in [0, 1]")
    ax.set_title("Entanglement: moving attribute i vs score j")
    return fig


def spider(rows: Sequence[dict], scores: Sequence[str], point_ids: Sequence[str] | None = None,
           ranges: dict[str, tuple[float, float]] | None = None):
    """Mean scores at a few points on a radar chart; each axis scaled by the range seen."""
    for s in scores:
        _check_column(rows, s)
    means = {s: mean_by_point(rows, s) for s in scores}
    ids = list(point_ids or list(means[scores[0]])[:6])
    fig = _figure((5.2, 5.0))
    ax = fig.add_subplot(projection="polar")
    angles = np.linspace(0, 2 * np.pi, len(scores), endpoint=False).tolist()
    for pid in ids:
        values = []
        for s in scores:
            lo, hi = (ranges or {}).get(s, (min(means[s].values()), max(means[s].values())))
            values.append((means[s].get(pid, np.nan) - lo) / (hi - lo) if hi > lo else 0.5)
        ax.plot(angles + angles[:1], values + values[:1], label=pid)
        ax.fill(angles + angles[:1], values + values[:1], alpha=0.08)
    ax.set_xticks(angles, [s.replace("score:", "") for s in scores])
    ax.set_yticklabels([])
    ax.legend(fontsize=7, loc="upper right", bbox_to_anchor=(1.35, 1.1))
    return fig


# ----- geometry of the anchors themselves -------------------------------------------------------
def _inner(f, g) -> float:
    """<s_f B_f A_f, s_g B_g A_g>_F without forming the matrices."""
    return float(f.scale * g.scale * np.sum((f.B.T.astype(np.float64) @ g.B) * (f.A.astype(np.float64) @ g.A.T)))


def anchor_geometry(anchors: Sequence) -> tuple[list[str], np.ndarray, dict[int, np.ndarray]]:
    """Gram matrix of the anchors' whole deltas and per-layer cosine similarity matrices."""
    names = [a.name for a in anchors]
    n = len(anchors)
    gram = np.zeros((n, n))
    per_layer: dict[int, np.ndarray] = {}
    modules = sorted({m for a in anchors for m in a.factors})
    for m in modules:
        layer = int(m.split(".")[2]) if m.startswith("model.layers.") else -1
        block = per_layer.setdefault(layer, np.zeros((n, n)))
        for i in range(n):
            for j in range(i, n):
                fi, fj = anchors[i].factors.get(m), anchors[j].factors.get(m)
                if fi is None or fj is None:
                    continue
                v = _inner(fi, fj)
                block[i, j] += v
                block[j, i] = block[i, j]
    for block in per_layer.values():
        gram += block
    cos_layers = {}
    for layer, block in per_layer.items():
        d = np.sqrt(np.clip(np.diag(block), 1e-30, None))
        cos_layers[layer] = block / np.outer(d, d)
    return names, gram, cos_layers


def mds_with_base(gram: np.ndarray) -> np.ndarray:
    """2-D classical MDS of the anchors' deltas plus the base (delta 0), base at the origin."""
    n = gram.shape[0]
    g = np.zeros((n + 1, n + 1))
    g[1:, 1:] = gram
    sq = np.diag(g)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2 * g, 0, None)
    j = np.eye(n + 1) - 1.0 / (n + 1)
    b = -0.5 * j @ d2 @ j
    values, vectors = np.linalg.eigh(b)
    top = values.argsort()[::-1][:2]
    coords = vectors[:, top] * np.sqrt(np.clip(values[top], 0, None))
    return coords - coords[0]


def anchors_plot(anchors: Sequence):
    names, gram, cos_layers = anchor_geometry(anchors)
    d = np.sqrt(np.clip(np.diag(gram), 1e-30, None))
    cos = gram / np.outer(d, d)
    fig = _figure((14.0, 4.4))
    a1, a2, a3 = fig.subplots(1, 3)
    im = a1.imshow(cos, cmap="coolwarm", vmin=-1, vmax=1)
    a1.set_xticks(range(len(names)), names, rotation=45, ha="right")
    a1.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            a1.text(j, i, f"{cos[i, j]:.2f}", ha="center", va="center", fontsize=7)
    a1.set_title("cosine similarity of the deltas (all layers)")
    fig.colorbar(im, ax=a1, shrink=0.8)
    layers = sorted(l for l in cos_layers if l >= 0)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a2.plot(layers, [cos_layers[l][i, j] for l in layers], lw=1, label=f"{names[i]}-{names[j]}")
    a2.set_xlabel("layer")
    a2.set_ylabel("cosine similarity")
    a2.set_title("per layer")
    if len(names) <= 5:
        a2.legend(fontsize=6)
    xy = mds_with_base(gram)
    a3.scatter(xy[1:, 0], xy[1:, 1], c=[a.colour for a in anchors], s=50)
    a3.scatter([0], [0], c="black", marker="x", s=60)
    a3.annotate("base", (0, 0), xytext=(4, 4), textcoords="offset points", fontsize=8)
    for k, name in enumerate(names, start=1):
        a3.annotate(name, xy[k], xytext=(4, 4), textcoords="offset points", fontsize=8)
    a3.set_aspect("equal", adjustable="datalim")
    a3.set_title("MDS of the deltas (Frobenius distance)")
    return fig


def heat_grid(rows: Sequence[dict], column: str, size: int = 96) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A score interpolated onto a square raster over the triangle's bounding box, for the
    picker's overlay: values in [0, 1] (nan outside), and the box (xmin, xmax, ymin, ymax)."""
    import matplotlib.tri as mtri

    names = weight_columns(rows)
    if len(names) != 3:
        raise ProsemixError("an overlay needs a sweep over the 3 anchors of the picker")
    means = mean_by_point(rows, column)
    pts = _points(rows)
    verts = regular_polygon(3)
    xy = [bary_to_cart([pts[p][f"w:{n}"] for n in names], verts) for p in means]
    tri = mtri.Triangulation([p[0] for p in xy], [p[1] for p in xy])
    interp = mtri.LinearTriInterpolator(tri, list(means.values()))
    xs = [v[0] for v in verts]
    ys = [v[1] for v in verts]
    box = (min(xs), max(xs), min(ys), max(ys))
    gx, gy = np.meshgrid(np.linspace(box[0], box[1], size), np.linspace(box[3], box[2], size))
    z = np.asarray(interp(gx, gy).filled(np.nan), dtype=float)
    lo, hi = np.nanmin(z), np.nanmax(z)
    return (z - lo) / (hi - lo) if hi > lo else z * 0 + 0.5, box


PLOT_KINDS = ("ternary", "alpha", "spider", "entanglement", "anchors")


def score_columns(names: Sequence[str]) -> list[str]:
    """Table columns for scorer names ("sentiment" -> "score:sentiment"; ppl_* kept)."""
    return [c if c.startswith(("score:", "ppl_")) else f"score:{c}" for c in names]


def make_plot(kind: str, rows: Sequence[dict], columns: Sequence[str], *, attribute: str = "",
              anchors: Sequence = ()):
    """The one place that maps a plot kind to its figure, for the CLI and the Analysis tab."""
    if kind == "anchors":
        if not anchors:
            raise ProsemixError("the anchors plot needs anchors with their LoRA factors")
        return anchors_plot(anchors)
    if kind not in PLOT_KINDS:
        raise ProsemixError(f"unknown plot {kind!r}; choose one of {PLOT_KINDS}")
    if not rows:
        raise ProsemixError("the sweep table is empty")
    columns = list(columns)
    if not columns:
        raise ProsemixError("choose a score to plot")
    if kind == "ternary":
        return ternary(rows, columns[0])
    if kind == "alpha":
        return alpha_plot(rows, columns + (["ppl_self"] if "ppl_self" not in columns else []), attribute)
    if kind == "spider":
        return spider(rows, columns)
    return entanglement_plot(rows, columns)
