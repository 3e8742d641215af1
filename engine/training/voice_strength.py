"""Does a new voice stay prose with its LoRA stronger? A check on the writer's own page, no judge.

Some pages want a stronger LoRA than VOICE_CALIBRATION gives and some leave prose with it, and
the app has only the page to tell them apart (docs/dev/decisions/0008-voice-strength-check.md):

- the prose limit: the base model's perplexity that PROSE_QUANTILE of the page's own passages
  (MAX_WINDOWS windows of WINDOW_WORDS words, about a sample's 60 tokens) stay under;
- the samples: the voice with its LoRA at STRONGER_LORA (the diction where it was) continues
  CHECK_OPENINGS of the page's own openings CHECK_SAMPLES_EACH times, CHECK_TOKENS tokens each,
  in one batch on torch (bf16 where the CPU has it): a batch costs about what its tokens do
  one after another;
- a sample is prose when the base finds it no less likely than the limit and it is neither
  degenerate nor typeset with a fault.

The stronger LoRA is kept when at least MIN_PROSE_SHARE of the samples are prose; else, or when
it is stopped first (a cancel, or a ``deadline`` a caller sets), the voice keeps the factor it
had. It runs after the voice is made (engine.training.voice.strengthen_voice), 10-20 s on a
2-core CPU.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

STRONGER_LORA = 1.5
PROSE_QUANTILE, WINDOW_WORDS, MAX_WINDOWS = 0.95, 45, 32
CHECK_OPENINGS, CHECK_SAMPLES_EACH, CHECK_TOKENS = 6, 2, 60
MIN_PROSE_SHARE = 0.25
MIN_SECONDS = 8.0  # the check does not start with less time than this before its deadline


@dataclass(frozen=True)
class StrengthCheck:
    """What the check found: the factors it chose, the samples that were prose, the limit."""

    lora: float
    diction: float
    prose: int
    samples: int
    limit: float
    seconds: float
    why: str  # a line a writer can read: what was kept, and why
    perplexities: tuple[float, ...] = ()  # each sample's under the base (inf: degenerate or faulty)

    def as_card(self) -> dict[str, object]:
        return {"lora": self.lora, "diction": self.diction, "prose": self.prose, "samples": self.samples,
                "limit": round(self.limit, 2) if np.isfinite(self.limit) else None, "seconds": round(self.seconds, 1), "why": self.why}


def page_windows(text: str, words: int = WINDOW_WORDS, count: int = MAX_WINDOWS) -> list[str]:
    """Up to ``count`` passages of ``words`` words spread evenly over ``text`` (overlapping on a
    short page); none when it has fewer than ``words`` words."""
    tokens = text.split()
    if len(tokens) < words:
        return []
    starts = sorted({round(i * (len(tokens) - words) / max(1, count - 1)) for i in range(count)})
    return [" ".join(tokens[s:s + words]) for s in starts]


class _Diction:
    """A logits processor for transformers' generate: each row's diction as a step applies it
    (engine.anchors.diction.at_step: less a word the row's last tokens already hold)."""

    def __init__(self, bias: np.ndarray, words: np.ndarray | None, prompt_length: int) -> None:
        self.bias, self.words, self.prompt_length = bias, words, prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        from engine.anchors.diction import at_step

        rows = [at_step(self.bias, ids[self.prompt_length:].tolist(), self.words) for ids in input_ids]
        return scores + torch.from_numpy(np.stack(rows)).to(scores.dtype)[:, :scores.shape[1]]


def _perplexities(model: Any, tokenizer: Any, texts: Sequence[str]) -> list[float]:
    """Each text's perplexity under ``model`` (a BOS before it, as llama.cpp reads a text), in
    one padded batch."""
    import torch

    ids = [[tokenizer.bos_token_id or tokenizer.eos_token_id] + tokenizer(t, add_special_tokens=False)["input_ids"]
           for t in texts]
    width = max(map(len, ids))
    pad = tokenizer.eos_token_id
    batch = torch.tensor([i + [pad] * (width - len(i)) for i in ids])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
    with torch.no_grad():
        logits = model(input_ids=batch, attention_mask=mask).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, batch[:, 1:, None])[..., 0]
    keep = mask[:, 1:].float()
    return [float(v) for v in torch.exp(-(logp * keep).sum(1) / keep.sum(1).clamp(min=1))]


def check_stronger(voice: Path, text: str, *, lora: float = STRONGER_LORA, diction: float | None = None,
                   seed: int = 0, deadline: float | None = None, should_stop: Callable[[], bool] | None = None,
                   model: str | None = None, precision: str = "fp32") -> StrengthCheck:
    """Sample the voice in ``voice`` (a folder with its card and PEFT adapter) with its LoRA at
    ``lora`` and its diction at ``diction`` (None: the card's) on ``text``'s openings, in one
    batch on torch, and read each sample for prose against ``text``'s own limit, the base model
    reading both. The card is not changed: the caller writes what it keeps. ``deadline``
    (time.perf_counter()) or ``should_stop``: where it passes, or it says so, before the samples
    are read, the check stops and the card's factors stay. ``precision``: the model's dtype, "bf16"
    or "fp32" (the voice's recipe's, engine.training.voice.voice_precision)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList, StoppingCriteriaList

    from engine.anchors.diction import word_tokens
    from engine.anchors.loading import load_anchor
    from engine.errors import AnchorError
    from engine.models.base import base_info, resolve_model
    from engine.models.float_copy import float_copy_of_gguf
    from engine.training.style_vector import openings

    started = time.perf_counter()
    path = resolve_model(model)
    anchor = load_anchor(voice, base_info(path))
    if anchor.card is None:
        raise AnchorError(f"{voice} has no card: not a voice")
    was_lora, was_diction = anchor.calibration, anchor.diction_calibration
    diction = was_diction if diction is None else diction

    def late() -> bool:
        return (deadline is not None and time.perf_counter() > deadline) or bool(should_stop and should_stop())

    def kept(why: str, prose: int = 0, samples: int = 0, limit: float = float("nan"),
             ppl: tuple[float, ...] = ()) -> StrengthCheck:
        return StrengthCheck(was_lora, was_diction, prose, samples, limit, time.perf_counter() - started, why, ppl)

    if deadline is not None and deadline - started < MIN_SECONDS:
        return kept(f"no time was left to try the voice stronger: it keeps {was_lora:g}")
    folder = float_copy_of_gguf(path) if path.is_file() else path
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    base = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, local_files_only=True)
    net = PeftModel.from_pretrained(base, str(voice), local_files_only=True, autocast_adapter_dtype=False
                                    ).to(dtype).eval()
    for module in net.modules():
        scaling: Any = getattr(module, "scaling", None)
        if isinstance(scaling, dict) and "default" in scaling:
            scaling["default"] *= lora
    prompts = [o for o in openings(text, CHECK_OPENINGS) for _ in range(CHECK_SAMPLES_EACH)]
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    width = batch["input_ids"].shape[1]
    processors = LogitsProcessorList()
    if anchor.diction is not None:
        texts = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        words = word_tokens([tokenizer.convert_tokens_to_string([t]) if t else "" for t in texts])
        processors.append(_Diction(anchor.diction * np.float32(diction), words, width))
    torch.manual_seed(seed)
    with torch.no_grad():
        out = net.generate(**batch, do_sample=True, temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.1,
                           max_new_tokens=CHECK_TOKENS, logits_processor=processors,
                           pad_token_id=tokenizer.pad_token_id,
                           stopping_criteria=StoppingCriteriaList([lambda ids, scores, **kw: late()]))
    samples = [str(tokenizer.decode(row[width:], skip_special_tokens=True)) for row in out]
    if late():
        return kept(f"the check stopped before its samples were read: the voice keeps {was_lora:g}")
    from engine.fluency import degenerate, typesetting_faults

    stopped = f"the check was stopped as its samples were read: the voice keeps {was_lora:g}"
    with net.disable_adapter():  # a few seconds more, asked between its two batches whether to go on
        limit = float(np.quantile(_perplexities(net, tokenizer, page_windows(text)), PROSE_QUANTILE))
        if late():
            return kept(stopped)
        readable = [degenerate(s) is None and not typesetting_faults(s) for s in samples]
        kept_samples = [s for s, ok in zip(samples, readable) if ok]
        scored = iter(_perplexities(net, tokenizer, kept_samples) if kept_samples else [])
    if late():
        return kept(stopped)
    ppl = tuple(next(scored) if ok else float("inf") for ok in readable)
    prose = sum(p <= limit for p in ppl)
    if prose < MIN_PROSE_SHARE * len(samples):
        return kept(f"with its LoRA at {lora:g}, {prose} of {len(samples)} samples stayed prose: "
                    f"the voice keeps {was_lora:g}", prose, len(samples), limit, ppl)
    return StrengthCheck(lora, diction, prose, len(samples), limit, time.perf_counter() - started,
                         f"with its LoRA at {lora:g}, {prose} of {len(samples)} samples stayed prose: "
                         f"the voice takes {lora:g}", ppl)
