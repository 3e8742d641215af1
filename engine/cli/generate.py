"""`prosemix generate`: text at one point between anchors."""
from __future__ import annotations

import argparse
import json
import sys

from engine.cli.options import (add_model_options, add_sampling_options, open_from_args,
                                sampling_from_args)
from engine.anchors.model import applied_weights
from engine.errors import ProsemixError
from engine.weights import Point


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    g = sub.add_parser("generate", help="generate text at a point between anchors")
    g.add_argument("--prompt", required=True, help="the text to continue")
    g.add_argument("--anchor", action="append", default=None, metavar="PATH_OR_NAME",
                   help="a PEFT folder, a GGUF LoRA or a shipped anchor's name (repeatable; "
                        "default: the shipped triangle)")
    g.add_argument("--weights", help="NAME=W,... or W,W,... in anchor order (default: the centre)")
    g.add_argument("--normalize", action="store_true", help="divide the weights by their sum")
    g.add_argument("--extrapolate", action="store_true", help="allow weights outside the simplex")
    g.add_argument("--strength", type=float, default=1.0,
                   help="scale every anchor's delta: 0 is the base model, 1 the blend, >1 "
                        "extrapolates along it (up to 3)")
    add_sampling_options(g)
    g.add_argument("--stop", action="append", default=[], help="a stop string (repeatable)")
    g.add_argument("--chat", action="store_true", help="use the model's chat template")
    g.add_argument("--json", action="store_true", help="print one JSON object at the end")
    add_model_options(g)
    g.set_defaults(handler=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from engine.weights import parse_weights

    sampling = sampling_from_args(args, stop=tuple(args.stop), chat=args.chat)
    if not args.prompt.strip():
        raise ProsemixError("the prompt is empty")
    backend = open_from_args(args, args.anchor)
    try:
        point: Point | None = backend.point
        if args.weights:
            if not backend.anchors:
                raise ProsemixError("--weights given, but there are no anchors")
            point = backend.set_weights(parse_weights(args.weights, backend.anchor_names),
                                        normalize=args.normalize, extrapolate=args.extrapolate,
                                        strength=args.strength)
        elif point is not None and args.strength != 1.0:
            point = backend.set_weights(point.values, strength=args.strength)
        elif args.strength != 1.0:
            raise ProsemixError("--strength given, but there are no anchors")
        if point is not None and not args.json:
            if point.note:
                print(f"note: {point.note}", file=sys.stderr)
            if point.zone.value > 0:
                print(f"note: {point.zone.label} ({point.label()}, strength {point.strength:g})",
                      file=sys.stderr)
        generation = backend.stream(args.prompt, sampling)
        for piece in generation:
            if not args.json:
                print(piece, end="", flush=True)
        result = generation.result
        if not args.json:
            print()
            return 0
        print(json.dumps({
            "text": result.text,
            "weights": result.weights,
            "strength": result.strength,
            "zone": point.zone.label if point else None,
            "note": point.note if point else "",
            # what each delta was multiplied by: the weights moved by the cards' balances and
            # times their calibrations (engine.anchors.model.applied_weights)
            "applied": dict(zip(backend.anchor_names, (round(v, 6) for v in
                                applied_weights(point.effective, backend.anchors)))) if point else {},
            "backend": backend.name,
            "anchors_applied": backend.anchors_applied,
            "model": str(backend.model_path),
            "anchors": [str(a.source) for a in backend.anchors],
            "tokens": result.n_tokens,
            "prompt_tokens": result.prompt_tokens,
            "seconds": round(result.seconds, 4),
            "first_token_seconds": round(result.first_token_seconds or 0.0, 4),
            "tokens_per_second": round(result.tokens_per_second, 2),
            "finish_reason": result.finish_reason,
        }, ensure_ascii=False))
    finally:
        backend.close()
    return 0
