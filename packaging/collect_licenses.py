"""Copy the license files of every installed distribution (except build and test tools)
into a LICENSES folder of the bundle, plus Prosemix's NOTICE."""
from __future__ import annotations

import shutil
import sys
from importlib import metadata
from pathlib import Path

SKIP = {"pip", "setuptools", "wheel", "pytest", "pytest-qt", "hypothesis", "import-linter",
        "pyinstaller", "pyinstaller-hooks-contrib", "altgraph", "pluggy", "iniconfig", "grimp"}


def main(out: str) -> int:
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parent.parent
    shutil.copy(root / "resources" / "LICENSES" / "NOTICE.md", dest / "NOTICE.md")
    count = 0
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if not name or name in SKIP:
            continue
        for file in dist.files or []:
            base = file.name.upper()
            if base.startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE")):
                src = Path(dist.locate_file(file))
                if src.is_file():
                    (dest / name).mkdir(exist_ok=True)
                    shutil.copy(src, dest / name / file.name)
                    count += 1
    apache = dest / "transformers"
    if apache.is_dir():
        lic = next(apache.iterdir())
        shutil.copy(lic, dest / "Apache-2.0.txt")
    print(f"collected {count} license files into {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
