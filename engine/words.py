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


# The text lengths the voice was measured at, and what more text bought there
# (docs/dev/decisions/0007-a-voice-from-a-page.md); the advice below says only what was measured.
PAGE_WORDS = 700  # about a page: the shortest text measured
THREE_PAGES_WORDS = 2_100


# which page was given moved recognition more than any recipe did (decision 0007, "Which page")
WHICH_PAGE_ADVICE = ("Give pages like the rest of your writing: measured on two writers, a voice of one page "
                     "was recognised as its author 40-90% of the time, depending on which page it was.")


def more_text_advice(words: int) -> str:
    """What the measurement lets us tell a writer about giving more text, for ``words`` words."""
    if words < MIN_VOICE_WORDS:
        return ""
    if words < PAGE_WORDS:
        return ("Measured on two writers, about 320 words made a voice recognised about half the "
                "time; a whole page (about 700 words) made one of the two clearer.")
    if words < THREE_PAGES_WORDS:
        return ("Measured on two writers, three pages made a clearer voice than one, in one to two "
                "minutes; ten pages were about as clear as three.")
    return ("Measured on two writers, three pages made a clearer voice than one; ten pages were "
            "about as clear as three, and took longer.")
