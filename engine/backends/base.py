"""The Backend contract: load a base model and anchors, set weights, stream text, cancel, close.

Every backend (llama.cpp, torch, remote) honours it whole, so callers never ask which one they
hold. Subclasses supply the model-specific pieces (`_open_model`, `_resolve_anchors`,
`_load_model`, `_apply_weights`, `_tokenize`, `_token_pieces`); validation, chat formatting,
stop strings, context limits, cancelling and timing live here once.

`stream()` returns a `Generation`: iterate it for text pieces; its `result` holds the text,
timings and, when asked for, the log-probability of each token, which travel with the tokens
from the backend (`Piece`), not through state set on the backend. `stream_candidates()` runs K
seeds of one prompt at one point; candidate i gives the text `stream()` gives with its seed.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, ClassVar, Iterable, Iterator, Mapping, Sequence

import numpy as np

from engine.anchors.diction import PRESENCE_WINDOW, at_step, check_vocabulary, diction_bias, word_tokens
from engine.anchors.model import Anchor, applied_weights
from engine.anchors.loading import load_anchor, validate_factors
from engine.errors import AnchorError, ProsemixError
from engine.backends.dry import breaker_tokens, dry_bias
from engine.backends.quotes import QuoteGuard
from engine.backends.utf8 import ByteGuard
from engine.backends.generation import (MAX_TOP, Candidates, Finish, Generation, GenerationResult,
                                       Piece, StepOptions, Tally, check_seeds)
from engine.models.base import BaseInfo, base_info, resolve_model
from engine.sampling import DEFAULT_N_CTX, SamplingConfig, render_chat
from engine.weights import Point, make_point

__all__ = ["Backend", "Candidates", "Generation", "GenerationResult", "Piece", "Progress"]

Progress = Callable[[str, float], None]  # (message, fraction 0..1)
TOKEN_MEMO = 16  # texts whose tokens a backend remembers (a drag's context, the desk's counts)
HEALING_LETTER = "A"  # what a prompt that ends in a newline is tokenized with (_tokenize_as_in_text)


@dataclass(frozen=True)
class _Vocabulary:
    """What a backend reads from its model's vocabulary once per model (`_vocabulary_of`)."""
    words: np.ndarray | None = None
    quote_guard: QuoteGuard | None = None
    byte_guard: ByteGuard | None = None
    breakers: np.ndarray | None = None


class Backend(ABC):
    """One loaded base model plus anchors. Not thread-safe: one thread owns it."""

    name: ClassVar[str] = "?"
    can_score: ClassVar[bool] = True  # perplexity of a fixed text (llama-server cannot)
    # can rule tokens out of a generation's first step (`stream(forbid_first=...)`): what phrase
    # bans need to rewind (engine.backends.bans)
    can_forbid: ClassVar[bool] = False
    can_top: ClassVar[bool] = False  # reports the most likely tokens per step (`top_logprobs`)
    # writes a drag's preview from the KV of a prompt evaluated at an earlier point (`preview`)
    can_preview: ClassVar[bool] = False

    def __init__(self, n_ctx: int = DEFAULT_N_CTX) -> None:
        if not isinstance(n_ctx, int) or n_ctx < 16:
            raise ProsemixError(f"context size must be an integer >= 16, got {n_ctx!r}")
        self.n_ctx = n_ctx
        self.anchors: list[Anchor] = []
        self.model_path: Path | None = None
        self.base: BaseInfo | None = None
        self.point: Point | None = None
        self._weights_preview = False  # the point is applied only as a preview (_apply_preview_weights)
        self._token_memo: dict[str, list[int]] = {}  # the last texts' tokens (_tokens_of)
        self.device = "cpu"
        # how the anchors reach the weights ("merged", "runtime" adapters, "per request")
        # and, where that is not the natural way, why
        self.anchors_applied = "merged"
        self.anchors_reason = ""
        self._cancelled = False
        self.reused_tokens = 0  # set by a backend that keeps a prompt prefix (llama)
        self._should_stop: Callable[[], bool] | None = None
        self._step = StepOptions()  # what the starting generation asks of its steps
        # the voices' diction at the point (engine.anchors.diction): added to every sampled
        # step's logits; None where no anchor with a diction has a weight
        self.logit_bias: np.ndarray | None = None
        # which tokens are words (a word's rise is withdrawn while the passage holds it,
        # engine.anchors.diction.at_step), read from the vocabulary when a voice has a diction;
        # a window of 0 applies the diction as it is at every step
        self._diction_words: np.ndarray | None = None
        # (model, its word mask, guards and DRY sequence breakers): read from the vocabulary
        # once per model
        self._vocabulary: tuple[Path, _Vocabulary] | None = None
        # engine.backends.dry.breaker_tokens of the loaded model, padded to its logits' size
        self._breakers: np.ndarray | None = None
        self.presence_window = PRESENCE_WINDOW
        # no quotation mark set apart from its words (engine.backends.quotes), on every sampled
        # step where the backend can read its vocabulary; the guard is kept across loads
        self.guard_quotes = True
        self._quote_guard: QuoteGuard | None = None
        # no broken character (engine.backends.utf8), on every sampled step where the backend
        # can read its tokens' bytes; kept across loads like the quote guard
        self.guard_bytes = True
        self._byte_guard: ByteGuard | None = None

    # ----- lifecycle -----------------------------------------------------------------
    def load(self, model: str | os.PathLike[str] | None = None,
             anchors: Sequence[str | os.PathLike[str] | Anchor] = (), *,
             allow_pickle: bool = False, progress: Progress | None = None) -> None:
        """Load the base model (None: the embedded default) and anchors (paths or Anchors;
        for the remote backend also the names of the server's adapters)."""
        progress = progress or (lambda message, fraction: None)
        path, info = self._open_model(model, progress)
        progress("checking anchors", 0.05)
        ordered = self._resolve_anchors(anchors, info, allow_pickle)
        names = [a.name for a in ordered]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise AnchorError(f"two anchors share the name(s) {dupes}; rename one")
        self.close()
        self._token_memo.clear()  # another model may tokenize otherwise
        self.model_path, self.base = path, info
        self.anchors = ordered  # a backend may shape its model to them (llama: merged mode)
        try:
            self._load_model(path, progress)
        except BaseException:
            self.anchors = []
            raise
        vocab = self._vocab_size()
        for a in ordered:
            if a.diction is not None and vocab is not None:
                try:
                    check_vocabulary(a.name, a.diction, vocab)
                except AnchorError:
                    self.close()
                    raise
        known = self._vocabulary_of(path, vocab)
        words, self._quote_guard, self._byte_guard, self._breakers = (known.words, known.quote_guard,
                                                                      known.byte_guard, known.breakers)
        if any(a.diction is not None for a in ordered) and vocab is not None:
            self._diction_words = words
        progress("attaching anchors", 0.9)
        self._attach_anchors()
        self.point, self.logit_bias = None, None
        if ordered:
            self.set_weights([1.0 / len(ordered)] * len(ordered), normalize=True)
        progress("ready", 1.0)

    def _open_model(self, model: str | os.PathLike[str] | None, progress: Progress
                    ) -> tuple[Path, BaseInfo | None]:
        """Find the model and read what anchors are checked against (nothing heavy yet)."""
        path = resolve_model(model)
        return path, base_info(path)

    def _resolve_anchors(self, anchors: Sequence[str | os.PathLike[str] | Anchor],
                         info: BaseInfo | None, allow_pickle: bool) -> list[Anchor]:
        """Load each anchor and check it against the base model."""
        assert info is not None  # local backends always read the base
        ordered = []
        for a in anchors:
            if isinstance(a, Anchor):
                validate_factors(a.name, a.factors, info)
                ordered.append(a)
            else:
                ordered.append(load_anchor(a, info, allow_pickle=allow_pickle))
        return ordered

    def close(self) -> None:
        """Free the model. Safe to call twice."""
        self._close_model()
        self.anchors, self.point, self.logit_bias, self._diction_words = [], None, None, None

    @property
    def anchor_names(self) -> list[str]:
        return [a.name for a in self.anchors]

    def pin(self, key: str | None) -> int | None:
        """Keep the requests of ``key`` (a document) on one slot, so that they can reuse what
        it already read; None unpins. A backend with no slots answers None: every call is its own."""
        return None

    @property
    def loaded(self) -> bool:
        return self.model_path is not None and self._is_loaded()

    # ----- weights ------------------------------------------------------------------
    def set_weights(self, weights: Point | Mapping[str, float] | Sequence[float], *,
                    normalize: bool = False, extrapolate: bool = False,
                    strength: float = 1.0, preview: bool = False) -> Point:
        """Validate and apply a point (its weights times ``strength``; a Point brings its
        own). The same point again costs nothing. ``preview``: the next generation is a drag's
        preview (``stream(preview=True)``), for which a backend may apply the point
        approximately and quicker (`_apply_preview_weights`); the next set_weights without it
        applies the point exactly, even the same point."""
        if isinstance(weights, Point):
            point = make_point(weights.as_dict(), self.anchor_names, extrapolate=True,
                               strength=weights.strength)
            if point.values != weights.values:
                raise ProsemixError("the point names anchors in another order")
            point = weights
        else:
            point = make_point(weights, self.anchor_names, normalize=normalize,
                               extrapolate=extrapolate, strength=strength)
        if (self.point is not None and point.effective == self.point.effective
                and (preview or not self._weights_preview)):
            self.point = point
            return point
        self._require_loaded()
        values = applied_weights(point.effective, self.anchors)
        self.logit_bias = diction_bias(applied_weights(point.effective, self.anchors, diction=True),
                                       [a.diction for a in self.anchors])
        self._weights_preview = preview and self._apply_preview_weights(values)
        if not self._weights_preview:
            self._apply_weights(values)
        self.point = point
        return point

    # ----- generation ---------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the running stream to stop after the current token (any thread may call it)."""
        self._cancelled = True

    def _stop_requested(self) -> bool:
        """Whether the running generation was asked to stop (a backend may check this while
        it evaluates a prompt)."""
        return self._cancelled or (self._should_stop is not None and self._should_stop())

    def format_prompt(self, prompt: str, sampling: SamplingConfig) -> str:
        if sampling.chat:
            return render_chat(self._chat_template(), prompt, bos=self._special("bos"),
                               eos=self._special("eos"))
        return prompt

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes as a prompt (the desk's context counter and budget)."""
        self._require_loaded()
        return len(self._tokens_of(text))

    def _tokens_of(self, text: str) -> list[int]:
        """``_tokenize`` with a memory of the last few texts: a drag sends the same context
        move after move, and the desk counts its parts before each generation."""
        memo = self._token_memo
        tokens = memo.pop(text, None)
        if tokens is None:
            tokens = self._tokenize_as_in_text(text)
            while len(memo) >= TOKEN_MEMO:
                memo.pop(next(iter(memo)))
        memo[text] = tokens  # the newest last
        return list(tokens)

    def _tokenize_as_in_text(self, text: str) -> list[int]:
        """``text``'s tokens as they would be with more text after it. A byte-level BPE splits a
        paragraph break before a word into two newline tokens, but the same break at the end of a
        prompt into one "\n\n" token, which the model has seen almost only before a third
        newline: after a writer's two Enters it began with an empty paragraph every time
        (docs/dev/decisions/0006-guards-at-every-step.md). So a text that ends
        in a newline is tokenized with a letter after it, and the letter's token dropped, where
        the letter stands alone (spaces join the word after them, so a trailing space is not
        changed here)."""
        if not text.endswith("\n"):
            return self._tokenize(text)
        letter = self._tokenize("\n" + HEALING_LETTER)[-1:]  # the letter alone, after a newline
        healed = self._tokenize(text + HEALING_LETTER)
        return healed[:-1] if healed[-1:] == letter else self._tokenize(text)

    def _prepare(self, prompt: str, sampling: SamplingConfig,
                 should_stop: Callable[[], bool] | None) -> tuple[list[int], int]:
        """The prompt's tokens and the tokens there is room for; arms cancelling."""
        self._require_loaded()
        if not isinstance(prompt, str) or not prompt.strip():
            raise ProsemixError("the prompt is empty")
        tokens = self._tokens_of(self.format_prompt(prompt, sampling))
        room = self.n_ctx - len(tokens)
        if room < 1:
            raise ProsemixError(
                f"the prompt is {len(tokens)} tokens, longer than the context of "
                f"{self.n_ctx} tokens: shorten it")
        self._cancelled = False
        self._should_stop = should_stop
        self.reused_tokens = 0
        return tokens, min(sampling.max_tokens, room)

    def _new_result(self, prompt_tokens: int, seed: int | None = None) -> GenerationResult:
        return GenerationResult(prompt_tokens=prompt_tokens, seed=seed,
                                weights=self.point.as_dict() if self.point else {},
                                strength=self.point.strength if self.point else 1.0)

    def stream(self, prompt: str, sampling: SamplingConfig | None = None,
               should_stop: Callable[[], bool] | None = None, *,
               logprobs: bool = False, forbid_first: Iterable[int] = (),
               top_logprobs: int = 0, preview: bool = False) -> Generation:
        """Start generating. Iterate the Generation for text pieces; closing it, ``cancel()``
        or ``should_stop()`` returning True ends it within one token. ``logprobs`` records
        log p(token) of each token in ``result.logprobs``. ``forbid_first``: token ids the
        first generated token may not be (a backend with ``can_forbid``). ``top_logprobs``:
        the K most likely tokens at each step, in ``result.alternatives`` (1..MAX_TOP).
        ``preview``: a restyle's preview while the handle moves, which may start from the KV of
        this prompt evaluated at an earlier point, so that only the passage is decoded at the
        new weights (a backend with ``can_preview``; the others write the exact text). Its text
        is close to, but not, what this point gives: the exact generation comes after it."""
        sampling = sampling or SamplingConfig()
        forbid = frozenset(forbid_first)
        if forbid and not self.can_forbid:
            raise ProsemixError(f"the {self.name} backend cannot rule tokens out, which phrase bans need")
        if isinstance(top_logprobs, bool) or not isinstance(top_logprobs, int) or not 0 <= top_logprobs <= MAX_TOP:
            raise ProsemixError(f"top_logprobs must be 0..{MAX_TOP}, got {top_logprobs!r}")
        if top_logprobs and not self.can_top:
            raise ProsemixError(f"the {self.name} backend cannot report token alternatives")
        tokens, max_tokens = self._prepare(prompt, sampling, should_stop)
        if not preview:
            self._exact_weights()
        self._step = StepOptions(forbid, top_logprobs, preview)  # taken by _token_pieces when it starts
        result = self._new_result(len(tokens))
        pieces = self._token_pieces(tokens, sampling, max_tokens, logprobs)
        return Generation(self._run(pieces, Tally(result, sampling.stop, time.perf_counter(),
                                                  max_tokens)), result)

    def _take_step(self) -> StepOptions:
        """What the starting generation asks of its steps (then nothing again: candidates and
        later generations start clean)."""
        step, self._step = self._step, StepOptions()
        return step

    def _run(self, pieces: Iterator[Piece], tally: Tally) -> Iterator[str]:
        """The steps every generation shares: stop strings, cancel, counts and timing."""
        finish = Finish.LENGTH
        try:
            for piece in pieces:
                out = tally.feed(piece, self.reused_tokens)
                if out:
                    yield out
                if tally.stopped:
                    finish = Finish.STOP
                    break
                if self._stop_requested():
                    finish = Finish.CANCELLED
                    break
            else:
                finish = (Finish.LENGTH if tally.full else
                          Finish.CANCELLED if self._stop_requested() else Finish.EOS)
            pieces.close()  # type: ignore[attr-defined]  # always a generator
            tail = tally.end(finish)
            if tail:
                yield tail
        except GeneratorExit:
            finish = Finish.CANCELLED
            raise
        finally:
            pieces.close()  # type: ignore[attr-defined]  # always a generator
            if not tally.ended:
                tally.end(finish)

    def stream_candidates(self, prompt: str, sampling: SamplingConfig | None,
                          seeds: Sequence[int], should_stop: Callable[[], bool] | None = None,
                          *, logprobs: bool = False) -> Candidates:
        """K candidates for one prompt at the current point, one per seed: the prompt is
        evaluated once; each has its own sampler, stop strings and end. Candidate i gives the
        text ``stream()`` gives with ``seeds[i]``. Cancelling stops them all."""
        sampling = sampling or SamplingConfig()
        seeds = check_seeds(seeds)
        tokens, max_tokens = self._prepare(prompt, sampling, should_stop)
        self._exact_weights()
        self._check_candidates_fit(len(seeds), len(tokens) + max_tokens)
        start = time.perf_counter()
        tallies = [Tally(self._new_result(len(tokens), seed), sampling.stop, start, max_tokens)
                   for seed in seeds]
        done: set[int] = set()
        events = self._candidate_pieces(tokens, sampling, seeds, max_tokens, logprobs, done)
        return Candidates(self._run_candidates(events, tallies, done),
                          [t.result for t in tallies], seeds)

    def _run_candidates(self, events: Iterator[tuple[int, Piece | None]], tallies: list[Tally],
                        done: set[int]) -> Iterator[tuple[int, str]]:
        """`_run` for K candidates. A backend's events are (i, piece), or (i, None) when
        candidate i ended (end of sequence or its last token); ``done`` tells the backend
        which ones the caller has finished (a stop string)."""
        def end(i: int, finish: str) -> Iterator[tuple[int, str]]:
            done.add(i)
            tail = tallies[i].end(finish)
            if tail:
                yield i, tail

        try:
            for i, piece in events:
                tally = tallies[i]
                if tally.ended:
                    continue
                if piece is None:
                    yield from end(i, Finish.LENGTH if tally.full else Finish.EOS)
                    continue
                out = tally.feed(piece, self.reused_tokens)
                if out:
                    yield i, out
                if tally.stopped:
                    yield from end(i, Finish.STOP)
                elif tally.full:
                    yield from end(i, Finish.LENGTH)
                if self._stop_requested():
                    break
            for i, tally in enumerate(tallies):
                if not tally.ended:
                    yield from end(i, Finish.CANCELLED if self._stop_requested() else
                                   Finish.LENGTH if tally.full else Finish.EOS)
        except GeneratorExit:
            for tally in tallies:
                if not tally.ended:
                    tally.end(Finish.CANCELLED)
            raise
        finally:
            events.close()  # type: ignore[attr-defined]  # always a generator

    def generate_candidates(self, prompt: str, sampling: SamplingConfig | None,
                            seeds: Sequence[int], should_stop: Callable[[], bool] | None = None,
                            on_piece: Callable[[int, str], None] | None = None, *,
                            logprobs: bool = False) -> list[GenerationResult]:
        """`stream_candidates` run to the end; ``on_piece(i, text)`` sees each piece."""
        return self.stream_candidates(prompt, sampling, seeds, should_stop,
                                      logprobs=logprobs).run(on_piece)

    def _check_candidates_fit(self, k: int, tokens: int) -> None:
        """Refuse K candidates whose caches would not fit (a backend that holds them)."""

    def _candidate_pieces(self, tokens: list[int], sampling: SamplingConfig, seeds: list[int],
                          max_tokens: int, logprobs: bool, done: set[int]
                          ) -> Iterator[tuple[int, Piece | None]]:
        """Candidates one after another, each the single generation of its seed (a backend
        that keeps a prompt prefix evaluates the prompt once). Backends override this to run
        them together where that gives the same text."""
        return self._one_by_one(seeds, done, lambda seed: self._token_pieces(
            tokens, replace(sampling, seed=seed), max_tokens, logprobs))

    def _one_by_one(self, seeds: list[int], done: set[int],
                    pieces_of: Callable[[int], Iterator[Piece]]
                    ) -> Iterator[tuple[int, Piece | None]]:
        """The events of candidates run one after another, ``pieces_of(seed)`` each."""
        for i, seed in enumerate(seeds):
            pieces = pieces_of(seed)
            try:
                for piece in pieces:
                    yield i, piece
                    if i in done or self._stop_requested():
                        break
            finally:
                pieces.close()  # type: ignore[attr-defined]  # always a generator
            if self._stop_requested():
                return
            yield i, None

    def generate(self, prompt: str, sampling: SamplingConfig | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 on_piece: Callable[[str], None] | None = None, *,
                 logprobs: bool = False) -> GenerationResult:
        """Generate to the end; ``on_piece`` sees each piece as it comes."""
        return self.stream(prompt, sampling, should_stop, logprobs=logprobs).run(on_piece)

    def perplexity(self, text: str, max_tokens: int = 256) -> float:
        """Perplexity of the model at the current point on a fixed text (first max_tokens)."""
        import math

        self._require_loaded()
        tokens = self._tokenize(text)[: max(2, min(max_tokens, self.n_ctx))]
        if len(tokens) < 2:
            raise ProsemixError("perplexity needs a text of at least two tokens")
        self._exact_weights()
        logprobs = self._score_tokens(tokens)
        return math.exp(-sum(logprobs) / len(logprobs))

    def _score_tokens(self, tokens: list[int]) -> list[float]:
        """log p(tokens[i] | tokens[:i]) for i >= 1 (backends with can_score)."""
        raise ProsemixError(f"the {self.name} backend cannot score a fixed text")

    def info(self) -> dict[str, object]:
        return {"backend": self.name, "model": str(self.model_path), "device": self.device,
                "anchors": self.anchor_names, "n_ctx": self.n_ctx,
                "anchors_applied": self.anchors_applied, "why": self.anchors_reason}

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

    def _diction_at(self, context: Sequence[int]) -> np.ndarray | None:
        """The voices' diction at the point as the step after ``context`` (the tokens so far)
        applies it (engine.anchors.diction.at_step); None where there is none."""
        if self.logit_bias is None:
            return None
        return at_step(self.logit_bias, context, self._diction_words, self.presence_window)

    def _step_bias(self, context: Sequence[int], dry: float = 0.0) -> np.ndarray | None:
        """What a sampled step after ``context`` adds to the logits: the voices' diction
        (`_diction_at`), the quote guard's and the byte guard's -inf (`engine.backends.quotes`,
        `engine.backends.utf8`) and, with ``dry`` (a SamplingConfig's), the no-repeats penalty
        (`engine.backends.dry`); None where none has anything."""
        parts = [self._diction_at(context),
                 self._quote_guard.at(context) if self._quote_guard is not None and self.guard_quotes else None,
                 self._byte_guard.at(context) if self._byte_guard is not None and self.guard_bytes else None,
                 dry_bias(context, dry, self._breakers.size, self._breakers)
                 if dry and self._breakers is not None else None]
        present = [p for p in parts if p is not None]
        if len(present) <= 1:
            return present[0] if present else None
        return np.sum(present, axis=0)

    def _biased_steps(self, dry: float = 0.0) -> Callable[[Sequence[int]], np.ndarray | None] | None:
        """`_step_bias` (with ``dry``) where a step may have one (a diction, a guard or the
        no-repeats penalty), else None, so that a backend installs no per-step hook for
        nothing."""
        if (self.logit_bias is None and (self._quote_guard is None or not self.guard_quotes)
                and (self._byte_guard is None or not self.guard_bytes)
                and not (dry and self._breakers is not None)):
            return None
        return lambda context: self._step_bias(context, dry)

    def _vocabulary_of(self, path: Path, vocab: int | None) -> "_Vocabulary":
        """The loaded model's word mask (`word_tokens`), quote guard, byte guard and DRY sequence
        breakers (`breaker_tokens`), read from its vocabulary once per model (0.2 s for the
        embedded model's 49,152 tokens) and kept for its next loads: a voice added reloads it.
        Nones where the backend cannot read it."""
        if self._vocabulary is None or self._vocabulary[0] != path:
            texts, pieces = self._vocabulary_texts(), self._vocabulary_bytes()
            if texts is None and pieces is not None:  # the texts are the bytes decoded (llama.cpp)
                texts = [b.decode("utf-8", errors="replace") if b is not None else "" for b in pieces]
            size = max(vocab or 0, len(texts or ()), len(pieces or ()))
            known = _Vocabulary()
            if texts is not None:
                pad = (0, size - len(texts))
                known = _Vocabulary(np.pad(word_tokens(texts), pad), QuoteGuard(texts, size), None,
                                    np.pad(breaker_tokens(texts), pad))
            if pieces is not None:
                known = replace(known, byte_guard=ByteGuard(pieces, size))
            self._vocabulary = (path, known)
        return self._vocabulary[1]

    def _vocabulary_texts(self) -> list[str] | None:
        """Each vocabulary entry's text, in token order (None: the bytes decoded, where
        `_vocabulary_bytes` reads them; else this backend cannot read them, and a diction then
        applies as it is at every step)."""
        return None

    def _vocabulary_bytes(self) -> list[bytes | None] | None:
        """Each vocabulary entry's bytes as it adds them to the text, in token order (None for
        an entry, or for all: this backend cannot read them, and the byte guard rules them out
        nowhere)."""
        return None

    def _vocab_size(self) -> int | None:
        """The loaded model's vocabulary size, which a voice's diction must match (None: this
        backend does not know it)."""
        return None

    @abstractmethod
    def _apply_weights(self, values: tuple[float, ...]) -> None:
        """Make each anchor's delta count ``values[i]`` times (the point's s * w_i)."""

    def _exact_weights(self) -> None:
        """Whatever asks for exact text (anything but a preview) gets the point applied exactly,
        even if nothing called set_weights since a preview's."""
        if self._weights_preview and self.point is not None:
            self._apply_weights(applied_weights(self.point.effective, self.anchors))
            self._weights_preview = False

    def _apply_preview_weights(self, values: tuple[float, ...]) -> bool:
        """Apply ``values`` for a drag's preview only, approximately and quicker than
        `_apply_weights`; False where this backend has no such way (the exact one is used)."""
        return False

    @abstractmethod
    def _tokenize(self, text: str) -> list[int]: ...

    @abstractmethod
    def _token_pieces(self, tokens: list[int], sampling: SamplingConfig, max_tokens: int,
                      logprobs: bool) -> Iterator[Piece]:
        """Yield one Piece per generated token, stopping at end-of-sequence or after
        max_tokens; with ``logprobs``, each Piece carries log p(token)."""

    @abstractmethod
    def _chat_template(self) -> str | None: ...

    @abstractmethod
    def _special(self, which: str) -> str: ...
