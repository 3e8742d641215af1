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


def test_a_search_during_a_write_neither_waits_nor_sees_half_of_it(tmp_path):
    """The worker is inside its write transaction (held there by a trigger) while the GUI
    thread searches: the search returns at once and does not see the uncommitted row. With
    one connection shared by both threads, the search waited for the writer's statement and
    then read inside its open transaction."""
    import threading
    import time

    h = History(tmp_path / "h.sqlite3")
    inside, searched = threading.Event(), threading.Event()

    def pause() -> int:
        inside.set()
        searched.wait(3.0)
        return 0

    def worker() -> None:
        db = h._db()  # this thread's connection
        db.create_function("pause", 0, pause)
        db.execute("CREATE TEMP TRIGGER hold AFTER INSERT ON generations BEGIN SELECT pause(); END")
        h.add(Record("during", "the write", {}, 0, {}, "llama", "m", 1, 0.1))

    t = threading.Thread(target=worker)
    t.start()
    assert inside.wait(5.0)
    start = time.perf_counter()
    seen = h.search()
    waited = time.perf_counter() - start
    searched.set()
    t.join(10.0)
    assert waited < 1.0 and seen == []
    assert [r.prompt for r in h.search()] == ["during"]
    h.close()


def test_worker_writes_while_the_gui_searches(tmp_path):
    """The worker thread adds rows while the GUI thread searches, as in the app: every row
    arrives whole and neither thread sees an error. One shared connection failed this with
    "cannot commit - no transaction is active" or half-visible transactions."""
    import threading

    h = History(tmp_path / "h.sqlite3")
    errors: list[BaseException] = []
    n = 300

    def worker() -> None:
        try:
            for i in range(n):
                h.add(Record(f"p{i}", "x" * 200, {"a": 1.0}, i, {}, "llama", "m", 1, 0.1))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    seen = 0
    try:
        while t.is_alive():
            seen = max(seen, len(h.search("x", limit=10_000)))
    except BaseException as exc:  # noqa: BLE001
        errors.append(exc)
    t.join()
    assert not errors, errors
    assert len(h.search(limit=10_000)) == n
    h.close()
