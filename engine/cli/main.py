"""The command line: `prosemix SUBCOMMAND` (or `python main.py SUBCOMMAND`). Imports no Qt.

Each command lives in its own module with a `register(subparsers)` that sets its handler.
Bad input prints one line on stderr and exits with 2; --debug shows the traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from engine.cli import anchors, evaluate, generate, train, write
from engine.cli.options import EXIT_BAD_INPUT
from engine.errors import ProsemixError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prosemix", description="Blend writing styles with LoRA anchors. "
                                     "With no command, the app opens.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (generate, write, anchors, train, evaluate):
        module.register(sub)
    return parser


def quiet_libraries() -> None:
    """No progress bars or deprecation notices from the libraries under a command's own output."""
    import os
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)(\.|$)")


def main(argv: Sequence[str] | None = None) -> int:
    quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.handler(args))
    except ProsemixError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure: one line unless --debug
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)",
              file=sys.stderr)
        return 1
