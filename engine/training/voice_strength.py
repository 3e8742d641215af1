"""Does a new voice stay prose with its LoRA stronger? A check on the writer's own page, no judge.

Some pages want a stronger LoRA than VOICE_CALIBRATION gives and some leave prose with it, and
the app has only the page to tell them apart (docs/dev/decisions/0008-voice-strength-check.md):

- the prose limit: the base model's perplexity that PROSE_QUANTILE of the page's own passages
  (MAX_WINDOWS windows of WINDOW_WORDS words, about a sample's 60 tokens) stay under;
- the samples: the voice with its LoRA at STRONGER_LORA (the diction where it was) continues
  CHECK_OPENINGS of the page's own openings CHECK_SAMPLES_EACH times, CHECK_TOKENS tokens each,
  through the torch backend (bf16 where the CPU has it) exactly as the app samples: the same
  sampling defaults, the quote and byte guards, the diction as each step applies it;
- a sample is prose when the base finds it no less likely than the limit and it is neither
  degenerate nor typeset with a fault.

The stronger LoRA is kept when at least MIN_PROSE_SHARE of the samples are prose; else, or when
it is stopped first (a cancel, or a ``deadline`` a caller sets), the voice keeps the factor it
had. It runs after the voice is made (engine.training.voice.strengthen_voice), 15-20 s on a
2-core CPU: the samples on the backend the app writes with, the reading by the base on torch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

STRONGER_LORA = 1.5
PROSE_QUANTILE, WINDOW_WORDS, MAX_WINDOWS = 0.95, 45, 32
CHECK_OPENINGS, CHECK_SAMPLES_EACH, CHECK_TOKENS = 6, 2, 60
MIN_PROSE_SHARE = 0.25
MIN_SECONDS = 8.0  # the check does not start with less time than this before its deadline


@dataclass(frozen=True)
class StrengthCheck:
    """What the check found: the factors it chose, the samples that were prose, the limit."""

    lora: float
    diction: float
    prose: int
    samples: int
    limit: float
    seconds: float
    why: str  # a line a writer can read: what was kept, and why
    perplexities: tuple[float, ...] = ()  # each sample's under the base (inf: degenerate or faulty)

    def as_card(self) -> dict[str, object]:
        return {"lora": self.lora, "diction": self.diction, "prose": self.prose, "samples": self.samples,
                "limit": round(self.limit, 2) if np.isfinite(self.limit) else None, "seconds": round(self.seconds, 1), "why": self.why}


def page_windows(text: str, words: int = WINDOW_WORDS, count: int = MAX_WINDOWS) -> list[str]:
    """Up to ``count`` passages of ``words`` words spread evenly over ``text`` (overlapping on a
    short page); none when it has fewer than ``words`` words."""
    tokens = text.split()
    if len(tokens) < words:
        return []
    starts = sorted({round(i * (len(tokens) - words) / max(1, count - 1)) for i in range(count)})
    return [" ".join(tokens[s:s + words]) for s in starts]


def _perplexities(backend: Any, texts: Sequence[str]) -> list[float]:
    """Each text's perplexity under ``backend`` at its current point."""
    return [backend.perplexity(t) for t in texts]


def _samples(backend: Any, text: str, seed: int, should_stop: Callable[[], bool]) -> list[str]:
    """CHECK_SAMPLES_EACH continuations of each of ``text``'s first CHECK_OPENINGS openings,
    through the backend as the app writes: its sampling defaults, its guards, the diction as
    each step applies it. Each opening's are candidates of one call (the opening read once)."""
    from engine.backends.generation import seeds_from
    from engine.sampling import SamplingConfig
    from engine.training.style_vector import openings

    sampling = SamplingConfig(max_tokens=CHECK_TOKENS)
    samples: list[str] = []
    for i, opening in enumerate(openings(text, CHECK_OPENINGS)):
        seeds = seeds_from(seed + i * CHECK_SAMPLES_EACH, CHECK_SAMPLES_EACH)
        run = backend.stream_candidates(opening, sampling, seeds, should_stop)
        for _ in run:
            pass
        samples += [r.text for r in run.results]
        if should_stop():
            break
    return samples


def _voice_on(backend: Any, voice: Path) -> int | None:
    """Where the voice in ``voice`` is among ``backend``'s anchors, if it is and the backend can
    read the samples back (a llama-server cannot)."""
    if backend is None or not backend.can_score:
        return None
    found = [i for i, a in enumerate(backend.anchors) if Path(a.source).resolve() == voice.resolve()]
    return found[0] if found else None


def check_stronger(voice: Path, text: str, *, backend: Any = None, lora: float = STRONGER_LORA,
                   diction: float | None = None, seed: int = 0, deadline: float | None = None,
                   should_stop: Callable[[], bool] | None = None, model: str | None = None) -> StrengthCheck:
    """Sample the voice in ``voice`` (its folder) with its LoRA at ``lora`` and its diction at
    ``diction`` (None: the card's) on ``text``'s openings, and read each sample for prose against
    ``text``'s own limit. It samples on ``backend`` where that holds the voice (the app's, as the
    writer hears it: the voice alone at its corner; its point and cards as they were after),
    else on one of its own, opened as the app opens one. The card on disk is the caller's to
    write. Past ``deadline`` (time.perf_counter()) or at ``should_stop``, the factors stay."""
    from dataclasses import replace

    from engine.anchors.loading import load_anchor
    from engine.backends import BackendSpec, open_backend
    from engine.errors import AnchorError
    from engine.models.base import base_info, resolve_model

    started = time.perf_counter()
    anchor = load_anchor(voice, base_info(resolve_model(model)))
    if anchor.card is None:
        raise AnchorError(f"{voice} has no card: not a voice")
    was_lora, was_diction = anchor.calibration, anchor.diction_calibration
    diction = was_diction if diction is None else diction

    def late() -> bool:
        return (deadline is not None and time.perf_counter() > deadline) or bool(should_stop and should_stop())

    def kept(why: str, prose: int = 0, samples: int = 0, limit: float = float("nan"),
             ppl: tuple[float, ...] = ()) -> StrengthCheck:
        return StrengthCheck(was_lora, was_diction, prose, samples, limit, time.perf_counter() - started, why, ppl)

    if deadline is not None and deadline - started < MIN_SECONDS:
        return kept(f"no time was left to try the voice stronger: it keeps {was_lora:g}")
    at = _voice_on(backend, voice)
    own = at is None
    if own:
        backend, at = open_backend(BackendSpec(model=model), [anchor]), 0
    target = backend.anchors[at]
    saved = target.card
    target.card = replace(target.card or anchor.card, calibration=lora, diction_calibration=diction)
    corner = [1.0 if i == at else 0.0 for i in range(len(backend.anchors))]
    try:
        backend.set_weights(corner)
        samples = _samples(backend, text, seed, late)
    finally:
        target.card = saved
        if own:
            backend.close()
        else:  # at strength 0 no card's factor counts: the point it keeps is true of its cards again
            backend.set_weights(corner, strength=0.0)
    if late():
        return kept(f"the check stopped before its samples were read: the voice keeps {was_lora:g}")
    limit, ppl = _read(samples, text, model, str(anchor.card.training.get("precision", "fp32")), late)
    if late() or limit != limit:
        return kept(f"the check was stopped as its samples were read: the voice keeps {was_lora:g}")
    prose = sum(p <= limit for p in ppl)
    if prose < MIN_PROSE_SHARE * len(samples):
        return kept(f"with its LoRA at {lora:g}, {prose} of {len(samples)} samples stayed prose: "
                    f"the voice keeps {was_lora:g}", prose, len(samples), limit, ppl)
    return StrengthCheck(lora, diction, prose, len(samples), limit, time.perf_counter() - started,
                         f"with its LoRA at {lora:g}, {prose} of {len(samples)} samples stayed prose: "
                         f"the voice takes {lora:g}", ppl)


def _read(samples: list[str], text: str, model: str | None, precision: str,
          late: Callable[[], bool]) -> tuple[float, tuple[float, ...]]:
    """The page's prose limit and each sample's perplexity under the base model (inf: degenerate
    or faulty), a NaN limit when stopped as they were read (asked between the two readings).
    The judge is the base on torch in the voice's ``precision`` ("bf16" or "fp32", its card's),
    which reads a text in one pass: llama.cpp scores one token at a time, and reading the page's
    passages took most of the check there."""
    from engine.backends import BackendSpec, open_backend
    from engine.fluency import degenerate, typesetting_faults

    dtype = "bfloat16" if precision == "bf16" else "float32"
    judge = open_backend(BackendSpec(model=model, backend="torch", device="cpu", dtype=dtype))
    try:
        limit = float(np.quantile(_perplexities(judge, page_windows(text)), PROSE_QUANTILE))
        if late():
            return float("nan"), ()
        readable = [degenerate(s) is None and not typesetting_faults(s) for s in samples]
        scored = iter(_perplexities(judge, [s for s, ok in zip(samples, readable) if ok]))
        return limit, tuple(next(scored) if ok else float("inf") for ok in readable)
    finally:
        judge.close()
