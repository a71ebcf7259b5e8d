"""A misspelt configuration key is an error naming it and the closest valid key, never a silent
default: in asrwatch.yaml, in the sub-configs the router, drift, the cost watch and the rollout
actuators read, and as an `ASRWATCH_*` environment variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from asrwatch.cli import app
from asrwatch.settings import OTHER_ENV_VARS, Settings, load_settings, unknown_env_vars
from drift.config import DriftConfig
from slo.cost_watch import CostWatchConfig
from slo.rollout.actuators import from_settings as actuators_from_settings
from slo.router.config import load_router_config

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / "asrwatch" / "demo_config.yaml"
SLO = {"name": "availability", "sli": "availability", "objective": 0.99, "window": "30d"}


def _config(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "asrwatch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _invoke(args: list[str]):
    # A wide terminal: the error panel would wrap a long path (a pytest-xdist worker's tmp_path).
    return CliRunner().invoke(app, args, env={"COLUMNS": "1000"})


def test_slo_validate_refuses_slo_for_slos(tmp_path):
    path = _config(tmp_path, {"slo": [SLO]})
    result = _invoke(["slo", "validate", "--config", str(path)])
    assert result.exit_code == 1, result.output
    assert "slo: unknown key (did you mean 'slos'?)" in result.output
    assert "SLO(s) valid" not in result.output
    fixed = _invoke(["slo", "validate", "--config", str(_config(tmp_path, {"slos": [SLO]}))])
    assert fixed.exit_code == 0 and "1 SLO(s) valid" in fixed.output, fixed.output


def test_serve_refuses_slo_for_slos_before_starting(tmp_path):
    path = _config(tmp_path, {"database_url": f"sqlite:///{tmp_path / 'a.db'}", "slo": [SLO]})
    result = _invoke(["serve", "--config", str(path), "--port", "1"])
    assert result.exit_code == 2, result.output
    assert "slo: unknown key (did you mean 'slos'?)" in result.output
    assert str(path) in result.output  # the file is named with the key


@pytest.mark.parametrize(("sub", "key", "suggested"), [
    ("drift", "intervl_s", "interval_s"),
    ("cost", "window_hour", "window_hours"),
])
def test_serve_refuses_a_misspelt_key_inside_a_part_naming_its_path(tmp_path, sub, key, suggested):
    path = _config(tmp_path, {"database_url": f"sqlite:///{tmp_path / 'a.db'}", sub: {key: 5}})
    result = _invoke(["serve", "--config", str(path), "--port", "1"])
    assert result.exit_code == 2, result.output
    assert f"{sub}.{key}: unknown key (did you mean '{suggested}'?)" in result.output


def test_a_key_far_from_every_valid_one_is_named_without_a_guess(tmp_path):
    with pytest.raises(ValueError) as err:
        load_settings(_config(tmp_path, {"zzzqqq": 1}))
    assert str(err.value) == f"{tmp_path / 'asrwatch.yaml'}: zzzqqq: unknown key"


def test_keyword_arguments_are_checked_like_the_file():
    with pytest.raises(ValueError, match=r"^evaluator_intervall_s: unknown key \(did you mean 'evaluator_interval_s'\?\)$"):
        Settings(evaluator_intervall_s=5)


@pytest.mark.parametrize(("data", "where", "message"), [
    ({"auth": {"reed": ["sha256:" + "0" * 64]}}, "auth", "unknown key 'reed' (did you mean 'read'?)"),
    ({"rate_limits": {"ingest": {"rate": 5, "brust": 10}}}, "rate_limits.ingest",
     "unknown key 'brust' (did you mean 'burst'?)"),
])
def test_nested_settings_models_refuse_unknown_keys(tmp_path, data, where, message):
    with pytest.raises(ValidationError) as err:
        load_settings(_config(tmp_path, data))
    [error] = err.value.errors()
    assert ".".join(map(str, error["loc"])) == where and message in error["msg"]
    assert "sha256:" not in str(err.value)  # values are not echoed


def test_the_parts_name_the_path_and_the_closest_key():
    with pytest.raises(ValueError, match=re.escape("routes.routes.0.matcher: unknown key (did you mean 'matchers'?)")):
        load_router_config(Settings(receivers=[{"name": "a", "kind": "ticket"}],
                                    routes={"receiver": "a", "routes": [{"matcher": ['severity="page"']}]}))
    with pytest.raises(ValueError, match=re.escape("owners.m.reciever: unknown key (did you mean 'receiver'?)")):
        load_router_config({"receivers": [{"name": "a", "kind": "ticket"}], "owners": {"m": {"team": "t", "reciever": "a"}}})
    with pytest.raises(ValueError, match=re.escape("drift.intervl_s: unknown key (did you mean 'interval_s'?)")):
        DriftConfig.from_settings(Settings(drift={"intervl_s": 5}))
    with pytest.raises(ValueError, match=re.escape("cost.min_session: unknown key (did you mean 'min_sessions'?)")):
        CostWatchConfig.from_settings(Settings(cost={"min_session": 5}))
    # The watches' group_by is checked at start, not on every pass.
    from slo.cache_watch import CacheWatchConfig
    with pytest.raises(ValueError, match=re.escape("cache.min_drops: unknown key (did you mean 'min_drop'?)")):
        CacheWatchConfig.from_settings(Settings(cache={"min_drops": 0.2}))
    for config in (CostWatchConfig, CacheWatchConfig):
        with pytest.raises(ValueError, match=re.escape("unknown dimension 'regoin'")):
            config.from_settings(Settings(**{config.section: {"group_by": ["regoin"]}}))
    with pytest.raises(ValueError, match=re.escape("rollout_actuators[0].header: unknown key (did you mean 'headers'?)")):
        actuators_from_settings(Settings(rollout_actuators=[{"kind": "webhook", "url": "http://127.0.0.1:9/x",
                                                             "header": {"X": "y"}}]))


def test_the_parts_read_the_declared_keys(tmp_path):
    settings = load_settings(DEMO_CONFIG, database_url=f"sqlite:///{tmp_path / 'demo.db'}", rollout_dry_run=True,
                             rollout_actuators=[{"kind": "traffic_file", "path": str(tmp_path / "routes.json")}],
                             cost={"window_hours": 3})
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    router = load_router_config(settings)
    assert [r.name for r in router.receivers] == [r["name"] for r in raw["receivers"]]
    assert router.fallback_receiver == raw["fallback_receiver"] and router.repeat_interval == raw["repeat_interval"]
    assert DriftConfig.from_settings(settings).interval_s == raw["drift"]["interval_s"]
    assert CostWatchConfig.from_settings(settings).window_hours == 3
    [actuator] = actuators_from_settings(settings)
    assert str(actuator.path) == str(tmp_path / "routes.json")
    assert settings.rollout_dry_run is True


# -- environment variables ------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "suggested"), [
    ("ASRWATCH_PORTT", "ASRWATCH_PORT"),
    ("ASRWATCH_SLO", "ASRWATCH_SLOS"),
    ("ASRWATCH_AUTH__REED", "ASRWATCH_AUTH__READ"),
    ("asrwatch_normaliser", "ASRWATCH_NORMALIZER"),  # read case-insensitively, so checked so too
])
def test_an_unknown_environment_variable_is_named_with_the_closest_one(tmp_path, monkeypatch, name, suggested):
    monkeypatch.setenv(name, "secret-token-value")
    with pytest.raises(ValueError) as err:
        load_settings(_config(tmp_path, {"normalizer": "basic"}))
    message = str(err.value)
    assert message.startswith(f"{name}: unknown environment variable (did you mean {suggested}?)"), message
    assert "secret-token-value" not in message
    result = _invoke(["serve", "--config", str(tmp_path / "asrwatch.yaml"), "--port", "1"])
    assert result.exit_code == 2 and name in result.output and "secret-token-value" not in result.output


def test_known_and_other_commands_environment_variables_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("ASRWATCH_PORT", "9")
    monkeypatch.setenv("ASRWATCH_AUTH__READ", "tok")
    monkeypatch.setenv("ASRWATCH_DRIFT__INTERVAL_S", "7")
    monkeypatch.setenv("ASRWATCH_TOKEN", "client-token")  # the simulator's and the probe's
    monkeypatch.setenv("ASRWATCH_TEST_ANYTHING", "1")
    settings = load_settings(_config(tmp_path, {}))
    assert settings.port == 9 and len(settings.auth.read) == 1
    assert DriftConfig.from_settings(settings).interval_s == 7


def test_kubernetes_service_link_variables_pass(tmp_path, monkeypatch):
    """A Service named `asrwatch` puts ASRWATCH_SERVICE_* and ASRWATCH_PORT_<n>_TCP* in every pod
    of its namespace (kubernetes pkg/kubelet/envvars/envvars.go); they must not stop serve."""
    for name, value in {"ASRWATCH_SERVICE_HOST": "10.0.0.1", "ASRWATCH_SERVICE_PORT": "8080",
                        "ASRWATCH_SERVICE_PORT_HTTP": "8080", "ASRWATCH_PORT_8080_TCP": "tcp://10.0.0.1:8080",
                        "ASRWATCH_PORT_8080_TCP_ADDR": "10.0.0.1", "ASRWATCH_PORT_8080_TCP_PORT": "8080",
                        "ASRWATCH_PORT_8080_TCP_PROTO": "tcp", "ASRWATCH_PORT": "tcp://10.0.0.1:8080"}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(_config(tmp_path, {"normalizer": "basic"}))
    assert settings.normalizer == "basic" and settings.port == 8080  # the Service's address is not our port
    assert load_settings(_config(tmp_path, {"port": 9001})).port == 9001
    monkeypatch.setenv("ASRWATCH_PORT", "9002")  # a plain number is still ours
    assert load_settings(_config(tmp_path, {})).port == 9002
    monkeypatch.setenv("ASRWATCH_PORT", "http-9002")
    with pytest.raises(ValueError, match="port"):
        load_settings(_config(tmp_path, {}))
    monkeypatch.delenv("ASRWATCH_PORT")
    monkeypatch.setenv("ASRWATCH_PORTT", "9")
    with pytest.raises(ValueError, match="ASRWATCH_PORTT: unknown environment variable"):
        load_settings(_config(tmp_path, {}))


def test_every_asrwatch_variable_the_project_names_is_a_setting_or_another_commands():
    """A new command's `ASRWATCH_*` variable must be added to OTHER_ENV_VARS, or every server
    started where it is set would refuse to start."""
    pattern = re.compile(r"[\"'$`](ASRWATCH_[A-Z0-9_]*[A-Z0-9])(?![A-Za-z0-9_{<])")
    files = [ROOT / "README.md", *ROOT.glob("runbooks/*.md")]
    for package in ("asrwatch", "collector", "slo", "drift", "dashboards", "simulator", "inference_probe", "bench",
                    "tests"):
        files += [p for p in (ROOT / package).rglob("*") if p.suffix in {".py", ".md", ".yaml", ".sh"}
                  and p != Path(__file__).resolve()]  # this file names wrong ones on purpose
    names = {m.group(1) for path in files for m in pattern.finditer(path.read_text(errors="replace"))}
    assert {"ASRWATCH_TOKEN", "ASRWATCH_AUTH__READ", "ASRWATCH_TEST_POSTGRES"} <= names  # the scan sees them
    for name in sorted(names):
        unknown_env_vars({name: "x"})  # raises naming the variable
    assert OTHER_ENV_VARS.isdisjoint(f"ASRWATCH_{k.upper()}" for k in Settings.model_fields)
