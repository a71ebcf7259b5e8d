"""Flagger and Argo Rollouts against our real app, through models of how each peer decides.

Both peers run in Kubernetes, outside this machine, so each is reproduced here as a small
"peer model": the decision its source code makes from our (status code, body), with the file
that defines it named beside each rule. The models are driven by the Canary and the
AnalysisTemplate exactly as slo/rollout/INTEGRATIONS.md documents them (parsed from the
page), against the collector's FastAPI app on SQLite and PostgreSQL, for each kind of verdict:
continue, pause (too little data), missing data (none at all), rollback, and a rollout name
that is not registered.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from fastapi.testclient import TestClient

from asrwatch.server import create_app
from asrwatch.settings import Settings
from collector.store.database import migrate
from slo.rollout import service

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
sys.path.insert(0, str(Path(__file__).parent.parent))
from postgres import create_database, drop_database  # noqa: E402
from rollout_synthetic import insert, traffic  # noqa: E402

INTEGRATIONS = Path(__file__).parents[2] / "slo" / "rollout" / "INTEGRATIONS.md"
README = Path(__file__).parents[2] / "README.md"
# Peers do not send `at`: they are judged at the collector's clock, so the data sit in the hour
# before the last one, inside the default 24 h lookback however long the suite runs.
START = (datetime.now(timezone.utc) - timedelta(hours=2)).replace(second=0, microsecond=0)
# What each registered rollout's stored data make the judge say (asserted in the first test).
CASES = {
    "good": ("v2", "continue"),      # the same error rates as the baseline
    "bad": ("v3", "rollback"),       # far-field WER doubled: a protected slice regresses
    "sparse": ("v4", "pause"),       # 40 canary sessions: too little data
    "empty": ("v5", "pause"),        # registered, no canary traffic at all: missing data
}
UNKNOWN = "ghost"  # never registered


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def client(request, tmp_path_factory):
    url = (f"sqlite:///{tmp_path_factory.mktemp('peers') / 'asrwatch.db'}" if request.param == "sqlite"
           else create_database())
    app = create_app(Settings(database_url=url, evaluator_enabled=False))
    # No lifespan (no `with`): the routes and the database are the real ones, and the rollout
    # evaluator's background pass, which would act on `bad`, does not run beside the peers.
    migrate(app.state.services.engine)
    engine = app.state.services.engine
    insert(engine, traffic("v1", 1500, seed=7), START)
    insert(engine, traffic("v2", 1500, seed=8), START)
    insert(engine, traffic("v3", 1500, wer_scale={"far_field": 2.0}, seed=9), START)
    insert(engine, traffic("v4", 40, seed=4), START)
    for name, (canary, _) in CASES.items():
        spec = service.RolloutSpec(name=name, baseline_version="v1", canary_version=canary,
                                   slice_by=["channel", "region"], protected_slices=[{"channel": "far_field"}],
                                   min_utterances=200)
        service.register(engine, spec, actor="test", at=START)
    try:
        yield TestClient(app)
    finally:
        engine.dispose()
        if request.param == "postgresql":
            drop_database(url)


def documented(kind: str, page: Path = INTEGRATIONS) -> dict:
    """The YAML block of `page` whose `kind` is `kind`, as a user would paste it."""
    blocks = re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S)
    # Only blocks that name the kind are parsed: other peers' examples are theirs to check.
    docs = [doc for block in blocks if f"kind: {kind}" in block for doc in yaml.safe_load_all(block)]
    found = [doc for doc in docs if isinstance(doc, dict) and doc.get("kind") == kind]
    assert len(found) == 1, f"{page.name} should have exactly one {kind}"
    return found[0]


def test_readme_examples_are_the_short_forms_of_the_tested_ones():
    hooks = [(h["type"], h["url"]) for h in documented("Canary", README)["spec"]["analysis"]["webhooks"]]
    assert hooks == [(h["type"], h["url"]) for h in documented("Canary")["spec"]["analysis"]["webhooks"]]
    (short,) = documented("AnalysisTemplate", README)["spec"]["metrics"]
    (full,) = documented("AnalysisTemplate")["spec"]["metrics"]
    for key in ("count", "successCondition", "failureCondition"):
        assert short[key] == full[key], key
    assert short["provider"]["web"]["url"] == full["provider"]["web"]["url"]
    assert short["provider"]["web"]["jsonPath"] == full["provider"]["web"]["jsonPath"]
    # Left out of the short form, Argo's defaults equal the full form's explicit values
    # (analysis/analysis.go: a missing failureLimit or inconclusiveLimit is 0;
    # utils/defaults/defaults.go: DefaultConsecutiveErrorLimit is 4).
    assert (full.get("failureLimit"), full.get("inconclusiveLimit"), full.get("consecutiveErrorLimit")) == (0, 0, 4)
    assert not {"failureLimit", "inconclusiveLimit", "consecutiveErrorLimit"} & set(short)


# --- Argo Rollouts ------------------------------------------------------------------------


def go_json(body: bytes):
    """encoding/json.Unmarshal: strict JSON, no NaN or Infinity (Python's json accepts them)."""
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    return json.loads(body, parse_constant=refuse)


def argo_condition(expression: str):
    # utils/evaluate/evaluate.go EvalCondition runs expr-lang; the documented conditions are all
    # of the one form `result == "<string>"`, which this reproduces (any other form fails here).
    match = re.fullmatch(r'\s*result\s*==\s*"([^"]*)"\s*', expression)
    assert match, f"condition {expression!r} is not of the form result == \"...\""
    return lambda result: result == match.group(1)


def argo_measurement(metric: dict, status: int, body: bytes) -> str:
    """One measurement's phase, as argoproj/argo-rollouts metricproviders/webmetric/webmetric.go
    (Run, parseResponse) and utils/evaluate/evaluate.go (EvaluateResult) decide it."""
    if not 200 <= status < 300:
        return "Error"  # Run: "received non 2xx response code"
    try:
        data = go_json(body)
    except ValueError:
        return "Successful"  # parseResponse: a body that is not JSON is returned as a string, Successful
    key = re.fullmatch(r"\{\$\.(\w+)\}", metric["provider"]["web"]["jsonPath"]).group(1)
    if not isinstance(data, dict) or key not in data:
        return "Error"  # parseResponse: "Could not find JSONPath in body"
    result = data[key]
    success = argo_condition(metric["successCondition"])(result)
    failure = argo_condition(metric["failureCondition"])(result)
    if failure:
        return "Failed"
    return "Successful" if success else "Inconclusive"


def argo_metric(metric: dict, measure) -> str:
    """The metric's phase once complete: analysis/analysis.go (runMeasurements counts each phase;
    an Error does not count toward `count`; assessMetricFailureInconclusiveOrError, where a later
    check wins; then `count` reached is Successful). consecutiveErrorLimit defaults to 4
    (utils/defaults/defaults.go DefaultConsecutiveErrorLimit)."""
    failed = inconclusive = count = consecutive_errors = 0
    for _ in range(50):
        phase = measure()
        if phase == "Error":
            consecutive_errors += 1
        else:
            count, consecutive_errors = count + 1, 0
            failed += phase == "Failed"
            inconclusive += phase == "Inconclusive"
        assessed = None
        if failed > metric.get("failureLimit", 0):
            assessed = "Failed"
        if inconclusive > metric.get("inconclusiveLimit", 0):
            assessed = "Inconclusive"
        if consecutive_errors > metric.get("consecutiveErrorLimit", 4):
            assessed = "Error"
        if assessed:
            return assessed
        if count >= metric["count"]:
            return "Successful"
    raise AssertionError("the documented metric never completes")


# rollout/analysis.go: an Inconclusive run adds PauseReasonInconclusiveAnalysis; Error and Failed
# abort the rollout (the basic canary then goes back to the stable version).
ARGO_ROLLOUT = {"Successful": "next step", "Inconclusive": "paused", "Failed": "aborted", "Error": "aborted"}


def argo_analysis_step(client: TestClient, rollout: str) -> tuple[str, str, dict]:
    """The documented AnalysisTemplate as one analysis step for `rollout`: (run phase, what the
    Rollout does, the last body)."""
    template = documented("AnalysisTemplate")
    (metric,) = template["spec"]["metrics"]
    web = metric["provider"]["web"]
    url = web["url"].replace("{{args.rollout}}", rollout)
    headers = {h["key"]: h["value"].replace("{{args.token}}", "read-token") for h in web.get("headers", [])}
    last: dict = {}

    def measure() -> str:
        response = client.request(web.get("method", "GET"), urlsplit(url).path, headers=headers)
        last.update(response=response)
        return argo_measurement(metric, response.status_code, response.content)

    phase = argo_metric(metric, measure)
    return phase, ARGO_ROLLOUT[phase], last["response"].json()


def test_each_case_gives_the_verdict_it_stands_for(client):
    for name, (_, decision) in CASES.items():
        body = client.get(f"/api/v1/rollouts/{name}/verdict").json()
        assert body["decision"] == decision, (name, body["reasons"])
    assert client.get("/api/v1/rollouts/empty/verdict").json()["reasons"][0].startswith(
        "insufficient data: canary 0,")


@pytest.mark.parametrize("rollout, run_phase, rollout_does", [
    ("good", "Successful", "next step"),
    ("sparse", "Inconclusive", "paused"),
    ("empty", "Inconclusive", "paused"),
    ("bad", "Failed", "aborted"),
    (UNKNOWN, "Inconclusive", "paused"),
])
def test_argo_documented_template_reads_each_verdict(client, rollout, run_phase, rollout_does):
    phase, effect, body = argo_analysis_step(client, rollout)
    assert (phase, effect) == (run_phase, rollout_does), body["reasons"]
    if rollout == UNKNOWN:
        # As INTEGRATIONS.md says: 200 and a pause naming the problem, never a 404 (an Error).
        assert body["decision"] == "pause" and "'ghost' is not registered" in body["reasons"][0]
        assert body["metrics"]["rollout"] == {"name": "ghost", "registered": False}


# --- Flagger --------------------------------------------------------------------------------


def flagger_call_ok(status: int) -> bool:
    return status <= 202  # fluxcd/flagger pkg/controller/webhook.go callWebhook: StatusCode > 202 is an error


def flagger_analysis(webhooks: list[dict], call, *, threshold: int, step_weight: int, max_weight: int,
                     intervals: int = 12) -> dict:
    """Flagger's canary analysis reduced to its webhooks, in the order of
    fluxcd/flagger pkg/controller/scheduler.go advanceCanary, with the hook semantics of
    pkg/controller/scheduler_hooks.go:
    - checkCanaryStatus: confirm-rollout gates the start (a failed call: phase Waiting);
    - runRollbackHooks (Progressing, Waiting, WaitingPromotion): one 2xx rolls back now;
    - FailedChecks >= analysis.threshold rolls back;
    - first interval (weight 0): pre-rollout hooks; later, runAnalysis: every `rollout` (or untyped)
      webhook, a failed call is SetStatusFailedChecks(+1) and the interval ends;
    - confirm-traffic-increase (not while WaitingPromotion): a failed call waits, nothing counted;
    - runCanary: below maxWeight the weight steps up; at it, confirm-promotion: a failed call is
      WaitingPromotion, nothing counted; otherwise Promote."""
    def passes(kind: str) -> bool:
        return all(flagger_call_ok(call(w)) for w in webhooks if (w.get("type") or "rollout") == kind)

    def rollback_hook_fires() -> bool:
        return any(flagger_call_ok(call(w)) for w in webhooks if w.get("type") == "rollback")

    phase, weight, failed = "Initialized", 0, 0
    for _ in range(intervals):
        if phase in ("Initialized", "Waiting"):
            phase = "Progressing" if passes("confirm-rollout") else "Waiting"
            continue
        if rollback_hook_fires():
            return {"outcome": "rolled back", "by": "rollback hook", "failed_checks": failed, "weight": weight}
        if failed >= threshold:
            return {"outcome": "rolled back", "by": "failed checks", "failed_checks": failed, "weight": weight}
        if weight > 0 and not passes("rollout"):
            failed += 1
            continue
        if phase != "WaitingPromotion" and weight < max_weight and not passes("confirm-traffic-increase"):
            continue
        if weight < max_weight:
            weight = min(weight + step_weight, max_weight)
            continue
        if not passes("confirm-promotion"):
            phase = "WaitingPromotion"
            continue
        return {"outcome": "promoted", "failed_checks": failed, "weight": weight}
    return {"outcome": f"waiting ({phase})", "failed_checks": failed, "weight": weight}


def flagger_caller(client: TestClient, rollout: str, seen: list):
    """Flagger's POST (CanaryWebhookPayload: name, namespace, phase, checksum, metadata) to the
    webhook's URL with the documented rollout name swapped for `rollout`. Each distinct call is
    answered by the app once: the stored data do not change between these intervals."""
    answers: dict[str, int] = {}

    def call(webhook: dict) -> int:
        path = urlsplit(webhook["url"]).path.replace("/flagger/asr-v2", f"/flagger/{rollout}")
        if path not in answers:
            payload = {"name": "asr-decoder", "namespace": "speech", "phase": "Progressing",
                       "checksum": "5f6c1a", "metadata": webhook.get("metadata") or {}}
            response = client.post(path, json=payload)
            seen.append((path, response.status_code, response.json()))
            answers[path] = response.status_code
        return answers[path]
    return call


def run_canary(client: TestClient, rollout: str, canary: dict, seen: list | None = None) -> dict:
    analysis = canary["spec"]["analysis"]
    return flagger_analysis(analysis["webhooks"], flagger_caller(client, rollout, [] if seen is None else seen),
                            threshold=analysis["threshold"], step_weight=analysis["stepWeight"],
                            max_weight=analysis["maxWeight"])


def test_documented_canary_points_each_webhook_at_its_own_type():
    canary = documented("Canary")
    assert canary["apiVersion"] == "flagger.app/v1beta1"
    hooks = canary["spec"]["analysis"]["webhooks"]
    assert {h["type"] for h in hooks} == {"rollback", "confirm-promotion"}
    for hook in hooks:
        assert urlsplit(hook["url"]).path == f"/api/v1/flagger/asr-v2/{hook['type']}"


@pytest.mark.parametrize("rollout, outcome", [
    ("good", {"outcome": "promoted", "failed_checks": 0, "weight": 50}),
    # Too little data or none: traffic steps up to maxWeight, then Flagger waits; no failed check.
    ("sparse", {"outcome": "waiting (WaitingPromotion)", "failed_checks": 0, "weight": 50}),
    ("empty", {"outcome": "waiting (WaitingPromotion)", "failed_checks": 0, "weight": 50}),
    # Rollback hooks run from the first Progressing interval, before any weight step.
    ("bad", {"outcome": "rolled back", "by": "rollback hook", "failed_checks": 0, "weight": 0}),
    (UNKNOWN, {"outcome": "waiting (WaitingPromotion)", "failed_checks": 0, "weight": 50}),
])
def test_flagger_documented_canary_on_each_verdict(client, rollout, outcome):
    seen: list = []
    assert run_canary(client, rollout, documented("Canary"), seen) == outcome, seen


# Per hook type: the status for continue, pause, rollback, and a rollout not registered, which
# is answered as pause on every type (it was 404 before issue #16: a failed call, which on a
# `type: rollout` hook counted failed checks until Flagger rolled the canary back).
TYPED = {
    "confirm-rollout": (200, 412, 412, 412),
    "confirm-traffic-increase": (200, 412, 412, 412),
    "confirm-promotion": (200, 412, 412, 412),
    "rollback": (412, 412, 200, 412),
    "rollout": (200, 200, 412, 200),
}


@pytest.mark.parametrize("hook", sorted(TYPED))
def test_each_flagger_hook_type_is_answered_by_its_meaning(client, hook):
    payload = {"name": "asr-decoder", "namespace": "speech", "phase": "Progressing", "checksum": "5f6c1a"}
    got = tuple(client.post(f"/api/v1/flagger/{name}/{hook}", json=payload).status_code
                for name in ("good", "sparse", "bad", UNKNOWN))
    assert got == TYPED[hook]
    missing = client.post(f"/api/v1/flagger/empty/{hook}", json=payload)
    assert missing.status_code == TYPED[hook][1]  # no data at all answers like too little
    body = missing.json()
    assert body["decision"] == "pause" and body["registered"] is True
    assert body["flagger"] == {**payload, "hook": hook, "effect": body["flagger"]["effect"]}
    assert body["verdict_url"].startswith("/api/v1/rollouts/empty/verdict?at=") and "metrics" not in body
    ghost = client.post(f"/api/v1/flagger/{UNKNOWN}/{hook}", json=payload).json()
    assert ghost["registered"] is False and "'ghost' is not registered" in ghost["reasons"][0]
    assert ghost["decision"] == "pause" and ghost["flagger"]["effect"] == body["flagger"]["effect"]


def one_hook_canary(hook: str, url: str = "http://asrwatch:8080/api/v1/flagger/asr-v2") -> dict:
    return {"spec": {"analysis": {"threshold": 3, "stepWeight": 10, "maxWeight": 50,
                                  "webhooks": [{"name": "gate", "type": hook, "url": f"{url}/{hook}"}]}}}


@pytest.mark.parametrize("hook, outcome", [
    ("confirm-rollout", "waiting (Waiting)"),                       # never starts
    ("confirm-traffic-increase", "waiting (Progressing)"),          # stays at 0%
    ("confirm-promotion", "waiting (WaitingPromotion)"),            # held before promotion
    ("rollback", "promoted"),                                       # no rollback (nothing else gates it)
    ("rollout", "promoted"),                                        # a passed check, never a failed one
])
def test_flagger_never_rolls_back_a_canary_for_a_rollout_name_not_registered(client, hook, outcome):
    # A typo in the hook's URL (or a registration not made yet) is a pause on every type, never
    # a failed check: Flagger's FailedChecks stay 0 and no rollback hook fires.
    seen: list = []
    result = run_canary(client, UNKNOWN, one_hook_canary(hook), seen)
    assert result["outcome"] == outcome and result["failed_checks"] == 0, seen
    assert all(status in (200, 412) and body["registered"] is False for _, status, body in seen)


def test_flagger_metadata_names_the_rollout_and_pins_the_time(client):
    at = (START - timedelta(minutes=1)).isoformat()  # before any traffic: too little data
    body = {"name": "asr-decoder", "metadata": {"rollout": "good", "at": at}}
    early = client.post("/api/v1/flagger/asr-decoder/confirm-promotion", json=body)
    assert early.status_code == 412 and early.json()["rollout"] == "good"
    assert early.json()["reasons"][0].startswith("insufficient data: canary 0,")
    now = client.post("/api/v1/flagger/asr-decoder/confirm-promotion", json={"metadata": {"rollout": "good"}})
    assert now.status_code == 200 and now.json()["decision"] == "continue"


def test_unknown_hook_type_is_an_error_naming_the_types(client):
    response = client.post("/api/v1/flagger/good/confirm-promote", json={})
    assert response.status_code == 422
    assert all(t in response.text for t in TYPED)


def test_untyped_gate_is_kept_and_the_typed_rollout_hook_stops_false_rollbacks(client):
    # The untyped path, as documented before: 200 only on continue, 412 otherwise, 404 unknown.
    got = tuple(client.post(f"/api/v1/flagger/{name}", json={}).status_code
                for name in ("good", "sparse", "bad", UNKNOWN))
    assert got == (200, 412, 412, 404)
    gate = client.post("/api/v1/flagger/sparse", json={"namespace": "speech", "type": "rollout"}).json()
    assert gate["flagger"]["namespace"] == "speech" and gate["metrics"]["canary"]["sessions"] == 40

    # As a `type: rollout` webhook it made Flagger roll back a canary that only lacked data...
    untyped = {"spec": {"analysis": {"threshold": 3, "stepWeight": 10, "maxWeight": 50, "webhooks": [
        {"name": "gate", "type": "rollout", "url": "http://asrwatch:8080/api/v1/flagger/asr-v2"}]}}}
    old = run_canary(client, "sparse", untyped)
    assert old == {"outcome": "rolled back", "by": "failed checks", "failed_checks": 3, "weight": 10}
    # ...the typed rollout path counts no failed check on pause (and alone never holds: the
    # documented Canary holds promotion with confirm-promotion), and still fails on rollback.
    typed = run_canary(client, "sparse", one_hook_canary("rollout"))
    assert typed["failed_checks"] == 0 and typed["outcome"] == "promoted"
    bad = run_canary(client, "bad", one_hook_canary("rollout"))
    assert bad == {"outcome": "rolled back", "by": "failed checks", "failed_checks": 3, "weight": 10}
