"""Styles a writer can see: the style-recognition goals, measured on the shipped anchors.

    python benchmarks/styles_report.py [--anchors resources/anchors] [--no-write]

Samples 12 story openings x 2 seeds x 60 tokens at temperature 0.8 (llama.cpp, the embedded
model) at the triangle's corners, its centre, 5 steps along each edge, and the base model
(strength 0); and the same along the sentiment and simplicity pairs' alpha. The cached style
scorer (`prosemix style-scorer`) judges the style samples, VADER and Flesch the attribute
pairs. Prints every goal with its numbers and writes the section between the styles markers
in docs/results.md, naming the machine and the date.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.machine import describe_machine  # noqa: E402
from engine.anchors.shipped import ATTRIBUTES, DEFAULT_TRIANGLE  # noqa: E402
from engine.backends.llama_cpp import LlamaCppBackend  # noqa: E402
from engine.evaluation.plots import spearman  # noqa: E402
from engine.evaluation.scoring import flesch_reading_ease, sentiment  # noqa: E402
from engine.evaluation.style_classifier import PLAIN, load_cached  # noqa: E402
from engine.sampling import SamplingConfig  # noqa: E402
from engine.weights import make_point  # noqa: E402

PROMPTS = (
    "The carriage stopped at the gate, and", "It was the first night of the storm when",
    "Nobody in the village could explain why", "The letter arrived on a grey morning, and",
    "At the ball that evening,", "He drew his sword and said,",
    "My uncle always claimed that", "The king looked at his daughter and",
    "On the subject of marriage,", "The lawyer smiled, for he knew that",
    "When the guests had gone,", "There are two kinds of people in this world:",
)
SEEDS = (0, 1)
TOKENS = 60
MARK_START, MARK_END = "<!-- styles:start -->", "<!-- styles:end -->"


def samples(backend: LlamaCppBackend, weights: list[float], strength: float = 1.0,
            logprobs: bool = False, seeds: tuple[int, ...] = SEEDS) -> list[tuple[str, float]]:
    backend.set_weights(make_point(weights, backend.anchor_names, extrapolate=True, strength=strength))
    out = []
    for prompt in PROMPTS:
        for seed in seeds:
            r = backend.generate(prompt, SamplingConfig(max_tokens=TOKENS, temperature=0.8, seed=seed),
                                 logprobs=logprobs)
            out.append((r.text, r.perplexity))
    return out


def shares(probs: list[dict[str, float]], classes: list[str]) -> dict[str, float]:
    """The share of samples recognised as each class (the most probable one)."""
    return {c: sum(max(p, key=p.__getitem__) == c for p in probs) / len(probs) for c in classes}


def style_table(backend: LlamaCppBackend, classifier) -> dict:  # type: ignore[no-untyped-def]
    names = backend.anchor_names
    n = len(names)
    points = {"base": ([1 / n] * n, 0.0)}
    for k, name in enumerate(names):
        points[name] = ([1.0 if j == k else 0.0 for j in range(n)], 1.0)
    points["centre"] = ([1 / n] * n, 1.0)
    result = {}
    for label, (weights, strength) in points.items():
        texts = samples(backend, weights, strength, logprobs=True)
        probs = classifier.probabilities([t for t, _ in texts])
        result[label] = {
            "share": shares(probs, classifier.classes),
            "mean": {c: statistics.fmean(p[c] for p in probs) for c in classifier.classes},
            "ppl": statistics.median(ppl for _, ppl in texts),
        }
        print(f"{label:<12} share {fmt(result[label]['share'])}  mean {fmt(result[label]['mean'])}  "
              f"median self-ppl {result[label]['ppl']:.2f}", flush=True)
    edges = {}
    for a in range(n):
        for b in range(a + 1, n):
            means = []
            for t in (0.0, 0.25, 0.5, 0.75, 1.0):
                weights = [0.0] * n
                weights[a], weights[b] = 1 - t, t
                probs = classifier.probabilities([x for x, _ in samples(backend, weights)])
                means.append(statistics.fmean(p[names[a]] for p in probs))
            edges[f"{names[a]} -> {names[b]}"] = (means, spearman([0, 0.25, 0.5, 0.75, 1.0], means))
            print(f"edge {names[a]} -> {names[b]}: mean p({names[a]}) {[round(m, 3) for m in means]} "
                  f"rho {edges[f'{names[a]} -> {names[b]}'][1]:+.2f}", flush=True)
    result["edges"] = edges
    return result


def attribute_table(anchors: Path) -> dict:
    out = {}
    for attr, scorer in ((ATTRIBUTES[0], sentiment), (ATTRIBUTES[1], flesch_reading_ease)):
        backend = LlamaCppBackend()
        backend.load(None, [anchors / attr.plus, anchors / attr.minus])
        alphas = (0.0, 0.25, 0.5, 0.75, 1.0)
        means = [statistics.fmean(scorer(t) for t, _ in samples(backend, [a, 1 - a])) for a in alphas]
        backend.close()
        out[attr.name] = (means, spearman(list(alphas), means))
        print(f"{attr.name}: means over alpha {[round(m, 3) for m in means]} rho {out[attr.name][1]:+.2f}",
              flush=True)
    return out


def fmt(d: dict) -> str:
    return " ".join(f"{k}={v:.2f}" for k, v in d.items())


def goals(styles: dict, attrs: dict, names: list[str]) -> list[tuple[str, str, bool]]:
    rows = []
    base = styles["base"]
    for name in names:
        share, lift = styles[name]["share"][name], styles[name]["mean"][name] - base["mean"][name]
        rows.append((f"{name} corner recognised as {name}", f"{share:.0%} (target >= 90%)", share >= 0.9))
        rows.append((f"{name} corner: mean p({name}) over the base", f"{lift:+.2f} (target >= +0.40)", lift >= 0.4))
    centre = styles["centre"]["share"]
    top = max(centre[n] for n in names)
    low = min(centre[n] for n in names)
    rows.append(("centre: no style above 50%, each at least 20%",
                 ", ".join(f"{n} {centre[n]:.0%}" for n in names) + f", plain {centre.get(PLAIN, 0):.0%}",
                 top <= 0.5 and low >= 0.2))
    for edge, (means, rho) in styles["edges"].items():
        rows.append((f"edge {edge}: mean p(first) falls", f"rho {rho:+.2f} (target <= -0.9)", rho <= -0.9 + 1e-9))
    for attr, (means, rho) in attrs.items():
        rows.append((f"{attr}: mean score over alpha in [0, 1]", f"rho {rho:+.2f} (target >= +0.9)", rho >= 0.9 - 1e-9))
    for name in names:
        ratio = styles[name]["ppl"] / base["ppl"]
        rows.append((f"{name} corner fluency: median self-perplexity vs the base",
                     f"{styles[name]['ppl']:.2f} vs {base['ppl']:.2f} = {ratio:.2f}x (target <= 1.5x)",
                     ratio <= 1.5))
    return rows


def write(rows: list[tuple[str, str, bool]], styles: dict, classifier, seconds: float,  # type: ignore[no-untyped-def]
          anchors: Path) -> None:
    from engine.anchors.model import AnchorCard

    lines = [MARK_START, "## Styles a writer can see (the style-recognition goals)", "",
             f"Written by `benchmarks/styles_report.py` on {time.strftime('%Y-%m-%d', time.gmtime())}, "
             f"{describe_machine()}, in {seconds / 60:.0f} min: {len(PROMPTS)} story "
             f"openings x {len(SEEDS)} seeds x {TOKENS} tokens at temperature 0.8 per point (llama.cpp, "
             "merged anchors). Judge: the cached style scorer (`prosemix style-scorer`, "
             f"held-out accuracy {classifier.accuracy:.1%} on 280-character chunks; classes "
             f"{', '.join(classifier.classes)}). The base model is the same backend at strength 0.", "",
             "| goal | measured | result |", "|---|---|---|"]
    lines += [f"| {g} | {m} | {'PASS' if ok else 'MISS'} |" for g, m, ok in rows]
    lines += ["", "| point | recognised as (share of samples) | mean probability | median self-perplexity |",
              "|---|---|---|---|"]
    for label in [k for k in styles if k != "edges"]:
        lines.append(f"| {label} | {fmt(styles[label]['share'])} | {fmt(styles[label]['mean'])} | "
                     f"{styles[label]['ppl']:.2f} |")
    lines += ["", "Training of each corner (from its card):", ""]
    for name in DEFAULT_TRIANGLE:
        card = AnchorCard.load(anchors / name / "anchor.json")
        t = card.training
        lines.append(f"- {name}: {t.get('steps')} steps of {t.get('batch')} x {t.get('block')} tokens, "
                     f"{t.get('precision', 'fp32')}, lr {t.get('lr')}, targets {', '.join(t.get('targets', []))}; "
                     f"{t.get('seconds', '?')} s; validation loss {card.metrics.get('base_val_loss')} -> "
                     f"{card.metrics.get('val_loss')}; calibration {card.calibration:g}, balance {card.balance:g}")
    lines.append(MARK_END)
    doc = ROOT / "docs" / "results.md"
    text = doc.read_text() if doc.is_file() else "# Results\n"
    if MARK_START in text:
        head, rest = text.split(MARK_START, 1)
        text = head + "\n".join(lines) + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + "\n".join(lines) + "\n"
    doc.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--anchors", default=str(ROOT / "resources" / "anchors"))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--styles-only", action="store_true",
                    help="only the triangle (e.g. to compare another set of corner anchors)")
    ap.add_argument("--pairs-only", action="store_true",
                    help="only the attribute pairs (e.g. to compare a retrained pair)")
    args = ap.parse_args()
    anchors = Path(args.anchors)
    start = time.perf_counter()
    if args.pairs_only:
        for name, (means, rho) in attribute_table(anchors).items():
            print(f"{name}: rho {rho:+.2f} (target >= +0.9)")
        return 0
    classifier = load_cached()
    backend = LlamaCppBackend()
    backend.load(None, [anchors / n for n in DEFAULT_TRIANGLE])
    styles = style_table(backend, classifier)
    backend.close()
    if args.styles_only:
        return 0
    attrs = attribute_table(anchors)
    rows = goals(styles, attrs, list(DEFAULT_TRIANGLE))
    print()
    for goal, measured, ok in rows:
        print(f"{'PASS' if ok else 'MISS'}  {goal}: {measured}")
    if not args.no_write:
        write(rows, styles, classifier, time.perf_counter() - start, anchors)
        print("wrote docs/results.md (styles section)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
