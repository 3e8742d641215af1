"""The lorebook: which entries enter the context, in what order and within what budget; its
files (our own, SillyTavern world info, NovelAI) and the document's sidecar."""
from __future__ import annotations

import json

import pytest

from engine.documents import files, lorebook
from engine.documents.context import assemble
from engine.documents.lorebook import LoreEntry, Lorebook, fit, lore_for, scan_window
from engine.documents.model import Document
from engine.errors import ProsemixError


def count(text: str) -> int:  # a word a token, enough to test budgets
    return len(text.split())


MARA = LoreEntry(("Mara",), "Mara is the lighthouse keeper's daughter; she hates the sea.", priority=5)
CASTLE = LoreEntry(("castle", "keep"), "The castle stands on a cliff above the harbour.", priority=1)
RULE = LoreEntry((), "The story is told in the past tense.", always=True, priority=0)
SHIP = LoreEntry((), "The ship is called the Wren.", regex=r"\bship(s|wright)?\b", priority=9)
OFF = LoreEntry(("Mara",), "A disabled entry.", enabled=False, priority=99)


def test_entries_enter_by_whole_word_keys_regex_or_always_highest_priority_first():
    book = Lorebook((MARA, CASTLE, RULE, SHIP, OFF))
    assert book.active("Nothing here.") == [RULE]
    assert book.active("mara walked to the CASTLE.") == [MARA, CASTLE, RULE]  # case-insensitive
    assert book.active("Marathon runners kept going.") == [RULE]  # whole words: not "Marathon", not "kept"
    assert book.active("The shipwright's ship sailed; Mara waved.") == [SHIP, MARA, RULE]
    strict = Lorebook((LoreEntry(("Mara",), "x", case_sensitive=True),))
    assert strict.active("mara") == [] and len(strict.active("Mara")) == 1


def test_only_the_last_n_tokens_are_scanned():
    text = "Mara left the castle. " + "The rain went on. " * 100
    assert "Mara" not in scan_window(text, 50, count)
    assert count(scan_window(text, 50, count)) <= 50
    book = Lorebook((MARA,), scan_tokens=50)
    assert lore_for(book, text, count).included == ()
    assert lore_for(Lorebook((MARA,), scan_tokens=1000), text, count).included == (MARA,)
    assert lore_for(book, text + " Mara returned.", count).included == (MARA,)


def test_the_budget_keeps_the_highest_priorities_and_a_smaller_later_entry():
    big = LoreEntry(("a",), "word " * 30, priority=8)
    small = LoreEntry(("a",), "two words", priority=1)
    placed = fit([MARA, big, small], budget=20, count=count)
    assert placed.included == (MARA, small) and placed.skipped == (big,)
    assert placed.text == MARA.text + "\n" + small.text and placed.tokens <= 20


def test_the_lore_goes_after_the_memory_and_before_the_text():
    lore = lore_for(Lorebook((MARA, RULE)), "Then Mara spoke.", count)
    ctx = assemble("Then Mara spoke.", "A story of the sea.", "", budget=200, count=count, lore=lore.text)
    assert ctx.prompt == ("A story of the sea.\n\n" + MARA.text + "\n" + RULE.text + "\n\nThen Mara spoke.")
    with pytest.raises(ProsemixError, match="lorebook entries"):
        assemble("x", "m", "", budget=5, count=count, lore=MARA.text)


def test_bad_entries_and_files_get_clear_errors(tmp_path):
    with pytest.raises(ProsemixError, match="no text"):
        LoreEntry(("a",), "  ")
    with pytest.raises(ProsemixError, match="could never enter"):
        LoreEntry((), "text")
    with pytest.raises(ProsemixError, match="regex key"):
        LoreEntry((), "text", regex="(unclosed")
    with pytest.raises(ProsemixError, match="budget"):
        Lorebook((), budget=0)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ProsemixError, match="not JSON"):
        lorebook.read(bad)
    bad.write_text(json.dumps({"format": "prosemix-lorebook", "version": 9, "entries": []}))
    with pytest.raises(ProsemixError, match="version 9"):
        lorebook.read(bad)
    bad.write_text(json.dumps({"something": "else"}))
    with pytest.raises(ProsemixError, match="not a lorebook"):
        lorebook.read(bad)
    with pytest.raises(ProsemixError, match="not found"):
        lorebook.read(tmp_path / "none.json")


def test_our_format_round_trips(tmp_path):
    book = Lorebook((MARA, CASTLE, RULE, SHIP, OFF), scan_tokens=300, budget=120)
    lorebook.write(book, tmp_path / "book.json")
    back = lorebook.read(tmp_path / "book.json")
    assert back == book and back.active("the ship") == [SHIP, RULE]


def test_sillytavern_world_info_imports(tmp_path):
    """A file in SillyTavern's world-info layout: entries keyed by uid."""
    world = {"entries": {
        "0": {"uid": 0, "key": ["Mara", "keeper's daughter"], "keysecondary": [], "comment": "Mara",
              "content": "Mara hates the sea.", "constant": False, "selective": False, "order": 100,
              "position": 0, "disable": False, "probability": 100, "useProbability": True},
        "1": {"uid": 1, "key": [], "keysecondary": [], "comment": "Rules", "content": "Past tense.",
              "constant": True, "selective": False, "order": 50, "position": 0, "disable": False},
        "2": {"uid": 2, "key": ["/wren|heron/i"], "keysecondary": [], "comment": "", "content": "Birds.",
              "constant": False, "selective": False, "order": 200, "position": 1, "disable": False},
        "3": {"uid": 3, "key": ["ghost"], "comment": "off", "content": "Hidden.", "constant": False,
              "order": 100, "disable": True},
        "4": {"uid": 4, "key": ["empty"], "comment": "", "content": "", "constant": False, "order": 1}}}
    path = tmp_path / "world.json"
    path.write_text(json.dumps(world))
    book = lorebook.read(path)
    assert [e.label for e in book.entries] == ["Mara", "Rules", "Birds.", "off"]  # the empty one adds nothing
    mara, rules, birds, ghost = book.entries
    assert mara.keys == ("Mara", "keeper's daughter") and mara.priority == 100 and not mara.always
    assert rules.always and birds.regex == "(?i)(?:wren|heron)" and not ghost.enabled
    assert book.active("A HERON and the ghost; Mara.") == [birds, mara, rules]


def test_novelai_lorebook_imports(tmp_path):
    """A file in NovelAI's lorebook layout (lorebookVersion, entries with contextConfig)."""
    nai = {"lorebookVersion": 5, "settings": {"orderByKeyLocations": False}, "categories": [],
           "entries": [
               {"text": "Mara hates the sea.", "contextConfig": {"prefix": "", "suffix": "\n", "tokenBudget": 2048,
                                                                "budgetPriority": 400, "insertionPosition": -1},
                "lastUpdatedAt": 1650000000000, "displayName": "Mara", "keys": ["Mara"], "searchRange": 1000,
                "enabled": True, "forceActivation": False, "keyRelative": False, "nonStoryActivatable": False},
               {"text": "The harbour town of Wick.", "contextConfig": {"budgetPriority": 600},
                "displayName": "Wick", "keys": ["/\\bwick\\b/i"], "searchRange": 4000, "enabled": True,
                "forceActivation": True},
               {"text": "Off.", "displayName": "Off", "keys": ["Mara"], "enabled": False}]}
    path = tmp_path / "book.lorebook"
    path.write_text(json.dumps(nai))
    book = lorebook.read(path)
    mara, wick, off = book.entries
    assert mara.priority == 400 and wick.priority == 600 and wick.always and not off.enabled
    assert wick.regex == "(?i)(?:\\bwick\\b)" and book.scan_tokens == 1000  # 4,000 characters
    assert book.active("Mara came home.") == [wick, mara]


def test_the_sidecar_keeps_the_lorebook_and_a_damaged_one_is_not_lost(tmp_path):
    doc = Document("Mara stood at the door.")
    doc.lorebook = Lorebook((MARA, RULE), scan_tokens=100)
    files.save(doc, tmp_path / "s.md")
    back, warnings = files.load(tmp_path / "s.md")
    assert warnings == [] and back.lorebook == doc.lorebook
    side = tmp_path / "s.md.prosemix.json"
    data = json.loads(side.read_text())
    data["lorebook"]["entries"][0]["regex"] = "(broken"
    side.write_text(json.dumps(data))
    back, warnings = files.load(tmp_path / "s.md")
    assert back.lorebook is None and any("regex" in w and "kept" in w for w in warnings)
    files.save(back, tmp_path / "s.md")  # saving again keeps the writer's entries as they were
    assert json.loads(side.read_text())["lorebook"] == data["lorebook"]
