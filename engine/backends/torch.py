"""torch backend: a transformers model with the anchors merged into its weights.

The embedded GGUF is loaded dequantized through transformers once and cached as a float
Hugging Face folder in the user cache, so later loads take a fraction of the time.
Generation is a plain token loop with a seeded generator, so the same seed and weights
give the same text, and cancelling takes effect between two tokens.
"""
from __future__ import annotations

import numpy as np

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from engine.backends.spec import DTYPES
from engine.errors import BackendUnavailable, ModelError, ProsemixError
from engine.backends.torch_merge import LowRankMerger
from engine.models.float_copy import float_copy_of_gguf
from engine.sampling import DEFAULT_N_CTX, SamplingConfig
from engine.backends.base import Backend, Piece, Progress
from engine.backends.generation import StepOptions

if TYPE_CHECKING:
    import torch



def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ProsemixError("device cuda was asked for, but torch sees no CUDA GPU")
        if device == "mps" and not torch.backends.mps.is_available():
            raise ProsemixError("device mps was asked for, but Apple MPS is not available")
        return device
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(dtype: str, device: str) -> "torch.dtype":
    import torch

    if dtype not in DTYPES:
        raise ProsemixError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if device == "mps" else torch.float32
    return getattr(torch, dtype)


class TorchBackend(Backend):
    name = "torch"
    can_forbid = True
    can_top = True

    def __init__(self, n_ctx: int = DEFAULT_N_CTX, device: str = "auto", dtype: str = "auto"
                 ) -> None:
        super().__init__(n_ctx)
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailable(
                f"the torch backend is not in this build ({exc.name} is missing)") from None
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.model: Any = None  # a transformers model (typed Any: transformers is untyped here)
        self.tokenizer: Any = None
        self.merger: LowRankMerger | None = None
        self._vector: Any = None  # engine.backends.torch_vector.VectorHooks, when one is set

    def _load_model(self, path: Path, progress: Progress) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = float_copy_of_gguf(path, progress) if path.is_file() else path
        progress(f"loading {folder.name} on {self.device}", 0.7)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=self.dtype,
                                                              local_files_only=True)
            self.model = model.to(self.device)
        except Exception as exc:
            raise ModelError(f"transformers cannot load {folder}: {exc}") from None
        self.model.eval()
        self.n_ctx = min(self.n_ctx, int(getattr(self.model.config, "max_position_embeddings",
                                                  self.n_ctx)))

    def _is_loaded(self) -> bool:
        return self.model is not None

    def _vocabulary_texts(self) -> list[str] | None:
        assert self.tokenizer is not None
        return list(self.tokenizer.batch_decode([[t] for t in range(len(self.tokenizer))], skip_special_tokens=True))

    def _vocabulary_bytes(self) -> list[bytes | None]:
        """A byte-level BPE's tokens (the embedded model's; GPT-2's byte alphabet) as bytes, the
        special ones empty, and None for a token whose name is not in that alphabet."""
        assert self.tokenizer is not None
        special = set(self.tokenizer.all_special_ids)
        alphabet = {c: b for b, c in byte_alphabet().items()}
        pieces: list[bytes | None] = []
        for t, name in enumerate(self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))):
            if t in special:
                pieces.append(b"")
            elif name is None or any(c not in alphabet for c in name):
                pieces.append(None)  # not a byte-level name: ruled out nowhere
            else:
                pieces.append(bytes(alphabet[c] for c in name))
        return pieces

    def _vocab_size(self) -> int | None:
        return None if self.model is None else int(self.model.get_output_embeddings().weight.shape[0])

    def _close_model(self) -> None:
        if self._vector is not None:
            self._vector.remove()
        self.model = self.tokenizer = self.merger = self._vector = None

    def set_control_vector(self, vector: "np.ndarray | None", scale: float = 1.0) -> None:
        """Add ``scale * vector[l]`` to each decoder layer's output from now on (None: none)."""
        from engine.backends.torch_vector import VectorHooks

        if self.model is None:
            raise ModelError("no model is loaded")
        if self._vector is not None:
            self._vector.remove()
            self._vector = None
        if vector is not None and scale != 0.0:
            self._vector = VectorHooks(self.model, vector, scale).install()

    def _attach_anchors(self) -> None:
        assert self.model is not None
        modules = dict(self.model.named_modules())
        self.merger = LowRankMerger(modules, self.anchors) if self.anchors else None

    def _apply_weights(self, values: tuple[float, ...]) -> None:
        if self.merger is not None:
            self.merger.set_weights(values)

    def _tokenize(self, text: str) -> list[int]:
        assert self.tokenizer is not None
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def logits(self, text: str) -> "torch.Tensor":
        """Next-token logits after ``text`` (fp32, on the CPU): for exactness tests."""
        import torch

        assert self.model is not None
        ids = torch.tensor([self._tokenize(text)], device=self.device)
        with torch.inference_mode():
            return self.model(ids).logits[0].float().cpu()

    def _prompt(self, tokens: list[int]) -> Any:
        """The model's output for the prompt: its logits and its cache."""
        import torch

        with torch.inference_mode():
            return self.model(torch.tensor([tokens], device=self.device), use_cache=True)

    def _token_pieces(self, tokens: list[int], sampling: SamplingConfig, max_tokens: int,
                      logprobs: bool) -> Iterator[Piece]:
        step = self._take_step()
        yield from self._decode(self._prompt(tokens), tokens, sampling, max_tokens, logprobs, step)

    def _candidate_pieces(self, tokens: list[int], sampling: SamplingConfig, seeds: list[int],
                          max_tokens: int, logprobs: bool, done: set[int]
                          ) -> Iterator[tuple[int, Piece | None]]:
        """The prompt once, then each seed from a copy of its cache. Not one batch: on this
        CPU a row in a batch of K rounds differently from the same row alone (5e-5 in the
        logits here), so candidate i would not give the text of its seed's generation."""
        import copy

        prompt = self._prompt(tokens)

        def pieces_of(seed: int) -> Iterator[Piece]:
            start = copy.copy(prompt)
            start.cache = copy.deepcopy(prompt.cache)
            return self._decode(start, tokens, replace(sampling, seed=seed), max_tokens, logprobs)

        yield from self._one_by_one(seeds, done, pieces_of)

    def _decode(self, out: Any, tokens: list[int], sampling: SamplingConfig, max_tokens: int,
                logprobs: bool, step: StepOptions = StepOptions()) -> Iterator[Piece]:
        """Sample from ``out`` (the model's output for the prompt) onwards."""
        import torch

        model, tokenizer = self.model, self.tokenizer
        assert model is not None and tokenizer is not None
        generator = torch.Generator(device="cpu").manual_seed(sampling.seed)
        eos = _eos_ids(model, tokenizer)
        history = list(tokens)
        generated: list[int] = []
        emitted = ""
        with torch.inference_mode():
            for _ in range(max_tokens):
                logits = out.logits[0, -1].float().cpu()
                bias = self._step_bias(history, sampling.dry)  # the diction, the quote guard, no repeats
                if bias is not None:
                    logits = logits + torch.from_numpy(bias)
                if step.forbid_first and not generated:  # a phrase ban's rewind: not the phrase's first token
                    logits[sorted(step.forbid_first)] = -math.inf
                token = sample_next(logits, history, sampling, generator)
                if token in eos:
                    return
                logprob = float(torch.log_softmax(logits, -1)[token]) if logprobs else None
                top = None
                if step.top_k:
                    values, ids = torch.topk(torch.log_softmax(logits, -1), step.top_k)
                    top = tuple((tokenizer.decode([int(t)], skip_special_tokens=True), float(v))
                                for v, t in zip(values, ids))
                generated.append(token)
                history.append(token)
                text = tokenizer.decode(generated, skip_special_tokens=True)
                piece = "" if text.endswith("\ufffd") else text[len(emitted):]
                emitted += piece
                yield Piece(piece, logprob, token, top)
                out = model(torch.tensor([[token]], device=self.device), cache=out.cache,
                            use_cache=True)

    def _score_tokens(self, tokens: list[int]) -> list[float]:
        import torch

        assert self.model is not None
        ids = torch.tensor([tokens], device=self.device)
        with torch.inference_mode():
            logp = torch.log_softmax(self.model(ids).logits[0, :-1].float(), -1)
        return [float(x) for x in logp.gather(1, ids[0, 1:, None])[:, 0].cpu()]

    def _chat_template(self) -> str | None:
        assert self.tokenizer is not None
        return getattr(self.tokenizer, "chat_template", None)

    def _special(self, which: str) -> str:
        assert self.tokenizer is not None
        return (self.tokenizer.bos_token if which == "bos" else self.tokenizer.eos_token) or ""


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = model.generation_config.eos_token_id if model.generation_config else None
    out = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        out.add(tokenizer.eos_token_id)
    return out


def sample_next(logits: "torch.Tensor", history: list[int], sampling: SamplingConfig,
                generator: "torch.Generator") -> int:
    """One token: repetition penalty, then greedy at temperature 0, else top-k, top-p."""
    import torch

    logits = logits.clone()
    if sampling.repetition_penalty != 1.0 and history:
        seen = torch.tensor(sorted(set(history[-64:])), dtype=torch.long)
        values = logits[seen]
        logits[seen] = torch.where(values > 0, values / sampling.repetition_penalty,
                                   values * sampling.repetition_penalty)
    if sampling.temperature == 0.0:
        return int(torch.argmax(logits))
    logits = logits / sampling.temperature
    if sampling.top_k > 0:
        kth = torch.topk(logits, min(sampling.top_k, logits.numel())).values[-1]
        logits[logits < kth] = float("-inf")
    probs = torch.softmax(logits, dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, 0) - sorted_probs < sampling.top_p
        mask = torch.zeros_like(probs, dtype=torch.bool)
        mask[order[keep]] = True
        probs = torch.where(mask, probs, torch.zeros_like(probs))
        probs = probs / probs.sum()
    return int(torch.multinomial(probs, 1, generator=generator))


def byte_alphabet() -> dict[int, str]:
    """GPT-2's byte-level BPE alphabet: each byte's printable stand-in in a token's name (the
    printable Latin-1 bytes stand for themselves, the others for code points from 256 on)."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    stand_ins = {b: chr(b) for b in kept}
    extra = 0
    for b in range(256):
        if b not in stand_ins:
            stand_ins[b] = chr(256 + extra)
            extra += 1
    return stand_ins
