"""Token alternatives: the K most likely tokens at each step, and a passage written again from
one of them with the same seed for the rest; on llama and torch (remote in test_remote.py)."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

from engine.backends.alternatives import rewrite_from
from engine.errors import ProsemixError
from engine.sampling import SamplingConfig

PROMPT = "The old lighthouse keeper climbed the stairs and"
GREEDY = SamplingConfig(max_tokens=16, temperature=0.0, repetition_penalty=1.0)
SAMPLED = SamplingConfig(max_tokens=16, temperature=0.9, seed=5)


def check_alternatives(backend, k: int = 10) -> None:
    gen = backend.stream(PROMPT, GREEDY, logprobs=True, top_logprobs=k)
    text = "".join(gen)
    r = gen.result
    assert len(r.alternatives) == len(r.token_texts) == r.n_tokens and "".join(r.token_texts) == text
    for chosen, alts, lp in zip(r.token_texts, r.alternatives, r.logprobs):
        assert len(alts) == k and all(a[1] >= b[1] for a, b in zip(alts, alts[1:]))  # most likely first
        assert sum(math.exp(p) for _, p in alts) <= 1.0 + 1e-4
        assert alts[0][1] == pytest.approx(lp, abs=1e-3)  # greedy takes the most likely token
        if chosen:  # (a token of a split character has no text of its own)
            assert alts[0][0] == chosen
    # the same generation without alternatives is the same text
    assert backend.generate(PROMPT, GREEDY).text == text
    # written again from the second alternative at token 3: the same tokens before it, the
    # choice, then what a fresh generation from there writes with the same seed
    index, choice = 3, r.alternatives[3][1][0]
    rewrite = rewrite_from(backend, PROMPT, r.token_texts, r.alternatives, index, choice, SAMPLED, top_logprobs=k)
    rest = "".join(rewrite.generation)
    passage, texts, alts = rewrite.finish()
    assert passage == "".join(r.token_texts[:index]) + choice + rest
    fresh = backend.generate(PROMPT + rewrite.prefix, replace(SAMPLED, max_tokens=SAMPLED.max_tokens - index - 1)).text
    assert rest == fresh and "".join(texts) == passage and len(alts) == len(texts)
    with pytest.raises(ProsemixError, match="no token 99"):
        rewrite_from(backend, PROMPT, r.token_texts, r.alternatives, 99, "x", SAMPLED)
    with pytest.raises(ProsemixError, match="top_logprobs"):
        backend.stream(PROMPT, GREEDY, top_logprobs=99)


def test_alternatives_on_llama(merged):
    merged.set_weights([0.5, 0.5, 0.0])
    check_alternatives(merged)


def test_alternatives_on_torch(torch_blend):
    check_alternatives(torch_blend)
