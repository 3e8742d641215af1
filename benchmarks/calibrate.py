"""Calibrate the triangle's anchors so that equal weights give comparable style shares, and
record each anchor's factor in its card (`calibration`), where every backend applies it.

    python benchmarks/calibrate.py [--rounds 3] [--anchors resources/anchors] [--dry-run]

Each round samples the centre (12 story openings x 1 seed x 60 tokens, temperature 0.8) and
asks the cached style scorer for the mean probability of each style; an anchor whose style is
over-represented is scaled down and an under-represented one up, by the square root of the
ratio to the styles' mean (factors kept within [0.5, 2]). Prints every round.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.anchors.model import AnchorCard  # noqa: E402
from engine.anchors.shipped import DEFAULT_TRIANGLE  # noqa: E402
from engine.backends.llama_cpp import LlamaCppBackend  # noqa: E402
from engine.evaluation.style_classifier import load_cached  # noqa: E402
from engine.sampling import SamplingConfig  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from styles_report import PROMPTS  # noqa: E402


def centre_means(backend: LlamaCppBackend, classifier, seeds=(0,)) -> dict[str, float]:  # type: ignore[no-untyped-def]
    n = len(backend.anchors)
    backend.point = None
    backend.set_weights([1 / n] * n)
    texts = [backend.generate(p, SamplingConfig(max_tokens=60, temperature=0.8, seed=s)).text
             for p in PROMPTS for s in seeds]
    probs = classifier.probabilities(texts)
    return {name: statistics.fmean(p[name] for p in probs) for name in backend.anchor_names}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--anchors", default=str(ROOT / "resources" / "anchors"))
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    folder = Path(args.anchors)
    classifier = load_cached()
    backend = LlamaCppBackend()
    backend.load(None, [folder / n for n in DEFAULT_TRIANGLE])
    factors = {a.name: a.calibration for a in backend.anchors}
    for r in range(args.rounds):
        for anchor in backend.anchors:
            card = anchor.card or AnchorCard(name=anchor.name)
            anchor.card = dataclasses.replace(card, calibration=factors[anchor.name])
        means = centre_means(backend, classifier)
        target = statistics.fmean(means.values())
        print(f"round {r + 1}: factors {json.dumps({k: round(v, 3) for k, v in factors.items()})} "
              f"-> centre mean p {json.dumps({k: round(v, 3) for k, v in means.items()})}", flush=True)
        if r == args.rounds - 1:
            break
        for name, p in means.items():
            factors[name] = min(2.0, max(0.5, factors[name] * (target / max(p, 1e-3)) ** 0.5))
    backend.close()
    if args.dry_run:
        return 0
    for name, factor in factors.items():
        path = folder / name / "anchor.json"
        card = AnchorCard.load(path)
        dataclasses.replace(card, calibration=round(factor, 3)).save(path)
        print(f"{name}: calibration {round(factor, 3)} written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
