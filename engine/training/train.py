"""LoRA training of an anchor on a corpus, with torch and peft.

Split the way mlx-examples' lora.py splits it: batches (engine.training.data), the loss, an
evaluation, the train loop, and the outputs. The API takes a progress callback and a cancel
check, so the CLI and the GUI's worker drive the same code. Checkpoints are written
atomically every N steps and a run resumes from the last one, drawing the same batches. The
result is a PEFT folder, its GGUF LoRA and an anchor card.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from engine.errors import BackendUnavailable, ProsemixError
from engine.training.config import (TrainConfig, TrainingCancelled, TrainProgress, TrainResult)
from engine.training.data import BatchOrder, pack_blocks, read_corpus, split_blocks

if TYPE_CHECKING:
    import torch

CHECKPOINT = "checkpoint"
ProgressFn = Callable[[TrainProgress], None]


@dataclass
class _Run:
    """Everything a run needs once the model and data are ready."""

    config: TrainConfig
    model: Any  # the peft-wrapped model
    train: list[list[int]]
    val: list[list[int]]
    total: int
    base_val: float
    info: Any  # BaseInfo
    path: Path  # the base model file
    tokenizer: Any = None
    diction: Any = None  # np.ndarray: the text's diction (config.diction), written beside the LoRA
    diction_seconds: float = 0.0
    shifted_windows: int = 0  # of the training blocks, those half a block on (config.shifted)


def _import_torch() -> None:
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(f"training needs torch, transformers and peft, which are not in "
                                 f"this build ({exc.name} is missing)") from None


def loss_of(model: Any, ids: "torch.Tensor", precision: str, inputs: "torch.Tensor | None" = None) -> "torch.Tensor":
    """Mean next-token cross-entropy of a batch; bf16 autocasts the matmuls, the loss and
    the LoRA weights stay in fp32. ``inputs``: the hidden states to start from instead of the
    tokens' embeddings (``FrozenBelow``)."""
    import torch

    given = {"inputs_embeds": inputs} if inputs is not None else {"input_ids": ids}
    if precision == "bf16":
        with torch.autocast(device_type=ids.device.type, dtype=torch.bfloat16):
            return model(**given, labels=ids).loss.float()
    return model(**given, labels=ids).loss


def shortlist_cross_entropy(hidden: "torch.Tensor", targets: "torch.Tensor", listed: "torch.Tensor",
                            outside: "torch.Tensor | None" = None, negatives: int = 0) -> "torch.Tensor":
    """The cross-entropy of ``targets`` (places in ``listed``, the output layer's rows of a
    shortlist) under a softmax over ``listed`` alone: the rest of the vocabulary, which the base
    gives almost no probability on the text, is left out of the normaliser and of the output
    layer's cost (most of a top-layers step on a CPU). With ``negatives``, that many of the
    ``outside`` rows, drawn afresh at each call, stand for the rest, their logits raised by
    log(len(outside) / negatives), so that each row outside is pushed down about as the whole
    softmax would push it (a sampled softmax: its mean gradient is near the whole softmax's,
    though biased where a few outside rows hold most of the rest's mass); without them a token
    outside that rises is never pushed down."""
    import torch

    if bool((targets < 0).any()):
        raise ValueError("a target token is not in the shortlist")
    rows, raise_by = listed, 0.0
    if negatives and outside is not None and len(outside):
        drawn = outside[torch.randperm(len(outside))[:negatives]]
        rows, raise_by = torch.cat([listed, drawn]), math.log(len(outside) / len(drawn))
    logits = (hidden @ rows.T).float()  # under autocast, the product in bf16
    if raise_by:
        logits[..., len(listed):] += raise_by
    return torch.nn.functional.cross_entropy(logits.reshape(-1, len(rows)), targets.reshape(-1))


class FrozenBelow:
    """Training with LoRA on the top ``top`` decoder layers only: the layers below are the
    base's and never change, so the hidden states a block brings to the first trained layer
    are computed once and kept, and each step runs, and back-propagates through, the top
    layers alone. The gradients are those of the whole model's loss: nothing below the first
    trained layer has a parameter to train."""

    KEEP_AHEAD_BYTES = 1 << 30  # blocks whose hidden states fit this are computed before the first step

    def __init__(self, model: Any, top: int, blocks: list[list[int]], precision: str) -> None:
        import torch

        self.inner = model.get_base_model().model  # the decoder stack (embeddings, layers, norm)
        self.first = len(self.inner.layers) - top
        self.below = torch.nn.ModuleList(self.inner.layers[:self.first])
        self.above = torch.nn.ModuleList(self.inner.layers[self.first:])
        self.blocks, self.precision = blocks, precision
        self.kept: dict[int, "torch.Tensor"] = {}
        self.shortlist: "torch.Tensor | None" = None  # the output layer's rows the softmax is over (None: all)
        self.where: "torch.Tensor | None" = None  # each vocabulary id's place in the shortlist, -1 if not in it
        self.outside: "torch.Tensor | None" = None  # the other rows, from which negatives are drawn
        self.negatives = 0

    def fits(self) -> bool:
        """Whether every block's hidden states fit KEEP_AHEAD_BYTES (a voice's text does; a
        corpus may not, and its blocks are then computed as batches first hold them)."""
        return sum(len(b) for b in self.blocks) * self.inner.config.hidden_size * 4 <= self.KEEP_AHEAD_BYTES

    def keep_ahead(self, batch: int) -> None:
        """Compute every block's hidden states now, so that every step takes the same time and
        a time budget reads a steady pace."""
        for i in range(0, len(self.blocks), batch):
            self._keep(list(range(i, min(i + batch, len(self.blocks)))))

    def _run_with(self, layers: Any, norm: Any, fn: Callable[[], Any]) -> Any:
        saved = self.inner.layers, self.inner.norm
        self.inner.layers, self.inner.norm = layers, norm
        try:
            return fn()
        finally:
            self.inner.layers, self.inner.norm = saved

    def _keep(self, indices: list[int]) -> None:
        import torch

        missing = [i for i in indices if i not in self.kept]
        if not missing:
            return
        ids = torch.tensor([self.blocks[i] for i in missing])

        def bottom() -> "torch.Tensor":
            with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.bfloat16,
                                                 enabled=self.precision == "bf16"):
                return self.inner(input_ids=ids, use_cache=False).last_hidden_state.float()

        for i, h in zip(missing, self._run_with(self.below, torch.nn.Identity(), bottom)):
            self.kept[i] = h

    def loss(self, model: Any, indices: list[int]) -> "torch.Tensor":
        import torch

        self._keep(indices)
        ids = torch.tensor([self.blocks[i] for i in indices])
        inputs = torch.stack([self.kept[i] for i in indices])
        if self.shortlist is None:
            return self._run_with(self.above, self.inner.norm, lambda: loss_of(model, ids, self.precision, inputs))
        return self._run_with(self.above, self.inner.norm, lambda: self._shortlist_loss(model, ids, inputs))

    def use_shortlist(self, tokens: "torch.Tensor", output: "torch.Tensor", negatives: int = 0) -> None:
        """Train the output softmax over ``tokens`` alone: their rows of the (frozen) output
        layer's weight ``output``, taken once; with ``negatives``, that many of the other rows,
        drawn afresh each step, join it (TrainConfig.negatives)."""
        import torch

        self.shortlist = output.detach()[tokens]  # indexing copies the rows
        self.where = torch.full((output.shape[0],), -1, dtype=torch.long)
        self.where[tokens] = torch.arange(len(tokens))
        self.outside = output.detach()[self.where < 0] if negatives else None
        self.negatives = negatives

    def _shortlist_loss(self, model: Any, ids: "torch.Tensor", inputs: "torch.Tensor") -> "torch.Tensor":
        """loss_of's cross-entropy with the output layer's softmax over the shortlist only
        (shortlist_cross_entropy)."""
        import torch

        assert self.shortlist is not None and self.where is not None
        with torch.autocast(device_type=ids.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            hidden = self.inner(inputs_embeds=inputs, use_cache=False).last_hidden_state[:, :-1]
            return shortlist_cross_entropy(hidden, self.where[ids[:, 1:]], self.shortlist,
                                           self.outside, self.negatives)

    def base_logits(self, model: Any, batch: int) -> tuple["torch.Tensor", "torch.Tensor"]:
        """The next-token logits (float16 rows) of the blocks a diction is fitted on, from their
        kept hidden states, and the tokens they predict: the top layers' part of a whole-model
        pass."""
        import torch

        from engine.training.diction import spread

        rows: list[Any] = []
        targets: list[Any] = []
        chosen = spread([len(b) for b in self.blocks])  # the blocks model_logits would take
        with torch.no_grad():
            for i in range(0, len(chosen), batch):
                indices = chosen[i:i + batch]
                self._keep(indices)
                ids = torch.tensor([self.blocks[j] for j in indices])
                inputs = torch.stack([self.kept[j] for j in indices])
                out = self._run_with(self.above, self.inner.norm, lambda: model(inputs_embeds=inputs).logits)
                rows.extend(out[:, :-1].to(torch.float16))
                targets.extend(ids[:, 1:])
        return torch.cat(rows), torch.cat(targets)


def evaluate(model: Any, blocks: list[list[int]], batch: int, precision: str) -> float:
    """Mean loss per block over ``blocks``, without gradients."""
    import torch

    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(blocks), batch):
            ids = torch.tensor(blocks[i:i + batch])
            total += float(loss_of(model, ids, precision)) * len(ids)
    model.train()
    return total / len(blocks)


def _prepare(corpus: Any, config: TrainConfig, model: str | None, ckpt: Path,
             progress: ProgressFn) -> tuple[_Run, dict | None]:
    """Load the base model and the corpus, split it, and measure the base's validation loss
    (or take it from the checkpoint)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.models.base import base_info, resolve_model
    from engine.models.float_copy import float_copy_of_gguf

    docs = read_corpus(corpus)
    path = resolve_model(model)
    info = base_info(path)
    smallest = min(min(shape) for m, shape in info.shapes.items() if m.rsplit(".", 1)[1] in config.targets)
    if config.rank > smallest:
        raise ProsemixError(f"rank {config.rank} does not fit: the smallest target matrix has "
                            f"dimension {smallest}")
    progress(TrainProgress(0, 0, math.nan, 0, 0, message="loading the base model"))
    folder = float_copy_of_gguf(path) if path.is_file() else path
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    base_model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32,
                                                      local_files_only=True)
    progress(TrainProgress(0, 0, math.nan, 0, 0, message="tokenizing the corpus"))
    token_docs = [tokenizer(d, add_special_tokens=False)["input_ids"] for d in docs]
    blocks = pack_blocks(token_docs, config.block, tokenizer.eos_token_id)
    train, val = split_blocks(blocks, config)
    steps_per_epoch = max(1, len(train) // config.batch)
    total = config.steps if config.steps is not None else max(1, round((config.epochs or 1.0) * steps_per_epoch))
    state = _load_checkpoint(ckpt, config)
    if state:
        base_val = state["base_val_loss"]
    else:
        progress(TrainProgress(0, total, math.nan, 0, 0, message="measuring the base model's validation loss"))
        base_val = evaluate(base_model, val, config.batch, config.precision)
    if config.top_layers is not None and config.top_layers > info.n_layers:
        raise ProsemixError(f"top_layers {config.top_layers}: the base model has {info.n_layers} layers")
    layers = list(range(info.n_layers - config.top_layers, info.n_layers)) if config.top_layers else None
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha,  # type: ignore[arg-type]  # peft types it int; floats work
                      target_modules=list(config.targets), layers_to_transform=layers,
                      lora_dropout=config.lora_dropout, bias="none", task_type="CAUSAL_LM")
    peft_model = get_peft_model(base_model, lora)
    if config.init_from is not None and not state:
        start_from_anchor(peft_model, config, info)
    # the training blocks past the text's own (the held-out ones among them with learn_held_out)
    own_blocks = len(blocks) - (0 if config.learn_held_out else len(val))
    return _Run(config, peft_model, train, val, total, base_val, info, path, tokenizer,
                shifted_windows=len(train) - own_blocks), state


def start_from_anchor(model: Any, config: TrainConfig, info: Any) -> None:
    """Set a fresh PEFT model's LoRA factors to ``config.init_from``'s, its delta
    (s B A) times ``config.init_scale``, so that training continues from that anchor at that
    strength. The anchor must have LoRA on exactly the matrices this config trains, at its rank."""
    import torch

    from engine.anchors.loading import load_anchor

    anchor = load_anchor(str(config.init_from), info)  # a clear error for a missing, foreign or NaN anchor
    lora = {name.removeprefix("base_model.model."): module for name, module in model.named_modules()
            if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {})}
    extra, lacking = sorted(set(anchor.factors) - set(lora)), sorted(set(lora) - set(anchor.factors))
    if extra or lacking:
        raise ProsemixError(
            f"cannot start from {anchor.name!r}: it has LoRA on {len(anchor.factors)} matrices and this "
            f"config trains {len(lora)}" + (f"; e.g. {extra[0]} is only in the anchor" if extra else "")
            + (f"; e.g. {lacking[0]} is not in the anchor" if lacking else "")
            + ": give the anchor's targets and top layers")
    ranks = {f.rank for f in anchor.factors.values()}
    if ranks != {config.rank}:
        raise ProsemixError(f"cannot start from {anchor.name!r}: its rank is {sorted(ranks)[0]}, "
                            f"this config's {config.rank}")
    with torch.no_grad():
        for key, module in lora.items():
            f = anchor.factors[key]
            # the config's scale s' = alpha'/r: B' = B * s * init_scale / s' keeps s' B' A = init_scale s B A
            ratio = f.scale * config.init_scale / float(module.scaling["default"])
            module.lora_A["default"].weight.copy_(torch.from_numpy(f.A))
            module.lora_B["default"].weight.copy_(torch.from_numpy(f.B * ratio))


def _base_logits(run: _Run, frozen: FrozenBelow | None) -> tuple[Any, Any]:
    """The base's next-token logits over (a spread of) the training blocks and the tokens they
    predict: from the kept hidden states where the layers below are frozen, else from a
    whole-model pass; the LoRA switched off either way (a resumed or continued run has one)."""
    from engine.training.diction import model_logits

    with run.model.disable_adapter():
        if frozen is not None and frozen.fits():
            return frozen.base_logits(run.model, run.config.batch)
        return model_logits(run.model, run.train)


def _fit_diction(run: _Run, logits: Any, targets: Any, expected: tuple[Any, Any]) -> Any:
    """The training text's diction under the base model (engine.training.diction)."""
    from engine.training.diction import fit_diction, rising_tokens

    rising = rising_tokens(run.tokenizer)
    return fit_diction(logits, targets, may_rise=rising if len(rising) == logits.shape[1] else None,
                       expected=expected)


def _shortlist(run: _Run, expected: Any) -> Any:
    """The tokens a shortlist softmax trains over: every token of every training block, and the
    ``config.shortlist`` the base expects most over the text."""
    from engine.training.diction import shortlist

    return shortlist(expected, sorted({t for block in run.train for t in block}), run.config.shortlist)


def _train_loop(run: _Run, ckpt: Path, state: dict | None, progress: ProgressFn,
                should_stop: Callable[[], bool]) -> tuple[list[dict], float]:
    """AdamW with warmup and a cosine decay, gradient clipping, checkpoints; returns the
    loss history and the seconds spent training, a resumed run's earlier ones included (as far
    as its checkpoint: steps after it are trained again). With ``max_seconds`` the run ends
    when the next step would not fit, and the cosine decay (which reads ``total``) ends with
    it; the steps taken are the history's length."""
    import torch
    from peft import set_peft_model_state_dict

    config, model = run.config, run.model
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=config.lr, weight_decay=0.0)
    total = run.total
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / config.warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    step, history, before = 0, [], 0.0
    if state:
        before = float(state.get("seconds", 0.0))
        set_peft_model_state_dict(model, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, history = state["step"], state["history"]
        torch.set_rng_state(state["torch_rng"])
    order = BatchOrder(len(run.train), config.batch, config.seed, step)
    frozen = None
    started = time.perf_counter()
    if config.top_layers:
        frozen = FrozenBelow(model, config.top_layers, run.train, config.precision)
        if frozen.fits():
            progress(TrainProgress(step, total, math.nan, 0, 0, message=f"running {len(run.train):,} blocks "
                                   f"through the {frozen.first} frozen layers once"))
            frozen.keep_ahead(config.batch)
    if config.diction or (config.shortlist and frozen is not None):
        if config.diction:
            progress(TrainProgress(step, total, math.nan, 0, 0, message="fitting the text's diction"))
        fitting = time.perf_counter()
        from engine.training.diction import expectation

        logits, targets = _base_logits(run, frozen)
        expected = expectation(logits)
        if config.diction:
            run.diction = _fit_diction(run, logits, targets, expected)
            run.diction_seconds = time.perf_counter() - fitting
        if config.shortlist and frozen is not None:
            frozen.use_shortlist(_shortlist(run, expected[0]), model.get_base_model().lm_head.weight,
                                 config.negatives)
        del logits, targets, expected
    before += time.perf_counter() - started  # counted in the time budget, but not in the steps' pace
    started = time.perf_counter()
    model.train()
    first_step, first_done = step, None
    save = lambda: _save_checkpoint(ckpt, run, optimizer, schedule, step, history,  # noqa: E731
                                    before + time.perf_counter() - started)
    while step < total:
        if should_stop():
            save()
            raise TrainingCancelled(f"training cancelled at step {step}/{total}; "
                                    "run it again with the same options to resume")
        batch = order.next()
        loss = (frozen.loss(model, batch) if frozen else
                loss_of(model, torch.tensor([run.train[i] for i in batch]), config.precision))
        if not torch.isfinite(loss.detach()):
            raise ProsemixError(f"training diverged at step {step + 1}: the loss is {float(loss)}; "
                                "lower the learning rate")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        history.append({"step": step, "loss": round(loss.item(), 4)})
        elapsed = time.perf_counter() - started
        if first_done is None:
            first_done = elapsed
        # the pace: the steps after this run's first (which also builds the optimizer's state),
        # so that one slow start does not cut the run short for good
        pace = (elapsed - first_done) / (step - first_step - 1) if step - first_step > 1 else elapsed
        if config.max_seconds is not None:  # the steps that still fit at this pace, at least this one
            fit = int((config.max_seconds - before - elapsed) / pace)
            if step - first_step > 1 or fit < 1:
                total = min(total, step + max(0, fit))
        progress(TrainProgress(step, total, loss.item(), elapsed, pace * (total - step)))
        if step % config.checkpoint_every == 0 and step < total:
            save()
    return history, before + time.perf_counter() - started


def train_anchor(corpus: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                 out_dir: str | os.PathLike[str], *, name: str,
                 config: TrainConfig = TrainConfig(), model: str | None = None,
                 description: str = "", colour: str = "#2874a6", corpus_name: str = "",
                 license: str = "", progress: ProgressFn | None = None,
                 should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train a LoRA anchor on ``corpus`` and write it to ``out_dir`` (resuming if a
    checkpoint of the same config is there)."""
    _import_torch()
    from engine.anchors.model import AnchorCard, validate_name
    from engine.models.base import model_sha256

    validate_name(name)
    progress = progress or (lambda p: None)
    out_dir = Path(out_dir)
    ckpt = out_dir / CHECKPOINT
    run, state = _prepare(corpus, config, model, ckpt, progress)
    history, seconds = _train_loop(run, ckpt, state, progress, should_stop or (lambda: False))
    run.total = len(history)  # fewer than planned where max_seconds ended the run
    progress(TrainProgress(run.total, run.total, math.nan, seconds, 0, message="measuring validation loss"))
    final_val = evaluate(run.model, run.val, config.batch, config.precision)
    recent = [h["loss"] for h in history[-10:]]
    train_loss = sum(recent) / len(recent) if recent else math.nan
    card = AnchorCard(
        name=name, description=description, colour=colour,
        corpus=corpus_name or ", ".join(map(str, corpus if isinstance(corpus, (list, tuple)) else [corpus])),
        license=license, base_sha256=model_sha256(run.path),
        training={**asdict(config), "targets": list(config.targets), "train_blocks": len(run.train),
                  "shifted_windows": run.shifted_windows,
                  "val_blocks": len(run.val), "base_model": run.path.name, "steps_taken": run.total,
                  "seconds": round(seconds, 1)}
        | ({"diction_seconds": round(run.diction_seconds, 1)} if run.diction is not None else {}),
        metrics={"train_loss": round(train_loss, 4), "val_loss": round(final_val, 4),
                 "base_val_loss": round(run.base_val, 4)})
    gguf_path = _write_outputs(out_dir, name, run, card)
    shutil.rmtree(ckpt, ignore_errors=True)
    progress(TrainProgress(run.total, run.total, math.nan, seconds, 0, val_loss=final_val, message="done"))
    return TrainResult(out_dir, gguf_path, run.total, train_loss, final_val, run.base_val, seconds, history)


def _write_outputs(out_dir: Path, name: str, run: _Run, card: Any) -> Path:
    """The PEFT folder (fp16 safetensors), its GGUF LoRA (f16) and the card, swapped in
    atomically so a crash never leaves a half-written anchor."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    from engine.anchors.gguf_lora import write_gguf_lora
    from engine.anchors.loading import load_anchor

    tmp = out_dir.with_name(out_dir.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in get_peft_model_state_dict(run.model).items()}
    save_file(state, str(tmp / "adapter_model.safetensors"))
    if run.diction is not None:
        from engine.training.diction import save_diction

        save_diction(run.diction, tmp)
    run.model.peft_config["default"].save_pretrained(str(tmp))
    config_path = tmp / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = run.path.name  # not a cache path
    config_path.write_text(json.dumps(config, indent=2))
    card.save(tmp / "anchor.json")
    anchor = load_anchor(tmp, run.info)
    write_gguf_lora(anchor, run.info, tmp / f"{name}.gguf", dtype="f16")
    old = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)
    return out_dir / f"{name}.gguf"


def _config_key(config: TrainConfig) -> str:
    return json.dumps(asdict(config), sort_keys=True, default=list)


def _save_checkpoint(ckpt: Path, run: _Run, optimizer: Any, schedule: Any, step: int,
                     history: list, seconds: float) -> None:
    import torch
    from peft import get_peft_model_state_dict

    tmp = ckpt.with_name(ckpt.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save({"config": _config_key(run.config), "adapter": get_peft_model_state_dict(run.model),
                "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "step": step, "history": history, "base_val_loss": run.base_val,
                "torch_rng": torch.get_rng_state(), "seconds": seconds}, tmp / "state.pt")
    shutil.rmtree(ckpt, ignore_errors=True)
    os.replace(tmp, ckpt)


def _load_checkpoint(ckpt: Path, config: TrainConfig) -> dict | None:
    import torch

    file = ckpt / "state.pt"
    if not file.is_file():
        return None
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file; all mean the same
        raise ProsemixError(f"cannot resume from {file}: {exc}; delete it to start over") from None
    if state.get("config") != _config_key(config):
        raise ProsemixError(f"{ckpt} holds a checkpoint of a different training config; "
                            "delete it or train with the same options to resume")
    return state
