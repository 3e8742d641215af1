"""Self-distillation: openings, the samples' log and resume, what is kept, the corpus text, and
`train-defaults` running a recipe's second stage from its first anchor's corner."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.errors import ProsemixError
from engine.training import self_distill as sd

WORDS = "the quiet river ran beside the mill where the miller's daughter sang of summer and of rain".split()


def write_corpora(folder: Path, paragraphs: int = 45) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(sd.OPENING_CORPORA):
        text = "\n\n".join(" ".join([f"{name}{p}"] + WORDS[k:] + WORDS[:k]) for p in range(paragraphs))
        (folder / f"{name}.txt").write_text(text + "\n")


def test_openings_come_from_the_other_corpora_six_to_eleven_words_the_same_each_time(tmp_path):
    write_corpora(tmp_path)
    got = sd.openings(tmp_path, "austen")
    assert got == sd.openings(tmp_path, "austen")  # fixed: a rerun samples the same openings
    assert len(got) == 40 * (len(sd.OPENING_CORPORA) - 1)
    assert not any(o.startswith("austen") for o in got)  # never the voice's own corpus
    assert all(6 <= len(o.split()) <= 11 for o in got)
    assert len(sd.openings(tmp_path, "shakespeare")) == 40 * len(sd.OPENING_CORPORA)
    (tmp_path / "fable.txt").unlink()
    with pytest.raises(ProsemixError, match="fable.txt.*prosemix corpora"):
        sd.openings(tmp_path, "austen")
    write_corpora(tmp_path, paragraphs=10)
    with pytest.raises(ProsemixError, match="openings need 40"):
        sd.openings(tmp_path, "austen")


def test_a_sample_becomes_corpus_paragraphs():
    # Gutenberg's double hyphen is an em dash
    assert sd.as_corpus_text("Come, my lord;-- let us go. Away -- now!") == "Come, my lord;\u2014let us go. Away\u2014now!"
    # the start that goes on from another's opening is dropped, up to the first paragraph
    sample = " truth.\n\nI'll go to-morrow morning; and what's the matter?\n\nCome, come, my lord, let us hear."
    assert sd.as_corpus_text(sample) == "I'll go to-morrow morning; and what's the matter?\n\nCome, come, my lord, let us hear."
    # the sentence cut at the token limit is dropped
    cut = "What say you, sirrah? I fear the night is long and cold. And so the king wh"
    assert sd.as_corpus_text(cut) == "What say you, sirrah? I fear the night is long and cold."
    assert sd.as_corpus_text("Ay.") == "Ay."  # too short to cut: kept as it is


@dataclass
class Result:
    text: str
    perplexity: float


class FakeBackend:
    """Writes 'sample N' at a perplexity that falls with N; records the sampling it was asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, float, int | None, int]] = []

    def generate(self, prompt, config, logprobs=False):
        assert logprobs
        self.asked.append((prompt, config.temperature, config.seed, config.max_tokens))
        n = len(self.asked)
        return Result(f"Sample {n} of {prompt}.", 20.0 - n)


def test_samples_are_logged_as_they_come_and_a_second_run_resumes(tmp_path):
    backend, log = FakeBackend(), tmp_path / "v_self.jsonl"
    said = []
    rows = sd.self_samples(backend, ["a", "b", "c", "d"], 2, 16, log, lambda t: ("v", None),
                           lambda i, n, row: said.append((i, n)))
    assert [r["opening"] for r in rows] == ["a", "b"] and said == [(1, 2), (2, 2)]
    assert backend.asked == [("a", 0.8, sd.FIRST_SEED, 16), ("b", 0.8, sd.FIRST_SEED + 1, 16)]
    assert len(log.read_text().splitlines()) == 2
    again = FakeBackend()
    rows = sd.self_samples(again, ["a", "b", "c", "d"], 4, 16, log, lambda t: ("v", None))
    assert [a[0] for a in again.asked] == ["c", "d"]  # only the ones not in the log
    assert [a[2] for a in again.asked] == [sd.FIRST_SEED + 2, sd.FIRST_SEED + 3]  # the seed is the opening's
    assert [r["i"] for r in rows] == [0, 1, 2, 3]
    with pytest.raises(ProsemixError, match="5 samples but 4 openings"):
        sd.self_samples(again, ["a", "b", "c", "d"], 5, 16, log, lambda t: ("v", None))
    log.write_text("not json\n")
    with pytest.raises(ProsemixError, match="delete it to start over"):
        sd.self_samples(again, ["a"], 1, 16, log, lambda t: ("v", None))


def test_the_corpus_keeps_the_recognised_clean_and_likeliest_samples():
    rows = [{"text": f"Sample number {i} is here and it is a fine one.", "ppl": ppl, "top": top, "fault": fault}
            for i, (ppl, top, fault) in enumerate([(9.0, "v", None), (7.0, "v", None), (5.0, "w", None),
                                                   (1.0, "v", "loop"), (3.0, "v", None), (8.0, "v", None)])]
    text, kept = sd.distilled_corpus(rows, "v", 0.5)
    assert [p.split()[2] for p in text.strip().split("\n\n")] == ["1", "4"]  # in the samples' order
    assert "number 0" not in text and "number 2" not in text and "number 3" not in text
    assert kept["samples"] == 6 and kept["recognised"] == 4 and kept["kept"] == 2
    assert kept["median_self_perplexity"] == 5.0 and kept["temperature"] == 0.8
    with pytest.raises(ProsemixError, match="none of the 6 samples was recognised as x"):
        sd.distilled_corpus(rows, "x", 1.0)


@pytest.mark.parametrize("kwargs, message", [({"samples": 0}, "samples"), ({"tokens": 4}, "tokens"),
                                             ({"keep": 0}, "keep"), ({"keep": 1.5}, "keep")])
def test_a_distillation_plan_is_checked(kwargs, message):
    with pytest.raises(ProsemixError, match=message):
        sd.Distillation(**kwargs)


@pytest.mark.slow
def test_train_defaults_trains_a_self_distilled_anchor_from_its_first_corner(tmp_path, session_cache, monkeypatch):
    """A recipe with a second stage: the first anchor is trained beside the corpora, its corner
    (at the stage's factor) is sampled and judged, and the anchor in the output folder is trained
    on the kept samples from that corner; its card names the first stage and what was kept."""
    from engine.anchors.shipped import ShippedAnchor
    from engine.cli.main import main
    from engine.evaluation import style_classifier
    from engine.training import recipes
    from engine.training.config import TrainConfig

    corpora, out = tmp_path / "corpora", tmp_path / "anchors"
    write_corpora(corpora)
    first = TrainConfig(rank=4, alpha=8, steps=4, lr=3e-3, batch=2, block=32, max_val_blocks=4, warmup=1)
    stage = recipes.SelfDistil(factor=1.5, distillation=sd.Distillation(samples=6, tokens=48, keep=1.0),
                               config=TrainConfig(rank=4, alpha=8, steps=2, lr=1e-3, batch=2, block=32,
                                                  max_val_blocks=4, warmup=1))
    recipe = recipes.Recipe(ShippedAnchor("quill", "#123456", "a test voice"), "austen", first, stage)
    monkeypatch.setattr(recipes, "RECIPES", (recipe,))

    class Scorer:
        classes = ["quill", "plain"]

    monkeypatch.setattr(style_classifier, "load_cached", lambda: Scorer())
    judged = []
    monkeypatch.setattr(style_classifier, "sample_judge",
                        lambda classifier: lambda text: judged.append(text) or ("quill", None))
    assert main(["train-defaults", "--corpora", str(corpora), "--out", str(out), "--only", "quill"]) == 0
    assert len(judged) == 6
    rows = [json.loads(line) for line in (corpora / "quill_self.jsonl").read_text().splitlines()]
    assert [r["i"] for r in rows] == list(range(6)) and all(r["top"] == "quill" for r in rows)
    assert (corpora / "quill_self.txt").read_text().strip()
    assert (corpora / "quill_first" / "anchor.json").is_file()  # the first stage is work, not an anchor
    assert sorted(p.name for p in out.iterdir()) == ["quill"]
    card = json.loads((out / "quill" / "anchor.json").read_text())
    assert card["training"]["init_from"] == "quill" and card["training"]["init_scale"] == 1.5
    assert card["training"]["steps"] == 2 and card["training"]["first"]["steps"] == 4
    assert card["training"]["self_samples"]["kept"] == 6
    assert card["corpus"].startswith("its own writing: 6 of 6 samples")
    assert card["colour"] == "#123456"
