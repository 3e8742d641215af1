"""torch's prompt pass with the KV handed to llama.cpp (engine.backends.kv_handoff; issue 26,
item 1): the state bytes llama.cpp writes are read and written back exactly, the load-time check
passes here and catches a wrong rotary order, and the llama backend with torch's prompts keeps
the same-text rule (a continue, a weight change and candidates give the fresh run's text) and
decodes from torch's KV (its next-token log-probabilities are close to torch's own fp32 ones).
The choice between the paths is tested with made-up speeds in tests/test_layout_probe.py."""
from __future__ import annotations

import numpy as np
import pytest

from engine.sampling import SamplingConfig

pytest.importorskip("torch")

from engine.backends import kv_handoff  # noqa: E402
from engine.backends.kv_handoff import (BLOCK, TorchPrompt, get_seq_state, handoff_check,  # noqa: E402
                                        read_seq_state, seq_state, torch_split)
from engine.backends.llama_cpp import LlamaCppBackend  # noqa: E402

SAMPLED = SamplingConfig(max_tokens=20, temperature=0.9, seed=7)
LONG = " ".join(f"On day {i} the rain kept on, and the letters came late." for i in range(30))


@pytest.fixture(scope="module")
def handed(adapters, session_cache):
    """The llama backend, anchors merged, with torch evaluating its prompts."""
    b = LlamaCppBackend(merge=True, prompt_path="torch")
    b.load(None, adapters)
    yield b
    b.close()


@pytest.fixture(scope="module")
def torch_prompt(base, merged):
    """torch's prompt pass with the merged backend's anchors."""
    prompt = TorchPrompt(base.path, merged.anchors, 2)
    yield prompt
    prompt.close()


def probe_tokens(backend: LlamaCppBackend, n: int = 80) -> list[int]:
    return backend._tokenize(LONG)[:n]


def test_llamas_own_state_reads_and_writes_back_byte_for_byte(merged):
    merged._forget_prompt()
    merged._llm.eval(probe_tokens(merged))
    data = get_seq_state(merged._llm._ctx.ctx)
    merged._forget_prompt()
    state = read_seq_state(data)
    assert list(state.positions) == list(range(80)) and len(state.keys) == 30
    assert seq_state(state.keys, state.values, state.v_trans) == data
    with pytest.raises(Exception, match="starts with"):
        read_seq_state(b"\0" * 16)
    with pytest.raises(Exception, match="ended early"):
        read_seq_state(data[:1000])


def test_the_load_check_passes_here_and_catches_a_wrong_rotary_order(merged, torch_prompt, monkeypatch):
    merged.set_weights([0.6, 0.2, 0.2])
    torch_prompt.set_weights(merged._merger.values)  # the same merge on both sides
    ok, found = handoff_check(merged._llm, torch_prompt, probe_tokens(merged))
    assert ok, found
    monkeypatch.setattr(kv_handoff, "llama_key_order",  # transformers' order, not the GGUF's
                        lambda k: k[0].permute(1, 0, 2).reshape(k.shape[2], -1))
    torch_prompt._tokens, torch_prompt._cache = [], None
    ok, found = handoff_check(merged._llm, torch_prompt, probe_tokens(merged))
    assert not ok and "rotary" in found


def test_llama_decodes_from_torchs_kv(handed, torch_blend):
    """After torch's pass, llama.cpp's next-token log-probabilities are within 0.2 (mean abs)
    of torch's own fp32 ones at the same point (0.08 measured here; a KV it did not read as
    its own would give the model's unconditioned guesses)."""
    assert handed.prompt_path_reason.startswith("torch")
    handed.set_weights([0.5, 0.5, 0.0])
    tokens = handed._tokenize(LONG)
    rest = handed._prefill(tokens)
    assert len(rest) == 2 and handed._cache_from_torch
    handed._llm.eval(rest)
    import llama_cpp

    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(handed._llm._ctx.ctx, -1),
                                   shape=(handed._llm.n_vocab(),)).astype(np.float64)
    reference = torch_blend.logits(LONG)[-1].double().numpy()

    def logprobs(x: np.ndarray) -> np.ndarray:
        return x - x.max() - np.log(np.exp(x - x.max()).sum())

    top = np.argsort(-reference)[:50]  # where the probability is
    assert np.abs(logprobs(logits)[top] - logprobs(reference)[top]).mean() < 0.2
    assert logits.argmax() == reference.argmax()
    handed._forget_prompt()


def test_a_continue_reuses_torchs_whole_blocks_and_gives_the_fresh_text(handed):
    handed.set_weights([0.2, 0.3, 0.5])
    first = handed.generate(LONG, SAMPLED)
    assert first.prompt_tokens > 2 * BLOCK and handed._cache_from_torch
    assert first.text == handed.generate(LONG, SAMPLED).text
    kept = handed.generate(LONG + " She wrote back at once.", SAMPLED)
    assert kept.cached_tokens > 0 and kept.cached_tokens % BLOCK == 0
    handed._forget_prompt()
    handed._torch_prompt._tokens, handed._torch_prompt._cache = [], None
    fresh = handed.generate(LONG + " She wrote back at once.", SAMPLED)
    assert fresh.cached_tokens == 0 and fresh.text == kept.text


def test_a_weight_change_and_candidates_give_the_fresh_text(handed):
    handed.set_weights([1.0, 0.0, 0.0])
    at_one = handed.generate(LONG, SAMPLED).text
    handed.set_weights([0.0, 0.5, 0.5])
    switched = handed.generate(LONG, SAMPLED).text
    assert switched != at_one
    handed.set_weights([1.0, 0.0, 0.0])
    assert handed.generate(LONG, SAMPLED).text == at_one
    handed.set_weights([0.0, 0.5, 0.5])
    run = handed.stream_candidates(LONG, SamplingConfig(max_tokens=20, temperature=0.9), [7, 8]).run()
    assert run[0].text == switched  # candidate i is seed i's single generation
    assert run[1].text == handed.generate(LONG, SamplingConfig(max_tokens=20, temperature=0.9, seed=8)).text


def test_short_prompts_and_a_control_vector_stay_in_llama(handed):
    handed.set_weights([0.2, 0.3, 0.5])
    assert torch_split(10) == 0 and torch_split(200) == 198
    handed.generate("The weather this morning was", SAMPLED)
    assert not handed._cache_from_torch
    n_layers, n_embd = 30, int(handed._llm.n_embd())
    vector = np.zeros((n_layers, n_embd), dtype=np.float32)
    vector[5, :] = 0.01
    handed.set_control_vector(vector, 1.0)
    try:
        handed.generate(LONG, SAMPLED)
        assert not handed._cache_from_torch
    finally:
        handed.set_control_vector(None)
    handed.generate(LONG, SAMPLED)
    assert handed._cache_from_torch


def test_a_cancel_is_heard_inside_torchs_pass_and_leaves_nothing_half_made(handed):
    """A new point while the release's restyle evaluates its prompt in torch: the cancel is
    heard before the next layer; the next run gives the fresh text."""
    import itertools

    handed.set_weights([0.2, 0.3, 0.5])
    handed._forget_prompt()
    handed._torch_prompt._tokens, handed._torch_prompt._cache = [], None
    fresh = handed.generate(LONG, SAMPLED).text
    handed.set_weights([0.3, 0.3, 0.4])
    handed.set_weights([0.2, 0.3, 0.5])  # the torch cache is gone: the next pass is whole
    asks = itertools.count()
    cancelled = handed.generate(LONG, SAMPLED, should_stop=lambda: next(asks) > 40)
    assert cancelled.text == "" and handed._torch_prompt._cache is None
    assert handed.generate(LONG, SAMPLED).text == fresh
