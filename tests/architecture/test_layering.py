"""The house plan, enforced: the storage kernel and the measures depend on nothing above them.

`collector.store` (tables, migrations, ingest, rollups, queries) and `collector.measures` (WER,
histograms, grouping, cost, redaction) are what every other part builds on, so an import from
the HTTP layer, the SLO engine, drift or the console would make the kernel depend on its users.
Read from the source with `ast`, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "collector/store": ("collector.api", "asrwatch", "slo", "drift", "dashboards", "simulator", "inference_probe",
                        "fastapi", "starlette"),
    "collector/measures": ("collector.api", "collector.store", "asrwatch", "slo", "drift", "dashboards", "simulator",
                           "inference_probe", "fastapi", "starlette", "sqlalchemy"),
    "collector/api": ("slo", "drift", "dashboards", "simulator", "inference_probe", "asrwatch.server"),
    # The parts above the kernel are assembled by the server and never reach back into it or
    # into the console (drift files its tickets through the alert router, so it may use slo).
    "slo": ("asrwatch.server", "drift", "dashboards"),
    "drift": ("asrwatch.server", "dashboards"),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imported_modules(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_nothing_from_the_layers_above(package: str) -> None:
    assert violations(package, FORBIDDEN[package]) == []


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from slo.snapshot import slo_statuses\n")
    assert imported_modules(bad) == [(2, "slo.snapshot")]


def test_only_the_server_builds_the_app() -> None:
    """`FastAPI(` is constructed in asrwatch/server.py and nowhere else (the probe's own server, inference_probe/serve.py, is another service)."""
    builders = []
    for package in ("asrwatch", "collector", "slo", "drift", "dashboards", "simulator"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "FastAPI":
                    builders.append(str(path.relative_to(ROOT)))
    assert builders == ["asrwatch/server.py"]


PUBLIC = ("collector.store", "collector.measures", "collector.api", "slo", "drift")


def test_every_public_interface_resolves() -> None:
    import importlib

    for name in PUBLIC:
        package = importlib.import_module(name)
        assert package.__all__, name
        assert [n for n in package.__all__ if not hasattr(package, n)] == [], name


def test_other_packages_import_only_the_public_interface() -> None:
    """`from slo import X` from outside slo names only what slo's `__init__` lists."""
    import importlib

    public = {name: set(importlib.import_module(name).__all__) for name in PUBLIC}
    outside = []
    for package in ("asrwatch", "collector", "slo", "drift", "dashboards", "simulator", "inference_probe"):
        for path in sorted((ROOT / package).rglob("*.py")):
            here = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                inner = [p for p in PUBLIC[:3] if node.module.startswith(p + ".")]
                if inner and not (here == inner[0] or here.startswith(inner[0] + ".")):
                    outside.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module} (past the interface)")
                if node.module not in public or here == node.module or here.startswith(node.module + "."):
                    continue  # a package's own modules may import each other
                outside += [f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{a.name}"
                            for a in node.names if a.name not in public[node.module]]
    assert outside == []
