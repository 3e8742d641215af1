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
# the AVX2-only EPYC, 2026-12-02 00:48-01:12 UTC, one run, 24 samples each) with the shipped
# recipe (the top 10 layers and the diction): one page was recognised 12% (Melville) and 50%
# (Edgeworth), three pages 29% and 50%, ten pages 38% and 38%. (With a shortlist softmax, not
# shipped, three pages were clearer than one for both.)
PAGE_WORDS = 700  # about a page: the shortest text measured


def more_text_advice(words: int) -> str:
    """What the measurement lets us tell a writer about giving more text, for ``words`` words."""
    if words < MIN_VOICE_WORDS:
        return ""
    if words < PAGE_WORDS:
        return ("Voices were measured from a page (about 700 words) up; a shorter text was not "
                "measured.")
    return ("Measured on two writers, more than a page did not reliably make a clearer voice: "
            "three pages and ten each helped one writer and not the other. "
            "More text takes longer: about two minutes for three pages, three for ten.")
