"""How each shipped anchor is trained: its corpus (a key of DEFAULT_CORPORA) and its config.
`prosemix train-defaults` runs these; each card records the config it was trained with."""
from __future__ import annotations

from dataclasses import dataclass

from engine.anchors.shipped import SHIPPED, ShippedAnchor
from engine.training.config import ALL_TARGETS, TrainConfig
from engine.training.self_distill import Distillation

# The attribute poles' lighter recipe (80 steps of 8 x 128 tokens, q/k/v/o, rank 16): the
# sentiment, formality and humor pairs use it.
POLE_RECIPE = TrainConfig(steps=80)


def style_recipe(steps: int) -> TrainConfig:
    """The style corners' recipe, chosen by `python -m benchmarks train_pilot`
    (docs/dev/decisions/0005-shipped-anchor-recipe.md): bf16 autocast (1.2x faster per step here, the same loss), 256-token
    blocks (4 per step: the same tokens per step, longer context), lr 1e-3 (twice the drop in
    loss of 5e-4 after 12 steps), attention only as in the paper (adding the MLP lowered the
    loss a little more but would make every weight change re-merge 4x the weights)."""
    return TrainConfig(steps=steps, precision="bf16", batch=4, block=256, lr=1e-3, warmup=20,
                       checkpoint_every=25)


# steps: 0.2 of an epoch of Austen's and Shakespeare's corpora (what a 2-core machine trains in
# under ten minutes each); for the simplicity pair, about two epochs of Milton and 0.2 of the
# World English Bible.
STYLE_STEPS = {"austen": 200, "shakespeare": 200, "simple": 200, "complex": 200,
               "fable": 200, "scripture": 200}


@dataclass(frozen=True)
class SelfDistil:
    """A second stage: the first anchor's corner (at ``factor``) sampled and judged
    (engine.training.self_distill), then the anchor trained on its kept samples with ``config``,
    starting from that corner."""

    factor: float
    distillation: Distillation
    config: TrainConfig


@dataclass(frozen=True)
class Recipe:
    anchor: ShippedAnchor
    corpus: str
    config: TrainConfig
    then: SelfDistil | None = None

    @property
    def name(self) -> str:
        return self.anchor.name

    @property
    def colour(self) -> str:
        return self.anchor.colour

    @property
    def description(self) -> str:
        return self.anchor.description


# The wry and Shakespeare corners (docs/dev/decisions/0005-shipped-anchor-recipe.md): wry's
# narration stayed faint on the attention matrices alone, so it adapts the MLP too, on the top 16
# of the 30 layers only (the frozen 14 run once per block), for 300 steps in fp32 (the AVX2
# machine they were trained on has no bf16); Shakespeare on the same recipe was recognised 96%
# where its attention-only anchor gave 83% (seeds 2-5). A weight change then re-merges the top 16
# layers' 48 MLP matrices too (168 in all, whichever of them adapt those), and computes each such
# anchor's deltas for them (docs/benchmarks.md).
_MLP_TOP16 = TrainConfig(steps=300, precision="fp32", batch=4, block=256, lr=1e-3, warmup=20,
                         checkpoint_every=25, top_layers=16,
                         targets=ALL_TARGETS)
OWN_RECIPES = {"wry": _MLP_TOP16, "shakespeare": _MLP_TOP16}

# Shakespeare, self-distilled: the anchor above, at its calibrated 1.6, sampled 240 times at
# temperature 0.8 on openings from the other corpora; the 178 samples the scorer recognised, with
# no fault and the lowest three quarters in self-perplexity, trained it 48 steps further (about 3
# epochs of those 11,000 words, from that corner). Its self-perplexity over the base's went from
# 2.15x to 1.08x at 96% recognised (seeds 2-5; decision 0005).
SELF_DISTILLED = {"shakespeare": SelfDistil(
    factor=1.6, distillation=Distillation(samples=240, tokens=120, keep=0.75),
    config=TrainConfig(steps=48, precision="fp32", batch=4, block=256, lr=5e-4, warmup=5,
                       checkpoint_every=16, top_layers=16, targets=ALL_TARGETS))}


def _config(name: str) -> TrainConfig:
    if name in OWN_RECIPES:
        return OWN_RECIPES[name]
    return style_recipe(STYLE_STEPS[name]) if name in STYLE_STEPS else POLE_RECIPE


RECIPES = tuple(Recipe(a, a.name, _config(a.name), SELF_DISTILLED.get(a.name)) for a in SHIPPED)
