"""A real Alertmanager (Debian prometheus-alertmanager) on loopback receives routed alerts."""

import shutil
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from prerequisites import missing

from collector.store.database import make_engine, migrate
from slo.alert import Alert
from slo.router import payloads
from slo.router.config import load_router_config
from slo.router.dispatcher import Notification
from slo.router.payloads import webhook_v4
from slo.router.service import AlertRouter

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
from polling import wait_for  # noqa: E402
from router_receivers import Receiver  # noqa: E402

AM_BINARY = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def alertmanager(tmp_path):
    if not Path(AM_BINARY).exists():
        missing("needs the Debian package prometheus-alertmanager")
    with Receiver() as hook:
        (tmp_path / "am.yml").write_text(f"""
route:
  receiver: hook
  group_by: [alertname, slo]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook.url}/am
        send_resolved: true
""")
        port = _port()
        proc = subprocess.Popen(
            [AM_BINARY, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "am.log", "wb"))
        url = f"http://127.0.0.1:{port}"
        try:
            def ready():
                try:
                    return httpx.get(url + "/-/ready", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return proc.poll() is not None and pytest.fail((tmp_path / "am.log").read_text())
            wait_for(ready, what="alertmanager ready")
            yield url, hook
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_routed_alert_reaches_real_alertmanager_and_resolves(alertmanager, tmp_path):
    am_url, hook = alertmanager
    engine = make_engine(f"sqlite:///{tmp_path}/router.db")
    migrate(engine)
    cfg = load_router_config({
        "receivers": [{"name": "am", "kind": "alertmanager", "url": am_url},
                      {"name": "tickets", "kind": "ticket"}],
        "routes": {"receiver": "tickets", "routes": [{"matchers": ['severity="page"'], "receiver": "am"}]},
        "group_wait": "0s", "group_interval": "1s",
    })
    now = datetime.now(timezone.utc).replace(microsecond=0)
    labels = {"alertname": "SLOBurnRatePage", "severity": "page", "slo": "final-latency", "region": "eu",
              "model_version": "whisper-large-v3"}
    alert = Alert(name="SLOBurnRatePage", severity="page", labels=labels, summary="final-latency burning 14.4x",
                  runbook_url="https://runbooks.example/slo-burn.md", starts_at=now - timedelta(minutes=5))
    router = AlertRouter(engine, cfg)
    deliveries = router.process([alert], now)
    assert [d.result.delivered for d in deliveries] == [True]

    active = httpx.get(am_url + "/api/v2/alerts", params={"active": "true"}).json()
    assert len(active) == 1
    assert active[0]["labels"] == labels
    assert active[0]["annotations"]["summary"] == "final-latency burning 14.4x"
    assert active[0]["annotations"]["runbook_url"] == "https://runbooks.example/slo-burn.md"
    assert active[0]["receivers"][0]["name"] == "hook"
    # An explicit endsAt a few resend intervals ahead keeps it active while we re-send.
    ends = datetime.fromisoformat(active[0]["endsAt"].replace("Z", "+00:00"))
    assert ends >= now + timedelta(seconds=239)

    # Alertmanager routes it on to its own webhook receiver: the v4 payload we also emit.
    firing = wait_for(lambda: [r["json"] for r in hook.requests if r["json"]["status"] == "firing"],
                   what="alertmanager webhook (firing)")[0]
    ours = webhook_v4(Notification("hook", "k", {"alertname": "SLOBurnRatePage", "slo": "final-latency"},
                                   (alert,), (), now))
    assert set(ours) == set(firing)
    assert set(ours["alerts"][0]) == set(firing["alerts"][0])
    assert firing["alerts"][0]["labels"] == labels and firing["version"] == "4"

    # Resolved as of `now` (already past on Alertmanager's clock), noticed a second later.
    router.process([alert.resolve(now)], now + timedelta(seconds=1))
    wait_for(lambda: [r for r in hook.requests if r["json"]["status"] == "resolved"],
          what="alertmanager webhook (resolved)")
    assert httpx.get(am_url + "/api/v2/alerts", params={"active": "true"}).json() == []
    engine.dispose()


EXT = "https://asrwatch.example.com"


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize("behind", [timedelta(0), timedelta(hours=6)], ids=["wall", "watermark"])
def test_alert_is_active_then_resolved_in_alertmanager_whatever_its_event_time(alertmanager, tmp_path, behind):
    """evaluator_clock: wall judges at the wall clock; watermark (replays, backfills, the demo) at
    the newest ingested event minute, here six hours behind. Alertmanager judges startsAt/endsAt
    on its own wall clock, so either way the alert must show as active, be notified firing by
    Alertmanager's own webhook receiver, and then be notified resolved."""
    am_url, hook = alertmanager
    engine = make_engine(f"sqlite:///{tmp_path}/router.db")
    migrate(engine)
    cfg = load_router_config({"receivers": [{"name": "am", "kind": "alertmanager", "url": am_url}],
                              "routes": {"receiver": "am"}, "group_wait": "0s", "group_interval": "1m"})
    wall_before = datetime.now(timezone.utc)
    at = wall_before - behind  # the evaluator's `at`: event time
    labels = {"alertname": "SLOErrorBudgetBurn", "severity": "page", "slo": "availability", "model_version": "v2"}
    alert = Alert(name="SLOErrorBudgetBurn", severity="page", labels=labels, summary="availability burning 14.4x",
                  runbook_url="/runbooks/slo-burn-availability", starts_at=at - timedelta(minutes=10))
    router = AlertRouter(engine, cfg, external_url=EXT)  # the real wall clock: Alertmanager's too
    assert [d.result.delivered for d in router.process([alert], at)] == [True]

    active = httpx.get(am_url + "/api/v2/alerts", params={"active": "true"}).json()
    assert [a["labels"] for a in active] == [labels]
    assert active[0]["status"]["state"] == "active"
    wall_after = datetime.now(timezone.utc)
    assert _at(active[0]["endsAt"]) > wall_after
    assert wall_before - timedelta(minutes=10, seconds=1) <= _at(active[0]["startsAt"]) <= wall_after
    assert active[0]["annotations"]["event_starts_at"] == payloads.rfc3339(alert.starts_at)
    assert active[0]["annotations"]["runbook_url"] == EXT + "/runbooks/slo-burn-availability"

    firing = wait_for(lambda: [r["json"] for r in hook.requests if r["json"]["status"] == "firing"],
                      what="alertmanager webhook (firing)")[0]
    assert firing["alerts"][0]["labels"] == labels
    assert firing["alerts"][0]["generatorURL"] == EXT + "/runbooks/slo-burn-availability"

    ends = at + timedelta(minutes=1)
    assert [d.result.delivered for d in router.process([alert.resolve(ends)], ends)] == [True]
    resolved = wait_for(lambda: [r["json"] for r in hook.requests if r["json"]["status"] == "resolved"],
                        what="alertmanager webhook (resolved)")[0]
    told = resolved["alerts"][0]["annotations"]
    assert told["summary"].startswith("RESOLVED at ") and "burning" not in told["summary"]
    assert told["event_ends_at"] == payloads.rfc3339(ends)
    assert httpx.get(am_url + "/api/v2/alerts", params={"active": "true"}).json() == []
    router.close()
    engine.dispose()


def test_resolution_reaches_an_alertmanager_whose_clock_lags(alertmanager, tmp_path):
    """Our clock 30 s ahead of Alertmanager's. A resolution stamped endsAt = our now would be in
    Alertmanager's future: types.go `Alert.Merge` would keep the held firing endsAt (now + 4 min)
    and the resolution would show only when that expires. Ending it a margin before our now, it
    is past there too and Alertmanager notifies it at once."""
    am_url, hook = alertmanager
    engine = make_engine(f"sqlite:///{tmp_path}/router.db")
    migrate(engine)
    cfg = load_router_config({"receivers": [{"name": "am", "kind": "alertmanager", "url": am_url}],
                              "routes": {"receiver": "am"}, "group_wait": "0s", "group_interval": "1m"})
    skew = timedelta(seconds=30)
    router = AlertRouter(engine, cfg, wall_clock=lambda: datetime.now(timezone.utc) + skew)
    at = datetime.now(timezone.utc) + skew
    labels = {"alertname": "SLOErrorBudgetBurn", "severity": "page", "slo": "availability", "model_version": "v2"}
    alert = Alert(name="SLOErrorBudgetBurn", severity="page", labels=labels, summary="availability burning 14.4x",
                  runbook_url="https://runbooks.example/slo-burn.md", starts_at=at - timedelta(minutes=10))
    assert [d.result.delivered for d in router.process([alert], at)] == [True]
    wait_for(lambda: [r for r in hook.requests if r["json"]["status"] == "firing"], what="firing notified")
    ends = at + timedelta(minutes=1)  # event time: the group's next flush
    assert [d.result.delivered for d in router.process([alert.resolve(ends)], ends)] == [True]
    resolved = wait_for(lambda: [r["json"] for r in hook.requests if r["json"]["status"] == "resolved"],
                        what="alertmanager webhook (resolved) despite its lagging clock")[0]
    assert resolved["alerts"][0]["labels"] == labels
    assert httpx.get(am_url + "/api/v2/alerts", params={"active": "true"}).json() == []
    router.close()
    engine.dispose()
