"""A voice's diction: one bias per vocabulary token, fitted on the writer's text in seconds.

The base model predicts each next token of the page from what came before. Over the page,
token t is expected E_t = sum over positions of p_base(t | context) times; the writer used it
C_t times. The diction b is the bias that makes the two agree: softmax(logits + b) expects every
token as often as the page has it (the maximum-likelihood bias, fitted by iterative scaling:
b <- b + log((C + k) / (E + k)), k a pseudo-count that keeps a token seen once from counting as
a habit, b kept in [-clip, clip]). Tokens the writer uses more than the base would in the same
places get a positive bias, but only whole lower-case words and punctuation may rise
(`rising_tokens`: a page's names in every passage are not a voice; a held token the page
overuses is kept at the base's own share); the base's favourites the writer avoids get a
negative one.

At generation a backend adds ``sum_i v_i * b_i`` to every step's logits, v_i the weight it
applies to anchor i's LoRA delta (strength, calibration and balance included), so a voice's
diction mixes linearly with its LoRA: zero at strength 0 (the base), twice at twice the weight.
llama.cpp applies it through a logits processor per request, torch before its sampler.
What it buys: docs/dev/decisions/0007-a-voice-from-a-page.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from engine.anchors.diction import DICTION_FILE, KEY

SMOOTHING = 0.5  # pseudo-count
# the largest bias, in logits: 3 was recognised more than 2 on both writers measured; 4 and 5
# more again on Edgeworth's page (88%, 82% of 72 samples against 78%), but by repeating its
# words ("good night, good night, good night", "melancholy melancholy")
CLIP = 3.0
ITERATIONS = 8
EXPECTED_TOP = 4096  # the tokens the base expects most, fitted beside those the text uses
# ten pages are about 10,000 tokens: blocks evenly spread over them, about three pages' worth (the
# fit's cost grows with the rows: ten pages' 9,500 took a sixth of their budget on 2 cores)
MAX_POSITIONS = 2048


def fit_diction(logits: Any, targets: Any, *, smoothing: float = SMOOTHING, clip: float = CLIP,
                iterations: int = ITERATIONS, expected_top: int = EXPECTED_TOP, chunk: int = 512,
                may_rise: np.ndarray | None = None, held_at_base: bool = True,
                expected: tuple[Any, Any] | None = None) -> np.ndarray:
    """The bias (float32, one per vocabulary entry) under which the base's ``logits`` (N x V,
    the predictions of the N ``targets``) expect each token as often as ``targets`` has it.

    Only the tokens the text uses and the ``expected_top`` the base expects most are fitted:
    every other token is neither used nor expected (C = 0, E near 0), so its bias would be
    log(k / (E + k)), about 0. Each position's normaliser then needs those columns alone:
    Z(b) = 1 + sum over fitted s of p0(s) (e^b_s - 1), with p0 the base's probabilities, so an
    iteration costs N x |fitted| instead of N x V. ``may_rise`` (bool per token): the tokens
    that may get a positive bias (`rising_tokens`); the others may only fall. With
    ``held_at_base`` a held token the text uses more than the base expects is fitted to the
    base's own count, not merely kept at bias 0: as the base's favourites fall, every other
    token's share grows with the shrinking normaliser, a held name's too, so it must fall by
    as much to stay where the base had it. ``expected``: `expectation` of these logits, where
    the caller has it already."""
    import torch

    logits = torch.as_tensor(logits)
    targets = torch.as_tensor(targets, dtype=torch.long)
    if logits.ndim != 2 or targets.shape != (logits.shape[0],) or logits.shape[0] == 0:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} do not match")
    vocab = logits.shape[1]
    counts = torch.bincount(targets, minlength=vocab).double()
    with torch.no_grad():
        expected, log_norm = expectation(logits, chunk) if expected is None else expected
        fitted = shortlist(expected, torch.nonzero(counts).flatten(), expected_top)
        p0 = torch.exp(logits[:, fitted].double() - log_norm[:, None])  # N x |fitted|
        c = counts[fitted]
        upper = torch.full((len(fitted),), float(clip), dtype=torch.float64)
        if may_rise is not None:
            held = ~torch.as_tensor(may_rise)[fitted]
            upper[held] = 0.0
            if held_at_base:
                c = torch.where(held, torch.minimum(c, expected[fitted]), c)
        b = torch.zeros(len(fitted), dtype=torch.float64)
        for _ in range(iterations):
            scale = torch.exp(b)
            norm = 1.0 + p0 @ (scale - 1.0)  # each position's normaliser under the bias
            e = scale * (p0 / norm[:, None]).sum(0)
            b = torch.minimum((b + torch.log((c + smoothing) / (e + smoothing))).clamp(min=-clip), upper)
        bias = torch.zeros(vocab, dtype=torch.float64)
        bias[fitted] = b
    return bias.numpy().astype(np.float32)


def expectation(logits: Any, chunk: int = 512) -> tuple[Any, Any]:
    """How often the base expects each token over the rows of ``logits`` (float64, one per
    vocabulary entry), and each row's log normaliser."""
    import torch

    logits = torch.as_tensor(logits)
    expected = torch.zeros(logits.shape[1], dtype=torch.float64)
    log_norm = torch.empty(logits.shape[0], dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, logits.shape[0], chunk):
            rows = logits[start:start + chunk].float()
            log_norm[start:start + chunk] = torch.logsumexp(rows, -1).double()
            expected += torch.softmax(rows, -1).sum(0).double()
    return expected, log_norm


def shortlist(expected: Any, used: Any, top: int = EXPECTED_TOP) -> Any:
    """The tokens that matter to a text (sorted ids): those it ``used`` and the ``top`` the base
    expects most over it (``expected``, from `expectation`). The diction is fitted on them; a
    voice's LoRA trains its output softmax over them (TrainConfig.shortlist)."""
    import torch

    top_ids = torch.topk(expected, min(top, len(expected))).indices
    return torch.unique(torch.cat([top_ids, torch.as_tensor(used, dtype=torch.long)]))


def rising_tokens(tokenizer: Any) -> np.ndarray:
    """The tokens a diction may raise: whole lower-case words (a piece that starts a word) and
    punctuation. Not a name or a capitalised word (a page's characters would crowd into every
    passage: "Queequeg sat there looking at Queequeg"), and not a piece inside a word (raising
    one respells words: "Queequegui")."""
    out = np.zeros(len(tokenizer), dtype=bool)
    for i, piece in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        if piece is None:
            continue
        body = piece.lstrip("\u0120\u010a")  # GPT-2 byte pieces: a leading space, a newline
        starts = len(body) < len(piece) or not any(ch.isalnum() for ch in body)
        out[i] = starts and not any(ch.isupper() for ch in body)
    return out


def spread(lengths: list[int], max_positions: int = MAX_POSITIONS) -> list[int]:
    """Which blocks (of these ``lengths``) to fit on: at most ``max_positions`` tokens' worth,
    whole blocks evenly spread over the text (all of them where they fit), so that a diction
    from ten pages costs what one from three does."""
    per = max(lengths, default=1)
    keep = max(1, max_positions // per)
    if len(lengths) <= keep:
        return list(range(len(lengths)))
    return [round(i * (len(lengths) - 1) / max(1, keep - 1)) for i in range(keep)]


def model_logits(model: Any, blocks: Iterable[list[int]], max_positions: int = MAX_POSITIONS,
                 batch: int = 4) -> tuple[Any, Any]:
    """The base ``model``'s next-token logits over ``blocks`` (token lists) and the tokens they
    predict: at most ``max_positions`` rows (whole blocks, evenly spread), kept in float16."""
    import torch

    blocks = [b for b in blocks if len(b) > 1]
    blocks = [blocks[i] for i in spread([len(b) for b in blocks], max_positions)]
    rows: list[Any] = []
    targets: list[Any] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        by_length: dict[int, list[list[int]]] = {}
        for block in blocks:
            by_length.setdefault(len(block), []).append(block)
        for same in by_length.values():  # blocks of one length go through together
            for start in range(0, len(same), batch):
                ids = torch.tensor(same[start:start + batch])
                out = model(ids).logits[:, :-1].to(torch.float16)
                rows.extend(out)
                targets.extend(ids[:, 1:])
    model.train(was_training)
    if not rows:
        raise ValueError("no text to fit a diction on")
    return torch.cat(rows), torch.cat(targets)


def save_diction(bias: np.ndarray, folder: Path) -> Path:
    from safetensors.numpy import save_file

    path = Path(folder) / DICTION_FILE
    save_file({KEY: np.ascontiguousarray(bias, dtype=np.float32)}, str(path))
    return path
