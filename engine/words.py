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


# What more text bought, as benchmarks/voice.py measured it on two writers (docs/results.md):
# three pages were recognised more often than one for both (0% -> 25%, 33% -> 46%); ten pages
# not more often than three (33%, 29%).
CLEARER_UP_TO_WORDS = 2_100  # about three pages


def more_text_advice(words: int) -> str:
    """What the measurement lets us tell a writer about giving more text, for ``words`` words."""
    if words < MIN_VOICE_WORDS:
        return ""
    if words < CLEARER_UP_TO_WORDS:
        return ("More text makes the voice clearer up to about three pages (2,100 words): measured on "
                "two writers, three pages were recognised more often than one.")
    if words <= 2 * CLEARER_UP_TO_WORDS:
        return "About three pages: as much as made a voice clearer when measured."
    return ("More than about three pages did not make a clearer voice when measured (ten pages no "
            "clearer than three); it does take longer.")
