"""The docs that describe the code are held to it: the architecture page names every module
and only modules that exist, the command-line reference is the parsers', and the README keeps
its two commands first and its links whole."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "dev" / "architecture.md"


def _modules() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for package in ("engine", "gui")
            for p in (ROOT / package).rglob("*.py") if p.name != "__init__.py"}


def test_the_architecture_page_names_every_module_and_no_other():
    named = set(re.findall(r"`((?:engine|gui)/[\w/]+\.py)`", ARCHITECTURE.read_text(encoding="utf-8")))
    named = {n for n in named if not n.endswith("__init__.py")}
    assert sorted(named - _modules()) == [], "named in docs/dev/architecture.md but not in the tree"
    assert sorted(_modules() - named) == [], "in the tree but not in docs/dev/architecture.md"


def test_the_command_line_reference_is_written_from_the_parsers():
    from engine.cli.reference import PAGE, reference_markdown

    assert PAGE.read_text(encoding="utf-8") == reference_markdown(), \
        "docs/guide/command-line.md is out of date: run python -m engine.cli.reference"


def test_the_readme_starts_with_its_two_commands_and_stays_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    block = lines[lines.index("```bash") + 1:lines.index("```")]
    assert [line.split()[:2] for line in block] == [["make", "run"], ["make", "test"]]
    assert len(lines) <= 150


def test_every_relative_link_in_the_docs_leads_somewhere():
    broken = []
    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []
