"""An activation style vector: per layer, the mean hidden state of the writer's text minus the
mean hidden state of the base model's own text on comparable openings (the openings of the
writer's paragraphs, continued by the base). Added to the layers' outputs at strength s
(h_l + s * v_l, v_l the increment of that difference from layer l-1 to l), it moves the base's
activations toward the writer's, as llama.cpp's control vectors do, without training.

Measured against the few-step LoRA voice by `python -m benchmarks voice_methods`; not adopted as
an anchor kind (docs/dev/decisions/0007-a-voice-from-a-page.md).
Each backend applies a vector with `set_control_vector(vector, scale)`: torch through forward
hooks (engine/backends/torch_vector.py), llama.cpp through its control-vector API
(`llama_set_adapter_cvec`), which has no vector for layer 0, so a vector here leaves layer 0
alone too and the two backends agree.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Sequence

import numpy as np

from engine.backends.torch_vector import layers_of, output_tensor
from engine.errors import ProsemixError


def openings(text: str, count: int = 12, words: int = 8) -> list[str]:
    """The first ``words`` words of ``count`` paragraphs spread over ``text`` (sentences when
    it has fewer paragraphs): where the base model is asked to go on in its own way."""
    units = [u for u in re.split(r"\n\s*\n", text) if len(u.split()) >= words + 4]
    if len(units) < count:
        units = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if len(s.split()) >= words + 4]
    if not units:
        raise ProsemixError("the text has no sentence long enough to take an opening from")
    step = max(1, len(units) // count)
    return [" ".join(u.split()[:words]) for u in units[::step][:count]]


def hidden_means(model: Any, tokenizer: Any, texts: Sequence[str], block: int = 256) -> np.ndarray:
    """The mean output of each decoder layer over every token of ``texts`` (in blocks of
    ``block`` tokens): an array [layers, hidden]."""
    import torch

    layers = layers_of(model)
    sums: list[Any] = [None] * len(layers)
    count = 0

    def hook(index: int) -> Callable[[Any, Any, Any], None]:
        def record(module: Any, inputs: Any, out: Any) -> None:
            h = output_tensor(out)[0].float().sum(dim=0)
            sums[index] = h if sums[index] is None else sums[index] + h
        return record

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            for text in texts:
                ids = tokenizer(text, add_special_tokens=False)["input_ids"]
                for start in range(0, len(ids), block):
                    chunk = ids[start:start + block]
                    if len(chunk) < 2:
                        continue
                    model(torch.tensor([chunk], device=next(model.parameters()).device))
                    count += len(chunk)
    finally:
        for h in handles:
            h.remove()
    if count == 0:
        raise ProsemixError("no tokens to measure the hidden states on")
    return np.stack([(s / count).cpu().numpy() for s in sums]).astype(np.float32)


def style_vector(model: Any, tokenizer: Any, writer: Sequence[str], base: Sequence[str]) -> np.ndarray:
    """What to add to each layer's output, [layers, hidden], so that at s = 1 every layer's
    mean hidden state moves by the difference D_l = mean h_l(writer's text) - mean h_l(the
    base's own text): the increments D_l - D_(l-1). An addition at layer l stays in the
    residual stream of every layer above it, so adding D_l itself at every layer would move
    layer L by the sum of all the D below it. Layer 0 gets nothing (llama.cpp's control vectors
    start at layer 1), so layer l moves by D_l - D_0."""
    d = hidden_means(model, tokenizer, writer) - hidden_means(model, tokenizer, base)
    v = np.zeros_like(d)
    v[1:] = d[1:] - d[:-1]
    if not np.isfinite(v).all():
        raise ProsemixError("the style vector is not finite")
    return v
