from __future__ import annotations

import json
import argparse

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from engine.anchors.model import AnchorCard
from engine.anchors.loading import load_anchor
from engine.errors import AnchorError
from tests.synthetic import write_random_peft


def test_peft_folder_loads_with_scales(tmp_path, base):
    d = write_random_peft(tmp_path / "a", base, rank=4, alpha=8, targets=("q_proj", "v_proj"))
    a = load_anchor(d, base)
    assert a.name == "a" and a.rank == 4 and a.alpha == 8
    assert len(a.factors) == 2 * base.n_layers
    assert a.target_modules == ["q_proj", "v_proj"]
    f = a.factors["model.layers.0.self_attn.q_proj"]
    assert f.scale == pytest.approx(2.0)
    # the delta norm identity used by `prosemix anchors`
    dense = f.scale * f.B.astype(np.float64) @ f.A
    assert f.delta_norm() == pytest.approx(np.linalg.norm(dense), rel=1e-6)
    assert set(a.layer_norms()) == set(range(base.n_layers))


def test_rslora_scale(tmp_path, base):
    d = write_random_peft(tmp_path / "r", base, rank=16, alpha=8, use_rslora=True, layers=[0])
    a = load_anchor(d, base)
    assert a.factors["model.layers.0.self_attn.k_proj"].scale == pytest.approx(8 / 4)


def test_ranks_may_differ_between_anchors(tmp_path, base):
    a = load_anchor(write_random_peft(tmp_path / "r4", base, rank=4, layers=[0]), base)
    b = load_anchor(write_random_peft(tmp_path / "r16", base, rank=16, layers=[0, 1]), base)
    assert (a.rank, b.rank) == (4, 16)


def test_card_gives_name_and_is_validated(tmp_path, base):
    d = write_random_peft(tmp_path / "x", base, layers=[0])
    card = AnchorCard(name="Austen", description="Regency prose", colour="#aa3300",
                      corpus="austen", license="public domain")
    card.save(d / "anchor.json")
    a = load_anchor(d, base)
    assert a.name == "Austen" and a.colour == "#aa3300"
    (d / "anchor.json").write_text(json.dumps({"name": "A", "colour": "red"}))
    with pytest.raises(AnchorError, match="colour must be #rrggbb"):
        load_anchor(d, base)
    (d / "anchor.json").write_text(json.dumps({"name": "A", "flavour": 1}))
    with pytest.raises(AnchorError, match="unknown field"):
        load_anchor(d, base)
    (d / "anchor.json").write_text("{not json")
    with pytest.raises(AnchorError, match="cannot read anchor card"):
        load_anchor(d, base)


def test_nan_tensor_is_refused(tmp_path, base):
    d = write_random_peft(tmp_path / "n", base, layers=[0, 1])
    tensors = load_file(str(d / "adapter_model.safetensors"))
    key = next(k for k in tensors if "layers.1" in k and "lora_B" in k)
    tensors[key][0, 0] = np.nan
    save_file(tensors, str(d / "adapter_model.safetensors"))
    with pytest.raises(AnchorError, match="NaN or infinite"):
        load_anchor(d, base)


def test_wrong_shapes_are_refused(tmp_path, base):
    d = write_random_peft(tmp_path / "s", base, layers=[0])
    tensors = load_file(str(d / "adapter_model.safetensors"))
    key = next(k for k in tensors if "q_proj.lora_A" in k)
    tensors[key] = np.zeros((8, 100), dtype=np.float32)
    save_file(tensors, str(d / "adapter_model.safetensors"))
    with pytest.raises(AnchorError, match="trained for another model"):
        load_anchor(d, base)


def test_other_architecture_is_refused(tmp_path, base):
    d = tmp_path / "gpt2"
    d.mkdir()
    save_file({"base_model.model.transformer.h.0.attn.c_attn.lora_A.weight": np.zeros((8, 768), np.float32),
               "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight": np.zeros((2304, 8), np.float32)},
              str(d / "adapter_model.safetensors"))
    (d / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 16}))
    with pytest.raises(AnchorError, match="does not have"):
        load_anchor(d, base)


def test_more_layers_than_the_base_is_refused(tmp_path, base):
    d = write_random_peft(tmp_path / "deep", base, layers=[0])
    tensors = load_file(str(d / "adapter_model.safetensors"))
    tensors = {k.replace("layers.0.", f"layers.{base.n_layers + 5}."): v for k, v in tensors.items()}
    save_file(tensors, str(d / "adapter_model.safetensors"))
    with pytest.raises(AnchorError, match="another model"):
        load_anchor(d, base)


def test_corrupt_and_missing_files(tmp_path, base):
    with pytest.raises(AnchorError, match="not found"):
        load_anchor(tmp_path / "nope", base)
    d = write_random_peft(tmp_path / "c", base, layers=[0])
    raw = (d / "adapter_model.safetensors").read_bytes()
    (d / "adapter_model.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(AnchorError, match="cannot read"):
        load_anchor(d, base)
    (d / "adapter_config.json").unlink()
    with pytest.raises(AnchorError, match="no adapter_config.json"):
        load_anchor(d, base)
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(AnchorError, match="PEFT folder or a .gguf"):
        load_anchor(tmp_path / "x.txt", base)


def test_pickle_checkpoints_need_the_flag(tmp_path, base):
    import torch

    d = write_random_peft(tmp_path / "p", base, layers=[0])
    tensors = load_file(str(d / "adapter_model.safetensors"))
    torch.save({k: torch.from_numpy(v) for k, v in tensors.items()}, d / "adapter_model.bin")
    (d / "adapter_model.safetensors").unlink()
    with pytest.raises(AnchorError, match="pickle"):
        load_anchor(d, base)
    a = load_anchor(d, base, allow_pickle=True)
    assert len(a.factors) == 4
    # weights_only=True: a pickle carrying an arbitrary object is refused
    torch.save({"x": argparse.Namespace(a=1)}, d / "adapter_model.bin")
    with pytest.raises(AnchorError, match="cannot read"):
        load_anchor(d, base, allow_pickle=True)


def test_card_calibration_is_validated():
    from engine.anchors.model import AnchorCard

    assert AnchorCard(name="x").calibration == 1.0
    assert AnchorCard(name="x", calibration=0.7).calibration == 0.7
    for bad in (0, -1, 5, float("nan"), "1", True):
        with pytest.raises(AnchorError, match="calibration"):
            AnchorCard(name="x", calibration=bad)
    assert AnchorCard(name="x").balance == 1.0
    assert AnchorCard(name="x", balance=2.5).balance == 2.5
    for bad in (0, -0.5, 11, float("inf"), None, False):
        with pytest.raises(AnchorError, match="balance"):
            AnchorCard(name="x", balance=bad)


def test_a_new_corner_gets_a_colour_unlike_those_taken():
    """Shipped austen is #8e44ad: a voice in the old fixed purple (#7d3c98) looked like it."""
    from engine.anchors.model import DEFAULT_COLOURS, distinct_colour

    assert distinct_colour([]) == DEFAULT_COLOURS[0]
    picked = distinct_colour(["#8e44ad", "#a04000", "#1e8449"])  # the default triangle
    assert picked not in ("#7d3c98", "#a04000", "#1e8449")  # nothing near a taken one
    taken = list(DEFAULT_COLOURS[:-1])
    assert distinct_colour(taken) == DEFAULT_COLOURS[-1]  # the one left
    assert distinct_colour(["not a colour", ""]) == DEFAULT_COLOURS[0]  # a bad entry takes nothing
