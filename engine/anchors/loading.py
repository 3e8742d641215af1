"""Loading anchors from PEFT folders and GGUF LoRA files, checked against the base model:
architecture, target module names, shapes (ranks may differ between anchors) and finite values.
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from engine.anchors.diction import DICTION_FILE, check_diction
from engine.anchors.model import CARD_FILE, Anchor, AnchorCard, LoraFactors, lora_scale
from engine.errors import AnchorError
from engine.models.base import BaseInfo

_PEFT_KEY = re.compile(
    r"^(?:base_model\.model\.)?(?P<module>.+?)\.lora_(?P<ab>[AB])(?:\.[\w-]+)?\.weight$"
)


def find_card(path: Path) -> AnchorCard | None:
    candidates = [path / CARD_FILE] if path.is_dir() else [
        path.with_suffix(".json"), path.parent / CARD_FILE]
    for candidate in candidates:
        if candidate.is_file():
            return AnchorCard.load(candidate)
    return None


def load_anchor(path: str | os.PathLike[str], base: BaseInfo, *, allow_pickle: bool = False
                ) -> Anchor:
    """Load a PEFT folder or a GGUF LoRA file and check it against ``base``."""
    path = Path(path).expanduser()
    if not path.exists():
        raise AnchorError(f"anchor not found: {path}")
    if path.is_dir():
        anchor = _load_peft(path, base, allow_pickle)
    elif path.suffix.lower() == ".gguf":
        from engine.anchors.gguf_lora import read_gguf_lora

        alpha, factors = read_gguf_lora(path, base)
        anchor = Anchor(path.stem, path, alpha, False, factors, gguf_path=path)
    else:
        raise AnchorError(f"{path}: an anchor is a PEFT folder or a .gguf LoRA file")
    anchor.card = find_card(path)
    if anchor.card:
        anchor.name = anchor.card.name
    validate_factors(anchor.name, anchor.factors, base)
    diction = (path if path.is_dir() else path.parent) / DICTION_FILE
    if diction.is_file():  # a voice's: in its folder, beside its GGUF
        anchor.diction = check_diction(read_safetensors(diction), anchor.name, diction.name)
    return anchor


def _load_peft(folder: Path, base: BaseInfo, allow_pickle: bool) -> Anchor:
    config_path = folder / "adapter_config.json"
    if not config_path.is_file():
        raise AnchorError(f"{folder} has no adapter_config.json: not a PEFT adapter folder")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AnchorError(f"cannot read {config_path}: {exc}") from None
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        raise AnchorError(f"{folder}: peft_type {config.get('peft_type')!r} is not LoRA")
    tensors = _read_peft_tensors(folder, allow_pickle)
    alpha = float(config.get("lora_alpha", config.get("r", 8)))
    use_rslora = bool(config.get("use_rslora", False))
    alpha_pattern = config.get("alpha_pattern") or {}
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        match = _PEFT_KEY.match(key)
        if not match:
            if key.endswith((".lora_magnitude_vector", "lora_embedding_A", "lora_embedding_B")):
                raise AnchorError(f"{folder}: tensor {key!r} is not supported (plain LoRA only)")
            raise AnchorError(f"{folder}: unexpected tensor {key!r}, not a LoRA A/B factor")
        pairs.setdefault(match.group("module"), {})[match.group("ab")] = value
    factors = {}
    for module, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            lacking = ({"A", "B"} - set(ab)).pop()
            raise AnchorError(f"{folder}: module {module} lacks its lora_{lacking} factor")
        module_alpha = float(_pattern_value(alpha_pattern, module, alpha))
        rank = int(ab["A"].shape[0]) if ab["A"].ndim == 2 else 0
        if rank <= 0:
            raise AnchorError(f"{folder}: module {module} has an empty or malformed lora_A")
        factors[module] = LoraFactors(ab["A"], ab["B"], lora_scale(module_alpha, rank, use_rslora))
    if not factors:
        raise AnchorError(f"{folder}: the adapter holds no LoRA factors")
    return Anchor(folder.name, folder, alpha, use_rslora, factors, peft_dir=folder,
                  gguf_path=next(iter(sorted(folder.glob("*.gguf"))), None))


def _pattern_value(pattern: dict[str, Any], module: str, default: Any) -> Any:
    for key, value in pattern.items():
        if module == key or module.endswith("." + key):
            return value
    return default


def _read_peft_tensors(folder: Path, allow_pickle: bool) -> dict[str, np.ndarray]:
    st = folder / "adapter_model.safetensors"
    if st.is_file():
        return read_safetensors(st)
    binary = folder / "adapter_model.bin"
    if binary.is_file():
        if not allow_pickle:
            raise AnchorError(
                f"{binary} is a pickle checkpoint, which can run code when loaded; "
                "convert it to safetensors, or pass the allow-pickle flag if you trust it"
            )
        try:
            import torch
        except ImportError:
            raise AnchorError(f"{binary}: pickle checkpoints need torch, which is not in this build; "
                              "convert it to safetensors") from None
        try:
            state = torch.load(binary, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise AnchorError(f"cannot read {binary}: {exc}") from None
        return {k: v.float().numpy() for k, v in state.items()}
    raise AnchorError(f"{folder} has no adapter_model.safetensors")


_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": np.uint16}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """A safetensors file as float32 arrays, bf16 included (numpy has no bfloat16: its bits
    are the upper half of a float32). Read by hand from the format's JSON header, so a
    dtype is known before any tensor is read and a damaged file names its problem."""
    try:
        data = path.read_bytes()
        size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + size]) if 8 + size <= len(data) else None
    except (OSError, ValueError) as exc:
        raise AnchorError(f"cannot read {path}: {exc}") from None
    if not isinstance(header, dict):
        raise AnchorError(f"cannot read {path}: not a safetensors file (bad header)")
    out: dict[str, np.ndarray] = {}
    body = memoryview(data)[8 + size:]
    for key, spec in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = spec["dtype"], spec["shape"], spec["data_offsets"]
            kind = _ST_DTYPES[dtype]
            raw = np.frombuffer(body[start:end], dtype=kind).reshape(shape)
        except KeyError:
            raise AnchorError(f"cannot read {path}: tensor {key!r} has dtype {spec.get('dtype')!r}; "
                              f"anchors hold {sorted(_ST_DTYPES)}") from None
        except (TypeError, ValueError) as exc:
            raise AnchorError(f"cannot read {path}: tensor {key!r} is damaged or cut short ({exc})") from None
        if dtype == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        out[key] = np.array(raw, dtype=np.float32)  # a writable copy, not a view of the bytes
    return out


def validate_factors(name: str, factors: dict[str, LoraFactors], base: BaseInfo) -> None:
    """Raise AnchorError if a module is missing from the base, misshapen or not finite."""
    missing = [m for m in factors if m not in base.shapes]
    if missing:
        raise AnchorError(
            f"anchor {name!r} targets module(s) the base model ({base.architecture}, "
            f"{base.n_layers} layers) does not have, e.g. {missing[0]!r}: "
            "it was trained for another model"
        )
    for module, f in factors.items():
        out_f, in_f = base.shapes[module]
        if f.A.ndim != 2 or f.B.ndim != 2 or f.A.shape[1] != in_f or f.B.shape[0] != out_f \
                or f.A.shape[0] != f.B.shape[1]:
            raise AnchorError(
                f"anchor {name!r}: {module} has A {tuple(f.A.shape)} and B {tuple(f.B.shape)}, "
                f"but the base's weight is {out_f}x{in_f}: it was trained for another model"
            )
        if not (np.isfinite(f.A).all() and np.isfinite(f.B).all()):
            raise AnchorError(f"anchor {name!r}: {module} holds NaN or infinite values")
        if not math.isfinite(f.scale):
            raise AnchorError(f"anchor {name!r}: {module} has a non-finite scale {f.scale}")
