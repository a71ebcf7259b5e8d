"""OpenSLO files in the config (`openslo: [paths]`) and on the command line
(`asrwatch slo import-openslo PATH...`): `serve` judges them, `slo validate` and `slo rules`
see them, and a bad file stops them with its file, document, field and reason."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from prerequisites import need_program
from typer.testing import CliRunner

from asrwatch.cli import app
from asrwatch.server import create_app
from asrwatch.settings import load_settings
from slo.openslo import import_openslo
from slo.spec import SLOSpecError, parse_slos, slos_from_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from live_collector import running_collector  # noqa: E402

SLI = """
apiVersion: openslo/v1
kind: SLI
metadata: {name: fast-final}
spec:
  ratioMetric:
    counter: true
    good: {metricSource: {type: asrwatch, spec: {sli: latency, threshold_ms: 1500}}}
    total: {metricSource: {type: asrwatch, spec: {sli: latency, filters: {channel: telephony}, group_by: [region]}}}
"""
SLO = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: tel-latency, displayName: Telephony latency}
spec:
  service: asr
  indicatorRef: fast-final
  timeWindow: [{duration: 1M, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{displayName: Fast finals, targetPercent: 99}]
"""


def _openslo_dir(root: Path) -> Path:
    folder = root / "openslo"
    folder.mkdir(parents=True)
    (folder / "sli.yaml").write_text(SLI)
    (folder / "slo.yml").write_text(SLO)
    return folder


def _config(root: Path, **keys) -> Path:
    path = root / "asrwatch.yaml"
    path.write_text(yaml.safe_dump(keys))
    return path


def test_config_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    _openslo_dir(tmp_path / "etc")
    config = _config(tmp_path / "etc", openslo=["openslo"],
                     slos=[{"name": "avail", "sli": "availability", "objective": 0.99}])
    monkeypatch.chdir(tmp_path)  # elsewhere than the config: the path still resolves beside it
    settings = load_settings(config)
    assert settings.openslo == [str(tmp_path / "etc" / "openslo")]
    avail, imported = slos_from_settings(settings)
    assert avail.name == "avail"
    assert (imported.name, imported.sli, imported.threshold_ms) == ("tel-latency", "latency", 1500)
    assert imported.objective == 0.99
    assert imported.window == timedelta(days=30)


def test_env_takes_comma_separated_paths(tmp_path, monkeypatch):
    folder = _openslo_dir(tmp_path)
    monkeypatch.setenv("ASRWATCH_OPENSLO", f"{folder / 'sli.yaml'},{folder / 'slo.yml'}")
    settings = load_settings()
    assert [s.name for s in slos_from_settings(settings)] == ["tel-latency"]


def test_a_name_used_in_slos_and_openslo_is_an_error(tmp_path):
    _openslo_dir(tmp_path)
    settings = load_settings(_config(tmp_path, openslo=["openslo"],
                                     slos=[{"name": "tel-latency", "sli": "availability", "objective": 0.99}]))
    with pytest.raises(SLOSpecError, match="'tel-latency': name: used by more than one SLO"):
        slos_from_settings(settings)


def test_cli_import_openslo_reads_several_paths(tmp_path):
    folder = _openslo_dir(tmp_path)
    result = CliRunner().invoke(app, ["slo", "import-openslo", str(folder / "slo.yml"), str(folder / "sli.yaml")])
    assert result.exit_code == 0, result.output
    (spec,) = parse_slos(yaml.safe_load(result.stdout)["slos"])
    assert (spec.name, spec.filters, spec.group_by) == ("tel-latency", {"channel": "telephony"}, ("region",))
    assert "note: " in result.stderr and "1M is read as 30d" in result.stderr
    assert yaml.safe_load(result.stdout)["slos"][0]["service"] == "asr"


def test_cli_import_openslo_fails_naming_the_problem(tmp_path):
    folder = _openslo_dir(tmp_path)
    (folder / "slo.yml").write_text(SLO.replace("Occurrences", "Timeslices"))
    result = CliRunner().invoke(app, ["slo", "import-openslo", str(folder)])
    assert result.exit_code == 1 and result.stdout == ""
    assert f"{folder / 'slo.yml'}: document 1 (SLO 'tel-latency'): spec.budgetingMethod" in result.stderr
    missing = CliRunner().invoke(app, ["slo", "import-openslo", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "nope.yaml: no such file or directory" in missing.stderr


def test_validate_and_rules_include_openslo_and_pass_promtool(tmp_path):
    promtool = need_program("promtool")
    _openslo_dir(tmp_path)
    config = _config(tmp_path, openslo=["openslo"])
    runner = CliRunner()
    validated = runner.invoke(app, ["slo", "validate", "--config", str(config)])
    assert validated.exit_code == 0, validated.output
    assert "ok  tel-latency: latency objective 0.99 over 30d" in validated.stdout
    rules = runner.invoke(app, ["slo", "rules", "--config", str(config)])
    assert rules.exit_code == 0, rules.output
    (tmp_path / "rules.yaml").write_text(rules.stdout)
    check = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert 'asrwatch_final_latency_ms_bucket{channel="telephony",le="1500.0"}' in rules.stdout


def test_metrics_carry_the_imported_threshold_as_a_bucket_edge(tmp_path):
    # The exported rules count good events at le="1500.0": /metrics must have that edge.
    _openslo_dir(tmp_path)
    settings = load_settings(_config(tmp_path, openslo=["openslo"], database_url=f"sqlite:///{tmp_path / 'a.db'}"))
    session = {"session_id": "s1", "ts": datetime.now(timezone.utc).isoformat(), "model_version": "m1",
               "channel": "telephony", "status": "ok", "final_latency_ms": 1400}
    with TestClient(create_app(settings, run_background=False)) as client:
        assert client.post("/api/v1/sessions", json=[session]).status_code == 200
        text = client.get("/metrics").text
    edges = [line for line in text.splitlines()
             if line.startswith("asrwatch_final_latency_ms_bucket{") and 'le="1500.0"' in line]
    assert len(edges) == 1 and 'channel="telephony"' in edges[0] and edges[0].endswith(" 1.0")


def test_serve_judges_openslo_slos_and_refuses_a_bad_file(tmp_path):
    folder = _openslo_dir(tmp_path / "good")
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    with running_collector(tmp_path / "good", {"openslo": [str(folder)]}) as live:
        with live.client("ingest") as ingest:
            sessions = [{"session_id": f"s{i}", "ts": (now - timedelta(minutes=5)).isoformat(), "model_version": "m1",
                         "region": "eu", "channel": "telephony", "status": "ok",
                         "final_latency_ms": 900 if i % 4 else 2500} for i in range(40)]
            assert ingest.post("/api/v1/sessions", json=sessions).status_code == 200
        with live.client("read") as read:
            (slo,) = read.get("/api/v1/slos", params={"at": now.isoformat()}).json()["slos"]
    assert (slo["name"], slo["sli"], slo["threshold_ms"], slo["window"]) == ("tel-latency", "latency", 1500, "30d")
    (group,) = slo["groups"]
    assert group["group"] == {"region": "eu"} and (group["events"], group["good"]) == (40, 30)

    bad = _openslo_dir(tmp_path / "bad")
    calendar = "calendar: {startTime: '2020-01-21 12:30:00', timeZone: UTC}"
    (bad / "slo.yml").write_text(SLO.replace("isRolling: true", calendar))
    with pytest.raises(RuntimeError) as err:
        with running_collector(tmp_path / "bad", {"openslo": [str(bad)]}):
            pass
    assert "slo.yml: document 1 (SLO 'tel-latency'): spec.timeWindow[0]: calendar-aligned" in str(err.value)


def test_the_readme_example_imports_as_it_says():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### OpenSLO", 1)[1].split("\n## ", 1)[0]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (spec,) = import_openslo(example, "README.md")
    assert (spec.name, spec.sli, spec.threshold_ms, spec.objective) == ("telephony-latency", "latency", 1500, 0.99)
    assert spec.window == timedelta(weeks=4) and spec.group_by == ("region",)
