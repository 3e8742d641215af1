"""`prosemix continue FILE`: append a passage to a document, as the writing desk's Continue
does, with its provenance kept in the document's sidecar."""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from engine.cli.options import (add_model_options, add_sampling_options, open_from_args,
                                sampling_from_args)
from engine.documents.context import DEFAULT_STYLE_WINDOW
from engine.errors import ProsemixError

if TYPE_CHECKING:
    from engine.backends.bans import BanList


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    c = sub.add_parser("continue", help="continue a document (.md or .txt) at its end, keeping "
                                        "the passage's provenance beside it")
    c.add_argument("file")
    c.add_argument("--anchor", action="append", default=None, metavar="PATH_OR_NAME",
                   help="anchors (default: the document's voices, as the window saved them; "
                        "else the shipped triangle)")
    c.add_argument("--weights", help="NAME=W,... or W,W,... (default: the centre)")
    c.add_argument("--strength", type=float, default=1.0)
    c.add_argument("--extrapolate", action="store_true")
    add_sampling_options(c)
    c.add_argument("--lorebook", metavar="FILE",
                   help="a lorebook (Prosemix's, SillyTavern world info or a NovelAI lorebook): "
                        "it becomes the document's, kept in its sidecar")
    c.add_argument("--ban", action="append", default=[], metavar="PHRASE",
                   help="a phrase the passage may not hold (case-insensitive; repeatable); added to "
                        "the document's bans")
    c.add_argument("--ban-regex", action="append", default=[], metavar="RE",
                   help="a regex the passage may not match (repeatable); added to the document's bans")
    c.add_argument("--slop", choices=("on", "off"), help="the default list of machine-prose phrases")
    c.add_argument("--top-logprobs", type=int, default=0, metavar="K",
                   help="with --json: each token of the passage with its K most likely alternatives")
    c.add_argument("--window", type=int, default=DEFAULT_STYLE_WINDOW, metavar="TOKENS",
                   help=f"the style window: memory plus this many tokens of text (default "
                        f"{DEFAULT_STYLE_WINDOW}, as in the Write tab)")
    c.add_argument("--json", action="store_true", help="print one JSON object at the end")
    add_model_options(c)
    c.set_defaults(handler=cmd_continue)


def palette_anchors(names: list[str]) -> list[str]:
    """A document's voices (its sidecar's palette) as anchor paths: shipped anchors and the
    writer's own in the user anchors folder, found by name."""
    from engine.anchors.shipped import shipped_anchor
    from engine.paths import user_anchors_dir

    out: list[str] = []
    missing: list[str] = []
    for name in names:
        path = shipped_anchor(name) or user_anchors_dir() / name
        if path.exists():
            out.append(str(path))
        else:
            missing.append(name)
    if missing:
        raise ProsemixError(f"the document's voices {', '.join(missing)} are neither shipped nor in "
                            f"{user_anchors_dir()}: name them with --anchor")
    return out


def with_bans(bans: "BanList", phrases: list[str], regexes: list[str], slop: str | None) -> "BanList":
    """The document's bans plus those given on the command line (each once)."""
    from engine.backends.bans import BanList, PhraseBan

    added = [PhraseBan(p) for p in phrases] + [PhraseBan(r, regex=True) for r in regexes]
    phrases_all = bans.phrases + tuple(b for b in added if b not in bans.phrases)
    return BanList(phrases_all, bans.slop if slop is None else slop == "on")


def cmd_continue(args: argparse.Namespace) -> int:
    from pathlib import Path

    from engine.documents import files, lorebook
    from engine.documents.desk import Desk
    from engine.documents.model import Document
    from engine.weights import make_point, parse_weights

    path = Path(args.file)
    if not path.suffix:
        path = path.with_suffix(".md")
    if path.suffix.lower() not in files.TEXT_SUFFIXES:
        raise ProsemixError(f"a document is a .md or .txt file, not {path.name}")
    if path.exists():
        doc, warnings = files.load(path)
    else:
        doc, warnings = Document(), [f"{path} did not exist: a new document was started"]
    if not doc.text.strip() and not doc.memory.strip():
        raise ProsemixError(f"{path} is empty: write a beginning first")
    if not 16 <= args.window <= 100_000:
        raise ProsemixError(f"--window must be 16..100000 tokens, got {args.window}")
    if args.lorebook:
        doc.lorebook = lorebook.read(args.lorebook)
    doc.bans = with_bans(doc.bans, args.ban, args.ban_regex, args.slop)
    for w in warnings:
        if not args.json:
            print(f"note: {w}", file=sys.stderr)
    sampling = sampling_from_args(args)
    backend = open_from_args(args, args.anchor or palette_anchors(doc.palette))
    desk = Desk(doc)  # the window's desk: the same context, bans, lorebook and provenance
    desk.names, desk.model = list(backend.anchor_names), str(backend.model_path)
    desk.window, desk.key, desk.top_k = args.window, str(path.resolve()), args.top_logprobs
    try:
        names = backend.anchor_names
        typed = parse_weights(args.weights, names) if args.weights and names else [1 / len(names)] * len(names) if names else []
        point = make_point(typed, names, extrapolate=args.extrapolate, strength=args.strength)  # checked, as read
        job = desk.continue_at(len(doc.text), point, sampling)
        lore = lorebook.lore_for(doc.lorebook, job.prompt, backend.count_tokens)  # once: context and --json
        result, context = desk.run(backend, job, None if args.json else lambda s: print(s, end="", flush=True),
                                   lore=lore)
        assert context is not None  # a Continue always has its document's context
        provenance = doc.pending.candidates[doc.pending.current][1] if doc.pending else None
        passage = desk.accept()
        files.save(doc, path)
    finally:
        backend.close()
    if args.json:
        print(json.dumps({"file": str(path), "text": result.text,
                          "start": passage.start if passage else len(doc.text),
                          "end": passage.end if passage else len(doc.text),
                          "provenance": provenance.to_json() if provenance else None, "context_tokens": context.tokens,
                          "context_budget": context.budget, "dropped_chars": context.dropped,
                          "lorebook": {"active": [list(e.keys) or [e.label] for e in lore.included],
                                       "left_out_for_budget": [list(e.keys) or [e.label] for e in lore.skipped],
                                       "tokens": lore.tokens},
                          "finish_reason": result.finish_reason, "rewinds": result.rewinds,
                          "bans": len(doc.bans.all()), "warnings": warnings,
                          **({"tokens": [{"text": t, "alternatives": [{"text": a, "logprob": round(lp, 4)}
                                                                      for a, lp in alts]}
                                         for t, alts in zip(result.token_texts, result.alternatives)]}
                             if args.top_logprobs else {})},
                         ensure_ascii=False))
    else:
        print()
    return 0
