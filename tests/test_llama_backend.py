"""The llama.cpp backend on the real embedded model, with adapters the tests make."""
from __future__ import annotations

import numpy as np
import pytest

from engine.anchors.model import Anchor, LoraFactors
from engine.anchors.loading import load_anchor
from engine.backends.llama_cpp import LlamaCppBackend
from engine.errors import AnchorError, ModelError, ProsemixError
from engine.sampling import SamplingConfig
from tests.synthetic import write_raw_gguf_lora

GREEDY = SamplingConfig(max_tokens=24, temperature=0.0)
SAMPLED = SamplingConfig(max_tokens=24, temperature=0.9, seed=7)
PROMPT = "The weather this morning was"


@pytest.fixture(scope="module", params=[True, False], ids=["merged", "runtime"])
def backend(request, adapters, session_cache):
    """Both ways of applying anchors: merged into shared weights, and runtime adapters."""
    b = LlamaCppBackend(merge=request.param)
    b.load(None, adapters)
    assert b.anchors_applied == ("merged" if request.param else "runtime")
    yield b
    b.close()


def test_loads_with_three_anchors_at_the_centre(backend):
    assert backend.anchor_names == ["alpha", "beta", "gamma"]
    assert backend.point.values == pytest.approx((1 / 3,) * 3)


def test_weight_change_changes_the_text(backend):
    backend.set_weights([1, 0, 0])
    a = backend.generate(PROMPT, GREEDY).text
    backend.set_weights([0, 0, 1])
    c = backend.generate(PROMPT, GREEDY).text
    assert a != c


def test_same_weights_and_seed_reproduce(backend):
    backend.set_weights([0.2, 0.3, 0.5])
    first = backend.generate(PROMPT, SAMPLED).text
    second = backend.generate(PROMPT, SAMPLED).text
    other_seed = backend.generate(PROMPT, SamplingConfig(max_tokens=24, temperature=0.9, seed=8)).text
    assert first == second
    assert first != other_seed


def test_switching_weights_equals_a_fresh_run(backend, adapters):
    """The KV-cache trap: after w1 then w2, the text must equal a fresh backend at w2."""
    w1, w2 = [1, 0, 0], [0, 0.5, 0.5]
    backend.set_weights(w1)
    backend.generate(PROMPT, GREEDY)
    backend.set_weights(w2)
    switched = backend.generate(PROMPT, SAMPLED).text
    fresh = LlamaCppBackend(merge=backend.merge)
    fresh.load(None, adapters)
    fresh.set_weights(w2)
    assert fresh.generate(PROMPT, SAMPLED).text == switched
    fresh.close()


def test_zero_weight_anchor_has_no_effect(backend, adapters):
    backend.set_weights([0.0, 1.0, 0.0])
    with_three = backend.generate(PROMPT, GREEDY).text
    single = LlamaCppBackend(merge=backend.merge)
    single.load(None, [adapters[1]])
    assert single.generate(PROMPT, GREEDY).text == with_three
    single.close()


def test_cancel_within_one_token(backend):
    long = SamplingConfig(max_tokens=200, temperature=0.8, seed=1)
    pieces = []
    stream = backend.stream(PROMPT, long)
    for piece in stream:
        pieces.append(piece)
        if len(pieces) == 3:
            backend.cancel()
    assert stream.result.n_tokens == 3
    assert stream.result.finish_reason == "cancelled"
    # a should_stop callable and closing the iterator work too
    seen: list[str] = []
    result = backend.generate(PROMPT, long, should_stop=lambda: len(seen) >= 5, on_piece=seen.append)
    assert result.n_tokens == 5 and result.finish_reason == "cancelled"
    stream = backend.stream(PROMPT, long)
    next(stream)
    stream.close()
    assert stream.result.finish_reason == "cancelled"


def test_stop_strings_and_chat(backend):
    backend.set_weights([0, 0, 1])
    full = backend.generate(PROMPT, GREEDY).text
    stop = full.strip().split()[2]
    cut = backend.generate(PROMPT, SamplingConfig(max_tokens=24, temperature=0, stop=(stop,)))
    assert cut.text == full[: full.index(stop)]
    assert cut.finish_reason == "stop"
    chat = backend.format_prompt("Hi", SamplingConfig(chat=True))
    assert "<|im_start|>user" in chat and chat.rstrip().endswith("<|im_start|>assistant")


def test_extrapolation_needs_the_flag(backend):
    with pytest.raises(ProsemixError, match="extrapolation"):
        backend.set_weights([1.5, -0.5, 0.0])
    point = backend.set_weights([1.5, -0.5, 0.0], extrapolate=True)
    assert point.zone.label == "stable extrapolation"
    assert backend.generate(PROMPT, GREEDY).n_tokens > 0


@pytest.mark.parametrize("weights, message", [
    ({"alpha": 0.5, "nobody": 0.5}, "unknown anchor"),
    ([0.5, 0.2, 0.2], "sum to 0.9"),
    ([float("nan"), 0.5, 0.5], "finite"),
])
def test_bad_weights(backend, weights, message):
    before = backend.point
    with pytest.raises(ProsemixError, match=message):
        backend.set_weights(weights)
    assert backend.point == before


def test_bad_prompts(backend):
    with pytest.raises(ProsemixError, match="empty"):
        list(backend.stream("   ", GREEDY))
    with pytest.raises(ProsemixError, match="longer than the context"):
        list(backend.stream("word " * 5000, GREEDY))


def test_llama_refusal_is_reported_not_ignored(tmp_path, base, adapters):
    """llama_adapter_lora_init returns NULL for a misshapen file; the backend must say so."""
    path = write_raw_gguf_lora(tmp_path / "bad.gguf", "llama", {
        "blk.0.attn_q.weight.lora_a": np.zeros((8, 576), np.float32),
        "blk.0.attn_q.weight.lora_b": np.zeros((576, 4), np.float32)})  # rank mismatch
    good = load_anchor(adapters[0], base)
    rogue = Anchor("rogue", path, 16.0, False, good.factors, gguf_path=path)
    b = LlamaCppBackend(merge=False)  # merged mode never hands llama.cpp an adapter
    with pytest.raises(AnchorError, match="llama.cpp refused"):
        b.load(None, [rogue])
    b.close()


def test_bad_anchor_files(tmp_path, base, adapters):
    raw = (adapters[0] / "adapter_model.safetensors").read_bytes()
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "adapter_config.json").write_text((adapters[0] / "adapter_config.json").read_text())
    (tmp_path / "t" / "adapter_model.safetensors").write_bytes(raw[:5000])
    b = LlamaCppBackend()
    with pytest.raises(AnchorError, match="cannot read"):
        b.load(None, [tmp_path / "t"])
    with pytest.raises(AnchorError, match="share the name"):
        b.load(None, [adapters[0], adapters[0]])
    with pytest.raises(ModelError, match="not found"):
        b.load(tmp_path / "missing.gguf", [])
    (tmp_path / "broken.gguf").write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 8)
    with pytest.raises(ModelError, match="truncated"):
        b.load(tmp_path / "broken.gguf", [])
    b.close()


def test_factors_validated_when_given_as_objects(base, adapters):
    good = load_anchor(adapters[0], base)
    module = next(iter(good.factors))
    f = good.factors[module]
    bad = Anchor("nan", good.source, 16.0, False,
                 {module: LoraFactors(f.A, np.full_like(f.B, np.nan), f.scale)})
    b = LlamaCppBackend()
    with pytest.raises(AnchorError, match="NaN"):
        b.load(None, [bad])


def test_llama_cpp_errors_reach_python_logging(backend, caplog):
    """ggml's levels are DEBUG 1, INFO 2, WARN 3, ERROR 4: errors and warnings are logged at
    their level (the first round passed only 2 and 3 on, as debug, so errors never showed)."""
    import logging

    import engine.backends.llama_log as llama_module

    assert llama_module._log_callback is not None  # installed by the load
    with caplog.at_level(logging.DEBUG, logger="engine.backends.llama_cpp"):
        llama_module._log_callback(4, b"something failed\n", None)
        llama_module._log_callback(3, b"something odd\n", None)
        llama_module._log_callback(2, b"loading\n", None)
    levels = {r.getMessage(): r.levelno for r in caplog.records}
    assert levels["llama.cpp: something failed"] == logging.ERROR
    assert levels["llama.cpp: something odd"] == logging.WARNING
    assert levels["llama.cpp: loading"] == logging.DEBUG


def test_strength_zero_is_the_base_model(adapters, session_cache):
    """At strength 0 no anchor counts: with runtime adapters (scale 0) the text is the plain
    model's, token for token."""
    plain = LlamaCppBackend(merge=False)
    plain.load(None, [])
    expected = plain.generate(PROMPT, GREEDY).text
    plain.close()
    b = LlamaCppBackend(merge=False)
    b.load(None, adapters)
    b.set_weights([0.2, 0.3, 0.5], strength=0.0)
    assert b.generate(PROMPT, GREEDY).text == expected
    b.set_weights([0.2, 0.3, 0.5])
    assert b.generate(PROMPT, GREEDY).text != expected
    b.close()


# ----- the kept prompt prefix (Continue in a long document) -----------------------------------
LONG = " ".join(f"On day {i} the rain kept on, and the letters came late." for i in range(60))


def test_prompt_batches_never_leave_a_row_alone():
    from engine.backends.llama_streams import prompt_batches

    assert prompt_batches(0, 512) == []
    assert prompt_batches(1, 512) == [1]
    assert prompt_batches(600, 512) == [512, 88]
    assert prompt_batches(513, 512) == [511, 2]
    for n in range(2, 1100, 7):
        sizes = prompt_batches(n, 64)
        assert sum(sizes) == n and max(sizes) <= 64 and min(sizes) >= 2


def test_common_prefix():
    from engine.backends.llama_streams import common_prefix

    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([1, 2], [1, 2, 3]) == 2


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "sampled"])
def test_a_kept_prefix_gives_the_text_of_a_fresh_run(backend, sampling):
    """Continue after typing: the shared prefix is not evaluated again, and the text is the
    same as a run that evaluates the whole prompt (longer than one 512-token batch). Where this
    CPU's kernels change the numbers with the batching (checked at load), nothing is kept."""
    print(f"this CPU: prompt batching {'does not change' if backend.split_invariant else 'changes'} the numbers")
    backend.set_weights([0.2, 0.3, 0.5])
    backend.generate(LONG, sampling)
    kept = backend.generate(LONG + " She wrote back at once.", sampling)
    assert kept.prompt_tokens > 512
    if backend.split_invariant:
        assert kept.cached_tokens >= kept.prompt_tokens - 8
    else:
        assert kept.cached_tokens == 0
    backend._forget_prompt()
    fresh = backend.generate(LONG + " She wrote back at once.", sampling)
    assert fresh.cached_tokens == 0
    assert kept.text == fresh.text


def test_the_kept_prefix_is_dropped_on_weight_change_and_scoring(backend):
    backend.set_weights([0.2, 0.3, 0.5])
    backend.generate(LONG, GREEDY)
    assert backend.generate(LONG, GREEDY).cached_tokens > 0 or not backend.split_invariant  # the same prompt again
    backend.set_weights([0.5, 0.3, 0.2])
    assert backend.generate(LONG, GREEDY).cached_tokens == 0
    backend.perplexity("A short text to score.")
    assert backend.generate(LONG, GREEDY).cached_tokens == 0


def test_a_drag_preview_starts_from_the_earlier_points_prompt_and_the_release_is_exact(backend):
    """While the handle moves, a preview at the new point evaluates only the prompt's last token
    (the rest is the KV the prompt got at the earlier point), move after move; the exact run at
    the release evaluates the whole prompt and equals a fresh generation."""
    backend.set_weights([0.8, 0.1, 0.1])
    backend.generate(LONG, GREEDY)
    for weights in ([0.5, 0.2, 0.3], [0.1, 0.1, 0.8]):  # two moves of the handle
        backend.set_weights(weights)
        preview = backend.stream(LONG, GREEDY, preview=True).run()
        assert preview.cached_tokens == preview.prompt_tokens - 1 and preview.n_tokens > 0
    typed = backend.stream(LONG + " She wrote back.", GREEDY, preview=True).run()  # text typed mid-drag
    assert 0 < typed.cached_tokens < typed.prompt_tokens - 1
    exact = backend.generate(LONG, GREEDY)  # the release
    assert exact.cached_tokens == 0
    backend._forget_prompt()
    assert exact.text == backend.generate(LONG, GREEDY).text
    backend._forget_prompt()
    cold = backend.stream(LONG, GREEDY, preview=True).run()  # nothing held: the preview is exact
    assert cold.cached_tokens == 0 and cold.text == exact.text


def test_a_preview_on_the_merged_copy_adds_the_moves_difference_as_runtime_loras(backend):
    """The merged copy previews a move without merging: the anchors' runtime LoRAs at B - A on
    the copy merged at A give B's next-token distribution up to rounding, and the release at the
    same point merges B, takes them off and writes the exact text. The runtime mode has no such
    shortcut (its scales are the point already)."""
    a, b = [0.8, 0.1, 0.1], [0.1, 0.2, 0.7]
    backend.set_weights(a)  # the reference: B merged exactly, previewed from A's KV
    backend.generate(LONG, GREEDY)
    backend.set_weights(b)
    merged = backend.stream(LONG, GREEDY, logprobs=True, preview=True).run()
    backend.set_weights(a)
    backend.generate(LONG, GREEDY)
    merged_at = backend._merger.values if backend._merger is not None else None
    backend.set_weights(b, preview=True)
    if backend.anchors_applied != "merged":
        assert not backend._weights_preview
        return
    assert backend._weights_preview and backend._preview_on
    assert backend._merger.values == merged_at  # nothing was merged for the preview
    lora = backend.stream(LONG, GREEDY, logprobs=True, preview=True).run()
    assert lora.cached_tokens == lora.prompt_tokens - 1
    assert lora.text.split()[:1] == merged.text.split()[:1]
    assert abs(lora.logprobs[0] - merged.logprobs[0]) < 0.05
    backend.set_weights(b)  # the release, at the point the preview showed
    assert not backend._weights_preview and not backend._preview_on
    assert backend._merger.values != merged_at
    exact = backend.generate(LONG, GREEDY)
    backend._forget_prompt()
    assert exact.cached_tokens == 0 and exact.text == backend.generate(LONG, GREEDY).text


def test_anything_but_a_preview_after_one_is_exact(backend):
    """A generation, candidates or a score that follows a preview's weights without a new
    set_weights still runs at the exact point (the preview LoRAs are merged away first)."""
    backend.set_weights([0.1, 0.2, 0.7])
    backend._forget_prompt()
    exact = backend.generate(LONG, GREEDY).text
    backend.set_weights([0.8, 0.1, 0.1])
    backend.generate(LONG, GREEDY)
    backend.set_weights([0.1, 0.2, 0.7], preview=True)
    backend.stream(LONG, GREEDY, preview=True).run()
    assert backend.generate(LONG, GREEDY).text == exact
    assert not backend._weights_preview and not backend._preview_on


def test_without_its_runtime_loras_a_preview_merges(adapters, session_cache, monkeypatch):
    """If llama.cpp will not take the anchors as runtime LoRAs on the merged copy, the model
    still loads and a drag's preview merges the point, as the release does."""
    def refused(self):  # type: ignore[no-untyped-def]
        raise AnchorError("llama.cpp refused the LoRA (a test)")

    b = LlamaCppBackend(merge=True)
    monkeypatch.setattr(LlamaCppBackend, "_lora_adapters", refused)
    b.load(None, adapters)
    try:
        assert b.anchors_applied == "merged" and b._preview_adapters == []
        b.generate(LONG, GREEDY)
        b.set_weights([0.1, 0.2, 0.7], preview=True)
        assert not b._weights_preview and b._merger.values == pytest.approx((0.1, 0.2, 0.7), abs=1e-6)
        preview = b.stream(LONG, GREEDY, preview=True).run()
        assert preview.cached_tokens == preview.prompt_tokens - 1  # still from the earlier point's KV
    finally:
        b.close()


def test_prompt_cache_can_be_turned_off(adapters, monkeypatch):
    monkeypatch.setenv("PROSEMIX_PROMPT_CACHE", "0")
    b = LlamaCppBackend()
    b.load(None, adapters)
    try:
        assert not b.split_invariant
        b.generate(PROMPT, GREEDY)
        assert b.generate(PROMPT + " and", GREEDY).cached_tokens == 0
    finally:
        b.close()


def test_cancel_is_heard_inside_a_prompt_evaluation(backend):
    """A new point while dragging cancels the running restyle inside its prompt's first batch
    (llama.cpp's abort callback asks between the graph's operations); the cancelled run leaves
    no half-evaluated prompt behind, and the next run gives the fresh text."""
    import itertools

    backend.set_weights([0.2, 0.3, 0.5])
    backend._forget_prompt()
    asked = itertools.count()
    result = backend.stream(LONG, SAMPLED, should_stop=lambda: next(asked) > 5).run()
    assert result.finish_reason == "cancelled" and result.text == ""
    assert backend._prompt_tokens == []  # stopped before its first batch of 256 was done
    assert next(asked) > 7  # asked from inside the evaluation, not only between batches
    again = backend.generate(LONG, SAMPLED)
    assert again.finish_reason == "length" and again.cached_tokens == 0
    backend._forget_prompt()
    assert again.text == backend.generate(LONG, SAMPLED).text
    assert backend.perplexity("Scoring is never aborted by an old cancel.") > 1
