"""K candidates for one prompt at one point (Backend.stream_candidates): candidate i gives the
text of a single generation with its seed, on every backend and path; stop strings, early
ends and cancel act per candidate or on all; bad requests get a clear refusal."""
from __future__ import annotations

from typing import Iterator

import pytest

from engine.backends.base import Backend, Piece
from engine.backends.generation import MAX_CANDIDATES, check_seeds, seeds_from
from engine.errors import ProsemixError
from engine.sampling import SamplingConfig

PROMPT = "The lighthouse keeper opened the door and"
SAMPLED = SamplingConfig(max_tokens=24, temperature=0.9, seed=0)
GREEDY = SamplingConfig(max_tokens=24, temperature=0.0)
STOPPED = SamplingConfig(max_tokens=40, temperature=0.9, stop=(".",))
SEEDS = [3, 11, 12, 40]


class Scripted(Backend):
    """A backend without a model: seed s writes "s0 s1 s2 ..." and ends after s % 5 + 2
    words (end of sequence) when that comes before max_tokens."""

    name = "scripted"

    def _open_model(self, model, progress):  # type: ignore[no-untyped-def]
        from pathlib import Path

        return Path("scripted"), None

    def _resolve_anchors(self, anchors, info, allow_pickle):  # type: ignore[no-untyped-def]
        return []

    def _load_model(self, path, progress):  # type: ignore[no-untyped-def]
        self._loaded = True

    def _is_loaded(self) -> bool:
        return getattr(self, "_loaded", False)

    def _close_model(self) -> None:
        self._loaded = False

    def _attach_anchors(self) -> None:
        pass

    def _apply_weights(self, values):  # type: ignore[no-untyped-def]
        pass

    def _tokenize(self, text: str) -> list[int]:
        return list(range(len(text.split())))

    def _token_pieces(self, tokens, sampling, max_tokens, logprobs) -> Iterator[Piece]:  # type: ignore[no-untyped-def]
        for k in range(min(max_tokens, sampling.seed % 5 + 2)):
            yield Piece(f" {sampling.seed}.{k}", -0.5 if logprobs else None)

    def _chat_template(self) -> str | None:
        return None

    def _special(self, which: str) -> str:
        return ""


def _singles(backend: Backend, sampling: SamplingConfig, seeds: list[int]) -> tuple[list[int], list]:
    """The seeds asked for, and a single generation with each."""
    from dataclasses import replace

    return list(seeds), [backend.generate(PROMPT, replace(sampling, seed=s)) for s in seeds]


def _same(asked: tuple[list[int], list], candidates: list) -> None:
    seeds, singles = asked
    assert [c.seed for c in candidates] == seeds
    assert [c.text for c in candidates] == [s.text for s in singles]
    assert [c.finish_reason for c in candidates] == [s.finish_reason for s in singles]
    assert [c.n_tokens for c in candidates] == [s.n_tokens for s in singles]


def test_seeds_are_checked():
    assert check_seeds([1, 2]) == [1, 2]
    for bad, message in (([], "1 to"), (list(range(MAX_CANDIDATES + 1)), "1 to"),
                         ([1, -1], "seed"), ([True], "seed"), ([2**32], "seed")):
        with pytest.raises(ProsemixError, match=message):
            check_seeds(bad)
    assert seeds_from(2**32 - 1, 3) == [2**32 - 1, 0, 1]


def test_each_candidate_ends_on_its_own_terms():
    b = Scripted()
    b.load()
    sampling = SamplingConfig(max_tokens=5, stop=(" 7.3",))
    results = b.generate_candidates(PROMPT, sampling, [1, 7, 9, 5])
    assert [r.finish_reason for r in results] == ["eos", "stop", "length", "eos"]
    assert results[0].text == " 1.0 1.1 1.2" and results[1].text == " 7.0 7.1 7.2"
    assert results[2].n_tokens == 5 and [r.seed for r in results] == [1, 7, 9, 5]
    _same(_singles(b, sampling, [1, 7, 9, 5]), results)


def test_cancel_stops_them_all_and_closing_marks_them_cancelled():
    b = Scripted()
    b.load()
    seen = []
    results = b.generate_candidates(PROMPT, SamplingConfig(max_tokens=50), [4, 9, 14],
                                    should_stop=lambda: len(seen) >= 3,
                                    on_piece=lambda i, piece: seen.append(i))
    assert len(seen) == 3 and all(r.finish_reason == "cancelled" for r in results[1:])
    run = b.stream_candidates(PROMPT, SamplingConfig(max_tokens=50), [4, 9])
    next(run)
    run.close()
    assert [r.finish_reason for r in run.results] == ["cancelled", "cancelled"]


@pytest.fixture(scope="module")
def plain(session_cache):
    """The embedded Q4_1 model with no anchors."""
    from engine.backends.llama_cpp import LlamaCppBackend

    b = LlamaCppBackend()
    b.load()
    yield b
    b.close()


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED, STOPPED], ids=["greedy", "sampled", "stop"])
def test_llama_candidates_are_the_single_generations(merged, plain, sampling):
    """On the path this CPU's kernels allow (shared decode steps where rows are batch-invariant,
    else one after another): measured at the first call, never assumed."""
    for backend in (merged, plain):
        candidates = backend.generate_candidates(PROMPT, sampling, SEEDS)
        _same(_singles(backend, sampling, SEEDS), candidates)
        assert backend.rows_invariant is not None  # the check ran
    print(f"this CPU: rows batch-invariant with merged anchors {merged.rows_invariant}, "
          f"plain Q4_1 {plain.rows_invariant}")


def test_llama_candidates_one_by_one_are_the_single_generations(plain, monkeypatch):
    """The path of a CPU whose rows differ in a batch, taken here whatever this CPU is."""
    monkeypatch.setattr(plain, "rows_invariant", False)
    for sampling in (SAMPLED, STOPPED):
        _same(_singles(plain, sampling, SEEDS[:3]), plain.generate_candidates(PROMPT, sampling, SEEDS[:3]))


def test_llama_batched_candidates_cancel_and_early_ends(plain, monkeypatch):
    """The shared-decode path, run on any CPU: where this CPU's rows are not batch-invariant
    it is forced, and then only exactness against the singles is not asked of it."""
    assert plain.generate_candidates(PROMPT, GREEDY, [1]) [0].text == plain.generate(PROMPT, GREEDY).text
    invariant = plain._rows_batch_invariant()
    monkeypatch.setattr(plain, "rows_invariant", True)
    count = []
    results = plain.generate_candidates(PROMPT, SAMPLED, SEEDS, should_stop=lambda: len(count) >= 6,
                                        on_piece=lambda i, piece: count.append(i))
    assert {r.finish_reason for r in results} == {"cancelled"} and len(count) == 6
    # the backend is whole afterwards: the same call gives the same texts (and the singles,
    # where the rows are batch-invariant)
    first = plain.generate_candidates(PROMPT, SAMPLED, SEEDS[:2])
    assert [c.text for c in first] == [c.text for c in plain.generate_candidates(PROMPT, SAMPLED, SEEDS[:2])]
    assert all(c.finish_reason in ("length", "eos") and c.text for c in first)
    if invariant:
        _same(_singles(plain, SAMPLED, SEEDS[:2]), first)
    print(f"this CPU: plain Q4_1 rows batch-invariant {invariant}")


def test_llama_refuses_candidates_whose_cache_does_not_fit(plain, monkeypatch):
    import engine.backends.llama_cpp as llama_module

    monkeypatch.setattr(plain, "rows_invariant", True)  # the shared path, which needs the cache
    monkeypatch.setattr(llama_module, "available_memory", lambda: 8 * 2**20)
    with pytest.raises(ProsemixError, match="KV cache"):
        plain.generate_candidates(PROMPT, SamplingConfig(max_tokens=1000), list(range(8)))
    with pytest.raises(ProsemixError, match="1 to 8"):
        plain.generate_candidates(PROMPT, GREEDY, list(range(9)))


def test_torch_candidates_are_the_single_generations(adapters, session_cache):
    from engine.backends.torch import TorchBackend

    b = TorchBackend()
    b.load(None, adapters)
    for sampling in (GREEDY, STOPPED):
        _same(_singles(b, sampling, SEEDS[:3]), b.generate_candidates(PROMPT, sampling, SEEDS[:3]))
    b.close()


def test_sweep_batch_writes_the_rows_of_the_one_at_a_time_sweep(merged, tmp_path):
    import csv

    from engine.evaluation.sweep import SweepConfig, plan_points, run_sweep

    points = plan_points("simplex", merged.anchor_names, [], step=0.5)[:2]
    rows = {}
    for batch in (False, True):
        config = SweepConfig(prompts=[PROMPT, "Dear Sir,"], samples=3, max_tokens=12, batch=batch)
        out = run_sweep(merged, points, [], tmp_path / f"{batch}.csv", config)
        with open(out, newline="", encoding="utf-8") as f:
            rows[batch] = [(r["point"], r["prompt_id"], r["seed"], r["text"]) for r in csv.DictReader(f)]
    assert rows[True] == rows[False] and len(rows[True]) == 12


def test_llama_runtime_adapters_are_checked_again_when_the_active_set_changes(adapters, session_cache):
    from engine.backends.llama_cpp import LlamaCppBackend

    b = LlamaCppBackend(merge=False)
    b.load(None, adapters)
    b.set_weights([1 / 3] * 3, normalize=True, strength=0.0)  # no adapter active
    b.generate_candidates(PROMPT, GREEDY, [1, 2])
    without = b.rows_invariant
    b.set_weights([0.2, 0.3, 0.5])
    assert b.rows_invariant is None  # LoRA kernels now run: unknown until checked
    _same(_singles(b, SAMPLED, SEEDS), b.generate_candidates(PROMPT, SAMPLED, SEEDS))
    assert without is not None  # checked for each kernel set
    assert b.rows_invariant is False  # runtime LoRA kernels: candidates never share a decode
    b.close()


def test_a_backend_remembers_the_last_texts_tokens_and_forgets_them_with_the_model():
    """A drag sends the same context move after move: it is tokenized once. The memory is
    bounded, hands out copies, and a new model starts it afresh."""
    from engine.backends.base import TOKEN_MEMO

    b = Scripted()
    b.load()
    calls: list[str] = []
    tokenize = b._tokenize
    b._tokenize = lambda text: calls.append(text) or tokenize(text)  # type: ignore[method-assign]
    assert b.count_tokens("one two three") == 3 and b.count_tokens("one two three") == 3
    assert calls == ["one two three"]
    b._tokens_of("one two three").append(99)  # a caller's change stays its own
    assert b.count_tokens("one two three") == 3
    for k in range(TOKEN_MEMO):
        b.count_tokens(f"text {k}")
    assert len(b._token_memo) == TOKEN_MEMO and "one two three" not in b._token_memo
    b.generate("text 5", SamplingConfig(seed=1, max_tokens=2))  # the prompt's tokens come from it too
    assert calls.count("text 5") == 1
    b.load()
    assert not b._token_memo
