"""llama.cpp's AMX kernels, kept off.

A llama-cpp-python built on a CPU with AMX (Intel Xeon since Sapphire Rapids: ``amx_int8`` in
/proc/cpuinfo) compiles ggml's AMX path, and on load llama.cpp repacks the embedded model's
Q4_1 matrices into AMX's buffer type. On such a Xeon (llama-cpp-python 0.3.36) the first decode
then crashed the process with a segmentation fault (docs/dev/decisions/0004-no-amx-repack.md); upstream reports the same
path crashing (ggml-org/llama.cpp#20824, open) and giving wrong results for Q4_0 and Q4_1
(#16315). With llama.cpp's extra buffer types off (``use_extra_bufts``, what llama-server's
``--no-repack`` sets) the same build decoded normally.

So on a CPU with AMX every model this process loads has the extra buffer types off; elsewhere
nothing changes (an AVX2 CPU keeps llama.cpp's own repacking). ``EngineSettings.repack``
(PROSEMIX_LLAMA_REPACK) True keeps them on, for a llama.cpp that has fixed the path; False turns
them off on any CPU.
"""
from __future__ import annotations

from typing import Any

from engine.backends.settings import EngineSettings
from engine.machine import cpu_flags

AMX_FLAGS = ("amx_int8", "amx_tile")


def repack_allowed(flags: list[str] | None = None, choice: bool | None = None) -> bool:
    """Whether llama.cpp may use its extra buffer types (weight repacking, AMX) here:
    ``choice`` where given (else the environment's, `EngineSettings`), off on a CPU with AMX."""
    if choice is None:
        choice = EngineSettings.from_environment().repack
    if choice is not None:
        return choice
    flags = cpu_flags() if flags is None else flags
    return not any(f in flags for f in AMX_FLAGS)


def without_extra_buffers(defaults: Any) -> Any:
    """``llama_model_default_params`` with the extra buffer types off (marked, so that it is
    wrapped once)."""
    def params() -> Any:
        p = defaults()
        p.use_extra_bufts = False
        return p

    params.prosemix_no_repack = True  # type: ignore[attr-defined]  # a function attribute marks the wrapper
    params.wrapped = defaults  # type: ignore[attr-defined]  # kept for unwrapping
    return params


def apply(llama_cpp_module: Any, flags: list[str] | None = None, choice: bool | None = None) -> bool:
    """Before a ``Llama`` is made: where repacking is not allowed, every model llama-cpp-python
    loads from now on gets ``use_extra_bufts = False`` (its ``Llama`` reads the defaults from
    this function of its low-level module, and has no argument of its own for it). Returns
    whether repacking stays on."""
    low = llama_cpp_module.llama_cpp
    current = low.llama_model_default_params
    allowed = repack_allowed(flags, choice)
    if not allowed and not getattr(current, "prosemix_no_repack", False):
        low.llama_model_default_params = without_extra_buffers(current)
    elif allowed and getattr(current, "prosemix_no_repack", False):
        low.llama_model_default_params = current.wrapped
    return allowed


def open_llama(**kwargs: Any) -> Any:
    """``llama_cpp.Llama(**kwargs)`` with the extra buffer types as `apply` decides."""
    import llama_cpp

    apply(llama_cpp)
    return llama_cpp.Llama(**kwargs)
