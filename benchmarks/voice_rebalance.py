"""A copy of a voice with its LoRA and its diction at strengths of their own, to judge them apart.

    python benchmarks/voice_rebalance.py SRC DST --lora 1.5 --diction 1.25

A voice's card has a calibration factor for its LoRA and, since the twenty-fifth session, one
of its own for its diction (``diction_calibration``; none: the same). This copies each voice
folder in SRC (benchmarks/voice.py's `{author}-{pages}` folders) to DST with the card's
calibration set to ``--lora`` and its diction_calibration to ``--diction``, so that at strength
1 the LoRA counts ``--lora`` times and the diction ``--diction`` times. (Until then this
multiplied the diction's biases by ``--diction / --lora``, which comes to the same.) Then
`benchmarks/voice.py --reuse DST` judges them (docs/results.md, "The LoRA and the diction apart").
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.anchors.diction import DICTION_FILE  # noqa: E402


def rebalance(src: Path, dst: Path, lora: float, diction: float) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    card_path = dst / "anchor.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["calibration"], card["diction_calibration"] = lora, diction
    card_path.write_text(json.dumps(card, indent=2), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--lora", type=float, required=True, help="the LoRA's strength at the voice's corner")
    ap.add_argument("--diction", type=float, required=True, help="the diction's strength at the voice's corner")
    args = ap.parse_args()
    if not (0 < args.lora <= 4 and 0 < args.diction <= 4):
        ap.error("--lora and --diction must be in (0, 4], as a card's factors are")
    voices = [p for p in sorted(Path(args.src).iterdir()) if (p / DICTION_FILE).is_file()]
    if not voices:
        ap.error(f"no voice with a diction in {args.src}")
    for voice in voices:
        rebalance(voice, Path(args.dst) / voice.name, args.lora, args.diction)
        print(f"{voice.name}: LoRA {args.lora:g}, diction {args.diction:g} -> {Path(args.dst) / voice.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
