"""How each shipped anchor is trained: its corpus (a key of DEFAULT_CORPORA) and its config.
`prosemix train-defaults` runs these; each card records the config it was trained with."""
from __future__ import annotations

from dataclasses import dataclass

from engine.anchors.shipped import SHIPPED, ShippedAnchor
from engine.training.config import TrainConfig

# The recipe of the round-one anchors (80 steps of 8 x 128 tokens, q/k/v/o, rank 16).
ROUND_ONE = TrainConfig(steps=80)


@dataclass(frozen=True)
class Recipe:
    anchor: ShippedAnchor
    corpus: str
    config: TrainConfig

    @property
    def name(self) -> str:
        return self.anchor.name

    @property
    def colour(self) -> str:
        return self.anchor.colour

    @property
    def description(self) -> str:
        return self.anchor.description


RECIPES = tuple(Recipe(a, a.name, ROUND_ONE) for a in SHIPPED)
