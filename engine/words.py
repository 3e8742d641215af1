"""Words as a writer counts them ("don't" and "well-known" are one word each; numbers count),
shared by the document's count, the voices and the dialogs."""
from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
MIN_VOICE_WORDS = 150  # below this there is too little text to learn a voice from


def word_count(text: str) -> int:
    return sum(1 for _ in _WORD.finditer(text))
