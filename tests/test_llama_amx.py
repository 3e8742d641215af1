"""llama.cpp's extra buffer types (its AMX path) off on a CPU with AMX, on elsewhere."""
from __future__ import annotations

import types

import pytest

from engine.backends import llama_amx
from engine.backends.llama_amx import apply, repack_allowed

XEON = ["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8"]
EPYC = ["avx2", "fma", "f16c"]


@pytest.fixture(autouse=True)
def no_choice(monkeypatch):
    monkeypatch.delenv("PROSEMIX_LLAMA_REPACK", raising=False)


def test_repack_is_off_on_a_cpu_with_amx_and_on_elsewhere(monkeypatch):
    assert not repack_allowed(XEON)
    assert repack_allowed(EPYC)
    monkeypatch.setenv("PROSEMIX_LLAMA_REPACK", "1")
    assert repack_allowed(XEON)
    monkeypatch.setenv("PROSEMIX_LLAMA_REPACK", "0")
    assert not repack_allowed(EPYC)


def _fake_llama_cpp():
    class Params:
        use_extra_bufts = True

    low = types.SimpleNamespace(llama_model_default_params=Params)
    return types.SimpleNamespace(llama_cpp=low), Params


def test_apply_turns_the_extra_buffers_off_once_and_back_on():
    module, defaults = _fake_llama_cpp()
    assert not apply(module, XEON)
    assert module.llama_cpp.llama_model_default_params().use_extra_bufts is False
    wrapped = module.llama_cpp.llama_model_default_params
    apply(module, XEON)  # a second model: not wrapped twice
    assert module.llama_cpp.llama_model_default_params is wrapped
    assert apply(module, EPYC)
    assert module.llama_cpp.llama_model_default_params is defaults
    assert module.llama_cpp.llama_model_default_params().use_extra_bufts is True


def test_the_real_bindings_take_the_setting(monkeypatch):
    llama_cpp = pytest.importorskip("llama_cpp")
    before = llama_cpp.llama_cpp.llama_model_default_params
    monkeypatch.setattr(llama_cpp.llama_cpp, "llama_model_default_params", before)  # restored after
    apply(llama_cpp, XEON)
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is False
    apply(llama_cpp, EPYC)
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is True


def test_this_cpu_decides_from_its_own_flags(monkeypatch):
    monkeypatch.setattr(llama_amx, "cpu_flags", lambda: XEON)
    assert not repack_allowed()
    monkeypatch.setattr(llama_amx, "cpu_flags", lambda: EPYC)
    assert repack_allowed()
