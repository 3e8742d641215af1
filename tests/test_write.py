"""The Write tab with the real engine: continue from the cursor, keep or discard, retry and
cycle, restyle while the handle is dragged, undo a generation as one step."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QTextCursor

import gui.desk.desk_files as desk_files
import gui.main_window as mw
from engine.documents import files as files_module
from engine.backends.llama_cpp import LlamaCppBackend
from engine.documents.context import assemble
from engine.sampling import SamplingConfig
from engine.weights import make_point
from gui.main_window import MainWindow

START = "The rain had not stopped for three days, and the river"


@pytest.fixture
def window(qtbot, tmp_path, adapters, session_cache, monkeypatch):
    monkeypatch.setenv("PROSEMIX_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(mw, "show_error", lambda *a, **k: None)
    monkeypatch.setattr(desk_files, "ask", lambda *a, **k: desk_files.QMessageBox.Discard)
    w = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat), load_defaults=False)
    qtbot.addWidget(w)
    w.generation.temperature.setValue(0.0)
    w.generation.max_tokens.setValue(10)
    with qtbot.waitSignal(w.worker.loaded, timeout=90000):
        w.anchors.add_many([(path, True) for path in adapters])
    w.show()
    assert w.tabs.currentWidget() is w.write  # the Write tab is opened first
    desk = w.write
    desk.editor.setPlainText(START)
    desk.editor.moveCursor(QTextCursor.End)
    yield w
    w.close()
    assert w.worker.wait(10000)


def _continue(qtbot, w, action=None):
    """Run ``action`` and wait until the passage it started has finished."""
    action = action or w.write.continue_here
    started = []
    submit = w.worker.submit
    w.worker.submit = lambda req: (started.append(req), submit(req))
    try:
        with qtbot.waitSignal(w.worker.finished, timeout=60000,
                              check_params_cb=lambda req, r: bool(started) and req is started[-1]):
            action()
    finally:
        w.worker.submit = submit


def test_continue_streams_a_pending_passage_then_tab_keeps_it(qtbot, window):
    desk = window.write
    _continue(qtbot, window)
    assert desk.doc.pending is not None
    start, end = desk.doc.pending_span()
    assert start == len(START) and end > start
    assert desk.editor.toPlainText() == desk.doc.text
    assert len(desk.editor.extraSelections()) == 1  # tinted as pending
    qtbot.keyClick(desk.editor, Qt.Key_Tab)
    assert desk.doc.pending is None and len(desk.doc.passages) == 1
    assert desk.doc.passages[0].provenance.weights == dict(zip(window.loaded_names, window.point.weights()))


def test_discard_retry_and_cycle(qtbot, window):
    desk = window.write
    _continue(qtbot, window)
    first = desk.doc.text
    window.generation.temperature.setValue(0.9)
    _continue(qtbot, window, desk.retry)
    assert desk.candidate_label.text().startswith("candidate 2/2") and desk.doc.text != first
    desk.cycle(-1)
    assert desk.candidate_label.text().startswith("candidate 1/2") and desk.editor.toPlainText() == first
    qtbot.keyClick(desk.editor, Qt.Key_Backspace, Qt.ControlModifier)
    assert desk.editor.toPlainText() == START and desk.doc.pending is None


def test_restyle_while_dragging_ends_with_the_fresh_text_at_the_final_point(qtbot, window, session_cache):
    desk = window.write
    _continue(qtbot, window)
    submitted = []
    submit = window.worker.submit
    window.worker.submit = lambda req: (submitted.append(req), submit(req))
    for weights in ([0.6, 0.2, 0.2], [0.3, 0.5, 0.2], [0.1, 0.1, 0.8]):
        window.picker.set_weights(weights)  # each move cancels and restarts the passage's preview
        assert desk.desk.previewing and "preview" in desk.status.text()
    window.picker.weightsCommitted.emit(window.picker.weights())  # the release, at the last point
    assert [r.job.preview for r in submitted] == [True, True, True, False]  # then the exact passage
    qtbot.waitUntil(lambda: desk.desk.job is None, timeout=60000)
    assert not desk.desk.previewing
    window.worker.submit = submit
    window.picker.weightsCommitted.emit(window.picker.weights())  # again, once it is whole
    assert desk.desk.job is None
    final = desk.doc.text[slice(*desk.doc.pending_span())]
    weights = window.picker.weights()
    # a fresh generation at the final point, with the same context and seed
    backend = LlamaCppBackend()
    backend.load(None, [a.source for a in window.analysis.anchors] or None)
    backend.set_weights(weights)
    ctx = assemble(START, "", "", min(desk.window_tokens.value(), backend.n_ctx - 10), backend.count_tokens)
    fresh = backend.generate(ctx.prompt, SamplingConfig(max_tokens=10, temperature=0.0, seed=0)).text
    backend.close()
    assert final == fresh


def test_a_preview_is_marked_until_the_release_writes_the_exact_passage(qtbot, window):
    from PySide6.QtGui import QTextCharFormat

    def underlines() -> set:
        return {sel.format.underlineStyle() for sel in desk.editor.extraSelections()}

    desk = window.write
    _continue(qtbot, window)
    _continue(qtbot, window, lambda: window.picker.set_weights([0.1, 0.1, 0.8]))  # a move, then held still
    assert desk.desk.previewing and desk.doc.pending.candidates[0][1].sampling["preview"] is True
    assert "let go of the handle" in desk.status.text()
    assert QTextCharFormat.UnderlineStyle.WaveUnderline in underlines()
    _continue(qtbot, window, lambda: window.picker.weightsCommitted.emit(window.picker.weights()))
    assert not desk.desk.previewing and "preview" not in desk.doc.pending.candidates[0][1].sampling
    assert QTextCharFormat.UnderlineStyle.WaveUnderline not in underlines()


def test_retry_many_writes_k_candidates_each_the_text_of_its_seed(qtbot, window, session_cache):
    desk = window.write
    window.generation.temperature.setValue(0.9)
    desk.many.setValue(3)
    _continue(qtbot, window, desk.retry_many)
    alt = desk.doc.pending
    assert alt is not None and len(alt.candidates) == 3
    assert desk.candidate_label.text().startswith("candidate 1/3")
    assert desk.editor.toPlainText() == desk.doc.text == START + alt.candidates[0][0]
    seeds = [p.seed for _, p in alt.candidates]
    backend = LlamaCppBackend()
    backend.load(None, [a.source for a in window.analysis.anchors] or None)
    backend.set_weights(window.picker.weights())
    ctx = assemble(START, "", "", min(desk.window_tokens.value(), backend.n_ctx - 10), backend.count_tokens)
    expected = [backend.generate(ctx.prompt, SamplingConfig(max_tokens=10, temperature=0.9, seed=s)).text
                for s in seeds]
    backend.close()
    assert [text for text, _ in alt.candidates] == expected
    desk.cycle(+1)
    assert desk.candidate_label.text().startswith("candidate 2/3")
    assert desk.editor.toPlainText() == START + expected[1]
    qtbot.keyClick(desk.editor, Qt.Key_Tab)
    assert desk.doc.passages[0].provenance.seed == seeds[1]


def test_retry_many_goes_on_while_cycling_and_a_stop_leaves_no_empty_candidates(qtbot, window):
    desk = window.write
    window.generation.temperature.setValue(0.9)
    desk.many.setValue(3)
    cycled = []
    react = lambda req, i, piece: cycled or (cycled.append(i), desk.cycle(+1))  # noqa: E731
    window.worker.candidate_token.connect(react)
    _continue(qtbot, window, desk.retry_many)
    window.worker.candidate_token.disconnect(react)
    alt = desk.doc.pending
    assert cycled and alt.current == 1 and all(text for text, _ in alt.candidates)
    assert desk.editor.toPlainText() == START + alt.candidates[1][0]  # it streamed into view
    qtbot.keyClick(desk.editor, Qt.Key_Tab)
    stop = lambda req, i, piece: desk.stop()  # noqa: E731
    window.worker.candidate_token.connect(stop)
    _continue(qtbot, window, desk.retry_many)
    window.worker.candidate_token.disconnect(stop)
    alt = desk.doc.pending
    assert len(alt.candidates) == 1 and desk.candidate_label.text() == ""
    assert "stopped" in desk.status.text()
    # a restyle while a Retry xK runs: the candidates it had not reached are dropped too
    restyle = lambda req, i, piece: window.picker.set_weights([0.8, 0.1, 0.1])  # noqa: E731
    window.worker.candidate_token.connect(restyle)
    _continue(qtbot, window, desk.retry_many)
    window.worker.candidate_token.disconnect(restyle)
    qtbot.waitUntil(lambda: desk.desk.job is None, timeout=60000)
    assert all(text for text, _ in desk.doc.pending.candidates)


def test_compare_seeds_at_one_point(qtbot, window):
    window.generation.prompt.setPlainText(START)
    window.compare.set_seeds(window.point.weights(), [5, 6])
    with qtbot.waitSignal(window.worker.finished, timeout=60000):
        window._run_compare()
    assert all(window.compare.results) and len(window.compare.results) == 2
    assert "## seed 6 at" in window.compare.markdown()
    window.compare.add_point(window.point.weights())  # pinning leaves seeds mode
    assert window.compare.seeds == [] and len(window.compare.points) == 1


def test_undo_takes_back_a_whole_generation_and_redo_brings_its_provenance(qtbot, window):
    desk = window.write
    _continue(qtbot, window)
    desk.accept()
    generated = desk.doc.text
    qtbot.keyClicks(desk.editor, " Then")
    assert desk.doc.text == generated + " Then" and len(desk.doc.passages) == 1
    desk.undo()  # the typing
    desk.undo()  # the whole generation, one step
    assert desk.editor.toPlainText() == START and desk.doc.passages == []
    desk.redo()
    assert desk.editor.toPlainText() == generated and len(desk.doc.passages) == 1


def test_point_of_a_passage_moves_the_picker_back(qtbot, window):
    desk = window.write
    window.picker.set_weights([1.0, 0.0, 0.0])
    _continue(qtbot, window)
    desk.accept()
    window.picker.set_weights([0.0, 0.0, 1.0])
    cursor = desk.editor.textCursor()
    cursor.setPosition(len(START) + 1)
    desk.editor.setTextCursor(cursor)
    desk.point_of_passage()
    assert window.picker.weights() == pytest.approx([1.0, 0.0, 0.0])


def test_save_open_and_the_unsaved_question(qtbot, window, tmp_path, monkeypatch):
    desk, files = window.write, window.files
    _continue(qtbot, window)
    desk.accept()
    assert files.dirty and window.windowTitle().startswith("*Untitled")
    path = tmp_path / "story.md"
    offered = []
    monkeypatch.setattr(desk_files.QFileDialog, "getSaveFileName",
                        lambda *a, **k: offered.append(a[2]) or (str(path), ""))
    assert files.save_as()
    assert Path(offered[0]).parent.resolve() != Path.cwd()  # the documents folder, not the app's
    assert path.read_text() == desk.doc.text and not files.dirty
    assert window.windowTitle() == "story.md — Prosemix"
    text, passages = desk.doc.text, list(desk.doc.passages)
    files.new()
    assert desk.editor.toPlainText() == "" and files.path is None
    files.open(path)
    assert desk.doc.text == text and [(p.start, p.end) for p in desk.doc.passages] == \
        [(p.start, p.end) for p in passages]
    assert files.recent()[0] == str(path)
    assert files.folder() == tmp_path  # the dialogs start where the last document is
    desk.editor.moveCursor(QTextCursor.End)
    qtbot.keyClicks(desk.editor, "!")
    asked = []
    monkeypatch.setattr(desk_files, "ask",
                        lambda *a, **k: asked.append(a[2]) or desk_files.QMessageBox.Cancel)
    files.new()  # cancelled: nothing lost
    assert asked and desk.doc.text == text + "!"
    monkeypatch.setattr(desk_files, "ask", lambda *a, **k: desk_files.QMessageBox.Discard)


@pytest.mark.parametrize("key, expected", [(Qt.Key.Key_D, "Discard"), (Qt.Key.Key_S, "Save"),
                                           (Qt.Key.Key_Escape, "Cancel")])
def test_the_unsaved_question_answers_to_the_keyboard(qtbot, key, expected):
    """Alt+D discards, Alt+S saves and Escape cancels, whatever labels the platform's theme
    would give the buttons (Qt's generic theme gives no Alt shortcut)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

    parent = QWidget()
    qtbot.addWidget(parent)
    labels = []

    def press() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        labels.extend(b.text() for b in box.buttons())
        timer = QTimer(box)  # a key that did nothing: the box is closed, Cancel (dies with the box)
        timer.setSingleShot(True)
        timer.timeout.connect(box.reject)
        timer.start(1500)
        qtbot.keyClick(box, key, Qt.KeyboardModifier.NoModifier if key == Qt.Key.Key_Escape
                       else Qt.KeyboardModifier.AltModifier)

    QTimer.singleShot(200, press)
    answer = desk_files.ask(parent, "Unsaved changes", "Save the changes to x?",
                            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
    assert answer == getattr(QMessageBox.StandardButton, expected)
    assert "&Discard" in labels and "&Save" in labels


CRASHING_APP = """
import sys
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from gui.main_window import MainWindow
w = MainWindow(settings=QSettings(sys.argv[1], QSettings.IniFormat), load_defaults=False)
w.show()
w.write.editor.setPlainText("First words of a story.")
QTimer.singleShot(800, lambda: w.write.editor.appendPlainText("A second line, typed later."))
QTimer.singleShot(900, lambda: print("TYPED", flush=True))
app.exec()
"""


def test_killed_mid_typing_the_next_start_recovers_the_text(qtbot, tmp_path, monkeypatch):
    """kill -9 five seconds after the last keystroke: the autosave (2 s after a change) holds
    everything typed, and the next start offers it back."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PROSEMIX_DATA": str(tmp_path / "data"),
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_APP, str(tmp_path / "s.ini")],
                            stdout=subprocess.PIPE, text=True, env=env, cwd=root)
    assert proc.stdout.readline().strip() == "TYPED"
    time.sleep(5.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    monkeypatch.setenv("PROSEMIX_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(desk_files, "ask", lambda *a, **k: desk_files.QMessageBox.Yes)
    w = MainWindow(settings=QSettings(str(tmp_path / "s2.ini"), QSettings.IniFormat), load_defaults=False)
    qtbot.addWidget(w)
    w.files.offer_recovery()
    assert w.write.editor.toPlainText() == "First words of a story.\nA second line, typed later."
    assert w.files.dirty and w.windowTitle().startswith("*Untitled")
    monkeypatch.setattr(desk_files, "ask", lambda *a, **k: desk_files.QMessageBox.Discard)
    w.close()
    assert w.worker.wait(10000)


def test_the_context_counter_follows_the_typing(qtbot, window):
    """The counter shows the tokens a Continue would use, without one, once the writer
    pauses; a memory that cannot fit says so there, not in a dialog."""
    desk = window.write
    qtbot.waitUntil(lambda: desk.counter.text().startswith("context "), timeout=10000)
    first = desk.counter.text()
    qtbot.keyClicks(desk.editor, " and the roads were long gone under the brown water")
    qtbot.waitUntil(lambda: desk.counter.text() not in ("", first), timeout=10000)
    used, budget = desk.counter.text().split()[1], desk.counter.text().split()[3]
    assert int(used) > int(first.split()[1]) and int(budget) == desk.window_tokens.value()
    errors = len(window._errors)
    desk.memory.setPlainText("rain " * 2000)
    qtbot.waitUntil(lambda: desk.counter.text() == "context: too long", timeout=10000)
    assert "memory" in desk.counter.toolTip() and len(window._errors) == errors


def test_the_document_keeps_its_voices_on_the_picker(qtbot, window, tmp_path, monkeypatch):
    """Choosing the voices is a writer's action on the document: a click in the palette menu
    changes the picker and the document, the sidecar keeps the choice, and opening the document
    brings it back whatever the picker showed meanwhile."""
    desk, files = window.write, window.files
    assert desk.doc.palette == ["alpha", "beta", "gamma"]  # the picker as it was, taken silently
    window._fill_palette()
    actions = [a for a in window.point.palette_menu.actions() if a.isCheckable()]
    assert [a.text() for a in actions] == ["alpha", "beta", "gamma"] and all(a.isChecked() for a in actions)
    with qtbot.waitSignal(window.worker.loaded, timeout=90000):
        actions[1].setChecked(False)  # the writer takes beta off the picker
    assert window.picker.anchor_names() == ["alpha", "gamma"]
    assert desk.doc.palette == ["alpha", "gamma"] and files.dirty
    path = tmp_path / "two-voices.md"
    monkeypatch.setattr(desk_files.QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    assert files.save_as()
    assert json.loads(files_module.sidecar_path(path).read_text())["palette"] == ["alpha", "gamma"]
    with qtbot.waitSignal(window.worker.loaded, timeout=90000):
        window.anchors.set_enabled_names(["alpha", "beta", "gamma"])  # the picker changes meanwhile
    files.new()
    with qtbot.waitSignal(window.worker.loaded, timeout=90000):
        files.open(path)
    assert window.picker.anchor_names() == ["alpha", "gamma"] and not files.dirty


def test_a_palette_naming_missing_voices_opens_with_the_others(tmp_path):
    from engine.documents import files as doc_files
    from engine.documents.model import Document

    doc = Document("Some text.")
    doc.palette = ["austen", "wry"]
    doc_files.save(doc, tmp_path / "a.md")
    again, warnings = doc_files.load(tmp_path / "a.md")
    assert again.palette == ["austen", "wry"] and warnings == []
    side = doc_files.sidecar_path(tmp_path / "a.md")
    data = json.loads(side.read_text())
    data["palette"] = ["austen", "austen"]
    side.write_text(json.dumps(data))
    again, warnings = doc_files.load(tmp_path / "a.md")
    assert again.palette == [] and "palette" in warnings[0]


def test_a_lorebook_from_the_dialog_enters_the_context_and_the_counter_names_it(qtbot, window, tmp_path, monkeypatch):
    """File > Lorebook…: import a SillyTavern world-info file, add an entry by hand, fix a bad
    regex the dialog refused; an entry whose key the text has is named in the counter and is in
    the prompt; the sidecar keeps the book."""
    import gui.desk.lorebook_dialog as lorebook_dialog

    world = {"entries": {"0": {"uid": 0, "key": ["river"], "comment": "The river", "order": 100,
                               "content": "The river Wend floods every spring.", "constant": False,
                               "disable": False},
                         "1": {"uid": 1, "key": ["castle"], "comment": "Castle", "order": 100,
                               "content": "The castle is empty.", "constant": False, "disable": False}}}
    (tmp_path / "world.json").write_text(json.dumps(world))

    def use(dialog):
        dialog.import_file(tmp_path / "world.json")
        assert dialog.list.count() == 2 and "2 entries imported" in dialog.error.text()
        dialog.add_entry()
        dialog.name.setText("Rain")
        dialog.regex.setText("(rain")
        dialog.text.setPlainText("It has rained for a week.")
        dialog.accept()
        assert "entry 3" in dialog.error.text() and dialog.result() == 0  # refused, still open
        dialog.regex.setText(r"\brain(ed)?\b")
        dialog.priority.setValue(9)
        dialog.accept()
        return dialog.result()

    monkeypatch.setattr(lorebook_dialog.LorebookDialog, "exec", use)
    window.edit_lorebook()
    desk = window.write
    assert [e.label for e in desk.document().lorebook.entries] == ["The river", "Castle", "Rain"]
    assert window.files.dirty
    qtbot.waitUntil(lambda: "lore: The river, Rain" in desk.counter.text(), timeout=10000)
    assert "Castle" not in desk.counter.text()
    seen = []
    submit = window.worker.submit
    window.worker.submit = lambda req: (seen.append(req), submit(req))
    from engine.documents.context import context_for
    _continue(qtbot, window)
    window.worker.submit = submit
    job = next(r.job for r in seen if getattr(getattr(r, "job", None), "document", None) is not None)
    ctx = context_for(window.worker._backend, job.prompt, job.document, 10)  # idle now
    assert "The river Wend floods every spring." in ctx.prompt and ctx.lore == ("The river", "Rain")  # priority 100 before 9
    monkeypatch.setattr(desk_files.QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "d.md"), ""))
    window.files.save()
    side = json.loads((tmp_path / "d.md.prosemix.json").read_text())
    assert [e["name"] for e in side["lorebook"]["entries"]] == ["The river", "Castle", "Rain"]


def test_the_writers_count_follows_the_session_and_the_goal(qtbot, window, monkeypatch):
    window.files.new()
    qtbot.waitUntil(lambda: window.status.words_label.text().startswith("0 words"), timeout=5000)
    monkeypatch.setattr(mw.QInputDialog, "getInt", lambda *a, **k: (5, True))
    window._ask_goal()
    qtbot.keyClicks(window.write.editor, "It was a dark and well-known night.")
    qtbot.waitUntil(lambda: window.status.words_label.text() == "7 words · +7 this session / goal 5 ✓",
                    timeout=5000)


def test_banned_phrases_from_the_dialog_keep_a_phrase_out_of_the_passage(qtbot, window, tmp_path, monkeypatch):
    import gui.desk.write_panel as write_panel

    desk = window.write
    window.generation.max_tokens.setValue(24)
    _continue(qtbot, window)
    first = desk.doc.pending.candidates[0][0]
    phrase = " ".join(first.split()[2:4])
    desk.discard()

    def fill(dialog):  # the writer types the phrase and a bad regex, then fixes it
        dialog.text.setPlainText(phrase + "\nre:(open")
        dialog.accept()
        assert "line 2" in dialog.error.text() and dialog.result_bans is None  # stays open
        dialog.text.setPlainText(phrase)
        dialog.slop.setChecked(True)
        dialog.accept()
        return True

    monkeypatch.setattr(write_panel.BansDialog, "exec", fill)
    desk.edit_bans()
    assert desk.doc.bans.phrases[0].text == phrase and desk.doc.bans.slop
    assert desk.context_box.bans_button.text() == "Banned phrases: 1 + the slop list…"
    assert window.files.dirty
    results = []
    window.worker.finished.connect(lambda req, r: results.append(r))
    _continue(qtbot, window)
    text = desk.doc.pending.candidates[-1][0]
    assert phrase.lower() not in text.lower() and results[-1].rewinds >= 1
    monkeypatch.setattr(desk_files.QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "b.md"), ""))
    window.files.save()
    assert json.loads((tmp_path / "b.md.prosemix.json").read_text())["bans"]["slop"] is True


def test_hovering_a_token_shows_its_alternatives_and_a_click_writes_the_passage_again(qtbot, window):
    from PySide6.QtTest import QTest

    desk = window.write
    _continue(qtbot, window)
    first = desk.doc.pending.candidates[0][0]
    texts, alts = desk.desk.tokens.tokens(desk.doc.pending.candidates[0][1])
    assert "".join(texts) == first and all(len(a) == 10 for a in alts)
    start = desk.doc.pending.start
    index = 2
    at = start + len("".join(texts[:index]))
    rect = desk.editor.cursorRect(_cursor_at(desk, at + 1))
    QTest.mouseMove(desk.editor.viewport(), rect.center())
    qtbot.waitUntil(lambda: desk.popup.isVisible(), timeout=3000)
    assert desk.popup.hit.index == index and len(desk.popup.buttons) == 10
    choice = next(b for b in desk.popup.buttons if b.isEnabled())
    chosen_text = desk.popup.hit.alternatives[desk.popup.buttons.index(choice)][0]
    with qtbot.waitSignal(window.worker.finished, timeout=60000):
        choice.click()
    assert len(desk.doc.pending.candidates) == 2
    second = desk.doc.pending.candidates[1][0]
    assert second.startswith("".join(texts[:index]) + chosen_text) and second != first
    texts2, _ = desk.desk.tokens.tokens(desk.doc.pending.candidates[1][1])
    assert "".join(texts2) == second
    desk.cycle(-1)  # Alt+Left: the passage as it was
    assert desk.doc.text[start:start + len(first)] == first
    # the confidence tint adds a selection for each unlikely token
    plain = len(desk.editor.extraSelections())
    desk.confidence.setChecked(True)
    assert len(desk.editor.extraSelections()) >= plain
    # kept, then edited at token 1: that token no longer offers alternatives, token 0 still does
    desk.accept()
    assert desk.desk.tokens.at(desk.doc, start) is not None
    cursor = _cursor_at(desk, start + len(texts[0]) + 1)
    cursor.insertText("x")
    assert desk.desk.tokens.at(desk.doc, start + len(texts[0]) + 1) is None
    assert desk.desk.tokens.at(desk.doc, start) is not None


def _cursor_at(desk, pos):
    cursor = desk.editor.textCursor()
    cursor.setPosition(pos)
    return cursor


def test_rewrite_a_selection_in_the_blend_or_by_instruction_and_take_it_back(qtbot, window, monkeypatch):
    import gui.desk.write_panel as write_panel

    desk = window.write
    text = START + ". The boats were gone. Nobody in the town had slept for a week."
    desk.editor.setPlainText(text)
    start = text.index("The boats")
    end = text.index(" Nobody")

    def select():
        cursor = desk.editor.textCursor()
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.KeepAnchor)
        desk.editor.setTextCursor(cursor)

    answers = iter([("", True), ("in the first person", True)])
    monkeypatch.setattr(write_panel.QInputDialog, "getText", lambda *a, **k: next(answers))
    sent = []
    submit = window.worker.submit
    monkeypatch.setattr(window.worker, "submit", lambda req: (sent.append(req), submit(req)))
    select()
    _continue(qtbot, window, desk.rewrite_selection)  # in the blend at the point
    new = desk.doc.pending.candidates[0][0]
    assert sent[-1].job.prompt == text[:start] and sent[-1].job.document is not None and not sent[-1].job.sampling.chat
    assert new and desk.doc.text == text[:start] + new + text[end:] == desk.editor.toPlainText()
    assert "\n\n" not in new
    desk.discard()  # the selection comes back as it was
    assert desk.doc.text == text == desk.editor.toPlainText() and desk.doc.pending is None
    select()
    _continue(qtbot, window, desk.rewrite_selection)  # by instruction, through the chat template
    assert sent[-1].job.sampling.chat and sent[-1].job.document is None
    assert "in the first person" in sent[-1].job.prompt and "The boats were gone." in sent[-1].job.prompt
    rewritten = desk.doc.pending.candidates[0][0]
    assert desk.doc.text == text[:start] + rewritten + text[end:]
    desk.accept()
    assert desk.doc.passage_at(start) is not None
    desk.undo()  # one step takes the whole rewrite back
    assert desk.editor.toPlainText() == text and desk.doc.text == text
    desk.editor.moveCursor(QTextCursor.End)
    desk.rewrite_selection()  # nothing selected: said, nothing happens
    assert desk.doc.pending is None


def test_a_recovered_pending_passage_restyles_from_the_text_before_it(qtbot, window):
    """A document that comes back with its passage pending (recovery, reopening) restyles it
    from the text before it, not from an empty prompt (which lost the passage)."""
    from engine.documents.model import Document, Provenance

    doc = Document(START)
    doc.begin_pending(len(START))
    doc.set_candidate(" and the boats were gone.", Provenance({"alpha": 1.0, "beta": 0.0, "gamma": 0.0}, 1.0, 5, "m"))
    window.write.set_document(doc)
    sent = []
    submit = window.worker.submit
    window.worker.submit = lambda req: (sent.append(req), submit(req))
    try:
        _continue(qtbot, window, window.write.restyle)
    finally:
        window.worker.submit = submit
    assert sent and sent[-1].job.prompt == START and window.write.doc.pending.candidates[-1][0]


def test_the_panel_renders_the_desk_and_ctrl_backspace_discards_before_the_editor_deletes_a_word(qtbot, monkeypatch):
    """The Write tab alone, its worker a list: a rewrite taken back with Ctrl+Backspace (the
    editor's own "delete the word before" must not get the key while a passage is pending), the
    passage's tint over all of its text again, and undo and redo through the desk."""
    import gui.desk.write_panel as write_panel
    from gui.worker import Finished

    sent = []
    panel = write_panel.WritePanel(sent.append, lambda: None, lambda: make_point([0.5, 0.5], ["a", "b"]),
                                   lambda: SamplingConfig(seed=1))
    qtbot.addWidget(panel)
    panel.set_anchors(["a", "b"], ["#ff0000", "#00ff00"], "m")
    panel.show()
    qtbot.keyClicks(panel.editor, "Start.")

    def write(text):
        request = sent[-1]
        panel.on_token(request, text)
        panel.on_finished(request, Finished(text, 3, 0.1, 0.1, 1, "length", {}, 1.0, "", None))

    panel.continue_here()
    write(" One two.\n\nThree four:")
    qtbot.keyClick(panel.editor, Qt.Key_Tab)
    text = panel.doc.text
    cursor = panel.editor.textCursor()
    cursor.setPosition(text.index("Three"))
    cursor.setPosition(len(text), QTextCursor.KeepAnchor)
    panel.editor.setTextCursor(cursor)
    monkeypatch.setattr(write_panel.QInputDialog, "getText", lambda *a, **k: ("", True))
    panel.rewrite_selection()
    write("")  # the model ended at once: said, with the way back
    assert "wrote nothing" in panel.status.text() and "brings your text back" in panel.status.text()
    panel.retry()
    write("Five six.")
    assert panel.editor.toPlainText() == "Start. One two.\n\nFive six."
    qtbot.keyClick(panel.editor, Qt.Key_Backspace, Qt.ControlModifier)
    assert panel.editor.toPlainText() == text == panel.doc.text and panel.doc.pending is None
    spans = [(s.cursor.selectionStart(), s.cursor.selectionEnd()) for s in panel.editor.extraSelections()]
    assert spans == [(len("Start."), len(text))]  # the whole passage, tinted again
    qtbot.keyClick(panel.editor, Qt.Key_Backspace, Qt.ControlModifier)  # nothing pending: the editor's
    assert panel.editor.toPlainText() == panel.doc.text != text
    qtbot.keyClick(panel.editor, Qt.Key_Z, Qt.ControlModifier)
    assert panel.editor.toPlainText() == text
    qtbot.keyClick(panel.editor, Qt.Key_Z, Qt.ControlModifier)  # the discard, taken back
    assert panel.editor.toPlainText() == "Start. One two.\n\nFive six." and panel.doc.pending is not None
    qtbot.keyClick(panel.editor, Qt.Key_Y, Qt.ControlModifier)
    assert panel.editor.toPlainText() == text and panel.doc.pending is None


def test_a_continue_while_the_model_loads_starts_when_it_is_ready(qtbot):
    """Ctrl+Enter before the model's anchors arrive sent a request with no weights for three
    anchors, and the writer got an error dialog; now the Continue waits for the model, says so,
    and starts once it has loaded (a failed load drops it)."""
    import gui.desk.write_panel as write_panel

    sent, said = [], []
    panel = write_panel.WritePanel(sent.append, lambda: None, lambda: make_point([0.5, 0.5], ["a", "b"]),
                                   lambda: SamplingConfig(seed=1))
    qtbot.addWidget(panel)
    panel.message.connect(said.append)
    qtbot.keyClicks(panel.editor, "Start.")
    panel.model_loading(True)
    panel.continue_here()
    panel.restyle()  # a move of the handle: nothing, and nothing said
    assert sent == [] and said == ["The model is still loading: this starts as soon as it is ready."]
    assert panel.doc.pending is None and panel.doc.text == "Start." and "waiting" in panel.status.text()
    panel.set_anchors(["a", "b"], ["#ff0000", "#00ff00"], "m")  # loaded: the Continue starts
    assert len(sent) == 1 and sent[0].job.prompt == "Start." and sent[0].job.point.values == (0.5, 0.5)
    panel.discard()
    panel.model_loading(True)
    panel.continue_here()
    panel.model_loading(False)  # the load failed: the Continue is dropped
    panel.set_anchors(["a", "b"], ["#ff0000", "#00ff00"], "m")
    assert len(sent) == 1



def test_the_window_takes_its_keys_back_after_each_dialog(qtbot, window, monkeypatch):
    """Where no window manager hands the focus back when a dialog closes (a bare X server), Esc
    went nowhere until the writer clicked: a voice's check could not be skipped (seen in Xvfb).
    Any dialog of the window's, OK or Cancel, and one opened from a dialog, gives the keys back
    to what it came from."""
    from PySide6.QtWidgets import QDialog, QMessageBox

    window.show()
    activated = []
    monkeypatch.setattr(window, "activateWindow", lambda: activated.append("window"))
    voice = mw.VoiceDialog("a page", "", window)
    voice.open()
    monkeypatch.setattr(voice, "activateWindow", lambda: activated.append("voice"))
    inner = QMessageBox(QMessageBox.Icon.Question, "t", "a question", QMessageBox.StandardButton.Ok, voice)
    inner.open()
    inner.accept()
    assert activated == ["voice"]
    voice.reject()
    assert activated == ["voice", "window"]
    orphan = QDialog()  # no window to go back to
    orphan.open()
    orphan.reject()
    assert activated == ["voice", "window"]
