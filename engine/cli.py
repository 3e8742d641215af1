"""The command line: `prosemix SUBCOMMAND` (or `python main.py SUBCOMMAND`). Imports no Qt.

Bad input prints one line on stderr and exits with 2; --debug shows the traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from .errors import ProsemixError

EXIT_BAD_INPUT = 2


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="a GGUF file or Hugging Face folder (default: embedded SmolLM2-135M-Instruct)")
    p.add_argument("--backend", default="auto", choices=("auto", "llama", "torch", "remote"))
    p.add_argument("--server", help="remote backend: the llama-server URL, e.g. http://host:8080")
    p.add_argument("--api-key", default=os.environ.get("PROSEMIX_API_KEY"),
                   help="remote backend: API key (or PROSEMIX_API_KEY)")
    p.add_argument("--device", default="auto", help="torch backend: auto, cpu, cuda, mps")
    p.add_argument("--dtype", default="auto", help="torch backend: auto, float32, float16, bfloat16")
    p.add_argument("--n-ctx", type=int, default=2048, help="context size in tokens")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow adapter_model.bin pickle checkpoints (loaded with weights_only=True)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prosemix", description="Blend writing styles with LoRA anchors.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser("generate", help="generate text at a point between anchors")
    g.add_argument("--prompt", required=True)
    g.add_argument("--anchor", action="append", default=None, metavar="PATH_OR_NAME",
                   help="a PEFT folder, a GGUF LoRA or a shipped anchor's name (repeatable; "
                        "default: the shipped triangle)")
    g.add_argument("--weights", help="NAME=W,... or W,W,... in anchor order (default: the centre)")
    g.add_argument("--normalize", action="store_true", help="divide the weights by their sum")
    g.add_argument("--extrapolate", action="store_true", help="allow weights outside the simplex")
    g.add_argument("--max-tokens", type=int, default=128)
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--top-p", type=float, default=0.95)
    g.add_argument("--top-k", type=int, default=40)
    g.add_argument("--repetition-penalty", type=float, default=1.1)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--stop", action="append", default=[], help="a stop string (repeatable)")
    g.add_argument("--chat", action="store_true", help="use the model's chat template")
    g.add_argument("--json", action="store_true", help="print one JSON object at the end")
    _add_model_options(g)

    a = sub.add_parser("anchors", help="describe anchors: rank, alpha, targets, delta norms")
    a.add_argument("paths", nargs="*", help="anchors (default: the shipped ones)")
    a.add_argument("--model", help="base model to check them against (default: embedded)")
    a.add_argument("--allow-pickle", action="store_true")
    a.add_argument("--json", action="store_true")

    c = sub.add_parser("convert-lora", help="convert a PEFT LoRA folder to a GGUF LoRA")
    c.add_argument("peft_dir")
    c.add_argument("--base", default=None, help="the base model (.gguf or HF folder; default: embedded)")
    c.add_argument("--out", required=True)
    c.add_argument("--dtype", default="f32", choices=("f32", "f16"))

    sub.add_parser("info", help="backends, devices and the default model")
    from .cli_extra import add_subcommands

    add_subcommands(sub)
    return parser


def resolve_anchor_args(items: Sequence[str] | None) -> list[Path]:
    from .paths import default_anchor_paths, shipped_anchor

    if not items:
        return default_anchor_paths()
    out = []
    for item in items:
        path = Path(item).expanduser()
        if path.exists():
            out.append(path)
        elif shipped := shipped_anchor(item):
            out.append(shipped)
        else:
            raise ProsemixError(f"anchor not found: {item!r} is neither a path nor a shipped anchor")
    return out


def open_backend(args: argparse.Namespace, anchors: Sequence[Path], progress=None):  # type: ignore[no-untyped-def]
    """Resolve the model and backend from CLI options and load everything."""
    from .backends import choose_backend, create_backend
    from .models import resolve_model

    if args.backend == "remote" or getattr(args, "server", None):
        if not args.server:
            raise ProsemixError("the remote backend needs --server URL")
        backend = create_backend("remote", url=args.server, api_key=args.api_key)
        backend.load(None, anchors, progress=progress)
        return backend
    model = resolve_model(args.model)
    name = choose_backend(args.backend, model_is_gguf=model.is_file())
    options: dict[str, object] = {"n_ctx": args.n_ctx}
    if name == "torch":
        options.update(device=args.device, dtype=args.dtype)
    backend = create_backend(name, **options)
    backend.load(model, anchors, allow_pickle=args.allow_pickle, progress=progress)
    return backend


def cmd_generate(args: argparse.Namespace) -> int:
    from .sampling import SamplingConfig
    from .weights import parse_weights

    sampling = SamplingConfig(
        max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
        top_k=args.top_k, repetition_penalty=args.repetition_penalty, seed=args.seed,
        stop=tuple(args.stop), chat=args.chat)
    if not args.prompt.strip():
        raise ProsemixError("the prompt is empty")
    remote = args.backend == "remote" or bool(args.server)
    anchors = list(args.anchor or []) if remote else resolve_anchor_args(args.anchor)
    backend = open_backend(args, anchors)
    try:
        if args.weights:
            if not backend.anchors:
                raise ProsemixError("--weights given, but there are no anchors")
            point = backend.set_weights(parse_weights(args.weights, backend.anchor_names),
                                        normalize=args.normalize, extrapolate=args.extrapolate)
        else:
            point = backend.point
        if point is not None and point.zone.value > 0 and not args.json:
            print(f"note: {point.zone.label} ({point.label()})", file=sys.stderr)
        on_piece = None if args.json else (lambda s: print(s, end="", flush=True))
        result = backend.generate(args.prompt, sampling, on_piece=on_piece)
        if args.json:
            print(json.dumps({
                "text": result.text,
                "weights": result.weights,
                "zone": point.zone.label if point else None,
                "backend": backend.name,
                "anchors_applied": getattr(backend, "mode", None),  # llama: merged or runtime
                "model": str(backend.model_path),
                "anchors": [str(a.source) for a in backend.anchors],
                "tokens": result.n_tokens,
                "prompt_tokens": result.prompt_tokens,
                "seconds": round(result.seconds, 4),
                "first_token_seconds": round(result.first_token_seconds or 0.0, 4),
                "tokens_per_second": round(result.tokens_per_second, 2),
                "finish_reason": result.finish_reason,
            }, ensure_ascii=False))
        else:
            print()
    finally:
        backend.close()
    return 0


def cmd_anchors(args: argparse.Namespace) -> int:
    from .anchors import load_anchor
    from .models import base_info

    info = base_info(args.model)
    paths = resolve_anchor_args(args.paths)
    if not paths:
        raise ProsemixError("no anchors given and none shipped")
    rows = []
    for path in paths:
        anchor = load_anchor(path, info, allow_pickle=args.allow_pickle)
        rows.append({
            "name": anchor.name, "source": str(anchor.source), "rank": anchor.rank,
            "alpha": anchor.alpha, "rslora": anchor.use_rslora, "targets": anchor.target_modules,
            "modules": len(anchor.factors),
            "layer_delta_norms": {str(k): round(v, 5) for k, v in anchor.layer_norms().items()},
            "card": anchor.card.description if anchor.card else None,
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['name']}  ({row['source']})")
        print(f"  rank {row['rank']}, alpha {row['alpha']:g}{', rsLoRA' if row['rslora'] else ''}, "
              f"{row['modules']} modules: {', '.join(row['targets'])}")
        if row["card"]:
            print(f"  {row['card']}")
        norms = row["layer_delta_norms"]
        print("  |delta| per layer: " + " ".join(f"{k}:{v:.3g}" for k, v in norms.items()))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .gguf_lora import convert_peft_dir
    from .models import base_info

    start = time.perf_counter()
    out = convert_peft_dir(args.peft_dir, base_info(args.base), args.out, dtype=args.dtype)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - start:.2f} s")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .backends import available_backends
    from .paths import default_anchor_paths

    from .models import embedded_model_path

    try:
        model = str(embedded_model_path())
    except ProsemixError as exc:
        model = f"missing: {exc}"
    devices = ["cpu"]
    if available_backends()["torch"]:
        import torch

        if torch.cuda.is_available():
            devices += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
        if torch.backends.mps.is_available():
            devices.append("mps")
    print(json.dumps({
        "backends": available_backends(),
        "devices": devices,
        "default_model": model,
        "default_anchors": [str(p) for p in default_anchor_paths()],
    }, indent=2))
    return 0


COMMANDS = {"generate": cmd_generate, "anchors": cmd_anchors, "convert-lora": cmd_convert,
            "info": cmd_info}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    from .cli_extra import COMMANDS as EXTRA

    handler = {**COMMANDS, **EXTRA}[args.command]
    try:
        return handler(args)
    except ProsemixError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure: one line unless --debug
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)",
              file=sys.stderr)
        return 1


def main_entry() -> None:
    """Console-script entry point (`prosemix ...`)."""
    sys.exit(main())
