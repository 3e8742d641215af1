"""Remote continue after a typed sentence: does a pinned slot spare the server reading the
document again? (issue 26, goal: at most 1.3x the physics, and the text of a request with the
cache off.)

    python -m benchmarks remote_continue [--tokens 1500] [--repeats 3]

A llama-server on loopback (packaging/build_llama_server.sh, cached) with the shipped triangle
as LoRAs at scale 0, two slots, `-fa off`, 2 threads. The document is ``--tokens`` tokens of
held-out Austen; the writer's point is the triangle's centre. One Continue reads it (the slot
is pinned to the document, `RemoteBackend.pin`), then the writer types a sentence and Continues
again: its first token is timed. The physics: the same server evaluating only the typed
sentence's tokens plus one decode step (a request whose prompt is those tokens, on the other
slot, unpinned). The baseline: the same Continue unpinned (the cache off, the whole document
read again), whose text the pinned one must equal. Printed as ratios, medians of the repeats,
with the machine.
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
from engine.backends.remote import RemoteBackend  # noqa: E402
from engine.machine import describe_machine  # noqa: E402
from engine.models.base import base_info  # noqa: E402
from engine.paths import resources_dir  # noqa: E402
from engine.sampling import SamplingConfig  # noqa: E402
from tests.test_remote import KEY, _start  # noqa: E402

TYPED = (" Elizabeth put the letter down, and for a long while she said nothing at all to her sister,",
         " The carriage was at the door before anyone had thought of what ought to be said,",
         " Mr. Darcy had not spoken since dinner, and the silence was beginning to be remarked,")


def first_token(backend: RemoteBackend, prompt: str, sampling: SamplingConfig) -> tuple[float, str]:
    result = backend.generate(prompt, sampling)
    assert result.first_token_seconds is not None
    return result.first_token_seconds, result.text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokens", type=int, default=1500)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    built = subprocess.run(["bash", str(ROOT / "packaging" / "build_llama_server.sh")], capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"llama-server could not be built: {built.stderr[-1500:]}")
    adapters = [next(shipped_anchor(n).glob("*.gguf")) for n in ("austen", "wry", "shakespeare")]
    proc, url = _start(built.stdout.strip().splitlines()[-1], adapters, base_info(None), parallel=2)
    sampling = SamplingConfig(max_tokens=16, temperature=0.0, repetition_penalty=1.0)
    pinned_s, physics_s, fresh_s, same = [], [], [], 0
    try:
        backend = RemoteBackend(url, api_key=KEY)
        backend.load()
        backend.set_weights([1 / 3] * 3)
        words = (resources_dir() / "eval" / "austen.txt").read_text(encoding="utf-8").split()
        doc = " ".join(words[:args.tokens])
        while backend.count_tokens(doc) > args.tokens:
            doc = doc[:int(len(doc) * 0.97)]
        print(f"machine: {describe_machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
              f"a {backend.count_tokens(doc)}-token document, llama-server -np 2 -fa off -t 2", flush=True)
        for r in range(args.repeats):
            typed = TYPED[r % len(TYPED)]
            backend.pin(f"story-{r}.md")
            backend.generate(doc, sampling)  # the first Continue: the slot reads the document
            seconds, text = first_token(backend, doc + typed, sampling)
            cached = backend.last_cached
            backend.pin(None)
            fresh_seconds, fresh_text = first_token(backend, doc + typed, sampling)
            new_tokens = backend.count_tokens(doc + typed) - cached
            physics, _ = first_token(backend, typed, SamplingConfig(max_tokens=1, temperature=0.0))
            pinned_s.append(seconds)
            fresh_s.append(fresh_seconds)
            physics_s.append(physics)
            same += text == fresh_text
            print(f"repeat {r + 1}: pinned {seconds * 1000:.0f} ms ({cached} tokens from the slot's cache, "
                  f"{new_tokens} read), cache off {fresh_seconds * 1000:.0f} ms, physics "
                  f"({backend.count_tokens(typed)} tokens + one decode step) {physics * 1000:.0f} ms; "
                  f"text {'equal' if text == fresh_text else 'DIFFERENT'}", flush=True)
        backend.close()
    finally:
        proc.kill()
        proc.wait()
    p, f, ph = statistics.median(pinned_s), statistics.median(fresh_s), statistics.median(physics_s)
    print(f"remote continue after a typed sentence: {p * 1000:.0f} ms against the physics {ph * 1000:.0f} ms, "
          f"{p / ph:.2f}x ({'PASS' if p <= 1.3 * ph else 'MISS'}, goal <= 1.3x); the cache off "
          f"{f * 1000:.0f} ms ({f / p:.1f}x slower); texts equal to the cache off: {same} of {args.repeats} "
          f"({'PASS' if same == args.repeats else 'MISS'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
