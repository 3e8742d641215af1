"""A wheel of Prosemix is an app: built from the checkout, installed into a fresh virtual
environment (the dependencies reused from this one, Prosemix itself only from the wheel), it
generates with the shipped anchors and continues a document from a folder outside the checkout."""
from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from engine.anchors.shipped import DEFAULT_TRIANGLE

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-q", str(ROOT), "-w", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (path,) = out.glob("prosemix-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> tuple[Path, dict[str, str], Path]:
    """A fresh venv holding only the wheel; this interpreter's site-packages are appended to its
    path by a .pth file (their own .pth files, the editable install's finder among them, are
    not run, so the checkout cannot leak in)."""
    root = tmp_path_factory.mktemp("venv")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    (purelib / "prosemix-deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                        "--no-index", "-q", str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    work = root / "elsewhere"  # outside the checkout, with a fresh home
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PROSEMIX_", "VIRTUAL_ENV"))}
    env.update(HOME=str(root / "home"), PROSEMIX_DATA=str(root / "data"), HF_HUB_OFFLINE="1",
               PROSEMIX_CACHE=os.environ.get("PROSEMIX_CACHE", str(root / "cache")))
    return venv, env, work


def test_the_wheel_carries_every_package_and_the_resources(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ROOT.joinpath("engine").rglob("__init__.py"):
        assert str(folder.relative_to(ROOT)) in names, folder  # engine.documents was missing
    assert "gui/main_window.py" in names and "main.py" in names
    for anchor in DEFAULT_TRIANGLE:
        assert f"prosemix_resources/anchors/{anchor}/anchor.json" in names
    for path in ("prosemix_resources/icons/prosemix.png", "prosemix_resources/LICENSES/NOTICE.md",
                 "prosemix_resources/eval/austen.txt"):
        assert path in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "resources/"))]


def _run(installed, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    venv, env, work = installed
    return subprocess.run([str(venv / "bin" / "prosemix"), *args], cwd=work, env=env, input=stdin,
                          capture_output=True, text=True, timeout=600)


def test_the_installed_wheel_generates_and_continues_outside_the_checkout(installed):
    venv, env, work = installed
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import engine, engine.documents; from engine.paths import resources_dir; "
                            "print(engine.__file__); print(resources_dir())"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr[-2000:]
    engine_file, resources = where.stdout.split()
    assert str(ROOT) not in engine_file and str(venv) in engine_file
    assert str(ROOT) not in resources and resources.endswith("prosemix_resources")

    r = _run(installed, "generate", "--prompt", "The letter arrived", "--weights", "0.5,0.3,0.2",
             "--max-tokens", "12", "--temperature", "0", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["text"].strip()
    shipped = Path(resources) / "anchors"  # the wheel's own anchors, not the checkout's
    assert out["anchors"] == [str(shipped / n) for n in DEFAULT_TRIANGLE]

    doc = work / "story.md"
    doc.write_text("The rain had not stopped for three days, and the house was quiet.\n", encoding="utf-8")
    r = _run(installed, "continue", str(doc), "--max-tokens", "12", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    grown = doc.read_text(encoding="utf-8")
    assert grown.startswith("The rain had not stopped") and len(grown) > 70
    assert out["text"] and out["text"] in grown
    assert (work / "story.md.prosemix.json").is_file()  # the sidecar: provenance of the passage
