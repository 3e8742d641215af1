"""llama.cpp backend: a GGUF base (possibly quantized) with the anchors merged or attached.

Two ways to apply the anchors, chosen at load (``anchors_applied``):

- "merged" (the default where possible: Linux, CPU): the model runs from a working copy in
  shared memory whose target matrices are rewritten on every weight change
  (engine/llama_merge.py), so decoding costs what the base costs.
- "runtime": each anchor is a llama.cpp LoRA adapter and a weight change sets the adapters'
  scales; anchors at weight 0 are left out of the active set. Used on other platforms, with
  GPU offload, for models too large to copy, or when asked for (merge=False or
  PROSEMIX_LLAMA_MERGE=0).

Either way a weight change resets the prompt/KV cache: llama.cpp does not invalidate it, so
without the reset the next text would silently reflect the old weights. While the weights stay,
the prefix a prompt shares with the last one is kept (`_prefill`), where llama.cpp's kernels
give the same numbers however a prompt is batched (checked at load): Continue in a long
document then evaluates only what changed, and still gives the same text as a fresh run.
"""
from __future__ import annotations

import codecs
import collections
import ctypes
import logging
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engine.anchors.gguf_lora import write_gguf_lora
from engine.anchors.model import Anchor
from engine.errors import AnchorError, BackendUnavailable, ModelError
from engine.models.base import BaseInfo
from engine.paths import cache_dir
from engine.sampling import DEFAULT_N_CTX, SamplingConfig
from engine.backends.base import Backend, Piece, Progress

log = logging.getLogger(__name__)
_recent_log: collections.deque[str] = collections.deque(maxlen=40)
# ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (a continued line)
_LOG_LEVELS = {3: logging.WARNING, 4: logging.ERROR}
_log_callback = None  # kept alive for as long as llama.cpp may call it
_aborted = False  # the last evaluation was stopped by our abort callback (its errors are expected)


def gguf_for(anchor: Anchor, base: BaseInfo, cache: Path) -> Path:
    """A GGUF LoRA file for ``anchor``: its own, or one converted once into ``cache``."""
    if anchor.gguf_path is not None:
        return anchor.gguf_path
    import hashlib

    digest = hashlib.sha256()
    for module, f in sorted(anchor.factors.items()):
        digest.update(module.encode())
        digest.update(np.ascontiguousarray(f.A).tobytes())
        digest.update(np.ascontiguousarray(f.B).tobytes())
        digest.update(repr(f.scale).encode())
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"{anchor.name}-{digest.hexdigest()[:16]}.gguf"
    if not out.is_file():
        write_gguf_lora(anchor, base, out)
    return out


# Tokens per prompt batch. On the embedded model's BF16 working copy here, a 384-token prompt
# evaluated at 626 / 730 / 776 / 797 / 697 tok/s in batches of 32 / 64 / 128 / 256 / 512
# (docs/benchmarks.md). A cancel does not wait for a batch: llama.cpp's abort callback stops it
# between two operations of the graph (`_abort`).
PREFILL_CHUNK = 256


class _Stopped(Exception):
    """The generation was cancelled while its prompt was being evaluated."""


def common_prefix(a: list[int], b: list[int]) -> int:
    """The length of the longest common prefix of two token lists."""
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


def _install_log_capture(llama_cpp: object) -> None:
    """Route llama.cpp's log into Python logging and keep the last lines, so that an
    error can quote llama.cpp's own reason."""
    global _log_callback
    if _log_callback is not None:
        return

    @llama_cpp.llama_log_callback  # type: ignore[attr-defined]  # llama_cpp is a module passed in
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace")
        _recent_log.append(line)
        # an evaluation we aborted ourselves (a cancel) is reported as a failure: not a problem
        quiet = _aborted and level in (3, 4)
        log.log(logging.DEBUG if quiet else _LOG_LEVELS.get(level, logging.DEBUG),
                "llama.cpp: %s", line.rstrip())

    _log_callback = callback
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))  # type: ignore[attr-defined]  # as above


def _llama_reason() -> str:
    lines = [l.strip() for l in _recent_log if l.strip()]
    errors = [l for l in lines if "error" in l.lower() or "fail" in l.lower() or "invalid" in l.lower()]
    return (errors or lines or ["no reason given"])[-1]


class LlamaCppBackend(Backend):
    name = "llama"

    def __init__(self, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None,
                 n_gpu_layers: int = 0, merge: bool | None = None,
                 working_copy: str = "auto") -> None:
        super().__init__(n_ctx)
        self.working_copy = working_copy  # the merged working copy's layout (llama_merge)
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self.n_gpu_layers = n_gpu_layers
        if merge is None and os.environ.get("PROSEMIX_LLAMA_MERGE", "").strip() in ("0", "1"):
            merge = os.environ["PROSEMIX_LLAMA_MERGE"].strip() == "1"
        self.merge = merge  # None: merged where possible
        self.anchors_applied, self.anchors_reason = "runtime", "no model loaded"
        # llama_cpp objects (typed Any: llama-cpp-python ships no types for these)
        self._llm: Any = None
        self._adapters: list[Any] = []
        self._shared: Any = None
        self._merger: Any = None
        self._vocab: Any = None
        self._abort_callback: Any = None  # kept alive while llama.cpp holds it
        self._streaming = False  # a generation runs: a cancel may abort its evaluations
        # the last prompt, whose KV entries are in the cache (a prefix of it can be kept)
        self._prompt_tokens: list[int] = []
        self.split_invariant = False  # checked at load; PROSEMIX_PROMPT_CACHE=0 turns it off

    def _choose_mode(self, path: Path) -> tuple[str, str]:
        from engine.backends.llama_merge import merge_supported

        if not self.anchors:
            return "runtime", "no anchors"
        if self.merge is False:
            return "runtime", "merged anchors turned off"
        reason = merge_supported()
        if reason is None and self.n_gpu_layers:
            reason = "layers are offloaded to a GPU"
        if reason is None:
            try:
                ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            except (ValueError, OSError, AttributeError):
                ram = 0
            # the working copy (the file, its targets now F16) plus the targets in fp32 for
            # merging: keep that within half the memory
            if ram and self.merge_memory(path) > ram // 2:
                reason = "the model is too large to keep a working copy in memory"
        if reason is not None:
            if self.merge:
                raise ModelError(f"merged anchors are not possible here: {reason}")
            return "runtime", reason
        return "merged", "target matrices rewritten in shared memory on each weight change"

    def merge_memory(self, path: Path) -> int:
        """Bytes that merged anchors would hold on top of nothing: the working copy (at most
        the file plus 2 bytes per target weight) and the fp32 base targets (4 bytes each)."""
        assert self.base is not None
        targets = {m for a in self.anchors for m in a.factors}
        weights = sum(out * inp for out, inp in (self.base.module_shape(m) or (0, 0)
                                                 for m in targets))
        return path.stat().st_size + 6 * weights

    def _load_model(self, path: Path, progress: Progress) -> None:
        try:
            import llama_cpp
            from llama_cpp import Llama
        except ImportError as exc:
            raise BackendUnavailable(f"the llama backend needs llama-cpp-python: {exc}") from None
        _install_log_capture(llama_cpp)
        if self.n_gpu_layers and not llama_cpp.llama_supports_gpu_offload():
            raise BackendUnavailable(
                f"{self.n_gpu_layers} GPU layers were asked for, but this llama-cpp-python build "
                "has no GPU support; reinstall it with CMAKE_ARGS=\"-DGGML_CUDA=on\" (or Metal, "
                "Vulkan), or use 0 GPU layers")
        self.device = f"gpu ({self.n_gpu_layers} layers)" if self.n_gpu_layers else "cpu"
        if path.is_dir():
            raise ModelError(f"the llama backend needs a GGUF file, not the folder {path}")
        self.anchors_applied, self.anchors_reason = self._choose_mode(path)
        model_path = str(path)
        if self.anchors_applied == "merged":
            from engine.backends.llama_merge import (SharedModel, choose_layout,
                                                     target_tensors, working_base)
            from engine.models.base import embedded_model_path

            try:
                layout = choose_layout(self.working_copy, path.resolve() == embedded_model_path().resolve())
                working = working_base(path, target_tensors(self.anchors),
                                       cache_dir() / "working-base",
                                       lambda message: progress(message, 0.1), layout)
                self.anchors_reason += f"; other matrices: {layout}"
                self._shared = SharedModel(working)
                model_path = self._shared.path
            except (OSError, ModelError) as exc:  # e.g. a full disk or an unknown quant type
                if self.merge:
                    raise ModelError(f"merged anchors are not possible here: {exc}") from None
                log.warning("merged anchors unavailable, using runtime adapters: %s", exc)
                self.anchors_applied, self.anchors_reason = "runtime", f"merged anchors unavailable: {exc}"
        progress(f"loading {path.name}", 0.2)
        _recent_log.clear()
        try:
            self._llm = Llama(model_path=model_path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                              n_gpu_layers=self.n_gpu_layers, use_mmap=True, verbose=False,
                              seed=0)
        except (ValueError, RuntimeError) as exc:
            self._close_model()
            raise ModelError(f"llama.cpp cannot load {path}: {_llama_reason()} ({exc})") from None
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        self._abort_callback = llama_cpp.ggml_abort_callback(self._abort)
        llama_cpp.llama_set_abort_callback(self._llm._ctx.ctx, self._abort_callback, None)
        self._prompt_tokens = []
        self.split_invariant = (os.environ.get("PROSEMIX_PROMPT_CACHE", "").strip() != "0"
                                and self._check_split_invariance())

    def _is_loaded(self) -> bool:
        return self._llm is not None

    def _close_model(self) -> None:
        if self._llm is not None:
            import llama_cpp

            llama_cpp.llama_set_adapters_lora(self._llm._ctx.ctx, None, 0, None)
            for adapter in self._adapters:
                llama_cpp.llama_adapter_lora_free(adapter)
            self._llm.close()
        if self._merger is not None:
            self._merger.close()
        if self._shared is not None:
            self._shared.close()  # after llama.cpp has unmapped it
        self._llm, self._adapters, self._vocab = None, [], None
        self._shared, self._merger = None, None

    def _attach_anchors(self) -> None:
        import llama_cpp

        assert self._llm is not None and self.base is not None
        if self.anchors_applied == "merged":
            from engine.backends.llama_merge import DenseMerger

            assert self._shared is not None
            self._merger = DenseMerger(self._shared, self.anchors, self.base, self.n_threads)
            return
        for anchor in self.anchors:
            try:
                path = gguf_for(anchor, self.base, cache_dir() / "gguf-lora")
            except OSError as exc:
                raise AnchorError(f"cannot write the GGUF form of anchor {anchor.name!r} into "
                                  f"the cache: {exc}") from None
            _recent_log.clear()
            adapter = llama_cpp.llama_adapter_lora_init(self._llm.model, str(path).encode())
            # llama-cpp-python's own check is `is None`, but a failed init returns a NULL
            # pointer object, which is not None: test its truth value instead.
            if not adapter:
                raise AnchorError(f"llama.cpp refused the LoRA {path} of anchor "
                                  f"{anchor.name!r}: {_llama_reason()}")
            self._adapters.append(adapter)

    def _apply_weights(self, values: tuple[float, ...]) -> None:
        import llama_cpp

        assert self._llm is not None
        if self._merger is not None:
            self._merger.set_weights(values)
            self._forget_prompt()  # the KV cache was computed with the old weights
            return
        active = [(a, w) for a, w in zip(self._adapters, values) if w != 0.0]
        n = len(active)
        adapters = (llama_cpp.llama_adapter_lora_p_ctypes * max(n, 1))(*[a for a, _ in active])
        scales = (ctypes.c_float * max(n, 1))(*[w for _, w in active])
        if llama_cpp.llama_set_adapters_lora(self._llm._ctx.ctx, adapters if n else None, n,
                                             scales if n else None):
            raise AnchorError(f"llama.cpp could not set the adapter scales: {_llama_reason()}")
        self._forget_prompt()  # the KV cache was computed with the old weights

    def _forget_prompt(self) -> None:
        assert self._llm is not None
        self._llm.reset()
        self._prompt_tokens = []

    def _tokenize(self, text: str) -> list[int]:
        assert self._llm is not None
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def _token_pieces(self, tokens: list[int], sampling: SamplingConfig, max_tokens: int,
                      logprobs: bool) -> Iterator[Piece]:
        global _aborted
        assert self._llm is not None
        self._llm.set_seed(sampling.seed)
        self._streaming, _aborted = True, False
        try:
            yield from self._stream_tokens(tokens, sampling, max_tokens, logprobs)
        finally:
            self._streaming = False

    def _stream_tokens(self, tokens: list[int], sampling: SamplingConfig, max_tokens: int,
                       logprobs: bool) -> Iterator[Piece]:
        import llama_cpp

        llm = self._llm
        assert llm is not None
        try:
            last_batch = self._prefill(tokens)
        except _Stopped:
            return
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        generator = llm.generate(
            last_batch, top_k=sampling.top_k, top_p=sampling.top_p, min_p=0.0,
            temp=sampling.temperature, repeat_penalty=sampling.repetition_penalty, reset=False)
        try:
            for count, token in enumerate(generator, start=1):
                if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    return
                yield Piece(decoder.decode(llm.detokenize([token], special=False)),
                            self._last_logprob(token) if logprobs else None)
                if count >= max_tokens:
                    return
        except RuntimeError as exc:
            self._raise_unless_cancelled(exc)
        finally:
            generator.close()

    def _raise_unless_cancelled(self, exc: RuntimeError) -> None:
        """llama_decode failed: because a cancel aborted it (`_abort`), or for a real reason."""
        if not self._stop_requested():
            raise ModelError(f"llama.cpp could not evaluate: {_llama_reason()} ({exc})") from None

    def _prefill(self, tokens: list[int]) -> list[int]:
        """Evaluate the prompt but for its last batch, which is returned for generate() to
        evaluate and sample from.

        The prefix this prompt shares with the last one is kept when this build's kernels give
        the same numbers however a prompt is split into batches (``split_invariant``, checked
        at load): then a cached prefix is bit-identical to a fresh evaluation and the same
        point, seed and prompt still give the same text. Only rows evaluated alone differ (a
        one-row batch takes another kernel), so no prompt batch is ever a single row: the
        batches come from `prompt_batches`, and at least two tokens are always evaluated.

        The prompt goes in batches of PREFILL_CHUNK tokens; a cancel (a new point while the
        handle is dragged) is heard between them and, through `_abort`, inside them."""
        llm = self._llm
        assert llm is not None
        reuse = 0
        if self.split_invariant and self._prompt_tokens:
            reuse = min(common_prefix(self._prompt_tokens, tokens), llm.n_tokens, len(tokens) - 2)
        self._prompt_tokens = tokens[:max(reuse, 0)]  # what the cache holds of this prompt
        llm.n_tokens = len(self._prompt_tokens)
        self.reused_tokens = llm.n_tokens
        sizes = prompt_batches(len(tokens) - llm.n_tokens, min(PREFILL_CHUNK, llm.n_batch))
        position = llm.n_tokens
        for size in sizes[:-1]:
            if self._stop_requested():
                raise _Stopped
            try:
                llm.eval(tokens[position:position + size])
            except RuntimeError as exc:
                self._raise_unless_cancelled(exc)
                raise _Stopped from None
            position += size
            self._prompt_tokens = tokens[:position]
        self._prompt_tokens = list(tokens)
        return tokens[position:]

    def _abort(self, _data: object) -> bool:
        """llama.cpp asks this between the operations of an evaluation: True stops it (its
        llama_decode then fails), so a cancel is heard within a layer, not after a batch."""
        global _aborted
        stop = self._streaming and self._stop_requested()
        _aborted = _aborted or stop
        return stop

    def _check_split_invariance(self) -> bool:
        """Whether a prompt split into batches (of at least two rows) gives bit-identical
        logits to the prompt in one batch, on this build and device."""
        import llama_cpp

        llm = self._llm
        assert llm is not None
        n_vocab = llm.n_vocab()
        n = min(48, self.n_ctx)
        probe = [t % n_vocab for t in range(1000, 1000 + n)]

        def logits(sizes: list[int]) -> np.ndarray:
            llm.reset()
            start = 0
            for size in sizes:
                llm.eval(probe[start:start + size])
                start += size
            return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1),
                                         shape=(n_vocab,)).copy()

        same = bool(np.array_equal(logits([n]), logits([2, n - 2 - n // 2, n // 2])))
        llm.reset()
        if not same:
            log.info("llama.cpp's batched kernels round differently by batch size here: every "
                     "prompt is evaluated whole")
        return same

    def _last_logprob(self, token: int) -> float:
        """log p(token) under the logits it was just sampled from (still in the context)."""
        import llama_cpp
        import numpy as np

        assert self._llm is not None
        n_vocab = self._llm.n_vocab()
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._llm._ctx.ctx, -1),
                                       shape=(n_vocab,)).astype(np.float64)
        top = logits.max()
        return float(logits[token] - top - np.log(np.exp(logits - top).sum()))

    def _score_tokens(self, tokens: list[int]) -> list[float]:
        assert self._llm is not None
        llm = self._llm
        self._forget_prompt()
        out = []
        llm.eval(tokens[:1])
        for token in tokens[1:]:
            out.append(self._last_logprob(token))
            llm.eval([token])
        self._forget_prompt()  # the next generation must not reuse this text's KV entries
        return out

    def _chat_template(self) -> str | None:
        assert self._llm is not None
        return self._llm.metadata.get("tokenizer.chat_template")

    def _special(self, which: str) -> str:
        assert self._llm is not None
        token = self._llm.token_bos() if which == "bos" else self._llm.token_eos()
        if token < 0:
            return ""
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="replace")
