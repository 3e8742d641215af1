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
# the AVX2-only EPYC, 2026-12-02 01:18-01:41 UTC, one run, 24 samples each) with the shipped
# recipe (the top 10 layers, the diction, the shortlist softmax): one page was recognised 42%
# (Melville) and 75% (Edgeworth), three pages 67% and 88%, ten pages 33% and 75%. Before the
# diction, three pages had helped one writer and not the other (29% and 75% against 58% and 50%).
PAGE_WORDS = 700  # about a page: the shortest text measured
THREE_PAGES_WORDS = 2_100


def more_text_advice(words: int) -> str:
    """What the measurement lets us tell a writer about giving more text, for ``words`` words."""
    if words < MIN_VOICE_WORDS:
        return ""
    if words < PAGE_WORDS:
        return ("Voices were measured from a page (about 700 words) up; a shorter text was not "
                "measured.")
    if words < THREE_PAGES_WORDS:
        return ("Measured once on two writers, three pages (about 2,100 words) made a voice "
                "recognised more often than one page (67% against 42%, 88% against 75%); they take "
                "about two minutes instead of one.")
    return ("Measured once on two writers, ten pages were recognised no more often than three "
            "(33% and 75% against 67% and 88%) and take about three minutes.")
