"""A copy of a voice with its LoRA and its diction at strengths of their own, to judge them apart.

    python benchmarks/voice_rebalance.py SRC DST --lora 1.5 --diction 1.25

A voice's card has one calibration factor, which every backend applies to its LoRA and its
diction alike (engine.training.voice.VOICE_CALIBRATION). This copies each voice folder in SRC
(benchmarks/voice.py's `{author}-{pages}` folders) to DST with the card's calibration set to
``--lora`` and the diction's biases multiplied by ``--diction / --lora``, so that at strength 1
the LoRA counts ``--lora`` times and the diction ``--diction`` times. Then
`benchmarks/voice.py --reuse DST` judges them (docs/results.md, "The LoRA and the diction apart").
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from safetensors.numpy import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.anchors.diction import DICTION_FILE  # noqa: E402


def rebalance(src: Path, dst: Path, lora: float, diction: float) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    card_path = dst / "anchor.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["calibration"] = lora
    card_path.write_text(json.dumps(card, indent=2), encoding="utf-8")
    tensors = load_file(str(dst / DICTION_FILE))
    save_file({k: (v * (diction / lora)).astype(v.dtype) for k, v in tensors.items()}, str(dst / DICTION_FILE))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--lora", type=float, required=True, help="the LoRA's strength at the voice's corner")
    ap.add_argument("--diction", type=float, required=True, help="the diction's strength at the voice's corner")
    args = ap.parse_args()
    if args.lora <= 0 or args.diction < 0:
        ap.error("--lora must be above 0 and --diction at least 0")
    voices = [p for p in sorted(Path(args.src).iterdir()) if (p / DICTION_FILE).is_file()]
    if not voices:
        ap.error(f"no voice with a diction in {args.src}")
    for voice in voices:
        rebalance(voice, Path(args.dst) / voice.name, args.lora, args.diction)
        print(f"{voice.name}: LoRA {args.lora:g}, diction {args.diction:g} -> {Path(args.dst) / voice.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
