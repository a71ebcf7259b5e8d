"""`promtool test rules` on a rules file and input series: the one way the tests run Prometheus'
own rule evaluation (https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml


def promtool_test(promtool: str, folder: Path, input_series: list[dict], *, alert_tests: list[dict] | None = None,
                  expr_tests: list[dict] | None = None, timeout: float = 300, context: str = "") -> None:
    """Write `folder/test.yaml` over `folder/rules.yaml` (1m interval) and assert promtool passes it."""
    test: dict = {"interval": "1m", "input_series": input_series}
    if alert_tests is not None:
        test["alert_rule_test"] = alert_tests
    if expr_tests is not None:
        test["promql_expr_test"] = expr_tests
    (folder / "test.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [test]}, sort_keys=False, width=1 << 20))
    result = subprocess.run([promtool, "test", "rules", "test.yaml"], cwd=folder, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, context + (result.stdout + result.stderr)[-6000:]
