"""Token alternatives: a passage written again from a chosen alternative at one of its tokens,
at the same point and with the same seed for the rest (the desk's click on an alternative,
`continue --top-logprobs`). The passage's tokens before the choice are kept as text, so llama's
kept prompt prefix evaluates only what follows them."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Sequence

from engine.backends.bans import PhraseBan, stream_with_bans
from engine.backends.generation import Finish, Generation, GenerationResult
from engine.errors import ProsemixError
from engine.sampling import SamplingConfig


@dataclass(frozen=True)
class Rewrite:
    """A passage written again from token ``index`` on: ``prefix`` (the kept tokens and the
    chosen alternative) and the generation of the rest."""

    prefix: str
    generation: Generation
    token_texts: list[str]  # the prefix's tokens; the generation's follow
    alternatives: list[tuple[tuple[str, float], ...]]

    def finish(self) -> tuple[str, list[str], list[tuple[tuple[str, float], ...]]]:
        """The whole passage and its tokens with their alternatives, once the rest is written."""
        result = self.generation.result
        return (self.prefix + result.text, self.token_texts + result.token_texts,
                self.alternatives + result.alternatives)


def rewrite_from(backend: Any, prompt: str, token_texts: Sequence[str],
                 alternatives: Sequence[tuple[tuple[str, float], ...]], index: int, choice: str,
                 sampling: SamplingConfig, *, bans: Sequence[PhraseBan] = (), top_logprobs: int = 0,
                 should_stop: Callable[[], bool] | None = None) -> Rewrite:
    """Keep the passage's tokens before ``index``, put ``choice`` (one of that step's
    alternatives, or any text) in place of token ``index``, and write the rest with the same
    sampling and seed, within the passage's token budget."""
    if not 0 <= index < len(token_texts):
        raise ProsemixError(f"the passage has {len(token_texts)} tokens; there is no token {index}")
    if not choice:
        raise ProsemixError("the alternative is empty")
    prefix = "".join(token_texts[:index]) + choice
    rest = sampling.max_tokens - index - 1
    texts = list(token_texts[:index]) + [choice]
    alts = list(alternatives[:index + 1])
    if rest < 1:  # the choice was the passage's last token: nothing follows it
        return Rewrite(prefix, Generation(_nothing(), GenerationResult(finish_reason=Finish.LENGTH)), texts, alts)
    generation = stream_with_bans(backend, prompt + prefix, replace(sampling, max_tokens=rest), bans,
                                  should_stop, top_logprobs=top_logprobs)
    return Rewrite(prefix, generation, texts, alts)


def _nothing() -> Iterator[str]:
    return
    yield
