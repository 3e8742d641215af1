"""What every benchmark shares: the machine named, rows of ratios against a named baseline
measured in the same run, printed and optionally written as JSON."""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def machine() -> str:
    """The machine a figure was measured on, e.g. "x86_64, 2 cores, AMD EPYC (AVX2 FMA F16C, no AVX-512)"."""
    from engine.machine import describe_machine

    return describe_machine()


def med(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("PASS" if ok else "MISS")


def print_rows(rows: list[dict[str, Any]]) -> None:
    """One line a row: goal, ours, the baseline, the ratio, the target and its verdict."""
    print(f"machine: {machine()}")
    for r in rows:
        print(f"{r['goal']:<45} {r['ours']:>14}  vs {r['baseline']:<60} {r['ratio']:6.2f}x "
              f"{r.get('target', ''):<13} {verdict(r.get('ok'))}  {r.get('note', '')}")


def write_json(path: str | Path, rows: list[dict[str, Any]], **meta: Any) -> None:
    """The run as JSON: when, where, the command, and every row."""
    doc = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
           "command": " ".join(["python -m benchmarks", *sys.argv[1:]]) if sys.argv else "",
           **meta, "rows": rows}
    Path(path).write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
