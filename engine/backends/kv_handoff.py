"""A prompt evaluated by torch and decoded by llama.cpp: the KV handed over.

On a CPU where torch's fp32 pass evaluates a prompt faster than llama.cpp's kernels (an
AVX2-only CPU: docs/dev/decisions/0003-torch-prompt-pass.md), the llama backend can let torch
evaluate the prompt with the same merged weights and then decode in llama.cpp at the base's
speed. What moves between them is the sequence's KV cache, written in the byte format that
``llama_state_seq_set_data`` reads (llama.cpp's ``llama_kv_cache::state_write``):

    u32 magic 0xAF143CD8, i32 seq_id,
    u32 n_stream, then per stream: u32 cell_count, and for a stream with cells
        per cell: i32 pos, u32 n_seq_id (1), i32 seq_id;
        u32 v_trans, u32 n_layer;
        per layer: i32 K type, u64 K row bytes, cell_count rows of K;
        per layer: i32 V type, then u64 V row bytes and cell_count rows (v_trans 0), or
                   u32 element bytes, u32 V width and the V matrix transposed (v_trans 1).

K is stored after RoPE in both, but a GGUF's q and k rows are permuted from Hugging Face's
order (convert_hf_to_gguf's ``permute``): llama.cpp rotates adjacent pairs (2i, 2i+1) where
transformers rotates (i, i + d/2). ``llama_key_order`` applies the same permutation to the
cached keys. The format belongs to one llama.cpp build, so `handoff_check` compares, at load,
the KV llama.cpp computes for a probe with the KV torch hands over (it reads llama.cpp's own
state back with ``read_seq_state``). The first layer must agree to 2% of its range (a wrong
rotary order is off by the whole range) and every layer to 25% (llama.cpp's Q4_1 kernels drift
from fp32 layer by layer: 5% at worst here), and the KV must read back exactly as handed over.
A build that wrote another layout fails the check and the backend keeps llama.cpp's own
prompt pass.

The same-text rule: a generation must equal a fresh one of the same prompt, point and seed.
torch's kernels round differently by batch size (a prompt split in two gave logits 3e-5 off
the same prompt whole, measured here), so torch evaluates every prompt in blocks that start at
multiples of ``BLOCK``: a prompt's KV depends only on the prompt, and a continue reuses every
whole block it shares with the last prompt, evaluating the rest. The last ``LLAMA_TAIL``
tokens are evaluated by llama.cpp, which samples from them.
"""
from __future__ import annotations

import ctypes
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from engine.errors import ModelError
from engine.backends import llama_private as private

if TYPE_CHECKING:
    import torch

    from engine.anchors.model import Anchor

STATE_MAGIC = 0xAF143CD8
GGML_F32, GGML_F16 = 0, 1
BLOCK = 128  # torch evaluates prompts in blocks starting at multiples of this
LLAMA_TAIL = 2  # tokens llama.cpp evaluates itself (never one row alone: llama_streams.prompt_batches)
MIN_TOKENS = 64  # shorter prompts stay in llama.cpp (torch's call overhead is not worth it)


def llama_key_order(keys: "torch.Tensor") -> "torch.Tensor":
    """Cached keys [1, heads, T, d] in Hugging Face's rotary order -> [T, heads * d] in a
    GGUF's (rows (i, i + d/2) become (2i, 2i + 1))."""
    _, heads, n, d = keys.shape
    return keys[0].permute(1, 0, 2).reshape(n, heads, 2, d // 2).transpose(2, 3).reshape(n, heads * d)


@dataclass
class SeqState:
    positions: np.ndarray  # [T] int32
    keys: list[np.ndarray]  # per layer [T, width]
    values: list[np.ndarray]  # per layer [T, width]
    v_trans: bool
    k_type: int
    v_type: int


def seq_state(keys: Sequence[np.ndarray], values: Sequence[np.ndarray], v_trans: bool,
              seq: int = 0, n_stream: int = 1, stream: int = 0) -> bytes:
    """The bytes ``llama_state_seq_set_data`` reads for one sequence at positions 0..T-1,
    from per-layer K and V rows [T, width] (float16: the cache's type, F16)."""
    n = keys[0].shape[0] if keys else 0
    parts = [struct.pack("<IiI", STATE_MAGIC, seq, n_stream)]
    for s in range(n_stream):
        if s != stream or n == 0:
            parts.append(struct.pack("<I", 0))
            continue
        cells = np.empty((n, 3), dtype="<i4")
        cells[:, 0], cells[:, 1], cells[:, 2] = np.arange(n), 1, seq
        parts += [struct.pack("<I", n), cells.tobytes(), struct.pack("<II", int(v_trans), len(keys))]
        for k in keys:
            k = np.ascontiguousarray(k, dtype=np.float16)
            parts += [struct.pack("<iQ", GGML_F16, k.shape[1] * 2), k.tobytes()]
        for v in values:
            v = np.asarray(v, dtype=np.float16)
            if v_trans:
                parts += [struct.pack("<iII", GGML_F16, 2, v.shape[1]), np.ascontiguousarray(v.T).tobytes()]
            else:
                parts += [struct.pack("<iQ", GGML_F16, v.shape[1] * 2), np.ascontiguousarray(v).tobytes()]
    return b"".join(parts)


def read_seq_state(data: bytes) -> SeqState:
    """Parse what ``llama_state_seq_get_data`` wrote for one sequence in one stream (F16 or
    F32 caches). ModelError names what does not fit the format this module knows."""
    offset = 0

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal offset
        size = struct.calcsize(fmt)
        if offset + size > len(data):
            raise ModelError("llama.cpp's sequence state ended early: not the layout this build was checked for")
        out = struct.unpack_from(fmt, data, offset)
        offset += size
        return out

    def rows(kind: int, size: int) -> np.ndarray:
        """``size`` bytes of ggml type ``kind`` as a flat array."""
        nonlocal offset
        dtype = {GGML_F16: np.float16, GGML_F32: np.float32}.get(kind)
        if dtype is None:
            raise ModelError(f"llama.cpp's KV cache has ggml type {kind}; the hand-over writes F16 or F32 only")
        count = size // np.dtype(dtype).itemsize
        if offset + size > len(data):
            raise ModelError("llama.cpp's sequence state ended early: not the layout this build was checked for")
        out = np.frombuffer(data, dtype, count, offset)
        offset += size
        return out

    magic, _seq, n_stream = take("<IiI")
    if magic != STATE_MAGIC:
        raise ModelError(f"llama.cpp's sequence state starts with {magic:#x}, not {STATE_MAGIC:#x}")
    counts = []
    state: SeqState | None = None
    for _ in range(n_stream):
        (n,) = take("<I")
        counts.append(n)
        if n == 0:
            continue
        if state is not None:
            raise ModelError("the sequence has cells in more than one stream")
        cells = np.array([take("<iIi") for _ in range(n)], dtype=np.int64)
        if (cells[:, 1] != 1).any():
            raise ModelError("a KV cell belongs to several sequences")
        v_trans, n_layer = take("<II")
        keys, values = [], []
        k_type = v_type = -1
        for _ in range(n_layer):
            k_type, row = take("<iQ")
            keys.append(rows(k_type, n * row).reshape(n, -1))
        for _ in range(n_layer):
            if v_trans:
                v_type, element, width = take("<iII")
                values.append(rows(v_type, n * width * element).reshape(width, n).T)
            else:
                v_type, row = take("<iQ")
                values.append(rows(v_type, n * row).reshape(n, -1))
        state = SeqState(cells[:, 0].astype(np.int32), keys, values, bool(v_trans), k_type, v_type)
    if state is None:
        raise ModelError("the sequence holds no cells")
    if offset != len(data):
        raise ModelError(f"llama.cpp's sequence state has {len(data) - offset} bytes this reader does not know")
    return state


def get_seq_state(ctx: Any, seq: int = 0) -> bytes:
    import llama_cpp

    size = llama_cpp.llama_state_seq_get_size(ctx, seq)
    buf = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_seq_get_data(ctx, buf, size, seq)
    return bytes(buf)[:written]


def set_seq_state(ctx: Any, data: bytes, seq: int = 0) -> None:
    import llama_cpp

    buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    if llama_cpp.llama_state_seq_set_data(ctx, buf, len(data), seq) != len(data):
        from engine.backends.llama_log import llama_reason

        raise ModelError(f"llama.cpp did not take the prompt's KV from torch: {llama_reason()}")


class _Stop(Exception):
    """A cancel heard between two of torch's layers."""


def torch_split(n: int) -> int:
    """How many of a prompt's ``n`` tokens torch evaluates (the rest llama.cpp does), or 0
    when the prompt is too short for the hand-over to pay."""
    return n - LLAMA_TAIL if n - LLAMA_TAIL >= MIN_TOKENS else 0


class TorchPrompt:
    """torch's fp32 pass over prompts with the anchors merged (the same ``W0 + sum w_i s_i
    B_i A_i`` as the llama working copy), its KV kept in ``BLOCK``-aligned blocks and written
    out for llama.cpp."""

    def __init__(self, gguf: Path, anchors: Sequence["Anchor"], n_threads: int,
                 progress: Callable[[str], None] = lambda message: None) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM
        except ImportError as exc:
            raise ModelError(f"torch's prompt pass needs torch and transformers ({exc.name} is missing)") from None
        from engine.backends.torch_merge import LowRankMerger
        from engine.models.float_copy import float_copy_of_gguf

        torch.set_num_threads(n_threads)
        folder = float_copy_of_gguf(gguf, lambda message, _fraction: progress(message))
        try:
            model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32,
                                                              local_files_only=True)
        except Exception as exc:
            raise ModelError(f"transformers cannot load {folder} for the prompt pass: {exc}") from None
        self.model = model.eval()
        self.merger = LowRankMerger(dict(self.model.named_modules()), anchors) if anchors else None
        self._pending: tuple[float, ...] | None = None  # weights not merged yet (merged before a pass)
        self._tokens: list[int] = []  # what the cache holds
        self._stop: Callable[[], bool] = lambda: False
        for layer in self.model.model.layers:  # a cancel is heard between two layers
            layer.register_forward_pre_hook(self._check_stop)
        self.kept = 0  # tokens the last pass took from the cache (whole blocks)
        self.v_trans = True  # how the llama.cpp context stores V (handoff_check reads it)
        self._cache: Any = None

    def _check_stop(self, _module: Any, _args: Any) -> None:
        if self._stop():
            raise _Stop

    def set_weights(self, values: tuple[float, ...]) -> None:
        """Merge at ``values`` before the next pass (a drag's many points cost nothing here)."""
        if self.merger is None:
            return
        # the cache was made at the merged weights: a move away drops it, a move back keeps it
        self._pending = None if values == self.merger.values else values
        if self._pending is not None:
            self._tokens, self._cache = [], None

    def keys_values(self, tokens: list[int], stop: Callable[[], bool] = lambda: False
                    ) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
        """Per layer, K (in llama.cpp's rotary order) and V rows [T, width] as float16 for
        ``tokens``, reusing every whole block shared with the last call; None when ``stop``
        said so (it is asked before each layer, so a cancel waits for one layer, not a block)."""
        import torch

        from engine.backends.llama_streams import common_prefix

        if self._pending is not None and self.merger is not None:
            self.merger.set_weights(self._pending)
            self._pending = None
        keep = min(common_prefix(self._tokens, tokens), len(tokens)) // BLOCK * BLOCK
        self.kept = keep if self._cache is not None else 0
        with torch.inference_mode():
            if keep == 0 or self._cache is None:
                self._cache, keep = None, 0
            elif keep < len(self._tokens):
                self._cache.crop(keep - len(self._tokens))
            start = keep
            self._tokens = tokens[:keep]
            while start < len(tokens):
                end = min((start // BLOCK + 1) * BLOCK, len(tokens))
                self._stop = stop
                try:
                    out = self.model(torch.tensor([tokens[start:end]]), cache=self._cache, use_cache=True,
                                     logits_to_keep=1)
                except _Stop:
                    self._tokens, self._cache = [], None  # some layers hold the block, some not
                    return None
                finally:
                    self._stop = lambda: False
                self._cache = out.cache
                start = end
                self._tokens = tokens[:end]
            keys = [llama_key_order(layer.keys).to(torch.float16).numpy() for layer in self._cache.layers]
            values = [layer.values[0].permute(1, 0, 2).reshape(len(tokens), -1).to(torch.float16).numpy()
                      for layer in self._cache.layers]
        return keys, values

    def state_for(self, tokens: list[int], v_trans: bool, stop: Callable[[], bool] = lambda: False
                  ) -> bytes | None:
        """The sequence state llama.cpp reads for ``tokens`` (None: stopped)."""
        kv = self.keys_values(tokens, stop)
        return None if kv is None else seq_state(kv[0], kv[1], v_trans)

    def seconds_per_token(self, tokens: list[int], v_trans: bool) -> float:
        """The pass and its hand-over bytes for ``tokens`` from an empty cache (best of two),
        per token: the layout probe's measure of this path."""
        best = float("inf")
        for _ in range(2):
            self._tokens, self._cache = [], None
            start = time.perf_counter()
            self.state_for(tokens, v_trans)
            best = min(best, time.perf_counter() - start)
        self._tokens, self._cache = [], None
        return best / len(tokens)

    def close(self) -> None:
        self.model = self.merger = self._cache = None


def handoff_check(llm: Any, prompt: TorchPrompt, tokens: list[int]) -> tuple[bool, str]:
    """Whether this llama.cpp build reads the KV torch hands over as its own: llama.cpp
    evaluates ``tokens``, its state is read back, and K and V must match torch's (see the
    module) and read back exactly as handed over. Returns
    (ok, what was found); the context is left empty."""
    llm.reset()
    llm.eval(tokens)
    try:
        own = read_seq_state(get_seq_state(private.ctx(llm)))
        prompt.v_trans = own.v_trans
        kv = prompt.keys_values(tokens)
        assert kv is not None  # nothing asks it to stop
        keys, values = kv
        if len(own.keys) != len(keys) or own.keys[0].shape != keys[0].shape:
            return False, (f"llama.cpp's cache has {len(own.keys)} layers of {own.keys[0].shape[1]} "
                           f"key values, torch's {len(keys)} of {keys[0].shape[1]}")
        if own.k_type != GGML_F16 or own.v_type != GGML_F16:
            return False, f"llama.cpp's cache types are {own.k_type}/{own.v_type}, not F16"
        def off(mine: np.ndarray, theirs: np.ndarray) -> float:
            scale = float(np.abs(theirs.astype(np.float32)).max()) or 1.0
            return float(np.abs(mine.astype(np.float32) - theirs.astype(np.float32)).max()) / scale

        first = max(off(keys[0], own.keys[0]), off(values[0], own.values[0]))
        worst = max(off(a, b) for a, b in zip(keys + values, own.keys + own.values))
        # the round trip: torch's KV written and read back by llama.cpp equals what it wrote
        data = seq_state(keys, values, own.v_trans)
        llm.reset()
        set_seq_state(private.ctx(llm), data)
        back = read_seq_state(get_seq_state(private.ctx(llm)))
        same = all(np.array_equal(a, b) for a, b in zip(back.keys + back.values, keys + values))
    except ModelError as exc:
        return False, str(exc)
    finally:
        llm.reset()
    if not same:
        return False, "llama.cpp read back other values than torch handed over"
    if first > 0.02 or worst > 0.25:
        return False, (f"torch's KV differs from llama.cpp's by {first:.1%} of its range in the first "
                       f"layer, {worst:.1%} at worst (another rotary order or layout?)")
    return True, (f"torch's KV within {first:.1%} of llama.cpp's in the first layer, {worst:.1%} at "
                  "worst; read back exactly")


def torch_pass_timer(gguf: Path, n_threads: int) -> Callable[[list[int]], float] | None:
    """For the layout probe: a function timing torch's prompt pass with the hand-over over some
    tokens (seconds per token, the model loaded once), or None where torch is not installed."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return None

    def timed(tokens: list[int]) -> float:
        prompt = TorchPrompt(gguf, [], n_threads)
        try:
            return prompt.seconds_per_token(tokens, True)
        finally:
            prompt.close()

    return timed
