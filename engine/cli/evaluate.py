"""`prosemix sweep` and `prosemix plot`."""
from __future__ import annotations

import argparse
import sys

from engine.cli.options import (ProgressBar, add_model_options, add_sampling_options,
                                open_from_args, resolve_anchor_args)
from engine.anchors.shipped import VOICES
from engine.errors import ProsemixError


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from engine.evaluation.plots import PLOT_KINDS
    from engine.evaluation.sweep import GRIDS

    w = sub.add_parser("sweep", help="generate and score samples over a grid of points (resumable)")
    w.add_argument("--grid", choices=GRIDS, default="simplex")
    w.add_argument("--anchor", action="append", help="anchors (default: the shipped triangle)")
    w.add_argument("--step", type=float, default=0.2)
    w.add_argument("--attribute", default="", help="alpha grid: sentiment or simplicity")
    w.add_argument("--start", type=float, default=0.0)
    w.add_argument("--stop", type=float, default=1.0)
    w.add_argument("--prompt", action="append", help="prompts (default: the built-in five)")
    w.add_argument("--prompts", type=int, default=5, help="how many built-in prompts")
    w.add_argument("--samples", type=int, default=2)
    add_sampling_options(w, max_tokens=32)
    w.add_argument("--scorers", default="sentiment,reading_ease,grade",
                   help="comma-separated: sentiment, reading_ease, grade, affinity, module:function")
    w.add_argument("--strength", type=float, default=1.0,
                   help="global strength s of every point (0: the base model, >1 extrapolates)")
    w.add_argument("--heldout", default="", help="a resources/eval file for fixed-text perplexity")
    w.add_argument("--batch", action="store_true",
                   help="a point's samples of one prompt as one candidates call (the same text)")
    w.add_argument("--out", required=True)
    add_model_options(w)
    w.set_defaults(handler=cmd_sweep)

    pl = sub.add_parser("plot", help="plot a sweep table, or the anchors' geometry")
    pl.add_argument("table", nargs="?")
    pl.add_argument("--kind", choices=PLOT_KINDS, default="ternary")
    pl.add_argument("--score", default="sentiment")
    pl.add_argument("--attribute", default="")
    pl.add_argument("--anchor", action="append")
    pl.add_argument("--out", required=True, help="file name; PNG and SVG are written")
    pl.set_defaults(handler=cmd_plot)

    st = sub.add_parser("style-scorer", help="build (and cache) the style-recognition scorer: "
                                              "which style a text reads as")
    st.add_argument("--corpora", default="corpora",
                    help="the rebuilt corpora (prosemix corpora); without them, resources/eval")
    st.add_argument("--styles", default=",".join(VOICES),
                    help="the classes beside plain (default: every shipped voice)")
    st.add_argument("--samples", type=int, default=16, help="base-model samples per prompt (plain class)")
    st.add_argument("--max-tokens", type=int, default=120)
    st.set_defaults(handler=cmd_style_scorer)


def cmd_sweep(args: argparse.Namespace) -> int:
    from engine.anchors.shipped import ATTRIBUTES
    from engine.evaluation.scoring import get_scorers
    from engine.evaluation.sweep import DEFAULT_PROMPTS, SweepConfig, eval_texts, plan_points, run_sweep
    from engine.paths import resources_dir

    backend = open_from_args(args, args.anchor)
    try:
        names = backend.anchor_names
        points = plan_points(args.grid, names, ATTRIBUTES, step=args.step, attribute=args.attribute,
                             start=args.start, stop=args.stop)
        wanted = [s for s in args.scorers.split(",") if s]
        scorers = get_scorers(wanted, eval_texts(names) if "affinity" in wanted else {})
        prompts = args.prompt or list(DEFAULT_PROMPTS)[: args.prompts]
        heldout = (resources_dir() / "eval" / args.heldout).read_text(encoding="utf-8")[:2000] \
            if args.heldout else ""
        bar = ProgressBar("sweep")
        out = run_sweep(backend, points, scorers, args.out,
                        SweepConfig(prompts=prompts, samples=args.samples, max_tokens=args.max_tokens,
                                    temperature=args.temperature, seed=args.seed, heldout_text=heldout,
                                    strength=args.strength, batch=args.batch),
                        progress=lambda p: bar.update(p.done, p.total, p.seconds, p.eta_seconds))
        print(f"wrote {out}")
    finally:
        backend.close()
    return 0


def cmd_style_scorer(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from engine.backends import BackendSpec, open_backend
    from engine.evaluation import style_classifier as sc

    start = time.perf_counter()
    names = [n.strip() for n in args.styles.split(",") if n.strip()]
    corpora = Path(args.corpora)
    texts = sc.style_texts(names, corpora if corpora.is_dir() else None)
    backend = open_backend(BackendSpec(backend="llama"))  # the base model, no anchors
    bar = ProgressBar("plain samples")
    try:
        plain = sc.plain_samples(backend, seeds=range(args.samples), max_tokens=args.max_tokens,
                                 progress=lambda k, n: bar.update(k, n, time.perf_counter() - start,
                                                                  (time.perf_counter() - start) / k * (n - k)))
    finally:
        backend.close()
    print("training the classifier", file=sys.stderr)
    classifier = sc.train_classifier(texts, plain)
    path = sc.cache_path(sc.fingerprint(texts, plain))
    sc.save(classifier, path)
    print(json.dumps({"path": str(path), "classes": classifier.classes,
                      "held_out_accuracy": round(classifier.accuracy, 3), **classifier.report,
                      "source": "corpora" if corpora.is_dir() else "resources/eval",
                      "seconds": round(time.perf_counter() - start, 1)}, indent=2))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from engine.evaluation import plots
    from engine.evaluation.sweep import read_table

    rows: list[dict] = []
    anchors = []
    if args.kind == "anchors":
        from engine.anchors.loading import load_anchor
        from engine.models.base import base_info

        info = base_info(None)
        anchors = [load_anchor(p, info) for p in resolve_anchor_args(args.anchor)]
    elif not args.table:
        raise ProsemixError("give the sweep table (CSV) to plot")
    else:
        rows = read_table(args.table)
    fig = plots.make_plot(args.kind, rows, plots.score_columns(args.score.split(",")),
                          attribute=args.attribute, anchors=anchors)
    for path in plots.save(fig, args.out):
        print(f"wrote {path}")
    return 0
