"""What a corner's calibration factor trades: recognition against fluency, one corner at a time.

    python -m benchmarks calibration_frontier [--anchors resources/anchors]
        [--factors austen=0.64,0.8,1.0 --factors shakespeare=1.0,1.326,1.6 ...]

A corner's factor scales its anchor's delta everywhere in the triangle, so it moves the corner's
style and its fluency together (and the centre's balance with them). For each factor this samples
the corner with the protocol of styles_report.py (12 story openings x 2 seeds x 60 tokens,
temperature 0.8, llama.cpp; --seeds picks other seeds) and prints, against the base model (strength 0) sampled the same
way: the share of samples the cached style scorer recognises as the corner's style (goal >= 90%),
the mean probability of that style over the base's (goal >= +0.40), and the median
self-perplexity over the base's (goal <= 1.5x). Nothing is written to the cards.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.anchors.model import AnchorCard  # noqa: E402
from engine.anchors.shipped import DEFAULT_TRIANGLE, VOICES  # noqa: E402
from engine.backends.llama_cpp import LlamaCppBackend  # noqa: E402
from engine.evaluation.style_classifier import load_cached  # noqa: E402

from benchmarks.styles_report import samples, shares  # noqa: E402

DEFAULT_FACTORS = {"austen": (0.64, 0.8, 1.0, 1.2), "wry": (1.0, 1.4, 1.8, 2.2),
                   "shakespeare": (1.0, 1.15, 1.326, 1.6)}


def parse_factors(items: list[str] | None) -> dict[str, tuple[float, ...]]:
    if not items:
        return dict(DEFAULT_FACTORS)
    out = {}
    for item in items:
        name, _, values = item.partition("=")
        if name not in VOICES or not values:
            raise SystemExit(f"--factors wants NAME=F,F,... with NAME one of {', '.join(VOICES)}: {item!r}")
        out[name] = tuple(float(v) for v in values.split(","))
    return out


def judge(classifier, texts: list[tuple[str, float]], style: str) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    probs = classifier.probabilities([t for t, _ in texts])
    return shares(probs, [style])[style], statistics.fmean(p[style] for p in probs), statistics.median(ppl for _, ppl in texts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--anchors", default=str(ROOT / "resources" / "anchors"))
    ap.add_argument("--factors", action="append", help="NAME=F,F,... (repeatable; default: all three corners; a palette voice too)")
    ap.add_argument("--seeds", default="0,1", help="sampling seeds per prompt; choose factors on other "
                                                   "seeds than the report's (0,1), then report")
    args = ap.parse_args()
    factors = parse_factors(args.factors)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    folder = Path(args.anchors)
    start = time.perf_counter()
    classifier = load_cached()
    backend = LlamaCppBackend()
    # the triangle's corners and any palette voice named in --factors, each at its own corner
    backend.load(None, [folder / n for n in dict.fromkeys([*DEFAULT_TRIANGLE, *factors])])
    names = backend.anchor_names
    base = samples(backend, [1 / len(names)] * len(names), strength=0.0, logprobs=True, seeds=seeds)
    print("| corner | factor | recognised | mean p over the base | self-perplexity vs the base |")
    print("|---|---|---|---|---|")
    for name, values in factors.items():
        k = names.index(name)
        anchor = backend.anchors[k]
        shipped = anchor.calibration
        _, base_p, base_ppl = judge(classifier, base, name)
        for factor in values:
            anchor.card = dataclasses.replace(anchor.card or AnchorCard(name=name), calibration=factor)
            backend.point = None
            share, p, ppl = judge(classifier, samples(backend, [1.0 if j == k else 0.0 for j in range(len(names))],
                                                      logprobs=True, seeds=seeds), name)
            mark = " (shipped)" if abs(factor - shipped) < 1e-9 else ""
            print(f"| {name} | {factor:g}{mark} | {share:.0%} | {p - base_p:+.2f} | "
                  f"{ppl:.2f} / {base_ppl:.2f} = {ppl / base_ppl:.2f}x |", flush=True)
        anchor.card = dataclasses.replace(anchor.card, calibration=shipped)
    backend.close()
    print(f"\n{time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
