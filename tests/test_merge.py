"""The batched merge equals peft's own result, on a tiny llama model defined here."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.anchors.loading import load_anchor
from engine.errors import ProsemixError
from engine.backends.torch_merge import LowRankMerger
from engine.models.base import base_info

NAMES = ("one", "two", "three")


def _tiny_config():
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=97, hidden_size=48, intermediate_size=64, num_hidden_layers=3,
                       num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny base model folder and three PEFT adapters of different ranks saved by peft."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    root = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    base = LlamaForCausalLM(_tiny_config()).eval()
    base.save_pretrained(root / "base")
    folders = []
    for i, (name, rank, alpha, targets) in enumerate([
            ("one", 4, 8, ["q_proj", "v_proj"]),
            ("two", 8, 16, ["q_proj", "k_proj", "v_proj", "o_proj"]),
            ("three", 2, 4, ["q_proj", "v_proj", "gate_proj", "down_proj"])]):
        torch.manual_seed(10 + i)
        model = get_peft_model(LlamaForCausalLM.from_pretrained(root / "base"),
                               LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets,
                                          init_lora_weights=False))
        model.save_pretrained(root / name)
        folders.append(root / name)
    return root / "base", folders


def _ids():
    return torch.tensor([[1, 5, 9, 33, 2, 71, 4, 8]])


def _peft_logits(base_dir, folders, weights):
    from peft import PeftModel
    from transformers import LlamaForCausalLM

    model = PeftModel.from_pretrained(LlamaForCausalLM.from_pretrained(base_dir), folders[0],
                                      adapter_name=NAMES[0])
    for name, folder in zip(NAMES[1:], folders[1:]):
        model.load_adapter(folder, adapter_name=name)
    model.add_weighted_adapter(list(NAMES), list(weights), "mix", combination_type="cat")
    model.set_adapter("mix")
    with torch.no_grad():
        return model(_ids()).logits


def _our_model(base_dir, folders):
    from transformers import LlamaForCausalLM

    info = base_info(base_dir)
    anchors = [load_anchor(f, info) for f in folders]
    model = LlamaForCausalLM.from_pretrained(base_dir).eval()
    return model, LowRankMerger(dict(model.named_modules()), anchors)


@pytest.mark.parametrize("weights", [(0.2, 0.5, 0.3), (1.0, 0.0, 0.0), (0.0, 0.25, 0.75)])
def test_merge_matches_peft_cat(tiny, weights):
    base_dir, folders = tiny
    expected = _peft_logits(base_dir, folders, weights)
    model, merger = _our_model(base_dir, folders)
    merger.set_weights(weights)
    with torch.no_grad():
        got = model(_ids()).logits
    assert torch.allclose(got, expected, atol=1e-4), float((got - expected).abs().max())


def test_reweighting_and_extrapolation_are_exact(tiny):
    """Moving to w2 after w1 equals merging w2 directly; negative weights are linear."""
    base_dir, folders = tiny
    model, merger = _our_model(base_dir, folders)
    with torch.no_grad():
        base_logits = model(_ids()).logits
        merger.set_weights((1.5, -0.5, 0.0))
        merger.set_weights((0.1, 0.1, 0.8))
        after = model(_ids()).logits
    fresh_model, fresh = _our_model(base_dir, folders)
    fresh.set_weights((0.1, 0.1, 0.8))
    with torch.no_grad():
        assert torch.allclose(after, fresh_model(_ids()).logits, atol=1e-6)
        merger.set_weights((0.0, 0.0, 0.0))
        assert torch.allclose(model(_ids()).logits, base_logits, atol=1e-6)


def test_dense_formula(tiny):
    """The merged weight is exactly W0 + sum_i w_i s_i B_i A_i."""
    base_dir, folders = tiny
    model, merger = _our_model(base_dir, folders)
    module = "model.layers.1.self_attn.q_proj"
    w0 = dict(model.named_modules())[module].weight.detach().clone()
    anchors = [load_anchor(f, base_info(base_dir)) for f in folders]
    weights = (0.3, 0.3, 0.4)
    merger.set_weights(weights)
    expected = w0.double()
    for a, w in zip(anchors, weights):
        f = a.factors[module]
        expected += w * f.scale * torch.from_numpy(f.B).double() @ torch.from_numpy(f.A).double()
    got = dict(model.named_modules())[module].weight.double()
    assert torch.allclose(got, expected, atol=1e-5)


def test_non_finite_merge_keeps_previous_weights(tiny):
    """Finite factors whose product overflows fp32 (an anchor scaled by 1e20 in A and B):
    merging them is refused whole and the previous weights stay in place."""
    from transformers import LlamaForCausalLM

    from engine.anchors.model import LoraFactors

    base_dir, folders = tiny
    info = base_info(base_dir)
    anchors = [load_anchor(f, info) for f in folders]
    big = np.float32(1e20)
    anchors[2].factors = {m: LoraFactors(f.A * big, f.B * big, f.scale)
                          for m, f in anchors[2].factors.items()}
    model = LlamaForCausalLM.from_pretrained(base_dir).eval()
    merger = LowRankMerger(dict(model.named_modules()), anchors)
    merger.set_weights((0.5, 0.5, 0.0))
    with torch.no_grad():
        before = model(_ids()).logits
        with pytest.raises(ProsemixError, match="non-finite"):
            merger.set_weights((0.2, 0.3, 0.5))
        assert merger.values == (0.5, 0.5, 0.0)
        assert torch.equal(model(_ids()).logits, before)


def test_half_precision_merge(tiny):
    base_dir, folders = tiny
    model, merger = _our_model(base_dir, folders)
    model.to(torch.bfloat16)
    merger_bf16 = LowRankMerger(dict(model.named_modules()),
                                [load_anchor(f, base_info(base_dir)) for f in folders])
    merger_bf16.set_weights((0.2, 0.5, 0.3))
    ref_model, ref = _our_model(base_dir, folders)
    ref.set_weights((0.2, 0.5, 0.3))
    module = "model.layers.0.self_attn.v_proj"
    got = dict(model.named_modules())[module].weight.detach().float()
    want = dict(ref_model.named_modules())[module].weight.detach()
    assert got.dtype == torch.float32 and torch.allclose(got, want, atol=2e-2)
    assert math.isfinite(float(got.abs().max()))
    assert np.isfinite(got.numpy()).all()
