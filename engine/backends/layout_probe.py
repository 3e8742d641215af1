"""The working copy's layout chosen by measurement on the writer's CPU, not by a CPU flag.

Merged anchors run on a working copy of the base model (``llama_merge``): the matrices an anchor
targets are F16, and the others can be stored as the file has them ("keep", Q4_1 for the
embedded model) or as f32, f16, bf16 or q8_0. Which is fastest depends on the CPU's kernels: on
an AVX512-BF16 CPU the BF16 copy evaluated prompts about 1.8x faster than Q4_1, on an AVX2 one
not at all (docs/benchmarks.md). So at the first merged load of the embedded model with the
layout "auto", each candidate is made (cached like every working copy) and measured here:

- speed: a ``PROBE_TOKENS``-token prompt evaluated whole (best of two) and ``DECODE_STEPS``
  decode steps, with the backend's threads; scored as the time of a restyle, the default style
  window's prompt plus a 40-token passage (``restyle_seconds``);
- quality: the mean |log-prob error| of the probe text's tokens against the f32 layout (the
  file's weights in fp32, what torch's fp32 pass computes too).

The gate: no worse than the layout the rule before this probe gave (bf16 where llama.cpp
reports native BF16, else keep). Among the layouts that pass it, the shortest restyle wins,
unless torch's fp32 prompt pass (timed with its KV hand-over, ``kv_handoff``) with the gated
layout that decodes fastest gives a shorter one: then torch evaluates prompts and that layout
decodes (``prompt_path`` "torch"). ``two_copies_seconds`` says what prompting on one layout
and decoding on another would give, from the same measurements. The
choice and every measurement are kept per CPU, llama.cpp build and model file in
``cache_dir()/layout-probe.json``; `prosemix info` shows them, and a new CPU or build measures
again. The working copies that lost are deleted (the f32 one is the model's size four times
over).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from engine.errors import ModelError
from engine.sampling import DEFAULT_STYLE_WINDOW
from engine.backends import llama_private as private

log = logging.getLogger(__name__)

CANDIDATES = ("keep", "f32", "f16", "bf16", "q8_0")
PROBE_TOKENS = 192
DECODE_STEPS = 16
RESTYLE_PASSAGE = 40  # tokens of a restyled passage (the desk's restyle, benchmarks/drag_preview.py)
RESTYLE_WINDOW = DEFAULT_STYLE_WINDOW
_VERSION = 2  # 2: torch's prompt pass measured too

# An original passage (no source text needed at run time), long enough for PROBE_TOKENS tokens.
PROBE_TEXT = (
    "The house at the end of the lane had been empty for three winters before the Marlowes took "
    "it, and the village, which had settled long ago what it thought of empty houses, was obliged "
    "to begin again. Mrs. Marlowe called on nobody for a fortnight. Her husband was seen twice at "
    "the post office, where he asked for letters that had not come, and once on the bridge, where "
    "he stood a long while looking at the water as if he expected it to explain itself. The "
    "children were seen everywhere. They climbed the churchyard wall, they counted the geese on "
    "the green and gave each of them a name, and they told the baker's boy that their father had "
    "once been a sailor and had seen a whale as long as the high street. Nobody believed this, and "
    "everybody repeated it. By the third Sunday the rector had decided that something ought to be "
    "done, though he could not have said what, and his sister had decided that she would do it, "
    "which was a different thing altogether. She put on her grey bonnet, took a jar of the good "
    "preserves and not the other kind, and walked up the lane in the rain with the air of a woman "
    "who has made up her mind to be pleased whatever she finds. What she found was a kitchen full "
    "of steam, a kettle singing on the fire, and Mrs. Marlowe on her knees among a great many "
    "books, reading one of them aloud to a cat that was not listening."
)


@dataclass(frozen=True)
class LayoutMeasure:
    layout: str
    prompt_tps: float
    decode_tps: float
    error: float  # mean |log-prob error| against f32

    def restyle_seconds(self, window: int) -> float:
        return window / self.prompt_tps + RESTYLE_PASSAGE / self.decode_tps


@dataclass(frozen=True)
class LayoutChoice:
    layout: str
    gate: float  # the error the choice had to stay within
    gate_layout: str  # the layout that set it
    measures: tuple[LayoutMeasure, ...]
    seconds: float  # the probe's own time, working copies included
    key: str = ""
    prompt_path: str = "llama"  # who evaluates prompts: llama.cpp, or torch (kv_handoff)
    torch_tps: float = 0.0  # torch's prompt pass with the hand-over, tok/s (0: not measured)

    def describe(self) -> str:
        rows = ", ".join(f"{m.layout} {m.prompt_tps:.0f}/{m.decode_tps:.0f} tok/s err {m.error:.3f}"
                         for m in self.measures)
        path = ("prompts by torch, decoding by llama.cpp; " if self.prompt_path == "torch" else "")
        torch_row = f"; torch's prompt pass {self.torch_tps:.0f} tok/s" if self.torch_tps else ""
        return (f"{self.layout} ({path}measured: prompt/decode {rows}{torch_row}; gate err <= "
                f"{self.gate:.3f}, {self.gate_layout})")

    def two_copies_seconds(self, window: int) -> tuple[float, str, str]:
        """The quickest restyle prompts on one gated copy and decoding on another would give
        with the two layouts: what that design could buy here."""
        passing = [m for m in self.measures if m.error <= self.gate]
        best = min(((window / p.prompt_tps + RESTYLE_PASSAGE / d.decode_tps, p.layout, d.layout)
                    for p in passing for d in passing), default=(float("inf"), "", ""))
        return best

    def restyle_seconds(self, window: int) -> float:
        """A restyle on the chosen path, from the measurements."""
        chosen = next(m for m in self.measures if m.layout == self.layout)
        if self.prompt_path == "torch":
            return window / self.torch_tps + RESTYLE_PASSAGE / chosen.decode_tps
        return chosen.restyle_seconds(window)


def probe_key(model: Path, targets: Sequence[str]) -> str:
    """What the measurement depends on: the CPU and its features, llama.cpp's build (its
    version and the system info it reports), the model file and the target matrices."""
    import llama_cpp

    from engine.machine import describe_machine

    stat = model.stat()
    return json.dumps([_VERSION, describe_machine(), getattr(llama_cpp, "__version__", "?"),
                       llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
                       str(model.resolve()), stat.st_size, stat.st_mtime_ns, len(targets)])


def cached(path: Path, key: str) -> LayoutChoice | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entry = data[key]
        return LayoutChoice(entry["layout"], entry["gate"], entry["gate_layout"],
                            tuple(LayoutMeasure(**m) for m in entry["measures"]), entry["seconds"], key,
                            entry.get("prompt_path", "llama"), entry.get("torch_tps", 0.0))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recorded(cache: Path, model: Path) -> LayoutChoice | None:
    """What was measured for ``model`` on this CPU and llama.cpp build (any anchors), for
    `prosemix info`; None when nothing was yet (the first merged load measures)."""
    want = json.loads(probe_key(model, ()))[:-1]
    path = cache / "layout-probe.json"
    try:
        keys = json.loads(path.read_text(encoding="utf-8")).keys()
    except (OSError, ValueError, AttributeError):
        return None
    for key in keys:
        try:
            same = json.loads(key)[:-1] == want
        except ValueError:
            continue
        if same:
            return cached(path, key)
    return None


def store(path: Path, choice: LayoutChoice) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}  # a damaged file is measured again
    entry = asdict(choice)
    entry.pop("key")
    data[choice.key] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


def measure(layout: str, model_path: Path, tokens: list[int], n_threads: int, reference: np.ndarray | None
            ) -> tuple[LayoutMeasure, np.ndarray, list[int]]:
    """Time one working copy and score its log-probabilities (``reference``: the f32 ones;
    None while measuring f32 itself). Returns the measure, this copy's log-probabilities and
    the probe's tokens (made here when ``tokens`` is empty)."""
    from engine.backends.llama_amx import open_llama

    llm = open_llama(model_path=str(model_path), n_ctx=512, n_batch=512, n_threads=n_threads,
                logits_all=True, use_mmap=True, verbose=False)
    try:
        tokens = tokens or list(llm.tokenize(PROBE_TEXT.encode("utf-8"), add_bos=True))[:PROBE_TOKENS]
        if len(tokens) < PROBE_TOKENS:
            raise ModelError(f"the layout probe needs {PROBE_TOKENS} tokens of text, the model made {len(tokens)}")
        llm.eval(tokens)
        logits = np.asarray(llm.scores[:len(tokens) - 1], dtype=np.float64)
        top = logits.max(axis=1, keepdims=True)
        norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        logprobs = logits[np.arange(len(tokens) - 1), tokens[1:]] - norm
        private.last_logits_only(llm)  # timing: as a generation asks
        prompt = float("inf")
        for _ in range(2):
            llm.reset()
            start = time.perf_counter()
            llm.eval(tokens)
            prompt = min(prompt, time.perf_counter() - start)
        start = time.perf_counter()
        for token in tokens[:DECODE_STEPS]:
            llm.eval([token])
        decode = time.perf_counter() - start
    finally:
        llm.close()
    error = 0.0 if reference is None else float(np.abs(logprobs - reference).mean())
    return LayoutMeasure(layout, len(tokens) / prompt, DECODE_STEPS / decode, error), logprobs, tokens


def choose_by_probe(model: Path, targets: Sequence[str], cache: Path, n_threads: int,
                    make: Callable[[str], Path], legacy: str, window: int = RESTYLE_WINDOW,
                    progress: Callable[[str], None] = lambda message: None,
                    candidates: Sequence[str] = CANDIDATES,
                    torch_pass: Callable[[list[int]], float] | None = None) -> LayoutChoice:
    """The measured layout for ``model`` (see the module): from the cache when this CPU, build
    and model were measured before, else measured now. ``make(layout)`` makes (or finds) that
    working copy and returns its path; ``legacy`` is the layout the flag rule gave (the gate).
    ``torch_pass(tokens)``, where torch is installed, times torch's prompt pass with the KV
    hand-over (seconds per token): where a restyle with torch's prompts and the best gated
    layout's decoding is quicker than every layout alone, prompts go to torch."""
    record = cache / "layout-probe.json"
    key = probe_key(model, targets)
    found = cached(record, key)
    if found is not None and found.layout in candidates:
        return found
    started = time.perf_counter()
    tokens: list[int] = []
    order = ["f32"] + [c for c in candidates if c != "f32"]  # the reference first
    measures: list[LayoutMeasure] = []
    reference: np.ndarray | None = None
    paths = {}
    for layout in order:
        progress(f"measuring this CPU: the working copy as {layout} (once)")
        paths[layout] = make(layout)
        m, logprobs, tokens = measure(layout, paths[layout], tokens, n_threads, reference)
        if reference is None:
            reference = logprobs
        measures.append(m)
        log.info("layout %s: prompt %.0f tok/s, decode %.1f tok/s, error %.4f", layout, m.prompt_tps,
                 m.decode_tps, m.error)
    by_name = {m.layout: m for m in measures}
    gate_layout = legacy if legacy in by_name else "keep"
    gate = by_name[gate_layout].error
    passing = [m for m in measures if m.layout in candidates and m.error <= gate]
    best = min(passing, key=lambda m: m.restyle_seconds(window))
    prompt_path, torch_tps = "llama", 0.0
    if torch_pass is not None:
        progress("measuring this CPU: torch's prompt pass (once)")
        try:
            torch_tps = 1.0 / torch_pass(tokens)
        except (ModelError, OSError, RuntimeError) as exc:
            log.warning("torch's prompt pass could not be measured: %s", exc)
        log.info("torch's prompt pass: %.0f tok/s", torch_tps)
        decoder = max(passing, key=lambda m: m.decode_tps)
        if torch_tps and (window / torch_tps + RESTYLE_PASSAGE / decoder.decode_tps
                          < best.restyle_seconds(window)):
            best, prompt_path = decoder, "torch"
    choice = LayoutChoice(best.layout, gate, gate_layout,
                          tuple(m for m in measures if m.layout in candidates),
                          round(time.perf_counter() - started, 1), key, prompt_path, round(torch_tps, 1))
    for layout, path in paths.items():
        if layout != best.layout:
            path.unlink(missing_ok=True)  # made again if ever asked for by name
    store(record, choice)
    return choice
