from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.anchors.loading import load_anchor
from engine.errors import AnchorError, ProsemixError
from engine.anchors.gguf_lora import _permute_rows, _unpermute_rows, write_gguf_lora
from engine.models.gguf_meta import read_header
from tests.synthetic import write_random_peft, write_raw_gguf_lora


def test_permutation_is_inverted():
    w = np.arange(192 * 5, dtype=np.float32).reshape(192, 5)
    p = _permute_rows(w, 3)
    assert not np.array_equal(p, w)
    assert np.array_equal(_unpermute_rows(p, 3), w)


@pytest.mark.parametrize("rslora", [False, True])
def test_round_trip_peft_gguf_peft(tmp_path, base, rslora):
    d = write_random_peft(tmp_path / "a", base, rank=8, alpha=16, seed=3, use_rslora=rslora,
                          targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
    peft = load_anchor(d, base)
    out = write_gguf_lora(peft, base, tmp_path / "a.gguf")
    header = read_header(out)
    assert header.get("general.type") == "adapter"
    assert header.get("adapter.type") == "lora"
    assert header.get("general.architecture") == "llama"
    assert "blk.0.attn_q.weight.lora_a" in header.tensors
    assert header.tensors["blk.0.attn_q.weight.lora_b"].shape == (576, 8)
    back = load_anchor(out, base)
    assert set(back.factors) == set(peft.factors)
    for module, f in peft.factors.items():
        g = back.factors[module]
        # the effective delta is what must survive (rsLoRA folds its scale into B)
        np.testing.assert_allclose(g.scale * g.B @ g.A, f.scale * f.B @ f.A, rtol=1e-5, atol=1e-7)
        if not rslora:
            np.testing.assert_array_equal(g.A, f.A)
            np.testing.assert_array_equal(g.B, f.B)


def test_truncated_gguf_is_a_clear_error(tmp_path, base):
    d = write_random_peft(tmp_path / "a", base, layers=[0, 1])
    out = write_gguf_lora(load_anchor(d, base), base, tmp_path / "a.gguf")
    raw = out.read_bytes()
    (tmp_path / "t.gguf").write_bytes(raw[: len(raw) - 1000])
    with pytest.raises(ProsemixError, match="truncated"):
        load_anchor(tmp_path / "t.gguf", base)
    (tmp_path / "h.gguf").write_bytes(raw[:40])
    with pytest.raises(ProsemixError, match="truncated"):
        load_anchor(tmp_path / "h.gguf", base)
    (tmp_path / "z.gguf").write_bytes(b"not a gguf at all")
    with pytest.raises(ProsemixError, match="bad magic"):
        load_anchor(tmp_path / "z.gguf", base)


def test_gguf_for_another_architecture_is_refused(tmp_path, base):
    write_raw_gguf_lora(tmp_path / "q.gguf", "qwen2", {
        "blk.0.attn_q.weight.lora_a": np.zeros((8, 576), np.float32),
        "blk.0.attn_q.weight.lora_b": np.zeros((576, 8), np.float32)})
    with pytest.raises(AnchorError, match="architecture 'qwen2'"):
        load_anchor(tmp_path / "q.gguf", base)


def test_base_model_given_as_anchor_is_refused(base):
    with pytest.raises(AnchorError, match="not a LoRA"):
        load_anchor(base.path, base)


def _sdist() -> Path | None:
    root = os.environ.get("PROSEMIX_LLAMA_SDIST")
    path = Path(root) / "vendor" / "llama.cpp" / "convert_lora_to_gguf.py" if root else None
    return path if path and path.is_file() else None


@pytest.mark.skipif(_sdist() is None, reason="PROSEMIX_LLAMA_SDIST (llama-cpp-python sdist) not set; "
                                             ".ci/run sets it")
def test_same_file_and_text_as_the_upstream_converter(tmp_path, base, session_cache):
    """Our GGUF LoRA has the same tensors as llama.cpp's own converter writes, and gives
    the same greedy text in llama.cpp."""
    import gguf

    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.models.float_copy import float_copy_of_gguf
    from engine.sampling import SamplingConfig

    hf = float_copy_of_gguf(base.path)
    d = write_random_peft(tmp_path / "a", base, rank=8, seed=5, strength=0.15)
    ours = write_gguf_lora(load_anchor(d, base), base, tmp_path / "ours.gguf")
    theirs = tmp_path / "theirs.gguf"
    run = subprocess.run([sys.executable, str(_sdist()), str(d), "--base", str(hf),
                          "--outfile", str(theirs), "--outtype", "f32"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    a = {t.name: np.array(t.data) for t in gguf.GGUFReader(str(ours)).tensors}
    b = {t.name: np.array(t.data) for t in gguf.GGUFReader(str(theirs)).tensors}
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    texts = []
    for path in (ours, theirs):
        backend = LlamaCppBackend()
        backend.load(None, [path])
        texts.append(backend.generate("Once upon a time", SamplingConfig(max_tokens=24, temperature=0)).text)
        backend.close()
    assert texts[0] == texts[1]


def _tensor_type_offset(data: bytes, name: str) -> int:
    """Where a tensor's type field sits in a GGUF file's tensor table."""
    import struct

    raw = name.encode()
    at = data.index(struct.pack("<Q", len(raw)) + raw) + 8 + len(raw)
    n_dims = struct.unpack_from("<I", data, at)[0]
    return at + 4 + 8 * n_dims


def test_a_corrupt_tensor_type_names_the_file_and_tensor(tmp_path, base):
    """Found by mutating real LoRA files: a type code llama.cpp does not know ended in
    "unexpected ValueError ... is not a valid GGMLQuantizationType" with exit 1."""
    import struct

    d = write_random_peft(tmp_path / "a", base, layers=[0])
    good = write_gguf_lora(load_anchor(d, base), base, tmp_path / "a.gguf")
    data = bytearray(good.read_bytes())
    name = next(iter(read_header(good).tensors))
    struct.pack_into("<I", data, _tensor_type_offset(bytes(data), name), 64)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(AnchorError, match=f"{bad}.*{name}.*unknown type code 64"):
        load_anchor(bad, base)
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "main.py"), "anchors", str(bad)],
                       capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2 and "unknown type code 64" in r.stderr and name in r.stderr


def test_mutated_lora_files_end_in_a_clear_error(tmp_path, base):
    """Every byte of the header and tensor table set to a few values: each file either loads
    or raises AnchorError, never anything else."""
    d = write_random_peft(tmp_path / "a", base, layers=[0], targets=("q_proj",))
    good = write_gguf_lora(load_anchor(d, base), base, tmp_path / "a.gguf")
    data = good.read_bytes()
    end = read_header(good).data_start
    other = []
    for at in range(0, end, 7):
        for value in (0x00, 0x40, 0xFF):
            mutated = bytearray(data)
            mutated[at] = value
            path = tmp_path / "m.gguf"
            path.write_bytes(bytes(mutated))
            try:
                load_anchor(path, base)
            except AnchorError:
                pass
            except Exception as exc:  # noqa: BLE001 - what the test looks for
                other.append(f"byte {at} = {value:#x}: {type(exc).__name__}: {exc}")
    assert not other, "\n".join(other[:10])
