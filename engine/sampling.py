"""Sampling options shared by every backend."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from engine.errors import ProsemixError

MAX_TOKENS_LIMIT = 8192
DEFAULT_N_CTX = 2048  # context size in tokens, unless the user or the server says otherwise
# tokens of text before a restyled passage (plus the memory): what a restyle evaluates again at
# every point, so the desk's default and what the layout probe times a restyle by
DEFAULT_STYLE_WINDOW = 384


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample. temperature 0 is greedy; the same seed and weights give the same text."""

    max_tokens: int = 128
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    repetition_penalty: float = 1.1
    dry: float = 0.0  # no repeats: the DRY penalty's multiplier (engine.backends.dry); 0 is off
    seed: int = 0
    stop: tuple[str, ...] = field(default_factory=tuple)
    chat: bool = False

    def __post_init__(self) -> None:
        def bad(what: str, value: object, need: str) -> ProsemixError:
            return ProsemixError(f"{what} must be {need}, got {value!r}")

        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) \
                or not 1 <= self.max_tokens <= MAX_TOKENS_LIMIT:
            raise bad("max_tokens", self.max_tokens, f"an integer in 1..{MAX_TOKENS_LIMIT}")
        for name, lo, hi in (("temperature", 0.0, 5.0), ("top_p", 0.0, 1.0),
                             ("repetition_penalty", 0.5, 3.0), ("dry", 0.0, 5.0)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not lo <= value <= hi:
                raise bad(name, value, f"a number in [{lo}, {hi}]")
        if self.top_p == 0.0:
            raise bad("top_p", self.top_p, "above 0")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise bad("top_k", self.top_k, "an integer >= 0 (0 = off)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise bad("seed", self.seed, "an integer in [0, 2**32)")
        if not isinstance(self.stop, tuple) or not all(isinstance(s, str) and s for s in self.stop):
            raise bad("stop", self.stop, "a tuple of non-empty strings")


class StopFilter:
    """Holds back text that might be the start of a stop string; reports when one is hit."""

    def __init__(self, stops: tuple[str, ...]):
        self._stops = stops
        self._pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Text safe to emit now. After a stop string, sets ``stopped`` and emits up to it."""
        if self.stopped:
            return ""
        text = self._pending + piece
        if not self._stops:
            return text
        cut = min((i for i in (text.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._pending = ""
            return text[:cut]
        hold = 0
        for s in self._stops:
            for k in range(min(len(s) - 1, len(text)), 0, -1):
                if text.endswith(s[:k]):
                    hold = max(hold, k)
                    break
        self._pending = text[len(text) - hold:] if hold else ""
        return text[: len(text) - hold]

    def flush(self) -> str:
        out, self._pending = ("" if self.stopped else self._pending), ""
        return out


def render_chat(template: str | None, prompt: str, *, bos: str = "", eos: str = "") -> str:
    """The model's chat template applied to one user message, ready for generation."""
    if not template:
        raise ProsemixError("this model has no chat template: use continuation mode")
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message: str) -> None:
        raise ProsemixError(f"chat template: {message}")

    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(
        messages=[{"role": "user", "content": prompt}],
        add_generation_prompt=True, bos_token=bos, eos_token=eos,
    )
