"""What a training run is configured with and what it reports. No torch here, so the CLI and
the GUI can build and check a config before anything heavy is imported."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import ProsemixError

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class TrainingCancelled(ProsemixError):
    """Raised when the cancel check fires; the last checkpoint is kept for resuming."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters. Defaults: rank 16 / alpha 16 on q,k,v,o, lr 5e-4, 8 x 128-token
    blocks per step (the paper uses rank 32 and 128-token blocks; rank 16 halves the file
    and was enough to move the style visibly in 60 steps on this CPU)."""

    rank: int = 16
    alpha: float = 16.0
    targets: tuple[str, ...] = DEFAULT_TARGETS
    steps: int | None = 100
    epochs: float | None = None
    lr: float = 5e-4
    batch: int = 8
    block: int = 128
    seed: int = 0
    val_fraction: float = 0.05
    max_val_blocks: int = 32
    checkpoint_every: int = 25
    warmup: int = 5
    precision: str = "fp32"  # "bf16": autocast matmuls in bfloat16 (AVX512-BF16 CPUs, GPUs)
    # at most this many seconds of training steps: a slower CPU takes fewer steps (the
    # schedule shortens to fit) rather than more time; None: every step, however long
    max_seconds: float | None = None
    # LoRA on the last this many decoder layers only (None: all). The layers below stay the
    # base's, so what they compute for a block is computed once and kept, and a step runs
    # and back-propagates through the top layers alone
    top_layers: int | None = None
    # start from this anchor's LoRA (a PEFT folder or .gguf) instead of zero, its delta times
    # ``init_scale`` (its calibration factor, say, so that training continues from the corner
    # a writer sees): self-distillation and other continued training. Rank, targets and layers
    # must match the anchor's
    init_from: str | None = None
    init_scale: float = 1.0
    # also fit a diction on the text before training (engine.training.diction: one logit bias
    # per token, saved beside the LoRA; a voice's), its seconds counted in max_seconds
    diction: bool = False
    # the output layer's softmax over a shortlist only: the tokens the training text uses and
    # this many the base expects most over it (0: the whole vocabulary). The output layer is
    # most of a top-layers step on a CPU (49,152 rows); a token outside the shortlist has
    # almost no probability there, under the base and after a few steps. Needs top_layers
    shortlist: int = 0
    # with a shortlist: this many of the tokens outside it, drawn afresh each step, join the
    # softmax with their logits raised by log(outside / negatives), so that each outside token
    # is pushed down about as the whole vocabulary's softmax would push it (a sampled softmax);
    # without them a token outside the shortlist that rises is never pushed down
    negatives: int = 0
    # also train on the windows that start half a block into a training block and run into the
    # next one, where both are training blocks: the text's tokens in a second context each,
    # none of the held-out text. A short text's augmentation (a voice's page)
    shifted: bool = False
    # dropout on the LoRA branch's input (peft's lora_dropout)
    lora_dropout: float = 0.0
    # also train on the held-out blocks: the validation loss is then of text the run has seen
    # (the card says so, `learn_held_out`); for a short text whose every block counts
    learn_held_out: bool = False

    def __post_init__(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise ProsemixError(f"training config: {what}")

        need(isinstance(self.rank, int) and 1 <= self.rank <= 256, f"rank must be 1..256, got {self.rank!r}")
        need(isinstance(self.alpha, (int, float)) and self.alpha > 0, f"alpha must be > 0, got {self.alpha!r}")
        bad = [t for t in self.targets if t not in ALL_TARGETS]
        need(bool(self.targets) and not bad, f"targets must be among {ALL_TARGETS}, got {list(self.targets)}")
        need((self.steps is None) != (self.epochs is None), "give either steps or epochs")
        need(self.steps is None or (isinstance(self.steps, int) and self.steps >= 1), f"steps must be >= 1, got {self.steps!r}")
        need(self.epochs is None or self.epochs > 0, f"epochs must be > 0, got {self.epochs!r}")
        need(0 < self.lr < 1, f"learning rate must be in (0, 1), got {self.lr!r}")
        need(isinstance(self.batch, int) and 1 <= self.batch <= 512, f"batch must be 1..512, got {self.batch!r}")
        need(isinstance(self.block, int) and 16 <= self.block <= 4096, f"block must be 16..4096 tokens, got {self.block!r}")
        need(0 < self.val_fraction < 0.5, f"val_fraction must be in (0, 0.5), got {self.val_fraction!r}")
        need(self.checkpoint_every >= 1, "checkpoint_every must be >= 1")
        need(self.precision in ("fp32", "bf16"), f"precision must be fp32 or bf16, got {self.precision!r}")
        need(self.top_layers is None or (isinstance(self.top_layers, int) and self.top_layers >= 1),
             f"top_layers must be >= 1 or None, got {self.top_layers!r}")
        need(self.max_seconds is None or (isinstance(self.max_seconds, (int, float)) and self.max_seconds > 0),
             f"max_seconds must be > 0 or None, got {self.max_seconds!r}")
        need(isinstance(self.init_scale, (int, float)) and math.isfinite(self.init_scale) and self.init_scale > 0,
             f"init_scale must be a finite number > 0, got {self.init_scale!r}")
        need(self.init_from is None or self.init_from.strip() != "", "init_from must name an anchor")
        need(isinstance(self.shortlist, int) and self.shortlist >= 0, f"shortlist must be >= 0, got {self.shortlist!r}")
        need(not self.shortlist or self.top_layers is not None, "a shortlist needs top_layers")
        need(isinstance(self.negatives, int) and self.negatives >= 0, f"negatives must be >= 0, got {self.negatives!r}")
        need(not self.negatives or self.shortlist > 0, "negatives need a shortlist")
        need(isinstance(self.lora_dropout, (int, float)) and 0 <= self.lora_dropout < 1,
             f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")


@dataclass
class TrainProgress:
    step: int
    total: int
    loss: float
    seconds: float
    eta_seconds: float
    val_loss: float | None = None
    message: str = ""


@dataclass
class TrainResult:
    out_dir: Path
    gguf_path: Path
    steps: int
    train_loss: float
    val_loss: float
    base_val_loss: float
    seconds: float
    history: list[dict] = field(default_factory=list)
