"""Which few-step recipe makes a page into a voice the judge recognises? A grid, one page.

    python -m benchmarks voice_recipes [--authors melville,edgeworth] [--recipes base,mlp,...]
                                       [--seeds 2,3,4,5] [--strengths 1] [--pages 1]

For each author (benchmarks/voice.py's page, judge and protocol) and each recipe below, the page
is made into a voice in this process (`make_voice` with the recipe: the seconds are the voice's
own clock, without the fresh process's start that `prosemix voice` adds), then:
- the perplexity of the author's next text (which the voice never saw) and of the page's tail,
  at strength 1 and for the base model: a voice that generalises makes the next page likelier;
- the share of styles_report's 12 openings x the seeds recognised as the author by the judge
  (default seeds 2-5, not the report's 0 and 1, so a recipe is chosen on other samples than
  those benchmarks/voice.py reads the goal at).
One line per author and recipe, with the machine. What it found is in docs/results.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.machine import describe_machine  # noqa: E402
from engine.training.config import ALL_TARGETS, TrainConfig  # noqa: E402


def recipes(words: int) -> dict[str, TrainConfig]:
    """The shipped recipe for ``words`` and variations of it, one change (or two) each."""
    from engine.training.voice import voice_recipe

    base = voice_recipe(words)
    half = max(4, base.steps // 2) if base.steps else 12
    return {
        "base": base,
        # the LoRA alone, without the diction fitted beside it (engine.training.diction)
        "no-diction": replace(base, diction=False),
        # the output softmax over the whole vocabulary (49,152 tokens), as until 2026-12-02
        "whole-vocabulary": replace(base, shortlist=0, negatives=0),
        # over the text's tokens and the 4,096 the base expects most, without negatives (the
        # tokens outside it are never pushed down: docs/results.md)
        "shortlist": replace(base, negatives=0),
        # every step the budget holds (about 20 on a page), not 14; and the same at lr 3e-3
        "negatives-all": replace(base, steps=base.steps + 10 if base.steps else None),
        "negatives-lr3e-3": replace(base, steps=base.steps + 10 if base.steps else None, lr=3e-3),
        "mlp": replace(base, targets=ALL_TARGETS),
        "mlp-lr1e-3": replace(base, targets=ALL_TARGETS, lr=1e-3),
        "lr1e-3": replace(base, lr=1e-3),
        "half-steps": replace(base, steps=half),
        "mlp-half-steps": replace(base, targets=ALL_TARGETS, steps=half),
        "rank4": replace(base, rank=4, alpha=8.0),
        "mlp-rank16": replace(base, targets=ALL_TARGETS, rank=16, alpha=32.0),
        "mlp-only": replace(base, targets=("gate_proj", "up_proj", "down_proj")),
        "block64": replace(base, block=64, batch=8),
        # LoRA on the top layers only, the layers below computed once per block (FrozenBelow):
        # more steps fit the same time budget
        "top10": replace(base, top_layers=10),
        "top6": replace(base, top_layers=6),
        "top10-lr4e-3": replace(base, top_layers=10, lr=4e-3),
        "top6-lr4e-3": replace(base, top_layers=6, lr=4e-3),
        "top10-lr6e-3": replace(base, top_layers=10, lr=6e-3),
        "lr2e-3": replace(base, lr=2e-3),
        "top15-lr4e-3": replace(base, top_layers=15, lr=4e-3),
        # the same 20 steps whatever the budget (the reference for docs/figures/
        # voice_experiments_2026-12-01.patch, which measured a faster loss against it)
        "steps20": replace(base, steps=20, max_seconds=None),
        # every planned step, whatever the budget (ten pages may take five minutes, a page one)
        "all-steps": replace(base, max_seconds=None),
        # ten pages within the five minutes the goal allows them, not the three minutes the
        # recipe gives (the steps are the budget's: about 3 s each on ten pages), at the recipe's
        # lr and at a page's
        "five-minutes": replace(base, max_seconds=270.0),
        "five-minutes-lr4e-3": replace(base, max_seconds=270.0, lr=4e-3),
        # a short text (--words): fewer steps, fewer or more blocks a step (two since
        # 2026-12-02's eighteenth session, four before), or a page's 128-token blocks
        "steps8": replace(base, steps=8),
        "batch2": replace(base, batch=2),
        "batch4": replace(base, batch=4),
        "block128": replace(base, block=128),
        # ten pages' capped 64 steps: each seeing twice the text, or at a rate between a page's
        # and three pages'
        "batch8": replace(base, batch=8),
        "lr3e-3": replace(base, lr=3e-3),
        # a page in two tilings: its blocks and the windows half a block on between two of them
        # (TrainConfig.shifted), the same steps; and dropout on the LoRA branch's input
        "shifted": replace(base, shifted=True),
        "dropout0.1": replace(base, lora_dropout=0.1),
        # the recipe with another seed (the blocks held out and their order): how far a voice
        # moves by chance, against which a recipe's difference is read
        "seed1": replace(base, seed=1),
        # every block of the page trained on, the held-out one too (TrainConfig.learn_held_out),
        # at two seeds (the seed chooses the block the shipped recipe holds out)
        "all-blocks": replace(base, learn_held_out=True),
        "all-blocks-seed1": replace(base, learn_held_out=True, seed=1),
    }


def main() -> int:
    from benchmarks.voice import author_judge, book_halves, corpus_lexicon, first_words, judge, page_and_after, prose_limit

    from engine.training.voice import make_voice
    from engine.words import word_count

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--authors", default="melville,edgeworth")
    ap.add_argument("--recipes", default=None, help="comma-separated names (default: all)")
    ap.add_argument("--corpora", default=str(ROOT / "corpora"))
    ap.add_argument("--seeds", default="2,3,4,5")
    ap.add_argument("--strengths", default="1")
    ap.add_argument("--pages", type=int, default=1, help="pages of the author's text (about 700 words each)")
    ap.add_argument("--words", type=int, default=None,
                    help="the pages' first WORDS words only (whole sentences): a writer's short page")
    args = ap.parse_args()
    seeds = tuple(int(x) for x in args.seeds.split(","))
    strengths = tuple(float(x) for x in args.strengths.split(","))
    corpora = Path(args.corpora)
    print(f"machine: {describe_machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="prosemix-voice-recipes-"))
    print(f"voices in {work}", flush=True)
    known = corpus_lexicon(corpora)
    for author in args.authors.split(","):
        first, second = book_halves(corpora, author)
        classifier = author_judge(author, second, corpora)
        limit = prose_limit(second)
        text, tail, after = page_and_after(first, args.pages)
        if args.words:
            text = first_words(text, args.words)
            tail = text[-int(len(text) * 0.15):]
        grid = recipes(word_count(text))
        names = args.recipes.split(",") if args.recipes else list(grid)
        base_judged = None  # the base model (strength 0), judged with the first recipe only
        for name in names:
            config = grid[name]
            out = work / f"{author}-{name}"
            made = make_voice([text], f"{author}-{name}".replace(".", "_"), out, config=config)
            judged = judge(out, author, classifier, strengths if base_judged else (0.0, *strengths),
                           seeds, (tail, after), text,
                           known=known, limit=limit)
            base_judged = base_judged or judged[0.0]
            base_rec, (base_tail, base_after) = base_judged.share, base_judged.perplexities
            for strength in strengths:
                j = judged[strength]
                rec, bad, n, (ppl_tail, ppl_after) = j.share, j.degenerate, j.samples, j.perplexities
                print(f"{author} {name}: rank {config.rank} lr {config.lr:g} steps {made.steps} "
                      f"targets {len(config.targets)} layers {config.top_layers or 'all'}; made in {made.seconds:.1f} s; val loss "
                      f"{made.base_val_loss:.3f} -> {made.val_loss:.3f}; strength {strength:g}: "
                      f"recognised {rec:.0%} (base {base_rec:.0%}), recognised in prose {j.in_prose:.0%} "
                      f"(prose {j.prose:.0%}), degenerate {bad}/{n}, typesetting faults "
                      f"{j.typeset}/{n}; perplexity "
                      f"next text {base_after:.1f} -> {ppl_after:.1f}, page tail {base_tail:.1f} -> "
                      f"{ppl_tail:.1f}; the page recited {j.copied:.0%} (base {base_judged.copied:.0%}); "
                      f"words in no corpus {j.unknown:.1%} (base {base_judged.unknown:.1%})",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
