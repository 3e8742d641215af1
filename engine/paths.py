"""Where the app's own files are: in the source tree, or inside a PyInstaller bundle."""
from __future__ import annotations

import sys
from pathlib import Path


def app_root() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) if bundle else Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    return app_root() / "resources"


def default_anchors_dir() -> Path:
    return resources_dir() / "anchors"


# The default triangle, in the documented order that `--weights W,W,W` refers to.
DEFAULT_TRIANGLE = ("austen", "sardonic", "shakespeare")


def default_anchor_paths() -> list[Path]:
    """The shipped triangle anchors that exist, in DEFAULT_TRIANGLE order."""
    folder = default_anchors_dir()
    return [folder / n for n in DEFAULT_TRIANGLE if (folder / n / "adapter_config.json").is_file()]


def shipped_anchor(name: str) -> Path | None:
    """The folder of a shipped anchor called ``name``, if there is one."""
    path = default_anchors_dir() / name
    return path if (path / "adapter_config.json").is_file() else None
