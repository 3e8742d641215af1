"""The PyInstaller bundle: build the CPU-only app and smoke-test it from outside the repo,
offline, with a fresh HOME (packaging/build.sh runs packaging/smoke_test.sh)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_spec_names_existing_resources():
    spec = (ROOT / "packaging" / "prosemix.spec").read_text()
    compile(spec, "prosemix.spec", "exec")
    for folder in ("anchors", "eval", "icons", "LICENSES"):
        assert f'"{folder}"' in spec and (ROOT / "resources" / folder).is_dir()
    assert "bundle_identifier" in spec and "PROSEMIX_CPU_ONLY" in spec
    assert (ROOT / "resources" / "prosemix.desktop").read_text().count("Exec=Prosemix") == 1


def test_cpu_only_bundle_builds_and_runs():
    r = subprocess.run(["bash", str(ROOT / "packaging" / "build.sh"), "cpu"], cwd=ROOT,
                       capture_output=True, text=True, timeout=1200,
                       env={**{k: v for k, v in os.environ.items()
                               if not k.startswith(("PYTHON", "PROSEMIX_"))}, "PY": sys.executable})
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert "smoke: OK" in r.stdout
    assert "SMOKE OK" in r.stdout and "torch backend absent" in r.stdout
    bundle = ROOT / "dist" / "cpu" / "Prosemix"
    assert (bundle / "LICENSES" / "NOTICE.md").is_file()
    assert not list((bundle / "_internal").glob("torch")), "torch leaked into the CPU-only bundle"
