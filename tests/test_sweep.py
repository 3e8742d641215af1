"""Scorers, sweeps (resume, progress, both grids) and plots, on the real embedded model."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from engine.evaluation import plots
from engine.evaluation.style_classifier import PLAIN
from engine.errors import ProsemixError
from engine.evaluation.scoring import (BUILTIN, flesch_reading_ease, get_scorers, sentiment, syllables)
from engine.evaluation.sweep import (SweepCancelled, SweepConfig, alpha_grid, lambda_alpha_grid, plan_points,
                                     read_table, run_sweep, simplex_grid)
from engine.weights import Attribute

CONFIG = SweepConfig(prompts=("The weather was", "My friend said"), samples=2, max_tokens=8,
                     heldout_text="It is a truth universally acknowledged, that a single man in possession of a good fortune must be in want of a wife.")


def test_scorers_offline_and_directional():
    assert sentiment("I love this wonderful day!") > 0.5 > -0.5 > sentiment("I hate this awful, horrible mess.")
    assert flesch_reading_ease("The cat sat. The dog ran.") > flesch_reading_ease(
        "Notwithstanding considerable administrative complications, the organisation persevered.")
    assert syllables("banana") == 3
    assert all(s.low < s.high and s.higher_means for s in BUILTIN.values())
    with pytest.raises(ProsemixError, match="unknown scorer"):
        get_scorers(["funniness"])
    user = get_scorers(["math:fsum"])[0]
    assert user.name == "math:fsum"
    with pytest.raises(ProsemixError, match="cannot load"):
        get_scorers(["nosuchmodule:f"])


def test_formality_and_humor_scorers_are_classifiers_of_the_poles_held_out_text():
    from engine.anchors.shipped import ATTRIBUTES
    from engine.evaluation.scoring import ATTRIBUTE_SCORES, pole_classifier

    assert {a.name for a in ATTRIBUTES} == set(ATTRIBUTE_SCORES)  # a shipped pair has its own score
    assert all(ATTRIBUTE_SCORES[a] in BUILTIN for a in ATTRIBUTE_SCORES)
    for name in ("formality", "humor"):
        classifier = pole_classifier(name)
        assert classifier.accuracy >= 0.8, (name, classifier.report)
        assert PLAIN not in classifier.classes and len(classifier.classes) == 2
    formality, humor = BUILTIN["formality"], BUILTIN["humor"]
    assert formality("The Congress must enact legislation to strengthen the national defense and to "
                     "secure the economic welfare of the Nation.") > 0.5 > formality("lol cant wait 4 the weekend omg")
    assert humor("Why did the programmer quit his job? Because he didn't get arrays.") > \
        humor("The city council approved the budget on Tuesday after a long debate over school funding.")


def test_affinity_scorer_prefers_its_corpus():
    pytest.importorskip("torch")
    from engine.evaluation.scoring import affinity_scorer

    s = affinity_scorer("sea", "The ship sailed across the stormy sea. Waves crashed on the deck. " * 20)
    assert s("The sailors watched the waves and the ocean.") > s("The spreadsheet lists quarterly revenue.")


def test_grids():
    g = simplex_grid(["a", "b", "c"], 0.25)
    assert len(g) == 15 and all(math.isclose(sum(p.weights.values()), 1) for p in g)
    with pytest.raises(ProsemixError):
        simplex_grid(["a", "b", "c"], 0.3)
    attr = Attribute("s", "pos", "neg")
    a = alpha_grid(attr, -1, 2, 0.5, others=["x"])
    assert [p.alpha for p in a] == [-1, -0.5, 0, 0.5, 1, 1.5, 2]
    assert a[0].zone == "stable extrapolation" and a[3].zone == "interpolation"
    assert a[0].weights == {"x": 0.0, "pos": -1.0, "neg": 2.0}
    la = lambda_alpha_grid([attr, Attribute("t", "p2", "n2")], [0, 1], [0.5, 0.5])
    assert len(la) == 4
    # every attribute's alpha in turn (the entanglement sweep): only pairs with both poles loaded
    attrs = [attr, Attribute("t", "p2", "n2"), Attribute("u", "p3", "n3")]
    ent = plan_points("attributes", ["pos", "neg", "p2", "n2", "p3"], attrs, step=0.5, start=0, stop=1)
    assert [(p.attribute, p.alpha) for p in ent] == [("s", 0), ("s", 0.5), ("s", 1), ("t", 0), ("t", 0.5), ("t", 1)]
    assert ent[3].weights == {"pos": 0.0, "neg": 0.0, "p2": 0.0, "n2": 1.0, "p3": 0.0}
    with pytest.raises(ProsemixError, match="both poles"):
        plan_points("attributes", ["pos", "p2"], attrs, step=0.5)


def test_sweep_writes_resumes_and_plots(tmp_path, adapters, session_cache):
    from engine.backends.llama_cpp import LlamaCppBackend

    b = LlamaCppBackend()
    b.load(None, adapters)
    points = simplex_grid(b.anchor_names, 0.5)  # 6 points
    out = tmp_path / "sweep.csv"
    calls = {"n": 0}

    def stop_after_five():
        calls["n"] += 1
        return calls["n"] > 5

    with pytest.raises(SweepCancelled):
        run_sweep(b, points, get_scorers(["sentiment", "reading_ease"]), out, CONFIG, should_stop=stop_after_five)
    with open(out) as f:
        assert len(list(csv.DictReader(f))) == 5
    seen = []
    run_sweep(b, points, get_scorers(["sentiment", "reading_ease"]), out, CONFIG, progress=seen.append)
    rows = read_table(out)
    assert len(rows) == len(points) * 2 * 2
    assert seen[0].done == 5 and seen[-1].done == seen[-1].total == 24
    assert len({(r["point"], r["prompt_id"], r["sample"]) for r in rows}) == 24
    assert all(r["ppl_self"] > 1 and r["ppl_heldout"] > 1 for r in rows)
    # the same point and seed reproduce the same text (fixed seeds)
    again = tmp_path / "again.csv"
    run_sweep(b, points[:1], get_scorers(["sentiment", "reading_ease"]), again, CONFIG)
    first = [r["text"] for r in read_table(again)]
    assert first == [r["text"] for r in rows if r["point"] == points[0].id]
    b.close()
    for fig in (plots.ternary(rows, "score:sentiment"), plots.spider(rows, ["score:sentiment", "score:reading_ease"])):
        paths = plots.save(fig, tmp_path / "fig")
        assert all(p.stat().st_size > 1000 for p in paths)
    z, box = plots.heat_grid(rows, "score:reading_ease")
    assert np.nanmin(z) == 0 and np.nanmax(z) == 1 and box[0] < box[1]


def test_alpha_sweep_entanglement_and_geometry(tmp_path, adapters, base, session_cache):
    from engine.anchors.loading import load_anchor
    from engine.backends.llama_cpp import LlamaCppBackend

    b = LlamaCppBackend()
    b.load(None, adapters[:2])
    attr = Attribute("ab", "alpha", "beta")
    out = run_sweep(b, alpha_grid(attr, -0.5, 1.5, 0.5, others=b.anchor_names), get_scorers(["sentiment"]),
                    tmp_path / "a.csv", CONFIG)
    b.close()
    rows = read_table(out)
    fig = plots.alpha_plot(rows, ["score:sentiment", "ppl_self"])
    assert plots.save(fig, tmp_path / "alpha")[0].is_file()
    attrs, cols, m = plots.entanglement(rows, ["score:sentiment"])
    assert attrs == ["ab"] and m.shape == (1, 1)
    assert plots.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert plots.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    anchors = [load_anchor(p, base) for p in adapters]
    names, gram, per_layer = plots.anchor_geometry(anchors)
    assert np.allclose(gram, gram.T) and len(per_layer) == base.n_layers
    for i in range(3):  # gram diagonal = squared Frobenius norm of the delta
        assert gram[i, i] == pytest.approx(sum(f.delta_norm() ** 2 for f in anchors[i].factors.values()), rel=1e-6)
    xy = plots.mds_with_base(gram)
    assert np.allclose(xy[0], 0)
    # MDS distance from the base equals the delta's norm (exact in 2-D for these anchors? close)
    assert plots.save(plots.anchors_plot(anchors), tmp_path / "geo")[0].stat().st_size > 1000


def test_sweep_on_the_torch_backend(tmp_path, adapters, session_cache):
    from engine.backends.torch import TorchBackend

    b = TorchBackend(device="cpu", dtype="float32")
    b.load(None, adapters)
    out = run_sweep(b, simplex_grid(b.anchor_names, 1.0), get_scorers(["sentiment"]), tmp_path / "t.csv",
                    SweepConfig(prompts=("The weather was",), samples=1, max_tokens=6, heldout_text=CONFIG.heldout_text))
    b.close()
    rows = read_table(out)
    assert len(rows) == 3 and {r["backend"] for r in rows} == {"torch"}
    assert all(r["ppl_self"] > 1 and r["ppl_heldout"] > 1 for r in rows)


def test_entanglement_on_synthetic_data_with_known_slopes(tmp_path):
    """Score x follows attribute a's alpha, score y falls with b's, nothing else moves."""
    rng = np.random.default_rng(0)
    rows = []
    for attribute in ("a", "b"):
        for alpha in np.linspace(0, 1, 11):
            for _ in range(4):
                x = 2.0 * alpha if attribute == "a" else rng.normal()
                y = -3.0 * alpha if attribute == "b" else rng.normal()
                rows.append({"attribute": attribute, "alpha": float(alpha), "score:x": x, "score:y": y})
    attrs, cols, m = plots.entanglement(rows, ["score:x", "score:y"])
    assert attrs == ["a", "b"]
    assert m[0, 0] == pytest.approx(1.0) and m[1, 1] == pytest.approx(-1.0)
    assert abs(m[0, 1]) < 0.35 and abs(m[1, 0]) < 0.35
    assert plots.save(plots.entanglement_plot(rows, ["score:x", "score:y"]), tmp_path / "ent")[0].is_file()
    # effects in the scores' units: x rises by 2 with a; y falls by 3 with b; noise elsewhere
    attrs, cols, effects = plots.effect_matrix(rows, ["score:x", "score:y"])
    assert effects[0, 0] == pytest.approx(2.0) and effects[1, 1] == pytest.approx(-3.0)
    own = {"a": "score:x", "b": "score:y"}
    assert plots.entangled_pairs(attrs, cols, effects, own) == []  # the noise stays under half
    # a b that moves x as much as a does is named
    tangled = [dict(r, **{"score:x": 2.0 * r["alpha"]}) if r["attribute"] == "b" else r for r in rows]
    attrs, cols, effects = plots.effect_matrix(tangled, ["score:x", "score:y"])
    assert ("b", "a", pytest.approx(1.0)) in plots.entangled_pairs(attrs, cols, effects, own)
