"""The writer's document: text, the passages the model wrote (with how each was made), the
alternatives for a pending passage, memory and an author's note, its palette, bans and lorebook.

Plain data, no Qt: the GUI renders it and the CLI (`prosemix continue`) drives the same
code. Positions are character offsets into ``text``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from engine.backends.bans import BanList
from engine.documents.lorebook import Lorebook
from engine.errors import ProsemixError


@dataclass(frozen=True)
class Provenance:
    """How a passage was made: the point, the anchors, the seed, the model and the sampling."""

    weights: dict[str, float]
    strength: float
    seed: int
    model: str
    sampling: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    @property
    def anchors(self) -> list[str]:
        return list(self.weights)

    def label(self) -> str:
        point = ", ".join(f"{n} {w:.2f}" for n, w in self.weights.items()) or "base model"
        strength = "" if self.strength == 1.0 else f", strength {self.strength:g}"
        return f"{point}{strength}; seed {self.seed}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "Provenance":
        if not isinstance(data, dict):
            raise ProsemixError("a passage's provenance must be an object")
        try:
            weights = {str(k): float(v) for k, v in dict(data["weights"]).items()}
            p = cls(weights, float(data.get("strength", 1.0)), int(data["seed"]), str(data["model"]),
                    dict(data.get("sampling") or {}), float(data.get("created", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProsemixError(f"a passage's provenance is incomplete or malformed ({exc})") from None
        if not all(math.isfinite(v) for v in (*p.weights.values(), p.strength)):
            raise ProsemixError("a passage's provenance holds a non-finite weight")
        return p


@dataclass
class Passage:
    """Text the model wrote, at [start, end); ``edited`` once the writer changed it."""

    start: int
    end: int
    provenance: Provenance
    edited: bool = False

    def to_json(self, text: str) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": text[self.start:self.end],
                "edited": self.edited, "provenance": self.provenance.to_json()}


@dataclass
class Alternatives:
    """The candidates for one place: each a text and its provenance; ``current`` is shown."""

    start: int
    candidates: list[tuple[str, Provenance]] = field(default_factory=list)
    current: int = 0
    # a rewrite of the writer's selection: the text and passages before it, which a discard
    # brings back (None: a continuation, which a discard just removes)
    replaced: "Snapshot | None" = None

    @property
    def position(self) -> str:
        """What the desk shows, e.g. "2/4"."""
        return f"{self.current + 1}/{len(self.candidates)}" if self.candidates else ""


@dataclass
class Snapshot:
    text: str
    passages: list[Passage]
    pending: Alternatives | None
    label: str


class Document:
    """Text plus passages. Every change goes through `edit` (typing, pasting) or the
    generation methods, which keep the passages' positions true."""

    def __init__(self, text: str = "", memory: str = "", note: str = ""):
        self.text = text
        self.memory = memory
        self.note = note
        self.passages: list[Passage] = []
        self.pending: Alternatives | None = None  # a generated passage not yet accepted
        # the anchors this document writes with, by name, in the picker's order (empty: whatever
        # the app has on the picker); the writer's choice, kept in the sidecar
        self.palette: list[str] = []
        self.lorebook: Lorebook | None = None  # entries that enter the context by their keys
        self.unread_lorebook: Any = None  # a sidecar's lorebook this version could not read: kept as it was
        self.bans = BanList()  # phrases no passage may hold (engine.backends.bans)
        self.unread_bans: Any = None  # as unread_lorebook

    # ----- typing ---------------------------------------------------------------------------
    def edit(self, pos: int, removed: int, inserted: str) -> None:
        """Replace ``removed`` characters at ``pos`` with ``inserted``. Passages after the edit
        move; a passage the edit touches is marked edited; one removed whole is dropped.
        Typing accepts a pending passage (it becomes part of the text)."""
        if not 0 <= pos <= len(self.text) or removed < 0 or pos + removed > len(self.text):
            raise ProsemixError(f"an edit at {pos} removing {removed} is outside the text "
                                f"({len(self.text)} characters)")
        if self.pending is not None:
            self.accept()  # typing keeps the pending passage
        end, size = pos + removed, len(inserted)
        shift = size - removed
        kept = []
        for p in self.passages:
            if p.end <= pos and not (p.start < pos < p.end):
                kept.append(p)  # wholly before the edit (typing right after a passage too)
            elif p.start >= end:
                kept.append(replace(p, start=p.start + shift, end=p.end + shift))  # after it
            else:  # the edit touches the passage: what is left of it, marked edited
                start = p.start if p.start < pos else pos + size
                stop = p.end + shift if p.end > end else pos + size
                if stop > start:
                    kept.append(replace(p, start=start, end=stop, edited=True))
        self.text = self.text[:pos] + inserted + self.text[end:]
        self.passages = sorted(kept, key=lambda p: p.start)

    # ----- generation -------------------------------------------------------------------------
    def begin_pending(self, pos: int) -> None:
        """A generation will stream in at ``pos``."""
        self.pending = Alternatives(pos)

    def begin_rewrite(self, start: int, end: int) -> str:
        """The text in [start, end) is taken out and rewrites of it will stream in there; a
        discard puts it back as it was. Returns the text."""
        if not 0 <= start < end <= len(self.text):
            raise ProsemixError(f"nothing to rewrite between {start} and {end}")
        if self.pending is not None:
            self.accept()
        before = self.snapshot("rewrite")
        original = self.text[start:end]
        self.edit(start, end - start, "")
        self.pending = Alternatives(start, replaced=before)
        return original

    def set_candidate(self, text: str, provenance: Provenance, index: int | None = None) -> None:
        """Put a candidate's text in place (a new one, or ``index``'s again) and show it."""
        if self.pending is None:
            raise ProsemixError("no passage is pending")
        alt = self.pending
        self._remove_pending_text()
        if index is None:
            alt.candidates.append((text, provenance))
            alt.current = len(alt.candidates) - 1
        else:
            alt.candidates[index] = (text, provenance)
            alt.current = index
        self._insert_pending_text()

    def store_candidate(self, index: int, text: str, provenance: Provenance) -> None:
        """Update candidate ``index`` (one of several being written); only the one shown
        touches the text."""
        if self.pending is None or not 0 <= index < len(self.pending.candidates):
            raise ProsemixError(f"no pending candidate {index}")
        if index == self.pending.current:
            self.set_candidate(text, provenance, index)
        else:
            self.pending.candidates[index] = (text, provenance)

    def drop_candidates(self, indices: list[int]) -> None:
        """Remove pending candidates (not the one shown): a Retry xK stopped before them."""
        alt = self.pending
        if alt is None:
            return
        drop = {i for i in indices if 0 <= i < len(alt.candidates) and i != alt.current}
        shown = alt.candidates[alt.current]
        alt.candidates = [c for i, c in enumerate(alt.candidates) if i not in drop]
        alt.current = next(i for i, c in enumerate(alt.candidates) if c is shown)

    def show_candidate(self, step: int) -> str:
        """Cycle through the candidates (Alt+Left/Right); returns the "2/4" position."""
        if self.pending is None or not self.pending.candidates:
            return ""
        self._remove_pending_text()
        self.pending.current = (self.pending.current + step) % len(self.pending.candidates)
        self._insert_pending_text()
        return self.pending.position

    def pending_span(self) -> tuple[int, int] | None:
        if self.pending is None or not self.pending.candidates:
            return None
        text, _ = self.pending.candidates[self.pending.current]
        return self.pending.start, self.pending.start + len(text)

    def accept(self) -> Passage | None:
        """Keep the shown candidate as a passage (Tab, or typing)."""
        if self.pending is None or not self.pending.candidates:
            self.pending = None
            return None
        text, provenance = self.pending.candidates[self.pending.current]
        start = self.pending.start
        self.pending = None
        if not text:
            return None
        passage = Passage(start, start + len(text), provenance)
        self.passages = sorted(self.passages + [passage], key=lambda p: p.start)
        return passage

    def discard(self) -> None:
        """Remove the pending passage's text (Ctrl+Backspace); a rewrite's selection comes back."""
        if self.pending is not None:
            replaced = self.pending.replaced
            self._remove_pending_text()
            self.pending = None
            if replaced is not None:
                self.text, self.passages = replaced.text, list(replaced.passages)

    def _remove_pending_text(self) -> None:
        span = self.pending_span()
        if span:
            start, end = span
            self._shift_after(-(end - start), end)
            self.text = self.text[:start] + self.text[end:]

    def _insert_pending_text(self) -> None:
        assert self.pending is not None
        text, _ = self.pending.candidates[self.pending.current]
        start = self.pending.start
        self._shift_after(len(text), start)
        self.text = self.text[:start] + text + self.text[start:]

    def _shift_after(self, shift: int, boundary: int) -> None:
        self.passages = [replace(p, start=p.start + shift, end=p.end + shift) if p.start >= boundary
                         else p for p in self.passages]

    # ----- reading -------------------------------------------------------------------------------
    def passage_at(self, pos: int) -> Passage | None:
        return next((p for p in self.passages if p.start <= pos < p.end), None)

    # ----- snapshots (engine.documents.desk.Desk keeps the undo history) ---------------------------
    def snapshot(self, label: str) -> Snapshot:
        """The text, passages and pending passage as they are now."""
        pending = None if self.pending is None else replace(self.pending, candidates=list(self.pending.candidates))
        return Snapshot(self.text, list(self.passages), pending, label)

    def restore(self, s: Snapshot) -> None:
        self.text, self.passages = s.text, list(s.passages)
        self.pending = None if s.pending is None else replace(s.pending, candidates=list(s.pending.candidates))
