"""The writing desk's engine: the document with passages and provenance, context assembly,
files with sidecars, recovery. Plain Python, no model."""
from __future__ import annotations

import json

import pytest

from engine.documents import files
from engine.documents.context import assemble, with_note, word_start
from engine.documents.model import Document, Provenance
from engine.documents.recovery import RecoveryStore
from engine.errors import ProsemixError

P1 = Provenance({"austen": 0.7, "sardonic": 0.3}, 1.0, 7, "m.gguf", {"temperature": 0.8})
P2 = Provenance({"austen": 0.1, "sardonic": 0.9}, 1.5, 8, "m.gguf", {"temperature": 0.8})


def generated(doc: Document, pos: int, *texts: str) -> None:
    doc.begin_pending(pos)
    for k, t in enumerate(texts):
        doc.set_candidate(t, [P1, P2][k % 2])


def test_continue_accept_discard_and_cycle():
    doc = Document("It was late.")
    generated(doc, len(doc.text), " The rain fell.", " A bell rang.")
    assert doc.text == "It was late. A bell rang." and doc.pending.position == "2/2"
    assert doc.show_candidate(+1) == "1/2" and doc.text == "It was late. The rain fell."
    passage = doc.accept()
    assert passage and doc.text[passage.start:passage.end] == " The rain fell."
    assert passage.provenance == P1 and doc.pending is None
    generated(doc, len(doc.text), " Then nothing.")
    doc.discard()
    assert doc.text == "It was late. The rain fell." and len(doc.passages) == 1


def test_typing_moves_passages_and_marks_the_edited_one():
    doc = Document("Hello world.")
    generated(doc, 5, " there")
    doc.accept()  # "Hello there world."
    p = doc.passages[0]
    assert doc.text[p.start:p.end] == " there"
    doc.edit(0, 0, "Oh! ")  # before: the passage moves
    p = doc.passages[0]
    assert doc.text[p.start:p.end] == " there" and not p.edited
    doc.edit(p.start + 3, 0, "XX")  # inside: edited
    p = doc.passages[0]
    assert doc.text[p.start:p.end] == " thXXere" and p.edited
    doc.edit(len(doc.text), 0, " End.")  # after: unchanged
    assert doc.passages[0] == p
    doc.edit(p.start, p.end - p.start, "")  # removed whole: dropped
    assert doc.passages == [] and doc.text == "Oh! Hello world. End."
    with pytest.raises(ProsemixError, match="outside the text"):
        doc.edit(100, 1, "x")


def test_typing_accepts_the_pending_passage():
    doc = Document("A")
    generated(doc, 1, "BC")
    doc.edit(3, 0, "D")
    assert doc.text == "ABCD" and doc.pending is None
    assert [(p.start, p.end) for p in doc.passages] == [(1, 3)]


def test_context_memory_note_and_budget():
    count = lambda s: len(s.split())  # noqa: E731 - a word is a token here
    text = "\n".join(f"line {k} has five words" for k in range(40))
    ctx = assemble(text, "Memory: a story of rain.", "keep it grim", budget=60, count=count)
    assert ctx.prompt.startswith("Memory: a story of rain.\n\n") and ctx.tokens <= 60
    assert "[Author's note: keep it grim]" in ctx.prompt
    lines = ctx.prompt.split("\n")
    assert lines[-4] == "[Author's note: keep it grim]"  # three lines before the end
    assert ctx.dropped > 0 and ctx.prompt.endswith("line 39 has five words")
    assert text[ctx.dropped - 1].isspace() and not text[ctx.dropped].isspace()  # a word start
    small = assemble("a short text", "", "", budget=60, count=count)
    assert small.prompt == "a short text" and small.dropped == 0 and small.usage == "3 / 60 tokens"
    with pytest.raises(ProsemixError, match="memory and the author's note take"):
        assemble(text, "word " * 100, "", budget=60, count=count)


def test_note_placement_and_word_starts():
    assert with_note("a\nb\nc\nd", "n", 3) == "a\n[Author's note: n]\nb\nc\nd"
    assert with_note("one line", "n", 3) == "[Author's note: n]\none line"
    assert with_note("text", "  ", 3) == "text"
    assert word_start("hello world", 2) == 6 and word_start("hello world", 6) == 6


def test_files_round_trip(tmp_path):
    doc = Document("Once upon a time.", memory="A fable.", note="be brief")
    generated(doc, len(doc.text), " The fox ran.")
    doc.accept()
    generated(doc, len(doc.text), " It slept.", " It woke.")
    path = tmp_path / "story.md"
    files.save(doc, path)
    assert path.read_text() == doc.text  # any editor opens it
    back, warnings = files.load(path)
    assert warnings == [] and back.text == doc.text and back.memory == "A fable." and back.note == "be brief"
    assert [(p.start, p.end, p.provenance) for p in back.passages] == \
        [(p.start, p.end, p.provenance) for p in doc.passages]
    assert back.pending is not None and back.pending.position == "2/2"
    md = files.export_markdown(back, "Fable")
    assert md.startswith("# Fable") and "seed 7" in md
    with pytest.raises(ProsemixError, match=".md or .txt"):
        files.save(doc, tmp_path / "story.docx")


def test_a_file_changed_elsewhere_keeps_its_text_and_says_what_was_lost(tmp_path):
    doc = Document("Alpha. ")
    generated(doc, 7, "Beta gamma.")
    doc.accept()
    generated(doc, len(doc.text), " Delta epsilon.")
    doc.accept()
    path = tmp_path / "s.txt"
    files.save(doc, path)
    path.write_text("New opening. Alpha. Beta gamma. Delta changed.")  # another editor
    back, warnings = files.load(path)
    assert back.text == "New opening. Alpha. Beta gamma. Delta changed."
    assert len(back.passages) == 1 and back.text[back.passages[0].start:back.passages[0].end] == "Beta gamma."
    assert any("changed outside Prosemix" in w for w in warnings)
    assert any("Delta epsilon" in w and "no longer in the text" in w for w in warnings)


def test_a_damaged_sidecar_never_blocks_the_text(tmp_path):
    path = tmp_path / "s.md"
    path.write_text("My words.")
    files.sidecar_path(path).write_text("{not json")
    doc, warnings = files.load(path)
    assert doc.text == "My words." and "damaged" in warnings[0]
    files.sidecar_path(path).write_text(json.dumps({"version": 1, "passages": [{"start": "x"}]}))
    doc, warnings = files.load(path)
    assert doc.text == "My words." and any("passage 1" in w for w in warnings)
    with pytest.raises(ProsemixError, match="no such file"):
        files.load(tmp_path / "missing.md")


def test_recovery_lists_restores_and_skips_damage(tmp_path):
    store = RecoveryStore(tmp_path / "rec")
    doc = Document("Unsaved work.")
    generated(doc, len(doc.text), " More.")
    doc.accept()
    store.save("abc", doc)
    (tmp_path / "rec" / "bad.json").write_text("garbage")
    entries, problems = store.entries()
    assert [e.id for e in entries] == ["abc"] and entries[0].preview == "Unsaved work. More."
    assert len(problems) == 1 and "bad.json" in problems[0]
    back, warnings = store.load("abc")
    assert back.text == doc.text and len(back.passages) == 1 and warnings == []
    store.discard("abc")
    assert store.entries()[0] == []


def test_the_context_keeps_its_start_while_the_writer_types_at_the_end():
    """Typing at the end moves the context's start only in steps, so consecutive prompts share
    their beginning (the backend keeps that prefix); each prompt still fits its budget."""
    from engine.documents.context import cut_step

    count = lambda t: len(t.split())  # noqa: E731
    text = " ".join(f"w{i}" for i in range(400))
    starts = []
    for extra in range(0, 200, 5):
        typed = text + "".join(f" t{j}" for j in range(extra))
        ctx = assemble(typed, "", "", budget=100, count=count)
        assert 75 <= ctx.tokens <= 100 and ctx.prompt.endswith(typed.split()[-1])
        assert ctx.dropped % cut_step(100) < 40  # a step, moved at most to its word start
        starts.append(ctx.dropped)
    assert len(set(starts)) < len(starts) // 3  # most prompts keep the last one's start
    assert starts == sorted(starts)


def test_a_long_document_is_not_tokenized_whole():
    seen = []

    def count(t: str) -> int:
        seen.append(len(t))
        return len(t.split())

    text = " ".join(f"w{i}" for i in range(50_000))  # about 340,000 characters
    ctx = assemble(text, "", "", budget=200, count=count)
    assert 150 <= ctx.tokens <= 200 and ctx.prompt.endswith("w49999")
    assert max(seen) < 8 * 200 * 4 and sum(seen) < len(text) // 20
    # a document that fits after all is still kept whole
    short = " ".join(f"w{i}" for i in range(180))
    assert assemble(short, "", "", budget=200, count=count).dropped == 0


def test_candidates_written_behind_the_one_shown_and_dropped_when_empty():
    doc = Document(text="Start.")
    doc.begin_pending(6)
    doc.set_candidate(" One", P1)
    doc.pending.candidates += [("", P2), ("", P1)]  # a Retry x3: two wait behind the first
    doc.store_candidate(1, " Two", P2)
    assert doc.text == "Start. One" and doc.pending.candidates[1] == (" Two", P2)
    doc.store_candidate(0, " One more", P1)  # the one shown changes the text too
    assert doc.text == "Start. One more"
    doc.show_candidate(+1)
    assert doc.text == "Start. Two" and doc.pending.position == "2/3"
    doc.drop_candidates([0, 1, 2])  # the one shown stays
    assert [t for t, _ in doc.pending.candidates] == [" Two"] and doc.pending.current == 0
    assert doc.text == "Start. Two"
    with pytest.raises(ProsemixError, match="no pending candidate 5"):
        doc.store_candidate(5, "x", P1)
