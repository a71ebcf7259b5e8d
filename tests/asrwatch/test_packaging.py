"""A wheel carries everything the installed collector and console read from disk.

An editable install finds `runbooks/` and `dashboards/views/` in the checkout; a plain
`pip install .` (a container image) only has what the wheel ships, and every alert's
runbook link and every console page would then be missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_SKIP = shutil.ignore_patterns(".git", "build", "tests", "bench", "*.db", "*.egg-info", "__pycache__",
                               ".hypothesis", ".pytest_cache", "node_modules")


def test_wheel_ships_runbooks_and_console_pages(tmp_path: Path) -> None:
    # A copy of the tree, so a stale build/ in the checkout cannot add files the sources lack.
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=_SKIP)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         str(source), "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("asrwatch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    runbooks = {p.name for p in (ROOT / "runbooks").glob("*.md")}
    assert runbooks, "the checkout has no runbooks"
    assert {f"runbooks/{name}" for name in runbooks} <= names
    pages = {p.name for p in (ROOT / "dashboards" / "views").glob("*.py")}
    assert {"executive.py", "oncall.py", "model_owner.py"} <= pages
    assert {f"dashboards/views/{name}" for name in pages} <= names
    # The collector finds runbooks beside its package in site-packages, as in the checkout.
    from collector.api.runbooks import RUNBOOK_DIR
    assert RUNBOOK_DIR.parent == ROOT
