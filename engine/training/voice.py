"""A writer's own voice as an anchor in about a minute: a few-step LoRA on one page or more of
their text (`prosemix voice`, *New voice from my writing…*).

The recipe: rank 8 on every matrix (q/k/v/o and the MLP's gate/up/down) of the last TOP_LAYERS
decoder layers, 4 x 128-token blocks a step (a page is about 7 blocks, so each step sees most of
it; a text under 450 words 2 x 64) at lr 4e-3 (2e-3 from two pages on: the longer run overfits
at 4e-3), bf16 where the CPU computes it natively, 14 steps for a page and, past a page, as many
as see each block of the text CALIBRATED_PASSES times, up to a cap, within a time budget, so that
a slower CPU takes fewer steps rather than more than the minute a page may take.
The layers below the trained ones are computed once per block
(engine.training.train.FrozenBelow), so a step costs about a third of a whole-model step, and
the budget holds more of them: on one page each of two authors (the AVX2-only EPYC) the MLP
matrices raised recognition from 10% and 50% to 38% and 77% at 26-30 whole-model steps, and
within the budget the top 10 layers at lr 4e-3 were recognised 48% and 67% where the whole
model's 7-10 steps were 2% and 29% (benchmarks/voice_recipes.py). Before the steps, the voice
fits its diction (engine.training.diction: one logit bias per token, under which the base model
expects each token as often as the page has it, raising whole lower-case words and punctuation
only; a few seconds, counted in the budget), which every local backend adds to the logits in
proportion to the voice's weight, less a word's rise while the passage holds the word
(engine.anchors.diction.at_step): it raised one writer's LoRA from 54% to 78% recognised and
left the other's at 11% (10%; docs/results.md). The steps take their output softmax over a
shortlist with sampled negatives (SHORTLIST, NEGATIVES), a cheaper step than the whole
vocabulary's. The card says it is a voice and records the text's hash, its word count, the
seconds it took, the recipe and the steps taken; its calibration factor is voice_calibration's.
Once it is made, a calibrated text under two pages tries its LoRA at 1.5 (`strengthen_voice`,
engine.training.voice_strength: kept where its samples of the page's openings stay prose by the
page's own measure, the diction left at 1.25; the card records what the check found under
training["strength_check"]). The check comes after the voice is made, not inside its minute: on
a slower CPU it would not fit (the AVX2-only EPYC took 43-50 s for a page without it), and the
app puts the voice on the picker before the check begins.
What it buys, and what an activation style vector buys beside it (engine/training/style_vector.py),
is measured in benchmarks/voice.py, benchmarks/voice_recipes.py and benchmarks/voice_methods.py
(docs/results.md, docs/anchors.md).
"""
from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from engine.errors import ProsemixError
from engine.words import MIN_VOICE_WORDS, word_count
from engine.training.config import ALL_TARGETS, TrainConfig, TrainProgress

MAX_WORDS = 200_000
BASE_STEPS = 14  # one page
# ten pages' steps at lr 2e-3: 120 overfit (Melville recognised 58%, validation loss up from
# 4.23 to 4.35) where the 64-65 a slower pace allowed were recognised 71% and 88% (validation
# loss down to 3.72 and 3.48) (benchmarks/voice_recipes.py --pages 10, 2026-12-02, docs/results.md);
# a cap, so that a faster CPU does not take the steps this one could not
MAX_STEPS = 64
# below this, 64-token blocks (the trainer needs three blocks of text), two a step, not four: at
# four, a writer's 307-word page came back as a collage of its phrases (12% of the samples' word
# 5-grams were the page's; validation loss 4.03 -> 5.14) and 320-word pages of two authors wrote
# loose quotation marks in 4 and 9 of 24 samples and a hero's name in every sentence; at two, 2%
# recited (4.03 -> 4.41) and no such faults (benchmarks/voice_recipes.py --words 320, docs/results.md)
SHORT_TEXT_WORDS, SHORT_TEXT_BATCH = 450, 2
# the training steps' time budget, a ceiling: 36 s for a page, which leaves the model's load,
# the evaluations and the GGUF within the minute a page may take, and SECONDS_PER_STEP more per
# further step planned, at most MAX_SECONDS (ten pages, within the five minutes they may take).
# A slower CPU takes fewer steps, not longer. On the AVX2-only EPYC a page's 14 steps took
# 34.5-35.7 s with the shortlist and negatives below (2026-12-02, docs/results.md); over the
# whole vocabulary a step took 2.1-5 s, and 6-13 of them fitted. Ten pages' steps took 2.1-3.6 s
# there, so 240 s holds their 64 at the slowest pace measured, and the whole voice (the steps,
# the diction, the load, the evaluations, the GGUF) stays within the five minutes
PAGE_SECONDS, SECONDS_PER_STEP, MAX_SECONDS = 36.0, 1.5, 240.0
TOP_LAYERS = 10  # of the embedded model's 30; a model with fewer trains them all
# the output softmax over the page's tokens and the 4,096 the base expects most on it (the
# diction's own shortlist), with 4,096 of the other tokens drawn afresh each step (a sampled
# softmax), is a cheaper step than the whole vocabulary's 49,152: a page's 14 steps fit the
# budget where 11-13 did. Without the negatives, nothing pushed the other 45,000 tokens down and
# at 19 steps the voice wrote pieces of words ("moneyiosyncringe"); with them, at 14 steps, the
# share of words in no corpus is the whole vocabulary's (0.5-1.7% against 0.4-0.9%)
# (benchmarks/voice_recipes.py --recipes base,whole-vocabulary,shortlist; docs/results.md)
SHORTLIST, NEGATIVES = 4096, 4096
# a page's 14 steps want lr 4e-3; three pages' 50 overfit at it (recognised 25% and 46%) and
# were recognised 29% and 75% at 2e-3 (benchmarks/voice_recipes.py --pages 3, docs/results.md)
FAST_RATE, SLOW_RATE, SLOW_RATE_WORDS = 4e-3, 2e-3, 1_400
# a voice's card's calibration factor: its LoRA and its diction count 1.25 times at its corner.
# Chosen on seeds 0-3 and held on seeds 4-7 (the Intel Xeon with AVX512-BF16 and AMX, 2026-12-03,
# benchmarks/voice.py --strengths 1,1.25, 48 samples a row; docs/results.md): recognised in prose,
# Melville's page 29% -> 60% and ten pages 56% -> 85%, Edgeworth's ten pages 67% -> 83%, her
# page 75% -> 69% (three samples), every sample prose at both. The cost: the author's next text
# is less likely (89.8 -> 173.6 for Melville's page), as any stronger voice makes it. Only where
# that was measured: a text of SHORT_TEXT_WORDS or more whose steps saw each block at most
# CALIBRATED_PASSES times (a page 7-8 times, ten pages 3.4-3.7). Three pages' 61-64 steps see
# theirs 11.6-12.2 times, and at 1.25 only 46% and 62% of their samples were prose (96% at 1),
# so such a voice, and a short page's (not measured at 1.25), stays at 1. Since then a text of two
# pages or more takes the steps that see its blocks CALIBRATED_PASSES times (`voice_recipe`):
# three pages' 38-40 steps, calibrated, were recognised in prose 71% and 96%, every sample but one
# prose (seeds 0-1; 50% and 83% at 61-64 steps and strength 1), made in 56-69 s
VOICE_CALIBRATION, CALIBRATED_PASSES = 1.25, 8.0
# the embedded tokenizer's tokens per word of English prose, at the fewest measured: a page or
# more of Melville and of Edgeworth made 1.29-1.49 (their voices' blocks, 2026-12-03), so a text's
# blocks estimated at 1.3 are not more than it makes, and steps planned on them for
# CALIBRATED_PASSES do not see the blocks more often than that
TOKENS_PER_WORD = 1.3
VAL_FRACTION, MAX_VAL_BLOCKS = 0.1, 2  # the text a voice holds out for its validation loss


def voice_calibration(words: int, steps: int, batch: int, train_blocks: int) -> float:
    """The calibration factor a voice's card gets: VOICE_CALIBRATION for a text of at least
    SHORT_TEXT_WORDS words whose ``steps`` of ``batch`` blocks saw each of its ``train_blocks``
    at most CALIBRATED_PASSES times, 1 otherwise."""
    passes = steps * batch / max(1, train_blocks)
    return VOICE_CALIBRATION if words >= SHORT_TEXT_WORDS and passes <= CALIBRATED_PASSES else 1.0


def train_blocks_at_least(words: int, block: int) -> int:
    """The training blocks a text of ``words`` words makes at the fewest: TOKENS_PER_WORD tokens
    a word, less the blocks the recipe holds out (VAL_FRACTION, at most MAX_VAL_BLOCKS)."""
    from engine.training.data import held_out_blocks

    blocks = int(words * TOKENS_PER_WORD) // block
    return max(1, blocks - held_out_blocks(blocks, VAL_FRACTION, MAX_VAL_BLOCKS))


def voice_precision() -> str:
    """bf16 autocast where the CPU has AVX512-BF16 (1.2x faster per step at the same loss,
    docs/anchors.md), fp32 elsewhere."""
    from engine.machine import cpu_features

    return "bf16" if "AVX512-BF16" in cpu_features() else "fp32"


def voice_recipe(words: int, precision: str | None = None) -> TrainConfig:
    """The recipe for a text of ``words`` words: BASE_STEPS for anything under SLOW_RATE_WORDS
    (two pages; at lr 4e-3, 19 steps on a 900-word page took its validation loss from 4.14 to
    5.34 and the voice wrote "my lease" in every sentence), more from two pages on (as many as
    see each of its training blocks, `train_blocks_at_least`, CALIBRATED_PASSES times, as a
    page's 14 do, so that its card gets the calibration), at most MAX_STEPS, within a time budget
    (PAGE_SECONDS, and SECONDS_PER_STEP per 30 words past the first 700, at most MAX_SECONDS: a
    slower CPU takes fewer steps, not longer, and ten pages have the time for their capped
    steps); a text under SHORT_TEXT_WORDS trains on 64-token blocks, so that it makes the
    trainer's three, two blocks a step (SHORT_TEXT_BATCH), so that it is not learnt by heart, and
    one of SLOW_RATE_WORDS or more (two pages) at the lower rate its longer run wants."""
    fast = words < SLOW_RATE_WORDS
    short = words < SHORT_TEXT_WORDS
    block, batch = (64, SHORT_TEXT_BATCH) if short else (128, 4)
    steps = BASE_STEPS if fast else min(MAX_STEPS, max(BASE_STEPS, int(
        CALIBRATED_PASSES * train_blocks_at_least(words, block) / batch)))
    # the time the text may take grows with it (a step per 30 words past the first page's 700)
    budget_steps = BASE_STEPS if fast else BASE_STEPS + (words - 700) // 30
    lr = FAST_RATE if fast else SLOW_RATE
    return TrainConfig(rank=8, alpha=16.0, targets=ALL_TARGETS, steps=steps, lr=lr, batch=batch, block=block, warmup=2,
                       top_layers=TOP_LAYERS, diction=True, shortlist=SHORTLIST, negatives=NEGATIVES,
                       val_fraction=VAL_FRACTION, max_val_blocks=MAX_VAL_BLOCKS, checkpoint_every=10_000,
                       precision=precision or voice_precision(),
                       max_seconds=min(MAX_SECONDS, PAGE_SECONDS + (budget_steps - BASE_STEPS) * SECONDS_PER_STEP))


def source_hash(text: str) -> str:
    """The hash a voice's card records of the text it learnt (`voice_text`'s)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def voice_text(texts: Sequence[str]) -> str:
    """The writer's texts as the voice learns them: paragraphs kept, but a paragraph's line
    breaks (an email's or an editor's hard wrap) and runs of spaces made single spaces, as the
    corpora are (engine.training.prose), so the voice does not learn to wrap; verse keeps its
    lines."""
    from engine.training.prose import is_verse, paragraphs, unwrap

    return "\n\n".join(p.strip("\n") if is_verse(p) else unwrap(p)
                       for t in texts if t for p in paragraphs(t))


@dataclass(frozen=True)
class VoiceResult:
    path: Path
    name: str
    words: int
    seconds: float
    steps: int
    val_loss: float
    base_val_loss: float
    calibration: float = VOICE_CALIBRATION  # the LoRA's factor at the voice's corner
    strength: str = ""  # what the stronger-LoRA check found (engine.training.voice_strength), "" if none ran
    check_seconds: float = 0.0  # the check's, after the voice was made (not in `seconds`)
    wants_check: bool = False  # a voice the check is for, whether or not it ran


def wants_check(calibration: float, words: int) -> bool:
    """Whether a voice tries its LoRA stronger: a calibrated text under two pages, where the
    check was measured (engine.training.voice_strength)."""
    return calibration == VOICE_CALIBRATION and words < SLOW_RATE_WORDS


def strengthen_voice(out_dir: str | Path, text: str, *, model: str | None = None, precision: str | None = None,
                     should_stop: Callable[[], bool] | None = None) -> tuple[float, str, float]:
    """Try the voice in ``out_dir`` (made from ``text``) with its LoRA stronger and write what
    the check found on its card: (its LoRA's factor now, the check's line, its seconds). The
    voice is whole before and after; a stop ends the check and the voice keeps its factor."""
    from engine.anchors.model import AnchorCard
    from engine.training.voice_strength import check_stronger

    card_path = Path(out_dir) / "anchor.json"
    card = AnchorCard.load(card_path)
    found = check_stronger(Path(out_dir), text, model=model, should_stop=should_stop,
                           precision=precision or voice_precision())
    card = replace(card, calibration=found.lora, training={**card.training, "strength_check": found.as_card()},
                   # none where it equals the LoRA's: the diction then follows the calibration
                   diction_calibration=None if found.diction == found.lora else found.diction)
    card.save(card_path)
    return found.lora, found.why, found.seconds


def make_voice(texts: Sequence[str], name: str, out_dir: str | Path, *, colour: str = "#7d3c98",
               model: str | None = None, config: TrainConfig | None = None, steps: int | None = None,
               progress: Callable[[TrainProgress], None] | None = None,
               should_stop: Callable[[], bool] | None = None, check: bool = True) -> VoiceResult:
    """Train a voice anchor on ``texts`` (the writer's pages) into ``out_dir``; ``steps``
    overrides the recipe's (a short run in tests). Once the voice is made (``seconds``), a
    calibrated voice of under two pages tries its LoRA stronger (`check`, `strengthen_voice`)
    and keeps it where its samples stay prose by the page's own measure (``check_seconds``); a
    cancel then ends the check, not the voice. The app runs the check as a task of its own,
    after the voice is on the picker (`check=False` here)."""
    from engine.anchors.model import AnchorCard, validate_name
    from engine.training.train import train_anchor

    started = time.perf_counter()
    validate_name(name)
    text = voice_text(texts)
    words = word_count(text)
    if words < MIN_VOICE_WORDS:
        raise ProsemixError(f"a voice needs at least {MIN_VOICE_WORDS} words of your writing; this is {words}")
    if words > MAX_WORDS:
        raise ProsemixError(f"{words:,} words is more than a voice needs (at most {MAX_WORDS:,}): "
                            "train an anchor on it instead (prosemix train)")
    if config is None:
        from engine.models.base import base_info, resolve_model

        config = voice_recipe(words)
        config = replace(config, top_layers=min(TOP_LAYERS, base_info(resolve_model(model)).n_layers))
    if steps is not None:
        config = replace(config, steps=steps)
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="prosemix-voice-") as tmp:
        source = Path(tmp) / "voice.txt"
        source.write_text(text, encoding="utf-8")
        result = train_anchor(source, out_dir, name=name, config=config, model=model,
                              description=f"a voice from {words:,} words of the writer's text",
                              colour=colour, corpus_name=f"the writer's own text ({words:,} words)",
                              license="the writer's own", progress=progress, should_stop=should_stop)
    seconds = time.perf_counter() - started
    card_path = out_dir / "anchor.json"
    card = AnchorCard.load(card_path)
    # the text's own blocks: the windows half a block on (config.shifted) repeat its tokens
    text_blocks = int(card.training.get("train_blocks", 1)) - int(card.training.get("shifted_windows", 0))
    calibration = voice_calibration(words, result.steps, config.batch, text_blocks)
    card = replace(card, kind="voice", calibration=calibration, training={**card.training, "source": {
        "sha256": source_hash(text), "words": words,
        "seconds": round(seconds, 1)}})
    card.save(card_path)  # a whole voice now, whatever the check below does
    why, check_seconds, checking = "", 0.0, wants_check(calibration, words)
    if check and checking and not (should_stop and should_stop()):
        if progress is not None:
            progress(TrainProgress(0, 0, float("nan"), seconds, 0,
                                   message="made; trying the voice a little stronger (about 15 s)"))
        calibration, why, check_seconds = strengthen_voice(out_dir, text, model=model, precision=config.precision,
                                                           should_stop=should_stop)
    return VoiceResult(out_dir, name, words, seconds, result.steps, result.val_loss, result.base_val_loss,
                       calibration, why, check_seconds, checking)
