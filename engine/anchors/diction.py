"""A voice's diction as an anchor carries it: one bias per vocabulary token
(engine.training.diction fits it), read from the voice's folder, and the bias a point applies:
``sum_i v_i * b_i``, v_i the weight applied to anchor i's LoRA delta, so it is linear in the
weights and zero at strength 0."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.errors import AnchorError

DICTION_FILE = "diction.safetensors"
KEY = "diction"


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
