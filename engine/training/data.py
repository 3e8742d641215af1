"""A corpus turned into training blocks: reading files, packing tokens into blocks, a
held-out split, and the order in which batches are drawn."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Sequence

from engine.errors import ProsemixError
from engine.training.config import TrainConfig


def read_corpus(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """Documents from a .txt file, a folder of .txt files, JSONL with a "text" field, or a
    list of such paths."""
    if isinstance(path, (list, tuple)):
        if not path:
            raise ProsemixError("no corpus files given")
        return [doc for p in path for doc in read_corpus(p)]
    path = Path(path).expanduser()  # type: ignore[arg-type]  # a list was handled above
    if not path.exists():
        raise ProsemixError(f"corpus not found: {path}")
    files = sorted(path.rglob("*.txt")) if path.is_dir() else [path]
    if path.is_dir() and not files:
        raise ProsemixError(f"corpus folder {path} holds no .txt files")
    docs: list[str] = []
    for file in files:
        try:
            raw = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProsemixError(f"cannot read corpus file {file}: {exc}") from None
        if file.suffix.lower() in (".jsonl", ".json"):
            for n, line in enumerate(raw.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise ProsemixError(f"{file}:{n}: not valid JSON") from None
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise ProsemixError(f'{file}:{n}: a JSONL line needs a "text" string field')
                docs.append(obj["text"])
        else:
            docs.append(raw)
    docs = [d for d in docs if d.strip()]
    if not docs:
        raise ProsemixError(f"corpus {path} is empty")
    return docs


def pack_blocks(token_docs: Sequence[Sequence[int]], block: int, eos: int | None) -> list[list[int]]:
    """Concatenate documents (EOS between them) and cut into full blocks of ``block`` tokens."""
    stream: list[int] = []
    for doc in token_docs:
        stream.extend(doc)
        if eos is not None:
            stream.append(eos)
    return [stream[i:i + block] for i in range(0, len(stream) - block + 1, block)]


def held_out_blocks(blocks: int, val_fraction: float, max_val_blocks: int) -> int:
    """How many of ``blocks`` blocks a run holds out for validation: ``val_fraction`` of them,
    at least 1 and at most ``max_val_blocks``."""
    return min(max_val_blocks, max(1, round(blocks * val_fraction)))


def split_blocks(blocks: list[list[int]], cfg: TrainConfig) -> tuple[list[list[int]], list[list[int]]]:
    """A seeded shuffle, then a held-out split; errors name how much text is missing. With
    ``cfg.shifted`` the training blocks are followed by their shifted windows, and with
    ``cfg.learn_held_out`` by the held-out blocks too."""
    n_val = held_out_blocks(len(blocks), cfg.val_fraction, cfg.max_val_blocks)
    if len(blocks) < n_val + 2:
        raise ProsemixError(
            f"the corpus is too small: {len(blocks)} block(s) of {cfg.block} tokens; at least "
            f"{n_val + 2} are needed (about {(n_val + 2) * cfg.block * 4} characters)")
    order = list(range(len(blocks)))
    random.Random(cfg.seed).shuffle(order)
    val = [blocks[i] for i in order[:n_val]]
    train = [blocks[i] for i in order[n_val:]]
    if cfg.shifted:
        train += shifted_windows(blocks, set(order[:n_val]))
    if cfg.learn_held_out:
        train += val
    return train, val


def shifted_windows(blocks: list[list[int]], held_out: set[int]) -> list[list[int]]:
    """The windows half a block on from consecutive ``blocks`` (cut from one stream, as
    pack_blocks cuts them): the second half of block i and the first half of block i + 1, for
    every i where neither is in ``held_out``."""
    if not blocks:
        return []
    half = len(blocks[0]) // 2
    return [blocks[i][half:] + blocks[i + 1][:half] for i in range(len(blocks) - 1)
            if i not in held_out and i + 1 not in held_out]


class BatchOrder:
    """Batches of block indices, in seeded shuffled epochs. Created at ``step`` it yields
    exactly the batches a run from step 0 would have drawn from there, so a resumed run
    sees the same data as an uninterrupted one."""

    def __init__(self, n_blocks: int, batch: int, seed: int, step: int = 0):
        if n_blocks < 1:
            raise ProsemixError("no training blocks")
        self._n, self._batch = n_blocks, batch
        self._rng = random.Random(seed + 1)
        drawn = step * batch
        for _ in range(drawn // n_blocks + 1):  # replay the shuffles of the epochs before
            self._order = self._shuffled()
        self._cursor = drawn % n_blocks

    def _shuffled(self) -> list[int]:
        order = list(range(self._n))
        self._rng.shuffle(order)
        return order

    def next(self) -> list[int]:
        out: list[int] = []
        while len(out) < self._batch:
            if self._cursor >= self._n:
                self._order, self._cursor = self._shuffled(), 0
            out.append(self._order[self._cursor])
            self._cursor += 1
        return out
