"""The byte guard: no broken character (U+FFFD) in sampled text, on every local backend."""
from __future__ import annotations

import codecs
import random

import numpy as np

from engine.backends.utf8 import ByteGuard, owed
from engine.fluency import typesetting_faults
from engine.sampling import SamplingConfig

PIECES = [b"", b"sent", b"\xe2", b"\x80", b"\x94", b"\x80\x94", b" word", b"\xe2\x80", b"\x94 and", b"\xff",
          b"\xc3", b"\xa9t\xc3", b".", b"\xf0\x9f"]
ID = {p: i for i, p in enumerate(PIECES)}


def allowed(bias) -> set[bytes]:
    return set(PIECES) if bias is None else {PIECES[i] for i in range(len(PIECES)) if not np.isneginf(bias[i])}


def test_owed_counts_the_continuation_bytes_a_character_lacks():
    assert owed(b"") == owed(b"sent") == owed("é—".encode()) == owed(b"a\x80") == 0
    assert owed(b"\xe2") == 2 and owed(b"sent\xe2\x80") == 1 and owed(b"\xf0\x9f") == 2 and owed(b"\xc3") == 1


def test_a_token_that_cannot_continue_the_text_is_ruled_out():
    guard = ByteGuard(PIECES, vocab=len(PIECES) + 2)
    assert guard.masks[0] is not None and guard.masks[0].size == len(PIECES) + 2  # padded to the logits
    # after a whole character: nothing that begins with a continuation byte, nothing invalid
    assert allowed(guard.at([ID[b"sent"]])) == {b"", b"sent", b"\xe2", b" word", b"\xe2\x80", b"\xc3", b".",
                                                b"\xf0\x9f"}
    # owing two: exactly two continuation bytes first, or fewer and nothing else
    assert allowed(guard.at([ID[b"sent"], ID[b"\xe2"]])) == {b"", b"\x80", b"\x94", b"\x80\x94"}
    # owing one: one continuation byte first (then anything valid)
    assert allowed(guard.at([ID[b"\xe2\x80"]])) == {b"", b"\x80", b"\x94", b"\x94 and", b"\xa9t\xc3"}
    assert allowed(guard.at([ID[b"\xc3"]])) == {b"", b"\x80", b"\x94", b"\x94 and", b"\xa9t\xc3"}
    # the lead byte four tokens back still counts
    assert allowed(guard.at([ID[b"\xf0\x9f"], ID[b"\x80"]])) == {b"", b"\x80", b"\x94", b"\x94 and", b"\xa9t\xc3"}
    # a token the backend cannot read is never ruled out
    unknown = ByteGuard([*PIECES, None])
    assert not np.isneginf(unknown.at([ID[b"sent"], ID[b"\xe2"]])[len(PIECES)])


def test_whatever_the_guard_allows_decodes_as_utf8():
    guard = ByteGuard(PIECES)
    for seed in range(200):
        rng = random.Random(seed)
        context: list[int] = []
        for _ in range(12):
            context.append(rng.choice([i for i, p in enumerate(PIECES) if p in allowed(guard.at(context))]))
        text = b"".join(PIECES[t] for t in context)
        codecs.getincrementaldecoder("utf-8")("strict").decode(text, final=False)  # raises on a broken one


def test_a_broken_character_is_a_typesetting_fault():
    assert [f.split(":")[0] for f in typesetting_faults("he sent\ufffd word")] == ["broken character"]
    assert typesetting_faults("Café — naïve “word”.") == []


PROMPT = "The farmer looked at the attorney and said that"
GREEDY = SamplingConfig(max_tokens=6, temperature=0.0, chat=False)


def test_every_local_backend_writes_no_broken_character(bare_backend):
    backend = bare_backend
    pieces = backend._vocabulary_bytes()
    vocab = backend._vocab_size() or len(pieces)
    lead, word = pieces.index(b"\xe2"), backend._tokenize(" whale")[-1]
    bias = np.zeros(vocab, np.float32)
    bias[lead], bias[word] = 80.0, 60.0  # a diction that wants a lone lead byte, then a word
    backend.logit_bias = bias
    backend.guard_bytes = False
    try:
        unguarded = backend.generate(PROMPT, GREEDY).text  # the fault: llama.cpp writes U+FFFD, and
        # torch, which holds its text back while it ends in a broken character, writes nothing
        assert "\ufffd" in unguarded or unguarded == "", unguarded
    finally:
        backend.guard_bytes = True
    guarded = backend.generate(PROMPT, GREEDY, logprobs=True)
    assert guarded.text and "\ufffd" not in guarded.text and not typesetting_faults(guarded.text), guarded.text
    assert all(np.isfinite(guarded.logprobs))  # the sampler chose only allowed tokens
    texts = [r.text for r in backend.generate_candidates(PROMPT, SamplingConfig(max_tokens=6, temperature=0.8,
                                                                                 chat=False), [1, 2])]
    assert not any("\ufffd" in t for t in texts), texts
    backend.logit_bias = None
