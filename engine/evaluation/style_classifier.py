"""Style recognition: for a text, the probability of each style anchor's corpus, or of
"plain" (what the base model writes on its own).

A word and character n-gram TF-IDF with a logistic regression (scikit-learn), trained on
280-character chunks of each style's corpus plus the base model's own samples as the "plain"
class, with balanced class weights. It is built by `prosemix style-scorer`, cached in the user
cache, and then serves as sweep scorers (`style_<name>`), in the ternary plots and the picker's
heat map. Its held-out accuracy is measured on chunks it did not see and kept with it.
"""
from __future__ import annotations

import functools
import hashlib
import json
import pickle
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from engine.errors import ProsemixError
from engine.paths import cache_dir

PLAIN = "plain"
CHUNK_CHARS = 280
FORMAT_VERSION = 1
# prompts for the base model's own samples (the "plain" class); the evaluation uses others
PLAIN_PROMPTS = (
    "Write a short paragraph about a walk in the park.", "The meeting started late because",
    "Here is what happened at the station:", "My favourite recipe begins with",
    "The new library opened on Monday, and", "Describe your morning routine.",
    "The weather report said", "When the train stopped, everyone",
    "A few words about my neighbour:", "The best advice I ever got was",
    "She opened the window and", "Tell me about the old house on the hill.",
)


def chunks(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Whitespace-normalised pieces of about ``size`` characters, cut between words."""
    words = re.sub(r"\s+", " ", text).strip().split(" ")
    out, current = [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > size:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if len(current) >= size // 2:
        out.append(current)
    return out


@dataclass
class StyleClassifier:
    model: Any  # a fitted sklearn Pipeline
    classes: list[str]
    accuracy: float  # on held-out chunks
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def styles(self) -> list[str]:
        return [c for c in self.classes if c != PLAIN]

    def probabilities(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """For each text, the probability of each class (an empty text: all equal)."""
        texts = [t if t.strip() else "" for t in texts]
        rows = self.model.predict_proba([t or " " for t in texts])
        out = []
        for text, row in zip(texts, rows):
            if not text:
                out.append({c: 1.0 / len(self.classes) for c in self.classes})
            else:
                out.append({c: float(p) for c, p in zip(self.model.classes_, row)})
        return out

    def recognised(self, text: str) -> str:
        probs = self.probabilities([text])[0]
        return max(probs, key=lambda c: probs[c])

    def scorer_fns(self) -> dict[str, Callable[[str], float]]:
        """One function per class: text -> probability of that class (the sweep calls them
        one after another on the same text, so the last text's answer is kept)."""
        last: dict[str, dict[str, float]] = {}

        def probability(text: str, c: str) -> float:
            if text not in last:
                last.clear()
                last[text] = self.probabilities([text])[0]
            return last[text][c]

        return {c: functools.partial(probability, c=c) for c in self.classes}


_TOKEN = re.compile(r"[A-Za-z']+|[^\sA-Za-z']")


def manner_text(text: str) -> str:
    """``text`` with only its manner left: function words (scikit-learn's English stop words)
    and punctuation as they are, every other word "w". What a book is about (its names, its
    whales) is gone; how its sentences are built stays."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    out = []
    for token in _TOKEN.findall(text):
        low = token.lower()
        out.append((low if low in ENGLISH_STOP_WORDS else "w") if low[0].isalpha() or low[0] == "'" else token)
    return " ".join(out)


def train_classifier(style_texts: dict[str, str], plain_samples: Sequence[str], *,
                     max_chunks: int = 1500, test_fraction: float = 0.2,
                     seed: int = 0, manner_only: bool = False) -> StyleClassifier:
    """Fit on chunks of each style's text and the plain samples; measure accuracy on a
    held-out share of the chunks. ``manner_only``: judge by function words and punctuation
    alone (``manner_text``), word n-grams up to three."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, make_pipeline
    except ImportError:
        raise ProsemixError("the style scorer needs scikit-learn, which is not installed") from None
    rng = random.Random(seed)
    labelled: list[tuple[str, str]] = []
    sources = dict(style_texts)
    if plain_samples:  # without them, the classes are the styles alone (an attribute's poles)
        sources[PLAIN] = "\n\n".join(plain_samples)
    for label, text in sources.items():
        pieces = chunks(text)
        if len(pieces) < 10:
            raise ProsemixError(f"the style scorer needs more text for {label!r}: {len(pieces)} "
                                f"chunks of {CHUNK_CHARS} characters, at least 10")
        rng.shuffle(pieces)
        labelled += [(p, label) for p in pieces[:max_chunks]]
    rng.shuffle(labelled)
    n_test = max(1, int(len(labelled) * test_fraction))
    test, train = labelled[:n_test], labelled[n_test:]
    # manner only: "w", single function words and punctuation are tokens too
    manner: dict[str, Any] = {"preprocessor": manner_text} if manner_only else {}
    words: dict[str, Any] = ({**manner, "token_pattern": r"\S+", "ngram_range": (1, 3)} if manner_only
                             else {"ngram_range": (1, 2)})
    features = FeatureUnion([
        ("words", TfidfVectorizer(min_df=2, sublinear_tf=True, max_features=60000, **words)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True,
                                  max_features=60000, **manner)),
    ])
    model = make_pipeline(features, LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000))
    model.fit([t for t, _ in train], [label for _, label in train])
    predicted = model.predict([t for t, _ in test])
    correct = sum(p == label for p, (_, label) in zip(predicted, test))
    per_class = {}
    for label in sources:
        rows = [(p, y) for p, (_, y) in zip(predicted, test) if y == label]
        per_class[label] = round(sum(p == y for p, y in rows) / max(1, len(rows)), 3)
    return StyleClassifier(model, sorted(sources), correct / len(test),
                           {"train_chunks": len(train), "test_chunks": len(test),
                            "per_class_accuracy": per_class})


def cache_path(key: str) -> Path:
    return cache_dir() / "style-scorer" / f"{key}.pkl"


def fingerprint(style_texts: dict[str, str], plain_samples: Sequence[str]) -> str:
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, sorted(style_texts.items()),
                                        list(plain_samples)]).encode())
    return digest.hexdigest()[:16]


def save(classifier: StyleClassifier, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump({"version": FORMAT_VERSION, "classifier": classifier}, f)
    tmp.replace(path)
    (path.parent / "current").write_text(path.name)


def load_cached(folder: Path | None = None) -> StyleClassifier:
    """The classifier `prosemix style-scorer` built last. The cache is ours (we wrote it),
    which is why unpickling it is acceptable; a damaged one asks for a rebuild."""
    folder = folder or cache_dir() / "style-scorer"
    pointer = folder / "current"
    if not pointer.is_file():
        raise ProsemixError("no style scorer yet: build it with `prosemix style-scorer`")
    path = folder / pointer.read_text().strip()
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)  # noqa: S301 - our own cache file
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"format {data.get('version')}, expected {FORMAT_VERSION}")
        classifier = data["classifier"]
    except (OSError, ValueError, KeyError, AttributeError, EOFError, pickle.UnpicklingError) as exc:
        raise ProsemixError(f"the cached style scorer {path} cannot be read ({exc}); rebuild it "
                            "with `prosemix style-scorer`") from None
    if not isinstance(classifier, StyleClassifier):
        raise ProsemixError(f"{path} is not a style scorer; rebuild it with `prosemix style-scorer`")
    return classifier


def plain_samples(backend: Any, prompts: Sequence[str] = PLAIN_PROMPTS, seeds: Sequence[int] = (0, 1, 2, 3),
                  max_tokens: int = 120, temperature: float = 0.8,
                  progress: Callable[[int, int], None] | None = None) -> list[str]:
    """The base model's own continuations (the "plain" class): ``backend`` is loaded with the
    base model and no anchors. Kept in the cache: the same model, prompts and seeds give the
    same samples, and making them is the slow part of a rebuild."""
    from engine.models.base import model_sha256
    from engine.sampling import SamplingConfig

    key = hashlib.sha256(json.dumps([model_sha256(backend.model_path), list(prompts), list(seeds),
                                     max_tokens, temperature]).encode()).hexdigest()[:16]
    cached = cache_dir() / "style-scorer" / f"plain-{key}.json"
    try:
        return list(json.loads(cached.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass  # not made yet, or damaged: make it again
    out = []
    total = len(prompts) * len(seeds)
    for k, (prompt, seed) in enumerate(((p, s) for p in prompts for s in seeds), start=1):
        text = backend.generate(prompt, SamplingConfig(max_tokens=max_tokens, temperature=temperature,
                                                       seed=seed)).text.strip()
        if text:
            out.append(text)
        if progress:
            progress(k, total)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(out), encoding="utf-8")
    return out


def style_texts(names: Sequence[str], corpora: Path | None, max_chars: int = 1_500_000) -> dict[str, str]:
    """Each style's text: its rebuilt training corpus (``prosemix corpora``) where there is
    one, else its held-out sample in resources/eval (enough for a rougher scorer)."""
    from engine.paths import resources_dir

    out = {}
    for name in names:
        candidates = ([corpora / f"{name}.txt"] if corpora else []) + [resources_dir() / "eval" / f"{name}.txt"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise ProsemixError(f"no text for style {name!r}: looked for {[str(p) for p in candidates]}")
        out[name] = path.read_text(encoding="utf-8")[:max_chars]
    return out


def sample_judge(classifier: StyleClassifier) -> Callable[[str], tuple[str, str | None]]:
    """What self-distillation asks of a sample (engine.training.self_distill): its most probable
    style, and what a writer would repair in it (degenerate text or its first typesetting fault),
    None when nothing."""
    from engine.fluency import degenerate, typesetting_faults

    def judge(text: str) -> tuple[str, str | None]:
        p = classifier.probabilities([text])[0]
        return max(p, key=p.__getitem__), degenerate(text) or next(iter(typesetting_faults(text)), None)

    return judge
