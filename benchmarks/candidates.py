"""Candidates in one call (issue 14 part 2), measured (not timed tests).

    python -m benchmarks candidates [--only k|rows|sweep]

1. k: K = 1, 2, 4, 8 candidates of 60 tokens at one point (Backend.generate_candidates), on
   the embedded model with the three shipped anchors merged (the default: BF16 working copy)
   and on the plain embedded Q4_1 model, with a short prompt and with a desk-sized one (about
   380 tokens, the default style window). Ratio: wall time of K against K = 1 in the same run.
   Goal: K = 4 within 2.5x. Also prints 4 single generations in a row (Retry pressed 4 times,
   the prompt's prefix kept between them: what the desk did before).
2. rows: the physics of sharing a decode step. One llama_decode of K rows (one per candidate
   stream) against K decodes of one row, on both models; and whether a row computed in a batch
   equals the row computed alone (the rule that candidate i gives its seed's single text).
3. sweep: the 21-point triangle sweep (step 0.2, 5 prompts, 2 samples, 32 tokens: the recorded
   sweep's protocol) one sample at a time and with --batch, wall time and identical rows.
   Goal: 1.5x faster with identical text.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.machine import describe_machine  # noqa: E402
from engine.sampling import SamplingConfig  # noqa: E402

SHORT = "The lighthouse keeper opened the door and"


def desk_prompt(backend) -> str:  # type: ignore[no-untyped-def]
    text = (ROOT / "resources" / "eval" / "austen.txt").read_text(encoding="utf-8")
    words = text.split()
    n = 200
    while backend.count_tokens(" ".join(words[:n])) < 380:
        n += 20
    return " ".join(words[:n])


def backends():  # type: ignore[no-untyped-def]
    from engine.anchors.shipped import default_anchor_paths
    from engine.backends.llama_cpp import LlamaCppBackend

    merged = LlamaCppBackend()
    merged.load(None, default_anchor_paths()[:3])
    plain = LlamaCppBackend()
    plain.load()
    return [("three anchors merged (BF16 working copy)", merged), ("plain Q4_1, no anchors", plain)]


def bench_k(pairs) -> None:  # type: ignore[no-untyped-def]
    print("\n== K candidates of 60 tokens (seconds, ratio to K = 1) ==")
    for label, backend in pairs:
        for pname, prompt in (("short prompt", SHORT), ("desk prompt", desk_prompt(backend))):
            tokens = backend.count_tokens(prompt)
            sampling = SamplingConfig(max_tokens=60, temperature=0.8)
            backend.generate_candidates(prompt, sampling, [99, 98])  # warm, checks rows
            times = {}
            for k in (1, 2, 4, 8):
                best = []
                for _ in range(2):
                    backend._forget_prompt()  # each call starts from an empty cache
                    t0 = time.perf_counter()
                    backend.generate_candidates(prompt, sampling, list(range(k)))
                    best.append(time.perf_counter() - t0)
                times[k] = min(best)
            backend._forget_prompt()
            t0 = time.perf_counter()
            for seed in range(4):  # Retry pressed 4 times: the later ones keep the prompt's prefix
                backend.generate(prompt, SamplingConfig(max_tokens=60, temperature=0.8, seed=seed))
            retry4 = time.perf_counter() - t0
            shared = "share each decode" if backend.rows_invariant else "one after another"
            print(f"{label}, {pname} ({tokens} tokens), candidates {shared}:")
            for k, t in times.items():
                verdict = f"  goal <= 2.5: {'PASS' if t / times[1] <= 2.5 else 'MISS'}" if k == 4 else ""
                print(f"  K={k}: {t:.2f} s  ratio {t / times[1]:.2f}{verdict}")
            print(f"  Retry pressed 4 times (single generations, the prompt prefix kept): "
                  f"{retry4:.2f} s; K=4 takes {times[4] / retry4:.2f}x that")


def bench_rows(pairs) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from engine.backends.llama_streams import Streams

    print("\n== one decode of K rows against K decodes of one row (ms per step) ==")
    for label, backend in pairs:
        llm = backend._llm
        streams = Streams(llm, 8, 1024)
        prompt = [t % llm.n_vocab() for t in range(1000, 1380)]
        streams.decode([(t, j, 0, False) for j, t in enumerate(prompt)])
        for s in range(1, 8):
            streams.copy_stream(0, s)
        p = len(prompt)
        for k in (1, 2, 4, 8):
            for mode in ("together", "alone"):
                if k == 1 and mode == "alone":
                    continue
                steps, rows_out = 20, []
                t0 = time.perf_counter()
                for step in range(steps):
                    rows = [(500 + s, p + step, s, True) for s in range(k)]
                    if mode == "together":
                        streams.decode(rows)
                        rows_out = [streams.logits(j) for j in range(k)]
                    else:
                        rows_out = []
                        for row in rows:
                            streams.decode([row])
                            rows_out.append(streams.logits(0))
                ms = (time.perf_counter() - t0) / steps * 1000
                for s in range(8):
                    streams.drop_from(s, p)
                if mode == "together" and k > 1:
                    alone = []
                    for step in range(steps):
                        for s in range(k):
                            streams.decode([(500 + s, p + step, s, True)])
                            if step == steps - 1:
                                alone.append(streams.logits(0))
                    for s in range(8):
                        streams.drop_from(s, p)
                    diff = max(float(np.abs(a - b).max()) for a, b in zip(alone, rows_out))
                    print(f"{label}: K={k} in one decode {ms:.1f} ms/step "
                          f"(max |row - lone row| after {steps} steps: {diff:.3g})")
                else:
                    print(f"{label}: K={k} {'one row' if k == 1 else 'rows one by one'} {ms:.1f} ms/step")
        streams.close()


def bench_sweep(pairs) -> None:  # type: ignore[no-untyped-def]
    import csv

    from engine.evaluation.sweep import DEFAULT_PROMPTS, SweepConfig, plan_points, run_sweep

    label, backend = pairs[0]
    points = plan_points("simplex", backend.anchor_names, [], step=0.2)
    print(f"\n== the {len(points)}-point triangle sweep, {label} ==")
    out, rows = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (False, True):
            config = SweepConfig(prompts=list(DEFAULT_PROMPTS)[:5], samples=2, max_tokens=32,
                                 batch=batch)
            t0 = time.perf_counter()
            path = run_sweep(backend, points, [], Path(tmp) / f"{batch}.csv", config)
            out[batch] = time.perf_counter() - t0
            with open(path, newline="", encoding="utf-8") as f:
                rows[batch] = [(r["point"], r["prompt_id"], r["seed"], r["text"])
                               for r in csv.DictReader(f)]
    speed = out[False] / out[True]
    print(f"one at a time {out[False]:.1f} s, --batch {out[True]:.1f} s: {speed:.2f}x "
          f"(goal >= 1.5: {'PASS' if speed >= 1.5 else 'MISS'}); identical rows: "
          f"{rows[True] == rows[False]} ({len(rows[True])} samples)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("k", "rows", "sweep"))
    args = parser.parse_args()
    print(f"{describe_machine()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    pairs = backends()
    if args.only in (None, "k"):
        bench_k(pairs)
    if args.only in (None, "rows"):
        bench_rows(pairs)
    if args.only in (None, "sweep"):
        bench_sweep(pairs)
    for _, backend in pairs:
        backend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
