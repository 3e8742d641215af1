"""The merged working copy's layout, measured (issue 14): every candidate layout of the
embedded model, made with engine.models.gguf_meta.rewrite_gguf, then loaded by llama.cpp alone.

    python -m benchmarks working_copy

For each layout: prompt evaluation (a 500-token prompt in 64-token chunks, as the backend
evaluates it), decode (64 greedy tokens), file size, and the mean |log-probability error|
and greedy agreement against torch's fp32 model (the Q4_1 file dequantized) over 7 held-out
texts x 200 tokens. Medians of 3; the layouts run one after another in one process, so run it
with nothing else on the machine. "attn" are the matrices the anchors adapt (q, k, v, o),
which merged mode rewrites on every weight change, so they stay F16 in every mergeable layout;
"ffn" are the other matrices; the token embeddings (Q8_0) are kept in all.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.machine import describe_machine  # noqa: E402

F16, Q4_0, Q8_0, BF16 = 1, 2, 8, 30
LAYOUTS = {  # name: (attn type, ffn type), None: as the file has it
    "attn F16 + ffn Q4_1 (merged mode before)": (F16, None),
    "attn F16 + ffn BF16 (the new default)": (F16, BF16),
    "attn F16 + ffn Q8_0": (F16, Q8_0),
    "attn F16 + ffn Q4_0": (F16, Q4_0),
    "attn F16 + ffn F16": (F16, F16),
    "attn Q8_0 + ffn Q8_0 (not mergeable cheaply)": (Q8_0, Q8_0),
    "the shipped file, Q4_1 (no merge)": (None, None),
}
NAMES = ("austen", "wry", "shakespeare", "positive", "negative", "simple", "complex")


def speed(path: str, text: str) -> tuple[float, float]:
    import llama_cpp
    import numpy as np

    from engine.backends.llama_amx import open_llama

    llm = open_llama(model_path=path, n_ctx=2048, n_threads=os.cpu_count(), verbose=False, seed=0)
    tokens = llm.tokenize(text.encode(), add_bos=True)[:500]
    prompt, decode = [], []
    for _ in range(3):
        llm.reset()
        start = time.perf_counter()
        for s in range(0, len(tokens), 64):
            llm.eval(tokens[s:s + 64])
        prompt.append(len(tokens) / (time.perf_counter() - start))
        start = time.perf_counter()
        for _ in range(64):
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1),
                                           shape=(llm.n_vocab(),))
            llm.eval([int(logits.argmax())])
        decode.append(64 / (time.perf_counter() - start))
    llm.close()
    return statistics.median(prompt), statistics.median(decode)


def quality(path: str, seqs: list[list[int]], reference: list) -> tuple[float, float]:  # type: ignore[type-arg]
    import numpy as np

    from engine.backends.llama_amx import open_llama

    llm = open_llama(model_path=path, n_ctx=1024, n_threads=os.cpu_count(), verbose=False, logits_all=True)
    errors, agree = [], []
    for s, ref in zip(seqs, reference):
        llm.reset()
        llm.eval(s)
        logits = np.array(llm.scores[:len(s)], dtype=np.float64)
        logits -= logits.max(-1, keepdims=True)
        lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        idx = np.arange(len(s) - 1)
        errors.append(np.abs(lp[idx, s[1:]] - ref[idx, s[1:]]).mean())
        agree.append((lp[:-1].argmax(-1) == ref[:-1].argmax(-1)).mean())
    llm.close()
    return float(np.mean(errors)), float(np.mean(agree))


def machine_bounds() -> tuple[float, float]:
    """The machine's fp32 matmul throughput (GFLOP/s, numpy's BLAS on every core) and its
    memory bandwidth (GB/s, a copy of 512 MB: read plus write)."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    b = a.copy()
    flops = []
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        flops.append(2 * 2048**3 / (time.perf_counter() - start) / 1e9)
    src = np.ones(128 * 2**20, np.float32)
    dst = np.empty_like(src)
    bandwidth = []
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(dst, src)
        bandwidth.append(2 * src.nbytes / (time.perf_counter() - start) / 1e9)
    return max(flops), max(bandwidth)


def per_token(header, types: dict[str, int | None]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """FLOPs a prompt token costs in the matrices (2 per weight; attention over the context and
    the output row are left out: under 3% at 500 tokens for this model) and the bytes of weights
    a decode step reads (every matrix once, the output row's embeddings included)."""
    from engine.models.gguf_meta import GGUFTensorInfo, tensor_nbytes

    flops, nbytes = 0.0, 0.0
    for name, t in header.tensors.items():
        if len(t.shape) != 2:
            continue
        kind = types.get(name)
        info = t if kind is None else GGUFTensorInfo(name, t.shape, kind, 0)
        nbytes += tensor_nbytes(info)
        if name != "token_embd.weight":
            flops += 2 * t.shape[0] * t.shape[1]
    return flops, nbytes


def main() -> int:
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM

    from engine.models.base import embedded_model_path
    from engine.models.float_copy import float_copy_of_gguf
    from engine.models.gguf_meta import read_header, rewrite_gguf

    source = embedded_model_path()
    header = read_header(source)
    attn = [n for n in header.tensors if any(k in n for k in ("attn_q.", "attn_k.", "attn_v.", "attn_output."))]
    ffn = [n for n in header.tensors if n.startswith("blk.") and "ffn_" in n and "norm" not in n]
    texts = {n: (ROOT / "resources" / "eval" / f"{n}.txt").read_text(encoding="utf-8") for n in NAMES}
    vocab = Llama(model_path=str(source), vocab_only=True, verbose=False)
    seqs = [vocab.tokenize(t[3000:].encode(), add_bos=True)[:200] for t in texts.values()]
    model = AutoModelForCausalLM.from_pretrained(str(float_copy_of_gguf(source)), dtype=torch.float32).eval()
    with torch.no_grad():
        reference = [torch.log_softmax(model(torch.tensor([s])).logits[0].double(), -1).numpy() for s in seqs]
    del model
    print(f"machine: {describe_machine()}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; medians of 3")
    print(f"{'layout':<46} {'prompt tok/s':>12} {'decode tok/s':>12} {'MB':>6} {'|lp err|':>9} {'greedy agr':>10}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (a, f) in LAYOUTS.items():
            path = str(source)
            if a is not None:
                path = str(Path(tmp) / "layout.gguf")
                rewrite_gguf(header, path, {**{n: a for n in attn}, **({n: f for n in ffn} if f else {})})
            p, d = speed(path, texts["austen"])
            e, g = quality(path, seqs, reference)
            rows.append((name, p, d, os.path.getsize(path) / 1e6, e, g))
            print(f"{name:<46} {p:12.0f} {d:12.1f} {rows[-1][3]:6.0f} {e:9.4f} {g:10.3f}", flush=True)
    before = rows[0]
    print("\nratios to the merged mode before (attn F16 + ffn Q4_1):")
    for name, p, d, mb, e, g in rows[1:]:
        print(f"{name:<46} prompt {p / before[1]:.2f}x  decode {d / before[2]:.2f}x  error {e / before[4]:.2f}x")
    peak, bandwidth = machine_bounds()
    print(f"\nthe machine: fp32 matmul {peak:.0f} GFLOP/s (numpy BLAS, {os.cpu_count()} cores), "
          f"memory bandwidth {bandwidth:.1f} GB/s (a 512 MB copy)")
    for (name, (a, f)), (_, p, d, _mb, _e, _g) in zip(LAYOUTS.items(), rows):
        types = {**{n: a for n in attn}, **{n: f for n in ffn}}
        flops, nbytes = per_token(header, types)
        print(f"{name:<46} {flops / 1e6:.0f} MFLOP/token: prompt {p * flops / 1e9:5.1f} GFLOP/s "
              f"({p * flops / 1e9 / peak:.0%} of the matmul peak); decode reads {nbytes / 1e6:.0f} MB/token: "
              f"{d * nbytes / 1e9:5.1f} GB/s ({d * nbytes / 1e9 / bandwidth:.0%} of the bandwidth)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
