"""What machine this is, in the words every measurement names: the CPU's model and the SIMD
features that choose llama.cpp's and torch's kernels. Machines differ (AVX512-BF16 on some, AVX2
only on others), so a figure without them means little."""
from __future__ import annotations

import os
import platform

# the flags that change which kernels run, in /proc/cpuinfo's spelling and ours
_FEATURES = (("avx2", "AVX2"), ("fma", "FMA"), ("f16c", "F16C"), ("avx512f", "AVX-512"),
             ("avx512_vnni", "AVX512-VNNI"), ("avx512_bf16", "AVX512-BF16"), ("amx_bf16", "AMX-BF16"))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_flags() -> list[str]:
    """Every flag /proc/cpuinfo gives this CPU, in its spelling (Linux; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return []


def cpu_features() -> list[str]:
    """The kernel-relevant SIMD features this CPU reports (Linux; empty elsewhere)."""
    flags = cpu_flags()
    return [ours for theirs, ours in _FEATURES if theirs in flags]


def describe_machine() -> str:
    """e.g. "x86_64, 2 cores, AMD EPYC (AVX2 FMA F16C, no AVX-512)"."""
    features = cpu_features()
    simd = " ".join(features) + ("" if "AVX-512" in features or not features else ", no AVX-512")
    return f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}" + (f" ({simd})" if simd else "")
