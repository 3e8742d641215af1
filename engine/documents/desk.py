"""The writing desk's logic, without Qt: one `Desk` owns a document's pending passage, its
candidates and their provenance, the bans and lorebook it writes with, the tokens' alternatives
and the one undo history. The Write tab renders it and forwards the writer's keys;
`prosemix continue` drives the same object.

A front end asks the desk for what to do (`continue_at`, `retry`, `restyle`,
`rewrite_selection`, `rewrite_from` ...). Each hands back a `Job`: the generation to run, with
its prompt, point, sampling, context, seeds and bans. The front end runs it on its backend (the
window through its worker thread, the command line with `run`) and feeds the pieces back
(`piece`, `candidate_piece`), then the end (`finished`). Pieces of a job the desk no longer
waits for are ignored. A front end that sees ``desk.job`` change from a running job to another
(or none) stops the old one.

Undo: every change of the text is a step here. Typing that goes on at the same place is one
step, as are a generation with all its pieces, a rewrite, a restyle, a discard. An undo
restores the text, the passages and the pending passage as they were.
"""
from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import Any, Callable

from engine.backends.generation import Finish
from engine.documents.context import (DEFAULT_STYLE_WINDOW, Context, DocumentContext,
                                      rewrite_instruction, rewrite_tokens)
from engine.documents.jobs import Job, Outcome, run_job
from engine.documents.model import Document, Passage, Provenance, Snapshot
from engine.documents.tokens import TOP_K, Alts, TokenHit, TokenLog
from engine.errors import ProsemixError
from engine.sampling import SamplingConfig
from engine.weights import Point, make_point

__all__ = ["Desk", "DeskError", "Job", "Outcome", "Point", "changed_span"]

UNDO_STEPS = 200  # kept per document session


class DeskError(ProsemixError):
    """What the desk cannot do now, said to the writer (nothing changed)."""


class Desk:
    def __init__(self, doc: Document | None = None):
        self.doc = doc if doc is not None else Document()
        self.names: list[str] = []  # the anchors on the picker, in its order
        self.model = ""
        self.window = DEFAULT_STYLE_WINDOW  # the style window, in tokens
        self.key = ""  # which document, for a server's slot (default: this desk's own)
        self.top_k = TOP_K  # alternatives asked for per token (0: none)
        self.tokens = TokenLog()
        self.job: Job | None = None  # the generation filling the pending passage
        self.before = ""  # the text the pending passage continues
        self.seed = 0
        self.whole = False  # the passage in view is complete (not stopped part-way)
        self.selection: tuple[str, str] | None = None  # a rewrite's (original text, instruction)
        self._kept: tuple[tuple[str, ...], tuple[Alts, ...]] | None = None  # from_token's prefix
        self._many_base = 0  # a Retry xK: the index of its first candidate
        # a preview's provenance while the text before it stays in view (until its first piece)
        self._next: Provenance | None = None
        self._random = random.Random()
        self._undo: list[Snapshot] = []
        self._redo: list[Snapshot] = []
        self._typing_at: int | None = None  # where the last typing step ended (it may grow)
        self.open(self.doc)

    # ----- the document -------------------------------------------------------------------------
    def open(self, doc: Document) -> None:
        """Work on ``doc`` (a new history). A pending passage it came back with (recovery,
        reopening) restyles and retries from the text before it."""
        self.doc = doc
        self.job = None
        self.selection = self._kept = None
        self._undo.clear()
        self._redo.clear()
        self._typing_at = None
        self._resume_pending()

    def _resume_pending(self) -> None:
        pending = self.doc.pending
        if pending is not None:
            self.before = self.doc.text[:pending.start]
            if pending.candidates:
                self.seed = pending.candidates[pending.current][1].seed
            self.whole = True

    def context_spec(self) -> DocumentContext:
        """What a runner needs of the document to build a Continue's context."""
        return DocumentContext(self.doc.memory, self.doc.note, self.window, self.doc.lorebook,
                               self.key or f"doc-{id(self.doc)}")

    # ----- typing -----------------------------------------------------------------------------
    def type(self, pos: int, removed: int, inserted: str) -> None:
        """The writer's edit: ``removed`` characters at ``pos`` replaced by ``inserted``. A
        running generation ends (the writer took over) and a pending passage is kept. Typing
        on at the place the last typing ended joins its undo step."""
        self.job = None
        self.selection = None
        runs_on = self._typing_at is not None and self._undo and self._undo[-1].label == "typing" and (
            (removed == 0 and pos == self._typing_at) or (not inserted and pos + removed == self._typing_at))
        if not runs_on:
            self._push("typing")
        self.doc.edit(pos, removed, inserted)
        self._typing_at = pos + len(inserted)

    # ----- starting a generation ----------------------------------------------------------------
    def continue_at(self, pos: int, point: Point, sampling: SamplingConfig) -> Job:
        """A new passage at ``pos`` (Ctrl+Enter); a pending one is kept first."""
        if self.doc.pending is not None:
            self.accept()
        self._need_beginning(pos)
        self.before = self.doc.text[:pos]
        self.seed = sampling.seed
        self._push("generate")
        self.doc.begin_pending(pos)
        return self._start(point, sampling, new=True)

    def retry(self, pos: int, point: Point, sampling: SamplingConfig, seed: int | None = None) -> Job:
        """Another candidate for the pending place with a new seed (Ctrl+R); with none pending,
        a Continue at ``pos``."""
        if self.doc.pending is None:
            return self.continue_at(pos, point, sampling)
        self.seed = self._random.randrange(2**31) if seed is None else seed
        return self._start(point, sampling, new=True)

    def retry_many(self, pos: int, point: Point, sampling: SamplingConfig, seeds: list[int]) -> Job:
        """K candidates for the pending place (or a new one at ``pos``) at once, one seed each
        (Ctrl+Shift+R): the first is shown as it is written, the others fill in behind it."""
        if self.doc.pending is None:
            self._need_beginning(pos)
            self.before = self.doc.text[:pos]
            self._push("generate")
            self.doc.begin_pending(pos)
        self.seed = seeds[0]
        return self._start(point, sampling, new=True, seeds=seeds)

    def restyle(self, pos: int, point: Point, sampling: SamplingConfig, preview: bool = False) -> Job | None:
        """The pending passage (or the passage at ``pos``) again at ``point``: the same context
        and seed, so what changes is the style. None when there is nothing to restyle, or the
        passage in view is already being written, or was written whole, at that point (the
        release that ends a drag then costs nothing).

        ``preview`` (a move of the handle while it is dragged): the backend may start from the
        KV of the context at an earlier point, so the passage shows within a decode step or two,
        close to but not the exact text. Its provenance says ``"preview": True``; the restyle
        at the release writes the exact passage, even at the same point."""
        if self.doc.pending is None and not self._reopen(pos):
            return None
        if self._at_point_already(point, preview):
            return None
        return self._start(point, sampling, new=False, preview=preview)

    def rewrite_selection(self, start: int, end: int, instruction: str, point: Point,
                          sampling: SamplingConfig) -> Job:
        """Write [start, end) again (Ctrl+Shift+Enter): in the blend at ``point``, or as the
        instruction asks, through the instruct model's chat template. Pending in place with
        candidates and restyle; a discard brings the text back, one undo the whole rewrite."""
        start, end = sorted((start, end))
        if start == end or not self.doc.text[start:end].strip():
            raise DeskError("Select the text to rewrite first, then Ctrl+Shift+Enter.")
        if self.doc.pending is not None:
            self.accept()
        self.before = self.doc.text[:start]
        self._push("rewrite")
        original = self.doc.begin_rewrite(start, end)
        self.selection = (original, instruction.strip())
        self.seed = sampling.seed
        return self._start(point, sampling, new=True)

    def rewrite_from(self, hit: TokenHit, choice: str) -> Job | None:
        """The passage of ``hit`` written again from its token ``hit.index`` with ``choice`` in
        its place, at the passage's own point and seed: a new candidate of that passage
        (Alt+Left comes back). None when the choice was its last token (nothing to write)."""
        found = self.tokens.tokens(hit.provenance)
        made = hit.provenance
        if found is None or set(made.weights) - set(self.names):
            raise DeskError("this passage's voices are not all on the picker: put them back to rewrite it")
        if self.doc.pending is None or self.doc.pending.start != hit.start:
            self.accept()
            if not self._reopen(hit.start):
                raise DeskError("the passage of that token is gone")
        texts, alts = found
        kept = texts[:hit.index] + (choice,)
        self._kept = (kept, alts[:hit.index + 1])
        params = {k: v for k, v in made.sampling.items() if k in ("temperature", "top_p", "top_k", "repetition_penalty", "dry")}
        rest = int(made.sampling.get("max_tokens", len(texts))) - hit.index - 1
        provenance = replace(made, created=time.time(), sampling={**made.sampling, "from_token": hit.index})
        self.job = None
        self.seed = made.seed
        self._put_text("".join(kept), provenance, new=True)
        if rest < 1:
            self.tokens.put(provenance, kept, alts[:hit.index + 1])
            self._kept, self.whole = None, True
            return None
        self.whole = False
        self.job = Job(self.before + "".join(kept),
                       make_point(made.weights, self.names, extrapolate=True, strength=made.strength),
                       SamplingConfig(max_tokens=rest, seed=made.seed, **params),
                       document=self.context_spec(), top_logprobs=self.top_k, bans=self.doc.bans.all())
        return self.job

    def _need_beginning(self, pos: int) -> None:
        if not self.doc.text[:pos].strip() and not self.doc.memory.strip():
            raise DeskError("Write a beginning first (or a memory), then continue.")

    def _at_point_already(self, point: Point, preview: bool = False) -> bool:
        """The passage in view is being written, or was written whole, at ``point``: exactly,
        or (when a preview is asked for) as a preview."""
        assert self.doc.pending is not None
        made = self._next or self.doc.pending.candidates[self.doc.pending.current][1]
        same = (made.weights == point.as_dict() and made.strength == point.strength
                and made.seed == self.seed and (preview or not made.sampling.get("preview")))
        return same and (self.job is not None or self.whole)

    def _reopen(self, pos: int) -> bool:
        """The passage at ``pos`` becomes pending again (its own undo step), to be restyled."""
        passage = self.doc.passage_at(pos)
        if passage is None:
            return False
        self._push("restyle")
        text = self.doc.text[passage.start:passage.end]
        self.doc.passages.remove(passage)
        self.before = self.doc.text[:passage.start]
        self.seed = passage.provenance.seed
        self.doc.begin_pending(passage.start)
        assert self.doc.pending is not None
        self.doc.pending.candidates.append((text, passage.provenance))
        self.whole = True
        return True

    def _start(self, point: Point, sampling: SamplingConfig, new: bool, seeds: list[int] | None = None,
               preview: bool = False) -> Job:
        pending = self.doc.pending
        assert pending is not None
        if self.selection is None:
            self.before = self.doc.text[:pending.start]  # what the passage continues
        sampling = SamplingConfig(max_tokens=sampling.max_tokens, temperature=sampling.temperature,
                                  top_p=sampling.top_p, top_k=sampling.top_k,
                                  repetition_penalty=sampling.repetition_penalty, dry=sampling.dry, seed=self.seed)
        provenance = Provenance(point.as_dict(), point.strength, self.seed, self.model,
                                {k: v for k, v in vars(sampling).items() if k not in ("seed", "stop")}
                                | ({"preview": True} if preview else {}))
        if self.job is not None and self.job.seeds:  # a restyle ends a Retry xK
            self._drop_unwritten(len(self.job.seeds))
        self.job = None
        self.whole = False
        self._next = None
        if preview and pending.candidates[pending.current][0]:
            self._next = provenance  # no blank flash at each move: the old text stays until then
        else:
            self._put_text("", provenance, new=new)
        self._many_base = pending.current
        for seed in (seeds or [])[1:]:  # the others wait behind the one shown
            pending.candidates.append(("", replace(provenance, seed=seed)))
        prompt = self.before
        document: DocumentContext | None = self.context_spec()
        if self.selection is not None:
            span, instruction = self.selection
            sampling = replace(sampling, max_tokens=rewrite_tokens(len(span) // 3),
                               stop=() if "\n\n" in span.strip() else ("\n\n",))
            if instruction:  # the instruct model's chat template carries the instruction
                prompt, document = rewrite_instruction(instruction, span), None
                sampling = replace(sampling, chat=True)
        self._kept = None
        self.job = Job(prompt, point, sampling, document, tuple(seeds or ()),
                       0 if seeds or preview else self.top_k, self.doc.bans.all(), preview)
        return self.job

    # ----- what the runner feeds back -------------------------------------------------------------
    def piece(self, job: Job, piece: str) -> bool:
        """A piece of ``job``'s passage; False when the desk no longer waits for it."""
        pending = self.doc.pending
        if job is not self.job or pending is None or not piece:
            return False
        text, provenance = pending.candidates[pending.current]
        if self._next is not None:  # a preview's first piece replaces the text before it
            text, provenance, self._next = "", self._next, None
        self._put_text(text + piece, provenance, new=False)
        return True

    def candidate_piece(self, job: Job, index: int, piece: str) -> bool:
        """A piece of candidate ``index`` of a Retry xK; True when it changed the text in view."""
        pending = self.doc.pending
        slot = self._many_base + index
        if job is not self.job or pending is None or not piece or slot >= len(pending.candidates):
            return False
        text, provenance = pending.candidates[slot]
        if slot == pending.current:
            self._put_text(text + piece, provenance, new=False)
            return True
        self.doc.store_candidate(slot, text + piece, provenance)
        return False

    @property
    def previewing(self) -> bool:
        """The passage in view is a drag's preview (or waits for one), not yet the exact text."""
        pending = self.doc.pending
        return self._next is not None or (pending is not None
                                          and bool(pending.candidates[pending.current][1].sampling.get("preview")))

    def finished(self, job: Job, outcome: Outcome) -> bool:
        """``job`` ended; False when the desk no longer waited for it."""
        if job is not self.job:
            return False
        self.job = None
        self.whole = outcome.finish != Finish.CANCELLED
        pending = self.doc.pending
        if self._next is not None and pending is not None and self.whole:  # a preview that wrote nothing
            self._put_text("", self._next, new=False)
        self._next = None
        if job.seeds and pending is not None:  # a Retry xK: the one in view, and no empty ones
            mine = range(self._many_base, self._many_base + len(outcome.candidates))
            if pending.current in mine:
                self.whole = outcome.candidates[pending.current - self._many_base] != Finish.CANCELLED
            self._drop_unwritten(len(job.seeds))  # a stop may come before some were begun
        if pending is not None and outcome.token_texts and not job.seeds and not job.preview:
            kept_texts, kept_alts = self._kept or ((), ())
            self.tokens.put(pending.candidates[pending.current][1], kept_texts + outcome.token_texts,
                            kept_alts + outcome.alternatives)
        self._kept = None
        return True

    def failed(self, job: Job) -> None:
        if job is self.job:
            self.job, self._next = None, None

    def interrupt(self) -> None:
        """The front end stopped the running job and waits for it no more."""
        self.job, self._next = None, None

    def _drop_unwritten(self, count: int) -> None:
        """Drop the candidates of a Retry xK that got no text; the one in view stays."""
        pending = self.doc.pending
        if pending is None:
            return
        mine = range(self._many_base, min(self._many_base + count, len(pending.candidates)))
        self.doc.drop_candidates([i for i in mine if i != pending.current and not pending.candidates[i][0]])

    # ----- the pending passage ----------------------------------------------------------------------
    def accept(self) -> Passage | None:
        """Keep the pending passage (Tab)."""
        if self.doc.pending is None:
            return None
        self.job = None
        self.selection = None
        self._typing_at = None
        return self.doc.accept()

    def discard(self) -> None:
        """Remove the pending passage (Ctrl+Backspace), its own undo step; a rewrite's
        selection comes back."""
        if self.doc.pending is None:
            return
        self.job = None
        self._push("discard")
        self.selection = None
        self.doc.discard()

    def cycle(self, step: int) -> str:
        """Show another candidate (Alt+Left / Alt+Right); a Retry xK goes on behind it.
        Returns the "2/4" position ("" when there is nothing to cycle)."""
        pending = self.doc.pending
        if pending is None or len(pending.candidates) < 2:
            return ""
        writing_many = self.job is not None and bool(self.job.seeds)
        if not writing_many:
            self.job = None
        position = self.doc.show_candidate(step)
        self.seed = pending.candidates[pending.current][1].seed
        self.whole = not writing_many  # as it was made at its own point
        return position

    def candidates_text(self) -> str:
        pending = self.doc.pending
        if pending is None or len(pending.candidates) < 2:
            return ""
        return f"candidate {pending.position}  (Alt+Left / Alt+Right)"

    def _put_text(self, text: str, provenance: Provenance, new: bool) -> None:
        assert self.doc.pending is not None
        self.doc.set_candidate(text, provenance, None if new else self.doc.pending.current)
        self._typing_at = None

    # ----- reading ------------------------------------------------------------------------------------
    def provenance_at(self, pos: int) -> Provenance | None:
        """How the text at ``pos`` was made: its passage's, or the pending passage's."""
        passage = self.doc.passage_at(pos)
        if passage is not None:
            return passage.provenance
        span = self.doc.pending_span()
        if span and span[0] <= pos <= span[1] and self.doc.pending is not None:
            return self.doc.pending.candidates[self.doc.pending.current][1]
        return None

    def token_at(self, pos: int) -> TokenHit | None:
        """The generated token at ``pos`` with its alternatives (none while one is written)."""
        return self.tokens.at(self.doc, pos) if self.job is None else None

    def count_request(self, pos: int) -> tuple[str, DocumentContext] | None:
        """What a Continue at ``pos`` would send now, for the context counter (None while a
        passage is being written: its count comes with it, or with nothing to continue)."""
        if self.job is not None:
            return None
        before = self.before if self.doc.pending is not None else self.doc.text[:pos]
        if not before.strip() and not self.doc.memory.strip():
            return None
        return before, self.context_spec()

    # ----- undo -------------------------------------------------------------------------------------
    def _push(self, label: str) -> None:
        self._undo.append(self.doc.snapshot(label))
        del self._undo[:-UNDO_STEPS]
        self._redo.clear()
        self._typing_at = None

    def undo(self) -> bool:
        """Take back the last step (Ctrl+Z): the text, passages and pending passage before it."""
        return self._step(self._undo, self._redo)

    def redo(self) -> bool:
        return self._step(self._redo, self._undo)

    def _step(self, source: list[Snapshot], target: list[Snapshot]) -> bool:
        if not source:
            return False
        self.job = None
        self.selection = self._kept = None
        snapshot = source.pop()
        target.append(self.doc.snapshot(snapshot.label))
        self.doc.restore(snapshot)
        self._typing_at = None
        self._resume_pending()
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    # ----- running a job here (the command line) ------------------------------------------------------
    def run(self, backend: Any, job: Job, on_piece: Callable[[str], None] | None = None,
            should_stop: Callable[[], bool] | None = None, lore: Any = None) -> tuple[Any, Context | None]:
        """Run ``job`` on ``backend`` in this thread, feeding its pieces to the desk (and to
        ``on_piece``). Returns the GenerationResult and the context it was given. The window
        runs jobs in its worker thread instead, with the same context (`context_for`).
        ``lore``: the lorebook's block for ``job.prompt``, if the caller has it already."""
        if job.seeds:
            raise ProsemixError("the desk runs one passage at a time here; candidates go through a worker")

        def fed(_candidate: int, piece: str) -> None:
            self.piece(job, piece)
            if on_piece is not None:
                on_piece(piece)

        run = run_job(backend, job, should_stop, fed, lore)
        self.finished(job, run.outcome())
        return run.results[0], run.context


def changed_span(old: str, new: str) -> tuple[int, int, int]:
    """(start, old_end, new_end): ``new`` is ``old`` with old[start:old_end] replaced by
    new[start:new_end], the span as short as the common start and end allow. What a front end
    that renders the desk writes into its editor after a step."""
    limit = min(len(old), len(new))
    lo, hi = 0, limit  # the common prefix's length, found by halving (slices compare in C)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[:mid] == new[:mid]:
            lo = mid
        else:
            hi = mid - 1
    start = lo
    lo, hi = 0, limit - start  # the common suffix, not overlapping the prefix
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[len(old) - mid:] == new[len(new) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return start, len(old) - lo, len(new) - lo
