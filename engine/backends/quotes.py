"""A quotation mark set apart from its words, ruled out while the text is written.

A voice made from a short page, or turned up past strength 1, opens a quotation with a space
and a lower-case word (`said Mr. Parker, " as there be`) in up to a third of its passages
(docs/dev/decisions/0006-guards-at-every-step.md): the model took the
quote and the word as separate tokens. `QuoteGuard` rules out, at each sampled step, the tokens
that would set a quotation mark apart as `engine.fluency.typesetting_faults` finds
one:

- after an opening quote (a straight `"` at the start or after whitespace, or a curly `“`),
  every token that begins with whitespace;
- after whitespace (or at the start), a token that begins with a closing curly `”` or with a
  straight `"` and whitespace;
- anywhere, a token that holds such a mark inside itself (`a " b`).

It applies to sampled steps only: scoring a fixed text (perplexity) reads the model as it is.
Local backends apply it (llama.cpp in its logits processor, torch before its sampler); the
llama-server backend sends one request's settings and has no per-step hook, so it writes as the
server samples.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

TAIL_TOKENS = 3  # tokens of the text so far read for its end (a quote and the space before it)
_OPENED = re.compile(r'(?:^|\s)"$|“$')
_INSIDE = re.compile(r'(?<=\s)"(?=\s)|“(?=\s)|(?<=\s)”')  # within one token's own text
_AFTER_SPACE = re.compile(r'^(?:”|"\s)')


def _mask(forbidden: np.ndarray) -> np.ndarray:
    out = np.zeros(forbidden.size, dtype=np.float32)
    out[forbidden] = -np.inf
    return out


class QuoteGuard:
    """The rule above for one vocabulary (``texts``: each token's text, in token order, padded
    with zeros to ``vocab``, the size of the logits)."""

    def __init__(self, texts: Sequence[str], vocab: int | None = None) -> None:
        size = max(vocab or 0, len(texts))
        pad = size - len(texts)

        def flags(rule: "re.Pattern[str] | None") -> np.ndarray:
            found = np.fromiter(((t[:1].isspace() if rule is None else bool(rule.search(t))) for t in texts),
                                dtype=bool, count=len(texts))
            return np.pad(found, (0, pad))
        inside, spaced, after_space = flags(_INSIDE), flags(None), flags(_AFTER_SPACE)
        self.texts = list(texts)
        self.always = _mask(inside) if inside.any() else None
        self.after_opening = _mask(inside | spaced)
        self.after_space = _mask(inside | after_space)

    def at(self, context: Sequence[int]) -> np.ndarray | None:
        """The bias (0 or -inf per token) for the step after ``context`` (the tokens so far,
        the prompt's included); None where nothing is ruled out."""
        texts = self.texts
        tail = "".join(texts[t] for t in context[-TAIL_TOKENS:] if 0 <= t < len(texts))
        if _OPENED.search(tail):
            return self.after_opening
        if not tail or tail[-1].isspace():
            return self.after_space
        return self.always
