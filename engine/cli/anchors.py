"""`prosemix anchors`, `prosemix convert-lora` and `prosemix info`."""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from engine.anchors.gguf_lora import write_gguf_lora
from engine.anchors.loading import load_anchor
from engine.cli.options import resolve_anchor_args
from engine.errors import AnchorError, ProsemixError
from engine.models.base import BaseInfo


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    a = sub.add_parser("anchors", help="describe anchors: rank, alpha, targets, delta norms")
    a.add_argument("paths", nargs="*", help="anchors (default: the shipped ones)")
    a.add_argument("--model", help="base model to check them against (default: embedded)")
    a.add_argument("--allow-pickle", action="store_true")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=cmd_anchors)

    c = sub.add_parser("convert-lora", help="convert a PEFT LoRA folder to a GGUF LoRA")
    c.add_argument("peft_dir")
    c.add_argument("--base", default=None, help="the base model (.gguf or HF folder; default: embedded)")
    c.add_argument("--out", required=True)
    c.add_argument("--dtype", default="f32", choices=("f32", "f16"))
    c.set_defaults(handler=cmd_convert)

    i = sub.add_parser("info", help="backends, devices and the default model")
    i.set_defaults(handler=cmd_info)


def cmd_anchors(args: argparse.Namespace) -> int:
    from engine.models.base import base_info

    info = base_info(args.model)
    paths = resolve_anchor_args(args.paths)
    if not paths:
        raise ProsemixError("no anchors given and none shipped")
    rows: list[dict[str, Any]] = []
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


def convert_peft_dir(peft_dir: str | os.PathLike[str], base: BaseInfo,
                     out: str | os.PathLike[str], *, dtype: str = "f32") -> Path:
    """Load and validate a PEFT folder, write its GGUF LoRA."""
    anchor = load_anchor(peft_dir, base)
    if anchor.peft_dir is None:
        raise AnchorError(f"{peft_dir} is not a PEFT folder")
    return write_gguf_lora(anchor, base, out, dtype=dtype)


def cmd_convert(args: argparse.Namespace) -> int:
    from engine.models.base import base_info

    start = time.perf_counter()
    out = convert_peft_dir(args.peft_dir, base_info(args.base), args.out, dtype=args.dtype)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - start:.2f} s")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from engine.anchors.shipped import default_anchor_paths
    from engine.backends import available_backends
    from engine.machine import describe_machine
    from engine.backends.settings import EngineSettings
    from engine.models.base import embedded_model_path
    from engine.paths import cache_dir, user_data_dir

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
    layout = "not measured yet: the first load with merged anchors measures it"
    if available_backends()["llama"] and not model.startswith("missing"):
        from engine.backends.layout_probe import recorded

        found = recorded(cache_dir() / "working-base", Path(model))
        if found is not None:
            layout = found.describe()
    print(json.dumps({
        "machine": describe_machine(),
        "backends": available_backends(),
        "devices": devices,
        "default_model": model,
        "default_anchors": [str(p) for p in default_anchor_paths()],
        "working_copy_layout": layout,
        "user_data": str(user_data_dir()),
        "cache": str(cache_dir()),
        "engine_settings": dict(EngineSettings.from_environment().described()),
    }, indent=2))
    return 0
