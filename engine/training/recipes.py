"""How each shipped anchor is trained: its corpus (a key of DEFAULT_CORPORA) and its config.
`prosemix train-defaults` runs these; each card records the config it was trained with."""
from __future__ import annotations

from dataclasses import dataclass

from engine.anchors.shipped import SHIPPED, ShippedAnchor
from engine.training.config import TrainConfig

# The recipe of the round-one anchors (80 steps of 8 x 128 tokens, q/k/v/o, rank 16): the
# sentiment, formality and humor pairs use it.
ROUND_ONE = TrainConfig(steps=80)


def style_recipe(steps: int) -> TrainConfig:
    """The round-two recipe of the style corners, chosen by benchmarks/train_pilot.py
    (docs/anchors.md): bf16 autocast (1.2x faster per step here, the same loss), 256-token
    blocks (4 per step: the same tokens per step, longer context), lr 1e-3 (twice the drop in
    loss of 5e-4 after 12 steps), attention only as in the paper (adding the MLP lowered the
    loss a little more but would make every weight change re-merge 4x the weights)."""
    return TrainConfig(steps=steps, precision="bf16", batch=4, block=256, lr=1e-3, warmup=20,
                       checkpoint_every=25)


# steps: 0.2 of an epoch of Austen's and Shakespeare's corpora (the time a session had on the
# 2-core machine). The simplicity pair moved to this recipe in round three:
# 200 steps are about two epochs of Milton and 0.2 of the World English Bible.
STYLE_STEPS = {"austen": 200, "shakespeare": 200, "simple": 200, "complex": 200,
               "wry": 200, "fable": 200, "scripture": 200}


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


RECIPES = tuple(Recipe(a, a.name, style_recipe(STYLE_STEPS[a.name]) if a.name in STYLE_STEPS
                       else ROUND_ONE) for a in SHIPPED)
