"""llama.cpp backend: a GGUF base (possibly quantized) with the anchors merged or attached.

Two ways to apply the anchors, chosen at load (``anchors_applied``):

- "merged" (the default where possible: Linux, CPU): the model runs from a working copy in
  shared memory whose target matrices are rewritten on every weight change
  (engine/llama_merge.py), so decoding costs what the base costs. A drag's preview does not
  merge: the anchors are loaded as runtime LoRAs too and set at the move's difference from the
  merged point (`_apply_preview_weights`); the next exact point merges and takes them off.
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
import ctypes
import logging
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engine.anchors.gguf_lora import gguf_for
from engine.errors import AnchorError, BackendUnavailable, ModelError, ProsemixError
from engine.paths import cache_dir
from engine.sampling import DEFAULT_N_CTX, SamplingConfig
from engine.backends.base import Backend, Piece, Progress
from engine.backends.generation import StepOptions
from engine.backends.kv_handoff import torch_split
from engine.backends.llama_merge import merge_mode
from engine.backends.llama_amx import apply as repack_off
from engine.backends.settings import PROMPT_PATHS, EngineSettings
from engine.backends.llama_log import install_log_capture, llama_reason, recent_log, state
from engine.backends.llama_streams import (CELLS, StepBias, Streams, available_memory, common_prefix,
                                           kv_bytes_per_token, logprob_of, prompt_batches,
                                           decode_together, logits_processors, rows_batch_invariant, top_of,
                                           sampler_args, split_invariant, stream_cells, with_bias)
from engine.backends import llama_private as private

log = logging.getLogger(__name__)


# Tokens per prompt batch. On the embedded model's BF16 working copy here, a 384-token prompt
# evaluated at 626 / 730 / 776 / 797 / 697 tok/s in batches of 32 / 64 / 128 / 256 / 512
# (docs/benchmarks.md). A cancel does not wait for a batch: llama.cpp's abort callback stops it
# between two operations of the graph (`_abort`).
PREFILL_CHUNK = 256


class _Stopped(Exception):
    """The generation was cancelled while its prompt was being evaluated."""


class LlamaCppBackend(Backend):
    name = "llama"
    can_forbid = True
    can_top = True
    can_preview = True

    def __init__(self, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None,
                 n_gpu_layers: int = 0, merge: bool | None = None,
                 working_copy: str = "auto", prompt_path: str | None = None,
                 settings: EngineSettings | None = None) -> None:
        super().__init__(n_ctx)
        self.settings = settings = settings or EngineSettings.from_environment()
        self.working_copy = working_copy  # the merged working copy's layout (llama_merge)
        # who evaluates prompts: llama.cpp, or torch with the KV handed over (kv_handoff);
        # "auto": the layout probe's choice for the embedded model, else llama
        self.prompt_path = prompt_path or settings.prompt_path
        if self.prompt_path not in PROMPT_PATHS:
            raise ProsemixError(f"the prompt path must be one of {PROMPT_PATHS}, got {self.prompt_path!r}")
        self.prompt_path_reason = "no model loaded"
        self._torch_prompt: Any = None  # kv_handoff.TorchPrompt while torch evaluates prompts
        self._cache_from_torch = False  # the KV cache's prompt came from torch (no llama.cpp reuse)
        self._vector_on = False  # a control vector is set (llama.cpp evaluates prompts then)
        self._load_progress: Progress = lambda message, fraction: None
        self.layout_choice: Any = None  # layout_probe.LayoutChoice, when "auto" measured it
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self.n_gpu_layers = n_gpu_layers
        self.merge = settings.merge if merge is None else merge  # None: merged where possible
        self.anchors_applied, self.anchors_reason = "runtime", "no model loaded"
        # llama_cpp objects (typed Any: llama-cpp-python ships no types for these)
        self._llm: Any = None
        self._adapters: list[Any] = []
        # merged: the anchors as runtime LoRAs too, for a drag's preview, which adds the new
        # point's difference from the merged one instead of merging (_apply_preview_weights)
        self._preview_adapters: list[Any] = []
        self._preview_keep: tuple[Any, Any, int] | None = None  # the scales set on the context, if any
        self._shared: Any = None
        self._merger: Any = None
        self._vocab: Any = None
        self._abort_callback: Any = None  # kept alive while llama.cpp holds it
        self._cvec: np.ndarray | None = None  # a control vector's data, kept while llama.cpp holds it
        self._streaming = False  # a generation runs: a cancel may abort its evaluations
        # the last prompt, whose KV entries are in the cache (a prefix of it can be kept)
        self._prompt_tokens: list[int] = []
        # a prompt whose KV the context still holds, evaluated at other weights: a preview's start
        self._stale_tokens: list[int] = []
        self.split_invariant = False  # checked at load; settings.prompt_cache False turns it off
        # candidates (llama_streams): their context, made on first use, and whether rows
        # may share a decode (checked then)
        self._streams: Streams | None = None
        self.rows_invariant: bool | None = None
        self._adapter_args: tuple[Any, Any, int] = (None, None, 0)

    def merge_memory(self, path: Path) -> int:
        from engine.backends.llama_merge import merge_memory

        assert self.base is not None
        return merge_memory(path, self.anchors, self.base)

    def _load_model(self, path: Path, progress: Progress) -> None:
        llama_cpp = private.load()
        install_log_capture(llama_cpp)
        repack_off(llama_cpp, choice=self.settings.repack)  # why: docs/dev/decisions/0004-no-amx-repack.md
        self._load_progress = progress  # _start_torch_prompt reports through it too
        if self.n_gpu_layers and not llama_cpp.llama_supports_gpu_offload():
            raise BackendUnavailable(
                f"{self.n_gpu_layers} GPU layers were asked for, but this llama-cpp-python build "
                "has no GPU support; reinstall it with CMAKE_ARGS=\"-DGGML_CUDA=on\" (or Metal, "
                "Vulkan), or use 0 GPU layers")
        self.device = f"gpu ({self.n_gpu_layers} layers)" if self.n_gpu_layers else "cpu"
        if path.is_dir():
            raise ModelError(f"the llama backend needs a GGUF file, not the folder {path}")
        self.anchors_applied, self.anchors_reason = merge_mode(
            self.anchors, self.merge, self.n_gpu_layers, self.merge_memory(path))
        model_path = str(path)
        if self.anchors_applied == "merged":
            from engine.backends.llama_merge import (SharedModel, choose_layout,
                                                     target_tensors, working_base)
            from engine.models.base import embedded_model_path

            try:
                embedded = path.resolve() == embedded_model_path().resolve()
                targets, cache = target_tensors(self.anchors), cache_dir() / "working-base"

                def make(layout: str) -> Any:
                    return working_base(path, targets, cache, lambda message: progress(message, 0.1), layout)

                layout = choose_layout(self.working_copy, embedded)
                if self.working_copy == "auto" and embedded:  # measured on this CPU, once
                    from engine.backends.kv_handoff import torch_pass_timer
                    from engine.backends.layout_probe import choose_by_probe

                    try:
                        self.layout_choice = choose_by_probe(
                            path, targets, cache, self.n_threads, lambda name: make(name).path, layout,
                            progress=lambda message: progress(message, 0.1),
                            torch_pass=torch_pass_timer(path, self.n_threads))
                        layout = self.layout_choice.layout
                    except (OSError, ValueError, RuntimeError, ModelError) as exc:
                        log.warning("the layout probe failed (%s); the working copy keeps %s", exc, layout)
                working = make(layout)
                self.anchors_reason += f"; other matrices: {layout}" + (
                    " (measured on this CPU)" if self.layout_choice is not None else "")
                self._shared = SharedModel(working)
                model_path = self._shared.path
            except (OSError, ModelError) as exc:  # e.g. a full disk or an unknown quant type
                if self.merge:
                    raise ModelError(f"merged anchors are not possible here: {exc}") from None
                log.warning("merged anchors unavailable, using runtime adapters: %s", exc)
                self.anchors_applied, self.anchors_reason = "runtime", f"merged anchors unavailable: {exc}"
        progress(f"loading {path.name}", 0.2)
        recent_log.clear()
        try:
            self._llm = llama_cpp.Llama(model_path=model_path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                                        n_gpu_layers=self.n_gpu_layers, use_mmap=True, verbose=False, seed=0)
        except (ValueError, RuntimeError) as exc:
            self._close_model()
            raise ModelError(f"llama.cpp cannot load {path}: {llama_reason()} ({exc})") from None
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        self._abort_callback = llama_cpp.ggml_abort_callback(self._abort)
        llama_cpp.llama_set_abort_callback(private.ctx(self._llm), self._abort_callback, None)
        self._prompt_tokens, self._stale_tokens = [], []
        self.split_invariant = self.settings.prompt_cache and split_invariant(self._llm)

    def _vocab_size(self) -> int | None:
        return int(self._llm.n_vocab()) if self._llm is not None else None

    def _vocabulary_bytes(self) -> list[bytes | None]:
        assert self._llm is not None
        llm = self._llm
        return [llm.detokenize([t], special=False) for t in range(llm.n_vocab())]

    def _is_loaded(self) -> bool:
        return self._llm is not None

    def _close_model(self) -> None:
        self._close_streams()  # a context before its model
        if self._torch_prompt is not None:
            self._torch_prompt.close()
            self._torch_prompt = None
        if self._llm is not None:
            import llama_cpp

            llama_cpp.llama_set_adapters_lora(private.ctx(self._llm), None, 0, None)
            for adapter in self._adapters + self._preview_adapters:
                llama_cpp.llama_adapter_lora_free(adapter)
            self._llm.close()
        if self._merger is not None:
            self._merger.close()
        if self._shared is not None:
            self._shared.close()  # after llama.cpp has unmapped it
        self._llm, self._adapters, self._vocab = None, [], None
        self._preview_adapters, self._preview_keep = [], None
        self.rows_invariant, self._adapter_args = None, (None, None, 0)
        self._cvec = None
        self._shared, self._merger = None, None

    def _attach_anchors(self) -> None:
        assert self._llm is not None and self.base is not None
        self._start_torch_prompt()
        if self.anchors_applied == "merged":
            from engine.backends.llama_merge import DenseMerger

            assert self._shared is not None
            self._merger = DenseMerger(self._shared, self.anchors, self.base, self.n_threads)
            try:
                self._preview_adapters = self._lora_adapters()
            except AnchorError as exc:  # previews merge too then: slower, not wrong
                log.warning("a drag's preview will merge the anchors: %s", exc)
            return
        self._adapters = self._lora_adapters()

    def _lora_adapters(self) -> list[Any]:
        """Each anchor as a llama.cpp LoRA on the loaded model (all or none)."""
        import llama_cpp

        assert self.base is not None
        adapters: list[Any] = []
        try:
            for anchor in self.anchors:
                try:
                    path = gguf_for(anchor, self.base, cache_dir() / "gguf-lora")
                except OSError as exc:
                    raise AnchorError(f"cannot write the GGUF form of anchor {anchor.name!r} into "
                                      f"the cache: {exc}") from None
                recent_log.clear()
                adapter = llama_cpp.llama_adapter_lora_init(self._llm.model, str(path).encode())
                # llama-cpp-python's own check is `is None`, but a failed init returns a NULL
                # pointer object, which is not None: test its truth value instead.
                if not adapter:
                    raise AnchorError(f"llama.cpp refused the LoRA {path} of anchor "
                                      f"{anchor.name!r}: {llama_reason()}")
                adapters.append(adapter)
        except AnchorError:
            for adapter in adapters:
                llama_cpp.llama_adapter_lora_free(adapter)
            raise
        return adapters

    def _start_torch_prompt(self) -> None:
        """torch evaluates prompts where asked for, or where the layout probe measured it
        quicker ("auto"), and only if this llama.cpp build reads its KV as its own."""
        from engine.backends.kv_handoff import TorchPrompt, handoff_check
        from engine.backends.layout_probe import PROBE_TEXT, PROBE_TOKENS

        assert self._llm is not None and self.base is not None
        wanted = self.prompt_path == "torch" or (
            self.prompt_path == "auto" and self.layout_choice is not None
            and getattr(self.layout_choice, "prompt_path", "llama") == "torch")
        if not wanted:
            self.prompt_path_reason = ("llama.cpp (asked for)" if self.prompt_path == "llama" else
                                       "llama.cpp (measured quicker here)" if self.layout_choice is not None
                                       else "llama.cpp")
            return
        self._load_progress("torch's prompt pass: loading the float model and checking its KV "
                            "hand-over to llama.cpp", 0.92)
        try:
            prompt = TorchPrompt(self.base.path, self.anchors, self.n_threads)
            probe = self._tokenize(PROBE_TEXT)[:PROBE_TOKENS]
            ok, found = handoff_check(self._llm, prompt, probe)
        except (ProsemixError, OSError, RuntimeError) as exc:  # ModelError is a ProsemixError
            ok, found, prompt = False, str(exc), None
        self._forget_prompt()
        if not ok:
            if prompt is not None:
                prompt.close()
            if self.prompt_path == "torch":
                raise ModelError(f"torch cannot evaluate prompts for llama.cpp here: {found}")
            log.warning("torch's prompt pass is not used: %s", found)
            self.prompt_path_reason = f"llama.cpp (torch's hand-over failed its check: {found})"
            return
        self._torch_prompt = prompt
        self.prompt_path_reason = f"torch fp32, KV handed to llama.cpp ({found})"
        self.anchors_reason += "; prompts evaluated by torch, decoded by llama.cpp"

    def _apply_weights(self, values: tuple[float, ...]) -> None:
        assert self._llm is not None
        if self._torch_prompt is not None:
            self._torch_prompt.set_weights(values)
        if self._merger is not None:
            self._merger.set_weights(values)
            if self._preview_on:
                self._set_preview_loras(None)
            self._forget_prompt(stale=True)  # the KV cache was computed with the old weights
            return
        adapters, scales, n = self._set_loras(self._adapters, values)
        if n != self._adapter_args[2]:
            self.rows_invariant = None  # other LoRA kernels run: check again
        self._adapter_args = (adapters, scales, n)
        if self._streams is not None and not self._streams.set_adapters(adapters, scales, n):
            raise AnchorError(f"llama.cpp could not set the adapter scales: {llama_reason()}")
        self._forget_prompt(stale=True)  # the KV cache was computed with the old weights

    def _apply_preview_weights(self, values: tuple[float, ...]) -> bool:
        """A drag's preview on the merged copy: the anchors' runtime LoRAs at the difference
        between ``values`` and the merged point, so W0 + sum_i m_i D_i + sum_i (v_i - m_i) D_i
        is the new point up to rounding, with no merge (a merge writes every target matrix;
        the scales cost nothing). The next exact point merges and takes them off."""
        if not (self._merger is not None and self._preview_adapters and self._merger.values is not None
                and (self._prompt_tokens or self._stale_tokens) and not self._vector_on):
            return False
        merged = self._merger.values
        self._set_preview_loras(tuple(v - m for v, m in zip(values, merged)))
        self._forget_prompt(stale=True)  # the KV cache was computed at the merged point
        return True

    @property
    def _preview_on(self) -> bool:
        """The preview LoRAs are set on the context (the merged weights are not the point)."""
        return self._preview_keep is not None

    def _set_preview_loras(self, deltas: tuple[float, ...] | None) -> None:
        """Put the preview LoRAs on the context at ``deltas`` (None: take them off)."""
        kept = self._set_loras(self._preview_adapters, deltas or ())
        self._preview_keep = kept if kept[2] else None  # kept alive while llama.cpp may read them

    def _set_loras(self, loras: list[Any], scales_of: tuple[float, ...]) -> tuple[Any, Any, int]:
        """Set ``loras`` on the context at ``scales_of`` (the zero ones left off); the ctypes
        arrays are returned to be kept alive while llama.cpp may read them."""
        import llama_cpp

        assert self._llm is not None
        active = [(a, w) for a, w in zip(loras, scales_of) if w != 0.0]
        n = len(active)
        adapters = (llama_cpp.llama_adapter_lora_p_ctypes * max(n, 1))(*[a for a, _ in active])
        scales = (ctypes.c_float * max(n, 1))(*[w for _, w in active])
        if llama_cpp.llama_set_adapters_lora(private.ctx(self._llm), adapters if n else None, n,
                                             scales if n else None):
            raise AnchorError(f"llama.cpp could not set the adapter scales: {llama_reason()}")
        return adapters, scales, n

    def set_control_vector(self, vector: "np.ndarray | None", scale: float = 1.0) -> None:
        """Add ``scale * vector[l]`` to each layer's output (llama.cpp's control vectors, which
        start at layer 1: ``vector[0]`` must be zero); None clears it."""
        import llama_cpp

        from engine.backends.torch_vector import check_vector

        if self._llm is None:
            raise ModelError("no model is loaded")
        ctx = private.ctx(self._llm)
        if vector is None or scale == 0.0:
            code = llama_cpp.llama_set_adapter_cvec(ctx, None, 0, 0, 0, 0)
        else:
            n_layers, n_embd = int(llama_cpp.llama_model_n_layer(self._llm.model)), int(self._llm.n_embd())
            check_vector(vector, n_layers, n_embd)
            if vector[0].any():
                raise ModelError("llama.cpp's control vectors start at layer 1: this vector moves layer 0")
            data = np.ascontiguousarray(vector[1:] * scale, dtype=np.float32).ravel()
            self._cvec = data  # kept alive while llama.cpp may read it
            code = llama_cpp.llama_set_adapter_cvec(
                ctx, data.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), data.size, n_embd, 1, n_layers - 1)
        if code != 0:
            raise ModelError(f"llama.cpp refused the control vector (code {code}): {llama_reason()}")
        self._forget_prompt()  # the KV cache was computed without it
        # torch's prompt pass has no control vector: llama.cpp evaluates prompts while one is on
        self._vector_on = not (vector is None or scale == 0.0)

    def _forget_prompt(self, stale: bool = False) -> None:
        """The KV cache no longer holds an exact prompt. ``stale``: it still holds one that was
        evaluated at other weights (a new point), which a preview may start from."""
        assert self._llm is not None
        self._stale_tokens = (self._prompt_tokens or self._stale_tokens) if stale else []
        self._llm.reset()
        self._prompt_tokens = []

    def _tokenize(self, text: str) -> list[int]:
        assert self._llm is not None
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def _token_pieces(self, tokens: list[int], sampling: SamplingConfig, max_tokens: int,
                      logprobs: bool) -> Iterator[Piece]:
        assert self._llm is not None
        step = self._take_step()
        self._llm.set_seed(sampling.seed)
        self._streaming, state.aborted = True, False
        try:
            yield from self._stream_tokens(tokens, sampling, max_tokens, logprobs, step)
        finally:
            self._streaming = False

    def _stream_tokens(self, tokens: list[int], sampling: SamplingConfig, max_tokens: int,
                       logprobs: bool, step: StepOptions = StepOptions()) -> Iterator[Piece]:
        import llama_cpp

        llm = self._llm
        assert llm is not None
        try:
            last_batch = self._prefill(tokens, step.preview)
        except _Stopped:
            return
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        forbid = step.forbid_first
        steps = self._biased_steps(sampling.dry)
        applied = StepBias(steps) if steps is not None else None
        generator = llm.generate(last_batch, **sampler_args(sampling), reset=False,
                                 logits_processor=logits_processors(forbid, applied))
        try:
            for count, token in enumerate(generator, start=1):
                if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    return
                bias = applied.last if applied is not None else None
                yield Piece(decoder.decode(llm.detokenize([token], special=False)),
                            self._last_logprob(token, bias) if logprobs else None, token,
                            self._last_top(step.top_k, bias) if step.top_k else None)
                if count >= max_tokens:
                    return
        except RuntimeError as exc:
            self._raise_unless_cancelled(exc)
        finally:
            generator.close()

    def _raise_unless_cancelled(self, exc: RuntimeError) -> None:
        """llama_decode failed: because a cancel aborted it (`_abort`), or for a real reason."""
        if not self._stop_requested():
            raise ModelError(f"llama.cpp could not evaluate: {llama_reason()} ({exc})") from None

    def _prefill(self, tokens: list[int], preview: bool = False) -> list[int]:
        """Evaluate the prompt but for its last batch, which is returned for generate() to
        evaluate and sample from.

        The prefix this prompt shares with the last one is kept when this build's kernels give
        the same numbers however a prompt is split into batches (``split_invariant``, checked
        at load): then a cached prefix is bit-identical to a fresh evaluation and the same
        point, seed and prompt still give the same text. Only rows evaluated alone differ (a
        one-row batch takes another kernel), so no prompt batch is ever a single row: the
        batches come from `prompt_batches`, and at least two tokens are always evaluated.

        The prompt goes in batches of PREFILL_CHUNK tokens; a cancel (a new point while the
        handle is dragged) is heard between them and, through `_abort`, inside them.

        A ``preview`` with no exact cache starts from the stale one, the KV this prompt got at an
        earlier point, and evaluates only its last token (and any new text) at the current
        weights. The cache is then exact for no weights, so the next exact generation evaluates
        its prompt whole: the text after a drag still equals a fresh generation."""
        llm = self._llm
        assert llm is not None
        reuse = 0
        if self.split_invariant and self._prompt_tokens and not self._cache_from_torch:
            reuse = min(common_prefix(self._prompt_tokens, tokens), llm.n_tokens, len(tokens) - 2)
        held = self._prompt_tokens or self._stale_tokens
        if preview and reuse <= 0 and held and (stale := min(common_prefix(held, tokens), len(tokens) - 1)) > 0:
            self.reused_tokens = private.hold(llm, stale)
            self._stale_tokens, self._prompt_tokens = tokens[:stale], []  # what is sure to be there
            return tokens[stale:]
        self._stale_tokens = []
        if self._torch_prompt is not None and not self._vector_on and (split := torch_split(len(tokens))):
            return self._prefill_by_torch(tokens, split)
        self._cache_from_torch = False
        self._prompt_tokens = tokens[:max(reuse, 0)]  # what the cache holds of this prompt
        self.reused_tokens = private.hold(llm, len(self._prompt_tokens))
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

    def _prefill_by_torch(self, tokens: list[int], split: int) -> list[int]:
        """torch evaluates ``tokens[:split]`` (reusing its own whole blocks, kv_handoff), the
        KV goes into llama.cpp's sequence, and the rest is returned for llama.cpp to evaluate
        and sample from. A prompt's KV then depends on the prompt alone, as the same-text rule
        needs; the llama.cpp cache is not reused by prefix, since its cells came from torch."""
        from engine.backends.kv_handoff import set_seq_state

        llm = self._llm
        assert llm is not None and self._torch_prompt is not None
        self._prompt_tokens, self._cache_from_torch = [], True
        private.hold(llm, 0)
        data = self._torch_prompt.state_for(tokens[:split], self._torch_prompt.v_trans, self._stop_requested)
        if data is None:
            raise _Stopped
        set_seq_state(private.ctx(llm), data)
        private.hold(llm, split, tokens)
        self.reused_tokens = self._torch_prompt.kept
        self._prompt_tokens = list(tokens)
        return tokens[split:]

    def _abort(self, _data: object) -> bool:
        """llama.cpp asks this between the operations of an evaluation: True stops it (its
        llama_decode then fails), so a cancel is heard within a layer, not after a batch."""
        stop = self._streaming and self._stop_requested()
        state.aborted = state.aborted or stop
        return stop

    # ----- candidates (engine/backends/llama_streams.py) -------------------------------
    def _check_candidates_fit(self, k: int, tokens: int) -> None:
        if k == 1 or not self._rows_batch_invariant():
            return  # one after another: no cache beyond the backend's own
        assert self._llm is not None
        need = k * stream_cells(tokens) * kv_bytes_per_token(self._llm.metadata)
        free = available_memory()
        if free and need > free // 2:
            raise ProsemixError(
                f"{k} candidates of {tokens} tokens each need {need / 2**20:.0f} MiB of KV "
                f"cache, and only {free / 2**20:.0f} MiB of memory are free: ask for fewer "
                "candidates or shorten the text in view")

    def _rows_batch_invariant(self) -> bool:
        """Whether candidates may share each decode step (checked once per loaded model)."""
        if self.rows_invariant is None:
            assert self._llm is not None
            # runtime LoRA adapters: the check of a few steps passed, and candidates sharing
            # each decode still left a single generation's text after 8-14 tokens, so they
            # never share (docs/dev/decisions/0009-candidates-in-one-call.md)
            self.rows_invariant = not self._adapter_args[2] and rows_batch_invariant(
                self._streams_for(2, CELLS), self._llm.n_vocab())
            if not self.rows_invariant:
                self._close_streams()  # never used here: free its buffers
            log.info("candidates %s each decode step", "share" if self.rows_invariant
                     else "do not share (a lone row rounds differently here)")
        return self.rows_invariant

    def _close_streams(self) -> None:
        if self._streams is not None:
            self._streams.close()
            self._streams = None

    def _streams_for(self, k: int, cells: int) -> Streams:
        if self._streams is None or not self._streams.fits(k, cells):
            assert self._llm is not None
            self._close_streams()
            try:
                streams = Streams(self._llm, k, cells)
            except ValueError:
                raise ProsemixError(f"llama.cpp could not make a context for {k} candidates: "
                                    f"{llama_reason()}") from None
            streams.set_abort(self._abort_callback)
            if not streams.set_adapters(*self._adapter_args):
                streams.close()
                raise AnchorError(f"llama.cpp could not set the adapter scales: {llama_reason()}")
            self._streams = streams
        return self._streams

    def _candidate_pieces(self, tokens: list[int], sampling: SamplingConfig, seeds: list[int],
                          max_tokens: int, logprobs: bool, done: set[int]
                          ) -> Iterator[tuple[int, Piece | None]]:
        if len(seeds) == 1 or self._torch_prompt is not None or not self._rows_batch_invariant():
            # one after another (torch's prompt pass included: each as its single generation)
            yield from super()._candidate_pieces(tokens, sampling, seeds, max_tokens, logprobs, done)
            return
        streams = self._streams_for(len(seeds), stream_cells(len(tokens) + max_tokens))
        self._streaming, state.aborted = True, False
        try:
            yield from decode_together(streams, self._llm, tokens, sampling, seeds, max_tokens,
                                       logprobs, done, self._stop_requested,
                                       min(PREFILL_CHUNK, self._llm.n_batch),
                                       self._biased_steps(sampling.dry))
        except RuntimeError as exc:
            self._raise_unless_cancelled(exc)
        finally:
            self._streaming = False
            streams.clear()

    def _last_logprob(self, token: int, bias: np.ndarray | None) -> float:
        """log p(token) under the logits it was just sampled from (still in the context)."""
        return logprob_of(self._last_logits(bias), token)

    def _last_logits(self, bias: np.ndarray | None) -> np.ndarray:
        """The logits the last token was sampled from (still in the context), with ``bias``:
        the voices' diction as the sampler saw it at that step."""
        import llama_cpp

        assert self._llm is not None
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(private.ctx(self._llm), -1),
                                       shape=(self._llm.n_vocab(),))
        return with_bias(logits, bias)

    def _last_top(self, k: int, bias: np.ndarray | None) -> tuple[tuple[str, float], ...]:
        """The k most likely tokens under the logits just sampled from, as (text, log p)."""
        llm = self._llm
        assert llm is not None
        return top_of(self._last_logits(bias), k, lambda t: llm.detokenize([t], special=False).decode("utf-8", errors="replace"))

    def _score_tokens(self, tokens: list[int]) -> list[float]:
        assert self._llm is not None
        llm = self._llm
        self._forget_prompt()
        out = []
        llm.eval(tokens[:1])
        voiced = self.logit_bias is not None  # else no step has a diction: no prefix to slice
        for i, token in enumerate(tokens[1:], start=1):
            out.append(self._last_logprob(token, self._diction_at(tokens[:i]) if voiced else None))
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
