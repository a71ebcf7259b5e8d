"""What a test needs from the machine (a server, a Debian package, an extra).

Locally a missing prerequisite skips the test with the reason; under CI (`CI=true`) it fails,
since CI installs everything (.ci/setup) and a skip there would hide a broken feature.
"""

from __future__ import annotations

import importlib
import os
import shutil
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run; see .ci/setup)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def need_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"needs the Python module {name!r}: {exc}")


def need_program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"needs the program {name!r} on PATH")
    return path
