"""Options and helpers that several commands share: one place for each, so a default or a
backend choice is spelled the same way in every command. The defaults come from the engine
(SamplingConfig, BackendSpec), never from literals here."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import IO, Callable, Sequence

from engine.backends import BACKENDS, BackendSpec, open_backend
from engine.backends.base import Backend
from engine.backends.spec import LAYOUTS
from engine.backends.settings import PROMPT_PATHS, EngineSettings
from engine.errors import ProsemixError
from engine.sampling import SamplingConfig

EXIT_BAD_INPUT = 2
Handler = Callable[[argparse.Namespace], int]
SubParsers = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_model_options(p: argparse.ArgumentParser) -> None:
    spec = BackendSpec()
    p.add_argument("--model", help="a GGUF file or Hugging Face folder (default: embedded SmolLM2-135M-Instruct)")
    p.add_argument("--backend", default=spec.backend, choices=("auto", *BACKENDS),
                   help="auto: llama.cpp for a GGUF file, torch for a Hugging Face folder")
    p.add_argument("--server", help="remote backend: the llama-server URL, e.g. http://host:8080")
    p.add_argument("--api-key", default=os.environ.get("PROSEMIX_API_KEY"),
                   help="remote backend: API key (or PROSEMIX_API_KEY)")
    p.add_argument("--device", default=spec.device, help="torch backend: auto, cpu, cuda, mps")
    p.add_argument("--dtype", default=spec.dtype, help="torch backend: auto, float32, float16, bfloat16")
    p.add_argument("--gpu-layers", type=int, default=spec.gpu_layers,
                   help="llama backend: layers to offload to the GPU (-1: all; needs a GPU build "
                        "of llama-cpp-python)")
    p.add_argument("--n-ctx", type=int, default=spec.n_ctx, help="context size in tokens")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow adapter_model.bin pickle checkpoints (loaded with weights_only=True)")
    # what the engine measures for itself; for benchmarks and for tracking a problem down
    tune = p.add_argument_group("measuring the engine (not needed for writing)")
    tune.add_argument("--working-copy", default=spec.working_copy, choices=("auto", *LAYOUTS),
                      help="llama backend, merged anchors: how the working copy stores the matrices "
                           "no anchor targets. auto: for the embedded model, the layout measured "
                           "fastest on this CPU at the first load (`prosemix info` shows it); your own "
                           "models keep their format")
    tune.add_argument("--prompt-path", default=None, choices=PROMPT_PATHS,
                      help="llama backend: who evaluates prompts (torch: its fp32 pass, the KV handed "
                           "to llama.cpp). Default: PROSEMIX_PROMPT_PATH, else what the first load "
                           "measured quicker on this CPU")


def add_sampling_options(p: argparse.ArgumentParser, **overrides: object) -> None:
    """Sampling flags whose defaults are SamplingConfig's (``overrides`` for a command whose
    own default differs on purpose, such as a sweep's short samples)."""
    d = SamplingConfig()
    p.add_argument("--max-tokens", type=int, default=overrides.get("max_tokens", d.max_tokens),
                   help="the most tokens to write")
    p.add_argument("--temperature", type=float, default=overrides.get("temperature", d.temperature),
                   help="0 is greedy; higher is more varied")
    p.add_argument("--top-p", type=float, default=d.top_p, help="nucleus sampling: the share of probability kept")
    p.add_argument("--top-k", type=int, default=d.top_k, help="sample among the K likeliest tokens (0: all)")
    p.add_argument("--repetition-penalty", type=float, default=d.repetition_penalty,
                   help="how much a token already in the context is held back (1: not at all)")
    p.add_argument("--dry", type=float, default=d.dry, metavar="MULTIPLIER",
                   help="no repeats: the DRY penalty on writing a run of the context again (0 off; 0.8 usual)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="the same seed, point and prompt give the same text")


def sampling_from_args(args: argparse.Namespace, **extra: object) -> SamplingConfig:
    return SamplingConfig(max_tokens=args.max_tokens, temperature=args.temperature,
                          top_p=args.top_p, top_k=args.top_k,
                          repetition_penalty=args.repetition_penalty, dry=args.dry, seed=args.seed,
                          **extra)  # type: ignore[arg-type]  # stop/chat, checked by SamplingConfig


def spec_from_args(args: argparse.Namespace) -> BackendSpec:
    settings = EngineSettings.from_environment()
    if args.prompt_path:
        settings = replace(settings, prompt_path=args.prompt_path)
    return BackendSpec(model=args.model, backend=args.backend, device=args.device,
                       dtype=args.dtype, gpu_layers=args.gpu_layers, n_ctx=args.n_ctx,
                       working_copy=args.working_copy, server=args.server, api_key=args.api_key,
                       allow_pickle=args.allow_pickle, settings=settings)


def resolve_anchor_args(items: Sequence[str] | None) -> list[Path]:
    """Paths, or shipped anchors' names; none given: the shipped triangle."""
    from engine.anchors.shipped import default_anchor_paths, shipped_anchor

    if not items:
        return default_anchor_paths()
    out = []
    for item in items:
        path = Path(item).expanduser()
        if path.exists():
            out.append(path)
        elif shipped := shipped_anchor(item):
            out.append(shipped)
        else:
            raise ProsemixError(f"anchor not found: {item!r} is neither a path nor a shipped anchor")
    return out


def open_from_args(args: argparse.Namespace, anchor_items: Sequence[str] | None) -> Backend:
    """Open the backend the model options ask for. Remote anchors may be names the server
    holds, so they are passed on as given; local ones are resolved to paths."""
    spec = spec_from_args(args)
    anchors: Sequence[str | Path] = list(anchor_items or []) if spec.remote \
        else resolve_anchor_args(anchor_items)
    return open_backend(spec, anchors)


def fmt_seconds(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class ProgressBar:
    """A one-line progress bar with ETA on stderr, for anything with step/total/seconds."""

    def __init__(self, label: str, stream: IO[str] = sys.stderr, width: int = 28):
        self.label, self.stream, self.width = label, stream, width

    def update(self, step: int, total: int, seconds: float, eta: float, loss: float = float("nan"),
               message: str = "") -> None:
        if total <= 0 or message:
            if message:
                self.stream.write(f"\r{self.label}: {message}\033[K\n")
            return
        done = int(self.width * step / total)
        shown = f" loss {loss:.3f}" if loss == loss else ""
        self.stream.write(f"\r{self.label} [{'#' * done}{'.' * (self.width - done)}] "
                          f"{step}/{total}{shown} elapsed {fmt_seconds(seconds)} "
                          f"ETA {fmt_seconds(eta)}\033[K")
        if step == total:
            self.stream.write("\n")
        self.stream.flush()
