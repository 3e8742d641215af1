"""python -m benchmarks NAME [ARGS]: run one benchmark; without NAME, list them."""
from __future__ import annotations

import pkgutil
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"harness", "__main__"}


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name not in NOT_BENCHMARKS)


def summary(name: str) -> str:
    text = (HERE / f"{name}.py").read_text(encoding="utf-8")
    doc = text.split('"""', 2)[1] if text.startswith('"""') else ""
    return " ".join(doc.strip().split("\n\n")[0].split())[:110]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "list"):
        print(__doc__.strip(), "\n")
        for name in names():
            print(f"  {name:<18} {summary(name)}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in names():
        print(f"benchmarks: no benchmark named {name!r}; `python -m benchmarks` lists them", file=sys.stderr)
        return 2
    sys.argv = [f"benchmarks/{name}.py", *rest]
    runpy.run_module(f"benchmarks.{name}", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
