"""Styles a writer can see: the style-recognition goals, measured on the shipped anchors.

    python -m benchmarks styles_report [--anchors resources/anchors] [--no-write]
        [--triangle austen,wry,shakespeare] [--palette fable,scripture]

Samples 12 story openings x 2 seeds x 60 tokens at temperature 0.8 (llama.cpp, the embedded
model) at the triangle's corners, its centre, 5 steps along each edge, and the base model
(strength 0); each palette voice at its own corner (the triangle and the palette on one
polygon); and the same along every attribute pair's alpha. The cached style scorer (`prosemix
style-scorer`, every shipped voice a class) judges the style samples, each attribute's own
scorer (engine.evaluation.scoring.ATTRIBUTE_SCORES) its pair. Every sample is also checked for what a writer would repair
(engine.fluency): degenerate text, typesetting (line breaks inside a paragraph,
double spaces; every voice, Shakespeare's too, since its corpus is prose paragraphs) and corpus
furniture, the centre with 108 samples.
Prints every goal with its numbers and writes the section between the styles markers in
docs/results.md, naming the machine and the date.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.machine import describe_machine  # noqa: E402
from engine.anchors.shipped import ATTRIBUTES, DEFAULT_TRIANGLE, VOICES  # noqa: E402
from engine.backends.llama_cpp import LlamaCppBackend  # noqa: E402
from engine.fluency import degenerate, distinct_ngrams, furniture, typesetting_faults  # noqa: E402
from engine.evaluation.plots import spearman  # noqa: E402
from engine.evaluation.scoring import ATTRIBUTE_SCORES, BUILTIN  # noqa: E402
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
CENTRE_SEEDS = tuple(range(9))  # 108 samples at the centre, for the furniture goal
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


def judged(texts: list[tuple[str, float]], classifier, label: str) -> dict:  # type: ignore[no-untyped-def]
    """One point's samples: the judge's shares and means, the median self-perplexity, and what
    a writer would repair (counts, with the first example of each)."""
    probs = classifier.probabilities([t for t, _ in texts])
    repairs: dict[str, list[str]] = {"degenerate": [], "typesetting": [], "furniture": []}
    for text, _ in texts:
        if (why := degenerate(text)) is not None:
            repairs["degenerate"].append(f"{why}: {text[:80]!r}")
        if faults := typesetting_faults(text):
            repairs["typesetting"].append(faults[0])
        if found := furniture(text):
            repairs["furniture"].append(f"{', '.join(found)}: {text[:80]!r}")
    out = {"share": shares(probs, classifier.classes),
           "mean": {c: statistics.fmean(p[c] for p in probs) for c in classifier.classes},
           "ppl": statistics.median(ppl for _, ppl in texts), "n": len(texts), "repairs": repairs,
           "distinct3": distinct_ngrams([t for t, _ in texts])}
    print(f"{label:<12} share {fmt(out['share'])}  mean {fmt(out['mean'])}  median self-ppl "
          f"{out['ppl']:.2f}  distinct-3 {out['distinct3']:.3f}  " + " ".join(f"{k} {len(v)}/{len(texts)}" for k, v in repairs.items()), flush=True)
    for kind, found in repairs.items():
        if found:
            print(f"    first {kind}: {found[0]}")
    return out


def style_table(backend: LlamaCppBackend, classifier) -> dict:  # type: ignore[no-untyped-def]
    names = backend.anchor_names
    n = len(names)
    points = {"base": ([1 / n] * n, 0.0, SEEDS)}
    for k, name in enumerate(names):
        points[name] = ([1.0 if j == k else 0.0 for j in range(n)], 1.0, SEEDS)
    points["centre"] = ([1 / n] * n, 1.0, CENTRE_SEEDS)
    result = {}
    for label, (weights, strength, seeds) in points.items():
        texts = samples(backend, weights, strength, logprobs=True, seeds=seeds)
        result[label] = judged(texts, classifier, label)
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


def palette_table(anchors: Path, triangle: list[str], palette: list[str], classifier) -> dict:  # type: ignore[no-untyped-def]
    """Each palette voice at its own corner of the polygon that holds the triangle and the
    palette (what a writer's palette of five or six voices gives)."""
    backend = LlamaCppBackend()
    names = triangle + palette
    backend.load(None, [anchors / n for n in names])
    out = {}
    for name in palette:
        weights = [1.0 if n == name else 0.0 for n in names]
        out[name] = judged(samples(backend, weights, logprobs=True), classifier, name)
    backend.close()
    return out


def attribute_table(anchors: Path) -> dict:
    out = {}
    for attr in ATTRIBUTES:
        scorer = BUILTIN[ATTRIBUTE_SCORES[attr.name]]
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


def goals(styles: dict, attrs: dict, names: list[str], palette: dict | None = None) -> list[tuple[str, str, bool]]:
    rows = []
    base = styles["base"]
    palette = palette or {}
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
    for name, table in palette.items():
        share = table["share"][name]
        rows.append((f"palette voice {name} recognised at its corner", f"{share:.0%} (target >= 85%)", share >= 0.85))
    for name in names + list(palette):
        point = styles.get(name) or palette[name]
        ratio = point["ppl"] / base["ppl"]
        rows.append((f"{name} corner fluency: median self-perplexity vs the base",
                     f"{point['ppl']:.2f} vs {base['ppl']:.2f} = {ratio:.2f}x (target <= 2.0x)", ratio <= 2.0))
    points = {**{k: v for k, v in styles.items() if k != "edges"}, **palette}
    bad = {k: len(v["repairs"]["degenerate"]) for k, v in points.items() if k != "base"}
    rows.append(("no degenerate samples at any corner or the centre (loops, < 20 words, mostly non-letters)",
                 ", ".join(f"{k} {n}" for k, n in bad.items()), not any(bad.values())))
    wrapped = {k: len(v["repairs"]["typesetting"]) for k, v in points.items() if k != "base"}
    checked = sum(v["n"] for k, v in points.items() if k != "base")
    rows.append((f"typesetting: no line break inside a paragraph or double space ({checked} samples at the "
                 "corners and the centre)", ", ".join(f"{k} {n}" for k, n in wrapped.items()),
                 not any(wrapped.values())))
    centre = styles["centre"]
    rows.append((f"centre: no corpus furniture in {centre['n']} samples",
                 f"{len(centre['repairs']['furniture'])} with furniture", not centre["repairs"]["furniture"]))
    return rows


def write(rows: list[tuple[str, str, bool]], styles: dict, palette: dict, classifier, seconds: float,  # type: ignore[no-untyped-def]
          anchors: Path, triangle: list[str]) -> None:
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
    lines += ["", "| point | recognised as (share of samples) | mean probability | median self-perplexity | "
              f"distinct 3-grams (of {len(PROMPTS) * len(SEEDS)} samples pooled; the centre's "
              f"{len(PROMPTS) * len(CENTRE_SEEDS)}) |", "|---|---|---|---|---|"]
    for label in [k for k in styles if k != "edges"]:
        lines.append(f"| {label} | {fmt(styles[label]['share'])} | {fmt(styles[label]['mean'])} | "
                     f"{styles[label]['ppl']:.2f} | {styles[label]['distinct3']:.3f} |")
    for label in palette:
        lines.append(f"| {label} (palette) | {fmt(palette[label]['share'])} | {fmt(palette[label]['mean'])} | "
                     f"{palette[label]['ppl']:.2f} | {palette[label]['distinct3']:.3f} |")
    examples = [(label, kind, found[0]) for label, point in {**{k: v for k, v in styles.items() if k != "edges"},
                                                            **palette}.items()
                for kind, found in point["repairs"].items() if found and label != "base"]
    if examples:
        lines += ["", "What a writer would repair (the first example of each kind at each point):", ""]
        lines += [f"- {label}, {kind} ({len((styles.get(label) or palette[label])['repairs'][kind])}): "
                  f"{example.replace('|', '/')}" for label, kind, example in examples]
    lines += ["", "Training of each voice (from its card):", ""]
    for name in triangle + list(palette):
        card = AnchorCard.load(anchors / name / "anchor.json")
        t = card.training
        lines.append(f"- {name}: {t.get('steps')} steps of {t.get('batch')} x {t.get('block')} tokens, "
                     f"{t.get('precision', 'fp32')}, lr {t.get('lr')}, targets {', '.join(t.get('targets', []))}; "
                     f"{t.get('seconds', '?')} s; validation loss {card.metrics.get('base_val_loss')} -> "
                     f"{card.metrics.get('val_loss')}; calibration {card.calibration:g}, balance {card.balance:g}"
                     + _first_stage(t))
    lines.append(MARK_END)
    doc = ROOT / "docs" / "results.md"
    text = doc.read_text() if doc.is_file() else "# Results\n"
    if MARK_START in text:
        head, rest = text.split(MARK_START, 1)
        text = head + "\n".join(lines) + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + "\n".join(lines) + "\n"
    doc.write_text(text)


def _first_stage(training: dict) -> str:
    """What a self-distilled voice's card says it started from."""
    first, kept = training.get("first"), training.get("self_samples")
    if not first or not kept:
        return ""
    return (f"; trained on {kept['kept']} of {kept['samples']} of its own samples at temperature "
            f"{kept['temperature']}, from its first anchor ({first.get('steps')} steps, lr {first.get('lr')}, "
            f"{first.get('seconds', '?')} s; validation loss {first['metrics'].get('base_val_loss')} -> "
            f"{first['metrics'].get('val_loss')}) at calibration {first.get('calibration'):g}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--anchors", default=str(ROOT / "resources" / "anchors"))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--styles-only", action="store_true",
                    help="only the triangle (e.g. to compare another set of corner anchors)")
    ap.add_argument("--pairs-only", action="store_true",
                    help="only the attribute pairs (e.g. to compare a retrained pair)")
    ap.add_argument("--triangle", default=",".join(DEFAULT_TRIANGLE))
    ap.add_argument("--palette", default=",".join(v for v in VOICES if v not in DEFAULT_TRIANGLE),
                    help="voices measured at their own corners beside the triangle ('' for none)")
    args = ap.parse_args()
    anchors = Path(args.anchors)
    triangle = args.triangle.split(",")
    palette_names = [n for n in args.palette.split(",") if n and n not in triangle]
    start = time.perf_counter()
    if args.pairs_only:
        for name, (means, rho) in attribute_table(anchors).items():
            print(f"{name}: rho {rho:+.2f} (target >= +0.9)")
        return 0
    classifier = load_cached()
    backend = LlamaCppBackend()
    backend.load(None, [anchors / n for n in triangle])
    styles = style_table(backend, classifier)
    backend.close()
    palette = palette_table(anchors, triangle, palette_names, classifier) if palette_names else {}
    if args.styles_only:
        return 0
    attrs = attribute_table(anchors)
    rows = goals(styles, attrs, triangle, palette)
    print()
    for goal, measured, ok in rows:
        print(f"{'PASS' if ok else 'MISS'}  {goal}: {measured}")
    if not args.no_write:
        write(rows, styles, palette, classifier, time.perf_counter() - start, anchors, triangle)
        print("wrote docs/results.md (styles section)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
