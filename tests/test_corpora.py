"""Corpus cleaning: each anchor should learn its style, not its source file's furniture."""
from __future__ import annotations

from engine.training.corpora import (clean_devil, clean_fortune_entry, clean_fortunes,
                                     clean_shakespeare, hold_out)

DEVIL = """Some preface text the dictd file carries.

ABASEMENT, n.  A decent and customary mental attitude in the presence
of wealth of power.

ABRACADABRA.

    By _Abracadabra_ we signify
        An infinite number of things.
    G.J.

AB'SENT, adj. and n.  Peculiarly exposed to the tooth of detraction.
"""


def test_devil_loses_headwords_and_signatures_keeps_definitions_and_verse():
    out = clean_devil(DEVIL)
    assert "ABASEMENT" not in out and ", n." not in out and "AB'SENT" not in out
    assert out.startswith("A decent and customary mental attitude")
    assert "Peculiarly exposed to the tooth of detraction." in out
    assert "By Abracadabra we signify" in out  # _emphasis_ markup gone, the verse kept
    assert "G.J." not in out


def test_fortune_attributions_scripts_and_headers_go():
    assert clean_fortune_entry('"Honesty pays."\n\t\t-- Mark Twain') == '"Honesty pays."'
    assert clean_fortune_entry("Never trust a quote. -- Abraham Lincoln") == "Never trust a quote."
    assert clean_fortune_entry("A: Who's there?\nB: Nobody.\nA: Oh.") is None  # a dialogue script
    assert clean_fortune_entry("VMS, n.:\nThe world's foremost multi-user adventure game.") == \
        "The world's foremost multi-user adventure game."
    assert clean_fortune_entry("\t\t-- Anonymous") is None


def test_fortunes_sample_is_seeded_and_skips_art_and_shouting():
    raw = "\n%\n".join(["A wise word about the nature of things.\n\t-- Somebody",
                        "|____|____|____|____|", "SHORT SHOUT", "Another quip, plainly put."] * 3)
    out = clean_fortunes(raw, max_chars=10_000, seed=1)
    assert out == clean_fortunes(raw, max_chars=10_000, seed=1)
    assert "Somebody" not in out and "|____" not in out and "SHORT SHOUT" not in out
    assert "A wise word about the nature of things." in out and "Another quip" in out
    assert "%" not in out


def test_shakespeare_keeps_lines_not_speakers_or_directions():
    raw = ("ACT I\nSCENE I. A street.\n\nPAROLLES.\nNoble heroes, my sword and yours are kin.\n\n"
           "[Exeunt LORDS.]\n\nBERTRAM.\nStay; the king--\n")
    out = clean_shakespeare(raw)
    assert "PAROLLES" not in out and "BERTRAM" not in out and "Exeunt" not in out and "ACT" not in out
    assert "Noble heroes, my sword and yours are kin." in out and "Stay; the king--" in out


def test_hold_out_is_disjoint_and_seeded():
    text = "\n\n".join(f"Paragraph number {i} with some words." for i in range(400))
    train, held = hold_out(text, chars=2000, seed=3)
    assert held and train and (train, held) == hold_out(text, chars=2000, seed=3)
    assert not set(held.split("\n\n")) & set(train.split("\n\n"))
