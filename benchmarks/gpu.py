"""Goal 7 of the performance issue: the torch backend on a GPU, in one short prepared script.

    python -m benchmarks gpu --size 1b          # on a CUDA machine (default device)
    python -m benchmarks gpu --size tiny --device cpu --dtype float32   # a dry run

No download: the model is a llama-architecture network of the chosen shape with random weights
(merge and decode speed do not depend on the values), saved in the chosen dtype beside the
embedded model's tokenizer; three random rank-16 q/k/v/o anchors are made for it. Measured
side by side on the device, medians of --reps:

- re-merge per weight change: our LowRankMerger (one batched baddbmm per shape group) against
  peft's add_weighted_adapter(cat) + set_adapter on the same model and anchors;
- decode tok/s: our TorchBackend (merged point, greedy) against plain transformers
  ``generate`` on the base model, both 128 new tokens after the same prompt.

Prints a table and, with --out, appends it (device named, date, command) to that Markdown file.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHAPES = {  # hidden, intermediate, layers, heads, kv heads
    "tiny": (256, 688, 4, 8, 2),
    "1b": (2048, 5632, 22, 32, 4),      # TinyLlama-1.1B's shape
    "3b": (3072, 8192, 28, 24, 8),      # Llama-3.2-3B's shape
    "8b": (4096, 14336, 32, 32, 8),     # Llama-3-8B's shape
}
PROMPT = "It was a bright cold day in April, and the clocks were striking thirteen."


def build_model(folder: Path, size: str, dtype: str) -> int:
    """Save a random model of shape ``size`` with the embedded model's tokenizer; return its
    parameter count."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from engine.models.float_copy import float_copy_of_gguf
    from engine.models.base import embedded_model_path

    tokenizer = AutoTokenizer.from_pretrained(str(float_copy_of_gguf(embedded_model_path())))
    hidden, inter, layers, heads, kv = SHAPES[size]
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=inter,
                         num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=kv, max_position_embeddings=2048,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SHAPES), default="1b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16", "float32"))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, help="append the results to this Markdown file")
    args = parser.parse_args()

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from engine.backends.torch import TorchBackend
    from engine.models.base import base_info
    from engine.sampling import SamplingConfig
    from tests.synthetic import write_random_peft

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu for a dry run", file=sys.stderr)
        return 2
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / f"random-{args.size}"
        n_params = build_model(folder, args.size, args.dtype)
        info = base_info(folder)
        anchors = [write_random_peft(Path(tmp) / f"a{i}", info, rank=16, alpha=32, seed=i,
                                     strength=0.01, dtype="float32") for i in range(3)]
        points = [(0.6, 0.3, 0.1), (0.1, 0.6, 0.3), (0.3, 0.1, 0.6), (0.2, 0.5, 0.3)]

        backend = TorchBackend(device=args.device, dtype=args.dtype)
        backend.load(folder, anchors)
        ours = []
        for k in range(args.reps * 2):
            backend.merger.values = None
            sync(args.device)
            t = time.perf_counter()
            backend.merger.set_weights(points[k % len(points)])
            sync(args.device)
            ours.append(time.perf_counter() - t)

        decode = SamplingConfig(max_tokens=args.tokens, temperature=0, repetition_penalty=1.0)
        backend.set_weights(points[0])
        backend.generate(PROMPT, decode)  # warm-up
        our_tps = [backend.generate(PROMPT, decode).tokens_per_second for _ in range(args.reps)]
        backend.close()
        del backend

        plain = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, args.dtype)).to(args.device)
        plain.eval()
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        plain_ids = tokenizer(PROMPT, return_tensors="pt").input_ids.to(args.device)

        def hf_generate(n: int) -> float:
            sync(args.device)
            t = time.perf_counter()
            with torch.no_grad():
                plain.generate(plain_ids, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                               pad_token_id=tokenizer.eos_token_id)
            sync(args.device)
            return time.perf_counter() - t

        hf_generate(4)  # warm-up
        hf_tps = []
        for _ in range(args.reps):
            prefill = hf_generate(1)
            hf_tps.append((args.tokens - 1) / max(hf_generate(args.tokens) - prefill, 1e-9))

        peft_model = PeftModel.from_pretrained(plain, str(anchors[0]), adapter_name="a0")
        for i, path in enumerate(anchors[1:], start=1):
            peft_model.load_adapter(str(path), adapter_name=f"a{i}")
        names = [f"a{i}" for i in range(3)]
        peft_times = []
        for k in range(args.reps):
            sync(args.device)
            t = time.perf_counter()
            peft_model.add_weighted_adapter(names, list(points[k % len(points)]), "mix",
                                            combination_type="cat")
            peft_model.set_adapter("mix")
            sync(args.device)
            peft_times.append(time.perf_counter() - t)
            peft_model.delete_adapter("mix")

    med = statistics.median
    rows.append(("torch re-merge per weight change", f"{med(ours) * 1000:.1f} ms",
                 f"peft add_weighted_adapter(cat) {med(peft_times) * 1000:.1f} ms",
                 f"{med(peft_times) / med(ours):.1f}x faster"))
    rows.append(("torch decode at a merged point", f"{med(our_tps):.1f} tok/s",
                 f"transformers generate on the base {med(hf_tps):.1f} tok/s",
                 f"{med(our_tps) / med(hf_tps):.2f}x"))
    header = (f"GPU benchmark (goal 7): {device_name}, {args.size} shape ({n_params / 1e9:.2f} B "
              f"parameters, random weights), {args.dtype}, three rank-16 q/k/v/o anchors, "
              f"medians of {args.reps}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
              f"`python -m benchmarks gpu --size {args.size} --device {args.device} --dtype {args.dtype}`")
    lines = [header, "", "| measure | ours | baseline | ratio |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
