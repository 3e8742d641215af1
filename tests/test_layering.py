"""engine/ never imports Qt: checked by import-linter's contract and by importing it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_linter_contract():
    lint = Path(sys.executable).parent / "lint-imports"
    r = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "The engine never imports Qt KEPT" in r.stdout


def test_engine_and_cli_load_without_qt():
    code = ("import sys, engine.cli, engine.backends.base, engine.merge, engine.anchors, "
            "engine.gguf_lora, engine.weights, engine.geometry; "
            "assert not any(m.startswith('PySide6') for m in sys.modules), 'Qt imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
