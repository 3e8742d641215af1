"""Candidates in one llama.cpp context: one KV stream per candidate, the prompt evaluated once.

A `Streams` context is made beside the backend's own (the same model, so merged weights are
shared) with ``n_seq_max`` = K and ``kv_unified`` off: each candidate's cache is a separate
stream laid out exactly as a single generation's, so the attention sums run in the same order.
The prompt is evaluated in stream 0 and copied to the others (``llama_memory_seq_cp``).

Whether the candidates' next tokens can share one ``llama_decode`` depends on the kernels:
measured here (llama-cpp-python 0.3.36, AVX512 CPU), BF16, F16 and Q8_0 matrices give a row
evaluated alone other roundings than the same row in a batch of two or more (tinyBLAS takes
the batch), while Q4_1 matrices give identical rows. So `rows_batch_invariant` checks it
once per model: where rows agree, each step decodes all candidates in one batch; where they
do not, candidate i would no longer give the text of a single generation with its seed, and
the backend runs the candidates one after another instead (the prompt still evaluated once,
through the kept prefix). With runtime LoRA adapters active they always do: there the check
of four steps passed, and shared candidates still left their single generations' text after
8-14 tokens (a check of 32 steps saw rows differ), so no check of a few steps can clear them.
"""
from __future__ import annotations

import codecs
import logging
import os
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from engine.backends.generation import Piece
from engine.sampling import SamplingConfig
from engine.backends import llama_private as private

log = logging.getLogger("engine.backends.llama_cpp")
CELLS = 256  # llama.cpp pads a stream's attention span to this many cells


def common_prefix(a: Sequence[object], b: Sequence[object]) -> int:
    """The length of the longest common prefix of two token (or token text) lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def prompt_batches(n: int, n_batch: int) -> list[int]:
    """Sizes of the batches that evaluate ``n`` prompt tokens: at most ``n_batch`` each, and
    none of a single row unless the whole prompt is one token (llama.cpp computes a lone row
    with another kernel, which rounds differently)."""
    if n <= 0:
        return []
    sizes = [n_batch] * (n // n_batch) + ([n % n_batch] if n % n_batch else [])
    if len(sizes) > 1 and sizes[-1] == 1:
        sizes[-2:] = [sizes[-2] - 1, 2]
    return sizes


def split_invariant(llm: Any) -> bool:
    """Whether a prompt split into batches (of at least two rows) gives bit-identical logits
    to the prompt in one batch, on this build and device (checked on ``llm``'s own context)."""
    import llama_cpp

    n_vocab = llm.n_vocab()
    n = min(48, llm.n_ctx())
    probe = [t % n_vocab for t in range(1000, 1000 + n)]

    def logits(sizes: list[int]) -> np.ndarray:
        llm.reset()
        start = 0
        for size in sizes:
            llm.eval(probe[start:start + size])
            start += size
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(private.ctx(llm), -1),
                                     shape=(n_vocab,)).copy()

    same = bool(np.array_equal(logits([n]), logits([2, n - 2 - n // 2, n // 2])))
    llm.reset()
    if not same:
        log.info("llama.cpp's batched kernels round differently by batch size here: every "
                 "prompt is evaluated whole")
    return same


def kv_bytes_per_token(metadata: dict[str, str]) -> int:
    """Bytes of F16 KV cache one token takes in every layer, from the GGUF metadata."""
    arch = metadata.get("general.architecture", "llama")

    def meta(key: str, default: int) -> int:
        return int(metadata.get(f"{arch}.{key}", default))

    layers, embd = meta("block_count", 0), meta("embedding_length", 0)
    heads = meta("attention.head_count", 1)
    kv_heads = meta("attention.head_count_kv", heads)
    return layers * 2 * kv_heads * (embd // max(heads, 1)) * 2


def available_memory() -> int:
    """Bytes the system can still give (MemAvailable), or 0 where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def stream_cells(tokens: int) -> int:
    """Cells one candidate's stream needs for ``tokens`` (prompt plus output)."""
    return -(-tokens // CELLS) * CELLS


class Streams:
    """A llama.cpp context with ``k`` separate KV streams of ``cells`` cells each."""

    def __init__(self, llm: Any, k: int, cells: int):
        import llama_cpp

        params = llama_cpp.llama_context_default_params()
        for name, _ in params._fields_:
            setattr(params, name, getattr(llm.context_params, name))
        params.n_seq_max, params.kv_unified, params.n_ctx = k, False, k * cells
        self.k, self.cells = k, cells
        self._context = private.new_context(llm, params)
        self.ctx = self._context.ctx
        self._memory = llama_cpp.llama_get_memory(self.ctx)
        self._n_vocab = llm.n_vocab()

    def fits(self, k: int, cells: int) -> bool:
        return self.k >= k and self.cells >= cells

    def clear(self) -> None:
        import llama_cpp

        llama_cpp.llama_memory_clear(self._memory, True)

    def decode(self, rows: Sequence[tuple[int, int, int, bool]]) -> None:
        """Evaluate rows of (token, position, stream, wants logits); RuntimeError if it
        fails (an abort included)."""
        import llama_cpp

        batch = llama_cpp.llama_batch_init(len(rows), 0, 1)
        try:
            batch.n_tokens = len(rows)
            for j, (token, position, stream, wants) in enumerate(rows):
                batch.token[j], batch.pos[j] = token, position
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = stream
                batch.logits[j] = wants
            code = llama_cpp.llama_decode(self.ctx, batch)
        finally:
            llama_cpp.llama_batch_free(batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")

    def copy_stream(self, source: int, target: int) -> None:
        import llama_cpp

        llama_cpp.llama_memory_seq_cp(self._memory, source, target, -1, -1)

    def drop_from(self, stream: int, position: int) -> None:
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self._memory, stream, position, -1)

    def logits(self, row: int) -> np.ndarray:
        import llama_cpp

        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, row),
                                     shape=(self._n_vocab,)).copy()

    def sample(self, sampler: Any, row: int) -> int:
        """The token ``sampler`` (a llama-cpp-python LlamaSampler) draws from ``row``."""
        return int(sampler.sample(self._context, row))

    def set_abort(self, callback: Any) -> None:
        import llama_cpp

        llama_cpp.llama_set_abort_callback(self.ctx, callback, None)

    def set_adapters(self, adapters: Any, scales: Any, n: int) -> bool:
        import llama_cpp

        return llama_cpp.llama_set_adapters_lora(self.ctx, adapters if n else None, n,
                                                 scales if n else None) == 0

    def close(self) -> None:
        self._context.close()


def rows_batch_invariant(streams: Streams, n_vocab: int, steps: int = 4) -> bool:
    """Whether rows evaluated alone give bit-identical logits to the same rows evaluated in
    batches of two, over several steps (candidates may then share each llama_decode). One
    step is not enough: with runtime LoRA adapters the first shared step agreed here and the
    second did not."""
    probe = [t % n_vocab for t in range(1000, 1040)]
    follow = [(77 + 31 * k) % n_vocab for k in range(steps)]
    other = [(1234 + 17 * k) % n_vocab for k in range(steps)]
    streams.clear()
    streams.decode([(t, j, 0, False) for j, t in enumerate(probe)])
    streams.copy_stream(0, 1)
    start = len(probe)
    alone = []
    for k, token in enumerate(follow):
        streams.decode([(token, start + k, 0, True)])
        alone.append(streams.logits(0))
    streams.drop_from(0, start)
    same = True
    for k, token in enumerate(follow):
        streams.decode([(token, start + k, 0, True), (other[k], start + k, 1, True)])
        same = same and bool(np.array_equal(alone[k], streams.logits(0)))
    streams.clear()
    return same


def logprob_of(logits: np.ndarray, token: int) -> float:
    """log p(token) under raw logits."""
    values = logits.astype(np.float64)
    top = values.max()
    return float(values[token] - top - np.log(np.exp(values - top).sum()))


def top_of(logits: np.ndarray, k: int, text: Callable[[int], str]) -> tuple[tuple[str, float], ...]:
    """The k tokens of highest logit as (text, log p), most likely first."""
    values = logits.astype(np.float64)
    top = values.max()
    norm = top + np.log(np.exp(values - top).sum())
    ids = np.argpartition(-values, k)[:k]
    ids = ids[np.argsort(-values[ids])]
    return tuple((text(int(t)), float(values[t] - norm)) for t in ids)


class StepBias:
    """A voice's diction as each step applies it (``at``: the backend's `_diction_at`, given the
    tokens so far), kept for that step's log p and alternatives: what the sampler saw."""

    def __init__(self, at: Callable[[Sequence[int]], np.ndarray | None]) -> None:
        self.at = at
        self.last: np.ndarray | None = None

    def __call__(self, context: Sequence[int]) -> np.ndarray | None:
        self.last = self.at(context)
        return self.last


def logits_processors(forbid: frozenset[int] = frozenset(), bias: StepBias | None = None,
                      context: Callable[[], Sequence[int]] | None = None) -> Any:
    """llama-cpp-python logits processors (None where there is nothing to do): ``forbid`` ruled
    out of the first sampled token only (a phrase ban's rewind), and ``bias`` (a voice's
    diction at the point, as the step after the tokens so far applies it) added to every step's
    logits. The tokens so far are the ones llama-cpp-python passes, or ``context()`` (a
    candidate's own, where several share one context)."""
    from llama_cpp import LogitsProcessorList

    processors: list[Callable[[Any, Any], Any]] = []
    if forbid:
        ids = np.fromiter(sorted(forbid), dtype=np.int64)
        calls = [0]

        def ban(_input_ids: Any, scores: Any) -> Any:
            if calls[0] == 0:
                scores[ids] = -np.inf
            calls[0] += 1
            return scores
        processors.append(ban)
    if bias is not None:
        def add(input_ids: Any, scores: Any) -> Any:
            step = bias(input_ids if context is None else context())
            return scores if step is None else scores + step
        processors.append(add)
    return LogitsProcessorList(processors) if processors else None


def with_bias(logits: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """A step's logits as the sampler sees them: with the voices' diction, where there is one."""
    return logits if bias is None else logits + bias


def sampler_args(sampling: SamplingConfig) -> dict[str, float]:
    """The sampler chain's settings, for llm.generate (a single generation) and
    llm._init_sampler (each candidate): one place, since candidate i must sample as a single
    generation with its seed does."""
    return dict(top_k=sampling.top_k, top_p=sampling.top_p, min_p=0.0,
                temp=sampling.temperature, repeat_penalty=sampling.repetition_penalty)


def _so_far(history: list[int]) -> Callable[[], Sequence[int]]:
    """A candidate's tokens so far, as its logits processor reads them at each step."""
    return lambda: history


def decode_together(streams: Streams, llm: Any, tokens: list[int], sampling: SamplingConfig,
                    seeds: list[int], max_tokens: int, logprobs: bool, done: set[int],
                    stop_requested: Callable[[], bool], chunk: int,
                    bias: Callable[[Sequence[int]], np.ndarray | None] | None = None
                    ) -> Iterator[tuple[int, Piece | None]]:
    """K candidates step by step, all of a step's rows in one llama_decode: (i, piece)
    events, (i, None) when candidate i ends; ``done`` holds the ones the caller finished.
    ``bias``: the voices' diction after a candidate's tokens so far (`StepBias`)."""
    import llama_cpp

    streams.clear()
    position = 0
    size = 0
    for size in prompt_batches(len(tokens), chunk):  # the batches a single generation uses
        if stop_requested():
            return
        streams.decode([(t, position + j, 0, position + j == len(tokens) - 1)
                        for j, t in enumerate(tokens[position:position + size])])
        position += size
    for i in range(1, len(seeds)):
        streams.copy_stream(0, i)
    samplers = []
    histories = [list(tokens) for _ in seeds]  # each candidate's tokens so far
    applied = [StepBias(bias) if bias is not None else None for _ in seeds]
    for i, seed in enumerate(seeds):  # the chain llm.generate builds, with this seed
        llm.set_seed(seed)
        samplers.append(private.sampler(llm, **sampler_args(sampling), logits_processor=logits_processors(
            bias=applied[i], context=_so_far(histories[i]))))
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    decoders = [codecs.getincrementaldecoder("utf-8")(errors="replace") for _ in seeds]
    rows = {i: size - 1 for i in range(len(seeds))}  # each one's row in the last batch
    counts = [0] * len(seeds)
    while rows:
        step = []
        for i, row in rows.items():
            token = streams.sample(samplers[i], row)
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                yield i, None
                continue
            counts[i] += 1
            step_bias = applied[i]
            yield i, Piece(decoders[i].decode(llm.detokenize([token], special=False)),
                           logprob_of(with_bias(streams.logits(row), step_bias.last if step_bias else None), token)
                           if logprobs else None)
            histories[i].append(token)
            if counts[i] >= max_tokens:
                yield i, None
            elif i not in done:
                step.append((token, position, i, True))
        if not step or stop_requested():
            return
        streams.decode(step)
        rows = {i: j for j, (_, _, i, _) in enumerate(step)}
        position += 1
