"""The local history of generations: SQLite in the user data folder, one row per finished
generation, each written in its own transaction so a crash loses nothing that had ended."""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    prompt TEXT NOT NULL,
    output TEXT NOT NULL,
    weights TEXT NOT NULL,
    seed INTEGER NOT NULL,
    params TEXT NOT NULL,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    seconds REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS generations_created ON generations(created);
"""


@dataclass
class Record:
    prompt: str
    output: str
    weights: dict[str, float]
    seed: int
    params: dict[str, Any]
    backend: str
    model: str
    tokens: int
    seconds: float
    created: float = field(default_factory=time.time)
    id: int | None = None


def default_history_path() -> Path:
    from engine.paths import history_path

    return history_path()


class History:
    """A small store of Records, safe to use from several threads: each thread gets its own
    SQLite connection (WAL lets a reader and a writer work at once), so the worker can add a
    row while the GUI searches."""

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = Path(path) if path else default_history_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self.closed = False
        db = self._db()
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        if self.closed:
            raise sqlite3.ProgrammingError("the history is closed")
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(str(self.path), timeout=10.0, check_same_thread=False)  # closed by close()
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def add(self, record: Record) -> int:
        db = self._db()
        with db:  # one transaction: the row is there whole or not at all
            cur = db.execute(
                "INSERT INTO generations (created, prompt, output, weights, seed, params, backend,"
                " model, tokens, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.created, record.prompt, record.output, json.dumps(record.weights),
                 record.seed, json.dumps(record.params), record.backend, record.model,
                 record.tokens, record.seconds))
        assert cur.lastrowid is not None  # an INSERT always sets it
        record.id = int(cur.lastrowid)
        return record.id

    def search(self, text: str = "", limit: int = 200) -> list[Record]:
        """Newest first; ``text`` matches the prompt or the output."""
        like = f"%{text}%"
        return self._rows("prompt LIKE ? OR output LIKE ?", (like, like), limit)

    def _rows(self, where: str, args: tuple, limit: int) -> list[Record]:
        rows = self._db().execute(
            "SELECT id, created, prompt, output, weights, seed, params, backend, model, tokens,"
            f" seconds FROM generations WHERE {where} ORDER BY created DESC, id DESC LIMIT ?",
            (*args, limit)).fetchall()
        return [Record(id=r[0], created=r[1], prompt=r[2], output=r[3], weights=json.loads(r[4]),
                       seed=r[5], params=json.loads(r[6]), backend=r[7], model=r[8], tokens=r[9],
                       seconds=r[10]) for r in rows]

    def get(self, record_id: int) -> Record | None:
        return next((r for r in self._rows("id = ?", (record_id,), 1)), None)

    def delete(self, record_id: int) -> None:
        db = self._db()
        with db:
            db.execute("DELETE FROM generations WHERE id = ?", (record_id,))

    def close(self) -> None:
        """Close every thread's connection (call it when no thread uses the history any more)."""
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self.closed = True
