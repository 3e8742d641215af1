"""The working copy's layout chosen by measurement (engine.backends.layout_probe): the gate and
the choice on made-up measurements (every branch, whatever this CPU is), the record per CPU and
build, and the real probe on the embedded model as the first merged load runs it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine.backends.layout_probe as probe
from engine.backends.layout_probe import LayoutMeasure, choose_by_probe, recorded


def fake_probe(monkeypatch, tmp_path, speeds: dict[str, tuple[float, float, float]]) -> list[str]:
    """``speeds``: layout -> (prompt tok/s, decode tok/s, error); returns the layouts measured."""
    measured: list[str] = []

    def measure(layout, path, tokens, n_threads, reference):  # type: ignore[no-untyped-def]
        assert path.stem == layout
        measured.append(layout)
        prompt, decode, error = speeds[layout]
        return LayoutMeasure(layout, prompt, decode, 0.0 if reference is None else error), [0.0], [1, 2]

    monkeypatch.setattr(probe, "measure", measure)
    monkeypatch.setattr(probe, "probe_key", lambda model, targets: json.dumps(["this cpu", len(targets)]))
    return measured


def make(tmp_path: Path):  # type: ignore[no-untyped-def]
    def made(layout: str) -> Path:
        path = tmp_path / f"{layout}.gguf"
        path.write_bytes(b"x")
        return path
    return made


@pytest.mark.parametrize("legacy", ["bf16", "keep"], ids=["native-bf16 gate", "keep gate"])
def test_the_fastest_restyle_within_the_gate_wins_and_is_kept(monkeypatch, tmp_path, legacy):
    speeds = {"f32": (120, 18, 0), "keep": (140, 57, 0.055), "f16": (150, 30, 0.010),
              "bf16": (180, 40, 0.024), "q8_0": (400, 56, 0.058)}  # q8_0 fastest, but outside either gate
    measured = fake_probe(monkeypatch, tmp_path, speeds)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"m")
    choice = choose_by_probe(model, ["t"] * 120, tmp_path, 2, make(tmp_path), legacy)
    assert measured[0] == "f32" and sorted(measured) == sorted(speeds)  # the reference first
    restyle = {m.layout: m.restyle_seconds(384) for m in choice.measures}
    passing = [k for k, (_, _, e) in speeds.items() if e <= speeds[legacy][2]]
    assert choice.layout == min(passing, key=restyle.__getitem__) and choice.layout != "q8_0"
    assert choice.gate_layout == legacy and choice.gate == pytest.approx(speeds[legacy][2])
    assert [p.name for p in tmp_path.glob("*.gguf") if p.name != "model.gguf"] == [f"{choice.layout}.gguf"]
    measured.clear()
    again = choose_by_probe(model, ["t"] * 120, tmp_path, 2, make(tmp_path), legacy)
    assert again.layout == choice.layout and measured == []  # recorded: not measured again
    assert recorded(tmp_path, model).layout == choice.layout  # what `info` shows
    choose_by_probe(model, ["t"] * 60, tmp_path, 2, make(tmp_path), legacy)  # other anchors: measured
    assert measured


def test_a_damaged_record_is_measured_again(monkeypatch, tmp_path):
    measured = fake_probe(monkeypatch, tmp_path, {l: (100, 50, 0.01) for l in probe.CANDIDATES})
    (tmp_path / "layout-probe.json").write_text("{not json")
    model = tmp_path / "model.gguf"
    model.write_bytes(b"m")
    assert choose_by_probe(model, ["t"], tmp_path, 2, make(tmp_path), "keep").layout in probe.CANDIDATES
    assert measured and json.loads((tmp_path / "layout-probe.json").read_text())


def test_the_restyle_window_is_the_desks():
    from engine.documents.context import DEFAULT_STYLE_WINDOW

    assert probe.RESTYLE_WINDOW == DEFAULT_STYLE_WINDOW


def test_the_first_merged_load_measures_this_cpu_and_info_shows_it(adapters, session_cache, capsys):
    """The real probe (the merged backend's first load in this session made it): every
    candidate measured, f32 the reference, the choice within the gate, recorded for `info`."""
    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.cli.main import main
    from engine.models.base import embedded_model_path
    from engine.paths import cache_dir

    b = LlamaCppBackend()
    b.load(None, adapters)
    try:
        choice = b.layout_choice
        assert choice is not None and b.anchors_reason.endswith(f"other matrices: {choice.layout} (measured on this CPU)")
    finally:
        b.close()
    by = {m.layout: m for m in choice.measures}
    assert set(by) == set(probe.CANDIDATES) and by["f32"].error == 0.0
    assert by[choice.layout].error <= choice.gate and all(m.prompt_tps > 0 and m.decode_tps > 0 for m in by.values())
    print(f"this CPU: {choice.describe()}")
    found = recorded(cache_dir() / "working-base", embedded_model_path())
    assert found is not None and found.layout == choice.layout
    capsys.readouterr()
    assert main(["info"]) == 0
    assert choice.layout in json.loads(capsys.readouterr().out)["working_copy_layout"]


@pytest.mark.parametrize("torch_tps", [1000.0, 100.0], ids=["torch quicker", "torch slower"])
def test_torchs_prompt_pass_wins_only_where_a_restyle_is_quicker(monkeypatch, tmp_path, torch_tps):
    """An AVX2 CPU of the issue: no layout evaluates prompts much faster than Q4_1, torch's pass
    does. Where torch plus the quickest-decoding gated layout gives the shorter restyle, prompts
    go to torch and that layout decodes; else the layouts alone decide, as before."""
    speeds = {"f32": (120, 18, 0), "keep": (144, 57, 0.055), "f16": (150, 30, 0.010),
              "bf16": (143, 39, 0.034), "q8_0": (158, 53, 0.065)}
    fake_probe(monkeypatch, tmp_path, speeds)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"m")
    timed: list[list[int]] = []

    def torch_pass(tokens: list[int]) -> float:
        timed.append(tokens)
        return 1.0 / torch_tps

    choice = choose_by_probe(model, ["t"] * 120, tmp_path, 2, make(tmp_path), "keep", torch_pass=torch_pass)
    assert timed == [[1, 2]] and choice.torch_tps == pytest.approx(torch_tps)
    if torch_tps > 500:
        assert (choice.prompt_path, choice.layout) == ("torch", "keep")  # keep decodes quickest in the gate
        assert choice.restyle_seconds(384) == pytest.approx(384 / torch_tps + 40 / 57)
        assert "prompts by torch" in choice.describe()
    else:
        assert choice.prompt_path == "llama" and choice.layout == "keep"
    again = choose_by_probe(model, ["t"] * 120, tmp_path, 2, make(tmp_path), "keep", torch_pass=torch_pass)
    assert (again.prompt_path, again.layout) == (choice.prompt_path, choice.layout) and len(timed) == 1
    seconds, prompt_layout, decode_layout = choice.two_copies_seconds(384)
    assert (prompt_layout, decode_layout) == ("f16", "keep")  # within keep's gate: f16 prompts, keep decodes
    assert seconds == pytest.approx(384 / 150 + 40 / 57)
