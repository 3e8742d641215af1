"""Anchors: LoRA factors plus an optional card, loaded from PEFT folders or GGUF LoRA files.

Every anchor is checked against the base model before use: architecture, target module
names, shapes (ranks may differ between anchors) and finite values.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AnchorError
from .models import BaseInfo

CARD_FILE = "anchor.json"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_PEFT_KEY = re.compile(
    r"^(?:base_model\.model\.)?(?P<module>.+?)\.lora_(?P<ab>[AB])(?:\.[\w-]+)?\.weight$"
)
DEFAULT_COLOURS = ("#c0392b", "#2874a6", "#1e8449", "#b9770e", "#7d3c98", "#148f77",
                   "#a04000", "#5d6d7e")


@dataclass(frozen=True)
class AnchorCard:
    """What anchor.json says about an anchor. Validation names the bad field."""

    name: str
    description: str = ""
    colour: str = "#2874a6"
    corpus: str = ""
    license: str = ""
    base_sha256: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise AnchorError(f"anchor card: name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.colour, str) or not _COLOUR.match(self.colour):
            raise AnchorError(f"anchor card {self.name!r}: colour must be #rrggbb, got {self.colour!r}")
        for key in ("description", "corpus", "license", "base_sha256"):
            if not isinstance(getattr(self, key), str):
                raise AnchorError(f"anchor card {self.name!r}: {key} must be a string")
        for key in ("training", "metrics"):
            if not isinstance(getattr(self, key), dict):
                raise AnchorError(f"anchor card {self.name!r}: {key} must be an object")

    @classmethod
    def load(cls, path: Path) -> "AnchorCard":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AnchorError(f"cannot read anchor card {path}: {exc}") from None
        if not isinstance(data, dict):
            raise AnchorError(f"anchor card {path} must hold a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AnchorError(f"anchor card {path}: unknown field(s) {unknown}")
        return cls(**data)

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class LoraFactors:
    """One module's factors in Hugging Face orientation: A (r, in), B (out, r), float32."""

    A: np.ndarray
    B: np.ndarray
    scale: float  # s = alpha / r (alpha / sqrt(r) for rsLoRA)

    @property
    def rank(self) -> int:
        return int(self.A.shape[0])

    def delta_norm(self) -> float:
        """||s B A||_F without forming B A: sqrt(trace((B^T B)(A A^T)))."""
        gram = (self.B.T.astype(np.float64) @ self.B) * (self.A.astype(np.float64) @ self.A.T)
        return float(abs(self.scale) * math.sqrt(max(gram.sum(), 0.0)))


@dataclass
class Anchor:
    """A LoRA anchor: its factors per target module, its scales and its card."""

    name: str
    source: Path
    alpha: float
    use_rslora: bool
    factors: dict[str, LoraFactors]
    card: AnchorCard | None = None
    gguf_path: Path | None = None  # a GGUF form next to the source, if there is one
    peft_dir: Path | None = None

    @property
    def rank(self) -> int:
        return max((f.rank for f in self.factors.values()), default=0)

    @property
    def target_modules(self) -> list[str]:
        return sorted({m.rsplit(".", 1)[-1] for m in self.factors})

    @property
    def colour(self) -> str:
        # str hash() differs between runs; crc32 keeps an anchor's colour stable
        import zlib

        return self.card.colour if self.card else DEFAULT_COLOURS[zlib.crc32(self.name.encode()) % len(DEFAULT_COLOURS)]

    def layer_norms(self) -> dict[int, float]:
        """Frobenius norm of the anchor's delta per decoder layer (all its modules there)."""
        out: dict[int, float] = {}
        for module, f in self.factors.items():
            layer = _layer_of(module)
            out[layer] = math.sqrt(out.get(layer, 0.0) ** 2 + f.delta_norm() ** 2)
        return dict(sorted(out.items()))


def _layer_of(module: str) -> int:
    match = re.search(r"\.layers\.(\d+)\.", module)
    return int(match.group(1)) if match else -1


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


def validate_name(name: str) -> str:
    """An anchor name that is also a safe file name."""
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith("."):
        raise AnchorError(
            f"anchor name {name!r} must be 1-64 letters, digits, spaces, '_', '-' or '.', "
            "starting with a letter or digit")
    return name


def lora_scale(alpha: float, rank: int, use_rslora: bool) -> float:
    return alpha / math.sqrt(rank) if use_rslora else alpha / rank


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
        from .gguf_lora import read_gguf_lora

        alpha, factors = read_gguf_lora(path, base)
        anchor = Anchor(path.stem, path, alpha, False, factors, gguf_path=path)
    else:
        raise AnchorError(f"{path}: an anchor is a PEFT folder or a .gguf LoRA file")
    anchor.card = find_card(path)
    if anchor.card:
        anchor.name = anchor.card.name
    validate_factors(anchor.name, anchor.factors, base)
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
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            raw = load_file(str(st))
        except (SafetensorError, OSError, ValueError, TypeError) as exc:
            raise AnchorError(f"cannot read {st}: {exc}") from None
        except Exception as exc:  # bf16 tensors: numpy has no bfloat16
            if "bf16" not in str(exc).lower() and "bfloat" not in str(exc).lower():
                raise AnchorError(f"cannot read {st}: {exc}") from None
            raw = _read_safetensors_with_torch(st)
        return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in raw.items()}
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


def _read_safetensors_with_torch(path: Path) -> dict[str, np.ndarray]:
    from safetensors.torch import load_file

    return {k: v.float().numpy() for k, v in load_file(str(path)).items()}


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
