"""Phrase bans ("anti-slop"), enforced by backtracking as KoboldCpp's antislop sampler does:
when the text written so far contains a banned phrase, it goes back to where the phrase began
and writes on from there with the token that began it ruled out at that point.

It works on any backend that can rule tokens out of a generation's first step
(`Backend.can_forbid`: llama, torch and remote): going back is asking again from the kept
text. Text that could still become a banned phrase is held back from the stream, so the writer
never sees a phrase that is then taken back.

The rules that make it exact and bounded:
- the first request is the plain generation (same prompt, same seed): where no ban fires, the
  text is the text without bans;
- after the k-th rewind the request's seed is ``seed + k * 7919`` (mod 2**32), so the same
  prompt, point, seed and bans give the same text;
- a ban matches at most MAX_MATCH characters (a regex's longer matches are not looked for),
  and at most MAX_REWINDS rewinds are made: then the passage ends, without the phrase, with
  finish reason "bans".
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator, Sequence

from engine.backends.generation import Finish, Generation, GenerationResult
from engine.errors import ProsemixError
from engine.sampling import SamplingConfig

MAX_MATCH = 64  # characters a banned phrase (or a regex's match) may span
MAX_REWINDS = 64
MAX_BANS = 256
SEED_STEP = 7919

# Phrases that mark machine-written prose (collected from the anti-slop lists writers share);
# off until the writer turns them on.
DEFAULT_SLOP = (
    "a testament to", "shivers down", "shiver down", "barely above a whisper", "ministrations",
    "tapestry of", "rich tapestry", "in the grand scheme of things", "couldn't help but",
    "a mix of", "little did", "it's important to note", "delve into", "a stark reminder",
    "sent shivers", "eyes sparkling with", "a dance of", "palpable tension", "a symphony of",
    "the weight of the world", "unspoken understanding", "maybe, just maybe", "ever-evolving",
    "a beacon of", "an air of mystery", "in a world where", "can't help but", "her heart pounding",
    "with a mischievous glint", "the air was thick with", "testament to the", "bonds of friendship",
)


@dataclass(frozen=True)
class PhraseBan:
    """A banned phrase: plain text (case-insensitive unless asked) or a regex."""

    text: str
    regex: bool = False
    case_sensitive: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ProsemixError("a banned phrase cannot be empty")
        if not self.regex and len(self.text) > MAX_MATCH:
            raise ProsemixError(f"the banned phrase {self.text[:30]!r}… is {len(self.text)} characters; "
                                f"at most {MAX_MATCH}")
        try:
            pattern = self.pattern()
        except re.error as exc:
            raise ProsemixError(f"the banned regex {self.text!r} is not valid ({exc})") from None
        if pattern.fullmatch(""):
            raise ProsemixError(f"the banned regex {self.text!r} matches empty text, so it would ban everything")

    def pattern(self) -> re.Pattern[str]:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        return re.compile(self.text if self.regex else re.escape(self.text), flags)

    def to_json(self) -> dict:
        return {"text": self.text, "regex": self.regex, "case_sensitive": self.case_sensitive}

    @classmethod
    def from_json(cls, data: Any) -> "PhraseBan":
        if isinstance(data, str):
            return cls(data)
        if not isinstance(data, dict):
            raise ProsemixError("a banned phrase is a string or {text, regex, case_sensitive}")
        return cls(str(data.get("text", "")), bool(data.get("regex", False)),
                   bool(data.get("case_sensitive", False)))


@dataclass(frozen=True)
class BanList:
    """A document's bans: the writer's phrases, and whether the default slop list is on."""

    phrases: tuple[PhraseBan, ...] = ()
    slop: bool = False

    def __post_init__(self) -> None:
        if len(self.phrases) > MAX_BANS:
            raise ProsemixError(f"{len(self.phrases)} banned phrases; at most {MAX_BANS}")

    def all(self) -> tuple[PhraseBan, ...]:
        return self.phrases + (tuple(PhraseBan(p) for p in DEFAULT_SLOP) if self.slop else ())

    def __bool__(self) -> bool:
        return bool(self.phrases) or self.slop

    def to_json(self) -> dict:
        return {"phrases": [p.to_json() for p in self.phrases], "slop": self.slop}

    @classmethod
    def from_json(cls, data: Any) -> "BanList":
        if not isinstance(data, dict) or not isinstance(data.get("phrases", []), list):
            raise ProsemixError("the bans are not {phrases: [...], slop: true|false}")
        return cls(tuple(PhraseBan.from_json(p) for p in data.get("phrases", [])), bool(data.get("slop", False)))


class Matcher:
    """Finds banned phrases in generated text, and how much of its end must be held back
    because it could still grow into one."""

    def __init__(self, bans: Iterable[PhraseBan]):
        bans = list(bans)
        self.patterns = [b.pattern() for b in bans]
        self._plain = [(b.text if b.case_sensitive else b.text.lower(), b.case_sensitive)
                       for b in bans if not b.regex]
        self._has_regex = any(b.regex for b in bans)

    def first(self, text: str, start: int = 0) -> tuple[int, int] | None:
        """(start, end) of the earliest banned match beginning at or after ``start`` and at
        most MAX_MATCH characters long."""
        best: tuple[int, int] | None = None
        for pattern in self.patterns:
            for m in pattern.finditer(text, max(0, start - MAX_MATCH)):
                if m.start() < start or m.end() - m.start() > MAX_MATCH or m.end() == m.start():
                    continue
                if best is None or m.start() < best[0]:
                    best = (m.start(), m.end())
                break
        return best

    def hold(self, text: str) -> int:
        """Characters at the end of ``text`` that might be the start of a banned phrase."""
        if self._has_regex:
            return min(len(text), MAX_MATCH)
        hold = 0
        lowered = text[-MAX_MATCH:].lower()
        tail = text[-MAX_MATCH:]
        for phrase, sensitive in self._plain:
            source = tail if sensitive else lowered
            for k in range(min(len(phrase) - 1, len(source)), hold, -1):
                if source.endswith(phrase[:k]):
                    hold = k
                    break
        return hold


def _first_token(backend: Any, prompt: str, kept: str, phrase: str) -> int | None:
    """The token that begins ``phrase`` after ``prompt + kept``: the first token where the
    tokens of prompt+kept+phrase part from those of prompt+kept."""
    before = backend._tokenize(prompt + kept)
    after = backend._tokenize(prompt + kept + phrase)
    for i, t in enumerate(after):
        if i >= len(before) or before[i] != t:
            return t
    return None


def stream_with_bans(backend: Any, prompt: str, sampling: SamplingConfig, bans: Sequence[PhraseBan],
                     should_stop: Callable[[], bool] | None = None, *, logprobs: bool = False,
                     top_logprobs: int = 0, preview: bool = False) -> Generation:
    """``backend.stream`` that never writes a banned phrase (see the module's rules). The
    result's ``rewinds`` counts the times the text went back; with ``top_logprobs`` its
    tokens and their alternatives are those of the text kept."""
    if not bans:
        return backend.stream(prompt, sampling, should_stop, logprobs=logprobs, top_logprobs=top_logprobs,
                              preview=preview)
    if not backend.can_forbid:
        raise ProsemixError(f"the {backend.name} backend cannot rule tokens out, which phrase bans need")
    matcher = Matcher(bans)
    full = backend.format_prompt(prompt, sampling)  # rewinds continue the formatted text
    plain = replace(sampling, chat=False)
    result = GenerationResult()
    return Generation(_banned_pieces(backend, full, plain, matcher, should_stop, logprobs, top_logprobs,
                                     result, preview), result)


def _banned_pieces(backend: Any, prompt: str, sampling: SamplingConfig, matcher: Matcher,
                   should_stop: Callable[[], bool] | None, logprobs: bool, top_logprobs: int,
                   result: GenerationResult, preview: bool = False) -> Iterator[str]:
    started = time.perf_counter()
    kept = ""  # the generated text that stays
    emitted = 0  # characters of it already handed to the caller (never taken back)
    forbidden: dict[int, set[int]] = {}  # a position in ``kept`` -> tokens that may not start there
    finish: str = Finish.LENGTH
    while True:
        seed = (sampling.seed + result.rewinds * SEED_STEP) % 2**32
        remaining = sampling.max_tokens - (backend.count_tokens(kept) if kept else 0)
        if remaining < 1:
            break
        gen = backend.stream(prompt + kept, replace(sampling, seed=seed, max_tokens=remaining),
                             should_stop, logprobs=logprobs, forbid_first=forbidden.get(len(kept), ()),
                             top_logprobs=top_logprobs, preview=preview)
        new = ""
        hit: tuple[int, int] | None = None
        for piece in gen:
            if result.first_token_seconds is None:
                result.first_token_seconds = time.perf_counter() - started
            new += piece
            text = kept + new
            # what was handed out held no ban and no start of one: look from there on
            hit = matcher.first(text, emitted)
            if hit is not None:
                break
            safe = len(text) - matcher.hold(text)
            if safe > emitted:
                yield text[emitted:safe]
                emitted = safe
        gen.close()
        inner = gen.result
        result.prompt_tokens = result.prompt_tokens or inner.prompt_tokens
        result.logprobs.extend(inner.logprobs)
        result.token_texts += inner.token_texts
        result.alternatives += inner.alternatives
        if hit is None:
            kept += new
            finish = inner.finish_reason
            break
        text = kept + new
        kept = text[:hit[0]]
        _cut_tokens(result, len(kept))
        token = _first_token(backend, prompt, kept, text[hit[0]:hit[1]])
        result.rewinds += 1
        if token is None or result.rewinds >= MAX_REWINDS:
            finish = Finish.BANS
            break
        forbidden.setdefault(len(kept), set()).add(token)
    if len(kept) > emitted:
        yield kept[emitted:]
    if result.rewinds:
        result.logprobs.clear()  # some belonged to tokens that were taken back
    result.text = kept
    result.n_tokens = backend.count_tokens(kept) if kept else 0
    result.seconds = time.perf_counter() - started
    result.finish_reason = finish
    result.weights = backend.point.as_dict() if backend.point else {}
    result.strength = backend.point.strength if backend.point else 1.0


def _cut_tokens(result: GenerationResult, chars: int) -> None:
    """Keep the tokens (and their alternatives) of the first ``chars`` characters; a token the
    cut splits keeps its kept part, without alternatives."""
    texts, alts, at = [], [], 0
    for text, alt in zip(result.token_texts, result.alternatives):
        if at + len(text) <= chars:
            texts.append(text)
            alts.append(alt)
            at += len(text)
        else:
            if chars > at:
                texts.append(text[:chars - at])
                alts.append(())
            break
    result.token_texts, result.alternatives = texts, alts
