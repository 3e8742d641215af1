"""Phrase bans: no passage holds a banned phrase, the writer never sees one that is taken back,
and the same prompt, point, seed and bans give the same text; on llama and torch (remote in
test_remote.py)."""
from __future__ import annotations

import re

import pytest

from engine.backends.bans import (DEFAULT_SLOP, MAX_MATCH, BanList, Matcher, PhraseBan,
                                  stream_with_bans)
from engine.errors import ProsemixError
from engine.sampling import SamplingConfig

PROMPT = "Once upon a time, in a small village by the sea,"
GREEDY = SamplingConfig(max_tokens=40, temperature=0.0, repetition_penalty=1.0)
SAMPLED = SamplingConfig(max_tokens=40, temperature=0.9, seed=11)


def test_matcher_finds_phrases_and_holds_back_what_could_become_one():
    m = Matcher([PhraseBan("shivers down"), PhraseBan(r"\bdelv(e|ed|ing)\b", regex=True)])
    assert m.first("It sent Shivers down her spine.") == (8, 20)
    assert m.first("They delved deep.") == (5, 11)
    assert m.first("The shiver stayed.") is None
    plain = Matcher([PhraseBan("shivers down")])
    assert plain.hold("it sent shiv") == 4 and plain.hold("it sent shivers ") == 8
    assert plain.hold("nothing like it") == 0
    assert m.hold("x" * 100) == MAX_MATCH  # a regex: the last MAX_MATCH characters wait


def test_bad_bans_are_refused_by_name():
    with pytest.raises(ProsemixError, match="empty"):
        PhraseBan("  ")
    with pytest.raises(ProsemixError, match="not valid"):
        PhraseBan("(open", regex=True)
    with pytest.raises(ProsemixError, match="ban everything"):
        PhraseBan("a*", regex=True)
    with pytest.raises(ProsemixError, match="at most"):
        PhraseBan("word " * 20)
    bans = BanList((PhraseBan("tapestry"), PhraseBan(r"\bdelve\b", regex=True, case_sensitive=True)), slop=True)
    assert BanList.from_json(bans.to_json()) == bans and len(bans.all()) == 2 + len(DEFAULT_SLOP)
    assert not BanList() and BanList(slop=True)


def _banned_run(backend, sampling, bans):
    gen = stream_with_bans(backend, PROMPT, sampling, bans)
    pieces = list(gen)
    return "".join(pieces), gen.result


def _check_bans(backend):
    plain = backend.generate(PROMPT, GREEDY).text
    words = plain.split()
    assert len(words) > 8, plain
    phrase = " ".join(words[3:5])  # two words the model writes here
    at = plain.find(phrase)
    bans = [PhraseBan(phrase)]
    text, result = _banned_run(backend, GREEDY, bans)
    assert phrase.lower() not in text.lower() and result.rewinds >= 1
    assert text == result.text and text[:at] == plain[:at]  # the same text up to where the phrase began
    again, _ = _banned_run(backend, GREEDY, bans)
    assert again == text  # exact
    # a ban that never fires leaves the generation as it is, sampled too
    sampled = backend.generate(PROMPT, SAMPLED).text
    untouched, result = _banned_run(backend, SAMPLED, [PhraseBan("zebra crossing of doom")])
    assert untouched == sampled and result.rewinds == 0
    # sampled with a ban: exact as well, and never the phrase
    regex = PhraseBan(re.escape(phrase.split()[0]), regex=True)
    first, r1 = _banned_run(backend, SAMPLED, [regex])
    second, _ = _banned_run(backend, SAMPLED, [regex])
    assert first == second and not regex.pattern().search(first)


def test_bans_on_llama(merged):
    merged.set_weights([0.5, 0.5, 0.0])
    _check_bans(merged)


def test_bans_on_torch(torch_blend):
    _check_bans(torch_blend)


def test_a_backend_that_cannot_forbid_refuses_bans_by_name():
    from tests.test_candidates import Scripted

    backend = Scripted()
    backend.load()
    with pytest.raises(ProsemixError, match="cannot rule tokens out"):
        stream_with_bans(backend, PROMPT, GREEDY, [PhraseBan("x")])
