"""Restyle while dragging, measured in the real window (offscreen) with the worker and the
embedded model: part 3 of benchmarks/desk.py, which says what it reports. Each drag holds the
handle still for HOLD_S after its last move (the preview shows), then lets go (the exact
passage)."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EDGES = (([0.95, 0.05, 0.0], [0.05, 0.95, 0.0]),  # austen -> wry
         ([0.0, 0.95, 0.05], [0.0, 0.05, 0.95]),  # wry -> shakespeare
         ([0.05, 0.0, 0.95], [0.95, 0.0, 0.05]))  # shakespeare -> austen
HZ, SECONDS, TOKENS, TICK_MS = 30, 3.0, 40, 5
HOLD_S = 0.5  # the handle held still after the last move, before the release


def _wait(app, until, timeout: float = 180.0) -> None:  # type: ignore[no-untyped-def]
    end = time.perf_counter() + timeout
    while not until():
        if time.perf_counter() > end:
            raise TimeoutError("the window did not finish in time")
        app.processEvents()
        time.sleep(0.001)


def _window(tmp: str):  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QTextCursor
    from PySide6.QtWidgets import QApplication

    import gui.desk.desk_files as desk_files
    import gui.main_window as mw
    from engine.anchors.shipped import default_anchor_paths

    app = QApplication.instance() or QApplication([])
    os.environ["PROSEMIX_DATA"] = str(Path(tmp) / "data")  # not the writer's autosaves
    mw.show_error = lambda *a, **k: None  # type: ignore[assignment]  # nobody to click it
    desk_files.QMessageBox.question = lambda *a, **k: desk_files.QMessageBox.Discard  # type: ignore[method-assign]  # as above
    w = mw.MainWindow(settings=QSettings(str(Path(tmp) / "s.ini"), QSettings.IniFormat),
                      load_defaults=False)
    w.generation.max_tokens.setValue(TOKENS)
    w.generation.temperature.setValue(0.8)
    loaded: list[int] = []
    w.worker.loaded.connect(lambda *a: loaded.append(1))
    w.anchors.add_many([(p, True) for p in default_anchor_paths()])
    w.show()
    _wait(app, lambda: bool(loaded))
    text = (ROOT / "resources" / "eval" / "austen.txt").read_text(encoding="utf-8")[:3000]
    w.write.editor.setPlainText(text[:text.rfind(" ")])
    w.write.editor.moveCursor(QTextCursor.End)
    return app, w


def _drag(app, w, edge):  # type: ignore[no-untyped-def]
    """Press at one end of the edge, move at HZ for SECONDS, release. Returns the times of the
    moves, the event loop's ticks, and the worker's first tokens and finishes per request."""
    from PySide6.QtCore import QEvent, QPointF, Qt, QTimer
    from PySide6.QtGui import QMouseEvent

    picker = w.picker
    events: list[tuple[float, str, object]] = []
    w.worker.token.connect(lambda req, piece: events.append((time.perf_counter(), "token", req)))
    w.worker.finished.connect(lambda req, res: events.append((time.perf_counter(), res.finish_reason, req)))
    ticks: list[float] = []
    ticker = QTimer()
    ticker.setInterval(TICK_MS)
    ticker.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def send(kind, weights, buttons):  # type: ignore[no-untyped-def]
        pos = QPointF(picker.pixel_of_weights(weights))
        button = Qt.NoButton if kind == QEvent.MouseMove else Qt.LeftButton
        app.sendEvent(picker, QMouseEvent(kind, pos, picker.mapToGlobal(pos), button, buttons,
                                          Qt.NoModifier))

    n = int(HZ * SECONDS)
    path = [[a + (b - a) * i / (n - 1) for a, b in zip(*edge)] for i in range(n)]
    moves: list[float] = []
    mover = QTimer()
    mover.setInterval(round(1000 / HZ))

    def step() -> None:
        if len(moves) == n:
            mover.stop()
            return
        send(QEvent.MouseMove, path[len(moves)], Qt.LeftButton)
        moves.append(time.perf_counter())

    mover.timeout.connect(step)
    ticker.start()
    send(QEvent.MouseButtonPress, path[0], Qt.LeftButton)
    mover.start()
    _wait(app, lambda: len(moves) == n)
    _wait(app, lambda: time.perf_counter() > moves[-1] + HOLD_S)
    release = time.perf_counter()
    send(QEvent.MouseButtonRelease, path[-1], Qt.NoButton)
    _wait(app, lambda: w.write.desk.job is None)
    ticker.stop()
    return moves, release, ticks, events


def restyle_while_dragging() -> None:
    import statistics

    from engine.backends.llama_cpp import LlamaCppBackend
    from engine.anchors.shipped import default_anchor_paths
    from engine.documents.context import assemble
    from engine.sampling import SamplingConfig

    tmp = tempfile.mkdtemp(prefix="prosemix-drag-")
    app, w = _window(tmp)
    desk = w.write
    w.picker.set_weights(EDGES[0][0])
    desk.continue_here()
    _wait(app, lambda: desk.desk.job is None)
    drags = []
    for edge in EDGES:
        moves, release, ticks, events = _drag(app, w, edge)
        final_weights = tuple(w.picker.weights())
        last = moves[-1]
        first_preview = min((t for t, kind, req in events if kind == "token" and last < t < release
                             and req.weights == final_weights and req.preview), default=float("nan"))
        first_exact = min(t for t, kind, req in events
                          if kind == "token" and t > release and req.weights == final_weights and not req.preview)
        finished = {req.weights for t, kind, req in events
                    if kind in ("length", "eos", "stop") and t <= last}
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        made = desk.doc.pending.candidates[desk.doc.pending.current][1]
        drags.append({"preview": first_preview - last, "latency": first_exact - release,
                      "finished": len(finished),
                      "stall": max(gaps) * 1000 - TICK_MS, "weights": final_weights,
                      "shown": desk.doc.text[slice(*desk.doc.pending_span())], "made": made})
    before, memory, note = desk.desk.before, desk.memory.toPlainText(), desk.note.toPlainText()
    window = desk.window_tokens.value()
    w.close()
    w.worker.wait(20000)

    backend = LlamaCppBackend()
    backend.load(None, default_anchor_paths())
    ctx = assemble(before, memory, note, min(window, backend.n_ctx - TOKENS), backend.count_tokens)
    same = []
    for d in drags:
        made = d["made"]
        sampling = SamplingConfig(seed=made.seed, **{k: v for k, v in made.sampling.items()
                                                     if k in ("max_tokens", "temperature", "top_p",
                                                              "top_k", "repetition_penalty")})
        backend.set_weights(list(d["weights"]))
        backend._forget_prompt()
        same.append(backend.generate(ctx.prompt, sampling).text == d["shown"])
    change, prompt_eval = [], []
    for d in drags:  # the physics at each final point, from the edge's start
        backend.set_weights(EDGES[0][0])
        start = time.perf_counter()
        backend.set_weights(list(d["weights"]))
        change.append(time.perf_counter() - start)
        for _ in range(3):
            backend._forget_prompt()
            prompt_eval.append(backend.generate(ctx.prompt, SamplingConfig(max_tokens=2, temperature=0.0)).seconds)
    backend.close()
    latency = statistics.median(d["latency"] for d in drags)
    preview = statistics.median(d["preview"] for d in drags)
    physics, merge = statistics.median(prompt_eval), statistics.median(change)
    print(f"Restyle while dragging: {len(EDGES)} drags of {int(HZ * SECONDS)} moves at {HZ} Hz "
          f"(austen -> wry -> shakespeare -> austen), held {HOLD_S} s, a {TOKENS}-token passage, "
          f"style window {window} ({ctx.tokens} tokens of context); medians over the drags")
    print(f"  last move -> the preview's first token {preview * 1000:7.0f} ms "
          f"(each drag: {', '.join(str(round(d['preview'] * 1000)) for d in drags)} ms)  "
          f"{'PASS' if preview <= 0.060 else 'MISS'} (goal <= 60 ms)")
    print(f"  release -> the exact passage's first token {latency * 1000:7.0f} ms "
          f"(each drag: {', '.join(str(round(d['latency'] * 1000)) for d in drags)} ms)")
    print(f"  physics: prompt evaluation + one decode step {physics * 1000:7.0f} ms; ratio "
          f"{latency / physics:.2f}  {'PASS' if latency <= 1.2 * physics else 'MISS'} (goal <= 1.2); "
          f"the weight change (merge) adds {merge * 1000:.0f} ms: ratio to both "
          f"{latency / (physics + merge):.2f}")
    print(f"  distinct points whose passage finished during a drag: "
          f"{', '.join(str(d['finished']) for d in drags)}")
    stall = max(d["stall"] for d in drags)
    print(f"  worst event-loop stall {stall:5.1f} ms  {'PASS' if stall < 50 else 'MISS'} (goal < 50 ms)")
    print(f"  final passage equals a fresh generation at the final point: {all(same)} ({same})")
