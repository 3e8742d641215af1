"""The style-recognition scorer on a tiny synthetic corpus: it learns, it is cached and read
back, a damaged cache asks for a rebuild, and sweeps can use it."""
from __future__ import annotations

import random

import pytest

from engine.errors import ProsemixError
from engine.evaluation import style_classifier as sc
from engine.evaluation.scoring import get_scorers

VOCAB = {
    "formal": "indeed propriety amiable estate gentleman countenance civility acquaintance".split(),
    "archaic": "thou thee hath doth prithee wherefore anon methinks".split(),
    "witty": "bureaucracy committee deadline coffee meeting irony cynic paperwork".split(),
}
PLAIN = "the a car phone walk day went nice good people house road shop".split()


def _text(words: list[str], n: int, seed: int) -> str:
    rng = random.Random(seed)
    common = "and of to in it was that with".split()
    return " ".join(rng.choice(words + common) for _ in range(n))


@pytest.fixture
def classifier():
    texts = {name: _text(words, 4000, k) for k, (name, words) in enumerate(VOCAB.items())}
    plain = [_text(PLAIN, 60, 100 + k) for k in range(60)]
    return sc.train_classifier(texts, plain, seed=1)


def test_it_learns_the_styles_and_the_plain_class(classifier):
    assert classifier.classes == sorted([*VOCAB, sc.PLAIN])
    assert classifier.accuracy > 0.9
    probs = classifier.probabilities(["thou hath and doth wherefore methinks to thee",
                                      "the car was nice and the people went to the shop", ""])
    assert max(probs[0], key=probs[0].get) == "archaic"
    assert max(probs[1], key=probs[1].get) == sc.PLAIN
    assert all(abs(sum(p.values()) - 1) < 1e-9 for p in probs)
    assert probs[2] == {c: 0.25 for c in classifier.classes}  # nothing to judge


def test_cache_round_trip_and_damage(classifier, tmp_path, monkeypatch):
    monkeypatch.setenv("PROSEMIX_CACHE", str(tmp_path))
    with pytest.raises(ProsemixError, match="prosemix style-scorer"):
        sc.load_cached()
    path = sc.cache_path("abc")
    sc.save(classifier, path)
    again = sc.load_cached()
    text = "indeed the gentleman of propriety and estate"
    assert again.probabilities([text]) == classifier.probabilities([text])
    scorers = {s.name: s for s in get_scorers(["style"])}
    assert set(scorers) == {f"style_{c}" for c in classifier.classes}
    assert scorers["style_formal"](text) > 0.5
    path.write_bytes(b"not a pickle")
    with pytest.raises(ProsemixError, match="cannot be read.*rebuild"):
        sc.load_cached()


def test_too_little_text_is_a_clear_error():
    with pytest.raises(ProsemixError, match="more text for 'formal'"):
        sc.train_classifier({"formal": "indeed " * 30}, [_text(PLAIN, 60, 1)] * 20)


def test_chunks_cut_between_words():
    text = " ".join(f"word{k}" for k in range(500))
    pieces = sc.chunks(text, 100)
    assert all(len(p) <= 100 for p in pieces) and all(not p.startswith(" ") for p in pieces)
    assert " ".join(pieces).split() == text.split()[: len(" ".join(pieces).split())]


def test_a_manner_only_judge_sees_function_words_and_punctuation_not_names():
    """manner_only: names and topic words become "w", so a sentence built one way is judged the
    same whatever its words (the full judge goes by the words too), and two styles built
    differently are still told apart."""
    assert sc.manner_text("Ahab looked upon the whale; and Stubb!") == "w w upon the w ; and w !"
    sea = "whale ship captain harpoon sea deck boat rope".split()
    home = "teacup saucer parlour spoon kettle cousin bonnet letter".split()
    rng = random.Random(3)
    texts = {"long": " ".join(f"the {rng.choice(sea)} upon which the {rng.choice(sea)} stood; and"
                              for _ in range(900)),
             "short": " ".join(f"so {rng.choice(home)}! so {rng.choice(home)}!" for _ in range(900))}
    plain = [_text(PLAIN, 60, 100 + k) for k in range(60)]
    at_sea, at_home = ("the whale upon which the harpoon stood; and the deck upon which the rope stood",
                       "the teacup upon which the saucer stood; and the kettle upon which the spoon stood")
    judge = sc.train_classifier(texts, plain, seed=1, manner_only=True)
    assert judge.accuracy > 0.9
    a, b = judge.probabilities([at_sea, at_home])
    assert a == b and max(a, key=a.get) == "long"
    short = judge.probabilities(["so whale! so harpoon! so deck!"])[0]
    assert max(short, key=short.get) == "short"
    full = sc.train_classifier(texts, plain, seed=1)
    a, b = full.probabilities([at_sea, at_home])
    assert a["long"] - b["long"] > 0.01  # the full judge reads the words as well
