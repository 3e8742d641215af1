"""The Write tab: one document, continued from the cursor in any blend, with the pending
passage restyled live while the handle moves.

The desk's logic (pending passage, candidates, provenance, bans, lorebook, token alternatives,
undo) is an engine.documents.desk.Desk, the one `prosemix continue` drives too. This panel
forwards the writer's keys to it, hands the jobs it asks for to the worker, feeds the pieces
back, and renders the result.
"""
from __future__ import annotations

import random
from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QMouseEvent, QShortcut
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QInputDialog, QLabel, QPushButton, QSpinBox,
                               QToolTip, QVBoxLayout, QWidget)

from engine.backends.generation import MAX_CANDIDATES, Finish, seeds_from
from engine.documents.context import DocumentContext
from engine.documents.desk import Outcome
from engine.errors import ProsemixError
from engine.weights import Point
from engine.documents.model import Document
from engine.documents.tokens import TokenHit
from engine.sampling import SamplingConfig

from .bans_dialog import BansDialog
from .passage_tint import tint_selections
from .token_view import AlternativesPopup, confidence_selections
from .context_counter import ContextCounter
from .desk_editor import DocumentEditor
from ..worker import Finished, GenerateRequest, Purpose, Request


class WritePanel(DocumentEditor):
    pointRequested = Signal(object, float)  # weights by name, strength: "back to this point"
    message = Signal(str)
    sidecarChanged = Signal()  # what only the sidecar keeps changed (the bans)

    def __init__(self, submit: Callable[[Request], None], cancel: Callable[[], None],
                 point: Callable[[], Point], sampling: Callable[[], SamplingConfig],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._submit, self._cancel, self._point, self._sampling = submit, cancel, point, sampling
        self._request: GenerateRequest | None = None  # the worker's run of the desk's job
        self._loading = False  # a model load is under way (MainWindow.load)
        self.can_preview = False  # the backend restyles a drag from an earlier point's KV (MainWindow)
        self._deferred: Callable[[], object] | None = None  # the step that waits for it
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
        super().set_document(doc)  # a recovered pending passage: restyle and Retry go on from it
        self._show_bans()

    def _show_bans(self) -> None:
        bans = self.doc.bans
        count = len(bans.phrases)
        label = "Banned phrases…" if not bans else \
            f"Banned phrases: {count}{' + the slop list' if bans.slop else ''}…"
        self.context_box.bans_button.setText(label)

    # ----- the point and the anchors -------------------------------------------------------------
    def set_anchors(self, names: list[str], colours: list[str], model: str) -> None:
        self.colours = dict(zip(names, colours))
        self.desk.names, self.desk.model = list(names), model
        self._loading = False
        self._paint()
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            self.status.setText("")
            self._do(deferred)

    def model_loading(self, loading: bool) -> None:
        """A model is being loaded: until its anchors arrive the desk cannot say which point it
        writes at, so a Continue (or Retry, or rewrite) waits for them and then starts; a load
        that fails drops it."""
        self._loading = loading
        if not loading and self._deferred is not None:
            self._deferred = None
            self.status.setText("")

    def _cursor(self) -> int:
        return self.editor.textCursor().position()

    # ----- generation ------------------------------------------------------------------------------
    def _do(self, step: Callable[[], object], writes: str = "said") -> bool:
        """Run one of the desk's steps and render what it changed: a job it dropped is stopped,
        a new one goes to the worker. False (and said) when the desk refused. ``writes``: "said"
        for a step that starts writing (while a model loads it waits, with a word), "quiet" for
        one that waits without a word (a restyle on every move of the handle), "no" for one
        that needs no model (keep, discard, cycle)."""
        running = self.desk.job
        if self._loading and writes != "no":
            if writes == "said":  # the last such step runs once the model is there
                self._deferred = step
                self.message.emit("The model is still loading: this starts as soon as it is ready.")
                self.status.setText("waiting for the model to load…")
            return False
        try:
            step()
        except ProsemixError as exc:  # the desk refused (DeskError), or the point is not one
            self.message.emit(str(exc))
            return False
        job = self.desk.job
        if running is not None and job is not running:
            self._cancel()
        if job is not None and job is not running:
            self._request = GenerateRequest(job, purpose=Purpose.WRITE, record=False, replace_queued=True)
            self.status.setText("preview at the new point: let go of the handle for the exact passage" if job.preview
                                else "writing… (Esc stops, Tab keeps, Ctrl+Backspace discards)")
            self._submit(self._request)
        self._render()
        self.candidate_label.setText(self.desk.candidates_text())
        return True

    def continue_here(self) -> None:
        """Generate from the cursor (Ctrl+Enter). A pending passage is kept first."""
        self._do(lambda: self.desk.continue_at(self._cursor(), self._point(), self._sampling()))

    def retry(self) -> None:
        """Another candidate for the same place, with a new seed (Ctrl+R)."""
        self._do(lambda: self.desk.retry(self._cursor(), self._point(), self._sampling()))

    def retry_many(self) -> None:
        """K candidates for this place at once, one seed each (Ctrl+Shift+R): the first is
        shown as it is written, the others fill in behind it (Alt+Left/Right)."""
        seeds = seeds_from(random.randrange(2**31), self.many.value())
        self._do(lambda: self.desk.retry_many(self._cursor(), self._point(), self._sampling(), seeds))

    def restyle(self, preview: bool = False) -> None:
        """Regenerate the pending (or selected) passage at the picker's point: the same context
        and seed, so what changes is the style. Called on every move of the handle with
        ``preview`` (where the backend can: the passage from the KV of an earlier point, marked
        as a preview) and at the release without it (the exact passage)."""
        self._do(lambda: self.desk.restyle(self._cursor(), self._point(), self._sampling(),
                                           preview=preview and self.can_preview), "quiet")

    def _count_what(self) -> tuple[str, DocumentContext, int] | None:
        """What a Continue at the cursor would send now, for the counter."""
        found = self.desk.count_request(self._cursor())
        return None if found is None else (*found, self._sampling().max_tokens)

    def on_token(self, request: GenerateRequest, piece: str) -> None:
        if request is self._request and self.desk.piece(request.job, piece):
            self._render()

    def on_candidate_token(self, request: GenerateRequest, index: int, piece: str) -> None:
        """A piece of candidate ``index`` of a Retry xK."""
        if request is not self._request:
            return
        if self.desk.candidate_piece(request.job, index, piece):
            self._render()
        self.candidate_label.setText(self.desk.candidates_text())

    def on_finished(self, request: GenerateRequest, result: Finished) -> None:
        if request is not self._request:
            return
        self._request = None
        outcome = Outcome(Finish(result.finish_reason), result.token_texts, result.alternatives,
                          tuple(Finish(c[2]) for c in result.candidates))
        if not self.desk.finished(request.job, outcome):
            return
        self._render()
        self.candidate_label.setText(self.desk.candidates_text())
        if result.context_budget:
            self.context_counter.show(result.context_tokens, result.context_budget, lore=result.context_lore)
        pending = self.doc.pending
        if pending is not None and pending.candidates and not pending.candidates[pending.current][0]:
            back = "brings your text back" if pending.replaced is not None else "clears it"
            self.status.setText(f"the model wrote nothing here (it ended at once): Ctrl+R tries another "
                                f"seed, moving the handle another point, Ctrl+Backspace {back}")
            return
        if self.desk.previewing:
            self.status.setText("preview at this point (grey): let go of the handle for the exact passage")
            return
        self.status.setText(f"{Finish(result.finish_reason).passage_said}: Tab keeps it, Ctrl+R tries "
                            "again, Alt+Left/Right pick another, moving the handle restyles it")

    def on_failed(self, request: object) -> None:
        if request is self._request and isinstance(request, GenerateRequest):
            self._request = None
            self.desk.failed(request.job)
            self.status.setText("")

    def _interrupt(self) -> None:
        self.stop()
        self._request = None
        self.desk.interrupt()
        self.candidate_label.setText("")

    def stop(self) -> None:
        if self._request is not None:
            self._cancel()

    def accept(self) -> None:
        """Keep the pending passage (Tab)."""
        if self._do(self.desk.accept, "no") and self.doc.pending is None:
            self.status.setText("")

    def discard(self) -> None:
        """Remove the pending passage (Ctrl+Backspace)."""
        had = self.doc.pending is not None
        if self._do(self.desk.discard, "no") and had:
            self.status.setText("discarded")

    def cycle(self, step: int) -> None:
        """Show another candidate (Alt+Left / Alt+Right)."""
        self._do(lambda: self.desk.cycle(step), "no")

    def _paint(self) -> None:
        selections = tint_selections(self.editor.document(), self.doc, self.colours)
        if getattr(self, "confidence", None) is not None and self.confidence.isChecked():
            selections += confidence_selections(self.editor.document(), self.desk)
        self._show(selections)

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
        if ok:
            self._do(lambda: self.desk.rewrite_selection(start, end, instruction, self._point(),
                                                         self._sampling()))

    # ----- token alternatives --------------------------------------------------------------------
    def rewrite_from(self, hit: TokenHit, choice: str) -> None:
        """Write the passage again from token ``hit.index`` with ``choice`` in its place, at the
        passage's own point and seed: a new candidate of that passage (Alt+Left comes back)."""
        if self._do(lambda: self.desk.rewrite_from(hit, choice)) and self.desk.job is not None:
            self.status.setText(f"writing again from \"{choice.strip() or choice}\"… (Alt+Left: the passage as it was)")

    # ----- provenance ---------------------------------------------------------------------------------
    def point_of_passage(self) -> None:
        """Put the picker back at the point of the passage under the cursor."""
        provenance = self.desk.provenance_at(self._cursor())
        if provenance is not None:
            self.pointRequested.emit(provenance.weights, provenance.strength)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.editor.viewport() and isinstance(event, QMouseEvent) \
                and event.type() == QEvent.Type.MouseMove:
            pos = self.editor.cursorForPosition(event.position().toPoint()).position()
            passage = self.doc.passage_at(pos)
            hit = self.desk.token_at(pos)
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
            if key == Qt.Key.Key_Backspace and mods & Qt.KeyboardModifier.ControlModifier \
                    and self.doc.pending is not None:  # before the editor's "delete the word"
                self.discard()
                return True
            if key == Qt.Key.Key_Escape and self._request is not None:
                self.stop()
                return True
            if key == Qt.Key.Key_Z and mods & Qt.KeyboardModifier.ControlModifier:
                self.redo() if mods & Qt.KeyboardModifier.ShiftModifier else self.undo()
                return True
            if key == Qt.Key.Key_Y and mods & Qt.KeyboardModifier.ControlModifier:
                self.redo()
                return True
        return super().eventFilter(watched, event)

