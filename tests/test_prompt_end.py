"""A prompt that ends in a paragraph break is tokenized as the same break inside a text.

A byte-level BPE splits "\\n\\n" before a word into two newline tokens, but at the end of a prompt
into one "\\n\\n" token, after which the embedded model began with a third newline in 12 of 12
seeds: every Continue after a writer's two Enters opened with an empty paragraph."""
from __future__ import annotations

from engine.sampling import SamplingConfig

PAGE = ("The mate looked at the sky and then at the sea. Nothing moved on the water but the long swell, "
        "and the men waited by the rail without a word.")


def test_a_paragraph_break_at_the_end_is_tokenized_as_inside_a_text(bare_backend):
    backend = bare_backend
    inside = backend._tokenize(PAGE + "\n\nThe")
    at_end = backend._tokens_of(PAGE + "\n\n")
    assert at_end == inside[:len(at_end)] and len(at_end) < len(inside)  # the break's tokens as before a word
    assert at_end != backend._tokenize(PAGE + "\n\n")  # not the lone "\n\n" token
    assert backend.count_tokens(PAGE + "\n\n") == len(at_end)
    for text in (PAGE, PAGE + " ", PAGE + "\n"):  # no break, a space, one newline: as they were
        assert backend._tokens_of(text) == backend._tokenize(text)


def test_a_continue_after_a_paragraph_break_begins_with_a_word(bare_backend):
    starts = [bare_backend.generate(PAGE + "\n\n", SamplingConfig(max_tokens=3, seed=seed)).text
              for seed in range(6)]
    assert not any(s.startswith("\n") for s in starts), starts
