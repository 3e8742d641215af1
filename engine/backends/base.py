"""The Backend protocol: load a base model and anchors, set weights, stream text, cancel, close.

Subclasses supply the model-specific pieces (`_load_model`, `_apply_weights`, `_tokenize`,
`_token_pieces`); validation, chat formatting, stop strings, context limits, cancelling and
timing live here once, so every backend behaves the same.
"""
from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Iterator, Mapping, Sequence

from ..anchors import Anchor, load_anchor, validate_factors
from ..errors import AnchorError, ProsemixError
from ..models import BaseInfo, base_info, resolve_model
from ..sampling import SamplingConfig, StopFilter, render_chat
from ..weights import Point, make_point

Progress = Callable[[str, float], None]  # (message, fraction 0..1)
DEFAULT_N_CTX = 2048


@dataclass
class GenerationResult:
    text: str = ""
    n_tokens: int = 0
    prompt_tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: float | None = None
    finish_reason: str = ""  # "eos", "length", "stop", "cancelled"
    weights: dict[str, float] = field(default_factory=dict)
    logprobs: list[float] = field(default_factory=list)  # per generated token, raw logits

    @property
    def perplexity(self) -> float:
        """The generating model's perplexity on its own output (nan if nothing recorded)."""
        import math

        return math.exp(-sum(self.logprobs) / len(self.logprobs)) if self.logprobs else float("nan")

    @property
    def tokens_per_second(self) -> float:
        decode = self.seconds - (self.first_token_seconds or 0.0)
        return (self.n_tokens - 1) / decode if self.n_tokens > 1 and decode > 0 else 0.0


class Backend(ABC):
    """One loaded base model plus anchors. Not thread-safe: one thread owns it."""

    name: ClassVar[str] = "?"

    def __init__(self, n_ctx: int = DEFAULT_N_CTX) -> None:
        if not isinstance(n_ctx, int) or n_ctx < 16:
            raise ProsemixError(f"context size must be an integer >= 16, got {n_ctx!r}")
        self.n_ctx = n_ctx
        self.anchors: list[Anchor] = []
        self.model_path: Path | None = None
        self.base: BaseInfo | None = None
        self.point: Point | None = None
        self.last_result: GenerationResult | None = None
        self._cancelled = False
        self.collect_logprobs = False  # sweeps turn it on: log p(token) under the raw logits

    # ----- lifecycle -----------------------------------------------------------------
    def load(self, model: str | os.PathLike[str] | None = None,
             anchors: Sequence[str | os.PathLike[str] | Anchor] = (), *,
             allow_pickle: bool = False, progress: Progress | None = None) -> None:
        """Load the base model (None: the embedded default) and anchors (paths or Anchors)."""
        progress = progress or (lambda message, fraction: None)
        path = resolve_model(model)
        info = base_info(path)
        progress("checking anchors", 0.05)
        ordered = []
        for a in anchors:
            if isinstance(a, Anchor):
                validate_factors(a.name, a.factors, info)
                ordered.append(a)
            else:
                ordered.append(load_anchor(a, info, allow_pickle=allow_pickle))
        names = [a.name for a in ordered]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise AnchorError(f"two anchors share the name(s) {dupes}; rename one")
        self.close()
        self.model_path, self.base = path, info
        self.anchors = ordered  # a backend may shape its model to them (llama: merged mode)
        try:
            self._load_model(path, progress)
        except BaseException:
            self.anchors = []
            raise
        progress("attaching anchors", 0.9)
        self._attach_anchors()
        self.point = None
        if ordered:
            self.set_weights([1.0 / len(ordered)] * len(ordered), normalize=True)
        progress("ready", 1.0)

    def close(self) -> None:
        """Free the model. Safe to call twice."""
        self._close_model()
        self.anchors, self.point = [], None

    @property
    def anchor_names(self) -> list[str]:
        return [a.name for a in self.anchors]

    @property
    def loaded(self) -> bool:
        return self.model_path is not None and self._is_loaded()

    # ----- weights ------------------------------------------------------------------
    def set_weights(self, weights: Point | Mapping[str, float] | Sequence[float], *,
                    normalize: bool = False, extrapolate: bool = False) -> Point:
        """Validate and apply a point. The same point again costs nothing."""
        if isinstance(weights, Point):
            point = make_point(weights.as_dict(), self.anchor_names, extrapolate=True)
            if point.values != weights.values:
                raise ProsemixError("the point names anchors in another order")
            point = weights
        else:
            point = make_point(weights, self.anchor_names, normalize=normalize,
                               extrapolate=extrapolate)
        if self.point is not None and point.values == self.point.values:
            return point
        self._require_loaded()
        self._apply_weights(point.values)
        self.point = point
        return point

    # ----- generation ---------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the running stream to stop after the current token (any thread may call it)."""
        self._cancelled = True

    def format_prompt(self, prompt: str, sampling: SamplingConfig) -> str:
        if sampling.chat:
            return render_chat(self._chat_template(), prompt, bos=self._special("bos"),
                               eos=self._special("eos"))
        return prompt

    def count_tokens(self, text: str) -> int:
        self._require_loaded()
        return len(self._tokenize(text))

    def stream(self, prompt: str, sampling: SamplingConfig | None = None,
               should_stop: Callable[[], bool] | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated. Closing the iterator, ``cancel()`` or
        ``should_stop()`` returning True ends it within one token. ``last_result`` holds
        the timings when it ends."""
        sampling = sampling or SamplingConfig()
        self._require_loaded()
        if not isinstance(prompt, str) or not prompt.strip():
            raise ProsemixError("the prompt is empty")
        tokens = self._tokenize(self.format_prompt(prompt, sampling))
        room = self.n_ctx - len(tokens)
        if room < 1:
            raise ProsemixError(
                f"the prompt is {len(tokens)} tokens, longer than the context of "
                f"{self.n_ctx} tokens: shorten it")
        max_tokens = min(sampling.max_tokens, room)
        self._cancelled = False
        result = GenerationResult(prompt_tokens=len(tokens),
                                  weights=self.point.as_dict() if self.point else {})
        self.last_result = result
        stops = StopFilter(sampling.stop)
        start = time.perf_counter()
        pieces = self._token_pieces(tokens, sampling, max_tokens)
        finish = "length"
        try:
            for piece in pieces:
                if result.first_token_seconds is None:
                    result.first_token_seconds = time.perf_counter() - start
                result.n_tokens += 1
                out = stops.feed(piece)
                if out:
                    result.text += out
                    yield out
                if stops.stopped:
                    finish = "stop"
                    break
                if self._cancelled or (should_stop is not None and should_stop()):
                    finish = "cancelled"
                    break
            else:
                finish = "length" if result.n_tokens >= max_tokens else "eos"
            tail = stops.flush()
            if tail:
                result.text += tail
                yield tail
        except GeneratorExit:
            finish = "cancelled"
            raise
        finally:
            pieces.close()
            result.finish_reason = finish
            result.seconds = time.perf_counter() - start

    def generate(self, prompt: str, sampling: SamplingConfig | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 on_piece: Callable[[str], None] | None = None) -> GenerationResult:
        for piece in self.stream(prompt, sampling, should_stop):
            if on_piece:
                on_piece(piece)
        assert self.last_result is not None
        return self.last_result

    def perplexity(self, text: str, max_tokens: int = 256) -> float:
        """Perplexity of the model at the current point on a fixed text (first max_tokens)."""
        import math

        self._require_loaded()
        tokens = self._tokenize(text)[: max(2, min(max_tokens, self.n_ctx))]
        if len(tokens) < 2:
            raise ProsemixError("perplexity needs a text of at least two tokens")
        logprobs = self._score_tokens(tokens)
        return math.exp(-sum(logprobs) / len(logprobs))

    def _score_tokens(self, tokens: list[int]) -> list[float]:
        """log p(tokens[i] | tokens[:i]) for i >= 1."""
        raise ProsemixError(f"the {self.name} backend cannot score a fixed text")

    def info(self) -> dict[str, object]:
        return {"backend": self.name, "model": str(self.model_path),
                "anchors": self.anchor_names, "n_ctx": self.n_ctx}

    # ----- for subclasses -------------------------------------------------------------
    def _require_loaded(self) -> None:
        if not self.loaded:
            raise ProsemixError("no model is loaded")

    @abstractmethod
    def _load_model(self, path: Path, progress: Progress) -> None: ...

    @abstractmethod
    def _is_loaded(self) -> bool: ...

    @abstractmethod
    def _close_model(self) -> None: ...

    @abstractmethod
    def _attach_anchors(self) -> None: ...

    @abstractmethod
    def _apply_weights(self, values: tuple[float, ...]) -> None: ...

    @abstractmethod
    def _tokenize(self, text: str) -> list[int]: ...

    @abstractmethod
    def _token_pieces(self, tokens: list[int], sampling: SamplingConfig, max_tokens: int
                      ) -> Iterator[str]:
        """Yield one text piece per generated token ("" while a character is incomplete),
        stopping at end-of-sequence or after max_tokens."""

    @abstractmethod
    def _chat_template(self) -> str | None: ...

    @abstractmethod
    def _special(self, which: str) -> str: ...
