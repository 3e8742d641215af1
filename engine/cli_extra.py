"""Subcommands added by later features (training, sweeps). Kept apart so cli.py stays small."""
from __future__ import annotations

import argparse
from typing import Callable

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def add_subcommands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the extra subcommands on the main parser."""
