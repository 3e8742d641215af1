"""The torch backend on the embedded model (dequantized from its GGUF, cached)."""
from __future__ import annotations

import pytest
import torch

from engine.anchors.loading import load_anchor
from engine.backends.torch import TorchBackend, sample_next
from engine.errors import ProsemixError
from engine.sampling import SamplingConfig

GREEDY = SamplingConfig(max_tokens=16, temperature=0.0)
PROMPT = "The weather this morning was"


@pytest.fixture(scope="module")
def backend(adapters, session_cache):
    b = TorchBackend(device="cpu", dtype="float32")
    b.load(None, adapters)
    yield b
    b.close()


def test_float_copy_is_cached(backend, session_cache):
    folders = list((session_cache / "hf").iterdir())
    assert len(folders) == 1 and (folders[0] / "model.safetensors").is_file()
    assert "quantization_config" not in (folders[0] / "config.json").read_text()


def test_prepare_says_the_float_copy_is_ready(backend, session_cache, capsys):
    from engine.cli.main import main

    assert main(["prepare"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ready: the float copy of SmolLM2") and str(session_cache / "hf") in out


def test_two_asking_at_once_make_the_float_copy_once(tmp_path, monkeypatch):
    import threading
    import time

    from engine.models import float_copy as fc

    made: list[object] = []

    def slow_make(path, progress):
        time.sleep(0.3)
        made.append(path)
        return tmp_path

    monkeypatch.setattr(fc, "has_float_copy", lambda path: bool(made))
    monkeypatch.setattr(fc, "float_copy_folder", lambda path: tmp_path)
    monkeypatch.setattr(fc, "_make_float_copy", slow_make)
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    thread = fc.prepare_in_background(tmp_path / "model.gguf")  # the dialog opened
    assert isinstance(thread, threading.Thread)
    assert fc.float_copy_of_gguf(tmp_path / "model.gguf") == tmp_path  # a voice meanwhile: it waits
    thread.join(5)
    assert len(made) == 1 and fc.prepare_in_background(tmp_path / "model.gguf") is None


def test_a_float_copy_abandoned_by_a_quit_app_is_removed(tmp_path):
    import os
    import subprocess

    from engine.models import float_copy as fc

    gone = subprocess.Popen(["true"])
    gone.wait()
    folder = tmp_path / "abc"
    for pid in (gone.pid, os.getpid()):
        (tmp_path / f"abc.tmp{pid}").mkdir()
    fc._clear_abandoned(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"abc.tmp{os.getpid()}"]  # a running one stays
    assert fc.prepare_in_background(tmp_path / "missing.gguf") is None  # no such model: nothing started


def test_weights_change_text_and_seed_reproduces(backend):
    backend.set_weights([1, 0, 0])
    a = backend.generate(PROMPT, GREEDY).text
    backend.set_weights([0, 0, 1])
    c = backend.generate(PROMPT, GREEDY).text
    assert a != c
    sampled = SamplingConfig(max_tokens=16, temperature=0.9, seed=3)
    assert backend.generate(PROMPT, sampled).text == backend.generate(PROMPT, sampled).text


def test_merged_logits_equal_the_dense_formula(backend, base, adapters):
    """Logits at a point equal those of a model whose weights were merged by hand."""
    weights = (0.2, 0.3, 0.5)
    backend.set_weights(weights)
    merged = backend.logits(PROMPT)
    backend.set_weights([1, 0, 0])
    backend.merger.restore_base()
    anchors = [load_anchor(p, base) for p in adapters]
    modules = dict(backend.model.named_modules())
    with torch.no_grad():
        for name in anchors[0].factors:
            delta = sum(w * a.factors[name].scale * torch.from_numpy(a.factors[name].B)
                        @ torch.from_numpy(a.factors[name].A) for a, w in zip(anchors, weights))
            modules[name].weight += delta
    by_hand = backend.logits(PROMPT)
    backend.merger.values = None
    backend.point = None
    backend.set_weights(weights)
    assert torch.allclose(merged, by_hand, atol=1e-4)


def test_cancel_and_stop(backend):
    pieces = []
    stream = backend.stream(PROMPT, SamplingConfig(max_tokens=100, temperature=0.7))
    for piece in stream:
        pieces.append(piece)
        if len(pieces) == 2:
            backend.cancel()
    assert stream.result.n_tokens == 2
    assert stream.result.finish_reason == "cancelled"


def test_prompt_errors(backend):
    with pytest.raises(ProsemixError, match="empty"):
        backend.generate("", GREEDY)
    with pytest.raises(ProsemixError, match="longer than the context"):
        backend.generate("word " * 5000, GREEDY)


def test_sampler_filters():
    logits = torch.tensor([0.0, 5.0, 4.9, -1.0])
    gen = torch.Generator().manual_seed(0)
    assert sample_next(logits, [], SamplingConfig(temperature=0.0, repetition_penalty=1.0), gen) == 1
    # repetition penalty pushes the seen token below the next one
    assert sample_next(logits, [1], SamplingConfig(temperature=0.0, repetition_penalty=1.5), gen) == 2
    # top_k=1 is greedy whatever the temperature
    picks = {sample_next(logits, [], SamplingConfig(temperature=2.0, top_k=1, repetition_penalty=1.0), gen)
             for _ in range(20)}
    assert picks == {1}
    # top_p keeps the two leading tokens only
    picks = {sample_next(logits, [], SamplingConfig(temperature=1.0, top_k=0, top_p=0.9, repetition_penalty=1.0), gen)
             for _ in range(50)}
    assert picks == {1, 2}


def test_strength_zero_is_the_base_model_and_scales_the_delta_linearly(backend):
    """W = W_base + s sum_i w_i Delta_i: s = 0 gives the base model's logits exactly, and the
    change from the base is linear in s."""
    weights = (0.2, 0.3, 0.5)
    backend.set_weights(weights, strength=0.0)
    at_zero = backend.logits(PROMPT)
    backend.merger.restore_base()
    base = backend.logits(PROMPT)
    backend.merger.values = None
    backend.point = None
    backend.set_weights(weights, strength=0.0)
    assert torch.equal(at_zero, base)
    name = sorted(backend.anchors[0].factors)[0]
    weight = lambda: dict(backend.model.named_modules())[name].weight.detach().clone()  # noqa: E731
    w0 = weight()
    deltas = {}
    for s in (1.0, 2.5):
        point = backend.set_weights(weights, strength=s)
        assert point.effective == pytest.approx(tuple(s * w for w in weights))
        deltas[s] = weight() - w0
    assert deltas[1.0].abs().max() > 0
    assert torch.allclose(deltas[2.5], 2.5 * deltas[1.0], atol=1e-6)
    backend.set_weights(weights)
    assert backend.point.strength == 1.0


def test_cards_balances_move_the_centre_only(backend):
    """Balances (1, 6, 3) in the cards make the picker's centre the model at (0.1, 0.6, 0.3);
    a corner is the same model with or without them."""
    import dataclasses

    from engine.anchors.model import AnchorCard

    name = sorted(backend.anchors[0].factors)[0]
    weight = lambda: dict(backend.model.named_modules())[name].weight.detach().clone()  # noqa: E731
    saved = [a.card for a in backend.anchors]
    try:
        backend.point = None
        backend.set_weights([0.1, 0.6, 0.3])
        target = weight()
        backend.point = None
        backend.set_weights([1, 0, 0])
        corner = weight()
        for a, b in zip(backend.anchors, (1.0, 6.0, 3.0)):
            a.card = dataclasses.replace(a.card or AnchorCard(name=a.name), balance=b)
        backend.point = None
        backend.set_weights([1 / 3, 1 / 3, 1 / 3])
        assert torch.allclose(weight(), target, atol=1e-6)
        assert not torch.allclose(weight(), corner, atol=1e-6)
        backend.point = None
        backend.set_weights([1, 0, 0])
        assert torch.equal(weight(), corner)
    finally:
        for a, card in zip(backend.anchors, saved):
            a.card = card
        backend.point = None
        backend.set_weights([1, 0, 0])


def test_a_cards_calibration_scales_its_anchor(backend):
    """An anchor whose card says calibration c counts c times at every point: (1, 0, 0) with
    c = 0.5 is the same model as (1, 0, 0) at strength 0.5."""
    from engine.anchors.model import AnchorCard

    name = sorted(backend.anchors[0].factors)[0]
    weight = lambda: dict(backend.model.named_modules())[name].weight.detach().clone()  # noqa: E731
    backend.point = None
    backend.set_weights([1, 0, 0], strength=0.5)
    half = weight()
    saved = backend.anchors[0].card
    try:
        backend.anchors[0].card = AnchorCard(name=backend.anchors[0].name, calibration=0.5)
        backend.point = None
        backend.set_weights([1, 0, 0])
        assert torch.equal(weight(), half)
    finally:
        backend.anchors[0].card = saved
        backend.point = None
        backend.set_weights([1, 0, 0])
