"""No broken character in the text: a byte token that cannot continue the UTF-8 so far is ruled
out while the text is written.

A byte-level vocabulary (the embedded model's) writes a character outside its whole tokens as
pieces: a lead byte, then continuation bytes. A voice turned up past strength 1 sampled a lone
lead byte and then a word ("sent\ufffd", docs/dev/decisions/0006-guards-at-every-step.md): the text
got the replacement character U+FFFD, which `engine.fluency.typesetting_faults` counts
as a fault. `ByteGuard` rules out, at each sampled step, every token whose bytes would make the
text invalid UTF-8:

- where the text so far ends a character, a token that begins with a continuation byte
  (0x80-0xBF) or holds an invalid sequence;
- where it owes a character k more continuation bytes, every token but those that begin with
  exactly k of them (and are valid after them) and those made only of fewer of them (an empty
  token, the end of the text, stays allowed).

Like the quote guard (engine.backends.quotes) it applies to sampled steps only, on the local
backends (llama.cpp's logits processor, torch before its sampler); a token whose bytes the
backend cannot read is never ruled out.
"""
from __future__ import annotations

import codecs
from typing import Sequence

import numpy as np

# a character has at most 4 bytes, so its lead byte is in the last 4 bytes: read back until
# there are 4, through empty tokens (a special one), at most this many tokens
TAIL_TOKENS = 16


def owed(data: bytes) -> int:
    """How many continuation bytes the last character of ``data`` still lacks (0: it is whole,
    or the bytes are not a character's start at all)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return 0
        if byte >= 0xC0:
            size = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return max(0, size - back)
    return 0


def _shape(data: bytes) -> tuple[int, bool]:
    """A token's leading continuation bytes and whether what follows them is valid UTF-8 (a
    character left open at its end counts as valid: the next token may close it)."""
    lead = 0
    while lead < len(data) and 0x80 <= data[lead] < 0xC0:
        lead += 1
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(data[lead:], final=False)
    except UnicodeDecodeError:
        return lead, False
    return lead, True


class ByteGuard:
    """The rule above for one vocabulary (``pieces``: each token's bytes in token order, None
    where the backend cannot read them; padded to ``vocab``, the size of the logits)."""

    def __init__(self, pieces: Sequence[bytes | None], vocab: int | None = None) -> None:
        size = max(vocab or 0, len(pieces))
        lead = np.zeros(size, dtype=np.int64)
        valid = np.ones(size, dtype=bool)
        length = np.zeros(size, dtype=np.int64)
        known = np.zeros(size, dtype=bool)
        for i, data in enumerate(pieces):
            if data is not None:
                lead[i], valid[i] = _shape(data)
                length[i], known[i] = len(data), True
        self.pieces = list(pieces)
        whole = (lead == 0) & valid
        self.masks: list[np.ndarray | None] = [self._mask(whole | ~known)]
        for k in (1, 2, 3):
            allowed = ((lead == k) & valid) | ((lead == length) & (lead < k))
            # a vocabulary without the bytes to close a character: rule nothing out
            usable = (allowed & (length > 0)).any()
            self.masks.append(self._mask(allowed | ~known) if usable else None)

    @staticmethod
    def _mask(allowed: np.ndarray) -> np.ndarray | None:
        if allowed.all():
            return None
        out = np.zeros(allowed.size, dtype=np.float32)
        out[~allowed] = -np.inf
        return out

    def at(self, context: Sequence[int]) -> np.ndarray | None:
        """The bias (0 or -inf per token) for the step after ``context`` (the tokens so far,
        the prompt's included); None where nothing is ruled out."""
        pieces, tail = self.pieces, b""
        for t in reversed(context[-TAIL_TOKENS:]):
            tail = (pieces[t] or b"" if 0 <= t < len(pieces) else b"") + tail
            if len(tail) >= 4:
                break
        return self.masks[owed(tail)]
