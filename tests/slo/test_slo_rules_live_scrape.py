"""The bundled demo config's exported rules against a live collector's `/metrics`.

A real collector (`asrwatch serve`, the demo config's SLOs, receivers and loops) ingests
sessions and labeled samples over HTTP and is scraped twice. `asrwatch slo rules` exports the
rules for the same config file; `promtool check rules` accepts them. Then:
- every vector selector in every rule expression names a metric the scrape has, with label
  names the metric carries, `le` edges that are buckets of it, and matches at least one of its
  series; Prometheus' own matching (`count(<selector>)` in `promtool test rules`, on series made
  of the scrape) agrees with the count read from the scrape here;
- the recording rules, run by promtool on the two scrapes as series, give per group the error
  ratios and event counts that the ingested records say, for the whole run and for the last
  5 minutes (the second batch only).

test_slo_promtool_scrapes.py compares alerts over hours of scrapes of an in-process app with
SLOs of its own; this one is about the selectors and buckets of the config users start from.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from live_collector import running_collector
from prerequisites import need_program
from prometheus_client.parser import text_string_to_metric_families
from promtool_unit import promtool_test
from typer.testing import CliRunner

from asrwatch.cli import app

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "asrwatch" / "demo_config.yaml"
DEMO = yaml.safe_load(DEMO_CONFIG.read_text())
SLOS = {s["name"]: s for s in DEMO["slos"]}
HYPOTHESIS = "turn on the lights"
# Labeled references and the WER each gives against HYPOTHESIS: the quality SLO's edge (0.5) is good.
REFERENCES = {"turn on the lights": 0.0, "turn off the lamps": 0.5, "open the garage door now please": 1.0}
# promtool's frame: the first scrape is the sample at minutes 0-5, the second at 6-10.
FIRST, SECOND, EVAL = range(0, 6), range(6, 11), 10
CREATED_BEFORE_FIRST = -30.0  # children that exist at the first scrape
CREATED_BETWEEN = 330.0  # children born in the second batch: after 5m30s, before the 6m scrape
SELECTOR = re.compile(r'\b(asrwatch_[A-Za-z0-9_]+)(\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\})?')
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def _session(i: int, now: datetime, batch: str) -> dict:
    tenants = [*SLOS["availability"]["filters"]["tenant"][:3], "probe"]  # probe: outside every filter
    status = ["ok", "ok", "timeout", "ok", "decode_error", "ok", "dropped", "partial"][i % 8]
    return {
        "session_id": f"{batch}{i}", "ts": (now - timedelta(minutes=30 - i % 20)).isoformat(),
        "tenant": tenants[i % 4], "model_version": "m3" if batch == "b" and i % 5 == 0 else ["m1", "m2"][i // 4 % 2],
        "channel": ["web", "telephony"][i // 8 % 2], "region": "ap" if batch == "b" and i % 7 == 0 else
        ["eu", "us"][i // 2 % 2], "status": status,
        "final_latency_ms": [400.0, 2000.0, 2000.5, 3500.0, 1200.0][i % 5],  # 2000 is within the 2 s SLO
        "hypothesis": "" if i % 9 == 0 else HYPOTHESIS,
        # The fallback SLO's events: the paid API serves some, one in ten names no backend.
        **({} if i % 10 == 3 else {"backend": "api" if i % 6 == 0 else "self_hosted"}),
    }


def _batches(now: datetime) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """(sessions, samples) of the first batch, then of the second. Second-batch samples also label
    first-batch sessions; the second batch brings new label sets (model m3, region ap)."""
    a = [_session(i, now, "a") for i in range(48)]
    b = [_session(i, now, "b") for i in range(48)]
    refs = list(REFERENCES)
    a_samples = [{"session_id": s["session_id"], "reference": refs[i % 3]}
                 for i, s in enumerate(a) if s["hypothesis"] and i % 2 == 0]
    labeled = {s["session_id"] for s in a_samples}  # a second human label would be a duplicate
    b_samples = [{"session_id": s["session_id"], "reference": refs[i // 3 % 3]}
                 for i, s in enumerate(a + b) if s["hypothesis"] and i % 3 == 1 and s["session_id"] not in labeled]
    return a, a_samples, b, b_samples


def _expected(sessions: list[dict], samples: list[dict]) -> dict[str, dict[tuple, tuple[int, int]]]:
    """SLO -> group labels (sorted items) -> (events, bad events), from the records alone."""
    by_id = {s["session_id"]: s for s in sessions}
    out: dict[str, dict[tuple, list[int]]] = {name: defaultdict(lambda: [0, 0]) for name in SLOS}

    def add(name: str, record: dict, bad: bool) -> None:
        spec = SLOS[name]
        if record["tenant"] not in spec["filters"]["tenant"]:
            return
        counts = out[name][tuple(sorted((d, record[d]) for d in spec.get("group_by", [])))]
        counts[0] += 1
        counts[1] += bad

    for s in sessions:
        add("availability", s, s["status"] != "ok")
        add("final-latency", s, s["final_latency_ms"] > SLOS["final-latency"]["threshold_ms"])
        add("decode-errors", s, s["status"] == "decode_error" or (s["status"] == "ok" and not s["hypothesis"].strip()))
        if "backend" in s:
            add("self-hosted-serves", s, s["backend"] == "api")
    for sample in samples:
        if sample["session_id"] in by_id:
            add("transcript-quality", by_id[sample["session_id"]],
                REFERENCES[sample["reference"]] > SLOS["transcript-quality"]["max_wer"])
    return {name: {g: (c[0], c[1]) for g, c in groups.items()} for name, groups in out.items()}


def _scrape(client) -> dict[str, dict]:
    """series text (`name{labels}`) -> {name, labels, value}, as Prometheus' text parser reads them."""
    response = client.get("/metrics")
    assert response.status_code == 200
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[_series_text(sample.name, sample.labels)] = {"name": sample.name, "labels": dict(sample.labels),
                                                             "value": sample.value}
    return out


def _series_text(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)  # PromQL string escapes (\\ and \" here)


def _matches(series: dict, matchers: list[tuple[str, str, str]]) -> bool:
    for label, op, value in matchers:
        have = series["labels"].get(label, "")
        ok = {"=": have == value, "!=": have != value,
              "=~": re.fullmatch(value, have) is not None, "!~": re.fullmatch(value, have) is None}[op]
        if not ok:
            return False
    return True


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The live collector's two scrapes, the records behind them and the exported rules."""
    tmp = tmp_path_factory.mktemp("live-scrape")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    a, a_samples, b, b_samples = _batches(now)
    with running_collector(tmp, config=DEMO) as collector:
        with collector.client("admin") as client:
            scrapes = []
            for sessions, samples in ((a, a_samples), (b, b_samples)):
                sent = client.post("/api/v1/sessions", json=sessions)
                assert sent.status_code == 200 and sent.json()["accepted"] == len(sessions), sent.text
                scored = client.post("/api/v1/samples", json=samples)
                assert scored.status_code == 200 and not scored.json()["rejected"], scored.text
                # Each reference scores as REFERENCES says (the demo's whisper_en normalizer).
                results = scored.json()["results"]
                assert [r["wer"] for r in results] == [REFERENCES[x["reference"]] for x in samples]
                assert not any(r["duplicate"] for r in results)
                scrapes.append(_scrape(client))
        exported = CliRunner().invoke(app, ["slo", "rules", "--config", str(collector.config_path)])
        assert "Traceback" not in collector.log()
    assert exported.exit_code == 0, exported.output
    assert "skipped" not in exported.stderr
    rules = yaml.safe_load(exported.stdout)
    (tmp / "rules.yaml").write_text(exported.stdout)
    second_batch = _expected(b, [])  # the sessions sent second
    second_batch["transcript-quality"] = _expected(a + b, b_samples)["transcript-quality"]  # the samples sent second
    return {"dir": tmp, "rules": rules, "first": scrapes[0], "second": scrapes[1],
            "all": _expected(a + b, a_samples + b_samples), "b": second_batch}


def _selectors(rules: dict) -> list[tuple[str, list[tuple[str, str, str]], str]]:
    """(metric, matchers, selector text) of every asrwatch_* vector selector in every expression."""
    out = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            expr = rule["expr"]
            found = list(SELECTOR.finditer(expr))
            assert len(found) == expr.count("asrwatch_"), expr  # none missed by the pattern
            for m in found:
                body = (m.group(2) or "{}")[1:-1]
                matchers = [(name, op, _unescape(value)) for name, op, value in MATCHER.findall(body)]
                assert len(matchers) == (body.count('"') // 2), body  # every matcher parsed
                out.append((m.group(1), matchers, m.group(0)))
    return out


def test_every_selector_bucket_and_label_the_rules_use_is_in_the_scrape(run):
    promtool = need_program("promtool")  # Debian package prometheus
    check = subprocess.run([promtool, "check", "rules", str(run["dir"] / "rules.yaml")], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    scrape = run["second"]
    by_name: dict[str, list[dict]] = defaultdict(list)
    for series in scrape.values():
        by_name[series["name"]].append(series)
    selectors = _selectors(run["rules"])
    names = {name for name, _, _ in selectors}
    # Each SLO's metrics: sessions and empty hypotheses, the latency and WER histograms, the backend
    # counters of the fallback SLO, their _created.
    assert names == {"asrwatch_sessions_total", "asrwatch_sessions_created", "asrwatch_empty_hypotheses_total",
                     "asrwatch_empty_hypotheses_created", "asrwatch_final_latency_ms_count",
                     "asrwatch_final_latency_ms_bucket", "asrwatch_final_latency_ms_created",
                     "asrwatch_utterance_wer_count", "asrwatch_utterance_wer_bucket", "asrwatch_utterance_wer_created",
                     "asrwatch_backend_sessions_total", "asrwatch_backend_sessions_created",
                     "asrwatch_fallback_sessions_total", "asrwatch_fallback_sessions_created"}
    edges = defaultdict(set)
    distinct = {}
    for name, matchers, text in selectors:
        assert by_name[name], f"{name} is not in the scrape"
        carried = set().union(*(s["labels"] for s in by_name[name]))
        for label, _, value in matchers:
            assert label in carried, f"{text}: /metrics has no label {label} on {name}"
            if label == "le":
                edges[name].add(value)
                assert value in {s["labels"]["le"] for s in by_name[name]}, f"{text}: no bucket le={value}"
        count = sum(_matches(s, matchers) for s in by_name[name])
        assert count > 0, f"{text} matches no series of the scrape"
        distinct[text] = count
    # The SLOs' edges are buckets: 2 s for final-latency, WER 0.5 for transcript-quality.
    assert edges == {"asrwatch_final_latency_ms_bucket": {"2000.0"}, "asrwatch_utterance_wer_bucket": {"0.5"}}
    # The tenant filter matches the demo tenants and not the probe's sessions.
    tenant_filter = next(m for _, ms, _ in selectors for m in ms if m[0] == "tenant")
    assert tenant_filter[1] == "=~" and re.fullmatch(tenant_filter[2], "acme-bank")
    assert not re.fullmatch(tenant_filter[2], "probe") and any(
        s["labels"].get("tenant") == "probe" for s in by_name["asrwatch_sessions_total"])

    # Prometheus' matching on the same series agrees with the counts above.
    tests = [{"expr": f"count({text})", "eval_time": "0m", "exp_samples": [{"labels": "{}", "value": count}]}
             for text, count in sorted(distinct.items())]
    input_series = [{"series": key, "values": repr(series["value"])} for key, series in sorted(scrape.items())
                    if series["name"] in names]
    _promtool_test(promtool, run["dir"] / "selectors", input_series, tests)


def _promtool_test(promtool: str, folder: Path, input_series: list[dict], tests: list[dict]) -> None:
    folder.mkdir()
    (folder / "rules.yaml").write_text((folder.parent / "rules.yaml").read_text())
    promtool_test(promtool, folder, input_series, expr_tests=tests)


def test_recording_rules_on_the_scrapes_count_what_was_ingested(run):
    promtool = need_program("promtool")
    first, second = run["first"], run["second"]
    names = {name for name, _, _ in _selectors(run["rules"])}
    input_series = []
    for key, series in sorted(second.items()):
        if series["name"] not in names:
            continue
        born_between = key not in first
        if series["name"].endswith("_created"):
            # The collector's wall clock in promtool's frame (it starts at 0): before the first
            # scrape, or between the two for children the second batch created.
            value = repr(CREATED_BETWEEN if born_between else CREATED_BEFORE_FIRST)
            before, after = ("_" if born_between else value), value
        else:
            before, after = ("_" if born_between else repr(first[key]["value"])), repr(series["value"])
        input_series.append({"series": key, "values": " ".join([before] * len(FIRST) + [after] * len(SECOND))})
    assert any(key not in first for key in second), "the second batch brings new label sets"

    tests = []
    for group in run["rules"]["groups"]:
        if group["name"].endswith("-period"):
            continue
        labels = group["rules"][0]["labels"]  # slo and Sloth's sloth_id, sloth_service, sloth_slo
        slo = labels["slo"]
        events = next(r["record"] for r in group["rules"] if r.get("record", "").startswith("slo:sli_events:"))
        # Whole run: every window from 10m up holds both batches (children counted from 0 as born
        # inside it). Last 5 minutes: the second batch, from the increase since the first scrape.
        for record, expected, value in (
            ("slo:sli_error:ratio_rate1h", run["all"][slo], lambda n, bad: bad / n),
            (events, run["all"][slo], lambda n, bad: float(n)),
            ("slo:sli_error:ratio_rate5m", run["b"][slo], lambda n, bad: bad / n),
        ):
            assert expected and all(n > 0 for n, _ in expected.values()), (slo, record)
            assert any(bad for _, bad in expected.values()), (slo, record, "some bad events")
            samples = [{"labels": _series_text(record, {**dict(g), **labels}), "value": value(n, bad)}
                       for g, (n, bad) in sorted(expected.items())]
            tests.append({"expr": f'{record}{{slo="{slo}"}}', "eval_time": f"{EVAL}m", "exp_samples": samples})
    assert len(tests) == 3 * len(SLOS)
    _promtool_test(promtool, run["dir"] / "recordings", input_series, tests)
