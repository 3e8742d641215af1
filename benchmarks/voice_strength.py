"""How the stronger-LoRA check (engine.training.voice_strength) decides on voices already made.

    python -m benchmarks voice_strength DIR [--pages 1] [--seeds 0,1,2,3] [--lora 1.25,1.5]

DIR holds benchmarks/voice.py's `{author}-{pages}` voice folders (its "voices in" line). For
each voice, each LoRA factor and each set of check seeds, the check samples the voice on its
page's openings and prints how many samples were prose against the page's own limit, and
whether the check would keep the stronger LoRA. The limit taken from the book's second half
(what benchmarks/voice.py judges prose by) is printed beside the page's, to see whether the
page alone draws the line where the book does. Nothing is judged here: benchmarks/voice.py
does that, on the voices `prosemix voice` makes with the check.

After each voice it prints its samples' median perplexity under the base at each factor, and that
against the first factor's (``--lora 1,1.25,1.5``: how much a stronger LoRA moved the samples
away from what the base writes, a measure that does not lean on the page's limit).

    python -m benchmarks voice_strength --page-limits [--authors ...] [--at 0.1,0.2,...]

measures no voice: for pages from several places in each book's first half, the page's own limit
against the book's (the same 95% quantile of 45-word passages, both read by torch on the float
copy), to see how well one page stands for its book.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from engine.machine import describe_machine  # noqa: E402
from engine.training.voice import voice_precision  # noqa: E402
from engine.training.voice_strength import check_stronger  # noqa: E402
from benchmarks.voice import PAGE_AT, book_halves, book_passages, made_before, page_and_after, prose_limit  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dir", nargs="?")
    ap.add_argument("--page-limits", action="store_true", help="no voice: pages' own limits against their books'")
    ap.add_argument("--at", default="0.1,0.2,0.333,0.45,0.5,0.6,0.7,0.8,0.9",
                    help="with --page-limits: where the pages start in the first half")
    ap.add_argument("--authors", default="melville,edgeworth")
    ap.add_argument("--pages", default="1")
    ap.add_argument("--corpora", default=str(ROOT / "corpora"))
    ap.add_argument("--seeds", default="0,1,2,3", help="the check's sampling seeds: a check each")
    ap.add_argument("--lora", default="1.25,1.5", help="the LoRA factors to check (the diction stays the card's)")
    ap.add_argument("--dump", default=None, help="also write each check's sample perplexities here (JSON lines)")
    ap.add_argument("--page-at", type=float, default=None,
                    help="the voices' pages start this far through the first half (benchmarks/voice.py --page-at)")
    ap.add_argument("--no-book-limit", action="store_true", help="skip the book's limit (2-3 minutes an author)")
    args = ap.parse_args()
    dump = open(args.dump, "a", encoding="utf-8") if args.dump else None
    print(f"machine: {describe_machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    if args.page_limits:
        return page_limits(args)
    if args.dir is None:
        ap.error("DIR is needed unless --page-limits")
    for author in args.authors.split(","):
        first, second = book_halves(Path(args.corpora), author)
        book_limit = float("nan") if args.no_book_limit else prose_limit(second)
        for count in (int(p) for p in args.pages.split(",")):
            at = PAGE_AT if args.page_at is None else args.page_at
            voice = Path(args.dir) / (f"{author}-{count}" + ("" if at == PAGE_AT else f"-at{round(at * 100)}"))
            text = page_and_after(first, count, at)[0]
            made_before(voice, text)  # refuses a voice made from another text
            medians: dict[float, list[float]] = {}
            for lora in (float(x) for x in args.lora.split(",")):
                for seed in (int(x) for x in args.seeds.split(",")):
                    c = check_stronger(voice, text, lora=lora, seed=seed)
                    medians.setdefault(lora, []).extend(c.perplexities)
                    print(f"{author}-{count}, LoRA {lora:g}, seed {seed}: prose {c.prose}/{c.samples} "
                          f"(page limit {c.limit:.1f}, book limit {book_limit:.1f}), "
                          f"{'kept' if c.lora == lora else 'refused'}, {c.seconds:.1f} s", flush=True)
                    if dump:
                        dump.write(json.dumps({"voice": voice.name, "lora": lora, "seed": seed, "limit": c.limit,
                                               "book_limit": book_limit, "ppl": [str(p) for p in c.perplexities]})
                                   + "\n")
                        dump.flush()
            at_first = float(np.median(next(iter(medians.values()))))
            print(f"{voice.name}: the samples' median perplexity under the base, "
                  + ", ".join(f"LoRA {lora:g} {np.median(p):.1f} (x{np.median(p) / at_first:.2f})"
                              for lora, p in medians.items()), flush=True)
    return 0


def page_limits(args: argparse.Namespace) -> int:
    """Each page's own limit (engine.training.voice_strength's) against its book's second half's,
    both by torch on the float copy in the voices' precision."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.models.base import resolve_model
    from engine.models.float_copy import float_copy_of_gguf
    from engine.training.voice import voice_text
    from engine.training.voice_strength import PROSE_QUANTILE, _perplexities, page_windows

    folder = float_copy_of_gguf(resolve_model(None))
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    dtype = torch.bfloat16 if voice_precision() == "bf16" else torch.float32
    net = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, local_files_only=True).eval()

    def ppl(texts: list[str]) -> np.ndarray:
        return np.array([p for i in range(0, len(texts), 16) for p in _perplexities(net, tokenizer, texts[i:i + 16])])

    for author in args.authors.split(","):
        first, second = book_halves(Path(args.corpora), author)
        book = float(np.quantile(ppl(book_passages(second)), PROSE_QUANTILE))
        print(f"{author}: the book's limit {book:.1f}", flush=True)
        for at in (PAGE_AT if abs(float(x) - PAGE_AT) < 0.01 else float(x) for x in args.at.split(",")):
            own = float(np.quantile(ppl(page_windows(voice_text([page_and_after(first, 1, at)[0]]))), PROSE_QUANTILE))
            print(f"  the page at {at:.0%}: its limit {own:.1f}, {own / book:.2f} of the book's", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
