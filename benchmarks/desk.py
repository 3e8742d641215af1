"""The writing desk's costs, measured (not timed tests): document operations on a long
document, and restyle while dragging on the embedded model.

    python benchmarks/desk.py [--words 20000]

Document operations on a document of --words words with a generated passage every 100 words:
a keystroke (Document.edit), the tint of every passage (WritePanel._paint), an autosave
(RecoveryStore.save) and a save with its sidecar. Goal: each under 20 ms. (Restyle while
dragging on the real model is not measured here yet.)
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def timed(fn, reps: int = 20) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def document_ops(words: int) -> list[tuple[str, float]]:
    from PySide6.QtWidgets import QApplication

    from engine.documents import files
    from engine.documents.model import Document, Provenance
    from engine.documents.recovery import RecoveryStore
    from engine.sampling import SamplingConfig
    from gui.write_panel import WritePanel

    app = QApplication.instance() or QApplication([])
    prov = Provenance({"austen": 0.5, "sardonic": 0.3, "shakespeare": 0.2}, 1.0, 1, "m", {})
    doc = Document()
    chunk = " ".join(["word"] * 99) + "."
    for k in range(words // 100):
        doc.edit(len(doc.text), 0, ("\n\n" if k % 5 == 0 else " ") + chunk)
        doc.begin_pending(len(doc.text))
        doc.set_candidate(" A generated sentence sits here.", prov)
        doc.accept()
    panel = WritePanel(lambda r: None, lambda: None, lambda: ([1 / 3] * 3, 1.0, False),
                       lambda: SamplingConfig())
    panel.set_anchors(["austen", "sardonic", "shakespeare"], ["#8e44ad", "#c0392b", "#1e8449"], "m")
    panel.set_document(doc)
    app.processEvents()
    middle = len(doc.text) // 2
    typing = Document(doc.text)  # the editor's document stays as it is for the tint
    typing.passages = list(doc.passages)
    rows = [("keystroke in the middle (Document.edit)", timed(lambda: typing.edit(middle, 0, "x"))),
            ("tint every passage (WritePanel._paint)", timed(panel._paint, 5))]
    with tempfile.TemporaryDirectory() as tmp:
        store = RecoveryStore(Path(tmp) / "rec")
        rows.append(("autosave (text + sidecar)", timed(lambda: store.save("bench", doc), 10)))
        rows.append(("save .md + sidecar", timed(lambda: files.save(doc, Path(tmp) / "d.md"), 10)))
    rows.append((f"(the document: {len(doc.text.split())} words, {len(doc.passages)} passages)", float("nan")))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--words", type=int, default=20000)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for label, ms in document_ops(args.words):
        verdict = "" if ms != ms else ("PASS" if ms < 20 else "MISS")
        print(f"{label:<48} {'' if ms != ms else f'{ms:8.2f} ms'}  {verdict} (goal < 20 ms)" if ms == ms else label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
