"""The writing desk's costs, measured (not timed tests): document operations on a long
document, and restyle while dragging on the embedded model.

    python -m benchmarks desk [--words 20000]

    python -m benchmarks desk --only ops|lore|bans|alts|continue|drag

1. Document operations on a document of --words words with a generated passage every 100 words:
   a keystroke (Document.edit), the tint of every passage (WritePanel._paint), an autosave
   (RecoveryStore.save), a save with its sidecar, and the context assembly of a Continue with
   the embedded model's tokenizer. Goal: each under 20 ms. With it, a lorebook of 200 entries
   matched against the last 256 tokens and placed in the context: goal under 10 ms.
1b. Phrase bans: 200-token passages with the default slop list on against the same without;
   goal at most 1.15x, with the rewinds it took.
1c. Token alternatives: the hover (goal < 30 ms) and a click's rewrite from a token, its first
   token against the physics (goal <= 1.3x).
2. Continue in a long document (embedded model, the three shipped anchors merged): Continue at
   the end of a 1,500-token context, keep the passage, type a sentence, Continue again. Goal:
   the second Continue's first token within 1.3x of evaluating just the tokens not in the cache
   plus one decode step (the physics, measured on the same backend); the first, which
   evaluates everything, is printed beside it.
3. Restyle while dragging (the real window, offscreen, with the worker): a 40-token passage,
   the default style window, and the handle driven by mouse moves at 30 Hz for 3 s along the
   austen -> wry edge, held still for half a second, then let go. Reports the latency from the
   last move to the preview's first token at the final point (goal <= 60 ms), from the release
   to the exact passage's first token against the physics (a weight change, a prompt evaluation
   of the style window and one decode step, measured alone afterwards; goal <= 1.2x), the
   distinct points whose passage finished during the drag, the worst event-loop stall (goal
   < 50 ms) and whether the final passage equals a fresh generation at the final point.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from engine.machine import describe_machine  # noqa: E402


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
    from gui.desk.write_panel import WritePanel

    app = QApplication.instance() or QApplication([])
    prov = Provenance({"austen": 0.5, "wry": 0.3, "shakespeare": 0.2}, 1.0, 1, "m", {})
    doc = Document()
    chunk = " ".join(["word"] * 99) + "."
    for k in range(words // 100):
        doc.edit(len(doc.text), 0, ("\n\n" if k % 5 == 0 else " ") + chunk)
        doc.begin_pending(len(doc.text))
        doc.set_candidate(" A generated sentence sits here.", prov)
        doc.accept()
    panel = WritePanel(lambda r: None, lambda: None, lambda: ([1 / 3] * 3, 1.0, False),
                       lambda: SamplingConfig())
    panel.set_anchors(["austen", "wry", "shakespeare"], ["#8e44ad", "#c0392b", "#1e8449"], "m")
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


def eval_text(name: str = "austen") -> str:
    return (ROOT / "resources" / "eval" / f"{name}.txt").read_text(encoding="utf-8")


def shipped_backend():  # type: ignore[no-untyped-def]
    from engine.anchors.shipped import default_anchor_paths
    from engine.backends import BackendSpec, open_backend

    return open_backend(BackendSpec(backend="llama"), default_anchor_paths())


def assembly_cost(words: int) -> tuple[str, float]:
    from engine.documents.context import DEFAULT_STYLE_WINDOW, assemble

    backend = shipped_backend()
    pool = " ".join(eval_text(n) for n in ("austen", "wry", "shakespeare", "simple")).split()
    doc = " ".join(pool[k % len(pool)] for k in range(words))
    ms = timed(lambda: assemble(doc, "Memory: a story of rain.", "keep it grim",
                                DEFAULT_STYLE_WINDOW, backend.count_tokens), 10)
    backend.close()
    return ("assemble a Continue's context (style window)", ms)


def lorebook_cost(words: int, entries: int = 200) -> tuple[str, float]:
    """Which of ``entries`` lorebook entries a Continue at the end of a ``words``-word document
    takes, and the context with them (the counter does this after each pause in typing)."""
    from engine.documents.context import DEFAULT_STYLE_WINDOW, assemble
    from engine.documents.lorebook import LoreEntry, Lorebook, lore_for

    backend = shipped_backend()
    pool = " ".join(eval_text(n) for n in ("austen", "wry", "shakespeare", "simple")).split()
    doc = " ".join(pool[k % len(pool)] for k in range(words))
    names = sorted({w.strip(".,;:!?\"'()") for w in pool if w[:1].isupper() and len(w) > 3})[:entries]
    book = Lorebook(tuple(LoreEntry((n,), f"{n} is someone the story knows well.", priority=k % 5)
                          for k, n in enumerate(names)))

    def once() -> None:
        lore = lore_for(book, doc, backend.count_tokens)
        assemble(doc, "Memory: a story of rain.", "", DEFAULT_STYLE_WINDOW, backend.count_tokens, lore=lore.text)

    ms = timed(once, 10)
    active = len(lore_for(book, doc, backend.count_tokens).included)
    backend.close()
    return (f"lorebook: {len(book.entries)} entries, {active} active, and the context", ms)


def bans_cost(tokens: int = 200, prompts: int = 4) -> None:
    """A passage of ``tokens`` tokens with the default slop list on, against the same passage
    without bans (the three shipped anchors at the centre, temperature 0.8). Goal: <= 1.15x."""
    from engine.backends.bans import BanList, stream_with_bans
    from engine.sampling import SamplingConfig

    from engine.backends.bans import PhraseBan

    backend = shipped_backend()
    backend.set_weights([1 / len(backend.anchors)] * len(backend.anchors))
    openings = [p.strip()[:300] for p in eval_text("wry").split("\n\n") if len(p) > 300][:prompts]
    slop = BanList(slop=True).all()
    stream_with_bans(backend, openings[0], SamplingConfig(max_tokens=8), slop).run()  # warm
    # the default list, and (to price a rewind) the same with two phrases this model writes often
    for label, bans in (("the default list", slop), ("the default list and \"and the\", \"of the\"",
                                                     slop + (PhraseBan("and the"), PhraseBan("of the")))):
        plain_s = banned_s = 0.0
        rewinds = 0
        for k, prompt in enumerate(openings):
            sampling = SamplingConfig(max_tokens=tokens, temperature=0.8, seed=k)
            start = time.perf_counter()
            plain = backend.generate(prompt, sampling)
            plain_s += time.perf_counter() - start
            start = time.perf_counter()
            banned = stream_with_bans(backend, prompt, sampling, bans).run()
            banned_s += time.perf_counter() - start
            rewinds += banned.rewinds
            assert banned.rewinds or banned.text == plain.text
        ratio = banned_s / plain_s
        print(f"bans: {prompts} passages of {tokens} tokens, {label} ({len(bans)} phrases) on: "
              f"{banned_s:.1f} s against {plain_s:.1f} s without, {ratio:.2f}x "
              f"({'PASS' if ratio <= 1.15 else 'MISS'}, goal <= 1.15x); {rewinds} rewinds")
    backend.close()


def alternatives_cost(context_tokens: int = 384, tokens: int = 40, index: int = 20) -> None:
    """Token alternatives: the hover (finding the token under the mouse and filling the popup,
    goal < 30 ms) and a click's rewrite from token ``index`` of a ``tokens``-token passage after
    a ``context_tokens`` context: its first token against the physics (the tokens after the
    kept prefix plus one decode step, measured on the same backend), goal <= 1.3x."""
    from dataclasses import replace as _replace

    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication

    from engine.backends.alternatives import rewrite_from
    from engine.documents.model import Document, Passage, Provenance
    from engine.sampling import SamplingConfig
    from engine.documents.tokens import TokenLog
    from gui.desk.token_view import AlternativesPopup

    app = QApplication.instance() or QApplication([])
    backend = shipped_backend()
    backend.set_weights([1 / len(backend.anchors)] * len(backend.anchors))
    words = eval_text("wry").split()
    prompt = " ".join(words[:context_tokens])
    while backend.count_tokens(prompt) > context_tokens:
        prompt = prompt[:int(len(prompt) * 0.95)]
    sampling = SamplingConfig(max_tokens=tokens, temperature=0.8, seed=3)
    gen = backend.stream(prompt, sampling, top_logprobs=10)
    text = "".join(gen)
    r = gen.result
    # the hover, on a document of 200 such passages
    doc, store = Document(), TokenLog()
    for k in range(200):
        start = len(doc.text)
        doc.text += text + " "
        prov = Provenance({"a": 1.0}, 1.0, k, "m")
        doc.passages.append(Passage(start, start + len(text), prov))
        store.put(prov, tuple(r.token_texts), tuple(r.alternatives))
    popup = AlternativesPopup()
    where = doc.passages[150].start + len("".join(r.token_texts[:5])) + 1

    def hover() -> None:
        hit = store.at(doc, where)
        assert hit is not None
        popup.hit = None
        popup.show_hit(hit, QPoint(10, 10))
        app.processEvents()

    hover_ms = timed(hover, 20)
    popup.hide()
    # the click's rewrite against the physics
    choice = r.alternatives[index][1][0]
    backend.generate(prompt, _replace(sampling, max_tokens=1))  # the context is what is cached
    start = time.perf_counter()
    rewrite = rewrite_from(backend, prompt, r.token_texts, r.alternatives, index, choice, sampling)
    next(iter(rewrite.generation))
    first = time.perf_counter() - start
    rewrite.generation.close()
    backend.generate(prompt, _replace(sampling, max_tokens=1))
    start = time.perf_counter()
    backend.generate(prompt + rewrite.prefix, _replace(sampling, max_tokens=1))
    physics = time.perf_counter() - start
    backend.close()
    print(f"alternatives: hover (find the token, fill the popup) {hover_ms:.2f} ms "
          f"({'PASS' if hover_ms < 30 else 'MISS'}, goal < 30 ms)")
    print(f"alternatives: a click's rewrite from token {index}: first token {first * 1000:.0f} ms, physics "
          f"({index + 1} tokens after the kept prefix + one decode step) {physics * 1000:.0f} ms, "
          f"{first / physics:.2f}x ({'PASS' if first <= 1.3 * physics else 'MISS'}, goal <= 1.3x)")


def continue_in_a_long_document(context_tokens: int = 1500, max_tokens: int = 40) -> None:
    from engine.documents.context import assemble
    from engine.sampling import SamplingConfig

    backend = shipped_backend()
    text = eval_text()
    doc = text[:context_tokens * 4]
    while backend.count_tokens(doc) > context_tokens:
        doc = doc[:int(len(doc) * 0.99)]
    window = context_tokens + 200  # the style window a writer sets for long context
    sampling = SamplingConfig(max_tokens=max_tokens, temperature=0.8, seed=0)

    def press_continue(before: str):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        ctx = assemble(before, "", "", min(window, backend.n_ctx - max_tokens), backend.count_tokens)
        generation = backend.stream(ctx.prompt, sampling)
        first, out = None, ""
        for piece in generation:
            first = first if first is not None else time.perf_counter() - start
            out += piece
        return ctx, generation.result, first, out

    _, r1, full, out = press_continue(doc)
    doc += out + " She turned to the window, and for a long while she said nothing at all."
    ctx, r2, kept, _ = press_continue(doc)
    tokens = backend._tokenize(ctx.prompt)
    llm = backend._llm  # the physics: the same work with nothing around it
    samples = []
    for _ in range(3):
        llm.n_tokens = r2.cached_tokens
        start = time.perf_counter()
        llm.eval(tokens[r2.cached_tokens:])
        llm.eval(tokens[-1:])
        samples.append(time.perf_counter() - start)
    physics = statistics.median(samples)
    new = r2.prompt_tokens - r2.cached_tokens
    print(f"Continue in a {r1.prompt_tokens}-token context, then again after a typed sentence "
          f"({r2.prompt_tokens} tokens, {r2.cached_tokens} kept, {new} evaluated):")
    print(f"  first Continue, everything evaluated: first token {full * 1000:7.0f} ms")
    print(f"  second Continue, the prefix kept:     first token {kept * 1000:7.0f} ms "
          f"({full / kept:.1f}x faster)")
    print(f"  physics: {new} tokens + one decode step {physics * 1000:7.0f} ms; ratio "
          f"{kept / physics:.2f}  {'PASS' if kept <= 1.3 * physics else 'MISS'} (goal <= 1.3)")
    backend.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--words", type=int, default=20000)
    ap.add_argument("--only", choices=["ops", "lore", "bans", "alts", "continue", "drag"])
    args = ap.parse_args()
    print(f"machine: {describe_machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if args.only in (None, "ops"):
        for label, ms in document_ops(args.words) + [assembly_cost(args.words)]:
            verdict = "" if ms != ms else ("PASS" if ms < 20 else "MISS")
            print(f"{label:<48} {'' if ms != ms else f'{ms:8.2f} ms'}  {verdict} (goal < 20 ms)" if ms == ms else label)
    if args.only in (None, "lore"):
        label, ms = lorebook_cost(args.words)
        print(f"{label:<48} {ms:8.2f} ms  {'PASS' if ms < 10 else 'MISS'} (goal < 10 ms)")
    if args.only in (None, "bans"):
        bans_cost()
    if args.only in (None, "alts"):
        alternatives_cost()
    if args.only in (None, "continue"):
        continue_in_a_long_document()
    if args.only in (None, "drag"):
        from benchmarks.drag_bench import restyle_while_dragging

        restyle_while_dragging()
    return 0


if __name__ == "__main__":
    sys.exit(main())
