"""How often does a voice write a broken character, with the byte guard and without?

    python -m benchmarks broken_characters VOICE_DIR [VOICE_DIR ...] [--seeds 0-7] [--strength 1]

For each voice (a folder `prosemix voice` made, at its card's calibration times --strength), on
the llama.cpp backend: styles_report's 12 openings x the seeds x 60 tokens at temperature 0.8,
once with the byte guard (engine.backends.utf8, the default) and once without. Prints, per voice
and setting, the samples holding U+FFFD (the replacement character: bytes that are not UTF-8),
the samples with any typesetting fault, and the share of samples the two settings wrote alike
(the guard changes a text only from the step it rules a token out), with the machine.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("voices", nargs="+", type=Path)
    parser.add_argument("--seeds", default="0-7")
    parser.add_argument("--strength", type=float, default=1.0)
    args = parser.parse_args()
    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.fluency import typesetting_faults
    from engine.machine import describe_machine
    from benchmarks.calibrate import parse_seeds
    from benchmarks.styles_report import samples

    print(f"machine: {describe_machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    seeds = parse_seeds(args.seeds)
    for voice in args.voices:
        backend = LlamaCppBackend()
        backend.load(None, [voice])
        texts = {}
        for guarded in (True, False):
            backend.guard_bytes = guarded
            texts[guarded] = [t for t, _ in samples(backend, [1.0], strength=args.strength, seeds=seeds)]
        backend.close()
        alike = sum(a == b for a, b in zip(texts[True], texts[False])) / len(texts[True])
        for guarded in (True, False):
            batch = texts[guarded]
            broken = [t for t in batch if "\ufffd" in t]
            print(f"{voice.name}: byte guard {'on ' if guarded else 'off'}: {len(broken)}/{len(batch)} samples "
                  f"with a broken character, {sum(bool(typesetting_faults(t)) for t in batch)} with any "
                  f"typesetting fault; {alike:.0%} of samples alike", flush=True)
            for t in broken:
                i = t.index("\ufffd")
                print(f"    {t[max(0, i - 30):i + 30]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
