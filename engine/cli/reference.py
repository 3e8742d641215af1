"""The command line's reference, written from the argparse parsers themselves so that it cannot
drift from them: `python -m engine.cli.reference` rewrites docs/guide/command-line.md, and a test
fails when the page and the parsers disagree."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "guide" / "command-line.md"
# defaults read from the environment or the machine, which a page written once cannot show
_FROM_ENVIRONMENT = {"api_key"}


def _flags(action: argparse.Action) -> str:
    names = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.dest}`"
    if action.choices:
        names += " " + "\\|".join(str(c) for c in action.choices)
    elif action.nargs != 0 and action.option_strings:
        names += f" {action.metavar or action.dest.upper()}"
    return names


def _default(action: argparse.Action) -> str:
    if action.dest in _FROM_ENVIRONMENT or action.nargs == 0 or action.default in (None, [], "", argparse.SUPPRESS):
        return ""
    return f"`{action.default}`"


def _rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| option | default | what it does |", "|---|---|---|"]
    for action in parser._actions:  # argparse keeps no public list of a parser's actions
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        text = " ".join((action.help or "").split()).replace("|", "\\|") % {"default": action.default}
        rows.append(f"| {_flags(action)} | {_default(action)} | {text} |")
    return rows


def reference_markdown() -> str:
    from engine.cli.main import build_parser

    parser = build_parser()
    lines = ["# Command line", "",
             "`prosemix COMMAND` inside `.venv`, or `python main.py COMMAND`; with no command the app "
             "opens. Bad input prints one line on stderr and exits with 2; `--debug` (before the "
             "command) shows the traceback.", "",
             "This page is written from the parsers by `python -m engine.cli.reference`; "
             "`prosemix COMMAND --help` says the same.", ""]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in sub._choices_actions}
    lines += ["| command | what it does |", "|---|---|"]
    lines += [f"| [`{name}`](#{name}) | {' '.join((helps.get(name) or '').split())} |" for name in sub.choices]
    for name, command in sub.choices.items():
        lines += ["", f"## {name}", ""]
        if command.description:
            lines += [" ".join(command.description.split()), ""]
        usage = " ".join(command.format_usage().replace("usage: ", "").split())
        lines += ["```", usage, "```", ""]
        lines += _rows(command)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    PAGE.write_text(reference_markdown(), encoding="utf-8")
    print(f"wrote {PAGE}", file=sys.stderr)
