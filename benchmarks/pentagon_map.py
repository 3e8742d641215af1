"""The style scorer's map of the five-voice pentagon: is the N-gon picker worth using?

    python -m benchmarks pentagon_map [--anchors resources/anchors]
        [--voices austen,wry,shakespeare,fable,scripture] [--seeds 0] [--out docs/figures]

Places the voices on the picker's regular pentagon (engine.geometry: the first at the top, the
rest clockwise) and samples 26 points of it: the centre, the five corners, the five edge
midpoints, and two rings between the centre and the corners (at 1/3 and 2/3 of the way) and the
edge midpoints (at 1/2). A point's weights are the picker's own (Wachspress coordinates,
`plane_to_weights`), with each card's calibration and balance applied by the backend as in the
app. At each point the 12 story openings of styles_report.py x the seeds x 60 tokens at
temperature 0.8 (llama.cpp, the embedded model) go to the cached style scorer (`prosemix
style-scorer`).

Prints, per point, the voice the samples are recognised as most often and the mean probability
of every voice, then writes pentagon_heatmap.png (one panel per voice: its mean probability
over the pentagon, interpolated between the sampled points, which are marked) and
pentagon_map.csv to --out. The question it answers: does each corner own a region, and do the
regions meet in blends rather than in one voice swallowing the middle?
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.backends.llama_cpp import LlamaCppBackend  # noqa: E402
from engine.evaluation.style_classifier import load_cached  # noqa: E402
from engine.geometry import Vec, plane_to_weights, regular_polygon  # noqa: E402
from engine.machine import describe_machine  # noqa: E402

from benchmarks.styles_report import samples, shares  # noqa: E402


def sample_points(vertices: list[Vec]) -> list[tuple[str, Vec]]:
    """The centre, the corners, the edge midpoints and the rings between them."""
    n = len(vertices)
    mids = [((vertices[i][0] + vertices[(i + 1) % n][0]) / 2, (vertices[i][1] + vertices[(i + 1) % n][1]) / 2)
            for i in range(n)]
    points: list[tuple[str, Vec]] = [("centre", (0.0, 0.0))]
    for i, v in enumerate(vertices):
        points += [(f"corner {i}", v), (f"2/3 to corner {i}", (2 * v[0] / 3, 2 * v[1] / 3)),
                   (f"1/3 to corner {i}", (v[0] / 3, v[1] / 3))]
    for i, m in enumerate(mids):
        points += [(f"edge {i}-{(i + 1) % n}", m), (f"1/2 to edge {i}-{(i + 1) % n}", (m[0] / 2, m[1] / 2))]
    return points


def plot(rows: list[dict], voices: list[str], vertices: list[Vec], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.tri as mtri

    xs = [r["x"] for r in rows]
    ys = [r["y"] for r in rows]
    triang = mtri.Triangulation(xs, ys)
    fig, axes = plt.subplots(1, len(voices), figsize=(3.0 * len(voices), 3.4), layout="constrained")
    outline = vertices + vertices[:1]
    for ax, voice in zip(axes, voices):
        shade = ax.tripcolor(triang, [r[f"p_{voice}"] for r in rows], shading="gouraud", cmap="viridis",
                             vmin=0.0, vmax=1.0)
        ax.plot([v[0] for v in outline], [v[1] for v in outline], color="black", lw=1)
        ax.scatter(xs, ys, s=8, color="white", edgecolors="black", linewidths=0.4)
        for name, v in zip(voices, vertices):
            ax.annotate(name, (v[0] * 1.12, v[1] * 1.12), ha="center", va="center", fontsize=8,
                        fontweight="bold" if name == voice else "normal")
        ax.set_title(f"mean p({voice})", fontsize=10)
        ax.set_aspect("equal")
        ax.set_xlim(-1.35, 1.35)
        ax.set_ylim(-1.2, 1.3)
        ax.axis("off")
    fig.colorbar(shade, ax=list(axes), shrink=0.8, label="mean probability (style scorer)")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--anchors", default=str(ROOT / "resources" / "anchors"))
    ap.add_argument("--voices", default="austen,wry,shakespeare,fable,scripture")
    ap.add_argument("--seeds", default="0", help="sampling seeds per opening")
    ap.add_argument("--out", default=str(ROOT / "docs" / "figures"))
    ap.add_argument("--replot", action="store_true", help="draw the figure again from pentagon_map.csv")
    args = ap.parse_args()
    voices = args.voices.split(",")
    if args.replot:
        with open(Path(args.out) / "pentagon_map.csv", newline="", encoding="utf-8") as f:
            rows = [{k: (float(v) if k in ("x", "y") or k.startswith("p_") else v) for k, v in r.items()}
                    for r in csv.DictReader(f)]
        plot(rows, voices, regular_polygon(len(voices)), Path(args.out) / "pentagon_heatmap.png")
        return 0
    seeds = tuple(int(s) for s in args.seeds.split(","))
    classifier = load_cached()
    missing = [v for v in voices if v not in classifier.classes]
    if missing:
        print(f"the style scorer has no class for {', '.join(missing)}; rebuild it with `prosemix style-scorer`")
        return 2
    started = time.perf_counter()
    print(f"{describe_machine()}; voices {', '.join(voices)}; seeds {seeds}", flush=True)
    backend = LlamaCppBackend()
    backend.load(None, [Path(args.anchors) / v for v in voices])
    vertices = regular_polygon(len(voices))
    rows = []
    for label, p in sample_points(vertices):
        weights = plane_to_weights(p, vertices)
        texts = [t for t, _ in samples(backend, weights, seeds=seeds)]
        probs = classifier.probabilities(texts)
        share = shares(probs, classifier.classes)
        mean = {c: statistics.fmean(q[c] for q in probs) for c in classifier.classes}
        top = max(share, key=share.__getitem__)
        rows.append({"point": label, "x": round(p[0], 4), "y": round(p[1], 4),
                     **{f"w_{v}": round(w, 3) for v, w in zip(voices, weights)},
                     "recognised_as": top, "share": round(share[top], 3),
                     **{f"p_{c}": round(mean[c], 4) for c in classifier.classes}})
        print(f"{label:<20} weights {' '.join(f'{w:.2f}' for w in weights)}  recognised as {top} "
              f"{share[top]:.0%}  mean " + " ".join(f"{c}={mean[c]:.2f}" for c in classifier.classes), flush=True)
    backend.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "pentagon_map.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, voices, vertices, out / "pentagon_heatmap.png")
    corners = [r for r in rows if r["point"].startswith("corner")]
    owned = sum(r["recognised_as"] == v for r, v in zip(corners, voices))
    print(f"corners recognised as their own voice: {owned} of {len(voices)}; centre recognised as "
          f"{rows[0]['recognised_as']} ({rows[0]['share']:.0%}); distinct voices recognised somewhere: "
          f"{len({r['recognised_as'] for r in rows} & set(voices))} of {len(voices)}")
    print(f"wrote {out / 'pentagon_heatmap.png'} and {out / 'pentagon_map.csv'} in "
          f"{math.ceil(time.perf_counter() - started)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
