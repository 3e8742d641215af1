"""Prose, not typesetting: the corpus builders' rules for Gutenberg-style text.

Gutenberg files break their lines at 60-75 characters and often put two spaces after a full
stop. An anchor trained on them learns that typesetting as style and writes it into every
passage. So a paragraph becomes one line: a single newline inside it becomes a space, a blank
line stays a paragraph break, and runs of spaces collapse. Verse sources (Shakespeare, Milton)
become prose paragraphs too, a speech or a verse paragraph to a line: Prosemix writes prose, and
an anchor that learnt verse lineation broke lines everywhere on the picker.

Also here: what a Gutenberg file carries that is not the book (licence header and footer, a BOM
and CRLF, NLTK's "[Title by Author Year]" line, illustration tags, footnotes, chapter headings,
tables of contents, title pages and stray verse in a prose book).
"""
from __future__ import annotations

import re

_START = re.compile(r"^\*\*\* ?START OF (THIS|THE) PROJECT GUTENBERG.*$", re.M)
_END = re.compile(r"^(\*\*\* ?END OF (THIS|THE) PROJECT GUTENBERG|End of (the )?Project Gutenberg).*$",
                  re.M | re.I)
_BRACKET_LINE = re.compile(r"^[ \t]*\[[^\]\n]+\][ \t]*$", re.M)  # NLTK's "[Title by Author Year]"
_ILLUSTRATION = re.compile(r"\[Illustration[^\]]*\]", re.I)
_FOOTNOTE = re.compile(r"\[(?:\*|C:|Footnote|Transcriber)[^\]]*\]", re.I)  # "[* Southwestern for ...]"
_MARKER = re.compile(r" ?\[(?:\d{1,3}|[A-Z])\]")  # a footnote's mark in the text: "[1]", "[A]"
_HEADING = re.compile(r"^(?:(?:CHAPTER|BOOK|PART|VOLUME)\b[ .IVXLC0-9]*[.:]?.*"
                      r"|[IVXLC]+\.?(?: [A-Z].{0,60})?|[0-9]+\.?|(?:THE )?END\.?|FINIS\.?)$")
_SENTENCE_END = re.compile(r"[.!?:;][\"'’”)_]*$")


def strip_gutenberg(text: str) -> str:
    """The book without its packaging: BOM, CRLF, the licence header and footer where the file
    has them, lines wholly in brackets (NLTK's title lines), illustration tags and bracketed footnotes."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    start = _START.search(text)
    if start:
        text = text[start.end():]
    end = _END.search(text)
    if end:
        text = text[:end.start()]
    text = _BRACKET_LINE.sub("", text)
    text = _ILLUSTRATION.sub("", text)
    return _MARKER.sub("", _FOOTNOTE.sub("", text))


def is_heading(paragraph: str) -> bool:
    """A chapter heading, a numbered section title, a title-page line or a table of contents:
    short, with no sentence in it, or in capitals."""
    lines = [l.strip() for l in paragraph.strip().split("\n") if l.strip()]
    if not lines:
        return True
    if lines[0].startswith(('"', "'", "“", "‘")):
        return False  # speech, however loud: "TOM!"
    if all(_HEADING.match(l) for l in lines):
        return True
    letters = [c for c in paragraph if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) > 0.6 * len(letters) and len(paragraph) < 300:
        return True  # "THE ADVENTURES OF TOM SAWYER", "P R E F A C E", a TOC in capitals
    if len(lines) >= 3 and sum(bool(re.search(r"(\s\d+|[IVXLC]+\.)\s*$", l)) for l in lines) >= 0.6 * len(lines):
        return True  # a table of contents: entries that end in page or chapter numbers
    return len(lines) == 1 and len(lines[0]) < 60 and not _SENTENCE_END.search(lines[0])


def is_verse(paragraph: str) -> bool:
    """Verse in a prose book (a dedication poem, a song): lines all set in from the margin, or
    three or more lines, most of them indented or short and starting with a capital."""
    lines = [l for l in paragraph.split("\n") if l.strip()]
    if len(lines) >= 2 and all(l.startswith((" ", "\t")) for l in lines):
        return True  # set in from the margin, as verse quoted in prose is
    if len(lines) < 3:
        return False
    versey = sum(l.startswith((" ", "\t")) or (len(l.strip()) < 48 and l.strip()[:1].isupper()) for l in lines)
    return versey >= 0.75 * len(lines)


def unwrap(paragraph: str) -> str:
    """One paragraph as one line: newlines and runs of spaces become single spaces."""
    return re.sub(r"\s+", " ", paragraph).strip()


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each still as typeset."""
    return [p for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


def split_unblanked(text: str, width: int = 0) -> list[str]:
    """Paragraphs of a file that has no blank lines between them (Botchan): a line that ends a
    sentence and falls well short of the wrap width ends its paragraph."""
    lines = text.split("\n")
    width = width or max(60, sorted(len(l) for l in lines if l.strip())[int(0.9 * sum(bool(l.strip()) for l in lines))])
    out: list[list[str]] = [[]]
    for line in lines:
        if not line.strip():
            if out[-1]:
                out.append([])
            continue
        if _HEADING.match(line.strip()):  # "CHAPTER I": a paragraph of its own
            out.extend([[line], []])
            continue
        out[-1].append(line)
        if len(line.rstrip()) < width - 12 and _SENTENCE_END.search(line.rstrip()):
            out.append([])
    return ["\n".join(p) for p in out if p]


def prose(text: str, keep_emphasis_marks: bool = False) -> str:
    """A prose book's paragraphs, unwrapped, one per line with a blank line between them:
    headings, tables of contents and verse go. ``_emphasis_`` loses its underscores."""
    keep = []
    for p in paragraphs(text):
        if is_heading(p) or is_verse(p):
            continue
        p = unwrap(p)
        if not keep_emphasis_marks:
            p = re.sub(r"_(\w[^_]*?)_", r"\1", p)
        keep.append(p)
    return "\n\n".join(keep)


def join_lines(lines: list[str], per_paragraph: int) -> str:
    """Short units (verses, sentences) grouped into paragraphs of ``per_paragraph``, so that a
    corpus of them teaches prose paragraphs and not a line break after every sentence."""
    lines = [unwrap(l) for l in lines if l.strip()]
    return "\n\n".join(" ".join(lines[i:i + per_paragraph]) for i in range(0, len(lines), per_paragraph))
