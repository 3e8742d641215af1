"""The anchors Prosemix ships for the embedded model, and the recipe that trains them.

Order matters: DEFAULT_TRIANGLE (engine.paths) is the order of `--weights W,W,W`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .corpora import DEFAULT_CORPORA
from .weights import Attribute


@dataclass(frozen=True)
class AnchorRecipe:
    name: str
    corpus: str  # a key of DEFAULT_CORPORA
    colour: str
    description: str


RECIPES = (
    AnchorRecipe("austen", "austen", "#8e44ad", "formal, ironic 19th-century prose (Jane Austen)"),
    AnchorRecipe("sardonic", "sardonic", "#c0392b", "witty and sardonic (Devil's Dictionary, fortunes)"),
    AnchorRecipe("shakespeare", "shakespeare", "#1e8449", "archaic drama and verse (Shakespeare)"),
    AnchorRecipe("positive", "positive", "#f1c40f", "positive sentiment (VADER >= 0.6)"),
    AnchorRecipe("negative", "negative", "#34495e", "negative sentiment (VADER <= -0.6)"),
    AnchorRecipe("simple", "simple", "#3498db", "simple language (World English Bible)"),
    AnchorRecipe("complex", "complex", "#a04000", "complex language (Milton, Paradise Lost)"),
)

ATTRIBUTES = (
    Attribute("sentiment", plus="positive", minus="negative"),
    Attribute("simplicity", plus="simple", minus="complex"),
)


def corpus_license(recipe: AnchorRecipe) -> str:
    return DEFAULT_CORPORA[recipe.corpus].license


def corpus_description(recipe: AnchorRecipe) -> str:
    spec = DEFAULT_CORPORA[recipe.corpus]
    from .corpora import SOURCES

    packages = sorted({f"{SOURCES[s].package} ({SOURCES[s].registry})" for s in spec.sources})
    return f"{spec.description}; rebuilt from {', '.join(packages)} by `prosemix corpora`"
