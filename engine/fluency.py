"""What a writer would have to repair in a generated passage, judged without a model.

- degenerate: a loop (one word four times in a row, one 4-gram repeated 4 or more times, a run
  of LOOP_RUN words said twice, or the last third of the passage a copy of text before it),
  fewer than 20 words, or mostly characters that are not letters;
- typesetting: a line break inside a paragraph (a single newline after a line that does not
  end a sentence, as a hard-wrapped corpus teaches), two spaces after a full stop, or a
  quotation mark set apart from its words by a space (`said, " count them`, which a model that
  took the quote and the word as separate tokens writes), or a broken character (U+FFFD, the
  replacement for bytes that are not UTF-8: a lone byte token followed by a word);
- furniture: what a source file carries that is not prose (verse numbers such as "15:63", a
  fortune's "-- Name" attribution or "(This will be followed by another.)", chapter headings,
  illustration tags);
- unknown words: words no corpus has, pieces of words joined wrong.
"""
from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[A-Za-z’']+")
_LONG_WORD = re.compile(r"[A-Za-z]{3,}")
# a voice with its page in the context said an 18-word clause twice in 110 words ("every seam if
# you read them twice a line again from paper cups as men do not mind reading this paragraph"),
# which no other rule saw; in the corpora's human prose a 12-word run comes twice in under 1% of
# 100-word passages (refrains, duplicated lines)
LOOP_RUN = 12
_SENTENCE_END = re.compile(r"[.!?:;\"'’”)\]*_—-]\s*$")
# a straight double quote with a space on both sides, an opening curly quote before a space, a
# closing one after a space (a line's start counts as a space; the text's end does not: a sample
# cut off after an opening quote is no fault)
_LOOSE_QUOTE = re.compile(r'(?:^|(?<=\s))"(?=\s)|“(?=\s)|(?<=\s)”', re.M)
_FURNITURE = (
    ("verse number", re.compile(r"(?<![\d:])\d{1,3}:\d{1,3}(?![\d:])")),
    ("fortune attribution", re.compile(r"^\s*--\s*[A-Z][\w.' ]{1,40}$", re.M)),
    ("fortune note", re.compile(r"\(This will be followed by another\.?\)", re.I)),
    ("chapter heading", re.compile(r"^\s*(CHAPTER|BOOK|ACT|SCENE)\s+[IVXLC\d]+\b", re.M)),
    ("illustration tag", re.compile(r"\[Illustration", re.I)),
    ("Gutenberg notice", re.compile(r"Project Gutenberg", re.I)),
)


def degenerate(text: str) -> str | None:
    """Why ``text`` is degenerate, or None when it reads as writing."""
    words = _WORD.findall(text.lower())
    if len(words) < 20:
        return f"only {len(words)} words"
    chars = [c for c in text if not c.isspace()]
    letters = sum(c.isalpha() for c in chars)
    if chars and letters < 0.6 * len(chars):
        return f"mostly non-letters ({letters / len(chars):.0%} letters)"
    stutter = next((w for i, w in enumerate(words[:-3])
                    if w == words[i + 1] == words[i + 2] == words[i + 3]), None)
    if stutter is not None:  # "her morning morning morning morning": no 4-gram repeats, yet a loop
        return f"a loop: {stutter!r} four times in a row"
    grams = Counter(tuple(words[i:i + 4]) for i in range(len(words) - 3))
    gram, count = grams.most_common(1)[0]
    if count >= 4:
        return f"a loop: {' '.join(gram)!r} {count} times"
    first: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - LOOP_RUN + 1):
        run = tuple(words[i:i + LOOP_RUN])
        if i - first.setdefault(run, i) >= LOOP_RUN:
            return f"a loop: {' '.join(run)!r} twice"
    tail = " ".join(words[-max(6, len(words) // 3):])
    if tail and tail in " ".join(words[:-max(6, len(words) // 3)]):
        return "a loop: the passage's end repeats what came before"
    return None


def typesetting_faults(text: str) -> list[str]:
    """Line breaks inside a paragraph, double spaces after a full stop, quotation marks set apart
    by a space and broken characters, as found."""
    faults = []
    lines = text.split("\n")
    for before, after in zip(lines, lines[1:]):
        if before.strip() and after.strip() and not _SENTENCE_END.search(before):
            faults.append(f"line break inside a paragraph: {before[-25:]!r} / {after[:25]!r}")
    faults += [f"double space: {m.group(0)!r}" for m in re.finditer(r"\S[.!?][\"'’”]?  +\S", text)]
    faults += [f"quotation mark set apart: {text[max(0, m.start() - 12):m.end() + 12]!r}"
               for m in _LOOSE_QUOTE.finditer(text)]
    faults += [f"broken character: {text[max(0, m.start() - 12):m.end() + 12]!r}" for m in re.finditer("\ufffd", text)]
    return faults


def furniture(text: str) -> list[str]:
    """The kinds of corpus furniture found in ``text``."""
    return [name for name, pattern in _FURNITURE if pattern.search(text)]


def distinct_ngrams(texts: list[str], n: int = 3) -> float:
    """The share of the word n-grams of ``texts`` (pooled; none spans two texts) that are
    distinct: 1.0 when nothing repeats, lower when samples loop or fall into the same phrases
    (a corner trained on its own writing could; Li et al. 2016's distinct-n)."""
    grams = [tuple(words[i:i + n]) for words in (_WORD.findall(t.lower()) for t in texts)
             for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def lexicon(texts: list[str]) -> set[str]:
    """Every word of ``texts``, lower case (a corpus, and the page a voice was made from, so
    that its names count as words)."""
    return {w.lower() for t in texts for w in _LONG_WORD.findall(t)}


def unknown_words(texts: list[str], known: set[str]) -> tuple[float, list[str]]:
    """The share of the words of ``texts`` not in ``known`` (a `lexicon`), and those words:
    pieces of words joined wrong ("unnoxuminous", "moneyiosyncringe") that a model trained too
    hard on a page writes, which no loop or typesetting check sees. Words of three letters or
    more: an apostrophe's "s" or "ll" is no word of its own."""
    words = [w for t in texts for w in _LONG_WORD.findall(t)]
    odd = [w for w in words if w.lower() not in known]
    return (len(odd) / len(words) if words else 0.0), odd
