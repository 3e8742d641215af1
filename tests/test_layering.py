"""The architecture's rules, checked: engine/ never imports Qt, the engine's layers only
import downwards (import-linter's contracts in pyproject.toml), no import circles, and the
command line and the engine load without Qt."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_linter_contracts():
    lint = Path(sys.executable).parent / "lint-imports"
    r = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    out = " ".join(r.stdout.split())
    for contract in ("The engine never imports Qt KEPT",
                     "Engine layers: basics, models, anchors, backends, uses of a backend, the command line KEPT",
                     "The GUI is a front end beside the command line, not on top of it KEPT"):
        assert contract in out, r.stdout


def import_cycles(package: str) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), counting every import,
    those inside functions included."""
    import grimp

    graph = grimp.build_graph(package)
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i.startswith(package)}
             for m in graph.modules if m.startswith(package)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_circles():
    assert import_cycles("engine") == []
    assert import_cycles("gui") == []


def test_engine_and_cli_load_without_qt():
    code = ("import sys, engine.cli.main, engine.backends.base, engine.backends.torch_merge, "
            "engine.anchors.loading, engine.anchors.gguf_lora, engine.weights, engine.geometry, "
            "engine.evaluation.sweep, engine.training.train; "
            "assert not any(m.startswith('PySide6') for m in sys.modules), 'Qt imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_window_does_not_import_build_tools():
    """Opening the app must not import the corpus builder or training (the first round's
    start-up did, through default_anchors)."""
    code = ("import sys, gui.main_window; "
            "bad = [m for m in sys.modules if m.startswith(('engine.training', 'engine.cli'))]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
