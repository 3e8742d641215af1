"""The quote guard: no quotation mark set apart from its words, on every local backend's
sampled steps (single generations and candidates), and none in perplexity scoring."""
from __future__ import annotations

import numpy as np
import pytest

from engine.backends.quotes import QuoteGuard
from engine.fluency import typesetting_faults
from engine.sampling import SamplingConfig

TEXTS = ["", " said", ",", ' "', '"', "Count", " count", "“", " ”", "”", " ", "\n", "word", '" ', "."]
ID = {t: i for i, t in enumerate(TEXTS)}


def ruled_out(bias) -> set[str]:
    return set() if bias is None else {TEXTS[i] for i in np.flatnonzero(np.isneginf(bias)) if i < len(TEXTS)}


def test_after_an_opening_quote_no_token_may_begin_with_whitespace():
    guard = QuoteGuard(TEXTS, vocab=len(TEXTS) + 3)
    assert guard.after_opening.size == len(TEXTS) + 3  # padded to the logits' size
    spaced = {t for t in TEXTS if t[:1].isspace()}
    for context in ([ID[" said"], ID[","], ID[' "']],  # said, "
                    [ID["word"], ID[" "], ID['"']],  # word "
                    [ID['"']], [ID["word"], ID["“"]]):  # at the start; a curly opening quote
        assert ruled_out(guard.at(context)) == spaced, context
    # a closing quote (after a word) rules nothing out but the tokens that are a fault alone
    assert ruled_out(guard.at([ID["word"], ID["."], ID['"']])) == {" ”"}
    assert ruled_out(guard.at([ID["word"]])) == {" ”"}
    # after a space: no closing curly quote, no straight quote with a space after it
    assert ruled_out(guard.at([ID["word"], ID[" "]])) == {" ”", "”", '" '}
    assert ruled_out(guard.at([])) == {" ”", "”", '" '}


def test_what_the_guard_allows_after_an_opening_quote_is_no_typesetting_fault():
    guard = QuoteGuard(TEXTS)
    prefix = 'The farmer said, "'
    for i, text in enumerate(TEXTS):
        if not np.isneginf(guard.at([ID[" said"], ID[","], ID[' "']])[i]):
            assert not typesetting_faults(prefix + text + "and went on."), text
    assert typesetting_faults(prefix + " count them.")  # what it rules out is one


PROMPT = 'The farmer looked at the attorney and said, "'
GREEDY = SamplingConfig(max_tokens=5, temperature=0.0, chat=False)


def test_every_local_backend_writes_no_space_after_an_opening_quote(bare_backend):
    backend = bare_backend
    vocab = backend._vocab_size() or len(backend._vocabulary_texts() or [])
    whale = backend._tokenize(" whale")[-1]
    bias = np.zeros(vocab, np.float32)
    bias[whale] = 60.0  # a voice's diction (no presence window) that wants " whale" everywhere
    backend.logit_bias = bias
    backend.guard_quotes = False
    assert backend.generate(PROMPT, GREEDY).text.startswith(" whale")  # the fault, unguarded
    backend.guard_quotes = True
    guarded = backend.generate(PROMPT, GREEDY, logprobs=True)
    assert not guarded.text[:1].isspace() and not typesetting_faults(PROMPT + guarded.text), guarded.text
    assert all(np.isfinite(guarded.logprobs))  # log p as the sampler saw it: the token was allowed
    assert guarded.text.endswith(" whale")  # the diction still applies where the guard allows
    sampling = SamplingConfig(max_tokens=5, temperature=0.8, chat=False)
    alone = [backend.generate(PROMPT, SamplingConfig(max_tokens=5, temperature=0.8, seed=s, chat=False)).text
             for s in (1, 2)]
    assert not any(t[:1].isspace() for t in alone), alone
    # candidate i samples as its seed's single generation, one after another and (llama) sharing a decode
    for shared in ([False, True] if hasattr(backend, "rows_invariant") else [None]):
        if shared is not None:
            backend.rows_invariant = shared
        texts = [r.text for r in backend.generate_candidates(PROMPT, sampling, [1, 2])]
        assert not any(t[:1].isspace() for t in texts), (shared, texts)
        if not shared:
            assert texts == alone
    # scoring a fixed text reads the model as it is: a set-apart quote has its own odds
    backend.logit_bias = None
    loose = 'He said, " count them," and left.'
    backend.guard_quotes = False
    unguarded = backend.perplexity(loose)
    backend.guard_quotes = True
    assert backend.perplexity(loose) == pytest.approx(unguarded) and np.isfinite(unguarded)
