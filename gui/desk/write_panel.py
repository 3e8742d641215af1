"""The Write tab: one document, continued from the cursor in any blend, with the pending
passage restyled live while the handle moves.

The document itself (text, passages with provenance, alternatives) is an
engine.documents.model.Document; this panel renders it in a QPlainTextEdit and keeps the two
equal. Generated text streams in as one undo step (Qt edit blocks joined token by token);
after an undo or redo the passages are restored from the states the panel has seen.
"""
from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QMouseEvent, QShortcut
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QInputDialog, QLabel, QPushButton, QSpinBox,
                               QToolTip, QVBoxLayout, QWidget)

from engine.documents.context import rewrite_instruction, rewrite_tokens
from engine.documents.model import Document, Provenance
from engine.backends.generation import MAX_CANDIDATES, Finish, seeds_from
from engine.sampling import SamplingConfig

from .bans_dialog import BansDialog
from .passage_tint import tint_selections
from .token_view import TOP_K, AlternativesPopup, TokenHit, TokenStore
from .context_counter import ContextCounter
from .desk_editor import DocumentEditor
from ..worker import DocumentContext, Finished, GenerateRequest, Purpose, Request

Point = tuple[list[float], float, bool]  # weights, strength, extrapolate


class WritePanel(DocumentEditor):
    pointRequested = Signal(object, float)  # weights by name, strength: "back to this point"
    message = Signal(str)
    sidecarChanged = Signal()  # what only the sidecar keeps changed (the bans)

    def __init__(self, submit: Callable[[Request], None], cancel: Callable[[], None],
                 point: Callable[[], Point], sampling: Callable[[], SamplingConfig],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._submit, self._cancel, self._point, self._sampling = submit, cancel, point, sampling
        self.names: list[str] = []
        self.model = ""
        self._job: GenerateRequest | None = None  # the generation filling the pending passage
        self._before = ""  # the pending passage's context: the text before it
        self._seed = 0
        self._whole = False  # the passage in view is complete (not stopped part-way)
        self._joined = False  # the next generated edit joins the previous undo step
        self.editor.viewport().setMouseTracking(True)
        self.editor.viewport().installEventFilter(self)
        self.editor.installEventFilter(self)
        self.status = QLabel("")
        self.counter = QLabel("")
        self.candidate_label = QLabel("")
        self.continue_button = QPushButton("Continue  (Ctrl+Enter)")
        self.many_button = QPushButton("Retry ×")
        self.many_button.setToolTip("Several candidates for this place at once, one seed each "
                                    "(Ctrl+Shift+R); Alt+Left/Right shows them")
        self.many = QSpinBox()
        self.many.setRange(2, MAX_CANDIDATES)
        self.many.setValue(4)
        self.many.setAccessibleName("Candidates per Retry")
        self._many_base = 0  # a Retry xK: the index of its first candidate in the pending list
        self.tokens = TokenStore()  # each passage's tokens and their alternatives
        self._rewrite: tuple[tuple[str, ...], tuple] | None = None  # a rewrite's kept tokens
        self._selection: tuple[str, str] | None = None  # rewriting a selection: (its text, the instruction)
        self.popup = AlternativesPopup(self)
        self.popup.chosen.connect(self.rewrite_from)
        self.confidence = QCheckBox("Confidence")
        self.confidence.setToolTip("Tint each generated token by how likely it was: red below 5%, "
                                   "amber below 20% (rest the mouse on a token for its alternatives)")
        self.confidence.toggled.connect(self._paint)
        self._layout()
        self.context_counter = ContextCounter(self.counter, self._submit, self._count_what, self)
        for signal in (self.editor.cursorPositionChanged, self.memory.textChanged,
                       self.note.textChanged, self.window_tokens.valueChanged):
            signal.connect(self.context_counter.schedule)
        self.continue_button.clicked.connect(self.continue_here)
        self.context_box.bans_button.clicked.connect(self.edit_bans)
        self._show_bans()
        self.many_button.clicked.connect(self.retry_many)
        # Ctrl+Enter and Esc are the window's (they act on the tab in view)
        for keys, slot in (("Ctrl+R", self.retry), ("Ctrl+Shift+R", self.retry_many),
                           ("Alt+Left", lambda: self.cycle(-1)),
                           ("Alt+Right", lambda: self.cycle(+1)), ("Ctrl+Backspace", self.discard),
                           ("Ctrl+Alt+B", self.edit_bans), ("Ctrl+Shift+Return", self.rewrite_selection),
                           ("Ctrl+Shift+Enter", self.rewrite_selection)):
            QShortcut(QKeySequence(keys), self.editor, slot, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)

    def _layout(self) -> None:
        row = QHBoxLayout()
        row.addWidget(self.continue_button)
        row.addWidget(self.many_button)
        row.addWidget(self.many)
        row.addWidget(self.candidate_label)
        row.addStretch(1)
        row.addWidget(self.confidence)
        row.addWidget(self.counter)
        layout = QVBoxLayout(self)
        layout.addWidget(self.editor, 1)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.context_box)

    # ----- banned phrases -------------------------------------------------------------------------
    def edit_bans(self) -> None:
        dialog = BansDialog(self.doc.bans, self)
        if dialog.exec() and dialog.result_bans is not None and dialog.result_bans != self.doc.bans:
            self.doc.bans = dialog.result_bans
            self._show_bans()
            self.sidecarChanged.emit()

    def set_document(self, doc: Document) -> None:
        super().set_document(doc)
        self._show_bans()
        self._selection = self._rewrite = None
        if doc.pending is not None:  # a recovered pending passage: restyle and Retry go on from it
            self._before = doc.text[:doc.pending.start]
            if doc.pending.candidates:
                self._seed = doc.pending.candidates[doc.pending.current][1].seed
            self._whole = True

    def _show_bans(self) -> None:
        bans = self.doc.bans
        count = len(bans.phrases)
        label = "Banned phrases…" if not bans else \
            f"Banned phrases: {count}{' + the slop list' if bans.slop else ''}…"
        self.context_box.bans_button.setText(label)

    # ----- the point and the anchors -------------------------------------------------------------
    def set_anchors(self, names: list[str], colours: list[str], model: str) -> None:
        self.names, self.colours, self.model = list(names), dict(zip(names, colours)), model
        self._paint()

    # ----- generation ------------------------------------------------------------------------------
    def continue_here(self) -> None:
        """Generate from the cursor (Ctrl+Enter). A pending passage is kept first."""
        if self.doc.pending is not None:
            self.accept()
        pos = self.editor.textCursor().position()
        if not self.doc.text[:pos].strip() and not self.memory.toPlainText().strip():
            self.message.emit("Write a beginning first (or a memory), then continue.")
            return
        self._before = self.doc.text[:pos]
        self._seed = self._sampling().seed
        self.doc.begin_pending(pos)
        self._joined = False
        self._start(new_candidate=True)

    def retry(self) -> None:
        """Another candidate for the same place, with a new seed (Ctrl+R)."""
        if self.doc.pending is None:
            self.continue_here()
            return
        self._seed = random.randrange(2**31)
        self._joined = False
        self._start(new_candidate=True)

    def retry_many(self) -> None:
        """K candidates for this place at once, one seed each (Ctrl+Shift+R): the first is
        shown as it is written, the others fill in behind it (Alt+Left/Right)."""
        if self.doc.pending is None:
            pos = self.editor.textCursor().position()
            if not self.doc.text[:pos].strip() and not self.memory.toPlainText().strip():
                self.message.emit("Write a beginning first (or a memory), then continue.")
                return
            self._before = self.doc.text[:pos]
            self.doc.begin_pending(pos)
        seeds = seeds_from(random.randrange(2**31), self.many.value())
        self._seed = seeds[0]
        self._joined = False
        self._start(new_candidate=True, seeds=seeds)

    def restyle(self) -> None:
        """Regenerate the pending (or selected) passage at the picker's point: the same context
        and seed, so what changes is the style. Called on every move of the handle."""
        if self.doc.pending is None and not self._reopen_passage():
            return
        if not self._at_point_already():
            self._start(new_candidate=False)

    def _at_point_already(self) -> bool:
        """The passage in view is being written, or was written whole, at the picker's point
        (the release that ends a drag then costs nothing)."""
        assert self.doc.pending is not None
        weights, strength, _ = self._point()
        _, made = self.doc.pending.candidates[self.doc.pending.current]
        same = (made.weights == dict(zip(self.names, weights)) and made.strength == strength
                and made.seed == self._seed)
        return same and (self._job is not None or self._whole)

    def _reopen_passage(self, pos: int | None = None) -> bool:
        """The passage under the cursor (or at ``pos``) becomes pending again, to be restyled."""
        passage = self.doc.passage_at(self.editor.textCursor().position() if pos is None else pos)
        if passage is None:
            return False
        text = self.doc.text[passage.start:passage.end]
        self.doc.passages.remove(passage)
        self._before = self.doc.text[:passage.start]
        self._seed = passage.provenance.seed
        self.doc.begin_pending(passage.start)
        self.doc.pending.candidates.append((text, passage.provenance))  # type: ignore[union-attr]  # begin_pending set it
        self._joined = False
        self._whole = True
        return True

    def _start(self, new_candidate: bool, seeds: list[int] | None = None) -> None:
        if self.doc.pending is not None and self._selection is None:
            self._before = self.doc.text[:self.doc.pending.start]  # what the passage continues
        weights, strength, extrapolate = self._point()
        base = self._sampling()
        sampling = SamplingConfig(max_tokens=base.max_tokens, temperature=base.temperature,
                                  top_p=base.top_p, top_k=base.top_k,
                                  repetition_penalty=base.repetition_penalty, seed=self._seed)
        provenance = Provenance(dict(zip(self.names, weights)), strength, self._seed, self.model,
                                {k: v for k, v in vars(sampling).items() if k not in ("seed", "stop")})
        if self._job is not None and self._job.seeds:  # a restyle ends a Retry xK
            self._drop_unwritten(len(self._job.seeds))
        self._cancel()
        self._whole = False
        self._set_text("", provenance, new=new_candidate)
        assert self.doc.pending is not None
        self._many_base = self.doc.pending.current
        for seed in (seeds or [])[1:]:  # the others wait behind the one shown
            self.doc.pending.candidates.append(("", replace(provenance, seed=seed)))
        prompt = self._before
        document: DocumentContext | None = self._document_context()
        if self._selection is not None:  # a rewrite of the writer's selection
            span, instruction = self._selection
            sampling = replace(sampling, max_tokens=rewrite_tokens(len(span) // 3),
                               stop=() if "\n\n" in span.strip() else ("\n\n",))
            if instruction:  # the instruct model's chat template carries the instruction
                prompt, document = rewrite_instruction(instruction, span), None
                sampling = replace(sampling, chat=True)
        self._job = GenerateRequest(
            prompt, tuple(weights), sampling, purpose=Purpose.WRITE, extrapolate=extrapolate,
            strength=strength, record=False, replace_queued=True, document=document,
            seeds=tuple(seeds or ()), top_logprobs=0 if seeds else TOP_K, bans=self.doc.bans.all())
        self._rewrite = None
        self.status.setText("writing… (Esc stops, Tab keeps, Ctrl+Backspace discards)")
        self._submit(self._job)

    def _document_context(self) -> DocumentContext:
        """What the worker needs of the document to build a Continue's context (and, for a
        server, which document: its slot)."""
        return DocumentContext(self.memory.toPlainText(), self.note.toPlainText(), self.window_tokens.value(),
                               self.doc.lorebook, f"doc-{id(self.doc)}")

    def _count_what(self) -> tuple[str, DocumentContext, int] | None:
        """What a Continue at the cursor would send now, for the counter (None while a passage
        is being written: its count comes with it)."""
        if self._job is not None:
            return None
        before = self._before if self.doc.pending is not None else \
            self.doc.text[:self.editor.textCursor().position()]
        if not before.strip() and not self.memory.toPlainText().strip():
            return None
        return before, self._document_context(), self._sampling().max_tokens

    def on_token(self, request: GenerateRequest, piece: str) -> None:
        if request is not self._job or self.doc.pending is None or not piece:
            return
        text, provenance = self.doc.pending.candidates[self.doc.pending.current]
        self._set_text(text + piece, provenance, new=False)

    def on_candidate_token(self, request: GenerateRequest, index: int, piece: str) -> None:
        """A piece of candidate ``index`` of a Retry xK."""
        alt = self.doc.pending
        slot = self._many_base + index
        if request is not self._job or alt is None or not piece or slot >= len(alt.candidates):
            return
        text, provenance = alt.candidates[slot]
        if slot == alt.current:
            self._set_text(text + piece, provenance, new=False)
        else:
            self.doc.store_candidate(slot, text + piece, provenance)
            self.candidate_label.setText(self._candidates_text())

    def on_finished(self, request: GenerateRequest, result: Finished) -> None:
        if request is not self._job:
            return
        self._job = None
        self._whole = result.finish_reason != Finish.CANCELLED
        alt = self.doc.pending
        if request.seeds and alt is not None:  # a Retry xK: the one in view, and no empty ones
            mine = range(self._many_base, self._many_base + len(result.candidates))
            if alt.current in mine:
                self._whole = result.candidates[alt.current - self._many_base][2] != Finish.CANCELLED
            self._drop_unwritten(len(result.candidates))
            self._paint()
        if alt is not None and result.token_texts and not request.seeds:
            kept_texts, kept_alts = self._rewrite or ((), ())
            self.tokens.put(alt.candidates[alt.current][1], kept_texts + result.token_texts,
                            kept_alts + result.alternatives)
            self._paint()
        self._rewrite = None
        if result.context_budget:
            self.context_counter.show(result.context_tokens, result.context_budget, lore=result.context_lore)
        reasons: dict[str, str] = {Finish.CANCELLED: "stopped", Finish.LENGTH: "done", Finish.EOS: "done", Finish.STOP: "done",
                   Finish.BANS: "done (the bans ended it)"}
        self.status.setText(f"{reasons.get(result.finish_reason, '')}: Tab keeps it, Ctrl+R tries "
                            "again, Alt+Left/Right pick another, moving the handle restyles it")
        self._remember()

    def _drop_unwritten(self, count: int) -> None:
        """Drop the candidates of a Retry xK that got no text (a stop or a restyle came
        before them); the one in view stays."""
        alt = self.doc.pending
        if alt is None:
            return
        mine = range(self._many_base, min(self._many_base + count, len(alt.candidates)))
        self.doc.drop_candidates([i for i in mine if i != alt.current and not alt.candidates[i][0]])
        self.candidate_label.setText(self._candidates_text())

    def on_failed(self, request: object) -> None:
        if request is self._job:
            self._job = None
            self.status.setText("")

    def _interrupt(self) -> None:
        self.stop()
        self._job = None
        self.candidate_label.setText("")

    def stop(self) -> None:
        if self._job is not None:
            self._cancel()

    def accept(self) -> None:
        """Keep the pending passage (Tab)."""
        self._settle(keep=True)

    def discard(self) -> None:
        """Remove the pending passage (Ctrl+Backspace)."""
        self._settle(keep=False)

    def _settle(self, keep: bool) -> None:
        if self.doc.pending is None:
            return
        self.stop()
        self._job = None
        selection, self._selection = self._selection, None
        if keep:
            self.doc.accept()
        else:
            span = self.doc.pending_span() or (self.doc.pending.start, self.doc.pending.start)
            self.doc.discard()
            self._edit(span[0], span[1], selection[0] if selection else "", join=selection is not None)
        self.candidate_label.setText("")
        self.status.setText("" if keep else "discarded")
        self._paint()
        self._remember()

    def cycle(self, step: int) -> None:
        """Show another candidate (Alt+Left / Alt+Right)."""
        if self.doc.pending is None or len(self.doc.pending.candidates) < 2:
            return
        writing_many = self._job is not None and bool(self._job.seeds)
        if not writing_many:  # a Retry xK goes on behind the one in view
            self.stop()
            self._job = None
        old = self.doc.pending_span()
        self.doc.show_candidate(step)
        new = self.doc.pending_span()
        if old and new:
            self._edit(old[0], old[1], self.doc.text[new[0]:new[1]], join=True)
        self._seed = self.doc.pending.candidates[self.doc.pending.current][1].seed
        self._whole = not writing_many  # as it was made at its own point
        self.candidate_label.setText(self._candidates_text())
        self._paint()

    def _candidates_text(self) -> str:
        alt = self.doc.pending
        if alt is None or len(alt.candidates) < 2:
            return ""
        return f"candidate {alt.position}  (Alt+Left / Alt+Right)"

    def _set_text(self, text: str, provenance: Provenance, new: bool) -> None:
        """Put ``text`` in the pending slot (a new candidate, or the current one again)."""
        assert self.doc.pending is not None
        old = self.doc.pending_span()
        self.doc.set_candidate(text, provenance, None if new else self.doc.pending.current)
        start = self.doc.pending.start
        removed_end = old[1] if old else start
        self._edit(start, removed_end, text, join=self._joined)
        self._joined = True
        self.candidate_label.setText(self._candidates_text())
        self._paint()

    def _paint(self) -> None:
        selections = tint_selections(self.editor.document(), self.doc, self.colours)
        if getattr(self, "confidence", None) is not None and self.confidence.isChecked():
            selections += self.tokens.confidence_selections(self.editor.document(), self.doc)
        self.editor.setExtraSelections(selections)

    # ----- rewriting a selection -------------------------------------------------------------------
    def rewrite_selection(self) -> None:
        """Write the selected text again (Ctrl+Shift+Enter): in the blend at the picker's point,
        or as an instruction asks ("more formal", "shorter"). The rewrite is pending in place,
        with candidates and restyle like a new passage; discarding it brings the text back, and
        one undo takes the whole rewrite back."""
        cursor = self.editor.textCursor()
        start, end = sorted((cursor.selectionStart(), cursor.selectionEnd()))
        if start == end or not self.doc.text[start:end].strip():
            self.message.emit("Select the text to rewrite first, then Ctrl+Shift+Enter.")
            return
        instruction, ok = QInputDialog.getText(self, "Rewrite the selection",
                                               "Instruction (optional; empty: rewrite it in the blend at the point):")
        if not ok:
            return
        if self.doc.pending is not None:
            self.accept()
            start, end = sorted((self.editor.textCursor().selectionStart(), self.editor.textCursor().selectionEnd()))
        self._before = self.doc.text[:start]
        original = self.doc.begin_rewrite(start, end)
        self._selection = (original, instruction.strip())
        self._edit(start, end, "", join=False)
        self._joined = True  # the rewrite streams into the same undo step
        self._seed = self._sampling().seed
        self._start(new_candidate=True)

    # ----- token alternatives --------------------------------------------------------------------
    def rewrite_from(self, hit: TokenHit, choice: str) -> None:
        """Write the passage again from token ``hit.index`` with ``choice`` in its place, at the
        passage's own point and seed: a new candidate of that passage (Alt+Left comes back)."""
        found = self.tokens.tokens(hit.provenance)
        made = hit.provenance
        if found is None or set(made.weights) - set(self.names):
            self.message.emit("this passage's voices are not all on the picker: put them back to rewrite it")
            return
        if self.doc.pending is None or self.doc.pending.start != hit.start:
            self.accept()
            if not self._reopen_passage(hit.start):
                return
        texts, alts = found
        kept = texts[:hit.index] + (choice,)
        self._rewrite = (kept, alts[:hit.index + 1])
        params = {k: v for k, v in made.sampling.items() if k in ("temperature", "top_p", "top_k", "repetition_penalty")}
        rest = int(made.sampling.get("max_tokens", len(texts))) - hit.index - 1
        provenance = replace(made, created=time.time(), sampling={**made.sampling, "from_token": hit.index})
        self.stop()
        self._job = None
        self._seed = made.seed
        self._set_text("".join(kept), provenance, new=True)
        if rest < 1:
            self.tokens.put(provenance, kept, alts[:hit.index + 1])
            self._rewrite, self._whole = None, True
            return
        self._job = GenerateRequest(
            self._before + "".join(kept), tuple(made.weights.get(n, 0.0) for n in self.names),
            SamplingConfig(max_tokens=rest, seed=made.seed, **params), purpose=Purpose.WRITE,
            extrapolate=True, strength=made.strength, record=False, replace_queued=True,
            document=self._document_context(), top_logprobs=TOP_K, bans=self.doc.bans.all())
        self.status.setText(f"writing again from \"{choice.strip() or choice}\"… (Alt+Left: the passage as it was)")
        self._submit(self._job)

    # ----- provenance ---------------------------------------------------------------------------------
    def point_of_passage(self) -> None:
        """Put the picker back at the point of the passage under the cursor."""
        pos = self.editor.textCursor().position()
        passage = self.doc.passage_at(pos)
        if passage is None and self.doc.pending is not None:
            span = self.doc.pending_span()
            if span and span[0] <= pos <= span[1]:
                provenance = self.doc.pending.candidates[self.doc.pending.current][1]
                self.pointRequested.emit(provenance.weights, provenance.strength)
            return
        if passage is not None:
            self.pointRequested.emit(passage.provenance.weights, passage.provenance.strength)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.editor.viewport() and isinstance(event, QMouseEvent) \
                and event.type() == QEvent.Type.MouseMove:
            pos = self.editor.cursorForPosition(event.position().toPoint()).position()
            passage = self.doc.passage_at(pos)
            hit = self.tokens.at(self.doc, pos) if self._job is None else None
            if hit is not None:
                QToolTip.hideText()
                self.popup.show_hit(hit, event.globalPosition().toPoint())
                return super().eventFilter(watched, event)
            self.popup.hide()
            if passage is not None:
                what = "generated" + (", then edited" if passage.edited else "")
                QToolTip.showText(event.globalPosition().toPoint(),
                                  f"{what}: {passage.provenance.label()}\nCtrl+Shift+P: back to this point",
                                  self.editor)
            else:
                QToolTip.hideText()
        elif watched is self.editor and isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyPress:
            self.popup.hide()
            key, mods = event.key(), event.modifiers()
            if key == Qt.Key.Key_Tab and self.doc.pending is not None:
                self.accept()
                return True
            if key == Qt.Key.Key_Escape and self._job is not None:
                self.stop()
                return True
            if key == Qt.Key.Key_Z and mods & Qt.KeyboardModifier.ControlModifier:
                self.redo() if mods & Qt.KeyboardModifier.ShiftModifier else self.undo()
                return True
        return super().eventFilter(watched, event)

