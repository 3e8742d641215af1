"""What the model sees when it continues a document: the memory first, then as much text
before the cursor as fits in the context minus the generation's length, with the author's
note a few lines before its end (the habit of NovelAI and KoboldAI). Pure functions.

The text is cut at its start, at a word boundary (never mid-word where that can be
avoided), so the kept part begins on a token boundary. The cut moves in steps (`cut_step`):
while the writer types at the end, the context keeps its start, so the prompt of the next
Continue shares its beginning with the last one and the backend evaluates only what changed.
The kept text is then between about three quarters of the budget and all of it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from engine.errors import ProsemixError

NOTE_DEPTH = 3  # the author's note goes this many lines before the end of the text
DEFAULT_STYLE_WINDOW = 384  # tokens of text before a restyled passage (plus the memory)


@dataclass(frozen=True)
class Context:
    prompt: str
    tokens: int  # the prompt's tokens
    budget: int  # tokens the prompt may use: n_ctx minus the generation's length
    dropped: int  # characters cut from the start of the text

    @property
    def usage(self) -> str:
        return f"{self.tokens} / {self.budget} tokens"


def note_line(note: str) -> str:
    return f"[Author's note: {note.strip()}]" if note.strip() else ""


def with_note(text: str, note: str, depth: int = NOTE_DEPTH) -> str:
    """``text`` with the author's note inserted ``depth`` lines before its end."""
    line = note_line(note)
    if not line:
        return text
    lines = text.split("\n")
    at = max(0, len(lines) - depth)
    return "\n".join(lines[:at] + [line] + lines[at:])


def word_start(text: str, at: int) -> int:
    """The first word start at or after ``at`` (``at`` itself if none follows soon)."""
    if at <= 0 or at >= len(text) or text[at - 1].isspace():
        return max(0, at)
    m = re.compile(r"\s+").search(text, at)
    return m.end() if m and m.end() - at <= 40 else at


def cut_step(budget: int) -> int:
    """Characters between the places where the context may start: about a quarter of the
    budget's tokens (a token is about four characters of English)."""
    return max(16, budget)


def assemble(before: str, memory: str, note: str, budget: int,
             count: Callable[[str], int], depth: int = NOTE_DEPTH) -> Context:
    """The prompt for a continuation at the end of ``before``. ``count`` gives a text's
    tokens; ``budget`` is n_ctx minus the tokens to generate."""
    head = memory.strip() + "\n\n" if memory.strip() else ""
    fixed = count(head + note_line(note)) if head or note.strip() else 0
    if fixed > budget:
        raise ProsemixError(f"the memory and the author's note take {fixed} tokens, more than the "
                            f"{budget} the context has for them: shorten them")

    def prompt_from(cut: int) -> str:
        return head + with_note(before[cut:], note, depth)

    full = prompt_from(0)
    tokens = count(full)
    if tokens <= budget:
        return Context(full, tokens, budget, 0)
    # where the longest suffix that fits starts: binary search
    lo, hi = 0, len(before)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(prompt_from(mid)) <= budget:
            hi = mid
        else:
            lo = mid + 1
    # the first step at or after it, then its word start (which may need one step more)
    step = cut_step(budget)
    k = -(-lo // step)
    cut = word_start(before, min(k * step, len(before)))
    while cut < len(before) and count(prompt_from(cut)) > budget:
        k += 1
        cut = word_start(before, min(k * step, len(before)))
    prompt = prompt_from(cut)
    return Context(prompt, count(prompt), budget, cut)
