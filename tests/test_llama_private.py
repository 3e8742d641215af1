"""llama-cpp-python's private parts are used in one module, which names the version it needs
when they are missing."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.backends import llama_private
from engine.errors import BackendUnavailable

ROOT = Path(__file__).resolve().parent.parent


def test_the_installed_llama_cpp_python_has_what_the_backend_uses():
    llama_private.check()


def test_a_llama_cpp_python_without_them_is_refused_by_version(monkeypatch):
    from llama_cpp import Llama

    monkeypatch.delattr(Llama, "_init_sampler")
    with pytest.raises(BackendUnavailable, match=rf"Llama\._init_sampler.*llama-cpp-python=={llama_private.PINNED}"):
        llama_private.check()


def test_the_pin_is_pyprojects_and_no_other_module_reaches_inside():
    assert f'"llama-cpp-python=={llama_private.PINNED}"' in (ROOT / "pyproject.toml").read_text()
    private = re.compile(r"\._ctx\.ctx|\._init_sampler\(|_internals\.|\._logits_all|llm\._model\b")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "engine").rglob("*.py") if p.name != "llama_private.py"
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if private.search(line) and not line.lstrip().startswith("#")]
    assert found == []
