"""Activation style vectors (engine/training/style_vector.py) and the backends that apply them:
s = 0 is the base model, the shift is linear in s, llama.cpp and torch move the next token's
log-probabilities the same way, and a bad vector is refused by name."""
from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ProsemixError
from engine.sampling import SamplingConfig
from engine.training.style_vector import openings, style_vector

PROMPT = "The letter arrived on a grey morning, and"
GREEDY = SamplingConfig(max_tokens=12, temperature=0.0, repetition_penalty=1.0)
PAGE = ("Call me Ishmael. Some years ago, never mind how long precisely, having little or no money "
        "in my purse, and nothing particular to interest me on shore, I thought I would sail about a "
        "little and see the watery part of the world.\n\n"
        "It is a way I have of driving off the spleen and regulating the circulation. Whenever I find "
        "myself growing grim about the mouth, I account it high time to get to sea as soon as I can.")


def test_openings_are_the_first_words_of_spread_out_paragraphs_or_sentences():
    text = "\n\n".join(f"Paragraph {k} begins with these words and then it goes on for a while." for k in range(30))
    got = openings(text, count=6, words=5)
    assert len(got) == 6 and all(len(o.split()) == 5 for o in got)
    assert got[0].startswith("Paragraph 0 ") and got[1].startswith("Paragraph 5 ")
    assert openings(PAGE, count=4, words=6) == ["Some years ago, never mind how", "It is a way I have",
                                               "Whenever I find myself growing grim"]  # from its long sentences
    with pytest.raises(ProsemixError, match="no sentence long enough"):
        openings("Too short.")


@pytest.fixture(scope="module")
def torch_backend(session_cache):
    from engine.backends.torch import TorchBackend

    backend = TorchBackend(device="cpu", dtype="float32")
    backend.load(None, [])
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def vector(torch_backend):
    own = ["Call me by my name, said the old man, and he went out to the garden to see the roses."]
    return style_vector(torch_backend.model, torch_backend.tokenizer, [PAGE], own)


def _next_logprobs_torch(backend) -> np.ndarray:  # type: ignore[no-untyped-def]
    import torch

    ids = backend.tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return torch.log_softmax(backend.model(ids).logits[0, -1].float(), -1).numpy()


def test_torch_applies_the_vector_linearly_and_zero_is_the_base(torch_backend, vector):
    from engine.backends.torch_vector import layers_of

    assert vector.shape == (torch_backend.model.config.num_hidden_layers, torch_backend.model.config.hidden_size)
    assert not vector[0].any() and np.isfinite(vector).all() and np.abs(vector[1:]).sum() > 0
    base = _next_logprobs_torch(torch_backend)
    torch_backend.set_control_vector(vector, 0.0)
    assert np.array_equal(_next_logprobs_torch(torch_backend), base)  # s = 0: the base model
    torch_backend.set_control_vector(vector, 1.0)
    moved = _next_logprobs_torch(torch_backend)
    torch_backend.set_control_vector(None)
    assert np.array_equal(_next_logprobs_torch(torch_backend), base)  # cleared: the base again
    assert not np.array_equal(moved, base)  # the vector changes the next token's odds
    seen: list = []

    def record(module, args, kwargs):  # type: ignore[no-untyped-def]
        seen.append((args[0] if args else kwargs["hidden_states"])[0, -1].clone())

    # with only layer 5's vector, what layer 6 reads moves by exactly s * v_5: linear in s
    only5 = np.zeros_like(vector)
    only5[5] = vector[5]
    shifted = {}
    handle = layers_of(torch_backend.model)[6].register_forward_pre_hook(record, with_kwargs=True)
    try:
        for s in (0.0, 0.5, 1.0):
            torch_backend.set_control_vector(only5, s)
            seen.clear()
            _next_logprobs_torch(torch_backend)
            shifted[s] = seen[-1].numpy()
    finally:
        handle.remove()
        torch_backend.set_control_vector(None)
    np.testing.assert_allclose(shifted[1.0] - shifted[0.0], vector[5], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(shifted[0.5] - shifted[0.0], 0.5 * vector[5], rtol=1e-4, atol=1e-4)


def test_llama_applies_the_same_vector_as_torch(torch_backend, vector, session_cache):
    from engine.backends.llama_cpp import LlamaCppBackend

    llama = LlamaCppBackend()
    llama.load(None, [])
    try:
        base_text = llama.generate(PROMPT, GREEDY).text
        llama.set_control_vector(vector, 0.0)
        assert llama.generate(PROMPT, GREEDY).text == base_text  # s = 0: the base model
        llama.set_control_vector(vector, 2.0)
        moved_text = llama.generate(PROMPT, GREEDY).text
        assert moved_text != base_text
        llama.set_control_vector(None)
        assert llama.generate(PROMPT, GREEDY).text == base_text  # cleared

        def llama_logprobs(scale: float) -> dict[str, float]:
            llama.set_control_vector(vector, scale)
            r = llama.stream(PROMPT, SamplingConfig(max_tokens=1, temperature=0.0), top_logprobs=20).run()
            return dict(r.alternatives[0])

        def torch_logprobs(scale: float) -> dict[str, float]:
            torch_backend.set_control_vector(vector, scale)
            r = torch_backend.stream(PROMPT, SamplingConfig(max_tokens=1, temperature=0.0), top_logprobs=20).run()
            return dict(r.alternatives[0])

        # the vector moves the next token's odds to the same place in both backends: their
        # top 10 with it agree far more with each other than with either's top 10 without it
        l0, l1, t0, t1 = llama_logprobs(0.0), llama_logprobs(1.0), torch_logprobs(0.0), torch_logprobs(1.0)
        torch_backend.set_control_vector(None)

        def top(d: dict[str, float]) -> set[str]:
            return set(sorted(d, key=d.__getitem__, reverse=True)[:10])
        assert len(top(l1) & top(t1)) >= 6, (top(l1), top(t1))
        assert len(top(l1) & top(l0)) <= 3 and len(top(t1) & top(t0)) <= 3
        assert len(top(l0) & top(t0)) >= 6  # and without it, both are the base
    finally:
        llama.close()


def test_a_bad_vector_is_refused_by_name(torch_backend):
    from engine.backends.llama_cpp import LlamaCppBackend

    layers, hidden = torch_backend.model.config.num_hidden_layers, torch_backend.model.config.hidden_size
    with pytest.raises(ProsemixError, match="is 30 x 576, not 3 x 576"):
        torch_backend.set_control_vector(np.zeros((3, hidden), np.float32))
    bad = np.zeros((layers, hidden), np.float32)
    bad[4, 7] = np.nan
    with pytest.raises(ProsemixError, match="NaN"):
        torch_backend.set_control_vector(bad)
    llama = LlamaCppBackend()
    llama.load(None, [])
    try:
        layer0 = np.zeros((layers, hidden), np.float32)
        layer0[0, 0] = 1.0
        with pytest.raises(ProsemixError, match="start at layer 1"):
            llama.set_control_vector(layer0)
    finally:
        llama.close()
