"""A control vector on a transformers model: each decoder layer's output gets ``scale *
vector[l]`` added, through forward hooks (llama.cpp's control vectors do the same inside its
graph). The torch backend's `set_control_vector` holds one of these."""
from __future__ import annotations

from typing import Any

import numpy as np

from engine.errors import ProsemixError


def layers_of(model: Any) -> Any:
    """The decoder layers of a transformers causal LM (or of a peft model around one)."""
    inner = model
    for attr in ("base_model", "model"):  # peft's wrapper, then the CausalLM's body
        while hasattr(inner, attr) and not hasattr(inner, "layers"):
            inner = getattr(inner, attr)
    if not hasattr(inner, "layers"):
        raise ProsemixError("this model's decoder layers cannot be found")
    return inner.layers


def output_tensor(out: Any) -> Any:
    """A decoder layer's hidden states, whether it returns them alone or in a tuple."""
    return out[0] if isinstance(out, tuple) else out


def check_vector(vector: np.ndarray, layers: int, hidden: int) -> None:
    if vector.ndim != 2 or vector.shape != (layers, hidden):
        raise ProsemixError(f"a control vector for this model is {layers} x {hidden}, not "
                            f"{' x '.join(map(str, vector.shape))}")
    if not np.isfinite(vector).all():
        raise ProsemixError("the control vector holds a NaN or an infinite value")


class VectorHooks:
    """While installed, each decoder layer's output gets ``scale * vector[l]`` added."""

    def __init__(self, model: Any, vector: np.ndarray, scale: float = 1.0):
        self.layers = layers_of(model)
        param = next(self.layers[0].parameters())
        hidden = getattr(getattr(model, "config", None), "hidden_size", None) or vector.shape[1]
        check_vector(vector, len(self.layers), int(hidden))
        self.vector, self.scale = vector, scale
        self._handles: list[Any] = []
        self._param = param

    def install(self) -> "VectorHooks":
        import torch

        self.remove()
        for i, layer in enumerate(self.layers):
            if not self.vector[i].any():
                continue
            add = torch.tensor(self.vector[i] * self.scale, dtype=self._param.dtype, device=self._param.device)

            def shift(module: Any, inputs: Any, out: Any, add: Any = add) -> Any:
                if isinstance(out, tuple):
                    return (out[0] + add,) + tuple(out[1:])
                return out + add
            self._handles.append(layer.register_forward_hook(shift))
        return self

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __enter__(self) -> "VectorHooks":
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.remove()
