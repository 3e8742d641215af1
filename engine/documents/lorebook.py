"""A lorebook (world info): entries that enter the context when their keys appear in the
last N tokens of the text, as in NovelAI, KoboldAI and SillyTavern. Pure functions and
plain data; the context assembly (engine.documents.context) places the active entries after
the memory, within their own token budget, highest priority first.

Formats: our own (``prosemix-lorebook``, version 1, also kept in a document's sidecar),
SillyTavern's world-info JSON (``{"entries": {"0": {"key": [...], "content": ..., ...}}}``) and
NovelAI's lorebook (``{"lorebookVersion": N, "entries": [{"keys": [...], "text": ...}]}``).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from engine.errors import ProsemixError

FORMAT = "prosemix-lorebook"
VERSION = 1
DEFAULT_SCAN_TOKENS = 256  # the last N tokens of the text are searched for keys
DEFAULT_BUDGET = 256  # tokens the active entries may take in the context
MAX_ENTRY_CHARS = 20_000
_SLASHED = re.compile(r"^/(?P<body>.+)/(?P<flags>[imsux]*)$", re.S)  # a key written "/regex/i"


@dataclass(frozen=True)
class LoreEntry:
    keys: tuple[str, ...]
    text: str
    always: bool = False  # in the context whatever the text says
    priority: int = 0  # higher first, when the budget cannot hold every active entry
    regex: str = ""  # an optional regex key (Python syntax), searched like a key
    case_sensitive: bool = False
    enabled: bool = True
    name: str = ""  # what the writer calls it; the first key if empty

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ProsemixError(f"lorebook entry {self.label!r} has no text")
        if len(self.text) > MAX_ENTRY_CHARS:
            raise ProsemixError(f"lorebook entry {self.label!r} is {len(self.text):,} characters; "
                                f"at most {MAX_ENTRY_CHARS:,}")
        if not (self.always or any(k.strip() for k in self.keys) or self.regex):
            raise ProsemixError(f"lorebook entry {self.label!r} has no key, no regex and is not always on: "
                                "it could never enter the context")
        if self.regex:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ProsemixError(f"lorebook entry {self.label!r}: its regex key {self.regex!r} "
                                    f"is not valid ({exc})") from None

    @property
    def label(self) -> str:
        return self.name or next((k for k in self.keys if k.strip()), "") or self.text[:24]

    def patterns(self) -> list[re.Pattern[str]]:
        """The compiled keys: a plain key matches as a whole word (or phrase); a regex as written."""
        flags = 0 if self.case_sensitive else re.IGNORECASE
        out = [re.compile(r"(?<!\w)" + re.escape(k.strip()) + r"(?!\w)", flags)
               for k in self.keys if k.strip()]
        if self.regex:
            out.append(re.compile(self.regex, flags))
        return out


@dataclass(frozen=True)
class Lorebook:
    entries: tuple[LoreEntry, ...] = ()
    scan_tokens: int = DEFAULT_SCAN_TOKENS
    budget: int = DEFAULT_BUDGET
    _compiled: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.scan_tokens, int) or not 1 <= self.scan_tokens <= 100_000:
            raise ProsemixError(f"lorebook: scan the last 1..100000 tokens, got {self.scan_tokens!r}")
        if not isinstance(self.budget, int) or not 1 <= self.budget <= 100_000:
            raise ProsemixError(f"lorebook: its budget must be 1..100000 tokens, got {self.budget!r}")

    def _patterns(self, k: int) -> list[re.Pattern[str]]:
        if k not in self._compiled:
            self._compiled[k] = self.entries[k].patterns()
        return self._compiled[k]

    def active(self, window: str) -> list[LoreEntry]:
        """The enabled entries that are always on or whose key appears in ``window`` (the
        last scan_tokens of the text), highest priority first (ties: the book's order)."""
        found = [(k, e) for k, e in enumerate(self.entries) if e.enabled and
                 (e.always or any(p.search(window) for p in self._patterns(k)))]
        return [e for _, e in sorted(found, key=lambda ke: (-ke[1].priority, ke[0]))]

    def with_entries(self, entries: Sequence[LoreEntry]) -> "Lorebook":
        return replace(self, entries=tuple(entries), _compiled={})


@dataclass(frozen=True)
class LoreInContext:
    """What the lorebook put in a prompt: the text block, the entries in it and those left
    out for the budget."""
    text: str
    included: tuple[LoreEntry, ...]
    skipped: tuple[LoreEntry, ...]
    tokens: int


def scan_window(text: str, scan_tokens: int, count: Callable[[str], int] | None = None) -> str:
    """The end of ``text`` holding at most ``scan_tokens`` tokens (counted with ``count``, the
    model's tokenizer, where given; else at four characters a token). Two or three counts: the
    counter runs this after every pause in typing."""
    chars = scan_tokens * 6
    tail = text[-chars:]
    if count is None:
        return text[-scan_tokens * 4:]
    tokens = count(tail)
    while tokens < scan_tokens and len(tail) < len(text):  # short tokens: look further back
        chars *= 2
        tail = text[-chars:]
        tokens = count(tail)
    while tokens > scan_tokens and tail:  # cut in proportion, then check
        keep = max(1, int(len(tail) * scan_tokens / tokens * 0.98))
        tail = tail[-keep:]
        tokens = count(tail)
    return tail


def fit(entries: Sequence[LoreEntry], budget: int, count: Callable[[str], int]) -> LoreInContext:
    """The entries in order (highest priority first) while they fit in ``budget`` tokens;
    an entry that does not fit is skipped and a later, smaller one may still go in."""
    included: list[LoreEntry] = []
    skipped: list[LoreEntry] = []
    used = 0
    for e in entries:
        cost = count(e.text.strip() + "\n")
        if used + cost <= budget:
            included.append(e)
            used += cost
        else:
            skipped.append(e)
    text = "\n".join(e.text.strip() for e in included)
    return LoreInContext(text, tuple(included), tuple(skipped), used)


def lore_for(book: Lorebook | None, text: str, count: Callable[[str], int]) -> LoreInContext:
    """The lorebook's block for a prompt continuing ``text``."""
    if book is None or not book.entries:
        return LoreInContext("", (), (), 0)
    return fit(book.active(scan_window(text, book.scan_tokens, count)), book.budget, count)


# ----- files ----------------------------------------------------------------------------------
def to_json(book: Lorebook) -> dict:
    return {"format": FORMAT, "version": VERSION, "scan_tokens": book.scan_tokens, "budget": book.budget,
            "entries": [{**asdict(e), "keys": list(e.keys)} for e in book.entries]}


def _entry(raw: Any, where: str) -> LoreEntry:
    if not isinstance(raw, dict):
        raise ProsemixError(f"{where}: an entry is not an object")
    keys = raw.get("keys", [])
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ProsemixError(f"{where}: keys must be a list of strings")
    try:
        return LoreEntry(keys=tuple(keys), text=str(raw.get("text", "")), always=bool(raw.get("always", False)),
                         priority=int(raw.get("priority", 0)), regex=str(raw.get("regex", "")),
                         case_sensitive=bool(raw.get("case_sensitive", False)),
                         enabled=bool(raw.get("enabled", True)), name=str(raw.get("name", "")))
    except (TypeError, ValueError) as exc:
        raise ProsemixError(f"{where}: {exc}") from None


def from_json(data: Any, where: str = "lorebook") -> Lorebook:
    """Our own format, SillyTavern world info or a NovelAI lorebook, told apart by shape."""
    if not isinstance(data, dict):
        raise ProsemixError(f"{where}: not a lorebook (a JSON object was expected)")
    if data.get("format") == FORMAT:
        if data.get("version") != VERSION:
            raise ProsemixError(f"{where}: lorebook version {data.get('version')!r}; this Prosemix reads {VERSION}")
        entries = data.get("entries", [])
        if not isinstance(entries, list):
            raise ProsemixError(f"{where}: entries must be a list")
        return Lorebook(tuple(_entry(e, f"{where}, entry {i + 1}") for i, e in enumerate(entries)),
                        _int(data, "scan_tokens", DEFAULT_SCAN_TOKENS, where),
                        _int(data, "budget", DEFAULT_BUDGET, where))
    if "lorebookVersion" in data:
        return from_novelai(data, where)
    if isinstance(data.get("entries"), dict):
        return from_sillytavern(data, where)
    raise ProsemixError(f"{where}: not a lorebook Prosemix knows (its own, SillyTavern world info "
                        "or a NovelAI lorebook)")


def _int(data: dict, key: str, default: int, where: str) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProsemixError(f"{where}: {key} must be a number, got {value!r}")
    return int(value)


def _split_keys(keys: Sequence[Any]) -> tuple[tuple[str, ...], str, bool]:
    """Plain keys, and the "/regex/flags" ones joined into one regex (with (?i) if any asks)."""
    plain, regexes, insensitive = [], [], False
    for k in keys:
        if not isinstance(k, str) or not k.strip():
            continue
        m = _SLASHED.match(k.strip())
        if m:
            regexes.append(f"(?:{m.group('body')})")
            insensitive |= "i" in m.group("flags")
        else:
            plain.append(k.strip())
    regex = "|".join(regexes)
    return tuple(plain), (f"(?i){regex}" if regex and insensitive else regex), bool(regexes)


def from_sillytavern(data: dict, where: str = "world info") -> Lorebook:
    """SillyTavern world info: ``entries`` maps a uid to {key, keysecondary, content, constant,
    order, disable, caseSensitive, comment}. ``order`` is the priority (higher goes in first
    when the budget is short). Secondary keys and insertion positions are not used: the entry
    goes after the memory like every other."""
    out = []
    for uid, raw in sorted(data["entries"].items(), key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else 0):
        if not isinstance(raw, dict):
            raise ProsemixError(f"{where}: entry {uid} is not an object")
        content = raw.get("content", "")
        if not isinstance(content, str) or not content.strip():
            continue  # an empty entry adds nothing
        keys, regex, _ = _split_keys(raw.get("key") or [])
        try:
            out.append(LoreEntry(keys=keys, text=content, always=bool(raw.get("constant", False)),
                                 priority=int(raw.get("order", 100) or 0), regex=regex,
                                 case_sensitive=bool(raw.get("caseSensitive") or False),
                                 enabled=not bool(raw.get("disable", False)),
                                 name=str(raw.get("comment") or "")))
        except ProsemixError as exc:
            raise ProsemixError(f"{where}, entry {uid}: {exc}") from None
    budget = data.get("token_budget") or DEFAULT_BUDGET
    return Lorebook(tuple(out), DEFAULT_SCAN_TOKENS, _int({"b": budget}, "b", DEFAULT_BUDGET, where))


def from_novelai(data: dict, where: str = "NovelAI lorebook") -> Lorebook:
    """A NovelAI lorebook: entries with keys ("/regex/i" allowed), text, enabled,
    forceActivation, displayName and contextConfig.budgetPriority (the priority). Its
    searchRange is in characters; the largest becomes the scan window (at four characters a
    token)."""
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise ProsemixError(f"{where}: entries must be a list")
    out, ranges = [], []
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise ProsemixError(f"{where}: entry {i + 1} is not an object")
        text = raw.get("text", "")
        if not isinstance(text, str) or not text.strip():
            continue
        keys, regex, _ = _split_keys(raw.get("keys") or [])
        config = raw.get("contextConfig")
        config = config if isinstance(config, dict) else {}
        try:
            out.append(LoreEntry(keys=keys, text=text, always=bool(raw.get("forceActivation", False)),
                                 priority=int(config.get("budgetPriority", 400) or 0), regex=regex,
                                 enabled=bool(raw.get("enabled", True)), name=str(raw.get("displayName") or "")))
        except ProsemixError as exc:
            raise ProsemixError(f"{where}, entry {i + 1}: {exc}") from None
        if isinstance(raw.get("searchRange"), (int, float)):
            ranges.append(int(raw["searchRange"]))
    scan = max(1, max(ranges) // 4) if ranges else DEFAULT_SCAN_TOKENS
    return Lorebook(tuple(out), min(scan, 100_000), DEFAULT_BUDGET)


def read(path: str | Path) -> Lorebook:
    """A lorebook file in any of the three formats; errors name the file and the problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ProsemixError(f"lorebook {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProsemixError(f"cannot read lorebook {path}: {exc}") from None
    except ValueError as exc:
        raise ProsemixError(f"lorebook {path} is not JSON: {exc}") from None
    return from_json(data, str(path))


def write(book: Lorebook, path: str | Path) -> None:
    """Our own format (to share a document's lorebook), written whole or not at all."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_json(book), indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
