"""How the stronger-LoRA check (engine.training.voice_strength) decides on voices already made.

    python benchmarks/voice_strength.py DIR [--pages 1] [--seeds 0,1,2,3] [--lora 1.25,1.5]

DIR holds benchmarks/voice.py's `{author}-{pages}` voice folders (its "voices in" line). For
each voice, each LoRA factor and each set of check seeds, the check samples the voice on its
page's openings and prints how many samples were prose against the page's own limit, and
whether the check would keep the stronger LoRA. The limit taken from the book's second half
(what benchmarks/voice.py judges prose by) is printed beside the page's, to see whether the
page alone draws the line where the book does. Nothing is judged here: benchmarks/voice.py
does that, on the voices `prosemix voice` makes with the check.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))

from engine.machine import describe_machine  # noqa: E402
from engine.training.voice import voice_precision  # noqa: E402
from engine.training.voice_strength import check_stronger  # noqa: E402
from voice import PAGE_AT, book_halves, made_before, page_and_after, prose_limit  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dir")
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
    for author in args.authors.split(","):
        first, second = book_halves(Path(args.corpora), author)
        book_limit = float("nan") if args.no_book_limit else prose_limit(second)
        for count in (int(p) for p in args.pages.split(",")):
            at = PAGE_AT if args.page_at is None else args.page_at
            voice = Path(args.dir) / (f"{author}-{count}" + ("" if at == PAGE_AT else f"-at{round(at * 100)}"))
            text = page_and_after(first, count, at)[0]
            made_before(voice, text)  # refuses a voice made from another text
            for lora in (float(x) for x in args.lora.split(",")):
                for seed in (int(x) for x in args.seeds.split(",")):
                    c = check_stronger(voice, text, lora=lora, seed=seed, precision=voice_precision())
                    print(f"{author}-{count}, LoRA {lora:g}, seed {seed}: prose {c.prose}/{c.samples} "
                          f"(page limit {c.limit:.1f}, book limit {book_limit:.1f}), "
                          f"{'kept' if c.lora == lora else 'refused'}, {c.seconds:.1f} s", flush=True)
                    if dump:
                        dump.write(json.dumps({"voice": voice.name, "lora": lora, "seed": seed, "limit": c.limit,
                                               "book_limit": book_limit, "ppl": [str(p) for p in c.perplexities]})
                                   + "\n")
                        dump.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
