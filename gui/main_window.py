"""The main window: it lays out the parts, holds the menus, and routes between the parts and
the one worker. Each part owns one thing: PointPanel the point, AnchorsPanel the anchors
(saved by anchor_store), GenerationPanel / CompareView / HistoryView / AnalysisTab their
tabs, StatusArea the status bar. Requests and results are typed objects (gui.worker)."""
from __future__ import annotations

import functools
import json
from typing import Any, Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QInputDialog, QMainWindow, QMessageBox, QSplitter, QTabWidget

from engine.anchors.model import distinct_colour
from engine.backends import BackendSpec
from engine.backends.generation import MAX_CANDIDATES, Finish, seeds_from
from engine.documents.jobs import Job
from engine.documents.model import Document
from engine.words import word_count
from engine.errors import ProsemixError
from engine.history import History
from engine.weights import Attribute

from .anchors import anchor_store
from .tabs.analysis_tab import AnalysisTab
from .anchors.anchors_panel import AnchorsPanel, card_of
from .anchors.training_task import AnchorTrained, VoiceChecked, VoiceMade, strength_task
from .anchors.voice_dialog import VoiceDialog
from .layouts import weights_label
from .tabs.compare_view import CompareView
from .desk.desk_files import DeskFiles
from .focus import KeysBack
from .dialogs import ModelDialog, NewAnchorDialog, show_error
from .tabs.generation_panel import GenerationPanel
from .tabs.history_view import HistoryView
from .desk.lorebook_dialog import LorebookDialog
from .point.point_panel import PointPanel
from .point.presets import PresetStore
from .status_area import StatusArea
from .desk.write_panel import WritePanel
from .worker import (EngineWorker, Failure, Finished, GenerateRequest, Loaded, LoadRequest,
                     Purpose, TaskKind, TaskRequest)

DEBOUNCE_MS = 350
WORD_COUNT_MS = 300  # the writer's count waits for a pause in typing
LOADING = "Loading the model and its anchors…"


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, history: History | None = None,
                 load_defaults: bool = True):
        super().__init__()
        self._keys_back = KeysBack(self)  # a closed dialog gives this window its keys back
        self._after_load = ""  # what to tell the writer once the next load is done
        self._session_base = 0  # the words the document had when this session began with it
        self.setWindowTitle("Prosemix")
        self.settings = settings or QSettings("Prosemix", "Prosemix")
        self.history = history or History()
        self.worker = EngineWorker(self.history)
        self.model_choice = BackendSpec()
        self.loaded_names: list[str] = []
        self._errors: list = []
        self._main: GenerateRequest | None = None  # the main generation whose tokens are shown
        self._build()
        self._menus()
        self._wire()
        self._restore()
        self.worker.start()
        if load_defaults:
            QTimer.singleShot(0, self._add_default_anchors)
            QTimer.singleShot(0, self.files.offer_recovery)

    # ----- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.point = PointPanel(PresetStore(self.settings))
        self.picker = self.point.picker  # the window's most used part, for shortcuts and tests
        self.anchors = AnchorsPanel()
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.point)
        left.addWidget(self.anchors)
        left.setSizes([520, 240])
        self.generation = GenerationPanel()
        self.write = WritePanel(lambda r: self.worker.submit(r), lambda: self.worker.cancel(),
                                self.point.point,
                                self.generation.sampling)
        self.files = DeskFiles(self.write, self.settings, self)
        self.compare = CompareView()
        self.history_view = HistoryView(self.history)
        self.analysis = AnalysisTab()
        self.tabs = QTabWidget()
        for widget, label in ((self.write, "Write"), (self.generation, "Generate"), (self.compare, "Compare"),
                              (self.history_view, "History"), (self.analysis, "Analysis")):
            self.tabs.addTab(widget, label)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setSizes([420, 640])
        self.setCentralWidget(split)
        self.status = StatusArea(self.statusBar())
        self.resize(1120, 760)

    def _menus(self) -> None:
        def action(menu, text, slot, shortcut=None):
            a = QAction(text, self)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(slot)
            menu.addAction(a)
            return a

        file = self.menuBar().addMenu("&File")
        action(file, "&New document", self.files.new, "Ctrl+N")
        action(file, "&Open document…", lambda: self.files.open(), "Ctrl+O")
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        action(file, "&Save", self.files.save, "Ctrl+S")
        action(file, "Save &as…", self.files.save_as, "Ctrl+Shift+S")
        action(file, "Export as plain &text…", lambda: self.files.export(markdown=False))
        action(file, "Export as &Markdown…", lambda: self.files.export(markdown=True))
        file.addSeparator()
        action(file, "&Lorebook…", self.edit_lorebook, "Ctrl+Alt+L")
        action(file, "Session word &goal…", self._ask_goal, "Ctrl+Alt+G")
        file.addSeparator()
        action(file, "&Model…", self._choose_model, "Ctrl+M")
        action(file, "&Add anchor file…", self.anchors.add_file, "Ctrl+Alt+O")
        action(file, "Add anchor &folder…", self.anchors.add_folder)
        action(file, "New &anchor from my texts…", self._new_anchor, "Ctrl+Alt+N")
        action(file, "New &voice from my writing…", self.new_voice, "Ctrl+Alt+V")
        file.addSeparator()
        action(file, "&Quit", self.close, "Ctrl+Q")
        point = self.menuBar().addMenu("&Point")
        action(point, "&Centre", self.point.centre, "Ctrl+0")
        action(point, "&Pin for compare", self._pin, "Ctrl+P")
        action(point, "&Save preset…", self.point.ask_save_preset, "Ctrl+Alt+S")
        action(point, "&Back to the passage's point", self.write.point_of_passage, "Ctrl+Shift+P")
        action(point, "&Voices on the picker…", self._show_palette, "Ctrl+Shift+A")
        self.extrapolate_action = action(point, "&Extrapolation", self.point.extrapolate.toggle, "Ctrl+E")
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, self._run_here, context=Qt.ShortcutContext.WindowShortcut)
        QShortcut(QKeySequence("Esc"), self, self.stop, context=Qt.ShortcutContext.WindowShortcut)
        help_menu = self.menuBar().addMenu("&Help")
        action(help_menu, "&Keyboard shortcuts", self._show_shortcuts, "F1")
        action(help_menu, "&About Prosemix", self._about)

    def _wire(self) -> None:
        w = self.worker
        w.loaded.connect(self._on_loaded)
        w.token.connect(self._on_token)
        w.candidate_token.connect(self._on_candidate_token)
        w.finished.connect(self._on_finished)
        w.errored.connect(self._on_error)
        w.progress.connect(self._on_progress)
        w.task_done.connect(self._on_task_done)
        w.busy.connect(self.generation.set_running)
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(DEBOUNCE_MS)
        self.debounce.timeout.connect(self.generate)
        self.point.committed.connect(self._point_committed)
        self.picker.weightsChanged.connect(self._point_moving)
        self.point.strength.changed.connect(self._point_moving)
        self.write.pointRequested.connect(self._go_to_point)
        self.point.palette_menu.aboutToShow.connect(self._fill_palette)
        self.point.pairToggled.connect(self._toggle_pair)
        self.files.documentSet.connect(self._apply_palette)
        self.files.documentSet.connect(self._start_session)
        self.write.sidecarChanged.connect(self.files.mark_changed)
        self.word_timer = QTimer(self)
        self.word_timer.setSingleShot(True)
        self.word_timer.setInterval(WORD_COUNT_MS)
        self.word_timer.timeout.connect(self._count_words)
        self.write.editor.textChanged.connect(self.word_timer.start)
        self.write.message.connect(lambda m: self.status.say(m, 6000))
        self.files.message.connect(lambda m: self.status.say(m, 8000))
        self.files.titleChanged.connect(lambda t: self.setWindowTitle(f"{t} — Prosemix"))
        self.point.message.connect(lambda m: self.status.say(m, 8000))
        self.generation.generateRequested.connect(self.generate)
        self.generation.stopRequested.connect(self.stop)
        self.compare.runRequested.connect(self._run_compare)
        self.compare.pinsChanged.connect(self.picker.set_pins)
        self.compare.pin_button.clicked.connect(self._pin)
        self.compare.seeds_button.clicked.connect(self._compare_seeds)
        self.anchors.anchorsChanged.connect(self._anchors_changed)
        self.anchors.newAnchorRequested.connect(self._new_anchor)
        self.history_view.rerunRequested.connect(self._rerun)
        self.status.cancel.clicked.connect(self.worker.cancel)
        self.analysis.runRequested.connect(
            lambda task: self.worker.submit(TaskRequest(task, TaskKind.SWEEP, needs_backend=True)))
        self.analysis.overlayRequested.connect(self.picker.set_overlay)

    # ----- the writer's count ---------------------------------------------------------------------
    def _start_session(self, doc: object) -> None:
        """A document came onto the desk: this session's words count from here."""
        assert isinstance(doc, Document)
        self._session_base = word_count(doc.text)
        self._count_words()

    def _count_words(self) -> None:
        total = word_count(self.write.document().text)
        self.status.words(total, total - self._session_base, self._goal())

    def _goal(self) -> int:
        try:
            return max(0, int(str(self.settings.value("session_goal", 0))))
        except (TypeError, ValueError):
            return 0

    def _ask_goal(self) -> None:
        goal, ok = QInputDialog.getInt(self, "Session goal", "Words to write this session (0: none):",
                                       self._goal(), 0, 1_000_000, 100)
        if ok:
            self.settings.setValue("session_goal", goal)
            self._count_words()

    # ----- the document's lorebook --------------------------------------------------------------
    def edit_lorebook(self) -> None:
        """The lorebook dialog (entries, import, export); OK makes it the document's."""
        doc = self.write.document()
        dialog = LorebookDialog(doc.lorebook, self)
        if not dialog.exec() or dialog.result_book == doc.lorebook:
            return
        book = dialog.result_book
        doc.lorebook = book if book is not None and book.entries else None
        self.files.mark_changed()
        self.write.context_counter.schedule()
        if doc.lorebook is not None:
            self.status.say(f"lorebook: {len(doc.lorebook.entries)} entries; an entry enters the context when "
                            f"a key is in the last {doc.lorebook.scan_tokens} tokens", 10000)

    # ----- model and anchors ---------------------------------------------------------------------
    def _add_default_anchors(self) -> None:
        """The shipped anchors (the triangle enabled), then the writer's own from last time."""
        def shown_name(path: Path) -> str:
            card = card_of(path)
            return card.name if card else path.stem

        entries = anchor_store.restore(anchor_store.saved_entries(self.settings), shown_name)
        if entries:  # emits once, which loads the model
            self.anchors.add_many([(e.path, e.enabled, e.name, e.colour) for e in entries])
        else:
            self.load()

    def _anchors_changed(self, _specs: object) -> None:
        anchor_store.save_entries(self.settings, self.anchors.all_entries())
        doc = self.write.document()
        names = self._enabled_names()
        if doc.palette != names:  # the writer chose other voices: the document keeps them
            # at start-up a document takes the picker silently, and an empty untitled one has
            # nothing worth asking to save
            chosen = bool(doc.palette) and bool(doc.text or self.files.path)
            doc.palette = names
            if chosen:
                self.files.mark_changed()
        self.load()

    # ----- the document's palette: which voices are on the picker --------------------------------
    def _fill_palette(self) -> None:
        menu = self.point.palette_menu
        menu.clear()
        for row, entry in enumerate(self.anchors.all_entries()):
            act = menu.addAction(entry["name"])
            act.setCheckable(True)
            act.setChecked(entry["enabled"])
            act.toggled.connect(lambda on, r=row: self.anchors.set_enabled_at(r, on))
        menu.addSeparator()
        menu.addAction("Add or train voices…", lambda: self.anchors.list.setFocus())

    def _enabled_names(self) -> list[str]:
        return [s.name for s in self.anchors.enabled()]

    def _toggle_pair(self, attr: Attribute, on: bool) -> None:
        """The Attributes tab ticked a pair: its two poles join the loaded voices (or leave)."""
        installed = {e["name"] for e in self.anchors.all_entries()}
        missing = [p for p in (attr.plus, attr.minus) if p not in installed]
        if on and missing:
            self.point.attributes.refresh_ticks()
            self.status.say(f"{attr.name} needs the anchors {', '.join(missing)}, which are not "
                            "installed", 10000)
            return
        names = [n for n in self._enabled_names() if n not in (attr.plus, attr.minus)]
        self.anchors.set_enabled_names(names + [attr.plus, attr.minus] if on else names)

    def _show_palette(self) -> None:
        self.point.setCurrentIndex(0)
        self.point.palette_button.showMenu()

    def _apply_palette(self, doc: object) -> None:
        """A document that was written with a palette brings it back onto the picker; one
        without takes the picker as it is."""
        assert isinstance(doc, Document)
        if not doc.palette:
            doc.palette = self._enabled_names()
        if doc.palette == self._enabled_names():
            return
        missing = self.anchors.set_enabled_names(doc.palette)
        if missing:
            self.status.say(f"this document's voices {', '.join(missing)} are not installed; "
                            "it opened with the others", 10000)

    def load(self) -> None:
        remote = self.model_choice.remote
        self.anchors.setEnabled(not remote)  # a server brings its own anchors
        specs = () if remote else tuple(self.anchors.enabled())
        self.status.loading()
        self.picker.set_empty_text(LOADING)
        self.write.model_loading(True)  # a Continue now waits: the desk's anchors are not known yet
        self.worker.submit(LoadRequest(self.model_choice, specs))

    def _choose_model(self) -> None:
        dialog = ModelDialog(self.model_choice, self)
        if dialog.exec():
            self.model_choice = dialog.choice()
            self.load()

    def _on_loaded(self, _request: LoadRequest, info: Loaded) -> None:
        self.picker.set_empty_text(None)
        self.loaded_names = info.anchors
        chosen = {s.name: s.colour for s in self.anchors.enabled()}
        colours = [chosen.get(a.name) or a.colour for a in info.anchor_objects]
        self.point.set_anchors(self.loaded_names, colours)
        self.compare.set_anchors(self.loaded_names)
        self.analysis.set_anchors(info.anchor_objects)
        self.write.can_preview = info.can_preview
        self.write.set_anchors(self.loaded_names, colours, info.model)
        self.write.context_counter.schedule()
        self.status.loaded(info)
        if self._after_load:
            self.status.say(self._after_load, 10000)
            self._after_load = ""

    # ----- generation --------------------------------------------------------------------------------
    def current_weights(self) -> list[float]:
        return self.point.weights()

    def _point_committed(self) -> None:
        if self.tabs.currentWidget() is self.write:
            self.write.restyle()  # the exact text at the final point
        elif self.generation.live.isChecked():
            self.debounce.start()

    def _point_moving(self, *_args: object) -> None:
        """While the handle is dragged, the Write tab previews its passage at every move."""
        if self.tabs.currentWidget() is self.write and self.loaded_names:
            self.write.restyle(preview=True)

    def _go_to_point(self, weights: dict, strength: float) -> None:
        if set(weights) != set(self.loaded_names):
            self.status.say("that passage was written with other anchors: " + ", ".join(weights), 8000)
            return
        self.point.strength.set_value(strength, emit=False)
        self.point.setCurrentIndex(0)
        self.picker.set_weights([weights[n] for n in self.loaded_names])

    def _run_here(self) -> None:
        """Ctrl+Enter: continue in the Write tab, generate elsewhere."""
        if self.tabs.currentWidget() is self.write:
            self.write.continue_here()
        else:
            self.generate()

    def _prompt_and_sampling(self):
        """The prompt, the sampling settings and the point, or None after telling the user
        what is wrong."""
        try:
            return self.generation.prompt_text(), self.generation.sampling(), self.point.point()
        except ProsemixError as exc:
            self.status.say(str(exc))
            return None

    def generate(self) -> None:
        request = self._prompt_and_sampling()
        if request is None:
            return
        prompt, sampling, point = request
        self.worker.cancel()  # a running generation stops first, within a token
        self.generation.start_output()
        self._main = GenerateRequest(Job(prompt, point, sampling), replace_queued=True)
        self.worker.submit(self._main)

    def stop(self) -> None:
        self.debounce.stop()
        self.worker.cancel()
        self.write.stop()

    def _run_compare(self) -> None:
        if not self.compare.points:
            self.status.say("Pin some points first (Ctrl+P or Steps along an edge).")
            return
        request = self._prompt_and_sampling()
        if request is None:
            return
        prompt, sampling, _ = request
        try:
            points = [self.point.point_at(weights) for weights in self.compare.points]
        except ProsemixError as exc:
            self.status.say(str(exc))
            return
        self.compare.start(prompt)
        if self.compare.seeds:  # one point, K seeds: one candidates request
            self.worker.submit(GenerateRequest(Job(prompt, points[0], sampling, seeds=tuple(self.compare.seeds)),
                                               purpose=Purpose.COMPARE))
            return
        for k, point in enumerate(points):
            self.worker.submit(GenerateRequest(Job(prompt, point, sampling), purpose=Purpose.COMPARE, index=k))

    def _compare_seeds(self) -> None:
        """Compare K seeds at the picker's point (asks for K)."""
        if not self.loaded_names:
            return
        k, ok = QInputDialog.getInt(self, "Seeds at this point", "Number of seeds", 4, 2,
                                    MAX_CANDIDATES)
        if ok:
            try:
                first = self.generation.sampling().seed
            except ProsemixError as exc:
                self.status.say(str(exc))
                return
            self.compare.set_seeds(self.point.weights(), seeds_from(first, k))

    def _pin(self) -> None:
        if self.loaded_names:
            self.compare.add_point(self.point.weights())

    def _on_token(self, request: GenerateRequest, piece: str) -> None:
        if request.purpose is Purpose.WRITE:
            self.write.on_token(request, piece)
        elif request is self._main:
            self.generation.append(piece)
        elif request.purpose is Purpose.COMPARE:
            self.compare.append(request.index, piece)

    def _on_candidate_token(self, request: GenerateRequest, index: int, piece: str) -> None:
        if request.purpose is Purpose.WRITE:
            self.write.on_candidate_token(request, index, piece)
        elif request.purpose is Purpose.COMPARE:
            self.compare.append(index, piece)

    def _on_finished(self, request: GenerateRequest, result: Finished) -> None:
        self.status.speed(result)
        if request.purpose is Purpose.WRITE:
            self.write.on_finished(request, result)
        if result.note:
            self.status.say(result.note, 8000)
        if request is self._main:
            where = weights_label(list(result.weights), list(result.weights.values())) or "base model"
            self.generation.info.setText(f"{Finish(result.finish_reason).said} · at {where}")
        self.history_view.refresh()

    def _on_error(self, request: object, failure: Failure) -> None:
        if self.write.context_counter.on_failed(request, failure):
            return
        self.status.done()
        self.status.say(failure.message, 10000)
        if isinstance(request, LoadRequest):
            self.picker.set_empty_text("The model did not load: the status bar says why.\n"
                                       "Choose another with Model (Ctrl+M).")
            self.status.model_label.setText("not loaded")
            self.write.model_loading(False)
        self.write.on_failed(request)
        self._errors.append(show_error(self, failure.message, failure.details))

    def _on_progress(self, request: object, message: str, fraction: float) -> None:
        if isinstance(request, LoadRequest):
            self.picker.set_empty_text(f"{LOADING}\n{message}")
        self.status.show_progress(message, fraction, cancellable=isinstance(request, TaskRequest))

    def _on_task_done(self, request: TaskRequest, value: object) -> None:
        if self.write.context_counter.on_done(request, value):
            return
        self.status.done()
        if request.kind is TaskKind.SWEEP and isinstance(value, str):
            self.analysis.show_table(value)
        elif isinstance(value, AnchorTrained):
            self._after_load = value.summary()  # said once the model has loaded it (its messages would hide it)
            self.anchors.add_anchor(value.out_dir, enabled=True)  # loads it first,
            if isinstance(value, VoiceMade) and value.check_text:  # then the check, which Esc skips
                self.worker.submit(TaskRequest(strength_task(value), TaskKind.VOICE_CHECK))
        elif isinstance(value, VoiceChecked):
            self.status.say(value.summary(), 10000)
            if value.lora != value.was and value.name in self._enabled_names():
                self._after_load = value.summary()  # said again once the model has read the card anew
                self.load()

    # ----- training ------------------------------------------------------------------------------
    def _new_anchor(self) -> None:
        dialog = NewAnchorDialog(self, colour=self._free_colour())
        if dialog.exec():
            self.start_training(dialog.values())

    def new_voice(self) -> None:
        """A corner of the writer's own voice from a page of their writing (about a minute)."""
        self._prepare_for_voices()
        doc = self.write.document()
        cursor = self.write.editor.textCursor()
        dialog = VoiceDialog(doc.text, cursor.selectedText().replace("\u2029", "\n"), self)
        if dialog.exec():
            self.start_voice(dialog.values())

    def _prepare_for_voices(self) -> None:
        """The float copy of the model a voice trains on (about half a minute the first time)
        made while the writer chooses the text, not inside the voice's minute."""
        from engine.models.float_copy import prepare_in_background

        prepare_in_background(None)  # the model voices train on

    def start_voice(self, values: dict) -> None:
        from .anchors.training_task import voice_task

        self._submit_training(voice_task, {"colour": self._free_colour(), **values})

    def _free_colour(self) -> str:
        """A colour for a new corner unlike every listed anchor's."""
        return distinct_colour([e["colour"] for e in self.anchors.all_entries()])

    def start_training(self, values: dict) -> None:
        from .anchors.training_task import training_task

        self._submit_training(training_task, values)

    def _submit_training(self, make_task: Callable[[dict], Any], values: dict) -> None:
        """The dialog's values checked now (a mistake shows at once), then trained in the worker."""
        try:
            fn = make_task(values)
        except ProsemixError as exc:
            self._errors.append(show_error(self, str(exc)))
            return
        self.worker.submit(TaskRequest(fn, TaskKind.TRAIN))

    # ----- history, settings, help ---------------------------------------------------------------
    def _rerun(self, record) -> None:
        self.generation.apply_record(record.prompt, record.params, record.seed)
        self.point.strength.set_value(float(record.params.get("strength", 1.0)), emit=False)
        if set(record.weights) == set(self.loaded_names) and self.loaded_names:
            self.point.setCurrentIndex(0)
            self.picker.set_weights([record.weights[n] for n in self.loaded_names])
        elif record.weights:
            self.status.say("the record's anchors are not all enabled; using the current point", 8000)
        self.tabs.setCurrentWidget(self.generation)
        self.generate()

    def _restore(self) -> None:
        try:
            self.generation.restore(json.loads(str(self.settings.value("generation", "{}"))))
        except ValueError:
            pass

    def _show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", (
            "Write tab: Ctrl+Enter  continue from the cursor\nCtrl+Shift+Enter  rewrite the selection "
            "(an instruction is optional)\nTab  keep the new passage\n"
            "Esc  stop\nCtrl+Backspace  discard it\nCtrl+R  another candidate\n"
            "Ctrl+Shift+R  K candidates at once (Retry ×K)\n"
            "Alt+Left / Alt+Right  previous / next candidate\nmove the handle  restyle the new (or "
            "selected) passage\nCtrl+Shift+P  put the picker back at the passage's point\n"
            "Ctrl+Z / Ctrl+Shift+Z (Ctrl+Y)  undo / redo (a generation is one step)\n\n"
            "Generate tab: Ctrl+Enter  generate\nEsc  stop\n\n"
            "Arrow keys  move the handle (Shift: faster)\nHome / Ctrl+0  centre\n"
            "Ctrl+P  pin the point for Compare\nCtrl+Alt+S  save the point as a preset\n"
            "Ctrl+Shift+A  the voices on the picker (saved with the document)\n"
            "Ctrl+E  extrapolation\nCtrl+N / Ctrl+O / Ctrl+S / Ctrl+Shift+S  new, open, save, save as\n"
            "Ctrl+Alt+B  banned phrases\nCtrl+Alt+L  the document's lorebook (entries, import, export)\nCtrl+Alt+G  this session's word goal\n"
            "Ctrl+M  model\nCtrl+Alt+O  add an anchor\nCtrl+Alt+N  new anchor\n"
            "Ctrl+Alt+V  new voice from my writing\nCtrl+Q  quit"))

    def _about(self) -> None:
        from .about import about_text

        QMessageBox.about(self, "About Prosemix", about_text())

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.files.recent():
            self.recent_menu.addAction(path, functools.partial(self.files.open, path))
        if not self.recent_menu.actions():
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.maybe_save():
            event.ignore()
            return
        self.files.closed_cleanly()
        self.settings.setValue("generation", json.dumps(self.generation.settings()))
        self.debounce.stop()
        self.worker.shutdown()
        self.history.close()
        super().closeEvent(event)
