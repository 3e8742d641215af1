"""The batched low-rank merge for the torch backend.

W = W0 + sum_i w_i s_i B_i A_i, computed for every target module at once: modules of the
same shape form a group whose weights become views into one [L, out, in] tensor, and the
anchors' factors are concatenated along the rank axis, so one weight change is a single
``baddbmm`` per group: W = W0 + (B_cat * c) @ A_cat with c_j = w_i(j) * s_i(j).
Deltas are computed in fp32 and checked to be finite before they are committed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TYPE_CHECKING, Sequence

from engine.backends.overflow import anchor_bound, merged_bound, needs_exact_check
from engine.errors import ProsemixError

if TYPE_CHECKING:
    import torch

    from engine.anchors.model import Anchor

# Upper bound for one fp32 temporary when the model is in fp16/bf16.
_CHUNK_BYTES = 256 << 20


@dataclass
class _Group:
    names: list[str]
    W: "torch.Tensor"  # [L, out, in], model dtype; each module's weight is a view into it
    W0: "torch.Tensor"  # the base weights, same shape and dtype
    A: "torch.Tensor"  # [L, R, in] fp32, zero where an anchor does not target a module
    B: "torch.Tensor"  # [L, out, R] fp32, each column already scaled by its LoRA scale s
    col_anchor: "torch.Tensor"  # [R] long: which anchor each rank column belongs to
    w0_absmax: float  # max |W0|, for the cheap overflow bound
    anchor_bound: list[float]  # per anchor: r_i * max|s_i B_i| * max|A_i| over the group
    anchor_bmax: list[float]  # per anchor: max|s_i B_i| (bounds the scaled factor itself)


def _all_finite(t: "torch.Tensor") -> bool:
    """True if every entry is finite. A sum carries any NaN or inf and is ~20x cheaper than
    ``isfinite().all()``; only when the sum itself is not finite (a NaN/inf, or an overflow of
    large finite values) is the exact check run."""
    import torch

    total = t.sum()
    return bool(torch.isfinite(total)) or bool(torch.isfinite(t).all())


class LowRankMerger:
    """Owns the target modules' weights and re-merges them when the weights change."""

    def __init__(self, modules: dict[str, Any], anchors: Sequence["Anchor"]):
        """``modules``: name -> torch Linear (Any: torch types its attributes as Tensor | Module)."""
        import torch

        self.anchor_names = [a.name for a in anchors]
        targets = sorted({m for a in anchors for m in a.factors})
        missing = [m for m in targets if m not in modules]
        if missing:
            raise ProsemixError(f"the model has no module {missing[0]!r} to merge into")
        by_shape: dict[tuple, list[str]] = {}
        for name in targets:
            w = modules[name].weight
            by_shape.setdefault((tuple(w.shape), w.dtype, w.device), []).append(name)
        self.groups: list[_Group] = []
        for (shape, _dtype, device), names in by_shape.items():
            W = torch.stack([modules[n].weight.detach() for n in names])
            for l, n in enumerate(names):
                modules[n].weight.data = W[l]
            ranks = [max((a.factors[n].rank for n in names if n in a.factors), default=0)
                     for a in anchors]
            R, L = sum(ranks), len(names)
            A = torch.zeros(L, R, shape[1], dtype=torch.float32)
            B = torch.zeros(L, shape[0], R, dtype=torch.float32)
            S = torch.zeros(L, 1, R, dtype=torch.float32)
            col_anchor = torch.repeat_interleave(torch.arange(len(anchors)), torch.tensor(ranks))
            offset = 0
            for anchor, rank in zip(anchors, ranks):
                for l, n in enumerate(names):
                    f = anchor.factors.get(n)
                    if f is None:
                        continue
                    A[l, offset:offset + f.rank] = torch.from_numpy(f.A)
                    B[l, :, offset:offset + f.rank] = torch.from_numpy(f.B)
                    S[l, 0, offset:offset + f.rank] = f.scale
                offset += rank
            if not bool(torch.isfinite(W).all()):
                raise ProsemixError(f"the base model's weights in {names[0]} are not finite")
            B *= S  # the scales never change: fold them in once
            bounds, bmax, offset = [], [], 0
            for rank in ranks:
                cols = slice(offset, offset + rank)
                bmax.append(float(B[:, :, cols].abs().max()) if rank else 0.0)
                bounds.append(anchor_bound(rank, bmax[-1], float(A[:, cols].abs().max())) if rank else 0.0)
                offset += rank
            self.groups.append(_Group(names, W, W.clone(), A.to(device), B.to(device),
                                      col_anchor.to(device), float(W.abs().max()), bounds, bmax))
        self.values: tuple[float, ...] | None = None

    def set_weights(self, values: Sequence[float]) -> None:
        """Merge at ``values`` (one per anchor). All or nothing: on a non-finite result
        the previous weights stay in place and a ValueError names the anchors involved."""
        values = tuple(float(v) for v in values)
        if len(values) != len(self.anchor_names):
            raise ProsemixError(f"{len(values)} weights for {len(self.anchor_names)} anchors")
        if values == self.values:
            return
        try:
            self._merge(values)
        except FloatingPointError:
            previous = self.values
            self.values = None
            if previous is not None:
                self._merge(previous)
            else:
                self._merge(tuple(0.0 for _ in values))
            self.values = previous
            active = [n for n, v in zip(self.anchor_names, values) if v != 0]
            raise ProsemixError(
                f"merging anchors {active} at weights {list(values)} gives non-finite weights; "
                "the previous weights are kept") from None
        self.values = values

    def _merge(self, values: tuple[float, ...]) -> None:
        import torch

        with torch.no_grad():
            for g in self.groups:
                w = torch.tensor(values, dtype=torch.float32, device=g.A.device)
                col_w = w[g.col_anchor]
                active = torch.nonzero(col_w).flatten()  # anchors at weight 0 cost nothing
                if active.numel() == 0:
                    g.W.copy_(g.W0)
                    continue
                if active.numel() == col_w.numel():  # every anchor active: no gather needed
                    A, Bc = g.A, g.B * col_w
                else:
                    A = g.A.index_select(1, active)
                    Bc = g.B.index_select(2, active) * col_w[active]
                # each entry of Bc is at most |w_i| max|s_i B_i|: when it and the merge's bound
                # are far below the dtype's limit, the result is finite without looking at it
                factor = max(abs(v) * b for v, b in zip(values, g.anchor_bmax))
                limit = torch.finfo(g.W.dtype).max
                safe = not (needs_exact_check(merged_bound(g.w0_absmax, g.anchor_bound, values), limit)
                            or needs_exact_check(factor, limit))
                if g.W.dtype == torch.float32:
                    torch.baddbmm(g.W0, Bc, A, out=g.W)
                    if not safe and not _all_finite(g.W):
                        raise FloatingPointError
                    continue
                per_layer = g.W[0].numel() * 4
                step = max(1, _CHUNK_BYTES // per_layer)
                for start in range(0, len(g.names), step):
                    sl = slice(start, start + step)
                    merged = torch.baddbmm(g.W0[sl].float(), Bc[sl], A[sl])
                    merged = merged.to(g.W.dtype)
                    if not safe and not _all_finite(merged):
                        raise FloatingPointError
                    g.W[sl].copy_(merged)

    def restore_base(self) -> None:
        import torch

        with torch.no_grad():
            for g in self.groups:
                g.W.copy_(g.W0)
        self.values = None
