"""A fast reader of GGUF headers: metadata and tensor shapes, without the tensor data.

gguf.GGUFReader parses every token string of a model's vocabulary (about 3 s for the
embedded model); validating an adapter only needs the hyperparameters and shapes.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .errors import ProsemixError

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
        else:
            for _ in range(count):
                _value(f, itype)
        return {"skipped_array_of": count}
    raise ValueError(f"unknown GGUF value type {vtype}")


def _tensor_nbytes(info: GGUFTensorInfo) -> int:
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
            for _ in range(n_kv):
                key = _string(f)
                metadata[key] = _value(f, _unpack(f, "<I"))
            tensors = {}
            for _ in range(n_tensors):
                name = _string(f)
                n_dims = _unpack(f, "<I")
                ne = [_unpack(f, "<Q") for _ in range(n_dims)]
                ggml_type, offset = _unpack(f, "<I"), _unpack(f, "<Q")
                tensors[name] = GGUFTensorInfo(name, tuple(reversed(ne)), ggml_type, offset)
            align = int(metadata.get("general.alignment", 32))
            data_start = (f.tell() + align - 1) // align * align
    except _Truncated:
        raise error(f"{path} is truncated: the GGUF header ends early") from None
    except (OSError, UnicodeError, ValueError, struct.error) as exc:
        if isinstance(exc, ProsemixError):
            raise
        raise error(f"cannot read GGUF file {path}: {exc}") from None
    header = GGUFHeader(path, version, metadata, tensors, data_start)
    if check_size and tensors:
        end = max(data_start + t.offset + _tensor_nbytes(t) for t in tensors.values())
        if end > size:
            raise error(
                f"{path} is truncated: its tensors need {end} bytes, the file has {size}"
            )
    return header
