"""Where Prosemix keeps files: its own (source tree or PyInstaller bundle) and the user's.

The one home for every folder. PROSEMIX_DATA and PROSEMIX_CACHE override the user folders
(tests, portable installs).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "prosemix"


def app_root() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) if bundle else Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    """The shipped files (anchors, evaluation samples, icons, licences). In a PyInstaller
    bundle they lie in the bundle's resources/; installed (a wheel, or the editable install of
    a checkout) they are the package ``prosemix_resources``, found through importlib.resources;
    in a checkout run without installing, the source tree's resources/."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    from importlib.resources import files

    try:
        root = files("prosemix_resources")
    except ModuleNotFoundError:
        return app_root() / "resources"
    return Path(str(root))  # installed on disk (setuptools does not zip it), so a real folder


def user_data_dir() -> Path:
    """What the user made: history, trained anchors, sweeps, documents."""
    override = os.environ.get("PROSEMIX_DATA")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """What can be made again: dequantized models, working copies, converted LoRAs."""
    override = os.environ.get("PROSEMIX_CACHE")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` so that a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def history_path() -> Path:
    return user_data_dir() / "history.sqlite3"


def user_anchors_dir() -> Path:
    return user_data_dir() / "anchors"


def sweeps_dir() -> Path:
    return user_data_dir() / "sweeps"
