"""No repeats (the DRY penalty): which runs it finds, what it costs a token, and that every
local backend samples with it (single generations and candidates) when a SamplingConfig asks."""
from __future__ import annotations

import numpy as np
import pytest

from engine.backends.dry import DRY_BASE, dry_bias, repeat_runs
from engine.errors import ProsemixError
from engine.sampling import SamplingConfig


def test_the_token_that_would_lengthen_an_earlier_run_is_found_with_the_runs_length():
    assert repeat_runs([5, 6, 7, 8, 1, 5, 6]) == {7: 2}  # "5 6" came before, then 7
    assert repeat_runs([5, 6, 7, 8, 1, 5, 6, 7]) == {8: 3}
    assert repeat_runs([5, 6, 7, 1, 6]) == {}  # one token again is no run
    assert repeat_runs([5, 6, 2, 5, 6, 3, 9, 5, 6]) == {2: 2, 3: 2}  # every earlier place
    assert repeat_runs([4, 5, 6, 2, 9, 5, 6, 3, 4, 5, 6]) == {2: 3, 3: 2}  # the longest run per token


def test_a_sequence_breaker_ends_a_run():
    breakers = np.zeros(16, bool)
    breakers[9] = True  # a line break, say
    assert repeat_runs([5, 9, 6, 7, 1, 5, 9, 6], breakers) == {}  # the run stops at 9: one token
    assert repeat_runs([5, 9, 6, 7, 1, 5, 9, 6]) == {7: 3}  # without the breaker, three
    assert repeat_runs([5, 9, 6, 5, 9], breakers) == {}  # the end itself a breaker


def test_the_penalty_grows_with_the_run_and_is_off_at_zero():
    bias = dry_bias([5, 6, 7, 8, 1, 5, 6, 7], 0.8, vocab=10)
    assert bias is not None and bias.shape == (10,)
    assert bias[8] == pytest.approx(-0.8 * DRY_BASE)  # a run of 3: one past the free 2
    assert np.count_nonzero(bias) == 1
    assert dry_bias([5, 6, 7, 8, 1, 5, 6, 7], 0.0, vocab=10) is None
    assert dry_bias([1, 2, 3], 0.8, vocab=10) is None  # no run, nothing to add
    with pytest.raises(ProsemixError, match="dry"):
        SamplingConfig(dry=-1)


PROMPT = "One two three four five six seven. One two three four five six seven. One two three"
GREEDY = SamplingConfig(max_tokens=4, temperature=0.0, repetition_penalty=1.0, chat=False)


def test_every_local_backend_writes_no_run_of_the_context_again_when_asked(bare_backend):
    backend = bare_backend
    assert backend.generate(PROMPT, GREEDY).text.startswith(" four")  # the base copies the run
    dry = SamplingConfig(max_tokens=4, temperature=0.0, repetition_penalty=1.0, chat=False, dry=0.8)
    text = backend.generate(PROMPT, dry).text
    assert not text.startswith(" four"), text
    sampling = SamplingConfig(max_tokens=6, temperature=0.8, chat=False, dry=0.8)
    alone = [backend.generate(PROMPT, SamplingConfig(max_tokens=6, temperature=0.8, chat=False, dry=0.8,
                                                     seed=s)).text for s in (1, 2)]
    assert not any(t.startswith(" four five") for t in alone), alone
    for shared in ([False, True] if hasattr(backend, "rows_invariant") else [None]):
        if shared is not None:
            backend.rows_invariant = shared
        texts = [r.text for r in backend.generate_candidates(PROMPT, sampling, [1, 2])]
        assert not any(t.startswith(" four five") for t in texts), (shared, texts)
        if not shared:
            assert texts == alone  # candidate i is its seed's single generation
