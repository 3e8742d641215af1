"""Self-distillation: an anchor trained again on its own writing at the sampling temperature.

An anchor sampled at temperature 0.8 writes its style with less of the tail than it models at
temperature 1. Training it further on those samples (kept where a judge recognises the style and
finds no fault, and the likeliest share of them) teaches it at temperature 1 what it writes at
0.8: the same style, with its own samples likelier (lower self-perplexity). The samples are drawn
at the anchor's calibrated corner, and the training starts from the anchor at that strength
(``TrainConfig.init_from`` and ``init_scale``), so the new anchor's corner is that corner, sharper.

The judge (the style scorer and the fluency checks) is the caller's: engine.training does not
import engine.evaluation. `prosemix train-defaults` and benchmarks/self_distill.py pass it.
"""
from __future__ import annotations

import json
import random
import re
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from engine.errors import ProsemixError

if TYPE_CHECKING:
    from engine.backends.base import Backend

# the openings are cut from these corpora (never the voice's own), none of them from
# benchmarks/styles_report.py's prompts; the seeds start above the report's and calibration's
OPENING_CORPORA = ("austen", "wry", "fable", "formal", "humorous", "serious", "positive", "negative")
FIRST_SEED = 100
TEMPERATURE = 0.8

# a judged sample: (the class the scorer gives it, what is wrong with it or None)
Judge = Callable[[str], tuple[str, "str | None"]]


@dataclass(frozen=True)
class Distillation:
    """How many samples, how long, which share is kept."""

    samples: int = 240
    tokens: int = 120
    keep: float = 0.75

    def __post_init__(self) -> None:
        if not (isinstance(self.samples, int) and self.samples >= 1):
            raise ProsemixError(f"self-distillation: samples must be >= 1, got {self.samples!r}")
        if not (isinstance(self.tokens, int) and 16 <= self.tokens <= 1024):
            raise ProsemixError(f"self-distillation: tokens must be 16..1024, got {self.tokens!r}")
        if not 0 < self.keep <= 1:
            raise ProsemixError(f"self-distillation: keep must be in (0, 1], got {self.keep!r}")


def openings(corpora: Path, voice: str, per_corpus: int = 40, seed: int = 7) -> list[str]:
    """6-11 words from the start of ``per_corpus`` paragraphs of each opening corpus but the
    voice's own, shuffled."""
    rng = random.Random(seed)
    out = []
    for name in OPENING_CORPORA:
        if name == voice:
            continue
        path = corpora / f"{name}.txt"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProsemixError(f"cannot read {path} for openings: {exc}; run `prosemix corpora`") from None
        paragraphs = [p for p in text.split("\n\n") if len(p.split()) > 15]
        if len(paragraphs) < per_corpus:
            raise ProsemixError(f"{path} has {len(paragraphs)} paragraphs of over 15 words; "
                                f"openings need {per_corpus}")
        for paragraph in rng.sample(paragraphs, per_corpus):
            out.append(" ".join(paragraph.split()[: rng.randint(6, 11)]))
    rng.shuffle(out)
    return out


def as_corpus_text(text: str) -> str:
    """A sample as corpus paragraphs: Gutenberg's "--" as an em dash; a first line that goes on
    from another's opening mid-sentence and a last sentence cut at the token limit dropped."""
    text = re.sub(r"\s*--\s*", "\u2014", text.strip())
    first_break = text.find("\n\n")
    if not text[:1].isupper() and 0 < first_break < len(text) * 0.4:
        text = text[first_break:].strip()
    end = max(text.rfind("\n\n"), *(text.rfind(c) + 1 for c in ".!?"))
    return text[:end].strip() if end > 40 else text


def self_samples(backend: "Backend", prompts: Sequence[str], count: int, tokens: int, log: Path,
                 judge: Judge, progress: Callable[[int, int, dict], None] | None = None) -> list[dict]:
    """``count`` samples of ``backend`` at the weights it is set to, each judged, appended to
    ``log`` (JSON lines) as they come; a second call resumes after the rows already there."""
    from engine.sampling import SamplingConfig

    if count > len(prompts):
        raise ProsemixError(f"{count} samples but {len(prompts)} openings")
    rows: list[dict] = []
    if log.exists():
        try:
            rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
        except ValueError:
            raise ProsemixError(f"{log} is not the JSON lines of a self-distillation; delete it to start over") from None
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as f:
        for i in range(len(rows), count):
            r = backend.generate(prompts[i], SamplingConfig(max_tokens=tokens, temperature=TEMPERATURE,
                                                            seed=FIRST_SEED + i), logprobs=True)
            style, fault = judge(r.text)
            row = {"i": i, "opening": prompts[i], "text": r.text, "ppl": r.perplexity, "top": style, "fault": fault}
            rows.append(row)
            f.write(json.dumps(row) + "\n")
            f.flush()
            if progress:
                progress(i + 1, count, row)
    return rows[:count]


def distilled_corpus(rows: Sequence[dict], voice: str, keep: float) -> tuple[str, dict]:
    """The corpus text of the rows recognised as ``voice`` with no fault, the ``keep`` share of
    them with the lowest self-perplexity, in the rows' order; and what was kept (for the card)."""
    good = sorted((r for r in rows if r["top"] == voice and not r["fault"]), key=lambda r: r["ppl"])
    if not good:
        raise ProsemixError(f"none of the {len(rows)} samples was recognised as {voice} without a fault")
    kept = good[: max(1, round(len(good) * keep))]
    chosen = {id(r) for r in kept}  # written in the samples' order, so the validation blocks are no likelier
    texts = [as_corpus_text(r["text"]) for r in rows if id(r) in chosen]
    return "\n\n".join(texts) + "\n", {
        "samples": len(rows), "recognised": len(good), "kept": len(kept), "keep": keep,
        "temperature": TEMPERATURE, "words": sum(len(t.split()) for t in texts),
        "median_self_perplexity": round(statistics.median(r["ppl"] for r in kept), 3)}


def record_first_stage(card_path: Path, first: Path, name: str, kept: dict) -> None:
    """Write into a self-distilled anchor's card what it started from: the first anchor's name
    (not its work folder), its recipe, losses, calibration and corpus, and the samples kept."""
    from engine.anchors.model import AnchorCard

    card, first_card = AnchorCard.load(card_path), AnchorCard.load(first / "anchor.json")
    training = {**card.training, "init_from": name, "self_samples": kept,
                "first": {**first_card.training, "metrics": first_card.metrics,
                          "calibration": first_card.calibration, "corpus": first_card.corpus}}
    replace(card, training=training).save(card_path)
