"""The writer's anchors between runs: which are listed, enabled, renamed and coloured.

Saved to QSettings at every change, so a crash loses nothing. Restoring maps shipped anchors
saved by another or moved install onto this install's copies, and switches off a later
anchor that would share an enabled one's name (two cannot load together).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from PySide6.QtCore import QSettings

from engine.anchors.shipped import DEFAULT_TRIANGLE, SHIPPED, shipped_anchors_dir

KEY = "anchors"


@dataclass(frozen=True)
class Entry:
    path: Path
    enabled: bool
    name: str | None = None
    colour: str | None = None


def saved_entries(settings: QSettings) -> list[dict]:
    try:
        data = json.loads(str(settings.value(KEY, "[]")))
    except ValueError:
        return []
    return [e for e in data if isinstance(e, dict) and "path" in e] if isinstance(data, list) else []


def save_entries(settings: QSettings, entries: list[dict]) -> None:
    settings.setValue(KEY, json.dumps(entries))
    settings.sync()


def restore(saved: Iterable[dict], shown_name: Callable[[Path], str],
            folder: Path | None = None) -> list[Entry]:
    """The shipped anchors first (the default triangle enabled unless saved otherwise), then
    the writer's own that still exist. ``shown_name`` gives an anchor's name without a
    saved one (from its card)."""
    folder = folder or shipped_anchors_dir()
    shipped = {a.name for a in SHIPPED}
    by_path: dict[Path, dict] = {}
    for e in saved:
        path = Path(e["path"])
        if path.parent.name == "anchors" and path.name in shipped:
            path = folder / path.name  # a shipped anchor saved by a moved or other install
        by_path.setdefault(path, e)
    entries = []
    for a in SHIPPED:
        path = folder / a.name
        if (path / "adapter_config.json").is_file():
            e = by_path.pop(path, {"enabled": a.name in DEFAULT_TRIANGLE})
            entries.append(Entry(path, bool(e.get("enabled")), e.get("name"), e.get("colour")))
    entries += [Entry(p, bool(e.get("enabled")), e.get("name"), e.get("colour"))
                for p, e in by_path.items() if p.exists()]
    names: set[str] = set()
    for k, entry in enumerate(entries):
        shown = entry.name or shown_name(entry.path)
        if entry.enabled and shown in names:
            entries[k] = Entry(entry.path, False, entry.name, entry.colour)
        elif entry.enabled:
            names.add(shown)
    return entries
