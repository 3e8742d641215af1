"""Backends: one file each, behind the protocol in base.py. Imported lazily."""
from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from ..errors import BackendUnavailable, ProsemixError

if TYPE_CHECKING:
    from .base import Backend

BACKENDS = ("llama", "torch", "remote")


def available_backends() -> dict[str, bool]:
    return {
        "llama": importlib.util.find_spec("llama_cpp") is not None,
        "torch": all(importlib.util.find_spec(m) is not None
                     for m in ("torch", "transformers")),
        "remote": importlib.util.find_spec("httpx") is not None,
    }


def choose_backend(name: str, model_is_gguf: bool) -> str:
    """Resolve "auto": llama.cpp for GGUF models, torch for Hugging Face folders."""
    if name not in ("auto", *BACKENDS):
        raise ProsemixError(f"unknown backend {name!r}; choose auto, llama, torch or remote")
    if name == "remote":
        return name
    avail = available_backends()
    if name == "auto":
        name = "llama" if model_is_gguf and avail["llama"] else "torch"
        if not model_is_gguf and not avail["torch"]:
            raise BackendUnavailable(
                "a Hugging Face model folder needs the torch backend, which is not installed "
                "in this build; use a GGUF model")
    if not avail[name]:
        what = {"llama": "llama-cpp-python", "torch": "torch and transformers", "remote": "httpx"}[name]
        raise BackendUnavailable(f"the {name} backend is not available: {what} not installed "
                                 "in this build")
    if name == "llama" and not model_is_gguf:
        raise ProsemixError("the llama backend needs a GGUF model file, not a folder")
    return name


def create_backend(name: str, **options: object) -> "Backend":
    """A new, unloaded backend of the given (already resolved) kind."""
    if name == "llama":
        from .llama_cpp import LlamaCppBackend

        return LlamaCppBackend(**options)  # type: ignore[arg-type]
    if name == "torch":
        from .torch import TorchBackend

        return TorchBackend(**options)  # type: ignore[arg-type]
    if name == "remote":
        from .remote import RemoteBackend

        return RemoteBackend(**options)  # type: ignore[arg-type]
    raise ProsemixError(f"unknown backend {name!r}")
