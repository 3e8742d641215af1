"""A restyle preview at drag speed: how soon a preview shows, and how close it comes to the
exact passage (issue 26, item 3).

    python -m benchmarks drag_preview [--drags 30] [--tokens 40]

llama.cpp with the shipped default triangle merged (the app's backend and layout). Each drag
starts at a point A on the triangle where the passage was written exactly (its style window of
held-out text, `DEFAULT_STYLE_WINDOW` tokens, evaluated at A), and moves to a point B. There:

- the preview: `set_weights(B, preview=True)` (the anchors' runtime LoRAs at B - A on the copy
  merged at A, no merge), then a `preview=True` stream, which keeps the prompt's KV from A and
  evaluates only its last token at B;
- the exact passage (the release): the same prompt evaluated whole at B, as a fresh generation.

Both use the desk's sampling (temperature 0.8, the passage's seed). Timed from the weight change
to the first token, so the exact passage pays the re-merge. Printed: the preview's and the exact passage's
first-token latency (medians) and their ratio, the preview's latency in decode steps (median
time per decoded token of the exact passages), and how close previews come to the exact text:
the share of drags whose preview is the exact passage, whose first token agrees, and the mean
share of the exact passage's tokens the preview reproduces before it first differs. The points
are drawn with a fixed seed; the documents are ten windows of the held-out text of the austen,
wry and fable corpora.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.anchors.shipped import DEFAULT_TRIANGLE, shipped_anchor  # noqa: E402
from engine.backends.llama_cpp import LlamaCppBackend  # noqa: E402
from engine.backends.llama_streams import common_prefix  # noqa: E402
from engine.documents.context import DEFAULT_STYLE_WINDOW, assemble  # noqa: E402
from engine.machine import describe_machine  # noqa: E402
from engine.paths import resources_dir  # noqa: E402
from engine.sampling import SamplingConfig  # noqa: E402


def documents(n: int) -> list[str]:
    """``n`` windows of held-out prose, each cut where a paragraph starts."""
    out = []
    for name in ("austen", "wry", "fable"):
        text = (resources_dir() / "eval" / f"{name}.txt").read_text(encoding="utf-8")
        paragraphs = [p for p in text.split("\n\n") if len(p) > 200]
        out += ["\n\n".join(paragraphs[i:i + 4]) for i in range(0, len(paragraphs) - 4, 5)][:4]
    return out[:n]


def simplex_point(rng: random.Random) -> list[float]:
    cuts = sorted((rng.random(), rng.random()))
    return [cuts[0], cuts[1] - cuts[0], 1 - cuts[1]]


def timed(backend: LlamaCppBackend, weights: list[float], prompt: str, sampling: SamplingConfig,
          preview: bool) -> tuple[float, list[str], float]:
    """(seconds from the weight change to the first token, the tokens' texts, seconds per
    decoded token after the first)."""
    start = time.perf_counter()
    backend.set_weights(weights, preview=preview)
    firsts: list[float] = []
    pieces: list[str] = []  # one a token (no stop strings here)

    def seen(piece: str) -> None:
        firsts.append(time.perf_counter())
        pieces.append(piece)

    backend.stream(prompt, sampling, preview=preview).run(seen)
    if not pieces:
        raise SystemExit("a passage came out empty: nothing to compare")
    per_token = (firsts[-1] - firsts[0]) / (len(firsts) - 1) if len(firsts) > 1 else float("nan")
    return firsts[0] - start, pieces, per_token


def agreement(preview: list[str], exact: list[str]) -> float:
    """The share of the exact passage's tokens the preview reproduces before it first differs."""
    return common_prefix(preview, exact) / max(1, len(exact))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--drags", type=int, default=30)
    ap.add_argument("--tokens", type=int, default=40)
    args = ap.parse_args()
    started = time.perf_counter()
    backend = LlamaCppBackend()
    backend.load(None, [shipped_anchor(n) for n in DEFAULT_TRIANGLE])
    rng = random.Random(26)
    docs = documents(10)
    rows = []
    for k in range(args.drags):
        doc = docs[k % len(docs)]
        context = assemble(doc, "", "", DEFAULT_STYLE_WINDOW, backend.count_tokens)
        sampling = SamplingConfig(max_tokens=args.tokens, seed=k)
        a, b = simplex_point(rng), simplex_point(rng)
        timed(backend, a, context.prompt, sampling, preview=False)  # the passage before the drag
        preview_s, preview, _ = timed(backend, b, context.prompt, sampling, preview=True)
        exact_s, exact, per_token = timed(backend, b, context.prompt, sampling, preview=False)
        share = agreement(preview, exact)
        rows.append((preview_s, exact_s, per_token, preview == exact, preview[:1] == exact[:1], share))
        print(f"drag {k + 1:>2}: {len(backend._tokenize(context.prompt))} prompt tokens, "
              f"A {' '.join(f'{w:.2f}' for w in a)} -> B {' '.join(f'{w:.2f}' for w in b)}: first token "
              f"preview {preview_s * 1e3:.0f} ms, exact {exact_s * 1e3:.0f} ms; agree {share:.0%}"
              f"{' (the same passage)' if preview == exact else ''}", flush=True)
    backend.close()
    preview_ms = statistics.median(r[0] for r in rows) * 1e3
    exact_ms = statistics.median(r[1] for r in rows) * 1e3
    step_ms = statistics.median(r[2] for r in rows if r[2] == r[2]) * 1e3
    print(f"\n{describe_machine()}; llama.cpp, the default triangle merged, {args.drags} drags, "
          f"{args.tokens}-token passages at temperature 0.8, style window {DEFAULT_STYLE_WINDOW} tokens")
    print(f"first token after a move: preview {preview_ms:.0f} ms vs the exact restyle {exact_ms:.0f} ms "
          f"(baseline) = {preview_ms / exact_ms:.2f}x; {preview_ms / step_ms:.1f} decode steps "
          f"(one step {step_ms:.1f} ms)")
    print(f"previews equal to the exact passage: {sum(r[3] for r in rows)} of {len(rows)}; first token "
          f"the same: {sum(r[4] for r in rows)} of {len(rows)}; mean share of the exact passage "
          f"reproduced before the first difference: {statistics.fmean(r[5] for r in rows):.0%}")
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
