"""The README's Alertmanager example is what it claims: asrwatch loads its half, the real
`amtool check-config` accepts the other."""

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from asrwatch.settings import load_settings
from prerequisites import missing
from slo.router.config import load_router_config

README = Path(__file__).parents[2] / "README.md"


def _blocks() -> list[str]:
    text = README.read_text()
    section = text.split("### Alertmanager\n", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```yaml\n(.*?)```", section, re.S)


def test_asrwatch_half_loads_with_absolute_links(tmp_path):
    ours, _ = _blocks()
    path = tmp_path / "asrwatch.yaml"
    path.write_text(ours + "database_url: sqlite://\n")
    settings = load_settings(path)
    assert settings.external_url == "https://asrwatch.example.com"
    assert settings.runbook_base == "https://asrwatch.example.com/runbooks"
    cfg = load_router_config(settings)
    assert [(r.name, r.kind) for r in cfg.receivers] == [("am", "alertmanager"), ("triage", "ticket")]
    assert cfg.routes.routes[0].receiver == "am"


def test_alertmanager_half_passes_amtool(tmp_path):
    amtool = shutil.which("amtool")
    if amtool is None:
        missing("needs amtool from the Debian package prometheus-alertmanager")
    _, theirs = _blocks()
    assert yaml.safe_load(theirs)["receivers"][0]["webhook_configs"][0]["send_resolved"] is True
    path = tmp_path / "alertmanager.yml"
    path.write_text(theirs)
    done = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
