"""Every use of llama-cpp-python's private parts, in one place.

llama-cpp-python's `Llama` has no public way to do several things the llama backend needs: the
raw context handle for the C API (adapters, abort callback, logits, sequence state), the count of
tokens its KV cache holds (set to keep a prompt's prefix, or a KV handed over from torch), a
second context on the same model (candidates' streams), the sampler chain `generate` builds, and
turning off all-logits after a scoring pass. These work on the version pinned in pyproject.toml;
`check` names that version when what they need is missing, instead of an AttributeError deep in
a generation.
"""
from __future__ import annotations

from typing import Any, Sequence

PINNED = "0.3.36"  # pyproject.toml's llama-cpp-python


def load() -> Any:
    """The llama_cpp module, checked (`check`); BackendUnavailable where it is not installed."""
    from engine.errors import BackendUnavailable

    try:
        import llama_cpp
    except ImportError as exc:
        raise BackendUnavailable(f"the llama backend needs llama-cpp-python: {exc}") from None
    check()
    return llama_cpp


def check() -> None:
    """Raise BackendUnavailable, naming the version, when llama-cpp-python lacks a private part
    this module uses (checked once, when the llama backend loads a model)."""
    import llama_cpp
    from llama_cpp import Llama

    from engine.errors import BackendUnavailable

    missing = [name for name, ok in (
        ("Llama._init_sampler", hasattr(Llama, "_init_sampler")),
        ("llama_cpp._internals.LlamaContext", hasattr(getattr(llama_cpp, "_internals", None), "LlamaContext")),
    ) if not ok]
    if missing:
        raise BackendUnavailable(
            f"this llama-cpp-python ({getattr(llama_cpp, '__version__', 'unknown version')}) lacks "
            f"{', '.join(missing)}, which Prosemix uses; install llama-cpp-python=={PINNED}")


def ctx(llm: Any) -> Any:
    """The llama_context pointer of ``llm``, for the C API."""
    return llm._ctx.ctx


def hold(llm: Any, n: int, tokens: Sequence[int] | None = None) -> int:
    """Tell ``llm`` its KV cache holds its first ``n`` tokens (``tokens``, where they were put
    there from outside, as a KV handed over from torch), so that its next eval goes on from them."""
    if tokens is not None:
        llm.input_ids[:n] = tokens[:n]
    llm.n_tokens = n
    return n


def new_context(llm: Any, params: Any) -> Any:
    """A second llama.cpp context on ``llm``'s model (its weights shared)."""
    from llama_cpp import _internals

    return _internals.LlamaContext(model=llm._model, params=params, verbose=False)


def sampler(llm: Any, **kwargs: Any) -> Any:
    """The sampler chain ``llm.generate`` would build with these arguments."""
    return llm._init_sampler(**kwargs)


def last_logits_only(llm: Any) -> None:
    """After a pass that kept every position's logits (scoring), keep the last one's only, as a
    generation asks."""
    llm._logits_all = False
