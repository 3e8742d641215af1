"""Which method makes a writer's voice from one page: recognisability per second.

    python -m benchmarks voice_methods [--authors melville,edgeworth] [--scales 0.5,1,2,4]

For each author (benchmarks/voice.py's books, judge and page), one page (about 700 words) is
made into a voice three ways, each timed in a fresh process, everything included:

- lora: `prosemix voice` (the few-step LoRA recipe of engine/training/voice.py);
- vector: an activation style vector (engine/training/style_vector.py): per layer, the mean
  hidden state of the page minus that of the base model's own continuations of the page's
  openings, added to each layer's output at strength s (llama.cpp's control vectors);
- lora+vector: the LoRA voice at weight 1 with the vector added at strength s.

Each is judged as benchmarks/voice.py judges: styles_report's 12 openings x 2 seeds x 60
tokens at temperature 0.8 from the llama.cpp backend, the share the judge takes for the author,
and the share of degenerate samples (engine.fluency). The strengths are all
reported, none chosen on these samples. Printed one line per author, method and strength, with
the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.machine import describe_machine  # noqa: E402


def make_vector(page: Path, out: Path) -> None:
    """The vector of the text in ``page``, saved as .npy (run in its own process)."""
    import numpy as np

    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.backends.torch import TorchBackend
    from engine.sampling import SamplingConfig
    from engine.training.style_vector import openings, style_vector

    text = page.read_text(encoding="utf-8")
    base = LlamaCppBackend()
    base.load(None, [])
    own = []
    for k, opening in enumerate(openings(text)):
        own.append(opening + base.generate(opening, SamplingConfig(max_tokens=60, temperature=0.8, seed=k)).text)
    base.close()
    torch_backend = TorchBackend(device="cpu", dtype="float32")
    torch_backend.load(None, [])
    vector = style_vector(torch_backend.model, torch_backend.tokenizer, [text], own)
    torch_backend.close()
    np.save(out, vector)


def timed_vector(text: str, out: Path) -> float:
    page = out.with_suffix(".txt")
    page.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    r = subprocess.run([sys.executable, __file__, "--make-vector", str(page), str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"making the vector failed: {r.stderr[-2000:]}")
    return time.perf_counter() - start


def judge_with(anchors: list[Path], vector, scale: float, author: str, classifier) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(share recognised as the author, share degenerate) at the voice's corner."""
    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.fluency import degenerate
    from benchmarks.styles_report import samples

    backend = LlamaCppBackend()
    backend.load(None, anchors)
    backend.set_control_vector(vector, scale)
    texts = [t for t, _ in samples(backend, [1.0] * len(anchors))]
    backend.close()
    probs = classifier.probabilities(texts)
    share = sum(max(p, key=p.__getitem__) == author for p in probs) / len(probs)
    return share, sum(degenerate(t) is not None for t in texts) / len(texts)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--make-vector":
        make_vector(Path(sys.argv[2]), Path(sys.argv[3]))
        return 0
    import numpy as np

    from benchmarks.voice import author_judge, book_halves, make, pages

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--authors", default="melville,edgeworth")
    ap.add_argument("--scales", default="0.5,1,2,4")
    ap.add_argument("--corpora", default=str(ROOT / "corpora"))
    args = ap.parse_args()
    corpora = Path(args.corpora)
    scales = [float(s) for s in args.scales.split(",")]
    print(f"machine: {describe_machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="prosemix-voice-methods-"))
    rows = []
    for author in args.authors.split(","):
        first, second = book_halves(corpora, author)
        classifier = author_judge(author, second, corpora)
        page = pages(first, 1)
        base_share, base_bad = judge_with([], None, 0.0, author, classifier)
        print(f"{author}: the base model (s = 0) recognised as {author} {base_share:.0%}, degenerate {base_bad:.0%}",
              flush=True)
        lora = make(page, f"{author}-1", work / f"{author}-lora")
        share, bad = judge_with([work / f"{author}-lora"], None, 0.0, author, classifier)
        rows.append((author, "lora", None, lora["wall"], share, bad))
        print(f"{author}, lora: made in {lora['wall']:.1f} s; recognised {share:.0%}, degenerate {bad:.0%}; "
              f"{share / lora['wall'] * 60:.2f} recognised-share per minute", flush=True)
        vector_path = work / f"{author}-vector.npy"
        seconds = timed_vector(page, vector_path)
        vector = np.load(vector_path)
        norms = np.linalg.norm(vector, axis=1)
        print(f"{author}, vector: made in {seconds:.1f} s; per-layer norm median {np.median(norms[1:]):.2f}, "
              f"max {norms.max():.2f}", flush=True)
        for scale in scales:
            for method, anchors in (("vector", []), ("lora+vector", [work / f"{author}-lora"])):
                share, bad = judge_with(anchors, vector, scale, author, classifier)
                cost = seconds + (lora["wall"] if anchors else 0.0)
                rows.append((author, method, scale, cost, share, bad))
                print(f"{author}, {method} s={scale:g}: made in {cost:.1f} s; recognised {share:.0%}, "
                      f"degenerate {bad:.0%}; {share / cost * 60:.2f} recognised-share per minute", flush=True)
    (work / "rows.json").write_text(json.dumps(rows))
    print(f"rows: {work / 'rows.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
