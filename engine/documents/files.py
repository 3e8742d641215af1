"""Documents on disk. The writer's text stays a plain file any editor opens (.md or .txt);
what only Prosemix knows (passages with provenance, pending alternatives, memory, the
author's note) goes in a sidecar beside it, `NAME.prosemix.json`. Both are written
atomically.

Opening a file that another program changed keeps the text, finds each passage again by its
text where it can, and says which it could not. A damaged sidecar never blocks the text.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from engine.backends.bans import BanList
from engine.documents import lorebook
from engine.documents.model import Alternatives, Document, Passage, Provenance
from engine.errors import ProsemixError
from engine.paths import atomic_write_text

SIDECAR_SUFFIX = ".prosemix.json"
FORMAT_VERSION = 1
TEXT_SUFFIXES = (".md", ".txt", ".markdown", ".text")


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def to_json(doc: Document) -> dict[str, Any]:
    pending = None
    if doc.pending is not None and doc.pending.candidates:
        pending = {"start": doc.pending.start, "current": doc.pending.current,
                   "candidates": [{"text": t, "provenance": p.to_json()} for t, p in doc.pending.candidates]}
    return {"version": FORMAT_VERSION, "text_sha256": _sha(doc.text), "memory": doc.memory,
            "note": doc.note, "palette": list(doc.palette),
            "lorebook": lorebook.to_json(doc.lorebook) if doc.lorebook is not None else doc.unread_lorebook,
            "bans": doc.bans.to_json() if doc.bans else doc.unread_bans,
            "passages": [p.to_json(doc.text) for p in doc.passages], "pending": pending}


def save(doc: Document, path: str | os.PathLike[str]) -> None:
    """The text to ``path`` and the rest to its sidecar."""
    path = Path(path)
    if path.suffix.lower() not in TEXT_SUFFIXES:
        raise ProsemixError(f"save the document as .md or .txt, not {path.suffix or 'no suffix'}")
    try:
        atomic_write_text(path, doc.text)
        atomic_write_text(sidecar_path(path), json.dumps(to_json(doc), ensure_ascii=False, indent=1))
    except OSError as exc:
        raise ProsemixError(f"cannot save {path}: {exc.strerror or exc}") from None


def load(path: str | os.PathLike[str]) -> tuple[Document, list[str]]:
    """The document and what the writer should know (passages that could not be matched,
    a damaged sidecar)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProsemixError(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise ProsemixError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise ProsemixError(f"cannot open {path}: {exc.strerror or exc}") from None
    doc = Document(text)
    side = sidecar_path(path)
    if not side.exists():
        return doc, []
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return doc, [f"{side.name} is damaged ({exc}); the text opened without its provenance"]
    return doc, from_json(doc, data, side.name)


def from_json(doc: Document, data: Any, name: str = "the sidecar") -> list[str]:
    """Restore what ``data`` holds onto ``doc`` (whose text is already set)."""
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        return [f"{name} is not a Prosemix sidecar of version {FORMAT_VERSION}; "
                "the text opened without its provenance"]
    warnings: list[str] = []
    doc.memory, doc.note = str(data.get("memory", "")), str(data.get("note", ""))
    palette = data.get("palette") or []
    if isinstance(palette, list) and all(isinstance(n, str) and n.strip() for n in palette) \
            and len(set(palette)) == len(palette):
        doc.palette = list(palette)
    else:
        warnings.append("the palette in the sidecar is not a list of distinct anchor names; "
                        "the document opened with the picker as it is")
    if data.get("lorebook") is not None:
        try:
            doc.lorebook = lorebook.from_json(data["lorebook"], "the lorebook in the sidecar")
        except ProsemixError as exc:
            doc.unread_lorebook = data["lorebook"]  # saved back as it was, never lost
            warnings.append(f"{exc}; the document opened without its lorebook (kept in the sidecar)")
    if data.get("bans") is not None:
        try:
            doc.bans = BanList.from_json(data["bans"])
        except ProsemixError as exc:
            doc.unread_bans = data["bans"]  # saved back as it was
            warnings.append(f"the banned phrases in the sidecar could not be read ({exc}); "
                            "the document opened without them (kept in the sidecar)")
    same = data.get("text_sha256") == _sha(doc.text)
    if not same:
        warnings.append("the text was changed outside Prosemix; passages were matched by their text")
    taken: list[tuple[int, int]] = []
    for k, item in enumerate(data.get("passages") or []):
        try:
            passage, stored = _passage(item)
        except ProsemixError as exc:
            warnings.append(f"passage {k + 1}: {exc}; dropped")
            continue
        if same and doc.text[passage.start:passage.end] == stored:
            found: tuple[int, int] | None = (passage.start, passage.end)
        else:
            found = _find(doc.text, stored, passage.start, taken)
        if found is None:
            warnings.append(f"passage {k + 1} (\"{stored[:40]}…\") is no longer in the text; "
                            "its provenance was dropped")
            continue
        taken.append(found)
        doc.passages.append(Passage(found[0], found[1], passage.provenance, passage.edited))
    doc.passages.sort(key=lambda p: p.start)
    pending = data.get("pending")
    if same and isinstance(pending, dict):
        try:
            cands = [(str(c["text"]), Provenance.from_json(c["provenance"])) for c in pending["candidates"]]
            doc.pending = Alternatives(int(pending["start"]), cands, int(pending["current"]))
        except (KeyError, TypeError, ValueError, ProsemixError) as exc:
            warnings.append(f"the pending alternatives could not be restored ({exc})")
    return warnings


def _passage(item: Any) -> tuple[Passage, str]:
    if not isinstance(item, dict):
        raise ProsemixError("not an object")
    try:
        start, end, text = int(item["start"]), int(item["end"]), str(item["text"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProsemixError(f"malformed ({exc})") from None
    return Passage(start, end, Provenance.from_json(item.get("provenance")), bool(item.get("edited"))), text


def _find(text: str, needle: str, near: int, taken: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The occurrence of ``needle`` nearest ``near`` that overlaps no matched passage."""
    if not needle:
        return None
    best = None
    at = text.find(needle)
    while at != -1:
        span = (at, at + len(needle))
        if not any(a < span[1] and span[0] < b for a, b in taken):
            if best is None or abs(at - near) < abs(best[0] - near):
                best = span
        at = text.find(needle, at + 1)
    return best


def export_text(doc: Document) -> str:
    return doc.text


def export_markdown(doc: Document, title: str = "") -> str:
    """The text, then where each generated passage came from."""
    lines = [f"# {title}", ""] if title else []
    lines.append(doc.text.rstrip())
    if doc.passages:
        lines += ["", "---", "", "Generated passages:", ""]
        for k, p in enumerate(doc.passages, start=1):
            snippet = doc.text[p.start:p.end].strip().replace("\n", " ")
            lines.append(f"{k}. \"{snippet[:60]}{'…' if len(snippet) > 60 else ''}\" — "
                         f"{p.provenance.label()}{' (edited)' if p.edited else ''}")
    return "\n".join(lines) + "\n"
