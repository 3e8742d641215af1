"""A writer's own voice as an anchor in about a minute: a few-step LoRA on one page or more of
their text (`prosemix voice`, *New voice from my writing…*).

The recipe (why each part: docs/dev/decisions/0007-a-voice-from-a-page.md):
- rank 8 on every matrix (q/k/v/o and the MLP's gate/up/down) of the last TOP_LAYERS decoder
  layers; the layers below are computed once per block (engine.training.train.FrozenBelow), so a
  step costs about a third of a whole-model step;
- 4 x 128-token blocks a step (a text under SHORT_TEXT_WORDS: 2 x 64), lr FAST_RATE (SLOW_RATE
  from SLOW_RATE_WORDS on), bf16 where the CPU computes it natively;
- BASE_STEPS for a page and, past a page, as many as see each block CALIBRATED_PASSES times, up
  to MAX_STEPS, within a time budget: a slower CPU takes fewer steps rather than longer;
- first, the diction (engine.training.diction: one logit bias per token, fitted in seconds and
  counted in the budget), which every local backend adds in proportion to the voice's weight;
- the output softmax over a shortlist with sampled negatives (SHORTLIST, NEGATIVES).

The card says it is a voice and records the text's hash, its word count, the seconds it took,
the recipe and the steps taken. Once made, a calibrated text under two pages tries its LoRA
stronger (`strengthen_voice`, engine.training.voice_strength); that check comes after the voice
is on the picker, not inside its minute.
"""
from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from engine.errors import ProsemixError
from engine.anchors.model import VOICE_COLOUR
from engine.words import MIN_VOICE_WORDS, word_count
from engine.training.config import ALL_TARGETS, TrainConfig, TrainProgress

MAX_WORDS = 200_000
BASE_STEPS = 14  # one page
# a cap: more steps on ten pages overfit (validation loss up, recognition down), so a faster
# CPU does not take the steps a slower one could not
MAX_STEPS = 64
# below this, 64-token blocks (the trainer needs three blocks of text), two a step, not four: at
# four a short page came back as a collage of its own phrases
SHORT_TEXT_WORDS, SHORT_TEXT_BATCH = 450, 2
# the training steps' time budget, a ceiling: PAGE_SECONDS for a page leaves the model's load,
# the evaluations and the GGUF within the minute a page may take; SECONDS_PER_STEP more per
# further step planned, at most MAX_SECONDS, which holds ten pages' MAX_STEPS at the slowest
# pace measured on 2 cores. A slower CPU takes fewer steps, not longer
PAGE_SECONDS, SECONDS_PER_STEP, MAX_SECONDS = 36.0, 1.5, 240.0
TOP_LAYERS = 10  # of the embedded model's 30; a model with fewer trains them all
# the output softmax over the page's tokens and the SHORTLIST the base expects most on it, with
# NEGATIVES of the other tokens drawn afresh each step (a sampled softmax): a cheaper step than
# the whole vocabulary's, so a page's steps fit the budget. Without the negatives nothing pushed
# the other tokens down and the voice wrote pieces of words ("moneyiosyncringe")
SHORTLIST, NEGATIVES = 4096, 4096
# a page's few steps want FAST_RATE; longer texts' more steps overfit at it
FAST_RATE, SLOW_RATE, SLOW_RATE_WORDS = 4e-3, 2e-3, 1_400
# a voice's card's calibration factor: its LoRA and its diction count VOICE_CALIBRATION times at
# its corner. It raised recognition on held-out seeds and kept every sample prose, where it was
# measured: a text of SHORT_TEXT_WORDS or more whose steps saw each block at most
# CALIBRATED_PASSES times (`voice_recipe` plans the steps so); other voices stay at 1
VOICE_CALIBRATION, CALIBRATED_PASSES = 1.25, 8.0
# the embedded tokenizer's tokens per word of English prose, at the fewest measured, so that
# steps planned on the estimate do not see the blocks more often than CALIBRATED_PASSES
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


def strengthen_voice(out_dir: str | Path, text: str, *, model: str | None = None, backend: Any = None,
                     should_stop: Callable[[], bool] | None = None) -> tuple[float, str, float]:
    """Try the voice in ``out_dir`` (made from ``text``) with its LoRA stronger and write what
    the check found on its card: (its LoRA's factor now, the check's line, its seconds). The
    check samples on ``backend`` where that holds the voice (the app's), else on one of its own.
    The voice is whole before and after; a stop ends the check and the voice keeps its factor."""
    from engine.anchors.model import AnchorCard
    from engine.training.voice_strength import check_stronger

    card_path = Path(out_dir) / "anchor.json"
    card = AnchorCard.load(card_path)
    found = check_stronger(Path(out_dir), text, model=model, backend=backend, should_stop=should_stop)
    card = replace(card, calibration=found.lora, training={**card.training, "strength_check": found.as_card()},
                   # none where it equals the LoRA's: the diction then follows the calibration
                   diction_calibration=None if found.diction == found.lora else found.diction)
    card.save(card_path)
    return found.lora, found.why, found.seconds


def make_voice(texts: Sequence[str], name: str, out_dir: str | Path, *, colour: str = VOICE_COLOUR,
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
                                   message="made; trying the voice a little stronger (about 15-20 s)"))
        calibration, why, check_seconds = strengthen_voice(out_dir, text, model=model, should_stop=should_stop)
    return VoiceResult(out_dir, name, words, seconds, result.steps, result.val_loss, result.base_val_loss,
                       calibration, why, check_seconds, checking)
