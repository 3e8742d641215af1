"""PEFT LoRA <-> GGUF LoRA for llama-architecture models, written with the `gguf` package.

llama.cpp stores q and k projections with their rows permuted for its RoPE layout, so B of
q_proj and k_proj is permuted the same way (A is untouched). llama.cpp scales each adapter
tensor by alpha / rank, using the file's one alpha and each tensor's own rank; a per-module
scale that differs from that (rsLoRA, alpha or rank patterns) is folded into B.
"""
from __future__ import annotations

import hashlib

import os
from collections import Counter
from pathlib import Path

import numpy as np

from engine.anchors.model import Anchor, LoraFactors
from engine.errors import AnchorError
from engine.models.base import GGUF_TO_HF, HF_TO_GGUF, BaseInfo


def _permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF -> llama.cpp row order of a q/k projection (per head: interleave the two halves)."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _unpermute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _heads_for(short: str, base: BaseInfo) -> int | None:
    if short == "self_attn.q_proj":
        return base.n_head
    if short == "self_attn.k_proj":
        return base.n_head_kv
    return None


def _split_module(module: str) -> tuple[int, str]:
    # "model.layers.12.self_attn.q_proj" -> (12, "self_attn.q_proj")
    parts = module.split(".")
    if len(parts) < 5 or parts[0] != "model" or parts[1] != "layers" or not parts[2].isdigit():
        raise AnchorError(f"module {module!r} cannot be written to GGUF (not a decoder-layer linear)")
    return int(parts[2]), ".".join(parts[3:])


def gguf_tensor_name(module: str) -> str:
    """"model.layers.3.self_attn.q_proj" -> "blk.3.attn_q.weight"."""
    layer, short = _split_module(module)
    if short not in HF_TO_GGUF:
        raise AnchorError(f"module {module!r} has no llama.cpp counterpart")
    return f"blk.{layer}.{HF_TO_GGUF[short]}.weight"


def llama_layout(module: str, b: np.ndarray, base: BaseInfo) -> tuple[str, np.ndarray]:
    """The GGUF tensor name of a Hugging Face module, and B in llama.cpp's row order."""
    name = gguf_tensor_name(module)
    heads = _heads_for(_split_module(module)[1], base)
    if heads:
        b = _permute_rows(b, heads)
    return name, b


def write_gguf_lora(anchor: Anchor, base: BaseInfo, out: str | os.PathLike[str], *,
                    dtype: str = "f32") -> Path:
    """Write ``anchor`` as a GGUF LoRA for ``base``; atomic (a temp file, then rename)."""
    import gguf

    if base.architecture != "llama":
        raise AnchorError(f"GGUF conversion supports llama models, not {base.architecture!r}")
    np_dtype = {"f32": np.float32, "f16": np.float16}.get(dtype)
    if np_dtype is None:
        raise AnchorError(f"GGUF LoRA dtype must be f32 or f16, got {dtype!r}")
    ranks = Counter(f.rank for f in anchor.factors.values())
    ref_rank = ranks.most_common(1)[0][0]
    ref_scale = Counter(
        f.scale for f in anchor.factors.values() if f.rank == ref_rank).most_common(1)[0][0]
    alpha_written = ref_scale * ref_rank  # llama.cpp: scale = alpha / rank
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), base.architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha_written))
    writer.add_name(anchor.name)
    for module, f in sorted(anchor.factors.items(), key=lambda kv: _split_module(kv[0])):
        b = f.B.astype(np.float32)
        fold = f.scale * f.rank / alpha_written
        if abs(fold - 1.0) > 1e-7:
            b = b * np.float32(fold)
        name, b = llama_layout(module, b, base)
        writer.add_tensor(name + ".lora_a", np.ascontiguousarray(f.A, dtype=np_dtype))
        writer.add_tensor(name + ".lora_b", np.ascontiguousarray(b, dtype=np_dtype))
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(tmp, out)
    return out


def read_gguf_lora(path: str | os.PathLike[str], base: BaseInfo
                   ) -> tuple[float, dict[str, LoraFactors]]:
    """Read a GGUF LoRA back into HF-orientation factors, checking it fits ``base``."""
    from engine.models.gguf_meta import read_header

    path = Path(path)
    header = read_header(path, error=AnchorError)  # clear errors for a truncated or foreign file
    if header.get("general.type") != "adapter" or header.get("adapter.type") != "lora":
        raise AnchorError(f"{path} is a GGUF file but not a LoRA adapter")
    arch = header.get("general.architecture")
    if arch != base.architecture:
        raise AnchorError(
            f"{path} is a LoRA for architecture {arch!r}, but the base model is {base.architecture!r}"
        )
    alpha = float(header.get("adapter.lora.alpha", 0.0))
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:
        raise AnchorError(f"cannot read GGUF LoRA {path}: {exc}") from None
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for t in reader.tensors:
        name = t.name
        if not name.endswith((".lora_a", ".lora_b")):
            raise AnchorError(f"{path}: tensor {name!r} is not a LoRA factor")
        stem, kind = name.rsplit(".", 1)
        data = np.array(t.data, dtype=np.float32).reshape(tuple(reversed([int(x) for x in t.shape])))
        pairs.setdefault(stem, {})[kind] = data
    factors: dict[str, LoraFactors] = {}
    for stem, ab in pairs.items():
        parts = stem.split(".")  # blk.N.attn_q.weight
        if len(parts) != 4 or parts[0] != "blk" or parts[2] not in GGUF_TO_HF:
            raise AnchorError(f"{path}: tensor {stem!r} has no Hugging Face counterpart")
        if set(ab) != {"lora_a", "lora_b"}:
            raise AnchorError(f"{path}: {stem} lacks one of its two LoRA factors")
        short = GGUF_TO_HF[parts[2]]
        a, b = ab["lora_a"], ab["lora_b"]
        heads = _heads_for(short, base)
        if heads and b.shape[0] % (2 * heads) == 0:
            b = _unpermute_rows(b, heads)
        rank = a.shape[0]
        scale = alpha / rank if alpha else 1.0
        factors[f"model.layers.{parts[1]}.{short}"] = LoraFactors(a, b, scale)
    if not factors:
        raise AnchorError(f"{path}: the adapter holds no LoRA factors")
    return alpha, factors


def gguf_for(anchor: Anchor, base: BaseInfo, cache: Path) -> Path:
    """A GGUF LoRA file for ``anchor``: its own, or one converted once into ``cache``."""
    if anchor.gguf_path is not None:
        return anchor.gguf_path
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
