"""Calibrate the triangle's anchors and record both numbers in their cards, where every
backend applies them:

- `calibration`, each corner's strength: set with --scale NAME=F, chosen from what
  benchmarks/calibration_frontier.py measured (recognition against fluency at each factor);
- `balance`, each anchor's share of the point the picker's centre stands for, found here so
  that equal weights give comparable style shares. Corners and edges do not move with it
  (engine.weights.balanced), so the centre no longer trades against the corners.

    python -m benchmarks calibrate [--scale austen=0.9 ...] [--rounds 4] [--seeds 9-17]
        [--anchors resources/anchors] [--dry-run]

Each round samples the centre with styles_report.py's protocol (12 story openings x the given
seeds x 60 tokens, temperature 0.8; by default seeds 9-17, 108 samples as the report's centre
has, and none of the report's seeds 0-8, so the report does not judge the samples the balance
was fitted to) and asks the cached style scorer for the mean probability of each style; an
over-represented style's balance goes down and an under-represented one's up, by a power
(--step, default the square root) of the ratio to the styles' mean (balances kept within
[0.1, 10]). Prints every round; writes the balances of the round whose centre came closest to
the report's goal: the largest smallest share of the triangle's styles, then the smallest ratio
of the largest mean probability to the smallest.
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.anchors.model import AnchorCard  # noqa: E402
from engine.anchors.shipped import DEFAULT_TRIANGLE  # noqa: E402
from engine.backends.llama_cpp import LlamaCppBackend  # noqa: E402
from engine.evaluation.style_classifier import load_cached  # noqa: E402

from benchmarks.styles_report import samples, shares  # noqa: E402


def centre_means(backend: LlamaCppBackend, classifier, seeds=(2, 3)) -> tuple[dict[str, float], dict[str, float]]:  # type: ignore[no-untyped-def]
    """The mean probability and the share of samples of each style at the picker's centre."""
    n = len(backend.anchors)
    backend.point = None  # the cards changed: apply the point again
    probs = classifier.probabilities([t for t, _ in samples(backend, [1 / n] * n, seeds=seeds)])
    means = {name: statistics.fmean(p[name] for p in probs) for name in backend.anchor_names}
    return means, shares(probs, classifier.classes)


def parse_seeds(text: str) -> tuple[int, ...]:
    """"9-17" or "2,3,4": the seeds a round samples."""
    first, dash, last = text.partition("-")
    if dash:
        return tuple(range(int(first), int(last) + 1))
    return tuple(int(s) for s in text.split(","))


def set_cards(backend: LlamaCppBackend, scales: dict[str, float], balances: dict[str, float]) -> None:
    for anchor in backend.anchors:
        card = anchor.card or AnchorCard(name=anchor.name)
        anchor.card = dataclasses.replace(card, calibration=scales[anchor.name], balance=balances[anchor.name])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", action="append", default=[], help="NAME=F: that corner's calibration factor")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seeds", default="9-17", help="a range A-B or a list A,B,...")
    ap.add_argument("--anchors", default=str(ROOT / "resources" / "anchors"))
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--step", type=float, default=0.5,
                    help="how far a round moves each balance: the ratio's power (smaller: damped)")
    args = ap.parse_args()
    folder = Path(args.anchors)
    seeds = parse_seeds(args.seeds)
    classifier = load_cached()
    backend = LlamaCppBackend()
    backend.load(None, [folder / n for n in DEFAULT_TRIANGLE])
    scales = {a.name: a.calibration for a in backend.anchors}
    for item in args.scale:
        name, _, value = item.partition("=")
        if name not in scales:
            raise SystemExit(f"--scale names an anchor of the triangle ({', '.join(scales)}), got {item!r}")
        scales[name] = float(value)
    balances = {a.name: a.balance for a in backend.anchors}
    best: tuple[tuple[float, float], dict[str, float]] = ((-1.0, 0.0), dict(balances))
    for r in range(args.rounds):
        set_cards(backend, scales, balances)
        means, shares = centre_means(backend, classifier, seeds)
        target = statistics.fmean(means.values())
        print(f"round {r + 1}: scales {json.dumps(scales)} balances "
              f"{json.dumps({k: round(v, 3) for k, v in balances.items()})} -> centre mean p "
              f"{json.dumps({k: round(v, 3) for k, v in means.items()})}, shares "
              f"{json.dumps({k: round(v, 2) for k, v in shares.items()})}", flush=True)
        spread = max(means.values()) / max(min(means.values()), 1e-3)
        score = (min(shares[name] for name in means), -spread)  # the goal's floor first
        if score > best[0]:
            best = (score, dict(balances))
        if r == args.rounds - 1:
            break
        for name, p in means.items():
            balances[name] = min(10.0, max(0.1, balances[name] * (target / max(p, 1e-3)) ** args.step))
        top = max(balances.values())  # keep the largest at 1: only ratios matter
        balances = {k: v / top for k, v in balances.items()}
    backend.close()
    balances = best[1]
    print(f"the most balanced round: smallest share {best[0][0]:.2f}, largest to smallest mean p "
          f"{-best[0][1]:.2f}, balances "
          f"{json.dumps({k: round(v, 3) for k, v in balances.items()})}")
    if args.dry_run:
        return 0
    for name in scales:
        path = folder / name / "anchor.json"
        card = AnchorCard.load(path)
        dataclasses.replace(card, calibration=round(scales[name], 3), balance=round(balances[name], 3)).save(path)
        print(f"{name}: calibration {round(scales[name], 3)}, balance {round(balances[name], 3)} written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
