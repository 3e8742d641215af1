"""The main window: layout, menus and shortcuts, and the wiring between panels and worker."""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QInputDialog, QLabel,
                               QMainWindow, QMessageBox, QProgressBar, QPushButton, QSplitter,
                               QTabWidget, QVBoxLayout, QWidget)

from engine.default_anchors import ATTRIBUTES, RECIPES
from engine.errors import ProsemixError
from engine.history import History
from engine.paths import DEFAULT_TRIANGLE, default_anchors_dir
from engine.weights import attribute_point, make_point

from .analysis_tab import AnalysisTab
from .anchors_panel import AnchorsPanel, card_of
from .attribute_panel import AttributePanel
from .compare_view import CompareView, weights_label
from .dialogs import ModelDialog, NewAnchorDialog, show_error
from .generation_panel import GenerationPanel
from .history_view import HistoryView
from .simplex_picker import SimplexPicker
from .worker import EngineWorker, GenerateRequest, LoadRequest, TaskRequest

DEBOUNCE_MS = 350


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, history: History | None = None,
                 load_defaults: bool = True):
        super().__init__()
        self.setWindowTitle("Prosemix")
        self.settings = settings or QSettings("Prosemix", "Prosemix")
        self.history = history or History()
        self.worker = EngineWorker(self.history)
        self.model_choice = {"model": None, "backend": "auto", "device": "auto", "api_key": None}
        self.loaded_names: list[str] = []
        self._errors: list = []
        self._main_seq = 0  # tags main generations, so late tokens of a cancelled one are ignored
        self._build()
        self._menus()
        self._wire()
        self._restore()
        self.worker.start()
        if load_defaults:
            QTimer.singleShot(0, self._add_default_anchors)

    # ----- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.picker = SimplexPicker()
        self.weights_label = QLabel("")
        self.weights_label.setWordWrap(True)
        self.extrapolate = QCheckBox("Extrapolate (leave the triangle)")
        self.presets = QComboBox()
        self.presets.setPlaceholderText("Presets")
        self.save_preset = QPushButton("Save point…")
        simplex_tab = QWidget()
        s_layout = QVBoxLayout(simplex_tab)
        s_layout.addWidget(self.picker, 1)
        s_layout.addWidget(self.weights_label)
        s_layout.addWidget(self.extrapolate)
        preset_row = QHBoxLayout()
        preset_row.addWidget(self.presets, 1)
        preset_row.addWidget(self.save_preset)
        s_layout.addLayout(preset_row)
        self.attributes = AttributePanel()
        self.point_tabs = QTabWidget()
        self.point_tabs.addTab(simplex_tab, "Simplex")
        self.point_tabs.addTab(self.attributes, "Attributes")
        self.anchors = AnchorsPanel()
        left = QSplitter(Qt.Vertical)
        left.addWidget(self.point_tabs)
        left.addWidget(self.anchors)
        left.setSizes([520, 240])
        self.generation = GenerationPanel()
        self.compare = CompareView()
        self.history_view = HistoryView(self.history)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.generation, "Generate")
        self.tabs.addTab(self.compare, "Compare")
        self.tabs.addTab(self.history_view, "History")
        self.analysis = AnalysisTab()
        self.tabs.addTab(self.analysis, "Analysis")
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setSizes([420, 640])
        self.setCentralWidget(split)
        self.model_label = QLabel("loading…")
        self.speed_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
        self.cancel_task = QPushButton("Cancel")
        self.cancel_task.setVisible(False)
        bar = self.statusBar()
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_task)
        bar.addPermanentWidget(self.speed_label)
        bar.addPermanentWidget(self.model_label)
        self.resize(1120, 760)

    def _menus(self) -> None:
        def action(menu, text, slot, shortcut=None):  # type: ignore[no-untyped-def]
            a = QAction(text, self)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(slot)
            menu.addAction(a)
            return a

        file = self.menuBar().addMenu("&File")
        action(file, "&Model…", self._choose_model, "Ctrl+M")
        action(file, "&Add anchor file…", self.anchors.add_file, "Ctrl+O")
        action(file, "Add anchor &folder…", self.anchors.add_folder, "Ctrl+Shift+O")
        action(file, "&New anchor from my texts…", self._new_anchor, "Ctrl+N")
        file.addSeparator()
        action(file, "&Quit", self.close, "Ctrl+Q")
        point = self.menuBar().addMenu("&Point")
        action(point, "&Centre", lambda: self._set_point_centre(), "Ctrl+0")
        action(point, "&Pin for compare", self._pin, "Ctrl+P")
        action(point, "&Save preset…", self._save_preset, "Ctrl+S")
        self.extrapolate_action = action(point, "&Extrapolation", self.extrapolate.toggle, "Ctrl+E")
        help_menu = self.menuBar().addMenu("&Help")
        action(help_menu, "&Keyboard shortcuts", self._show_shortcuts, "F1")
        action(help_menu, "&About Prosemix", self._about)

    def _wire(self) -> None:
        w = self.worker
        w.loaded.connect(self._on_loaded)
        w.token.connect(self._on_token)
        w.finished.connect(self._on_finished)
        w.errored.connect(self._on_error)
        w.progress.connect(self._on_progress)
        w.task_done.connect(self._on_task_done)
        w.busy.connect(self.generation.set_running)
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(DEBOUNCE_MS)
        self.debounce.timeout.connect(self.generate)
        self.picker.weightsChanged.connect(self._show_weights)
        self.picker.weightsCommitted.connect(self._point_committed)
        self.attributes.changed.connect(lambda a, l: self._show_weights(self.current_weights()))
        self.attributes.committed.connect(self._point_committed)
        self.extrapolate.toggled.connect(self.picker.set_extrapolation)
        self.generation.generateRequested.connect(self.generate)
        self.generation.stopRequested.connect(self.stop)
        self.compare.runRequested.connect(self._run_compare)
        self.compare.pinsChanged.connect(self.picker.set_pins)
        self.compare.pin_button.clicked.connect(self._pin)
        self.anchors.anchorsChanged.connect(self._anchors_changed)
        self.anchors.newAnchorRequested.connect(self._new_anchor)
        self.history_view.rerunRequested.connect(self._rerun)
        self.presets.activated.connect(self._apply_preset)
        self.save_preset.clicked.connect(self._save_preset)
        self.cancel_task.clicked.connect(self.worker.cancel)
        self.analysis.runRequested.connect(
            lambda task: self.worker.submit(TaskRequest(task, tag="sweep", needs_backend=True)))
        self.analysis.overlayRequested.connect(self.picker.set_overlay)

    # ----- model and anchors ---------------------------------------------------------------------
    def _add_default_anchors(self) -> None:
        """The shipped anchors (the triangle enabled), then the writer's own from last time."""
        folder = default_anchors_dir()
        shipped = {r.name for r in RECIPES}
        saved: dict[Path, dict] = {}
        for e in self._saved_anchors():
            path = Path(e["path"])
            if path.parent.name == "anchors" and path.name in shipped:
                path = folder / path.name  # a shipped anchor saved by a moved or other install
            saved.setdefault(path, e)
        entries = []
        for r in RECIPES:
            path = folder / r.name
            if (path / "adapter_config.json").is_file():
                e = saved.pop(path, {"enabled": r.name in DEFAULT_TRIANGLE})
                entries.append((path, bool(e.get("enabled")), e.get("name"), e.get("colour")))
        entries += [(p, bool(e.get("enabled")), e.get("name"), e.get("colour"))
                    for p, e in saved.items() if p.exists()]
        # two enabled anchors of one name cannot load together: restore later ones switched off
        names: set[str] = set()
        for k, (path, enabled, name, colour) in enumerate(entries):
            shown = name or str(card_of(path).get("name") or path.stem)
            if enabled and shown in names:
                entries[k] = (path, False, name, colour)
            elif enabled:
                names.add(shown)
        if entries:
            self.anchors.add_many(entries)  # emits once, which loads the model
        else:
            self.load()

    def _saved_anchors(self) -> list[dict]:
        try:
            data = json.loads(str(self.settings.value("anchors", "[]")))
            return [e for e in data if isinstance(e, dict) and "path" in e] if isinstance(data, list) else []
        except ValueError:
            return []

    def _anchors_changed(self, _specs: object) -> None:
        # saved at once, so a crash does not lose the writer's anchors
        self.settings.setValue("anchors", json.dumps(self.anchors.all_entries()))
        self.settings.sync()
        self.load()

    def load(self) -> None:
        remote = self.model_choice.get("backend") == "remote"
        self.anchors.setEnabled(not remote)  # a server brings its own anchors
        specs = () if remote else tuple(self.anchors.enabled())
        self.model_label.setText("loading…")
        self.worker.submit(LoadRequest(anchors=specs, **self.model_choice))

    def _choose_model(self) -> None:
        dialog = ModelDialog(self.model_choice, self)
        if dialog.exec():
            self.model_choice = dialog.choice()
            self.load()

    def _on_loaded(self, info: dict) -> None:
        self.loaded_names = info["anchors"]
        from engine.anchors import DEFAULT_COLOURS

        colours = {s.name: s.colour for s in self.anchors.enabled()}
        colours = {n: colours.get(n) or DEFAULT_COLOURS[k % len(DEFAULT_COLOURS)]
                   for k, n in enumerate(self.loaded_names)}
        self.picker.set_anchors(self.loaded_names, [colours[n] for n in self.loaded_names])
        self.compare.set_anchors(self.loaded_names)
        names = set(self.loaded_names)
        self.attributes.set_attributes([a for a in ATTRIBUTES if a.plus in names and a.minus in names])
        self._show_weights(self.picker.weights())
        self.analysis.anchors = info.get("anchor_objects", [])
        applied = {"merged": " (anchors merged)", "runtime": " (runtime adapters)"}.get(
            info.get("anchors_applied", "") if self.loaded_names else "", "")
        self.model_label.setText(f"{Path(info['model']).name} · {info['backend']}{applied} · "
                                 f"{len(self.loaded_names)} anchors · ready in {info['seconds']:.1f} s")
        self.model_label.setToolTip(info.get("why", ""))
        self.progress.setVisible(False)

    # ----- the point --------------------------------------------------------------------------------
    def current_weights(self) -> list[float]:
        if self.point_tabs.currentWidget() is self.attributes and self.attributes.attributes:
            alphas, lambdas = self.attributes.values()
            point = attribute_point(self.attributes.attributes, alphas, lambdas, extrapolate=True)
            by_name = point.as_dict()
            return [by_name.get(n, 0.0) for n in self.loaded_names]
        return self.picker.weights()

    def _extrapolating(self) -> bool:
        if self.point_tabs.currentWidget() is self.attributes:
            return self.attributes.extrapolate.isChecked()
        return self.picker.extrapolation()

    def _show_weights(self, weights: list[float]) -> None:
        if not self.loaded_names:
            self.weights_label.setText("No anchors: generating with the base model.")
            return
        try:
            point = make_point(weights, self.loaded_names, extrapolate=True)
            zone = f" — {point.zone.label}" if point.zone.value else ""
            self.weights_label.setText(weights_label(self.loaded_names, weights) + zone)
        except ProsemixError as exc:
            self.weights_label.setText(str(exc))

    def _set_point_centre(self) -> None:
        n = len(self.loaded_names)
        if n:
            self.picker.set_weights([1 / n] * n)
            self._point_committed()

    def _point_committed(self, *_args: object) -> None:
        if self.generation.live.isChecked():
            self.debounce.start()

    # ----- generation --------------------------------------------------------------------------------
    def _prompt_and_sampling(self):  # type: ignore[no-untyped-def]
        """The prompt and sampling settings, or None after telling the user what is wrong."""
        try:
            return self.generation.prompt_text(), self.generation.sampling()
        except ProsemixError as exc:
            self.statusBar().showMessage(str(exc), 6000)
            return None

    def generate(self) -> None:
        request = self._prompt_and_sampling()
        if request is None:
            return
        prompt, sampling = request
        self.worker.cancel()  # a running generation stops first, within a token
        self.generation.start_output()
        self._main_seq += 1
        self.worker.submit(GenerateRequest(prompt, tuple(self.current_weights()), sampling,
                                           tag=f"main#{self._main_seq}",
                                           extrapolate=self._extrapolating()))

    def stop(self) -> None:
        self.debounce.stop()
        self.worker.cancel()

    def _run_compare(self) -> None:
        if not self.compare.points:
            self.statusBar().showMessage("Pin some points first (Ctrl+P or Steps along an edge).", 6000)
            return
        request = self._prompt_and_sampling()
        if request is None:
            return
        prompt, sampling = request
        self.compare.start(prompt)
        for k, weights in enumerate(self.compare.points):
            self.worker.submit(GenerateRequest(prompt, tuple(weights), sampling, tag=f"compare:{k}",
                                               extrapolate=True))

    def _pin(self) -> None:
        if self.loaded_names:
            self.compare.add_point(self.current_weights())

    def _on_token(self, tag: str, piece: str) -> None:
        if tag == f"main#{self._main_seq}":
            self.generation.append(piece)
        elif tag.startswith("compare:"):
            self.compare.append(int(tag.split(":")[1]), piece)

    def _on_finished(self, tag: str, result: dict) -> None:
        first = result["first_token_seconds"]
        self.speed_label.setText(f"{result['tokens_per_second']:.0f} tok/s · first token "
                                 f"{(first or 0) * 1000:.0f} ms · {result['tokens']} tokens")
        if tag == f"main#{self._main_seq}":
            reasons = {"length": "reached max tokens", "eos": "the model ended the text",
                       "stop": "hit a stop string", "cancelled": "stopped"}
            where = weights_label(list(result["weights"]), list(result["weights"].values())) or "base model"
            self.generation.info.setText(f"{reasons.get(result['finish_reason'], '')} · at {where}")
        self.history_view.refresh()

    def _on_error(self, tag: str, message: str, details: str) -> None:
        self.progress.setVisible(False)
        self.cancel_task.setVisible(False)
        self.statusBar().showMessage(message, 10000)
        if tag == "load":
            self.model_label.setText("not loaded")
        self._errors.append(show_error(self, message, details))

    def _on_progress(self, tag: str, message: str, fraction: float) -> None:
        self.progress.setVisible(fraction < 1.0)
        self.cancel_task.setVisible(tag != "load" and fraction < 1.0)
        self.progress.setRange(0, 0 if fraction < 0 else 100)
        self.progress.setValue(int(max(0.0, fraction) * 100))
        self.statusBar().showMessage(message, 4000)

    def _on_task_done(self, tag: str, value: object) -> None:
        self.progress.setVisible(False)
        self.cancel_task.setVisible(False)
        if tag == "sweep" and isinstance(value, str):
            self.analysis.show_table(value)
            return
        if tag == "train" and isinstance(value, dict):
            self.anchors.add_anchor(Path(value["out_dir"]), enabled=True)
            self.statusBar().showMessage(f"anchor {value['name']} trained: validation loss "
                                         f"{value['base_val']:.3f} -> {value['val']:.3f}", 10000)

    # ----- training ------------------------------------------------------------------------------
    def _new_anchor(self) -> None:
        dialog = NewAnchorDialog(self)
        if not dialog.exec():
            return
        self.start_training(dialog.values())

    def start_training(self, values: dict) -> None:
        from .training_task import training_task

        try:
            fn = training_task(values)
        except ProsemixError as exc:
            self._errors.append(show_error(self, str(exc)))
            return
        self.worker.submit(TaskRequest(fn, tag="train"))

    # ----- presets, history, settings --------------------------------------------------------
    def _presets(self) -> dict:
        try:
            data = json.loads(str(self.settings.value("presets", "{}")))
            return data if isinstance(data, dict) else {}
        except ValueError:
            return {}

    def _save_preset(self) -> None:
        if not self.loaded_names:
            return
        name, ok = QInputDialog.getText(self, "Save preset", "Name for this point:")
        if ok and name.strip():
            presets = self._presets()
            presets[name.strip()] = dict(zip(self.loaded_names, self.current_weights()))
            self.settings.setValue("presets", json.dumps(presets))
            self._refresh_presets()

    def _refresh_presets(self) -> None:
        self.presets.clear()
        for name in sorted(self._presets()):
            self.presets.addItem(name)

    def _apply_preset(self, index: int) -> None:
        weights = self._presets().get(self.presets.itemText(index), {})
        if set(weights) != set(self.loaded_names):
            self.statusBar().showMessage("that preset is for other anchors: " + ", ".join(weights), 8000)
            return
        self.point_tabs.setCurrentIndex(0)
        self.picker.set_weights([weights[n] for n in self.loaded_names])
        self._point_committed()

    def _rerun(self, record) -> None:  # type: ignore[no-untyped-def]
        self.generation.apply_record(record.prompt, record.params, record.seed)
        if set(record.weights) == set(self.loaded_names) and self.loaded_names:
            self.point_tabs.setCurrentIndex(0)
            self.picker.set_weights([record.weights[n] for n in self.loaded_names])
        elif record.weights:
            self.statusBar().showMessage("the record's anchors are not all enabled; using the current point", 8000)
        self.tabs.setCurrentWidget(self.generation)
        self.generate()

    def _restore(self) -> None:
        try:
            self.generation.restore(json.loads(str(self.settings.value("generation", "{}"))))
        except ValueError:
            pass
        self._refresh_presets()

    def _show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", (
            "Ctrl+Enter  generate\nEsc  stop\nArrow keys  move the handle (Shift: faster)\n"
            "Home / Ctrl+0  centre\nCtrl+P  pin the point for Compare\nCtrl+S  save the point as a preset\n"
            "Ctrl+E  extrapolation\nCtrl+M  model\nCtrl+O  add an anchor\nCtrl+N  new anchor\nCtrl+Q  quit"))

    def _about(self) -> None:
        from .about import about_text

        QMessageBox.about(self, "About Prosemix", about_text())

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("generation", json.dumps(self.generation.settings()))
        self.debounce.stop()
        self.worker.shutdown()
        self.history.close()
        super().closeEvent(event)
