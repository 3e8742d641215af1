"""Merged anchors in the llama.cpp backend: the working base, the in-place merge, its checks
and its fallbacks. (Fidelity against the unoptimised path with the shipped anchors is in
test_default_anchors.py.)"""
from __future__ import annotations

import hashlib
import os

import gguf
import numpy as np
import pytest

from engine.anchors.model import Anchor, LoraFactors
from engine.anchors.loading import load_anchor
from engine.backends.llama_cpp import LlamaCppBackend
from engine.errors import AnchorError, BackendUnavailable, ModelError, ProsemixError
from engine.anchors.gguf_lora import gguf_for
from engine.models.gguf_meta import read_header, tensor_nbytes
from engine.backends.llama_merge import (choose_layout, cpu_has_bf16, rest_tensors,
                                         target_tensors, working_base)
from engine.paths import cache_dir
from engine.models.base import embedded_model_path
from engine.anchors.shipped import default_anchor_paths
from engine.sampling import SamplingConfig

GREEDY = SamplingConfig(max_tokens=16, temperature=0.0)
PROMPT = "The weather this morning was"


def _lora_tensors(path) -> tuple[float, dict[str, np.ndarray]]:
    """A GGUF LoRA's alpha and tensors, read with the upstream gguf reader."""
    reader = gguf.GGUFReader(str(path))
    alpha = float(read_header(path).get("adapter.lora.alpha"))
    return alpha, {t.name: np.array(t.data, np.float64).reshape([int(x) for x in reversed(t.shape)])
                   for t in reader.tensors}


def test_working_base_converts_only_the_targets(merged):
    source = read_header(embedded_model_path())
    working = read_header(merged._shared.header.path)
    assert working.metadata.keys() == source.metadata.keys()
    assert working.get("tokenizer.chat_template") == source.get("tokenizer.chat_template")
    targets = set(target_tensors(merged.anchors))
    assert len(targets) == 120  # q/k/v/o in 30 layers
    # the branch this CPU takes: "auto" stores the rest as the layout measured fastest here
    # (engine.backends.layout_probe; tests/test_layout_probe.py covers the choice)
    layout = merged.layout_choice.layout
    assert merged.working_copy == "auto"
    assert merged.anchors_reason.endswith(f"other matrices: {layout} (measured on this CPU)")
    print(f"working copy on this CPU: {layout} (AVX512-BF16: {cpu_has_bf16()})")
    rest = set(rest_tensors(source, sorted(targets)))
    assert len(rest) == 90  # gate/up/down in 30 layers
    src_raw = np.memmap(source.path, np.uint8, mode="r")
    dst_raw = np.memmap(working.path, np.uint8, mode="r")
    for name, t in source.tensors.items():
        w = working.tensors[name]
        assert w.shape == t.shape
        a = src_raw[source.data_start + t.offset:][:tensor_nbytes(t)]
        b = dst_raw[working.data_start + w.offset:][:tensor_nbytes(w)]
        exact = lambda: gguf.quants.dequantize(np.asarray(a), gguf.GGMLQuantizationType(t.ggml_type))  # noqa: E731
        if name in targets:
            assert w.ggml_type == 1  # F16
            f16 = np.frombuffer(b.tobytes(), np.float16).reshape(t.shape)
            assert np.array_equal(f16, exact().reshape(t.shape).astype(np.float16)), name
        elif name in rest and layout == "keep":  # as the file has them, byte for byte
            assert w.ggml_type == t.ggml_type and np.array_equal(a, b), name
        elif name in rest:  # converted as gguf's own conversion gives: f32, f16, bf16 or q8_0
            kind = gguf.GGMLQuantizationType({"f32": 0, "f16": 1, "bf16": 30, "q8_0": 8}[layout])
            assert w.ggml_type == kind
            values = exact().astype(np.float32).reshape(t.shape)
            want = (values.astype(np.float16 if kind == 1 else np.float32) if kind in (0, 1)
                    else gguf.quants.quantize(values, kind))
            assert np.array_equal(np.asarray(b).view(np.uint8), np.ascontiguousarray(want).view(np.uint8).ravel()), name
            got = gguf.quants.dequantize(np.asarray(b), kind).reshape(t.shape)
            assert np.allclose(got, values, rtol=2**-8 if kind != 8 else 2**-6,
                               atol=0 if kind != 8 else float(np.abs(values).max()) / 127), name
        else:  # norms and the token embeddings: byte for byte
            assert w.ggml_type == t.ggml_type and np.array_equal(a, b), name


def test_merged_matrices_are_the_exact_merge(merged, base):
    """Each shared matrix holds f16(W0 + sum_i w_i s_i B_i A_i), with B and A read from the
    GGUF LoRA files (llama.cpp's layout), to within one f16 rounding step."""
    working = merged._shared.header
    raw = np.memmap(working.path, np.uint8, mode="r")
    loras = [_lora_tensors(gguf_for(a, base, cache_dir() / "gguf-lora")) for a in merged.anchors]
    names = ["blk.0.attn_q.weight", "blk.11.attn_k.weight", "blk.20.attn_v.weight",
             "blk.29.attn_output.weight"]
    for point in ([1, 0, 0], [0.2, 0.5, 0.3], [1.4, -0.6, 0.2]):
        merged.set_weights(point, extrapolate=True)
        for name in names:
            t = working.tensors[name]
            w0 = np.frombuffer(raw, np.float16, int(np.prod(t.shape)),
                               working.data_start + t.offset).reshape(t.shape).astype(np.float64)
            want = w0.copy()
            for w, (alpha, tensors) in zip(point, loras):
                a, b = tensors[name + ".lora_a"], tensors[name + ".lora_b"]
                want += w * alpha / a.shape[0] * (b @ a)
            got = merged._shared.view(name).astype(np.float64)
            step = np.spacing(np.abs(want).astype(np.float16)).astype(np.float64)
            assert np.all(np.abs(got - want) <= step), (point, name)


def test_merge_is_independent_of_history(merged, adapters):
    """Moving w1 -> w2 leaves bit-for-bit what a fresh backend writes at w2, so the same
    point, seed and prompt always give the same text."""
    merged.set_weights([1, 0, 0])
    merged.set_weights([0.1, 0.3, 0.6])
    after_history = {n: merged._shared.view(n).copy() for n in ("blk.3.attn_q.weight", "blk.9.attn_v.weight")}
    text = merged.generate(PROMPT, GREEDY).text
    fresh = LlamaCppBackend(merge=True)
    fresh.load(None, adapters)
    fresh.set_weights([0.1, 0.3, 0.6])
    for n, values in after_history.items():
        assert np.array_equal(fresh._shared.view(n), values)
    assert fresh.generate(PROMPT, GREEDY).text == text
    fresh.close()


def test_the_cached_working_base_is_never_written(merged):
    path = merged._shared.header.path
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for point in ([1, 0, 0], [0, 1, 0], [0.3, 0.3, 0.4]):
        merged.set_weights(point)
        merged.generate(PROMPT, SamplingConfig(max_tokens=2, temperature=0))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_an_overflowing_merge_is_refused_and_the_old_weights_kept(base, adapters, session_cache):
    good = load_anchor(adapters[0], base)
    # scaled so that its largest delta entry is 1e5: fine at weight 0.5 (the centre, set at
    # load), beyond f16's 65504 at weight 1
    peak = max(float(np.abs(f.scale * f.B @ f.A).max()) for f in good.factors.values())
    k = np.float32(np.sqrt(1e5 / peak))
    huge = Anchor("huge", good.source, 16.0, False,
                  {m: LoraFactors(f.A * k, f.B * k, f.scale) for m, f in good.factors.items()})
    b = LlamaCppBackend(merge=True)
    b.load(None, [good, huge])
    b.set_weights([1, 0])
    before = b._shared.view("blk.0.attn_q.weight").copy()
    text = b.generate(PROMPT, GREEDY).text
    with pytest.raises(ProsemixError, match="overflows blk.*the previous weights are kept"):
        b.set_weights([0, 1])
    assert b.point.values == (1.0, 0.0)
    assert np.array_equal(b._shared.view("blk.0.attn_q.weight"), before)
    assert b.generate(PROMPT, GREEDY).text == text
    b.close()


def test_falls_back_to_runtime_adapters_where_merging_is_impossible(monkeypatch, adapters,
                                                                    session_cache):
    monkeypatch.delattr(os, "memfd_create")
    b = LlamaCppBackend()
    b.load(None, adapters[:2])
    assert b.anchors_applied == "runtime" and "memfd" in b.info()["why"]
    b.set_weights([0.5, 0.5])
    assert b.generate(PROMPT, GREEDY).n_tokens > 0
    b.close()
    forced = LlamaCppBackend(merge=True)
    with pytest.raises(ModelError, match="merged anchors are not possible here: .*memfd"):
        forced.load(None, adapters[:2])
    forced.close()


def test_gpu_offload_and_no_anchors_use_the_plain_model(adapters, session_cache, monkeypatch):
    import llama_cpp

    with pytest.raises(BackendUnavailable, match="no GPU support"):  # this CPU-only build
        LlamaCppBackend(n_gpu_layers=1).load(None, adapters[:1])
    # a GPU build: merged mode is not possible with offload, runtime adapters say why
    monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: True)
    offload = LlamaCppBackend(n_gpu_layers=1)
    offload.load(None, adapters[:1])
    assert offload.anchors_applied == "runtime" and "GPU" in offload.anchors_reason
    offload.close()
    plain = LlamaCppBackend()
    plain.load(None, [])
    assert plain.anchors_applied == "runtime" and plain._shared is None
    plain.close()
    monkeypatch.setenv("PROSEMIX_LLAMA_MERGE", "0")
    off = LlamaCppBackend()
    off.load(None, adapters[:1])
    assert off.anchors_applied == "runtime" and "turned off" in off.anchors_reason
    off.close()


def _scratch_descriptors() -> int:
    """Descriptors open on any scratch copy (ours and llama.cpp's own)."""
    folder = str(cache_dir() / "working-base")
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += (target.startswith(folder) and target.endswith("(deleted)")
                  or target.startswith("/memfd:prosemix-model"))
    return count


def test_the_scratch_copy_is_unnamed_and_released(adapters, session_cache):
    before = _scratch_descriptors()
    b = LlamaCppBackend(merge=True)
    b.load(None, adapters)
    assert b._shared.kind == "file" and b._shared.identity.endswith("(deleted)")  # no name
    loaded = _scratch_descriptors()
    assert loaded > before
    b.load(None, adapters)  # a reload closes the first copy
    assert _scratch_descriptors() == loaded
    b.close()
    b.close()
    assert _scratch_descriptors() == before


def test_a_memory_file_when_the_cache_cannot_hold_an_unnamed_file(monkeypatch, adapters,
                                                                   session_cache):
    monkeypatch.delattr(os, "O_TMPFILE")
    b = LlamaCppBackend(merge=True)
    b.load(None, adapters)
    assert b._shared.kind == "memory" and b._shared.identity.startswith("/memfd:prosemix-model")
    b.set_weights([0, 1, 0])
    values = b._shared.view("blk.4.attn_v.weight").copy()
    text = b.generate(PROMPT, GREEDY).text
    b.close()
    monkeypatch.undo()
    c = LlamaCppBackend(merge=True)
    c.load(None, adapters)
    c.set_weights([0, 1, 0])
    assert np.array_equal(c._shared.view("blk.4.attn_v.weight"), values)
    assert c.generate(PROMPT, GREEDY).text == text
    c.close()


def test_a_model_without_the_target_tensors_is_refused(tmp_path, base):
    with pytest.raises(ModelError, match="has no tensor blk.99.attn_q.weight"):
        working_base(embedded_model_path(), ["blk.99.attn_q.weight"], tmp_path)


def test_a_damaged_working_copy_is_made_again(tmp_path, adapters, monkeypatch):
    monkeypatch.setenv("PROSEMIX_CACHE", str(tmp_path))
    b = LlamaCppBackend(merge=True)
    b.load(None, adapters[:1])
    path = b._shared.header.path
    b.set_weights([1.0])
    text = b.generate(PROMPT, GREEDY).text
    b.close()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    again = LlamaCppBackend(merge=True)
    again.load(None, adapters[:1])
    assert path.stat().st_size == size and again.generate(PROMPT, GREEDY).text == text
    again.close()


def test_an_unusable_cache_falls_back_to_runtime_adapters(tmp_path, adapters, monkeypatch):
    """A cache folder that cannot be written (here: a file in its place) costs the speed-up,
    not the model: the backend says why and runs with runtime adapters."""
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PROSEMIX_CACHE", str(blocker))
    shipped = default_anchor_paths()[:1]  # has its own GGUF form: nothing to write
    b = LlamaCppBackend()
    b.load(None, shipped)
    assert b.anchors_applied == "runtime" and "merged anchors unavailable" in b.anchors_reason
    assert b.generate(PROMPT, GREEDY).n_tokens > 0
    b.close()
    forced = LlamaCppBackend(merge=True)
    with pytest.raises(ModelError, match="merged anchors are not possible here"):
        forced.load(None, shipped)
    forced.close()
    peft_only = LlamaCppBackend(merge=False)  # its GGUF form would have to be written
    with pytest.raises(AnchorError, match="cannot write the GGUF form of anchor 'alpha'"):
        peft_only.load(None, adapters[:1])
    peft_only.close()


def test_too_little_memory_for_a_working_copy_uses_runtime_adapters(adapters, session_cache,
                                                                    monkeypatch):
    real = os.sysconf
    b = LlamaCppBackend()
    b.load(None, adapters[:1])
    need = b.merge_memory(embedded_model_path())  # 98 MB file + 6 bytes x 26.5M weights
    assert 250e6 < need < 300e6
    b.close()
    pages = (need - 1) * 2 // real("SC_PAGE_SIZE")  # half the memory is just too little
    monkeypatch.setattr(os, "sysconf", lambda name: pages if name == "SC_PHYS_PAGES" else real(name))
    small = LlamaCppBackend()
    small.load(None, adapters[:1])
    assert small.anchors_applied == "runtime" and "too large" in small.anchors_reason
    small.close()


@pytest.mark.parametrize("native_bf16", [True, False], ids=["avx512-bf16", "no-bf16"])
def test_the_working_copy_layout_is_chosen(native_bf16, monkeypatch):
    """Both branches, whatever this CPU is: "auto" gives BF16 only with native BF16."""
    import engine.backends.llama_merge as llama_merge

    monkeypatch.setattr(llama_merge, "cpu_has_bf16", lambda: native_bf16)
    assert choose_layout("keep", embedded=True) == "keep"
    assert choose_layout("bf16", embedded=False) == "bf16"
    assert choose_layout("auto", embedded=False) == "keep"  # a user's own model keeps its format
    assert choose_layout("auto", embedded=True) == ("bf16" if native_bf16 else "keep")
    with pytest.raises(ModelError, match="unknown working-copy layout 'q2'"):
        choose_layout("q2", embedded=True)


def test_the_bf16_layout_is_closer_to_fp32_than_the_kept_one(adapters, session_cache):
    """The quality check against torch's fp32 model (the Q4_1 file dequantized): on a short
    text, the mean |log-prob error| of the BF16 working copy is no larger than that of the
    layout that keeps Q4_1 (the merged mode before it)."""
    from engine.backends.torch import TorchBackend

    text = ("It is a truth universally acknowledged, that a single man in possession of a good "
            "fortune, must be in want of a wife. However little known the feelings or views of "
            "such a man may be on his first entering a neighbourhood, this truth is so well fixed.")
    reference = TorchBackend(dtype="float32")
    reference.load(None, adapters)
    reference.set_weights([1 / 3] * 3, strength=0.0)
    tokens = reference._tokenize(text)
    want = np.array(reference._score_tokens(tokens))
    reference.close()
    errors = {}
    for layout in ("keep", "bf16"):
        b = LlamaCppBackend(merge=True, working_copy=layout)
        b.load(None, adapters)
        b.set_weights([1 / 3] * 3, strength=0.0)  # the base model, in the working copy
        assert b._tokenize(text) == tokens
        errors[layout] = float(np.abs(np.array(b._score_tokens(tokens)) - want).mean())
        b.close()
    assert errors["bf16"] <= errors["keep"], errors
    assert errors["bf16"] < 0.1, errors
