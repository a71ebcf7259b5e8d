"""The `canary-misses-product-names` scenario (#20 part 2): its labeled samples carry their
tenant's entity terms, the canary loses the new product names while gaining WER elsewhere, and
the rollout judge, fed what the collector's scoring gives, vetoes it on the protected tenant."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from collector.measures import wer
from simulator.fleet import FleetConfig
from simulator.generate import generate
from simulator.run import scenario_set, simulate
from simulator.scenarios import SCENARIOS
from simulator.transcripts import NEW_PRODUCT_TERMS
from slo.rollout.judge import ArmStats, SliceData, Thresholds, judge

START = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
FLEET = FleetConfig(label_fraction=0.5)


def _scored_samples(hours: float = 1.0, rate: int = 240):
    active = scenario_set("canary-misses-product-names@0", START, hours)
    for batch in generate(active, START, hours, rate, 5, fleet=FLEET):
        for s in batch.samples:
            api = s.to_api()
            scores = wer.word_errors(api["reference"], api["hypothesis"], "language", language=s.slice["language"],
                                     entities=api.get("entities", ()))
            yield s, scores


def test_samples_carry_their_tenants_terms_and_the_canary_misses_the_new_names():
    recall = defaultdict(lambda: [0, 0])  # (version, tenant) -> [found, occurrences]
    for s, scores in _scored_samples(hours=0.5):
        if s.slice["tenant"] == "retail-co":
            assert set(NEW_PRODUCT_TERMS) <= set(s.entities)
        r = recall[(s.slice["model_version"], s.slice["tenant"])]
        r[0] += scores.entities_found
        r[1] += scores.entity_occurrences
    canary, stable = FLEET.canary_version, FLEET.stable_version
    drop = (recall[(stable, "retail-co")][0] / recall[(stable, "retail-co")][1]
            - recall[(canary, "retail-co")][0] / recall[(canary, "retail-co")][1])
    # New names are about 6/(6+8) of retail-co's entity occurrences: 0.43 x (0.85 - 0.05) ~ 0.34.
    assert drop == pytest.approx(0.34, abs=0.1)
    other = recall[(canary, "acme-bank")][0] / recall[(canary, "acme-bank")][1]
    assert other > recall[(stable, "acme-bank")][0] / recall[(stable, "acme-bank")][1] - 0.05


def test_the_judge_vetoes_the_canary_on_the_protected_tenant_despite_its_wer_gain():
    arms = defaultdict(lambda: {"pairs": defaultdict(int), "entities": 0, "found": 0, "n": 0})
    for s, scores in _scored_samples():
        a = arms[(s.slice["model_version"], s.slice["tenant"])]
        a["pairs"][(scores.errors, scores.ref_words)] += 1
        a["entities"] += scores.entity_occurrences
        a["found"] += scores.entities_found
        a["n"] += 1

    def arm(version, tenant):
        a = arms[(version, tenant)]
        return ArmStats(wer_pairs=dict(a["pairs"]), entity_occurrences=a["entities"], entities_found=a["found"],
                        sessions=a["n"], successful_turns=a["n"])

    tenants = sorted({t for _, t in arms})
    parts = [SliceData({"tenant": t}, arm(FLEET.canary_version, t), arm(FLEET.stable_version, t)) for t in tenants]
    v = judge(parts, protected=[{"tenant": "retail-co"}], thresholds=Thresholds(min_sessions=100), at=START)
    assert v.decision == "rollback", v.reasons
    assert any(r.startswith("entity recall drop in tenant=retail-co") for r in v.reasons), v.reasons
    assert v.metrics["slices"]["tenant=acme-bank"]["tests"]["wer"]["effect"] < 0  # better where names are not new
    assert SCENARIOS["canary-misses-product-names"].should_fire


def test_the_collector_reports_the_canarys_entity_recall_drop(collector):
    start = datetime(2026, 10, 21, 12, 0, tzinfo=timezone.utc)  # a day no other simulator test writes
    report = simulate(collector.url, collector.tokens["ingest"], "canary-misses-product-names@0", start=start,
                      hours=1.0, rate=80, seed=3, label_fraction=0.5, progress=False)
    assert report.stats.rejected == 0, report.stats.first_rejection
    with collector.client("read") as http:
        rows = http.get("/api/v1/wer", params={"since": start.isoformat(), "until": (start + timedelta(hours=1)).isoformat(),
                                               "group_by": "model_version,tenant"}).json()
    by = {(r["model_version"], r["tenant"]): r for r in rows}
    canary, stable = by[(FLEET.canary_version, "retail-co")], by[(FLEET.stable_version, "retail-co")]
    assert canary["entity_occurrences"] > 100 and stable["entity_occurrences"] > 300
    assert stable["entity_recall"] - canary["entity_recall"] > 0.2
