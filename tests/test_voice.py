"""A writer's voice from a page: the recipe, its card, errors, and the voice as an anchor."""
from __future__ import annotations

import hashlib
import json

import pytest

from engine.errors import ProsemixError
from engine.training.voice import (BASE_STEPS, CALIBRATED_PASSES, MAX_SECONDS, MAX_STEPS, PAGE_SECONDS,
                                   SECONDS_PER_STEP, TOP_LAYERS, VOICE_CALIBRATION, train_blocks_at_least,
                                   voice_calibration,
                                   make_voice, voice_recipe, voice_text)
from engine.words import more_text_advice
from engine.words import MIN_VOICE_WORDS as MIN_WORDS
from engine.words import word_count as count_words
from tests.test_cli import run

PAGE = ("I keep a notebook by the kettle, and most mornings it fills before the water boils. "
        "My neighbour says I write the way other people hum: without noticing, and a little off-key. "
        "Today it was the postman, who whistles the same four notes every day and never the fifth. ") * 8


def test_the_recipe_grows_with_the_text_and_is_capped():
    assert voice_recipe(700).steps == voice_recipe(1300).steps == BASE_STEPS  # a page: 14 steps at the fast rate
    assert BASE_STEPS < voice_recipe(2100).steps < voice_recipe(7000).steps == voice_recipe(30000).steps == MAX_STEPS
    assert voice_recipe(700, "fp32").precision == "fp32" and voice_recipe(700).rank == 8
    assert voice_recipe(700).lr > voice_recipe(2100).lr  # three pages' longer run at the lower rate
    # past a page, steps that see each block at most CALIBRATED_PASSES times, so the voice is calibrated
    for words in (1400, 2100, 2227, 3500, 7000):
        recipe = voice_recipe(words)
        passes = recipe.steps * recipe.batch / train_blocks_at_least(words, recipe.block)
        assert passes <= CALIBRATED_PASSES, words
        assert voice_calibration(words, recipe.steps, recipe.batch, train_blocks_at_least(words, recipe.block)) > 1
    assert voice_recipe(2112).steps == 38  # three pages: 19 blocks at the fewest, 8 passes at 4 a step
    # a time budget that grows with the text: a slower CPU takes fewer steps, not longer
    assert voice_recipe(700).max_seconds == PAGE_SECONDS
    assert voice_recipe(2200).max_seconds == PAGE_SECONDS + (2200 - 700) // 30 * SECONDS_PER_STEP
    assert voice_recipe(30000).max_seconds == MAX_SECONDS <= 240
    # ten pages: their steps capped, their time not (a slower CPU still fits the capped steps)
    assert voice_recipe(7000).max_seconds == MAX_SECONDS
    # a shortlist softmax with sampled negatives, over the top layers
    assert voice_recipe(700).shortlist > 0 and voice_recipe(700).negatives > 0 and voice_recipe(700).top_layers
    # a short page: short blocks, two a step, so that it is not learnt by heart
    assert (voice_recipe(300).block, voice_recipe(300).batch) == (64, 2)
    assert (voice_recipe(700).block, voice_recipe(700).batch) == (128, 4)
    assert count_words("Don't stop: well-known words, 42 of them.") == 7


def test_a_hard_wrapped_page_is_learnt_as_prose():
    """A page pasted from an email or an editor that wraps at 65 characters: the voice learns
    its paragraphs, not its line breaks or double spaces; verse keeps its lines."""
    wrapped = ("The postman whistles the same four notes\nevery day, and never  the fifth.\n\n"
               "My neighbour says I write\nthe way other people hum.")
    verse = "    Roses are red,\n    violets are blue."
    assert voice_text([wrapped, "", verse]) == (
        "The postman whistles the same four notes every day, and never the fifth.\n\n"
        "My neighbour says I write the way other people hum.\n\n" + verse)


def test_the_advice_on_more_text_says_only_what_was_measured():
    assert more_text_advice(MIN_WORDS - 1) == ""
    assert "about 320 words made a voice recognised about half the time" in more_text_advice(MIN_WORDS)
    assert "three pages made a clearer voice than one, in one to two minutes" in more_text_advice(700)
    assert "ten pages were about as clear as three" in more_text_advice(2000)
    assert "took longer" in more_text_advice(2100) and "took longer" not in more_text_advice(2000)
    assert more_text_advice(7000) == more_text_advice(2100) != more_text_advice(700)


def test_a_voice_is_calibrated_only_where_that_was_measured_to_stay_prose():
    # a page's 14 steps over its 7-8 blocks, ten pages' 64 over 69-75: turned up
    assert voice_calibration(772, 14, 4, 7) == voice_calibration(7115, 64, 4, 75) == VOICE_CALIBRATION > 1
    # three pages' 61 steps over 21 blocks (12 passes) left prose at 1.25; a short page was not measured
    assert voice_calibration(2112, 61, 4, 21) == 1.0
    assert voice_calibration(320, 14, 2, 3) == 1.0
    assert voice_calibration(772, 1, 4, 0) == VOICE_CALIBRATION  # no blocks recorded: not a division by zero


def test_too_little_text_is_refused_by_its_count(tmp_path):
    with pytest.raises(ProsemixError, match=f"at least {MIN_WORDS} words.*this is 3"):
        make_voice(["Three short words."], "tiny", tmp_path / "tiny")
    with pytest.raises(ProsemixError, match="name"):
        make_voice([PAGE], "bad/name", tmp_path / "bad")


def test_the_fewest_words_the_dialog_accepts_make_a_voice(tmp_path, session_cache):
    """The word count the dialog asks for is enough for the trainer: 215 words were once
    accepted and then refused as two 128-token blocks. Plain short words, the fewest tokens a
    word takes."""
    words = ("the cat sat on the mat and we went to the shop for milk and bread then "
             "home again to read by the fire ").split()
    text = " ".join(words[i % len(words)] for i in range(MIN_WORDS))
    assert count_words(text) == MIN_WORDS
    made = make_voice([text], "short", tmp_path / "short", steps=1)
    card = json.loads((made.path / "anchor.json").read_text())
    assert card["training"]["block"] == 64 and card["training"]["train_blocks"] >= 2


def test_voice_cli_makes_an_anchor_that_mixes_like_any_other(tmp_path, session_cache):
    page = tmp_path / "page.txt"
    page.write_text(PAGE)
    out = tmp_path / "anchors" / "my-voice"
    r = run("voice", str(page), "--name", "my-voice", "--out", str(out), "--steps", "2", "--json",
            cache=session_cache)
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["path"] == str(out) and made["words"] == count_words(PAGE) and made["seconds"] > 0
    assert made["kind"] == "voice" and made["steps"] == 2
    card = json.loads((out / "anchor.json").read_text())
    assert card["kind"] == "voice" and card["training"]["rank"] == 8
    assert card["calibration"] == voice_calibration(made["words"], 2, card["training"]["batch"],
                                                    card["training"]["train_blocks"])
    assert card["training"]["diction"] is True and (out / "diction.safetensors").is_file()  # its diction beside the LoRA
    assert card["training"]["top_layers"] == TOP_LAYERS == voice_recipe(700).top_layers  # the layers below kept once
    source = card["training"]["source"]
    assert source["sha256"] == hashlib.sha256(PAGE.strip().encode()).hexdigest()
    assert source["words"] == made["words"] and source["seconds"] == pytest.approx(made["seconds"], abs=0.2)
    common = ["generate", "--prompt", "Dear diary,", "--max-tokens", "8", "--temperature", "0", "--json"]
    r = run(*common, "--anchor", str(out), "--weights", "1", cache=session_cache)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["weights"] == {"my-voice": 1.0}
    base = json.loads(run(*common, "--strength", "0", cache=session_cache).stdout)["text"]  # the shipped triangle at s = 0
    at_zero = json.loads(run(*common, "--anchor", str(out), "--weights", "1", "--strength", "0",
                             cache=session_cache).stdout)["text"]
    assert at_zero == base  # s = 0 is the base model
    r = run("voice", str(tmp_path / "none.txt"), "--name", "x", cache=session_cache)
    assert r.returncode == 2 and "no such file" in r.stderr
