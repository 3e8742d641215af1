"""Merged anchors for the llama.cpp backend: target matrices rewritten in place.

Runtime LoRA adapters cost llama.cpp a pair of small matrix products per adapter per target
matrix on every token (about 0.7x the base's decode speed with three anchors on a 2-core CPU,
docs/benchmarks.md). Where the platform allows it, the llama backend instead runs on a
*working copy* of the base model whose target matrices it rewrites on every weight change:

1. ``working_base``: the GGUF with every matrix an anchor targets stored as F16 (dequantized
   once from Q4_1 or whatever it was), cached on disk. The other matrices are kept as the
   file has them (layout "keep"), or, in layout "bf16", stored as BF16: on a CPU with
   AVX512-BF16 llama.cpp evaluates prompts 1.8-2.1x faster from BF16 than from Q4_1 and its
   log-probabilities are closer to the fp32 model, but it decodes at 0.82-0.98x: a decode step
   reads 242 MB instead of 133 (docs/benchmarks.md, "The working copy's format"). All metadata and the token embeddings are copied byte for
   byte.
2. ``SharedModel``: at load the working base is copied into an unnamed scratch file
   (``O_TMPFILE`` beside the cache, else a ``memfd``; Linux). llama.cpp loads it through
   ``/proc/self/fd/N`` and maps it ``MAP_SHARED``, so on the CPU it computes with that
   memory in place; we map the same pages writable. A page-cache file beats a memfd: recent
   kernels back it with large folios, and decoding from it was about 9% faster here than
   from the memfd's 4 KiB shmem pages (docs/benchmarks.md).
3. ``DenseMerger``: a weight change computes ``W = W0 + sum_i w_i s_i B_i A_i`` per target in
   fp32 (one BLAS call per matrix), checks it is finite and fits F16, and writes it into the
   shared mapping. llama.cpp's next evaluation uses it; no adapter is attached at all.
   The matrices are split between a few short-lived threads, each with single-threaded
   BLAS: OpenBLAS's own worker threads keep spinning for a while after a call, and on a
   small CPU that spinning slowed llama.cpp's next prompt evaluation by about 30%.

The cached working base is never written to (only its scratch copy is), and the scratch file
has no name, so it disappears with the process and a crash leaves nothing behind.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import mmap
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from engine.backends.spec import LAYOUTS
from engine.backends.overflow import anchor_bound, merged_bound, needs_exact_check
from engine.errors import ModelError, ProsemixError
from engine.anchors.gguf_lora import gguf_tensor_name, llama_layout
from engine.models.gguf_meta import GGUFHeader, read_header, rewrite_gguf

if TYPE_CHECKING:
    from engine.anchors.model import Anchor
    from engine.models.base import BaseInfo

log = logging.getLogger(__name__)

F32, F16, BF16 = 0, 1, 30  # ggml type ids
_F16_MAX = 65504.0
_WORKING_BASE_VERSION = 2
# the ggml type each layout (engine.backends.spec.LAYOUTS) stores the untargeted matrices as
_REST_TYPES = {"bf16": BF16, "f16": F16, "f32": F32, "q8_0": 8}  # ggml type ids


def merge_supported() -> str | None:
    """None if merged anchors can work on this platform, else the reason they cannot."""
    if not hasattr(os, "memfd_create"):
        return "this platform has no memfd (merged anchors need Linux); using runtime adapters"
    return None


def target_tensors(anchors: Sequence["Anchor"]) -> list[str]:
    """The GGUF names of the matrices that any of ``anchors`` targets."""
    return sorted({gguf_tensor_name(m) for anchor in anchors for m in anchor.factors})


def cpu_has_bf16() -> bool:
    """Whether llama.cpp's CPU build here computes BF16 natively (AVX512-BF16)."""
    try:
        import llama_cpp
    except ImportError:
        return False
    return b"AVX512_BF16 = 1" in llama_cpp.llama_print_system_info()


def merge_memory(path: Path, anchors: Sequence[Anchor], base: BaseInfo) -> int:
    """Bytes that merged anchors would hold on top of nothing: the working copy (at most
    the file plus 2 bytes per target weight) and the fp32 base targets (4 bytes each)."""
    targets = {m for a in anchors for m in a.factors}
    weights = sum(out * inp for out, inp in (base.module_shape(m) or (0, 0) for m in targets))
    return path.stat().st_size + 6 * weights


def merge_mode(anchors: Sequence[Anchor], merge: bool | None, n_gpu_layers: int,
               memory: int) -> tuple[str, str]:
    """How the llama backend applies ``anchors`` ("merged" or "runtime") and why; ``merge``
    True insists on merged (a clear error where it cannot be), False turns it off."""
    if not anchors:
        return "runtime", "no anchors"
    if merge is False:
        return "runtime", "merged anchors turned off"
    reason = merge_supported()
    if reason is None and n_gpu_layers:
        reason = "layers are offloaded to a GPU"
    if reason is None:
        try:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            ram = 0
        # the working copy (the file, its targets now F16) plus the targets in fp32 for
        # merging: keep that within half the memory
        if ram and memory > ram // 2:
            reason = "the model is too large to keep a working copy in memory"
    if reason is not None:
        if merge:
            raise ModelError(f"merged anchors are not possible here: {reason}")
        return "runtime", reason
    return "merged", "target matrices rewritten in shared memory on each weight change"


def choose_layout(asked: str, embedded: bool) -> str:
    """The working copy's layout by rule: ``asked`` (``LAYOUTS`` or "auto"). "auto" is "bf16"
    for the embedded model where llama.cpp reports native BF16 and "keep" for everything else:
    a user's own GGUF stays in its format unless they ask. For the embedded model the llama
    backend measures instead (``layout_probe``); this rule then only sets the quality gate."""
    if asked not in ("auto", *LAYOUTS):
        raise ModelError(f"unknown working-copy layout {asked!r}: use auto, {', '.join(LAYOUTS)}")
    if asked != "auto":
        return asked
    return "bf16" if embedded and cpu_has_bf16() else "keep"


def rest_tensors(header: GGUFHeader, targets: Sequence[str]) -> list[str]:
    """The quantized matrices no anchor targets, but for the token embeddings (looked up, and
    in tied models also the output matrix): what a layout other than "keep" converts."""
    skip = set(targets) | {"token_embd.weight"}
    return [n for n, t in header.tensors.items()
            if n not in skip and len(t.shape) == 2 and t.ggml_type not in (F32, F16, BF16)]


def working_base(model: Path, targets: Sequence[str], cache: Path,
                 progress: Callable[[str], None] = lambda message: None,
                 layout: str = "keep") -> GGUFHeader:
    """The header of the working copy of ``model`` with ``targets`` stored as F16 (F32 ones
    stay F32) and the other matrices as ``layout`` says, made once into ``cache`` and reused
    while the model file is unchanged."""
    if layout not in LAYOUTS:
        raise ModelError(f"unknown working-copy layout {layout!r}")
    stat = model.stat()
    key = hashlib.sha256(repr((_WORKING_BASE_VERSION, str(model.resolve()), stat.st_size,
                               stat.st_mtime_ns, sorted(targets), layout)).encode()).hexdigest()[:16]
    out = cache / f"{model.stem}-{layout}-{key}.gguf"
    if out.is_file():
        try:
            cached = read_header(out, error=ModelError)
            if all(cached.tensors.get(t) is not None for t in targets):
                return cached
        except ModelError as exc:  # damaged since it was written: make it again
            log.warning("remaking the working copy %s: %s", out, exc)
        out.unlink()
    header = read_header(model, error=ModelError)
    missing = [t for t in targets if t not in header.tensors]
    if missing:
        raise ModelError(f"the model {model.name} has no tensor {missing[0]} for the anchors")
    cache.mkdir(parents=True, exist_ok=True)
    convert = {t: F16 for t in targets if header.tensors[t].ggml_type != F32}
    if layout in _REST_TYPES:
        convert.update({n: _REST_TYPES[layout] for n in rest_tensors(header, targets)})
    progress(f"preparing {model.name} for merged anchors (once)")
    try:
        rewrite_gguf(header, out, convert)
    except (ValueError, NotImplementedError) as exc:
        raise ModelError(f"cannot prepare {model.name} for merged anchors: {exc}") from None
    return read_header(out, error=ModelError)


class SharedModel:
    """A GGUF file copied into an unnamed scratch file that llama.cpp maps and we write."""

    def __init__(self, header: GGUFHeader) -> None:
        self.header = header
        source = header.path
        size = source.stat().st_size
        try:  # an unnamed file in the cache's file system, where it allows one
            self._fd = os.open(source.parent, os.O_TMPFILE | os.O_RDWR, 0o600)
            self.kind = "file"
        except (AttributeError, OSError):
            self._fd = os.memfd_create("prosemix-model", getattr(os, "MFD_CLOEXEC", 0))
            self.kind = "memory"
        try:
            with open(source, "rb") as src:
                sent = 0
                while sent < size:
                    n = os.sendfile(self._fd, src.fileno(), sent, size - sent)
                    if n == 0:
                        raise ModelError(f"{source} ended early while being copied")
                    sent += n
            self._map: mmap.mmap | None = mmap.mmap(self._fd, size, mmap.MAP_SHARED,
                                                    mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(self._fd)
            raise
        self.path = f"/proc/self/fd/{self._fd}"
        self.identity = os.readlink(self.path)  # what /proc shows for every descriptor of it

    def view(self, name: str) -> np.ndarray:
        """The tensor ``name`` as a writable array over the shared memory (F32 or F16)."""
        assert self._map is not None
        t = self.header.tensors[name]
        dtype = {F32: np.float32, F16: np.float16}[t.ggml_type]
        count = int(np.prod(t.shape))
        return np.frombuffer(self._map, dtype=dtype, count=count,
                             offset=self.header.data_start + t.offset).reshape(t.shape)

    def close(self) -> None:
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # a view is still alive somewhere: the GC frees it later
                log.debug("shared model mapping still referenced at close")
            self._map = None
            os.close(self._fd)


def _ggml_fp32_to_fp16() -> Callable[[np.ndarray, np.ndarray], None]:
    """ggml's SIMD fp32 -> fp16 row conversion (about 10x numpy's), else numpy's."""
    def slow(src: np.ndarray, dst: np.ndarray) -> None:
        np.copyto(dst, src, casting="same_kind")

    try:
        import llama_cpp
    except ImportError:
        return slow
    lib_dir = Path(os.environ.get("LLAMA_CPP_LIB_PATH") or Path(llama_cpp.__file__).parent / "lib")  # as llama_cpp loads it
    for name in ("libggml-cpu.so", "libggml-cpu.dylib", "ggml-cpu.dll"):
        try:
            lib = ctypes.CDLL(str(lib_dir / name))
            fn = lib.ggml_cpu_fp32_to_fp16
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn.restype = None

        def fast(src: np.ndarray, dst: np.ndarray) -> None:
            assert src.flags.c_contiguous and dst.flags.c_contiguous and src.size == dst.size
            fn(src.ctypes.data, dst.ctypes.data, src.size)

        return fast
    return slow


@dataclass
class _Target:
    name: str
    view: np.ndarray  # the shared tensor, F16 or F32, [out, in]
    w0: np.ndarray  # the base weights, fp32
    A: np.ndarray  # [R, in] fp32: the rows of every anchor that targets this matrix
    B: np.ndarray  # [out, R] fp32, columns scaled by each anchor's LoRA scale s
    col_anchor: np.ndarray  # [R]: which anchor each rank column belongs to


class DenseMerger:
    """Writes W0 + sum_i w_i s_i B_i A_i into the shared model's target matrices."""

    def __init__(self, shared: SharedModel, anchors: Sequence["Anchor"], base: "BaseInfo",
                 threads: int = 2) -> None:
        from threadpoolctl import ThreadpoolController

        self.anchor_names = [a.name for a in anchors]
        self.threads = max(1, threads)
        self._blas = ThreadpoolController()
        self._to_f16 = _ggml_fp32_to_fp16()
        per_target: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}
        for i, anchor in enumerate(anchors):
            for module, f in anchor.factors.items():
                name, b = llama_layout(module, np.asarray(f.B, np.float32) * np.float32(f.scale),
                                       base)
                per_target.setdefault(name, []).append((i, np.asarray(f.A, np.float32), b))
        self.targets: list[_Target] = []
        # for the overflow bound: max|W0| per matrix, and r_i max|s_i B_i| max|A_i| per
        # matrix and anchor (0 where the anchor does not target it)
        self._bounds = np.zeros((len(per_target), len(anchors)))
        absmax = []
        for k, name in enumerate(sorted(per_target)):
            view = shared.view(name)
            w0 = view.astype(np.float32)
            absmax.append(float(np.abs(w0).max()))
            parts = per_target[name]
            for i, a, b in parts:
                self._bounds[k, i] = anchor_bound(a.shape[0], float(np.abs(b).max()),
                                                  float(np.abs(a).max()))
            self.targets.append(_Target(
                name, view, w0,
                np.ascontiguousarray(np.concatenate([a for _, a, _ in parts], axis=0)),
                np.ascontiguousarray(np.concatenate([b for _, _, b in parts], axis=1)),
                np.concatenate([np.full(a.shape[0], i) for i, a, _ in parts])))
        self._absmax = np.array(absmax)
        self._limits = np.array([_F16_MAX if t.view.dtype == np.float16
                                 else float(np.finfo(np.float32).max) for t in self.targets])
        # each thread's matrices (round-robin by size keeps the shares even) and its buffers
        self._shares: list[tuple[list[_Target], dict[tuple[int, ...], np.ndarray]]] = []
        n = min(self.threads, len(self.targets))
        by_size = sorted(self.targets, key=lambda t: -t.w0.size)
        for k in range(n):
            mine = by_size[k::n]
            self._shares.append((mine, {t.w0.shape: np.empty(t.w0.shape, np.float32)
                                        for t in mine}))
        self.values: tuple[float, ...] | None = None

    def set_weights(self, values: Sequence[float]) -> None:
        """Write the merge at ``values``. All or nothing: if any matrix would hold a value
        that is not finite or does not fit its type, nothing is written and a ProsemixError
        names the matrix and the anchors."""
        values = tuple(float(v) for v in values)
        if len(values) != len(self.anchor_names):
            raise ProsemixError(f"{len(values)} weights for {len(self.anchor_names)} anchors")
        if values == self.values:
            return
        w = np.asarray(values, dtype=np.float32)
        checked: dict[str, np.ndarray] = {}
        # the exact check runs only for the matrices whose bound is not far below the limit
        unsafe = np.nonzero(needs_exact_check(merged_bound(self._absmax, self._bounds, w),
                                              self._limits))[0]
        for k in unsafe:
            t, limit = self.targets[k], float(self._limits[k])
            merged = self._merged(t, w, np.empty(t.w0.shape, np.float32))
            if not (np.isfinite(merged).all() and np.abs(merged).max() <= limit):
                active = [n for n, v in zip(self.anchor_names, values) if v != 0]
                raise ProsemixError(
                    f"merging anchors {active} at weights {list(values)} overflows {t.name} "
                    f"(its values must stay finite and within +-{limit:g}); the previous "
                    "weights are kept")
            checked[t.name] = merged

        def write(share: tuple[list[_Target], dict[tuple[int, ...], np.ndarray]]) -> None:
            targets, buffers = share
            for t in targets:
                merged = checked.get(t.name)
                if merged is None:
                    merged = self._merged(t, w, buffers[t.w0.shape])
                if t.view.dtype == np.float16:
                    self._to_f16(merged, t.view)
                else:
                    np.copyto(t.view, merged)

        shares = self._shares
        with self._blas.limit(limits=1, user_api="blas"):
            if len(shares) == 1:
                write(shares[0])
            else:
                with ThreadPoolExecutor(len(shares), thread_name_prefix="prosemix-merge") as pool:
                    list(pool.map(write, shares))  # numpy and ctypes release the GIL
        self.values = values

    @staticmethod
    def _merged(t: _Target, w: np.ndarray, out: np.ndarray) -> np.ndarray:
        col_w = w[t.col_anchor]
        active = col_w != 0  # anchors at weight 0 cost nothing
        if not active.any():
            np.copyto(out, t.w0)
            return out
        if active.all():
            np.matmul(t.B * col_w, t.A, out=out)
        else:
            np.matmul(t.B[:, active] * col_w[active], t.A[active], out=out)
        np.add(out, t.w0, out=out)
        return out

    def close(self) -> None:
        self.targets, self._shares = [], []
