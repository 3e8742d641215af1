"""Token alternatives on the desk, without Qt: each generated passage's tokens with the most
likely tokens at each step, kept in memory by the passage's provenance, found again under a
character position, and how likely each written token was (the confidence tint).

A token's alternatives hold only while the text is the text it wrote: a passage edited there
(or before it, which moves it) no longer shows them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

from engine.documents.model import Document, Provenance

Alts = tuple[tuple[str, float], ...]
TOP_K = 10  # alternatives the desk asks for per token


@dataclass(frozen=True)
class TokenHit:
    """The token at a position: its passage's start, its index, where it starts in the text,
    its text, the alternatives at its step and the passage's provenance."""

    start: int
    index: int
    at: int
    text: str
    alternatives: Alts
    provenance: Provenance


def _key(provenance: Provenance) -> tuple[float, int]:
    return provenance.created, provenance.seed


class TokenLog:
    def __init__(self) -> None:
        self._tokens: dict[tuple[float, int], tuple[tuple[str, ...], tuple[Alts, ...]]] = {}

    def put(self, provenance: Provenance, texts: tuple[str, ...], alternatives: tuple[Alts, ...]) -> None:
        if texts and len(texts) == len(alternatives):
            self._tokens[_key(provenance)] = (tuple(texts), tuple(alternatives))

    def tokens(self, provenance: Provenance) -> tuple[tuple[str, ...], tuple[Alts, ...]] | None:
        return self._tokens.get(_key(provenance))

    def _spans(self, doc: Document) -> list[tuple[int, int, Provenance]]:
        spans = [(p.start, p.end, p.provenance) for p in doc.passages]
        span = doc.pending_span()
        if span and doc.pending is not None:
            spans.append((span[0], span[1], doc.pending.candidates[doc.pending.current][1]))
        return spans

    def _walk(self, doc: Document, at: int | None = None) -> Iterator[tuple[TokenHit, bool]]:
        """Each logged token of the passages in the text (or only of the passage holding
        position ``at``), and whether its text is still what was written (an edit there, or
        before it in its passage, changes that)."""
        for start, end, provenance in self._spans(doc):
            if at is not None and not start <= at < end:
                continue
            found = self.tokens(provenance)
            if found is None:
                continue
            offset = start
            for index, (text, alts) in enumerate(zip(*found)):
                yield (TokenHit(start, index, offset, text, alts, provenance),
                       doc.text[offset:offset + len(text)] == text)
                offset += len(text)

    def at(self, doc: Document, pos: int) -> TokenHit | None:
        """The generated token at character ``pos``, if its text is still what was written."""
        for hit, unchanged in self._walk(doc, pos):
            if hit.at <= pos < hit.at + len(hit.text):
                return hit if unchanged and hit.alternatives else None
        return None

    def unlikely(self, doc: Document, below: float = 0.2) -> list[tuple[int, int, float]]:
        """(offset, length, p) of each written token (not whitespace) whose probability was
        under ``below``: what the confidence tint marks."""
        out = []
        for hit, unchanged in self._walk(doc):
            p = probability(hit.text, hit.alternatives)
            if unchanged and hit.text.strip() and p is not None and p < below:
                out.append((hit.at, len(hit.text), p))
        return out


def probability(text: str, alts: Alts) -> float | None:
    """p of the token that was written: from the alternatives, or (sampled from outside them)
    half the least of them, a bound for the tint."""
    if not alts:
        return None
    for alt, lp in alts:
        if alt == text:
            return math.exp(lp)
    return min(math.exp(lp) for _, lp in alts) * 0.5


def probability_text(text: str, alts: Alts) -> str:
    """How likely the written token was, as the popup says it."""
    for alt, lp in alts:
        if alt == text:
            return f"{math.exp(lp):.1%}"
    return f"under {min(math.exp(lp) for _, lp in alts):.1%}" if alts else ""
