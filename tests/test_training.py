"""Training: a few steps on a tiny corpus lower the loss and give an anchor both backends load."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from engine.errors import ProsemixError
from engine.training.config import TrainConfig, TrainingCancelled
from engine.training.data import pack_blocks, read_corpus, split_blocks
from engine.training.train import train_anchor

pytestmark = pytest.mark.slow

TEXT = ("It is a truth universally acknowledged, that a single man in possession of a good "
        "fortune, must be in want of a wife. ") * 60
FAST = TrainConfig(rank=4, alpha=8, steps=6, lr=3e-3, batch=2, block=32, checkpoint_every=3,
                   max_val_blocks=4, warmup=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, session_cache):
    root = tmp_path_factory.mktemp("train")
    (root / "corpus.txt").write_text(TEXT)
    result = train_anchor(root / "corpus.txt", root / "austenish", name="austenish", config=FAST,
                          corpus_name="test corpus", license="public domain", colour="#112233")
    return result


def test_loss_goes_down_and_outputs_exist(trained, base):
    assert trained.val_loss < trained.base_val_loss
    out = trained.out_dir
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert trained.gguf_path.is_file()
    card = json.loads((out / "anchor.json").read_text())
    assert card["name"] == "austenish" and card["license"] == "public domain"
    assert card["metrics"]["val_loss"] < card["metrics"]["base_val_loss"]
    from engine.models.base import model_sha256

    assert card["base_sha256"] == model_sha256(None)
    assert not (out / "checkpoint").exists()
    # the matrices trained are the ones the card names (a comment once swallowed target_modules,
    # and peft fell back to q_proj and v_proj while every card said q, k, v and o)
    from safetensors import safe_open

    with safe_open(str(out / "adapter_model.safetensors"), "np") as f:
        trained_modules = {k.split(".")[-3] for k in f.keys()}
    assert trained_modules == set(card["training"]["targets"]) == set(FAST.targets)
    assert set(json.loads((out / "adapter_config.json").read_text())["target_modules"]) == set(FAST.targets)


def test_trained_anchor_loads_in_both_backends(trained):
    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.backends.torch import TorchBackend
    from engine.sampling import SamplingConfig

    greedy = SamplingConfig(max_tokens=8, temperature=0)
    for backend in (LlamaCppBackend(), TorchBackend(device="cpu", dtype="float32")):
        backend.load(None, [trained.out_dir])
        assert backend.anchor_names == ["austenish"]
        assert backend.generate("It is a truth", greedy).n_tokens > 0
        backend.close()


def test_cancel_then_resume(tmp_path, session_cache):
    (tmp_path / "c.txt").write_text(TEXT)
    calls = {"n": 0}

    def stop_after_four_checks():
        calls["n"] += 1
        return calls["n"] > 4

    with pytest.raises(TrainingCancelled, match="step 4/6"):
        train_anchor(tmp_path / "c.txt", tmp_path / "out", name="x", config=FAST,
                     should_stop=stop_after_four_checks)
    assert (tmp_path / "out" / "checkpoint" / "state.pt").is_file()
    import torch

    state = torch.load(tmp_path / "out" / "checkpoint" / "state.pt", weights_only=True)
    state["seconds"] = 1000.0  # as if the first four steps had taken that long
    torch.save(state, tmp_path / "out" / "checkpoint" / "state.pt")
    seen = []
    result = train_anchor(tmp_path / "c.txt", tmp_path / "out", name="x", config=FAST,
                          progress=lambda p: seen.append(p.step))
    assert result.steps == 6 and min(s for s in seen if s) == 5  # resumed after step 4
    assert 1000.0 < result.seconds < 1000.0 + 600  # the card counts the first run's time too
    assert len(result.history) == 6
    with pytest.raises(ProsemixError, match="different training config"):
        (tmp_path / "out" / "checkpoint").mkdir()
        import torch

        torch.save({"config": "other"}, tmp_path / "out" / "checkpoint" / "state.pt")
        train_anchor(tmp_path / "c.txt", tmp_path / "out", name="x", config=FAST)


def test_corpus_errors(tmp_path, session_cache):
    with pytest.raises(ProsemixError, match="not found"):
        read_corpus(tmp_path / "none.txt")
    (tmp_path / "empty.txt").write_text("   \n")
    with pytest.raises(ProsemixError, match="empty"):
        read_corpus(tmp_path / "empty.txt")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\xfa not utf8 \xff")
    with pytest.raises(ProsemixError, match="cannot read"):
        read_corpus(tmp_path / "bad.txt")
    (tmp_path / "d.jsonl").write_text('{"text": "fine"}\n{"body": "no text"}\n')
    with pytest.raises(ProsemixError, match='"text"'):
        read_corpus(tmp_path / "d.jsonl")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ProsemixError, match="no .txt"):
        read_corpus(tmp_path / "folder")
    (tmp_path / "small.txt").write_text("Just a few words.")
    with pytest.raises(ProsemixError, match="too small"):
        train_anchor(tmp_path / "small.txt", tmp_path / "o", name="s", config=FAST)
    (tmp_path / "ok.txt").write_text(TEXT)
    with pytest.raises(ProsemixError, match="does not fit"):
        train_anchor(tmp_path / "ok.txt", tmp_path / "o", name="s",
                     config=TrainConfig(rank=256, steps=1))
    with pytest.raises(ProsemixError, match="anchor name"):
        train_anchor(tmp_path / "ok.txt", tmp_path / "o", name="../evil", config=FAST)


def test_jsonl_and_packing(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "one"}\n\n{"text": "two"}\n')
    assert read_corpus(tmp_path / "d.jsonl") == ["one", "two"]
    assert pack_blocks([[1, 2, 3], [4, 5]], 3, eos=0) == [[1, 2, 3], [0, 4, 5]]


def test_shifted_windows_join_two_training_blocks_and_never_reach_held_out_text():
    stream = list(range(160))
    blocks = pack_blocks([stream], 16, eos=None)  # 10 blocks of 16
    cfg = TrainConfig(block=16, val_fraction=0.2, max_val_blocks=2)
    train, val = split_blocks(blocks, cfg)
    shifted_train, shifted_val = split_blocks(blocks, replace(cfg, shifted=True))
    assert shifted_val == val and shifted_train[:len(train)] == train
    windows = shifted_train[len(train):]
    held = {t for b in val for t in b}
    # every window is the stream eight tokens on from a block's start, between two training blocks
    expect = {16 * i + 8 for i in range(9) if not set(range(16 * i, 16 * i + 32)) & held}
    assert expect and {w[0] for w in windows} == expect and len(windows) == len(expect)
    for w in windows:
        assert w == stream[w[0]:w[0] + 16] and not set(w) & held


def test_learn_held_out_trains_on_every_block_and_still_measures_the_held_out_ones():
    blocks = pack_blocks([list(range(160))], 16, eos=None)
    cfg = TrainConfig(block=16, val_fraction=0.2, max_val_blocks=2)
    train, val = split_blocks(blocks, cfg)
    learnt, learnt_val = split_blocks(blocks, replace(cfg, learn_held_out=True))
    assert learnt_val == val and len(val) == 2
    assert learnt == train + val and sorted(map(tuple, learnt)) == sorted(map(tuple, blocks))
    # with the shifted windows too: the text's own blocks once each, the windows, no more
    both, _ = split_blocks(blocks, replace(cfg, learn_held_out=True, shifted=True))
    assert both[-len(val):] == val and both[:len(train)] == train


def test_a_time_budget_takes_fewer_steps_not_more_time(tmp_path, session_cache, monkeypatch):
    """max_seconds: the run ends when the next step would not fit at the pace so far, the card
    says how many steps were taken, and the learning rate still decays to zero by then."""
    from dataclasses import replace

    from engine.training import train as train_module

    (tmp_path / "c.txt").write_text(TEXT)
    clock = {"t": 0.0}

    def fake_clock():  # every reading 1 s later: each step "takes" a few seconds
        clock["t"] += 1.0
        return clock["t"]

    monkeypatch.setattr(train_module.time, "perf_counter", fake_clock)
    seen = []
    result = train_anchor(tmp_path / "c.txt", tmp_path / "out", name="x",
                          config=replace(FAST, steps=40, max_seconds=12.0, checkpoint_every=1000),
                          progress=seen.append)
    assert 2 <= result.steps < 40 and len(result.history) == result.steps
    card = json.loads((tmp_path / "out" / "anchor.json").read_text())
    assert card["training"]["steps_taken"] == result.steps and card["training"]["max_seconds"] == 12.0
    assert seen[-1].step == seen[-1].total == result.steps  # the progress bar ends full
    assert result.seconds <= 12.0 + 3  # the last step may end at most one step's pace past
    # without a budget every step is taken
    plain = train_anchor(tmp_path / "c.txt", tmp_path / "out2", name="y", config=replace(FAST, steps=8))
    assert plain.steps == 8


def test_a_shortened_schedule_still_decays_to_zero(tmp_path, session_cache, monkeypatch):
    """The cosine decay reads the shortened total: the last step's rate is the schedule's end."""
    import math
    from dataclasses import replace

    import torch

    from engine.training import train as train_module

    lrs = []
    real_step = torch.optim.lr_scheduler.LambdaLR.step

    def spy(self, *a, **k):
        real_step(self, *a, **k)
        lrs.append(self.get_last_lr()[0])

    monkeypatch.setattr(torch.optim.lr_scheduler.LambdaLR, "step", spy)
    clock = {"t": 0.0}

    def fake_clock():
        clock["t"] += 1.0
        return clock["t"]

    monkeypatch.setattr(train_module.time, "perf_counter", fake_clock)
    (tmp_path / "c.txt").write_text(TEXT)
    result = train_anchor(tmp_path / "c.txt", tmp_path / "o", name="z",
                          config=replace(FAST, steps=40, max_seconds=12.0, checkpoint_every=1000))
    assert result.steps < 40
    # lrs[0] is the scheduler's own first call; lrs[k] the rate after step k
    assert math.isclose(lrs[result.steps], 0.0, abs_tol=1e-9), lrs[:result.steps + 1]
    assert all(a > 0 for a in lrs[:result.steps])


def test_top_layers_train_as_the_whole_model_would_and_load_everywhere(tmp_path, session_cache, monkeypatch):
    """top_layers: LoRA on the last layers only; the layers below run once per block (kept), and
    the adapter is the one a whole-model pass of every step would train (the same losses and
    weights); it holds those layers alone, and both backends load it and write with it."""
    from dataclasses import replace

    import numpy as np

    from engine.anchors.loading import read_safetensors
    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.backends.torch import TorchBackend
    from engine.models.base import base_info
    from engine.sampling import SamplingConfig
    from engine.training import train as train_module

    (tmp_path / "c.txt").write_text(TEXT)
    config = replace(FAST, top_layers=2, checkpoint_every=1000, diction=True)
    bottoms = []
    real_run_with = train_module.FrozenBelow._run_with

    def counting(self, layers, norm, fn):
        if len(layers) == self.first:
            bottoms.append(len(layers))
        return real_run_with(self, layers, norm, fn)

    monkeypatch.setattr(train_module.FrozenBelow, "_run_with", counting)
    said = []
    kept = train_anchor(tmp_path / "c.txt", tmp_path / "kept", name="kept", config=config,
                        progress=lambda p: said.append(p.message))
    assert any("frozen layers" in m for m in said)  # the seconds before the first step are named
    n_blocks = json.loads((tmp_path / "kept" / "anchor.json").read_text())["training"]["train_blocks"]
    assert 1 <= len(bottoms) <= n_blocks  # each block once, before the steps (6 steps x 2 would be 12)
    monkeypatch.setattr(train_module.FrozenBelow, "KEEP_AHEAD_BYTES", 0)  # a corpus too big to keep ahead
    said.clear()
    lazy = train_anchor(tmp_path / "c.txt", tmp_path / "lazy", name="lazy", config=config,
                        progress=lambda p: said.append(p.message))
    assert not any("frozen layers" in m for m in said)  # computed as batches first hold the blocks
    assert [h["loss"] for h in lazy.history] == pytest.approx([h["loss"] for h in kept.history], abs=1e-4)
    monkeypatch.setattr(train_module.FrozenBelow, "loss",  # the reference: every step runs the whole model
                        lambda self, model, indices: train_module.loss_of(
                            model, __import__("torch").tensor([self.blocks[i] for i in indices]), self.precision))
    whole = train_anchor(tmp_path / "c.txt", tmp_path / "whole", name="whole", config=config)
    assert [h["loss"] for h in kept.history] == pytest.approx([h["loss"] for h in whole.history], abs=1e-3)
    a = read_safetensors(tmp_path / "kept" / "adapter_model.safetensors")
    b = read_safetensors(tmp_path / "whole" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=2e-3) for k in a)
    # the diction from the kept hidden states and the top layers equals a whole-model pass's
    # (the lazy run's), and the tokens the text uses get the largest biases
    kept_d, lazy_d = (read_safetensors(tmp_path / n / "diction.safetensors")["diction"] for n in ("kept", "lazy"))
    assert kept_d.shape == lazy_d.shape and np.abs(kept_d - lazy_d).max() < 0.02 and np.abs(kept_d).max() > 1
    n = base_info(None).n_layers
    assert {int(k.split(".layers.")[1].split(".")[0]) for k in a} == {n - 2, n - 1}
    card = json.loads((tmp_path / "kept" / "anchor.json").read_text())
    assert card["training"]["top_layers"] == 2 and card["training"]["diction"] is True
    assert card["training"]["diction_seconds"] >= 0
    greedy = SamplingConfig(max_tokens=8, temperature=0)
    for backend in (LlamaCppBackend(), TorchBackend(device="cpu", dtype="float32")):
        backend.load(None, [kept.out_dir])
        assert backend.generate("It is a truth", greedy).n_tokens > 0
        backend.close()
    with pytest.raises(ProsemixError, match="top_layers"):
        train_anchor(tmp_path / "c.txt", tmp_path / "deep", name="deep",
                     config=replace(FAST, top_layers=n + 1))


def test_a_shortlist_softmax_trains_on_the_loss_it_approximates(tmp_path, session_cache, monkeypatch):
    """shortlist: the output softmax over the text's tokens and the base's most expected ones.
    At every step its loss is the whole vocabulary's less the little probability the rest had
    (never more, and within a tenth of a nat: 0.04-0.05 here), the loss falls, the card records it,
    and a config that asks for one without top_layers is refused by name."""
    from dataclasses import replace

    import torch

    from engine.training import train as train_module

    (tmp_path / "c.txt").write_text(TEXT + "Mr. Darcy, however, danced with nobody but his friend's sisters. " * 20)
    pairs = []
    real = train_module.FrozenBelow._shortlist_loss

    def both(self, model, ids, inputs):
        short = real(self, model, ids, inputs)
        with torch.no_grad():
            whole = train_module.loss_of(model, ids, self.precision, inputs)
        pairs.append((float(short.detach()), float(whole), len(self.shortlist), self.where.shape[0]))
        return short

    monkeypatch.setattr(train_module.FrozenBelow, "_shortlist_loss", both)
    result = train_anchor(tmp_path / "c.txt", tmp_path / "s", name="s",
                          config=replace(FAST, top_layers=2, checkpoint_every=1000, shortlist=4096))
    assert len(pairs) == result.steps == 6
    listed, vocab = pairs[0][2], pairs[0][3]
    assert 4096 <= listed < vocab / 10  # the shortlist, not the vocabulary
    assert all(whole - 0.1 < short <= whole + 1e-4 for short, whole, _, _ in pairs), pairs
    card = json.loads((tmp_path / "s" / "anchor.json").read_text())
    assert card["metrics"]["val_loss"] < card["metrics"]["base_val_loss"]  # judged on the whole vocabulary
    assert card["training"]["shortlist"] == 4096
    with pytest.raises(ProsemixError, match="shortlist needs top_layers"):
        replace(FAST, shortlist=256)


def test_sampled_negatives_push_the_tokens_outside_a_shortlist_down_as_the_whole_softmax_does():
    """shortlist_cross_entropy: over the shortlist alone, the gradient misses the push on every
    token outside it (here a third of the probability, spread over 4,500 tokens); with 500
    negatives drawn from the rest and raised by log(rest / negatives), one draw's gradient is
    nearer the whole softmax's, the mean over draws within a few percent of it, and with every
    row of the rest drawn the loss is the whole vocabulary's exactly."""
    import torch

    from engine.training.train import shortlist_cross_entropy

    gen = torch.Generator().manual_seed(0)
    vocab, listed_n, width = 5000, 500, 32
    output = torch.randn(vocab, width, generator=gen) * 0.5
    output[:, -1] = 0.0
    output[:listed_n, -1] = 3.0  # the shortlist: the tokens the text makes likely
    hidden = torch.randn(1, 5, width, generator=gen)
    hidden[..., -1] = 1.0
    targets = torch.randint(0, listed_n, (1, 5), generator=gen)
    listed, outside = output[:listed_n], output[listed_n:]
    with torch.no_grad():
        probs = torch.softmax(hidden @ output.T, -1)
    assert 0.2 < float(probs[..., listed_n:].sum(-1).mean()) < 0.5  # the rest matters here

    def grad(fn):
        h = hidden.clone().requires_grad_(True)
        fn(h).backward()
        return h.grad

    whole = grad(lambda h: torch.nn.functional.cross_entropy((h @ output.T).reshape(-1, vocab), targets.reshape(-1)))
    alone = grad(lambda h: shortlist_cross_entropy(h, targets, listed))
    torch.manual_seed(1)
    draws = [grad(lambda h: shortlist_cross_entropy(h, targets, listed, outside, 500)) for _ in range(200)]
    error = lambda g: float((g - whole).norm() / whole.norm())  # noqa: E731
    assert error(alone) > 0.25, error(alone)
    assert error(draws[0]) < error(alone) / 2, (error(draws[0]), error(alone))
    assert error(sum(draws) / len(draws)) < 0.05, error(sum(draws) / len(draws))
    full = shortlist_cross_entropy(hidden, targets, listed, outside, len(outside))
    expect = torch.nn.functional.cross_entropy((hidden @ output.T).reshape(-1, vocab), targets.reshape(-1))
    assert float(full) == pytest.approx(float(expect), abs=1e-5)
    with pytest.raises(ValueError, match="not in the shortlist"):
        shortlist_cross_entropy(hidden, targets - listed_n, listed)
    from dataclasses import replace

    with pytest.raises(ProsemixError, match="negatives need a shortlist"):
        replace(FAST, negatives=64)


def test_training_can_start_from_an_anchor_at_a_scale(trained, tmp_path):
    """init_from: the fresh LoRA is the anchor's (its delta times init_scale), so a run that barely
    moves (lr 1e-9) ends at the anchor's own validation loss and writes the scaled factors; an
    anchor with other matrices or another rank is refused by name."""
    from dataclasses import replace

    import numpy as np

    from engine.anchors.loading import read_safetensors

    (tmp_path / "c.txt").write_text(TEXT)
    still = replace(FAST, steps=1, lr=1e-9, init_from=str(trained.out_dir))
    same = train_anchor(tmp_path / "c.txt", tmp_path / "same", name="same", config=still)
    assert same.val_loss == pytest.approx(trained.val_loss, abs=2e-3)
    assert same.val_loss < same.base_val_loss - 0.05  # it did not start from zero
    twice = train_anchor(tmp_path / "c.txt", tmp_path / "twice", name="twice",
                         config=replace(still, init_scale=2.0, alpha=4))  # alpha 4: half the scale
    a = read_safetensors(trained.out_dir / "adapter_model.safetensors")
    b = read_safetensors(tmp_path / "twice" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:  # s' B' = 2 s B with s' = s / 2: B' = 4 B (fp16 on disk)
        expect = a[key] * (4.0 if ".lora_B." in key else 1.0)
        assert np.allclose(b[key], expect, atol=2e-3, rtol=1e-2), key
    card = json.loads((tmp_path / "twice" / "anchor.json").read_text())
    assert card["training"]["init_from"] == str(trained.out_dir) and card["training"]["init_scale"] == 2.0
    with pytest.raises(ProsemixError, match="cannot start from 'austenish': its rank is 4"):
        train_anchor(tmp_path / "c.txt", tmp_path / "r8", name="r8", config=replace(still, rank=8))
    with pytest.raises(ProsemixError, match="cannot start from 'austenish'.*targets and top layers"):
        train_anchor(tmp_path / "c.txt", tmp_path / "q", name="q", config=replace(still, targets=("q_proj",)))
    with pytest.raises(ProsemixError, match="anchor not found"):
        train_anchor(tmp_path / "c.txt", tmp_path / "n", name="n", config=replace(still, init_from=str(tmp_path / "no")))


@pytest.mark.parametrize("kwargs, message", [
    ({"rank": 0}, "rank"), ({"targets": ("lm_head",)}, "targets"), ({"steps": None}, "either"),
    ({"lr": 2.0}, "learning rate"), ({"block": 4}, "block"), ({"max_seconds": 0}, "max_seconds"),
    ({"top_layers": 0}, "top_layers"), ({"init_scale": 0}, "init_scale"),
    ({"init_scale": float("nan")}, "init_scale"), ({"init_from": " "}, "init_from"),
    ({"lora_dropout": 1.0}, "lora_dropout"), ({"lora_dropout": -0.1}, "lora_dropout")])
def test_config_validation(kwargs, message):
    with pytest.raises(ProsemixError, match=message):
        TrainConfig(**kwargs)


def test_train_defaults_replaces_a_recipes_targets_layers_and_precision_from_the_command_line():
    """`train-defaults --targets/--top-layers/--precision/--steps`: an experiment on a shipped
    recipe changes only what was given; a bad value is the config's own clear error."""
    from engine.cli.main import build_parser
    from engine.cli.train import _override
    from engine.training.recipes import RECIPES

    recipe = next(r for r in RECIPES if r.name == "wry")
    parse = build_parser().parse_args
    same = _override(recipe.config, parse(["train-defaults", "--only", "wry"]))
    assert same == recipe.config
    args = parse(["train-defaults", "--steps", "7", "--targets", "q_proj, gate_proj,down_proj",
                  "--top-layers", "12", "--precision", "fp32"])
    config = _override(recipe.config, args)
    assert (config.steps, config.targets, config.top_layers, config.precision) == (
        7, ("q_proj", "gate_proj", "down_proj"), 12, "fp32")
    assert (config.lr, config.rank, config.block) == (recipe.config.lr, recipe.config.rank, recipe.config.block)
    with pytest.raises(ProsemixError, match="targets"):
        _override(recipe.config, parse(["train-defaults", "--targets", "lm_head"]))
    with pytest.raises(ProsemixError, match="top_layers"):
        _override(recipe.config, parse(["train-defaults", "--top-layers", "0"]))
