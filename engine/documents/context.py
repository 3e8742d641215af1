"""What the model sees when it continues a document: the memory first, then the lorebook's
active entries (engine.documents.lorebook, already fitted to their own budget), then as much text
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
from dataclasses import dataclass, replace
from typing import Any, Callable

from engine.errors import ProsemixError
from engine.sampling import DEFAULT_STYLE_WINDOW

NOTE_DEPTH = 3  # the author's note goes this many lines before the end of the text


@dataclass(frozen=True)
class Context:
    prompt: str
    tokens: int  # the prompt's tokens
    budget: int  # tokens the prompt may use: n_ctx minus the generation's length
    dropped: int  # characters cut from the start of the text
    lore: tuple[str, ...] = ()  # the lorebook entries in the prompt, by name

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
             count: Callable[[str], int], depth: int = NOTE_DEPTH, lore: str = "") -> Context:
    """The prompt for a continuation at the end of ``before``. ``count`` gives a text's
    tokens; ``budget`` is n_ctx minus the tokens to generate; ``lore`` is the lorebook's
    block, placed after the memory."""
    head = "".join(part.strip() + "\n\n" for part in (memory, lore) if part.strip())
    fixed = count(head + note_line(note)) if head or note.strip() else 0
    if fixed > budget:
        what = "the memory, the lorebook entries and the author's note" if lore.strip() else \
            "the memory and the author's note"
        raise ProsemixError(f"{what} take {fixed} tokens, more than the {budget} the context has "
                            "for them: shorten them")

    def prompt_from(cut: int) -> str:
        return head + with_note(before[cut:], note, depth)

    # the context starts at one of the steps k * step (at its word start): the first that fits,
    # found by looking at the text's end first, so a long document is not tokenized whole
    step, n = cut_step(budget), len(before)
    span = budget * 8  # characters: more than the budget's tokens take in English
    if n <= span:
        full = prompt_from(0)
        tokens = count(full)
        if tokens <= budget:
            return Context(full, tokens, budget, 0)

    def cut_at(k: int) -> int:
        return word_start(before, min(k * step, n))

    def fits(k: int) -> bool:
        return count(prompt_from(cut_at(k))) <= budget

    lo, hi = 0, -(-n // step)  # cut_at(hi) keeps no text, which fits
    while span < n:
        k = (n - span) // step
        if not fits(k):
            lo = k + 1
            break
        hi, span = k, span * 4
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid + 1
    cut = cut_at(lo)
    prompt = prompt_from(cut)
    return Context(prompt, count(prompt), budget, cut)


# ----- the desk's context: one function for the window and the command line ----------------------
def desk_context(before: str, memory: str, note: str, window: int, n_ctx: int, max_tokens: int,
                 count: Callable[[str], int], lorebook: Any = None, lore: Any = None) -> Context:
    """What a Continue sends, the same from the Write tab and from `prosemix continue`: the
    memory, the active lorebook entries (engine.documents.lorebook) and the text before the
    cursor with the author's note, within the style window (``window`` tokens) and the model's
    context less the tokens to generate. ``lore``: the lorebook's block if the caller has it."""
    from engine.documents.lorebook import lore_for

    budget = min(window, n_ctx - max_tokens)
    lore = lore if lore is not None else lore_for(lorebook, before, count)
    context = assemble(before, memory, note, budget, count, lore=lore.text)
    return replace(context, lore=tuple(e.label for e in lore.included))


@dataclass(frozen=True)
class DocumentContext:
    """What a Continue needs of its document, beside the text before the cursor: the memory,
    the author's note, the style window, the lorebook and, for a server, which document (a
    remote backend pins a slot to ``key``)."""

    memory: str = ""
    note: str = ""
    budget: int = DEFAULT_STYLE_WINDOW  # tokens for memory + text + note; capped by the context
    lorebook: Any = None  # the document's engine.documents.lorebook.Lorebook, if it has one
    key: str = ""


def context_for(backend: Any, before: str, document: DocumentContext, max_tokens: int,
                lore: Any = None) -> Context:
    """The context of a continuation at the end of ``before`` on ``backend``: the style window,
    within the model's context less the generation (the worker, the counter and `continue`).
    ``lore``: the lorebook's block, if the caller has it already."""
    return desk_context(before, document.memory, document.note, document.budget, backend.n_ctx,
                        max_tokens, backend.count_tokens, document.lorebook, lore)


# ----- rewriting a selection ------------------------------------------------------------------------
def rewrite_instruction(instruction: str, span: str) -> str:
    """The chat message that asks the instruct model to rewrite ``span`` as the writer says."""
    return (f"Rewrite the passage below: {instruction.strip().rstrip('.')}. Keep its meaning and "
            f"reply with the rewritten passage only.\n\n{span.strip()}")


def rewrite_tokens(span_tokens: int) -> int:
    """Tokens a rewrite of a span of ``span_tokens`` may take: a little more than the span."""
    return max(16, min(1024, span_tokens * 3 // 2 + 8))
