"""Corpus cleaning: each anchor should learn its style, not its source file's furniture."""
from __future__ import annotations

from engine.training.corpora import (clean_bible, clean_botchan, clean_devil,
                                     clean_fortune_entry, clean_fortunes, clean_gutenberg_prose,
                                     clean_irc, clean_kjv, clean_milton, clean_nyt, clean_shakespeare,
                                     clean_sotu,
                                     clean_tweets, clean_twain, hold_out, shouted_or_looped,
                                     usually_lower)
from engine.fluency import typesetting_faults

DEVIL = """Some preface text the dictd file carries.

ABASEMENT, n.  A decent and customary mental attitude in the presence
of wealth of power.

ABRACADABRA.

    By _Abracadabra_ we signify
        An infinite number of things.
    G.J.

AB'SENT, adj. and n.  Peculiarly exposed to the tooth of detraction.
"""


def test_devil_loses_headwords_signatures_and_verse_keeps_definitions_unwrapped():
    out = clean_devil(DEVIL)
    assert "ABASEMENT" not in out and ", n." not in out and "AB'SENT" not in out
    assert out.startswith("A decent and customary mental attitude in the presence of wealth")
    assert "Peculiarly exposed to the tooth of detraction." in out
    assert "Abracadabra" not in out and "G.J." not in out  # Bierce's verse would teach line breaks
    assert typesetting_faults(out) == []


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


# ----- prose, not typesetting; the narrative voices' sources ---------------------------------
CLEAN: list[str] = []  # no typesetting faults

GUTENBERG = ("\ufeffThe Project Gutenberg EBook of A Book, by Somebody\r\n"
             "This eBook is for the use of anyone anywhere at no cost.\r\n"
             "*** START OF THIS PROJECT GUTENBERG EBOOK A BOOK ***\r\n\r\n"
             "                    A BOOK\r\n\r\n"
             "CONTENTS\r\n\r\n"
             "The First Day . . . 1\r\nThe Second Day . . . 14\r\nThe Last Day . . . 27\r\n\r\n"
             "CHAPTER I\r\n\r\n"
             "It was a dull morning.  The rector, who had not slept, walked out to\r\n"
             "the gate[1] and looked along the road.[Illustration: The gate]\r\n\r\n"
             "    Oh, the road is long,\r\n    And the night is near.\r\n\r\n"
             "\"Nobody,\" he said.  [* A word the rector liked.]\r\n\r\n"
             "*** END OF THIS PROJECT GUTENBERG EBOOK A BOOK ***\r\n"
             "Section 1. General Terms of Use and Redistributing Project Gutenberg-tm\r\n")


def test_a_gutenberg_book_becomes_unwrapped_prose_without_its_furniture():
    out = clean_gutenberg_prose(GUTENBERG)
    assert out == ("It was a dull morning. The rector, who had not slept, walked out to the gate "
                   "and looked along the road.\n\n\"Nobody,\" he said.")
    assert typesetting_faults(out) == CLEAN
    assert typesetting_faults(GUTENBERG.replace("\r\n", "\n")) != CLEAN  # the check can fail


def test_nltk_title_lines_and_twain_producer_note_go():
    raw = ("Produced by Somebody. The previous edition was updated by\nSomebody Else.\n\n\n"
           "                   THE ADVENTURES OF TOM SAWYER\n                                BY\n\n"
           "[The Wisdom of Someone by A. Writer 1914]\n\nCHAPTER I\n\n\"TOM!\"\n\nNo answer.\n\n"
           "The old lady pulled her spectacles down and looked over them about the\n"
           "room; then she put them up and looked out under them.\n")
    out = clean_twain(raw)
    assert out.split("\n\n") == ['"TOM!"', "No answer.",
                                 "The old lady pulled her spectacles down and looked over them about "
                                 "the room; then she put them up and looked out under them."]


def test_botchan_paragraphs_are_found_where_the_file_has_no_blank_lines():
    wrapped = ("A NOTE BY THE TRANSLATOR\r\nNo translation can expect to equal the original, and\r\n"
               "this one does not try.\r\nCHAPTER I\r\n"
               "Because of an hereditary recklessness, I have been playing always a\r\n"
               "losing game since my childhood. During my grammar school days, I was\r\n"
               "once laid up for about a week.\r\n"
               "\"I'll see I don't get dislocated next time,\" I answered.\r\n"
               "She wished to eat \"sasa-ame\"[1] of Echigo province. I had never heard of\r\n"
               "it.\r\n")
    out = clean_botchan("*** START OF THIS PROJECT GUTENBERG EBOOK BOTCHAN ***\r\n" + wrapped)
    assert out.split("\n\n") == [
        "Because of an hereditary recklessness, I have been playing always a losing game since my "
        "childhood. During my grammar school days, I was once laid up for about a week.",
        "\"I'll see I don't get dislocated next time,\" I answered.",
        "She wished to eat \"sasa-ame\" of Echigo province. I had never heard of it."]


def test_kjv_loses_verse_numbers_and_book_titles_and_keeps_chapters_apart():
    raw = ("[The King James Bible]\n\nThe Old Testament of the King James Bible\n\n"
           "The First Book of Moses:  Called Genesis\n\n\n"
           "1:1 In the beginning God created the heaven and the earth.\n\n"
           "1:2 And the earth was without form, and void; and darkness was upon\nthe face of the deep.\n\n"
           "1:3 And God said, Let there be light: and there was light. 1:4 And God saw\nthe light.\n\n"
           "2:1 Thus the heavens and the earth were finished.\n")
    out = clean_kjv(raw)
    assert out.split("\n\n") == [
        "In the beginning God created the heaven and the earth. And the earth was without form, and "
        "void; and darkness was upon the face of the deep. And God said, Let there be light: and "
        "there was light. And God saw the light.",
        "Thus the heavens and the earth were finished."]


def test_verses_one_a_line_become_paragraphs_and_prose_speeches_are_unwrapped():
    bible = "\n".join(f"Verse {i} is here." for i in range(7))
    assert clean_bible(bible).split("\n\n") == [" ".join(f"Verse {i} is here." for i in range(5)),
                                                "Verse 5 is here. Verse 6 is here."]
    raw = ("HAMLET.\nTo be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
           "The slings and arrows of outrageous fortune,\n\n"
           "FIRST CLOWN.\nIs she to be buried in Christian burial when she wilfully seeks her\n"
           "own salvation? I tell thee she is, therefore make her grave straight.\n")
    verse, speech = clean_shakespeare(raw).split("\n\n")
    # verse is a prose paragraph too; "The" loses the capital only its line gave it ("the" is
    # lower case inside the lines), "Whether" (never lower case here) keeps it
    assert verse == ("To be, or not to be, that is the question: Whether 'tis nobler in the mind to "
                     "suffer the slings and arrows of outrageous fortune,")
    assert speech == ("Is she to be buried in Christian burial when she wilfully seeks her own "
                      "salvation? I tell thee she is, therefore make her grave straight.")


def test_abbreviated_speaker_tags_go_and_milton_keeps_its_verse():
    raw = "".join(f"Ham.\nLine {i} of the prince,\nAnd so he speaks on.\n\nHor.\nMy lord.\nIndeed.\n\n"
                  for i in range(3))
    out = clean_shakespeare(raw).split("\n\n")
    assert out[:2] == ["Line 0 of the prince, And so he speaks on.", "My lord. Indeed."]
    assert not any(p.startswith(("Ham.", "Hor.")) for p in out)
    once = clean_shakespeare("Ham.\nA tag seen once is kept as speech.\n")
    assert once == "Ham. A tag seen once is kept as speech."
    milton = "PARADISE LOST\nBOOK I.\n\n  Of Mans First Disobedience, and the Fruit\nOf that Forbidden Tree,\n"
    assert clean_milton(milton) == "Of Mans First Disobedience, and the Fruit\nOf that Forbidden Tree,"  # verse


def test_generated_text_checks_find_loops_wrapping_and_furniture():
    from engine.fluency import degenerate, furniture, typesetting_faults

    prose_text = ("The carriage stopped at the gate, and the old man climbed down slowly. He looked "
                  "at the house for a long time before he knocked, as if he expected nobody to answer.")
    assert degenerate(prose_text) is None
    assert "only" in degenerate("Yes. No. Perhaps.")
    assert "loop" in degenerate("and then we went home " * 8)
    stutter = prose_text + " She spoke of her morning morning morning morning."
    assert "four times in a row" in degenerate(stutter)
    assert degenerate(prose_text + " Very, very, very well, he thought.") is None  # three is prose
    clause = ("every seam if you read them twice a line again from paper cups as men do not mind reading "
              "this paragraph")  # a voice's, with its page in the context (the passage as it wrote it)
    looped = (f"It did not mind waiting, whether or not anyone knew its grey backs by their kiosk because the "
              f"harbour at that hour kept its own hours both slow and low through the fingers anyway: {clause} "
              f"about salt in coffee so thin water to feel it; the woman behind the counter did not try to. The "
              f"kiosk sold coffee by the coat holes, its own hours both slow and low through the fingers anyway "
              f"because {clause}")
    assert "twice" in degenerate(looped)
    refrain = ("She said the shape of the eye and the lines about the mouth were his. Nobody agreed. He "
               "thought the shape of the eye and the lines about the brow were hers, and said so.")
    assert degenerate(refrain) is None  # eleven words said twice: a refrain (Austen has it), not a loop
    assert "non-letters" in degenerate("1:1 2:2 3:3 4:4 5:5 6:6 7:7 " * 9 + " ".join(f"word{i}" for i in range(25)))
    assert typesetting_faults(prose_text) == []
    assert typesetting_faults("He said yes.\n\nShe left.\nThen he followed.") == []  # breaks after sentences
    assert len(typesetting_faults("and we all live in\na state of constant anxiety.  It")) == 2
    dialogue = '"Ah, my lease," said the farmer. "Give me my lease, Mr. Case." She sang "carolling."'
    assert typesetting_faults(dialogue) == []
    assert typesetting_faults("“Yes,” he said.") == []
    assert typesetting_faults('He looked up in question. "') == []  # cut off after an opening quote
    loose = typesetting_faults('said the farmer, " count them;" and \u201c so he went \u201d.\n\n" No."')
    assert [f.split(":")[0] for f in loose] == ["quotation mark set apart"] * 4, loose
    assert furniture(prose_text) == []
    assert furniture("15:63 And he went.\n\t-- Mark Twain") == ["verse number", "fortune attribution"]
    assert furniture("(This will be followed by another.)") == ["fortune note"]


# ----- the formality and humor pairs: fixtures in the packages' own formats -----------------------
TWEETS = ("1\t2.7\tSo lucky to have friends like these. http://t.co/abc #blessed #fb\r\n"
          "2\t-1.4\tRT @anonymous: Damn, running late sucks &amp; the bus is gone\r\n"
          "3\t-1.5\tDAMN, RUNNING LATE SUCKS & THE BUS IS GONE!!!\r\n"
          "4\t0.1\tHung out all afternoon with @anonymous and @anonymous.\r\n"
          "5\t0.3\tCoffee time (@ Tessie McDaids Irish Pub), mail me at karl@anonymous\r\n"
          "6\t0.2\tok\r\n"
          "7\t2.1\tYay yay yay yay yay, the weekend is here\r\n"
          "8\t-2.0\tWHAT THE HELL HAPPENED TO THE BUS?! I am pissed\r\n")


def test_tweets_lose_urls_handles_retweets_and_trailing_tags_and_repeats():
    out = clean_tweets(TWEETS.replace("\r\n", "\n"))
    paras = out.split("\n\n")
    assert paras[0] == "So lucky to have friends like these."
    assert paras[1] == "Damn, running late sucks & the bus is gone"
    assert len(paras) == 4  # the shouted repeat of tweet 2, the 2-character one, a loop and a shout are gone
    assert paras[2] == "Hung out all afternoon."
    assert paras[3] == "Coffee time, mail me"
    for mark in ("http", "@", "RT", "#", "&amp;"):
        assert mark not in out


def test_shouted_or_looped_talk_is_named_and_register_is_kept():
    assert shouted_or_looped("ARRESTED DEVELOPMENT! ARRESTED DEVELOPMENT!") == "shouted"
    assert shouted_or_looped("Prepping the final shot. Wow wow wow wow.") == "looped"
    assert shouted_or_looped("die hard, die hard, die hard, die hard") == "looped"
    assert shouted_or_looped("Ugh. I hate hate hate getting blood drawn.") == "echoed"
    assert shouted_or_looped("No no no! Eel and Shrimp! Eel and Shrimp!!") == "echoed"
    assert shouted_or_looped("Today I'm grateful for good food, good wine and good friends.") is None
    assert shouted_or_looped("The beginning, the middle, the end.") is None  # function words
    assert shouted_or_looped("F1 is my ONLY HOBBY and I love it") is None
    assert shouted_or_looped("OK") is None  # too few letters to call it shouting


def test_irc_quotes_lose_nicks_addressees_and_actions():
    raw = ("<sel> need help: my first packet gets lost :-(\n<netgod> sel:  dont send the first one\n"
           "* netgod notes developers are hard to impress\n\n"
           "<Overfiend> I seriously do need a vacation from this package.\n"
           "            I actually had a DREAM about a new bug.\n\n"
           "<joey> NO NO NO NO WHY\n\n"
           "We live in interesting\ntimes.\n\t\t-- Matt Kimball")
    out = clean_irc(raw)
    assert out.split("\n\n") == [
        "need help: my first packet gets lost :-(", "dont send the first one",
        "I seriously do need a vacation from this package. I actually had a DREAM about a new bug.",
        "We live in interesting times."]
    assert typesetting_faults(out) == []


def test_sotu_keeps_unwrapped_paragraphs_without_salutations_or_notes():
    raw = ("Mr. President, Mr. Speaker, Members of the Congress:\n\n"
           "A year ago I reported to this Congress that the state of the Union was good. [Applause]\n"
           "I am happy to report that it continues to be good, and that our Republic continues to grow.\n\n"
           "Thank you.\n")
    out = clean_sotu(raw)
    assert out == ("A year ago I reported to this Congress that the state of the Union was good. "
                   "I am happy to report that it continues to be good, and that our Republic continues to grow.")


def test_nyt_sentences_become_one_paragraph_per_article():
    raw = ("1_1\t0.4\tOn Dec. 19 the city plans ''games'' for Santa.\n1_2\t0.1\tEvents include sprinting.\n"
           "2_1\t-0.5\tThe budget is late again.\n")
    assert clean_nyt(raw) == ('On Dec. 19 the city plans "games" for Santa. Events include sprinting.'
                              "\n\nThe budget is late again.")


def test_a_verse_lines_capital_goes_only_where_the_sentence_goes_on():
    raw = ("ROMEO.\nI have the reasons of the heart, and reasons\nTo make the world stand still in Rome;\n"
           "Rome shall not know it. The night is long,\nAnd I am the night's own fool.\n\n"
           "JULIET.\nThen go to bed, and go to sleep, and go to Rome.\n")
    romeo, _ = clean_shakespeare(raw).split("\n\n")
    assert romeo == ("I have the reasons of the heart, and reasons to make the world stand still in Rome; "
                     "Rome shall not know it. The night is long, and I am the night's own fool.")
    assert "rome" not in usually_lower([raw]) and {"to", "and", "the"} <= usually_lower([raw])


def test_distinct_ngrams_fall_when_samples_repeat_themselves_or_each_other():
    from engine.fluency import distinct_ngrams

    fresh = ["The quiet river ran beside the mill.", "A storm came over the hills at night."]
    assert distinct_ngrams(fresh) == 1.0
    same = ["Ay, my lord, I will go.", "Ay, my lord, I will go."]  # two samples, one phrase
    assert distinct_ngrams(same) == 0.5
    loop = ["and so it goes and so it goes and so it goes"]
    assert distinct_ngrams(loop) == 4 / 10  # 10 three-word runs, 4 of them different
    assert distinct_ngrams(["The mill.", "A storm."]) == 0.0  # no three-word run: nothing to count
    assert distinct_ngrams(["one two", "three four"]) == 0.0  # and none spans two samples


def test_unknown_words_are_the_words_no_lexicon_has():
    import pytest

    from engine.fluency import lexicon, unknown_words

    known = lexicon(["The attorney held the lease.", "Queequeg sat by the fire"])
    share, odd = unknown_words(["The attorney's moneyiosyncringe held Queequeg.", "the lease"], known)
    assert odd == ["moneyiosyncringe"] and share == pytest.approx(1 / 7)  # "s" is no word
    assert unknown_words(["the fire"], known) == (0.0, [])
    assert unknown_words([""], known) == (0.0, [])
