"""Words as a writer counts them ("don't" and "well-known" are one word each; numbers count),
shared by the document's count, the voices and the dialogs; and what the measurement lets us
tell a writer about giving a voice more text."""
from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
# below this there is too little text to learn a voice from; a text this short trains on
# 64-token blocks (engine.training.voice.SHORT_TEXT_WORDS), and 200 English words are at least
# 230 tokens, the trainer's three blocks (150 were accepted here once and then refused by the
# trainer: 215 words made two 128-token blocks)
MIN_VOICE_WORDS = 200


def word_count(text: str) -> int:
    return sum(1 for _ in _WORD.finditer(text))


# What more text bought, as benchmarks/voice.py measured it on two writers (docs/results.md,
# the AVX2-only EPYC, 2026-12-02 04:25-04:43 UTC, one run, 24 samples each) with the shipped
# recipe (the top 10 layers, the diction, the shortlist softmax with sampled negatives): one
# page at its 14 steps was recognised 33% (Melville) and 75% (Edgeworth; 04:49-04:54 UTC),
# three pages 71% and 96%, ten pages 33% and 71%. Three pages were clearer than one for both
# writers in that run, as they were in the day's earlier run with a shortlist alone (67% and
# 88% against 42% and 75%); ten pages were not clearer than three in either, nor with their
# steps capped at 64 (67% and 75% in 164-170 s; 2026-12-02 08:08-08:16 UTC, docs/results.md
# "Ten pages"). The first 320 words of the same pages, at two blocks a step (the recipe for a
# text under 450 words), were recognised 54% (Melville) and 46% (Edgeworth) (2026-12-02
# 12:31-12:37 UTC, the AVX512-BF16 EPYC, 24 samples each; docs/results.md "A short page"), where
# the whole pages were recognised 42% and 81% on that CPU (48 samples, "A risen word").
PAGE_WORDS = 700  # about a page: the shortest text measured
THREE_PAGES_WORDS = 2_100


# what the page chosen did (docs/results.md, "Which page", 2026-12-02): four pages of each of two
# books, each made a voice and judged on 48 samples: 42-73% for one writer, 40-90% for the other
WHICH_PAGE_ADVICE = ("Give pages like the rest of your writing: measured on two writers, a voice of one page "
                     "was recognised as its author 40-90% of the time, depending on which page it was.")


def more_text_advice(words: int) -> str:
    """What the measurement lets us tell a writer about giving more text, for ``words`` words."""
    if words < MIN_VOICE_WORDS:
        return ""
    if words < PAGE_WORDS:
        return ("Measured on two writers, about 320 words made a voice recognised about half the "
                "time; a whole page (about 700 words) made one of the two clearer.")
    # 2026-12-03 (docs/results.md, "Three pages, seen as often as a page"): recognised in prose,
    # one / three / ten pages, Melville 67% / 71% / 88% and Edgeworth 83% / 96% / 96% (seeds 0-1),
    # Melville 60% / 85% / 85% and Edgeworth 69% / 90% / 83% (seeds 4-7); three pages made in
    # 54-69 s, ten in 64-78 s on an AMX Xeon, at most about four minutes on a slower CPU
    if words < THREE_PAGES_WORDS:
        return ("Measured on two writers, three pages made a clearer voice than one, in one to two "
                "minutes; ten pages were about as clear as three.")
    return ("Measured on two writers, three pages made a clearer voice than one; ten pages were "
            "about as clear as three, and took longer.")
