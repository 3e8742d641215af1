"""What an anchor is: LoRA factors per module, its scales and its card. No file reading here
beyond the card; engine.anchors.loading builds anchors from PEFT folders and GGUF LoRAs."""
from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.errors import AnchorError
from engine.paths import atomic_write_text
from engine.weights import balanced

CARD_FILE = "anchor.json"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
VOICE_COLOUR = "#7d3c98"  # a voice's colour where the writer chose none (the window picks a free one)
DEFAULT_COLOURS = ("#c0392b", "#2874a6", "#1e8449", "#b9770e", "#7d3c98", "#148f77",
                   "#a04000", "#5d6d7e")


KINDS = ("lora", "voice")


@dataclass(frozen=True)
class AnchorCard:
    """What anchor.json says about an anchor. Validation names the bad field."""

    name: str
    description: str = ""
    colour: str = "#2874a6"
    corpus: str = ""
    license: str = ""
    base_sha256: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    # multiplies this anchor's delta at every point: how strong its corner is
    # (benchmarks/calibration_frontier.py measures what each factor buys)
    calibration: float = 1.0
    # this anchor's share of the point the picker's centre stands for, relative to the other
    # anchors' balances (all 1: the equal blend); corners and edges do not move
    # (engine.weights.balanced; benchmarks/calibrate.py measures it)
    balance: float = 1.0
    # what the anchor is: "lora" (trained on a corpus) or "voice" (a LoRA made in a minute from
    # a writer's own pages; training["source"] records the text's hash, words and seconds)
    kind: str = "lora"
    # what a voice's diction is multiplied by at every point, where it differs from its LoRA's
    # calibration (None: the calibration): a voice whose LoRA stays prose at a stronger factor
    # gets that one, and its diction keeps the factor it was measured at
    # (engine.training.voice_strength)
    diction_calibration: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise AnchorError(f"anchor card: name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.colour, str) or not _COLOUR.match(self.colour):
            raise AnchorError(f"anchor card {self.name!r}: colour must be #rrggbb, got {self.colour!r}")
        for key in ("description", "corpus", "license", "base_sha256"):
            if not isinstance(getattr(self, key), str):
                raise AnchorError(f"anchor card {self.name!r}: {key} must be a string")
        if self.kind not in KINDS:
            raise AnchorError(f"anchor card {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        for key in ("training", "metrics"):
            if not isinstance(getattr(self, key), dict):
                raise AnchorError(f"anchor card {self.name!r}: {key} must be an object")
        for key, top in (("calibration", 4), ("balance", 10), ("diction_calibration", 4)):
            c = getattr(self, key)
            if key == "diction_calibration" and c is None:
                continue
            if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) \
                    or not 0 < c <= top:
                raise AnchorError(f"anchor card {self.name!r}: {key} must be a number in (0, {top}], "
                                  f"got {c!r}")

    @classmethod
    def load(cls, path: Path) -> "AnchorCard":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AnchorError(f"cannot read anchor card {path}: {exc}") from None
        if not isinstance(data, dict):
            raise AnchorError(f"anchor card {path} must hold a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AnchorError(f"anchor card {path}: unknown field(s) {unknown}")
        return cls(**data)

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")


def applied_weights(effective: Sequence[float], anchors: Sequence["Anchor"], *,
                    diction: bool = False) -> tuple[float, ...]:
    """What each anchor's delta is multiplied by at a point whose strength-scaled weights are
    ``effective``: the picker's centre moved to the cards' balance point, then each anchor's
    calibration factor; ``diction``: what each voice's diction is multiplied by (its
    diction_calibration where its card has one)."""
    moved = balanced(effective, [a.balance for a in anchors])
    return tuple(v * (a.diction_calibration if diction else a.calibration) for v, a in zip(moved, anchors))


@dataclass(frozen=True)
class LoraFactors:
    """One module's factors in Hugging Face orientation: A (r, in), B (out, r), float32."""

    A: np.ndarray
    B: np.ndarray
    scale: float  # s = alpha / r (alpha / sqrt(r) for rsLoRA)

    @property
    def rank(self) -> int:
        return int(self.A.shape[0])

    def delta_norm(self) -> float:
        """||s B A||_F without forming B A: sqrt(trace((B^T B)(A A^T)))."""
        gram = (self.B.T.astype(np.float64) @ self.B) * (self.A.astype(np.float64) @ self.A.T)
        return float(abs(self.scale) * math.sqrt(max(gram.sum(), 0.0)))


@dataclass
class Anchor:
    """A LoRA anchor: its factors per target module, its scales and its card."""

    name: str
    source: Path
    alpha: float
    use_rslora: bool
    factors: dict[str, LoraFactors]
    card: AnchorCard | None = None
    gguf_path: Path | None = None  # a GGUF form next to the source, if there is one
    peft_dir: Path | None = None
    server_id: int | None = None  # an adapter a llama-server holds: its id there (no factors here)
    # a voice's diction: one logit bias per vocabulary token (engine.anchors.diction), or None
    diction: np.ndarray | None = None

    @property
    def rank(self) -> int:
        return max((f.rank for f in self.factors.values()), default=0)

    @property
    def target_modules(self) -> list[str]:
        return sorted({m.rsplit(".", 1)[-1] for m in self.factors})

    @property
    def calibration(self) -> float:
        """The card's calibration factor (1 without a card)."""
        return self.card.calibration if self.card else 1.0

    @property
    def diction_calibration(self) -> float:
        """What the card multiplies the diction by: its diction_calibration, else its calibration."""
        if self.card and self.card.diction_calibration is not None:
            return self.card.diction_calibration
        return self.calibration

    @property
    def balance(self) -> float:
        """The card's balance (1 without a card)."""
        return self.card.balance if self.card else 1.0

    @property
    def colour(self) -> str:
        return self.card.colour if self.card else default_colour(self.name)

    def layer_norms(self) -> dict[int, float]:
        """Frobenius norm of the anchor's delta per decoder layer (all its modules there)."""
        out: dict[int, float] = {}
        for module, f in self.factors.items():
            layer = _layer_of(module)
            out[layer] = math.sqrt(out.get(layer, 0.0) ** 2 + f.delta_norm() ** 2)
        return dict(sorted(out.items()))


def _layer_of(module: str) -> int:
    match = re.search(r"\.layers\.(\d+)\.", module)
    return int(match.group(1)) if match else -1


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


def default_colour(name: str) -> str:
    """The colour of an anchor whose card gives none: one rule for the CLI, plots and GUI.
    crc32, not hash(): str hashes differ between runs, and the colour must not."""
    return DEFAULT_COLOURS[zlib.crc32(name.encode()) % len(DEFAULT_COLOURS)]


def distinct_colour(taken: Sequence[str]) -> str:
    """The default colour farthest (in RGB) from every colour already ``taken``, so that a new
    corner does not look like one on the picker (the first default when none is taken)."""
    def rgb(colour: str) -> tuple[int, ...] | None:
        c = (colour or "").lstrip("#")
        try:
            return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4)) if len(c) == 6 else None
        except ValueError:
            return None  # unreadable: it takes no colour
    used = [u for u in map(rgb, taken) if u is not None]

    def distance(colour: str) -> float:
        r = rgb(colour) or (0, 0, 0)
        return min((sum((a - b) ** 2 for a, b in zip(r, u)) for u in used), default=math.inf)
    return max(DEFAULT_COLOURS, key=distance)  # max keeps the first of equals


def validate_name(name: str) -> str:
    """An anchor name that is also a safe file name."""
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith("."):
        raise AnchorError(
            f"anchor name {name!r} must be 1-64 letters, digits, spaces, '_', '-' or '.', "
            "starting with a letter or digit")
    return name


def lora_scale(alpha: float, rank: int, use_rslora: bool) -> float:
    return alpha / math.sqrt(rank) if use_rslora else alpha / rank
