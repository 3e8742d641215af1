"""Synthetic LoRA adapters with random factors, for tests and benchmarks.

They are real PEFT folders (adapter_config.json + adapter_model.safetensors) in the key
layout peft writes, so they exercise the same loading and conversion paths as trained ones.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.models.base import BaseInfo

QKVO = ("q_proj", "k_proj", "v_proj", "o_proj")


def write_random_peft(folder: str | Path, base: BaseInfo, *, rank: int = 8, alpha: float = 16.0,
                      targets: Sequence[str] = QKVO, seed: int = 0, strength: float = 0.02,
                      layers: Sequence[int] | None = None, use_rslora: bool = False,
                      dtype: str = "float32") -> Path:
    """Write a PEFT LoRA folder whose delta is random with per-entry scale ~``strength``."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tensors = {}
    layers = range(base.n_layers) if layers is None else layers
    for layer in layers:
        for module, shape in base.shapes.items():
            if not module.startswith(f"model.layers.{layer}.") or module.rsplit(".", 1)[1] not in targets:
                continue
            out_f, in_f = shape
            key = f"base_model.model.{module}"
            tensors[f"{key}.lora_A.weight"] = rng.standard_normal((rank, in_f)).astype(dtype) / np.sqrt(in_f)
            tensors[f"{key}.lora_B.weight"] = (rng.standard_normal((out_f, rank)) * strength).astype(dtype)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "r": rank, "lora_alpha": alpha, "target_modules": list(targets),
              "use_rslora": use_rslora, "bias": "none", "task_type": "CAUSAL_LM",
              "base_model_name_or_path": str(base.path)}
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2))
    return folder


def write_raw_gguf_lora(path: str | Path, architecture: str, tensors: dict[str, np.ndarray],
                        alpha: float = 16.0) -> Path:
    """A GGUF LoRA with exactly the given tensors, unchecked: for testing what loaders refuse."""
    import gguf

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for name, value in tensors.items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(path)
