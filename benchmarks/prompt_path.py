"""Issue 26, items 1 and 2: who should evaluate a restyle's prompt on this CPU, measured in one run.

Each configuration restyles a 384-token window of held-out prose (a new point each time, so no
prompt is reused) with the shipped triangle and writes 64 greedy tokens; the medians of the
first token's time and the decode rate are compared with plain llama.cpp on the shipped Q4_1
file (no anchors), the issue's baseline:

- llama.cpp's own prompt pass on the working copy the layout probe chose (the default);
- torch's fp32 prompt pass with the KV handed to llama.cpp (kv_handoff), decoding on the gated
  layout that decodes fastest (what the probe pairs with torch), and on keep (Q4_1);
- the layout probe's record: its choice, torch's measured rate, and the restyle that prompts on
  one llama.cpp copy and decoding on another would give (item 2), from its measurements.

    python -m benchmarks prompt_path [--reps 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.anchors.shipped import default_anchor_paths  # noqa: E402
from engine.backends.layout_probe import RESTYLE_PASSAGE, RESTYLE_WINDOW, recorded  # noqa: E402
from engine.backends.llama_cpp import LlamaCppBackend  # noqa: E402
from engine.machine import describe_machine  # noqa: E402
from engine.models.base import embedded_model_path  # noqa: E402
from engine.paths import cache_dir  # noqa: E402
from engine.sampling import SamplingConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GREEDY = SamplingConfig(max_tokens=64, temperature=0.0)
POINTS = [(0.6, 0.2, 0.2), (0.2, 0.6, 0.2), (0.2, 0.2, 0.6), (0.4, 0.4, 0.2), (0.2, 0.4, 0.4)]


def window_text(backend: LlamaCppBackend) -> str:
    text = (ROOT / "resources" / "eval" / "austen.txt").read_text(encoding="utf-8")
    tokens = backend._tokenize(text)[1:RESTYLE_WINDOW + 1]
    return backend._llm.detokenize(tokens).decode("utf-8", errors="replace")


def run(name: str, backend: LlamaCppBackend, reps: int, anchors: bool) -> dict[str, float]:
    text = window_text(backend)
    firsts, rates, prompt_tokens = [], [], 0
    backend.generate(text, SamplingConfig(max_tokens=4, temperature=0.0))  # warm
    for i in range(reps):
        if anchors:
            backend.set_weights(POINTS[i % len(POINTS)])
        backend._forget_prompt()
        result = backend.generate(text, GREEDY)
        firsts.append(result.first_token_seconds or float("nan"))
        rates.append(result.tokens_per_second)
        prompt_tokens = result.prompt_tokens
    out = {"first": statistics.median(firsts), "decode": statistics.median(rates), "tokens": prompt_tokens}
    print(f"{name}: first token {out['first'] * 1000:.0f} ms for {prompt_tokens} prompt tokens, "
          f"decode {out['decode']:.1f} tok/s ({backend.anchors_reason}; {backend.prompt_path_reason})", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    anchors = default_anchor_paths()
    results = {}

    plain = LlamaCppBackend(merge=False, prompt_path="llama")
    plain.load(None, [])
    results["plain"] = run("plain llama.cpp, shipped Q4_1, no anchors (baseline)", plain, args.reps, False)
    plain.close()

    own = LlamaCppBackend(prompt_path="llama")
    own.load(None, anchors)
    results["llama"] = run("llama.cpp's prompt pass, the probe's layout, 3 anchors merged", own, args.reps, True)
    own.close()

    choice = recorded(cache_dir() / "working-base", embedded_model_path())
    decoders = ["keep"]
    if choice is not None:
        print(f"the layout probe's record: {choice.describe()}")
        gated = [m for m in choice.measures if m.error <= choice.gate]
        fastest = max(gated, key=lambda m: m.decode_tps).layout
        decoders = sorted({fastest, "keep"})
        seconds, prompt_layout, decode_layout = choice.two_copies_seconds(RESTYLE_WINDOW)
        print(f"item 2, from the probe's measurements: prompts on {prompt_layout} and decoding on "
              f"{decode_layout} would restyle in {seconds:.2f} s against {choice.restyle_seconds(RESTYLE_WINDOW):.2f} s "
              f"for the chosen path ({RESTYLE_WINDOW}-token window + {RESTYLE_PASSAGE} tokens)")
    for layout in decoders:
        handed = LlamaCppBackend(prompt_path="torch", working_copy=layout)
        handed.load(None, anchors)
        results[f"torch+{layout}"] = run(f"torch's prompt pass, KV handed to llama.cpp decoding on {layout}, 3 anchors",
                                         handed, args.reps, True)
        handed.close()

    base = results["plain"]
    print()
    print("| path | first token (384-token window) | prompt speed vs plain | decode tok/s | decode vs plain |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['first'] * 1000:.0f} ms | {base['first'] / r['first']:.2f}x | {r['decode']:.1f} | "
              f"{r['decode'] / base['decode']:.2f}x |")
    print("\nGoals (issue 26): prompt >= 1.6x plain and decode >= 1.0x plain at the same time.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
