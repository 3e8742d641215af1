"""A voice's diction: the bias fitted on a text, how it mixes, how it is read and refused, and
that every local backend adds it to the logits it samples from, in proportion to the weights,
less a word's rise while the passage holds the word."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from engine.anchors.diction import DICTION_FILE, KEY, at_step, diction_bias, word_tokens
from engine.anchors.loading import load_anchor
from engine.errors import AnchorError
from engine.sampling import SamplingConfig

torch = pytest.importorskip("torch")

GREEDY = SamplingConfig(max_tokens=6, temperature=0.0)
PROMPT = "The weather this morning was"


def sampled_targets(logits, bias, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.multinomial(torch.softmax(logits + bias, -1), 1, generator=g)[:, 0]


def test_the_fit_recovers_the_bias_a_text_was_written_with():
    from engine.training.diction import fit_diction

    g = torch.Generator().manual_seed(1)
    logits = torch.randn(20000, 40, generator=g) * 2
    true = torch.linspace(-1.0, 1.0, 40)[torch.randperm(40, generator=g)]
    fitted = fit_diction(logits, sampled_targets(logits, true), smoothing=0.5, clip=3.0, iterations=30)
    # a bias is defined up to a constant (softmax does not see one): compare centred
    error = (fitted - fitted.mean()) - (true - true.mean()).numpy()
    assert np.abs(error).max() < 0.15
    # a text written by the base itself gets (nearly) no diction
    plain = fit_diction(logits, sampled_targets(logits, torch.zeros(40), seed=2), iterations=30)
    assert np.abs(plain - plain.mean()).max() < 0.15
    # the clip bounds it: a token never used is pushed down at most that far
    never = fit_diction(logits, torch.zeros(20000, dtype=torch.long), clip=2.0)
    assert never.min() >= -2.0 and never.max() <= 2.0 and never[0] == pytest.approx(2.0)


def test_fitting_the_used_and_expected_tokens_alone_gives_the_full_fit_where_it_matters():
    """The fit skips the tokens neither used nor much expected (their bias would be about 0):
    on a vocabulary of 3,000 with a Zipf-like base, the used tokens' biases are the full fit's."""
    from engine.training.diction import fit_diction

    g = torch.Generator().manual_seed(3)
    vocab = 3000
    logits = torch.randn(4000, vocab, generator=g) - 2.0 * torch.log(torch.arange(1, vocab + 1).float())
    true = torch.zeros(vocab)
    true[torch.randperm(vocab, generator=g)[:60]] = 1.5
    targets = sampled_targets(logits, true)
    full = fit_diction(logits, targets, expected_top=vocab)
    part = fit_diction(logits, targets, expected_top=600)
    used = torch.unique(targets).numpy()
    assert 50 < len(used) < 2000  # most of the vocabulary is neither used nor expected
    assert np.abs(full[used] - part[used]).max() < 0.05
    skipped = np.setdiff1d(np.arange(vocab), np.union1d(used, np.nonzero(part)[0]))
    assert len(skipped) > 500 and np.abs(full[skipped]).mean() < 0.05  # what the skipped tokens would get


def test_only_words_and_punctuation_may_rise(session_cache):
    """A page's names would crowd into every passage and a piece inside a word would respell
    words, so the diction may raise whole lower-case words and punctuation only; anything
    may fall."""
    from transformers import AutoTokenizer

    from engine.models.base import resolve_model
    from engine.models.float_copy import float_copy_of_gguf
    from engine.training.diction import fit_diction, rising_tokens

    tokenizer = AutoTokenizer.from_pretrained(str(float_copy_of_gguf(resolve_model(None))), local_files_only=True)
    rising = rising_tokens(tokenizer)
    def first(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"][0]
    assert all(rising[first(w)] for w in (" the", " upon", " whale", ",", ";", '"', "\n\n"))
    assert not any(rising[first(w)] for w in (" Queequeg", " Price", " I"))
    assert not rising[tokenizer(" Queequeg", add_special_tokens=False)["input_ids"][-1]]  # a piece inside the name
    # the fit honours it: of two tokens the text uses e^2 times as often as the base expects,
    # the one that may rise gets about +2 and the held one keeps the base's share. The rest fall
    # to make room (softmax sees only differences), so a held token merely kept at bias 0 still
    # grows (1.7x here, where a free fit gives the text's 7.4x); held at the base's count, it
    # falls by as much as the rest and stays where the base had it
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(20000, 200, generator=g)
    true = torch.zeros(200)
    true[:2] = 2.0
    targets = sampled_targets(logits, true)
    mask = np.ones(200, dtype=bool)
    mask[0] = False
    share = lambda bias: float(torch.softmax(logits + torch.as_tensor(bias), -1)[:, 0].mean())  # noqa: E731
    base = share(np.zeros(200, np.float32))
    fitted = fit_diction(logits, targets, may_rise=mask, iterations=20)
    assert fitted[0] < 0.0 and 1.7 < fitted[1] - np.median(fitted) < 2.3
    assert 0.9 * base < share(fitted) < 1.1 * base
    kept_at_zero = fit_diction(logits, targets, may_rise=mask, iterations=20, held_at_base=False)
    assert kept_at_zero[0] == 0.0 and 1.4 * base < share(kept_at_zero) < 2.0 * base
    free = fit_diction(logits, targets, iterations=20)  # the same text, any token may rise
    assert share(free) > 5 * base

def test_the_bias_at_a_point_is_linear_in_the_weights_and_zero_at_strength_zero():
    a, b = np.arange(5, dtype=np.float32), np.ones(5, dtype=np.float32)
    np.testing.assert_allclose(diction_bias((0.3, 0.7), [a, b]), 0.3 * a + 0.7 * b, rtol=1e-6)
    np.testing.assert_allclose(diction_bias((0.6, 1.4), [a, b]), 2 * diction_bias((0.3, 0.7), [a, b]), rtol=1e-6)
    assert diction_bias((0.0, 0.0), [a, b]) is None  # s = 0: the base model's logits
    assert diction_bias((0.5, 0.5), [None, None]) is None  # no voice has a diction
    np.testing.assert_allclose(diction_bias((0.5, 0.5), [None, b]), 0.5 * b)


def test_a_risen_word_loses_its_rise_while_the_window_holds_it():
    words = word_tokens(["the", " morning", ";", " ", "7", "\u00e9t\u00e9", " upon"])
    assert words.tolist() == [True, True, False, False, False, True, True]
    bias = np.array([-1.0, 2.0, 1.5, 0.5, 0.7, 1.0, 0.8], np.float32)
    kept = bias.copy()
    step = at_step(bias, [3, 1, 2, 0, 6], words, window=4)
    # the word " upon" and " morning" lose their rise, "the" stays fallen, ";" keeps its rise,
    # and "été", not in the passage, keeps its
    assert step.tolist() == pytest.approx([-1.0, 0.0, 1.5, 0.5, 0.7, 1.0, 0.0])
    np.testing.assert_array_equal(bias, kept)  # the point's bias is not changed
    assert at_step(bias, [1, 2, 2, 2, 2], words, window=4)[1] == pytest.approx(2.0)  # " morning" has left it
    assert at_step(bias, [1], words, window=0) is bias  # no window: the bias as it is
    assert at_step(bias, [1], None) is bias  # a backend that cannot read its vocabulary
    assert at_step(bias, [], words) is bias
    assert at_step(bias, [99, -1], words) is bias  # tokens outside the diction are ignored


def write_diction(folder, values) -> None:
    from safetensors.numpy import save_file

    save_file(values, str(folder / DICTION_FILE))


@pytest.mark.parametrize("values, message", [
    ({"other": np.zeros(4, np.float32)}, "must hold one tensor 'diction'"),
    ({KEY: np.zeros((2, 2), np.float32)}, "one bias per token"),
    ({KEY: np.array([0.0, np.nan], np.float32)}, "NaN or infinite"),
])
def test_a_damaged_diction_is_refused_by_name(tmp_path, adapters, base, values, message):
    voice = tmp_path / "voice"
    shutil.copytree(adapters[0], voice)
    write_diction(voice, values)
    with pytest.raises(AnchorError, match=f"anchor 'voice'.*{message}|anchor 'voice': .*{message}"):
        load_anchor(voice, base)


@pytest.fixture(scope="module")
def voice(tmp_path_factory, adapters, session_cache):
    """A synthetic anchor with a diction that puts " whale" far above every other token."""
    from engine.backends.llama_cpp import LlamaCppBackend

    folder = tmp_path_factory.mktemp("diction") / "voice"
    shutil.copytree(adapters[0], folder)
    probe = LlamaCppBackend()
    probe.load(None, [])
    whale = probe._tokenize(" whale")[-1]
    vocab = probe._vocab_size()
    probe.close()
    bias = np.zeros(vocab, np.float32)
    bias[whale] = 60.0
    write_diction(folder, {KEY: bias})
    return folder, whale, bias


def backends():
    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.backends.torch import TorchBackend

    return [lambda: LlamaCppBackend(merge=False), lambda: LlamaCppBackend(merge=True),
            lambda: TorchBackend(device="cpu", dtype="float32")]


@pytest.mark.parametrize("make", range(3), ids=["llama-runtime", "llama-merged", "torch"])
def test_every_local_backend_samples_with_the_diction_in_proportion_to_the_weights(make, voice, adapters):
    folder, whale, bias = voice
    backend = backends()[make]()
    backend.load(None, [folder, adapters[1]])
    try:
        backend.presence_window = 0  # the diction as it is at every step
        backend.set_weights([1, 0])
        np.testing.assert_array_equal(backend.logit_bias, bias)
        result = backend.generate(PROMPT, GREEDY)
        assert result.text == " whale" * GREEDY.max_tokens
        backend.set_weights([0.25, 0.75])
        np.testing.assert_allclose(backend.logit_bias, 0.25 * bias)
        backend.set_weights([1, 0], strength=0.0)
        assert backend.logit_bias is None
        at_zero = backend.generate(PROMPT, GREEDY).text
        backend.set_weights([0, 1], strength=0.0)
        assert at_zero == backend.generate(PROMPT, GREEDY).text != " whale" * GREEDY.max_tokens  # s = 0: the base
        backend.set_weights([1, 0])
        # the candidates sample with it too, one after another and (llama) sharing each decode
        for shared in ([False, True] if hasattr(backend, "rows_invariant") else [None]):
            if shared is not None:
                backend.rows_invariant = shared
            results = backend.generate_candidates(PROMPT, SamplingConfig(max_tokens=4, temperature=0.8), [1, 2],
                                                  logprobs=True)
            assert [r.text for r in results] == [" whale" * 4] * 2
            assert all(lp > -0.01 for r in results for lp in r.logprobs)  # log p as the sampler saw it
    finally:
        backend.close()


@pytest.mark.parametrize("make", range(3), ids=["llama-runtime", "llama-merged", "torch"])
def test_every_local_backend_withdraws_a_words_rise_while_the_passage_holds_it(make, voice, adapters):
    folder, whale, bias = voice
    backend = backends()[make]()
    backend.load(None, [folder, adapters[1]])
    try:
        backend.set_weights([1, 0])  # the default window
        result = backend.generate(PROMPT, GREEDY, logprobs=True)
        assert result.text.startswith(" whale") and result.text.count(" whale") == 1, result.text
        assert result.logprobs[0] > -0.01 and result.logprobs[1] < -0.01  # log p as the sampler saw it
        # a passage that already holds the word: no rise from its first token on
        assert " whale" not in backend.generate("The whale this morning was", GREEDY).text
        sampling = SamplingConfig(max_tokens=6, temperature=0.8)
        alone = [backend.generate(PROMPT, SamplingConfig(max_tokens=6, temperature=0.8, seed=s)).text for s in (1, 2)]
        # candidate i samples as a single generation with its seed (the backend's own way)
        assert [r.text for r in backend.generate_candidates(PROMPT, sampling, [1, 2])] == alone
        if hasattr(backend, "rows_invariant"):  # llama, sharing each decode: each candidate's own tokens
            backend.rows_invariant = True
            texts = [r.text for r in backend.generate_candidates(PROMPT, sampling, [1, 2])]
            assert all(t.startswith(" whale") and t.count(" whale") == 1 for t in texts), texts
    finally:
        backend.close()


def test_a_diction_for_another_vocabulary_is_refused_at_load(tmp_path, adapters, session_cache):
    from engine.backends.llama_cpp import LlamaCppBackend

    folder = tmp_path / "foreign"
    shutil.copytree(adapters[0], folder)
    write_diction(folder, {KEY: np.zeros(1000, np.float32)})
    backend = LlamaCppBackend()
    with pytest.raises(AnchorError, match="diction has 1,000 entries.*another model"):
        backend.load(None, [folder])
    assert not backend.loaded and backend.logit_bias is None


def test_a_long_text_is_fitted_on_blocks_spread_over_all_of_it():
    from engine.training.diction import spread

    assert spread([128] * 5, max_positions=2048) == [0, 1, 2, 3, 4]  # a page: every block
    chosen = spread([128] * 75, max_positions=2048)  # ten pages: 16 blocks, first to last
    assert len(chosen) == 16 and chosen[0] == 0 and chosen[-1] == 74 and chosen == sorted(set(chosen))
    assert spread([128] * 75, max_positions=100) == [0]
