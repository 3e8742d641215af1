"""Nothing lost: every open document is autosaved, text and sidecar together, to the user
data folder within seconds of a change. After a crash the next start lists what can be
recovered. A damaged recovery file is reported and skipped, never fatal."""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from engine.documents.files import from_json, to_json
from engine.documents.model import Document
from engine.paths import atomic_write_text, user_data_dir


@dataclass(frozen=True)
class Recoverable:
    id: str
    path: str  # the file it belongs to ("" for an unsaved document)
    saved: float
    preview: str


class RecoveryStore:
    def __init__(self, folder: Path | None = None):
        self.folder = folder or user_data_dir() / "recovery"

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:12]

    def _file(self, doc_id: str) -> Path:
        return self.folder / f"{doc_id}.json"

    def save(self, doc_id: str, doc: Document, path: str | os.PathLike[str] | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"id": doc_id, "path": str(path or ""), "saved": time.time(), "text": doc.text,
                "sidecar": to_json(doc)}
        atomic_write_text(self._file(doc_id), json.dumps(data, ensure_ascii=False))

    def discard(self, doc_id: str) -> None:
        self._file(doc_id).unlink(missing_ok=True)

    def entries(self) -> tuple[list[Recoverable], list[str]]:
        """What can be recovered, newest first, and the files that could not be read."""
        out, problems = [], []
        for file in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
                text = str(data["text"])
                out.append(Recoverable(str(data["id"]), str(data.get("path", "")), float(data["saved"]),
                                       " ".join(text.split())[:80]))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"the recovery file {file.name} is damaged ({exc}) and was skipped")
        return sorted(out, key=lambda r: -r.saved), problems

    def load(self, doc_id: str) -> tuple[Document, list[str]]:
        data = json.loads(self._file(doc_id).read_text(encoding="utf-8"))
        doc = Document(str(data["text"]))
        return doc, from_json(doc, data.get("sidecar"), "the recovered provenance")
