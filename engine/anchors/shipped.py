"""The anchors Prosemix ships for the embedded model: names, colours, what each is, and the
attribute pairs among them. How they are trained lives in engine.training.recipes.

Order matters: DEFAULT_TRIANGLE is the order of `--weights W,W,W`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.paths import resources_dir
from engine.weights import Attribute


@dataclass(frozen=True)
class ShippedAnchor:
    name: str
    colour: str
    description: str


SHIPPED = (  # the default triangle first, in its order: the anchors panel and the picker list them so
    ShippedAnchor("austen", "#8e44ad", "formal, ironic 19th-century prose (Jane Austen)"),
    ShippedAnchor("wry", "#d35400", "wry, comic narration (Twain, Chesterton, Natsume's Botchan)"),
    ShippedAnchor("shakespeare", "#1e8449", "archaic drama and verse (Shakespeare)"),
    ShippedAnchor("fable", "#16a085", "fairy-tale telling and whimsy (Bryant, Carroll's Alice)"),
    ShippedAnchor("scripture", "#7d6608", "the King James Bible's cadence"),
    ShippedAnchor("positive", "#f1c40f", "positive sentiment (VADER >= 0.6)"),
    ShippedAnchor("negative", "#34495e", "negative sentiment (VADER <= -0.6)"),
    ShippedAnchor("simple", "#3498db", "simple language (World English Bible)"),
    ShippedAnchor("complex", "#a04000", "complex language (Milton, Paradise Lost)"),
    ShippedAnchor("formal", "#1f3a93", "formal register (State of the Union addresses)"),
    ShippedAnchor("informal", "#e67e22", "informal register (tweets, IRC quotes)"),
    ShippedAnchor("humorous", "#e84393", "jokes and quips (Devil's Dictionary, fortunes, pyjokes)"),
    ShippedAnchor("serious", "#7f8c8d", "serious, matter-of-fact (NYT editorial sentences)"),
)

ATTRIBUTES = (
    Attribute("sentiment", plus="positive", minus="negative"),
    Attribute("simplicity", plus="simple", minus="complex"),
    Attribute("formality", plus="formal", minus="informal"),
    Attribute("humor", plus="humorous", minus="serious"),
)

# The shipped anchors that are styles of their own rather than an attribute's pole: the style
# scorer's classes (beside "plain"), so that a new voice cannot be left out of it.
VOICES = tuple(a.name for a in SHIPPED
               if a.name not in {pole for attr in ATTRIBUTES for pole in (attr.plus, attr.minus)})

# The default triangle, in the documented order that `--weights W,W,W` refers to.
DEFAULT_TRIANGLE = ("austen", "wry", "shakespeare")


def shipped_anchors_dir() -> Path:
    return resources_dir() / "anchors"


def default_anchor_paths() -> list[Path]:
    """The shipped triangle anchors that exist, in DEFAULT_TRIANGLE order."""
    folder = shipped_anchors_dir()
    return [folder / n for n in DEFAULT_TRIANGLE if (folder / n / "adapter_config.json").is_file()]


def shipped_anchor(name: str) -> Path | None:
    """The folder of a shipped anchor called ``name``, if there is one."""
    path = shipped_anchors_dir() / name
    return path if (path / "adapter_config.json").is_file() else None
