"""What a generation hands back: pieces of text as they come and a result that fills in.

`Generation` is one running generation; `Candidates` is K of them for one prompt at one point
(one seed each), which a backend may run together (`Backend.stream_candidates`). `Tally` is
the bookkeeping both share: stop strings, counts, timing and how each one finished.
"""
from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, NamedTuple, Sequence

from engine.errors import ProsemixError
from engine.sampling import SamplingConfig, StopFilter

# Candidates per call: each holds its own KV cache for the prompt plus its text
MAX_CANDIDATES = 8
MAX_TOP = 20  # alternatives per token a generation may ask for


class Finish(str, enum.Enum):
    """How a generation ended. A str, so JSON and old comparisons read its value."""

    EOS = "eos"  # the model ended the text
    LENGTH = "length"  # it reached max_tokens
    STOP = "stop"  # a stop string
    CANCELLED = "cancelled"  # stopped by the writer (or a newer request)
    BANS = "bans"  # the phrase bans ran out of rewinds

    def __str__(self) -> str:
        return self.value

    @property
    def said(self) -> str:
        """How it ended, in a writer's words (the status lines of the window)."""
        return {"eos": "the model ended the text", "length": "reached max tokens", "stop": "hit a stop string",
                "cancelled": "stopped", "bans": "ended where the phrase bans ran out of ways to go on"}[self.value]

    @property
    def passage_said(self) -> str:
        """The same, for a passage on the desk, where any end but a stop is simply done."""
        return {"cancelled": "stopped", "bans": "done (the bans ended it)"}.get(self.value, "done")


@dataclass
class GenerationResult:
    text: str = ""
    n_tokens: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens whose KV entries were kept from the last generation
    seconds: float = 0.0
    first_token_seconds: float | None = None
    finish_reason: str = ""  # a Finish once ended
    weights: dict[str, float] = field(default_factory=dict)
    strength: float = 1.0
    logprobs: list[float] = field(default_factory=list)  # per generated token, raw logits
    seed: int | None = None  # set for candidates
    rewinds: int = 0  # phrase bans: how often the text went back to before a banned phrase
    # with top_logprobs: each token's text and the alternatives at its step, (text, log p)
    token_texts: list[str] = field(default_factory=list)
    alternatives: list[tuple[tuple[str, float], ...]] = field(default_factory=list)

    @property
    def perplexity(self) -> float:
        """The generating model's perplexity on its own output (nan if nothing recorded)."""
        return math.exp(-sum(self.logprobs) / len(self.logprobs)) if self.logprobs else float("nan")

    @property
    def tokens_per_second(self) -> float:
        decode = self.seconds - (self.first_token_seconds or 0.0)
        return (self.n_tokens - 1) / decode if self.n_tokens > 1 and decode > 0 else 0.0


class Piece(NamedTuple):
    """One generated token: its text ("" while a character is incomplete), when the caller
    asked for it log p(token) under the raw logits, its id where the backend knows it, and
    when asked the most likely tokens at that step as (text, log p), most likely first."""

    text: str
    logprob: float | None = None
    token: int | None = None
    top: tuple[tuple[str, float], ...] | None = None


@dataclass(frozen=True)
class StepOptions:
    """What a single generation asks of its steps beyond sampling: tokens its first step may
    not take (a phrase ban's rewind), how many alternatives to report per token, and whether a
    preview will do (see ``Backend.stream``)."""

    forbid_first: frozenset[int] = frozenset()
    top_k: int = 0
    preview: bool = False


class Tally:
    """One generation's bookkeeping: feeds pieces through its stop strings into its result."""

    def __init__(self, result: GenerationResult, stop: Sequence[str], start: float,
                 max_tokens: int):
        self.result = result
        self.stops = StopFilter(tuple(stop))
        self.start = start
        self.max_tokens = max_tokens
        self.ended = False

    def feed(self, piece: Piece, reused: int = 0) -> str:
        """The text this piece adds (stop strings held back or cut)."""
        result = self.result
        if result.first_token_seconds is None:
            result.first_token_seconds = time.perf_counter() - self.start
            result.cached_tokens = reused
        result.n_tokens += 1
        if piece.logprob is not None:
            result.logprobs.append(piece.logprob)
        if piece.top is not None:
            result.token_texts.append(piece.text)
            result.alternatives.append(piece.top)
        out = self.stops.feed(piece.text)
        result.text += out
        return out

    @property
    def stopped(self) -> bool:
        return self.stops.stopped

    @property
    def full(self) -> bool:
        return self.result.n_tokens >= self.max_tokens

    def end(self, finish: str) -> str:
        """Close it with ``finish``; returns text a stop string was still holding back."""
        tail = self.stops.flush()
        self.result.text += tail
        self.result.finish_reason = finish
        self.result.seconds = time.perf_counter() - self.start
        self.ended = True
        return tail


class Generation:
    """A running generation: an iterator of text pieces. ``result`` fills in as it runs and
    is final once iteration ends; ``close()`` cancels it."""

    def __init__(self, pieces: Iterator[str], result: GenerationResult):
        self._pieces = pieces
        self.result = result

    def __iter__(self) -> "Generation":
        return self

    def __next__(self) -> str:
        return next(self._pieces)

    def close(self) -> None:
        self._pieces.close()  # type: ignore[attr-defined]  # always a generator

    def run(self, on_piece: Callable[[str], None] | None = None) -> GenerationResult:
        """Drain it, calling ``on_piece`` with each piece; returns the result."""
        for piece in self:
            if on_piece:
                on_piece(piece)
        return self.result


class Candidates:
    """K generations of one prompt at one point, one per seed: iterate for ``(index, text)``
    pieces in the order they come. ``results[i]`` belongs to ``seeds[i]`` and is final once
    iteration ends; ``close()`` cancels them all."""

    def __init__(self, events: Iterator[tuple[int, str]], results: list[GenerationResult],
                 seeds: list[int]):
        self._events = events
        self.results = results
        self.seeds = seeds

    def __iter__(self) -> "Candidates":
        return self

    def __next__(self) -> tuple[int, str]:
        return next(self._events)

    def close(self) -> None:
        self._events.close()  # type: ignore[attr-defined]  # always a generator

    def run(self, on_piece: Callable[[int, str], None] | None = None) -> list[GenerationResult]:
        for index, piece in self:
            if on_piece:
                on_piece(index, piece)
        return self.results


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """The seeds of a candidates call, or a clear refusal."""
    seeds = list(seeds)
    if not 1 <= len(seeds) <= MAX_CANDIDATES:
        raise ProsemixError(f"ask for 1 to {MAX_CANDIDATES} candidates, not {len(seeds)}")
    for seed in seeds:
        SamplingConfig(seed=seed)  # its own check of a seed
    return seeds


def seeds_from(first: int, k: int) -> list[int]:
    """K consecutive seeds from ``first`` (wrapping at 2**32): what Retry xK and sweeps use."""
    return [(first + i) % 2**32 for i in range(k)]
