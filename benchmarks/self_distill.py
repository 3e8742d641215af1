"""A corner's own writing, as a corpus to sharpen it on (self-distillation at the sampling
temperature).

    python -m benchmarks self_distill [--voice shakespeare] [--anchors resources/anchors]
        [--samples 240] [--tokens 120] [--out corpora/shakespeare_self.txt] [--keep 0.75]

Samples the voice's corner (the default triangle and the voice, each anchor at its card's
calibration) at temperature 0.8, the report's temperature, on openings cut from the other
corpora (8 of them, 40 paragraphs each, 6-11 words; none of styles_report's openings), seeds
100 upwards (none of the report's or the calibration's). Keeps the samples the cached style
scorer recognises as the voice, with no degenerate or typesetting fault, and of those the
``--keep`` share with the lowest self-perplexity. Each kept sample is cleaned as a corpus would
be (Gutenberg's "--" becomes an em dash; a first line that continues another's opening
mid-sentence and a last sentence cut at the token limit are dropped) and written as paragraphs
of one text file. Samples go to OUT.jsonl as they come, so a second run resumes.

Training on it from the anchor at its calibrated corner (`prosemix train OUT --init-from
resources/anchors/VOICE --init-scale F`, docs/anchors_recipe.md) teaches the anchor, at
temperature 1, what it writes at 0.8: the same style, with its own samples likelier.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.anchors.shipped import DEFAULT_TRIANGLE  # noqa: E402
from engine.backends.llama_cpp import LlamaCppBackend  # noqa: E402
from engine.evaluation.style_classifier import load_cached, sample_judge  # noqa: E402
from engine.training.self_distill import Distillation, distilled_corpus, openings, self_samples  # noqa: E402
from engine.weights import make_point  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voice", default="shakespeare")
    ap.add_argument("--anchors", default=str(ROOT / "resources" / "anchors"))
    ap.add_argument("--corpora", default=str(ROOT / "corpora"))
    ap.add_argument("--samples", type=int, default=240)
    ap.add_argument("--tokens", type=int, default=120)
    ap.add_argument("--keep", type=float, default=0.75, help="the share of recognised samples kept, "
                                                             "lowest self-perplexity first")
    ap.add_argument("--out", help="default: corpora/VOICE_self.txt")
    args = ap.parse_args()
    plan = Distillation(args.samples, args.tokens, args.keep)
    out = Path(args.out or Path(args.corpora) / f"{args.voice}_self.txt")
    names = list(dict.fromkeys([*DEFAULT_TRIANGLE, args.voice]))
    classifier = load_cached()
    judge = sample_judge(classifier)

    backend = LlamaCppBackend()
    backend.load(None, [Path(args.anchors) / n for n in names])
    backend.set_weights(make_point([1.0 if n == args.voice else 0.0 for n in names], names, extrapolate=True))
    start = time.perf_counter()
    rows = self_samples(backend, openings(Path(args.corpora), args.voice), plan.samples, plan.tokens,
                        out.with_suffix(".jsonl"), judge,
                        lambda i, n, row: print(f"{i}/{n} {time.perf_counter() - start:.0f} s: {row['top']}, "
                                                f"self-perplexity {row['ppl']:.2f}", flush=True))
    backend.close()
    text, kept = distilled_corpus(rows, args.voice, plan.keep)
    out.write_text(text, encoding="utf-8")
    print(f"{kept['samples']} samples, {kept['recognised']} recognised as {args.voice} and clean, {kept['kept']} "
          f"kept (self-perplexity median {kept['median_self_perplexity']}); {kept['words']:,} words -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
