"""No repeats: the DRY penalty ("Don't Repeat Yourself", p-e-w's sampler, as KoboldCpp,
text-generation-webui and llama-server have it), on every sampled step of the local backends.

Where the text so far ends with tokens that already came earlier in the context (the prompt's
included: the document above, a voice's own page pasted in), the token that followed them then
would repeat a longer run now. It gets a penalty that grows with the run:
``multiplier * DRY_BASE ** (run - DRY_ALLOWED)``, subtracted from its logit, for a run of at
least DRY_ALLOWED tokens. Runs stop at a sequence breaker (a token holding a line break, a
colon, a straight quote or an asterisk), so a new paragraph or a line of dialogue starts afresh,
and a character's two-token name said again is no run. ``multiplier`` 0 (the default) is off;
0.8 is the usual setting. Only the last DRY_LAST_N tokens are searched.

A writer's voice copied phrases of its own page from the context, which the base model does not
(docs/dev/decisions/0006-guards-at-every-step.md); this is what a writer turns on against it, and
against loops in long passages.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

DRY_BASE = 1.75
DRY_ALLOWED = 2  # a run of this many tokens repeated is free; the token that would make it longer is not
DRY_LAST_N = 1024  # tokens of the context searched for earlier runs
DRY_MAX_RUN = 40  # a run is counted up to here (the penalty is then beyond any logit)
BREAKERS = ("\n", ":", '"', "*")


def breaker_tokens(texts: Sequence[str]) -> np.ndarray:
    """Which of the vocabulary's ``texts`` (one per token) break a run (BREAKERS)."""
    return np.fromiter((any(b in t for b in BREAKERS) for t in texts), dtype=bool, count=len(texts))


def repeat_runs(context: Sequence[int], breakers: np.ndarray | None = None) -> dict[int, int]:
    """For each token that would continue a run of the context's end that came before: the
    longest such run (tokens), at least DRY_ALLOWED."""
    ctx = np.asarray(context[-DRY_LAST_N:], dtype=np.int64)
    n = ctx.size

    def breaks(token: int) -> bool:
        return breakers is not None and 0 <= token < breakers.size and bool(breakers[token])

    if n < 2 or breaks(int(ctx[-1])):
        return {}
    runs: dict[int, int] = {}
    for i in np.flatnonzero(ctx[:-1] == ctx[-1]):  # the end's last token, earlier; ctx[i + 1] followed it
        run = 1
        while run < DRY_MAX_RUN and run <= i and ctx[i - run] == ctx[n - 1 - run] and not breaks(int(ctx[i - run])):
            run += 1
        if run >= DRY_ALLOWED:
            token = int(ctx[i + 1])
            runs[token] = max(runs.get(token, 0), run)
    return runs


def dry_bias(context: Sequence[int], multiplier: float, vocab: int,
             breakers: np.ndarray | None = None) -> np.ndarray | None:
    """The penalty as a bias on the logits of the step after ``context`` (None: nothing to
    penalise, or ``multiplier`` 0)."""
    if multiplier <= 0:
        return None
    runs = repeat_runs(context, breakers)
    runs = {t: r for t, r in runs.items() if 0 <= t < vocab}
    if not runs:
        return None
    out = np.zeros(vocab, dtype=np.float32)
    tokens = np.fromiter(runs.keys(), dtype=np.int64, count=len(runs))
    lengths = np.fromiter(runs.values(), dtype=np.float64, count=len(runs))
    out[tokens] = -(multiplier * DRY_BASE ** (lengths - DRY_ALLOWED)).astype(np.float32)
    return out
