"""Texts the embedded model writes at a few points and seeds, pinned so that a change of the
code's shape cannot change what it writes. `python tests/pinned_texts.py` writes
tests/data/pinned_texts.json on this machine; the test compares against it.

The numbers llama.cpp and torch compute depend on the CPU's kernels, so the pins carry the CPU
features they were made with and are only compared on a CPU with the same ones. The llama
working copy is named (bf16, what the layout probe chose when they were made), not measured
again: the probe's choice between close layouts can change from run to run."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINS = ROOT / "tests" / "data" / "pinned_texts.json"
PROMPTS = ("The letter arrived on a wet Tuesday, and", "She had never liked the sea.\n\n")
# (backend, weights, strength, seed, temperature)
CASES = (("llama", (1.0, 0.0, 0.0), 1.0, 0, 0.8),
         ("llama", (0.34, 0.33, 0.33), 1.0, 1, 0.8),
         ("llama", (0.2, 0.5, 0.3), 0.7, 2, 0.8),
         ("llama", (0.0, 0.0, 1.0), 1.0, 0, 0.0),
         ("torch", (0.5, 0.5, 0.0), 1.0, 3, 0.8),
         ("torch", (0.34, 0.33, 0.33), 1.0, 0, 0.0))
TOKENS = 32


def machine_key() -> str:
    from engine.machine import cpu_features

    return " ".join(cpu_features()) or "unknown"


def write_all() -> list[dict]:
    from engine.anchors.shipped import default_anchor_paths
    from engine.backends import BackendSpec, open_backend
    from engine.backends.settings import EngineSettings
    from engine.sampling import SamplingConfig

    out: list[dict] = []
    for name in ("llama", "torch"):
        extra = {"dtype": "float32", "device": "cpu"} if name == "torch" \
            else {"settings": EngineSettings(prompt_path="llama"), "working_copy": "bf16"}
        backend = open_backend(BackendSpec(backend=name, **extra), default_anchor_paths())
        try:
            for case in CASES:
                if case[0] != name:
                    continue
                _, weights, strength, seed, temperature = case
                backend.set_weights(list(weights), strength=strength)
                for prompt in PROMPTS:
                    sampling = SamplingConfig(max_tokens=TOKENS, seed=seed, temperature=temperature)
                    text = backend.generate(prompt, sampling).text
                    out.append({"backend": name, "weights": list(weights), "strength": strength,
                                "seed": seed, "temperature": temperature, "prompt": prompt, "text": text})
        finally:
            backend.close()
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    texts = write_all()
    PINS.parent.mkdir(parents=True, exist_ok=True)
    PINS.write_text(json.dumps({"cpu_features": machine_key(), "texts": texts}, indent=1,
                               ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(texts)} texts to {PINS}")
