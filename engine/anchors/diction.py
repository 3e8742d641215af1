"""A voice's diction as an anchor carries it: one bias per vocabulary token
(engine.training.diction fits it), read from the voice's folder, and the bias a point applies:
``sum_i v_i * b_i``, v_i the weight applied to anchor i's LoRA delta, so it is linear in the
weights and zero at strength 0. Each sampled step applies it less a word's rise once the last
PRESENCE_WINDOW tokens hold that word (`at_step`): the diction raises a word as often as the
page used it, and on top of the model's own pull to repeat what it just wrote a risen topic word
looped ("her morning morning morning morning")."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.errors import AnchorError

DICTION_FILE = "diction.safetensors"
KEY = "diction"
# a risen word gets no rise while the last PRESENCE_WINDOW tokens (two or three sentences) hold
# it: without a window it looped ("morning morning morning"); 64 kept recognition and wrote no loops (docs/dev/decisions/0007-a-voice-from-a-page.md)
PRESENCE_WINDOW = 64


def check_diction(tensors: dict[str, np.ndarray], name: str, filename: str = DICTION_FILE) -> np.ndarray:
    """A voice's diction from the tensors of its ``filename`` (engine.anchors.loading reads
    them): one finite float per vocabulary entry, or an AnchorError that names the anchor and
    the problem."""
    if set(tensors) != {KEY}:
        raise AnchorError(f"anchor {name!r}: {filename} must hold one tensor {KEY!r}, not {sorted(tensors)}")
    bias = tensors[KEY]
    if bias.ndim != 1 or bias.size == 0:
        raise AnchorError(f"anchor {name!r}: its diction must be one bias per token, not shape {tuple(bias.shape)}")
    if not np.isfinite(bias).all():
        raise AnchorError(f"anchor {name!r}: its diction holds NaN or infinite values")
    return bias


def diction_bias(values: Sequence[float], dictions: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """The logit bias at a point whose anchors get ``values`` (applied weights): the weighted sum
    of the anchors' dictions, None where no anchor with a diction has a weight."""
    total: np.ndarray | None = None
    for v, d in zip(values, dictions):
        if d is None or v == 0:
            continue
        total = v * d if total is None else total + v * d
    return None if total is None else total.astype(np.float32)


def check_vocabulary(name: str, diction: np.ndarray, n_vocab: int) -> None:
    if diction.size != n_vocab:
        raise AnchorError(f"anchor {name!r}: its diction has {diction.size:,} entries and the model's "
                          f"vocabulary {n_vocab:,}: it was made for another model")


def word_tokens(texts: Sequence[str]) -> np.ndarray:
    """Which of the vocabulary's ``texts`` (one per token) hold a letter: the tokens whose rise
    `at_step` withdraws once they are in the passage. Punctuation keeps its rise (a writer's
    semicolons are many to a passage)."""
    return np.fromiter((any(ch.isalpha() for ch in t) for t in texts), dtype=bool, count=len(texts))


def at_step(bias: np.ndarray, context: Sequence[int], words: np.ndarray | None,
            window: int = PRESENCE_WINDOW) -> np.ndarray:
    """The diction ``bias`` as the step after ``context`` (the tokens so far) applies it: a word
    (``words``, `word_tokens`) with a positive bias that the last ``window`` tokens hold gets
    none of it, until it leaves the window. A fallen token stays fallen; ``window`` 0 (or no
    ``words``) applies the bias as it is. ``bias`` itself is not changed."""
    if window <= 0 or words is None or len(context) == 0:
        return bias
    recent = np.asarray(context[-window:], dtype=np.int64)
    recent = recent[(recent >= 0) & (recent < min(bias.size, words.size))]
    risen = recent[words[recent] & (bias[recent] > 0)]
    if risen.size == 0:
        return bias
    out = bias.copy()
    out[risen] = 0.0
    return out
