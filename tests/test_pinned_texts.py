"""The same prompt, point and seed give the same text as before the code was reshaped
(tests/pinned_texts.py made the pins, on the CPU features they name)."""
from __future__ import annotations

import json

import pytest

from tests.pinned_texts import PINS, machine_key, write_all


def test_the_embedded_model_writes_the_pinned_texts(session_cache):
    pins = json.loads(PINS.read_text(encoding="utf-8"))
    if pins["cpu_features"] != machine_key():
        pytest.skip(f"pinned on a CPU with {pins['cpu_features']}; this one has {machine_key()}, "
                    "whose kernels round differently")
    got = write_all()
    assert [g["text"] for g in got] == [p["text"] for p in pins["texts"]]
    assert [(g["backend"], g["weights"], g["seed"]) for g in got] == \
        [(p["backend"], p["weights"], p["seed"]) for p in pins["texts"]]
