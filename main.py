"""Prosemix: with no arguments the GUI opens; a subcommand runs the CLI."""
from __future__ import annotations

import sys


def main() -> int:
    if len(sys.argv) > 1:
        from engine.cli import main as cli_main

        return cli_main(sys.argv[1:])
    from gui.app import run

    return run()


if __name__ == "__main__":
    sys.exit(main())
