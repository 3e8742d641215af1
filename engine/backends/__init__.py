"""Backends: one file each, behind the protocol in base.py. Imported lazily.

`open_backend(BackendSpec)` is the one way to go from what a user asked for (model, backend,
device, anchors) to a loaded backend; the CLI and the GUI's worker both call it.
"""
from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Callable, Sequence

from engine.backends.spec import BACKENDS, BackendSpec
from engine.errors import BackendUnavailable, ProsemixError

if TYPE_CHECKING:
    from engine.anchors.model import Anchor
    from engine.backends.base import Backend

__all__ = ["BACKENDS", "BackendSpec", "available_backends", "choose_backend", "create_backend", "open_backend"]


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
        from engine.backends.llama_cpp import LlamaCppBackend

        return LlamaCppBackend(**options)  # type: ignore[arg-type]  # options are checked by the class
    if name == "torch":
        from engine.backends.torch import TorchBackend

        return TorchBackend(**options)  # type: ignore[arg-type]  # as above
    if name == "remote":
        from engine.backends.remote import RemoteBackend

        return RemoteBackend(**options)  # type: ignore[arg-type]  # as above
    raise ProsemixError(f"unknown backend {name!r}")


def open_backend(spec: BackendSpec, anchors: Sequence["str | os.PathLike[str] | Anchor"] = (),
                 progress: Callable[[str, float], None] | None = None) -> "Backend":
    """Create and load the backend ``spec`` asks for, with ``anchors``."""
    from engine.models.base import resolve_model

    if spec.remote:
        if not spec.server:
            raise ProsemixError("the remote backend needs the server's URL (on the command line: --server URL)")
        backend = create_backend("remote", url=spec.server, api_key=spec.api_key, n_ctx=spec.n_ctx)
        backend.load(None, anchors, progress=progress)
        return backend
    model = resolve_model(spec.model)
    name = choose_backend(spec.backend, model_is_gguf=model.is_file())
    options: dict[str, object] = {"n_ctx": spec.n_ctx}
    if name == "torch":
        options.update(device=spec.device, dtype=spec.dtype)
    else:
        options.update(working_copy=spec.working_copy, settings=spec.settings)
        if spec.gpu_layers:
            options.update(n_gpu_layers=spec.gpu_layers)
    backend = create_backend(name, **options)
    backend.load(model, anchors, allow_pickle=spec.allow_pickle, progress=progress)
    return backend
