"""A fast reader of GGUF headers: metadata and tensor shapes, without the tensor data.

gguf.GGUFReader parses every token string of a model's vocabulary (about 3 s for the
embedded model); validating an adapter only needs the hyperparameters and shapes.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Mapping

from engine.errors import ProsemixError

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# Arrays longer than this (vocabularies, merges) are skipped and recorded by length only.
_MAX_KEPT_ARRAY = 4096


@dataclass(frozen=True)
class GGUFTensorInfo:
    name: str
    shape: tuple[int, ...]  # numpy order (rows, cols): the reverse of ggml's ne
    ggml_type: int
    offset: int


@dataclass(frozen=True)
class GGUFHeader:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: dict[str, GGUFTensorInfo]
    data_start: int
    kv_span: tuple[int, int] = (0, 0)  # byte range of the metadata key/value section
    n_kv: int = 0  # key/value entries in that range (a repeated key counts each time)

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)


class _Truncated(Exception):
    pass


def _read(f: BinaryIO, n: int) -> bytes:
    b = f.read(n)
    if len(b) != n:
        raise _Truncated
    return b


def _unpack(f: BinaryIO, fmt: str) -> Any:
    return struct.unpack(fmt, _read(f, struct.calcsize(fmt)))[0]


def _string(f: BinaryIO) -> str:
    n = _unpack(f, "<Q")
    if n > 1 << 24:
        raise ValueError(f"string of {n} bytes")
    return _read(f, n).decode("utf-8", errors="replace")


def _skip_strings(f: BinaryIO, count: int) -> None:
    """Seek past ``count`` length-prefixed strings (a vocabulary: ~50k of them), reading in
    large blocks instead of two small reads per string."""
    base, buf, off = f.tell(), b"", 0
    for _ in range(count):
        while off + 8 > len(buf):
            more = f.read(1 << 20)
            if not more:
                raise _Truncated
            buf, base, off = buf[off:] + more, base + off, 0
        off += 8 + int.from_bytes(buf[off:off + 8], "little")
    if base + off > os.fstat(f.fileno()).st_size:  # the last string runs past the end
        raise _Truncated
    f.seek(base + off)


def _value(f: BinaryIO, vtype: int) -> Any:
    if vtype in _SCALARS:
        return _unpack(f, _SCALARS[vtype])
    if vtype == _STRING:
        return _string(f)
    if vtype == _ARRAY:
        itype, count = _unpack(f, "<I"), _unpack(f, "<Q")
        if count <= _MAX_KEPT_ARRAY:
            return [_value(f, itype) for _ in range(count)]
        if itype in _SCALARS:
            f.seek(struct.calcsize(_SCALARS[itype]) * count, os.SEEK_CUR)
        elif itype == _STRING:
            _skip_strings(f, count)
        else:
            for _ in range(count):
                _value(f, itype)
        return {"skipped_array_of": count}
    raise ValueError(f"unknown GGUF value type {vtype}")


def _known_types() -> frozenset[int]:
    from gguf.constants import GGML_QUANT_SIZES

    return frozenset(int(t) for t in GGML_QUANT_SIZES)


_KNOWN_TYPES = _known_types()


def tensor_nbytes(info: GGUFTensorInfo) -> int:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    block, size = GGML_QUANT_SIZES[GGMLQuantizationType(info.ggml_type)]
    n = 1
    for d in info.shape:
        n *= d
    return n // block * size


def read_header(path: str | os.PathLike[str], *, check_size: bool = True,
                error: type[ProsemixError] = ProsemixError) -> GGUFHeader:
    """Read a GGUF file's metadata and tensor table; raise ``error`` naming the problem."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise error(f"{path} is not a GGUF file (bad magic)")
            version = _unpack(f, "<I")
            n_tensors, n_kv = _unpack(f, "<Q"), _unpack(f, "<Q")
            if n_tensors > 1 << 20 or n_kv > 1 << 20:
                raise error(f"{path}: implausible GGUF header ({n_tensors} tensors)")
            metadata = {}
            kv_start = f.tell()
            for _ in range(n_kv):
                key = _string(f)
                metadata[key] = _value(f, _unpack(f, "<I"))
            kv_span = (kv_start, f.tell())
            tensors = {}
            for _ in range(n_tensors):
                name = _string(f)
                n_dims = _unpack(f, "<I")
                ne = [_unpack(f, "<Q") for _ in range(n_dims)]
                ggml_type, offset = _unpack(f, "<I"), _unpack(f, "<Q")
                if ggml_type not in _KNOWN_TYPES:
                    raise error(f"{path}: tensor {name!r} has an unknown type code {ggml_type}: "
                                "the file is damaged or from a newer llama.cpp")
                tensors[name] = GGUFTensorInfo(name, tuple(reversed(ne)), ggml_type, offset)
            align = int(metadata.get("general.alignment", 32))
            data_start = (f.tell() + align - 1) // align * align
    except _Truncated:
        raise error(f"{path} is truncated: the GGUF header ends early") from None
    except (OSError, UnicodeError, ValueError, struct.error) as exc:
        raise error(f"cannot read GGUF file {path}: {exc}") from None
    header = GGUFHeader(path, version, metadata, tensors, data_start, kv_span, n_kv)
    if check_size and tensors:
        end = max(data_start + t.offset + tensor_nbytes(t) for t in tensors.values())
        if end > size:
            raise error(
                f"{path} is truncated: its tensors need {end} bytes, the file has {size}"
            )
    return header


# the ggml types a tensor can be rewritten as: F32, F16, Q4_0, Q8_0, BF16 (gguf's converters)
STORABLE = (0, 1, 2, 8, 30)


def rewrite_gguf(header: GGUFHeader, out: str | os.PathLike[str],
                 convert: Mapping[str, int]) -> Path:
    """Copy the GGUF file of ``header`` to ``out`` with the tensors named in ``convert``
    stored as the given ggml type (one of STORABLE), converted with the gguf package; all
    metadata and every other tensor are copied byte for byte. Atomic (temp file, rename)."""
    import numpy as np
    from gguf import quants
    from gguf.constants import GGMLQuantizationType as T

    out = Path(out)
    align = int(header.get("general.alignment", 32))
    raw = np.memmap(header.path, dtype=np.uint8, mode="r")
    plan: list[tuple[GGUFTensorInfo, int, int]] = []  # (tensor, new type, new offset)
    offset = 0
    for t in header.tensors.values():
        new_type = convert.get(t.name, t.ggml_type)
        if new_type not in (t.ggml_type, *STORABLE):
            raise ValueError(f"cannot store {t.name} as ggml type {new_type}")
        size = (tensor_nbytes(t) if new_type == t.ggml_type
                else tensor_nbytes(GGUFTensorInfo(t.name, t.shape, new_type, 0)))
        plan.append((t, new_type, offset))
        offset += (size + align - 1) // align * align
    tmp = out.with_name(out.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            kv = raw[header.kv_span[0]:header.kv_span[1]].tobytes()
            f.write(b"GGUF" + struct.pack("<IQQ", header.version, len(plan), header.n_kv))
            f.write(kv)
            for t, new_type, off in plan:
                name = t.name.encode("utf-8")
                f.write(struct.pack("<Q", len(name)) + name + struct.pack("<I", len(t.shape)))
                f.write(b"".join(struct.pack("<Q", d) for d in reversed(t.shape)))
                f.write(struct.pack("<IQ", new_type, off))
            f.write(b"\0" * (-f.tell() % align))
            for t, new_type, off in plan:
                start = header.data_start + t.offset
                data: np.ndarray = raw[start:start + tensor_nbytes(t)]
                if new_type != t.ggml_type:
                    values = quants.dequantize(np.asarray(data), T(t.ggml_type)).reshape(t.shape)
                    if not np.isfinite(values).all():
                        raise ValueError(f"tensor {t.name} holds non-finite values")
                    if new_type in (T.F32, T.F16):
                        dtype = np.float32 if new_type == T.F32 else np.float16
                        with np.errstate(over="ignore"):
                            cast = values.astype(dtype)
                        if not np.isfinite(cast).all():
                            raise ValueError(f"tensor {t.name} does not fit in {np.dtype(dtype).name}")
                        data = cast
                    else:
                        data = quants.quantize(values.astype(np.float32), T(new_type))
                blob = np.ascontiguousarray(data).tobytes()
                f.write(blob)
                f.write(b"\0" * (-len(blob) % align))
    except BaseException:
        tmp.unlink(missing_ok=True)  # nothing half-written is left in the cache
        raise
    os.replace(tmp, out)
    return out
