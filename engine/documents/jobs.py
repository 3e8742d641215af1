"""A generation to run, and the one function that runs it on a backend.

The desk hands back `Job`s; so do the window's Generate and Compare tabs. The window's worker
thread and the command line both run them with `run_job`, so a job gets the same point, context,
bans and candidates wherever it runs."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from engine.backends.bans import stream_with_bans
from engine.backends.generation import Finish, GenerationResult
from engine.documents.context import Context, DocumentContext, context_for
from engine.documents.tokens import Alts
from engine.sampling import SamplingConfig
from engine.weights import Point


@dataclass(frozen=True, eq=False)
class Job:
    """A generation to run. ``prompt`` is the text the passage continues; with ``document`` the
    runner builds the context from it (memory, lorebook, style window, note), without it (the
    Generate tab, an instruction's rewrite) the prompt is sent as it is."""

    prompt: str
    point: Point
    sampling: SamplingConfig
    document: DocumentContext | None = None
    seeds: tuple[int, ...] = ()  # K candidates at once (Retry xK): their pieces by index
    top_logprobs: int = 0
    bans: tuple = ()  # engine.backends.bans.PhraseBan
    preview: bool = False  # a drag's preview (Backend.stream): its text is marked, the exact one follows


@dataclass(frozen=True)
class Outcome:
    """How a job ended, as the runner reports it to the desk."""

    finish: Finish
    token_texts: tuple[str, ...] = ()
    alternatives: tuple[Alts, ...] = ()
    candidates: tuple[Finish, ...] = ()  # a Retry xK: each written candidate's finish, in order


@dataclass(frozen=True)
class JobRun:
    """What running a job gave: one result per candidate (one for a single generation), the
    context it was given, and how its point was read (`Point.note`)."""

    results: list[GenerationResult]
    context: Context | None
    note: str
    candidates: bool = False  # the job asked for seeds: each result is a candidate

    def outcome(self) -> Outcome:
        first = self.results[0]
        return Outcome(Finish(first.finish_reason), tuple(first.token_texts), tuple(first.alternatives),
                       tuple(Finish(r.finish_reason) for r in self.results) if self.candidates else ())


def run_job(backend: Any, job: Job, should_stop: Callable[[], bool] | None,
            on_piece: Callable[[int, str], None], lore: Any = None) -> JobRun:
    """Run ``job`` on ``backend`` in this thread, each piece to ``on_piece(candidate, piece)``.
    ``lore``: the lorebook's block for ``job.prompt``, if the caller has it already."""
    note = backend.set_weights(job.point, preview=job.preview).note if backend.anchors else ""
    backend.pin(job.document.key or None if job.document is not None else None)
    prompt, context = job.prompt, None
    if job.document is not None:
        context = context_for(backend, job.prompt, job.document, job.sampling.max_tokens, lore)
        prompt = context.prompt
    stop = should_stop or (lambda: False)
    results: list[GenerationResult] = []
    if job.seeds and job.bans:  # each candidate is the banned generation of its seed
        for index, seed in enumerate(job.seeds):
            if stop():
                break
            generation = stream_with_bans(backend, prompt, replace(job.sampling, seed=seed), job.bans, stop)
            for piece in generation:
                on_piece(index, piece)
            generation.result.seed = seed
            results.append(generation.result)
        results = results or [GenerationResult(finish_reason=Finish.CANCELLED, seed=job.seeds[0])]
    elif job.seeds:
        run = backend.stream_candidates(prompt, job.sampling, job.seeds, stop)
        for index, piece in run:
            on_piece(index, piece)
        results = list(run.results)
    else:
        generation = stream_with_bans(backend, prompt, job.sampling, job.bans, stop,
                                      top_logprobs=job.top_logprobs if backend.can_top else 0,
                                      preview=job.preview)
        for piece in generation:
            on_piece(0, piece)
        results = [generation.result]
    return JobRun(results, context, note, candidates=bool(job.seeds))
