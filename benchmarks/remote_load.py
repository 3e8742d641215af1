"""A room of writers on one llama-server: throughput and first-token latency, and whether every
writer gets their own point's text.

    python -m benchmarks remote_load [--writers 8] [--slots 4] [--tokens 48] [--rounds 3] [--rpc]

A llama-server (packaging/build_llama_server.sh, cached) on loopback with the shipped triangle
(austen, wry, shakespeare) as LoRAs at scale 0 and ``--slots`` parallel slots, `-fa off`, 2
threads. ``--writers`` writers stand at as many different points of the triangle (its corners,
edge midpoints, centre and two more). Each round, every point's text is first asked for alone
(the baseline: one writer at a time), then by all writers at once. Printed: the texts that
differ from their point's own (goal: none), none lost, the throughput (all tokens over the
wall time) against one writer at a time, and the median and p95 first-token latency, with the
machine. With --rpc the model's layers live on two ggml-rpc-servers on loopback (llama.cpp's
RPC backend, `-ngl 99`; loopback stands in for two machines), the llama-server in front.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.anchors.shipped import shipped_anchor  # noqa: E402
from engine.machine import describe_machine  # noqa: E402
from engine.models.base import base_info  # noqa: E402
from engine.sampling import SamplingConfig  # noqa: E402
from tests.test_remote import _rpc_server, _start, room_of_writers  # noqa: E402

PROMPTS = ("The letter arrived on a grey morning, and", "She had not expected the stranger to",
           "When the bells of the town fell silent,")
POINTS = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.5, 0.5, 0.0), (0.0, 0.5, 0.5),
          (0.5, 0.0, 0.5), (1 / 3, 1 / 3, 1 / 3), (0.6, 0.2, 0.2), (0.2, 0.6, 0.2), (0.2, 0.2, 0.6)]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rpc", action="store_true", help="the model on two rpc-servers on loopback")
    args = ap.parse_args()
    if not 1 <= args.writers <= len(POINTS):
        raise SystemExit(f"--writers must be 1..{len(POINTS)}")
    built = subprocess.run(["bash", str(ROOT / "packaging" / "build_llama_server.sh"), *(["--rpc"] if args.rpc else [])],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"llama-server could not be built: {built.stderr[-1500:]}")
    found = Path(built.stdout.strip().splitlines()[-1])
    workers = [_rpc_server(found) for _ in range(2)] if args.rpc else []
    binary = str(found / "llama-server") if args.rpc else str(found)
    extra = ("--rpc", ",".join(a for _, a in workers), "-ngl", "99") if args.rpc else ()
    adapters = [next(shipped_anchor(n).glob("*.gguf")) for n in ("austen", "wry", "shakespeare")]
    proc, url = _start(binary, adapters, base_info(None), parallel=args.slots, extra=extra)
    points = POINTS[:args.writers]
    sampling = SamplingConfig(max_tokens=args.tokens, temperature=0.0, repetition_penalty=1.0)
    print(f"machine: {describe_machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"llama-server -np {args.slots}, {args.writers} writers, {args.tokens} tokens each, "
          f"{args.rounds} rounds{', the model on two rpc-servers' if args.rpc else ''}", flush=True)
    mixed, lost, firsts, alone_s, together_s, tokens = 0, 0, [], 0.0, 0.0, 0
    try:
        for r in range(args.rounds):
            room = room_of_writers(url, points, PROMPTS[r % len(PROMPTS)], sampling)
            alone_s += room.alone_seconds
            together_s += room.together_seconds
            lost += len(points) - len(room.together)
            differ = sum(room.together[w][0] != room.alone[w] for w in room.together)
            mixed += differ
            firsts += [f for _, f, _ in room.together.values() if f is not None]
            tokens += sum(n for _, _, n in room.together.values())
            print(f"round {r + 1}: {len(room.together)} of {len(points)} texts back, {differ} differ from "
                  f"their point's own, errors: {room.errors or 'none'}", flush=True)
    finally:
        proc.kill()
        proc.wait()
        for worker, _ in workers:
            worker.kill()
            worker.wait()
    print(f"texts that differ from their point's own: {mixed} of {args.rounds * len(points)}, lost {lost} "
          f"({'PASS' if mixed == 0 and lost == 0 else 'MISS'})")
    print(f"throughput: all {args.writers} at once {tokens / together_s:.1f} tokens/s, one writer at a time "
          f"{tokens / alone_s:.1f} tokens/s (the same tokens): {alone_s / together_s:.2f}x")
    print(f"first token with all at once: median {statistics.median(firsts) * 1000:.0f} ms, "
          f"p95 {p95(firsts) * 1000:.0f} ms (of {len(firsts)} requests, each from its request's start)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
