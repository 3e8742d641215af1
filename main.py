"""Prosemix: with no arguments the app opens; a subcommand runs the CLI.

This is also the `prosemix` console script, so an installed `prosemix` opens the app too.
"""
from __future__ import annotations

import sys


def main() -> int:
    if len(sys.argv) > 1:
        from engine.cli.main import main as cli_main

        return cli_main(sys.argv[1:])
    from gui.app import run

    return run()


def main_entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
