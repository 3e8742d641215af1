"""The Write tab with the real engine: continue from the cursor, keep or discard, retry and
cycle, restyle while the handle is dragged, undo a generation as one step."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QTextCursor

import gui.main_window as mw
from engine.backends.llama_cpp import LlamaCppBackend
from engine.documents.context import assemble
from engine.sampling import SamplingConfig
from gui.main_window import MainWindow

START = "The rain had not stopped for three days, and the river"


@pytest.fixture
def window(qtbot, tmp_path, adapters, session_cache, monkeypatch):
    monkeypatch.setenv("PROSEMIX_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(mw, "show_error", lambda *a, **k: None)
    w = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat), load_defaults=False)
    qtbot.addWidget(w)
    w.generation.temperature.setValue(0.0)
    w.generation.max_tokens.setValue(10)
    with qtbot.waitSignal(w.worker.loaded, timeout=20000):
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
    assert desk.candidate_label.text() == "2/2" and desk.doc.text != first
    desk.cycle(-1)
    assert desk.candidate_label.text() == "1/2" and desk.editor.toPlainText() == first
    qtbot.keyClick(desk.editor, Qt.Key_Backspace, Qt.ControlModifier)
    assert desk.editor.toPlainText() == START and desk.doc.pending is None


def test_restyle_while_dragging_ends_with_the_fresh_text_at_the_final_point(qtbot, window, session_cache):
    desk = window.write
    _continue(qtbot, window)
    for weights in ([0.6, 0.2, 0.2], [0.3, 0.5, 0.2], [0.1, 0.1, 0.8]):
        window.picker.set_weights(weights)  # each move cancels and restarts the passage
    _continue(qtbot, window, lambda: window.picker.weightsCommitted.emit(window.picker.weights()))
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
