from __future__ import annotations

import subprocess
import sys

from engine.history import History, Record


def _rec(prompt="p", output="o", **kw):
    return Record(prompt=prompt, output=output, weights={"a": 0.5, "b": 0.5}, seed=1,
                  params={"temperature": 0.8}, backend="llama", model="m", tokens=3, seconds=0.1, **kw)


def test_write_search_get_delete(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    first = h.add(_rec("Dear diary", "It rained."))
    h.add(_rec("Once upon a time", "a dragon"))
    assert [r.prompt for r in h.search()] == ["Once upon a time", "Dear diary"]
    assert [r.output for r in h.search("rained")] == ["It rained."]
    got = h.get(first)
    assert got.weights == {"a": 0.5, "b": 0.5} and got.params == {"temperature": 0.8}
    h.delete(first)
    assert h.get(first) is None
    h.close()


def test_records_survive_a_crash(tmp_path):
    """A process killed right after add() loses nothing it had written."""
    path = tmp_path / "h.sqlite3"
    code = ("import os, sys; sys.path.insert(0, %r); from engine.history import History, Record; "
            "h = History(%r); h.add(Record('crash', 'survives', {}, 0, {}, 'llama', 'm', 1, 0.1)); "
            "os._exit(9)") % (str(__import__('pathlib').Path(__file__).parent.parent), str(path))
    r = subprocess.run([sys.executable, "-c", code])
    assert r.returncode == 9
    assert [x.output for x in History(path).search()] == ["survives"]
