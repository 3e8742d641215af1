"""Training recipe pilot: seconds per step and loss after a few steps, for the choices the
styles issue asks about (precision, target modules, block length, learning rate).

    python -m benchmarks train_pilot CORPUS.txt [--steps 12] [--out docs/train_pilot.json]

Every config sees the same number of tokens per step. Ratios are against the first config
(the round-one recipe: fp32, q/k/v/o, 8 x 128 tokens), measured in one run on one machine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.machine import describe_machine  # noqa: E402
from engine.training.config import ALL_TARGETS, TrainConfig  # noqa: E402
from engine.training.train import train_anchor  # noqa: E402

ATTN = ("q_proj", "k_proj", "v_proj", "o_proj")


def configs(steps: int) -> dict[str, TrainConfig]:
    common = dict(steps=steps, checkpoint_every=10_000, max_val_blocks=16, warmup=2)
    return {
        "fp32 attn 8x128 lr5e-4 (round one)": TrainConfig(**common),
        "bf16 attn 8x128 lr5e-4": TrainConfig(precision="bf16", **common),
        "bf16 attn+mlp 8x128 lr5e-4": TrainConfig(precision="bf16", targets=ALL_TARGETS, **common),
        "bf16 attn 4x256 lr5e-4": TrainConfig(precision="bf16", batch=4, block=256, **common),
        "bf16 attn 8x128 lr1e-3": TrainConfig(precision="bf16", lr=1e-3, **common),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    rows = []
    for label, config in configs(args.steps).items():
        with tempfile.TemporaryDirectory() as tmp:
            times: list[float] = []
            last = [time.perf_counter()]

            def progress(p) -> None:  # type: ignore[no-untyped-def]
                if p.step and not p.message:
                    now = time.perf_counter()
                    times.append(now - last[0])
                    last[0] = now
                else:
                    last[0] = time.perf_counter()

            r = train_anchor(args.corpus, Path(tmp) / "a", name="pilot", config=config, progress=progress)
        per_step = sorted(times[1:])[len(times[1:]) // 2] if len(times) > 1 else float("nan")
        rows.append({"config": label, "seconds_per_step": round(per_step, 2),
                     "base_val": round(r.base_val_loss, 4), "val": round(r.val_loss, 4),
                     "train_config": {k: v for k, v in asdict(config).items()
                                      if k in ("precision", "targets", "batch", "block", "lr")}})
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["seconds_per_step"]
    print(f"\nmachine: {describe_machine()}; {args.steps} steps each; "
          f"corpus {Path(args.corpus).name}")
    for row in rows:
        print(f"{row['config']:<36} {row['seconds_per_step']:6.2f} s/step  {base / row['seconds_per_step']:.2f}x "
              f"speed  val {row['base_val']:.3f} -> {row['val']:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": describe_machine(),
                                              "steps": args.steps, "corpus": Path(args.corpus).name,
                                              "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
