"""The console's pure parts: time range, error mapping, and the JSON -> frame transforms."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.measures.wer import word_errors
from dashboards import api as console_api
from dashboards import transforms as tf
from dashboards.loaders import EmptyWindow, firing_from_slos, load_oncall
from dashboards.timerange import LIVE_STEP_S, make_view, parse_as_of

NOW = datetime(2026, 11, 21, 10, 7, 31, 500000, tzinfo=timezone.utc)


def test_live_view_rounds_now_so_reruns_share_the_cache():
    view = make_view("6h", None, {"region": "us-east", "channel": "", "colour": "blue"}, NOW)
    assert view.live and view.until == datetime(2026, 11, 21, 10, 7, 30, tzinfo=timezone.utc)
    assert view.until.timestamp() % LIVE_STEP_S == 0
    assert view.window() == {"since": "2026-11-21T04:07:30Z", "until": "2026-11-21T10:07:30Z"}
    assert view.filters == {"region": "us-east"}  # empty and unknown filters dropped
    again = make_view("6h", None, {"region": "us-east"}, NOW + timedelta(seconds=5))
    assert again.window() == view.window()


def test_replay_view_is_judged_as_of_its_own_time():
    as_of = parse_as_of("2026-11-01T12:00:00+01:00")
    view = make_view("24h", as_of, {}, NOW)
    assert not view.live and view.at == "2026-11-01T11:00:00Z"
    buckets = view.buckets(6)
    assert buckets[0][0] == view.since and buckets[-1][1] == view.until
    assert all(a[1] == b[0] for a, b in zip(buckets, buckets[1:]))


@pytest.mark.parametrize("text, message", [("yesterday", "not an RFC 3339 time"),
                                            ("2026-11-01T12:00:00", "needs a timezone offset")])
def test_bad_as_of_names_the_field(text, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_as_of(text)
    assert str(info.value).startswith("as of:")


def test_unknown_range_is_refused():
    with pytest.raises(ValueError, match="range:"):
        make_view("5y", None, {}, NOW)


@pytest.mark.parametrize("status, payload, kind, words", [
    (401, {"detail": "invalid bearer token"}, "auth", "expired or invalid"),
    (403, {"detail": "token lacks the 'read' scope"}, "forbidden", "lacks the 'read' scope"),
    (404, {"detail": "Not Found"}, "not_available", "not available on this collector"),
    (405, {"detail": "Method Not Allowed"}, "not_available", "not available on this collector"),
    (404, {"detail": "session_id: no session 'x'"}, "not_found", "no session"),
    (422, {"detail": [{"loc": ["query", "at"], "msg": "bad\ntime"}]}, "bad_request", "at: bad time"),
    (503, {"detail": "database unavailable; retry later"}, "server", "503"),
])
def test_http_errors_become_one_line(status, payload, kind, words):
    with pytest.raises(console_api.ConsoleError) as info:
        console_api.raise_for(status, payload, "/api/v1/x")
    assert info.value.kind == kind and words in info.value.message and "\n" not in info.value.message


def test_unreachable_api_is_one_line_naming_the_url():
    from live_collector import free_port

    port = free_port()
    api = console_api.ConsoleAPI(f"http://127.0.0.1:{port}", "secret-token")
    with pytest.raises(console_api.APIDown) as info:
        api.cost([], {}, {})
    assert f"127.0.0.1:{port}" in info.value.message and "secret-token" not in info.value.message


def _fake_fetch(routes):
    def fetch(method, url, token, params, body):
        path = url.split("/api/v1", 1)[1]
        return routes.get(path, (404, {"detail": "Not Found"}))
    return fetch


def test_empty_window_stops_the_page_and_missing_endpoints_only_their_section():
    empty = console_api.ConsoleAPI("http://collector", "t", fetch=_fake_fetch({"/cost": (200, [])}))
    with pytest.raises(EmptyWindow, match="the store is empty"):
        load_oncall(empty, make_view("1h", None, {}, NOW))
    some = {"/cost": (200, [{"sessions": 3}]), "/latency": (200, [{"final_p50_ms": 10.0}]),
            "/slos": (200, {"slos": []})}
    data = load_oncall(console_api.ConsoleAPI("http://collector", "t", fetch=_fake_fetch(some)),
                       make_view("1h", None, {}, NOW))
    assert data["latency"].data == [{"final_p50_ms": 10.0}] and data["alerts"].data == []
    assert data["outcomes"].error.kind == "not_available"
    assert "/api/v1/status is not available" in data["outcomes"].error.message


def test_a_down_api_in_any_parallel_call_fails_the_page():
    def fetch(method, url, token, params, body):
        if "/cost" in url:
            return 200, [{"sessions": 3}]
        raise console_api.APIDown("Collector API unreachable at http://collector")
    with pytest.raises(console_api.APIDown):
        load_oncall(console_api.ConsoleAPI("http://collector", "t", fetch=fetch), make_view("1h", None, {}, NOW))


words = st.lists(st.sampled_from(["the", "cat", "sat", "on", "a", "mat", "dog", "ran"]), max_size=12)


@settings(max_examples=150, deadline=None)
@given(words, words)
def test_transcript_diff_counts_equal_the_collectors_scoring(ref, hyp):
    reference, hypothesis = " ".join(ref), " ".join(hyp)
    diff = tf.transcript_diff(reference, hypothesis)
    expected = word_errors(reference, hypothesis, "none")
    assert (diff.substitutions, diff.deletions, diff.insertions, diff.ref_words) == (
        expected.substitutions, expected.deletions, expected.insertions, expected.ref_words)
    kinds = [op.kind for op in diff.ops]
    assert kinds.count("substitute") == diff.substitutions and kinds.count("delete") == diff.deletions
    assert kinds.count("insert") == diff.insertions
    # Reading the ops back gives both transcripts.
    assert [op.ref for op in diff.ops if op.kind != "insert"] == reference.split()
    assert [op.hyp for op in diff.ops if op.kind != "delete"] == hypothesis.split()


def test_diff_html_escapes_and_marks_each_error():
    diff = tf.transcript_diff("pay <b>five</b> now", "pay nine now please")
    html = tf.diff_html(diff)
    assert "<b>" not in html and "&lt;b&gt;five&lt;/b&gt;" in html
    assert html.count('class="asr-sub"') == 1 and html.count('class="asr-ins"') == 1


def test_waterfall_orders_stages_on_one_axis():
    t0 = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
    session = {"stages": [
        {"name": "decode", "start": (t0 + timedelta(milliseconds=300)).isoformat(), "duration_ms": 40.0},
        {"name": "ingest", "start": t0.isoformat(), "duration_ms": 5.0},
        {"name": "inference", "start": (t0 + timedelta(milliseconds=20)).isoformat(), "duration_ms": 280.0},
    ]}
    frame = tf.waterfall_frame(session)
    assert list(frame["stage"]) == ["ingest", "inference", "decode"]
    assert list(frame["start_ms"]) == [0.0, 20.0, 300.0] and list(frame["end_ms"]) == [5.0, 300.0, 340.0]
    assert tf.waterfall_frame({"stages": []}).empty


def test_token_frame_reads_probe_probabilities():
    frame = tf.token_frame({"tokens": ["a", "b", "c"], "token_probs": [0.9, "0.2", None]})
    assert list(frame["token"]) == ["a", "b"] and list(frame["probability"]) == [0.9, 0.2]
    assert tf.token_frame({"confidence": 0.3}).empty


# The 30-day tiers and report windows as `GET /api/v1/slos` states them (`slo.snapshot.SLOStatus.to_dict`).
TIERS_30D = [
    {"severity": "page", "enabled": True, "long_window": "1h", "long_window_s": 3600, "short_window": "5m",
     "short_window_s": 300, "factor": 14.4},
    {"severity": "page", "enabled": True, "long_window": "6h", "long_window_s": 21600, "short_window": "30m",
     "short_window_s": 1800, "factor": 6.0},
    {"severity": "ticket", "enabled": True, "long_window": "1d", "long_window_s": 86400, "short_window": "2h",
     "short_window_s": 7200, "factor": 3.0},
    {"severity": "ticket", "enabled": True, "long_window": "3d", "long_window_s": 259200, "short_window": "6h",
     "short_window_s": 21600, "factor": 1.0},
]
BURN_WINDOWS = [{"window": w, "window_s": s} for w, s in
                [("5m", 300), ("30m", 1800), ("1h", 3600), ("2h", 7200), ("6h", 21600), ("1d", 86400),
                 ("3d", 259200)]]
SLOS = {"slos": [{"name": "lat", "sli": "latency", "objective": 0.99, "window": "30d", "alert_tiers": TIERS_30D,
                  "burn_windows": BURN_WINDOWS, "groups": [
    {"group": {"region": "us-east"}, "sli_value": 0.95, "error_budget_remaining": -4.0, "events": 100,
     "burn_rates": {"5m": 20.0, "1h": 15.0}, "alerts": [
         {"name": "SLOErrorBudgetBurn", "severity": "page", "labels": {"alertname": "SLOErrorBudgetBurn",
          "severity": "page", "slo": "lat", "region": "us-east"}, "summary": "burning", "starts_at": "t",
          "runbook_url": "/runbooks/slo-burn-latency", "annotations": {"burn_long": "15", "burn_short": "20"},
          "evidence": {"burn_rates": {"1h": 15.0}}}]},
    {"group": {"region": "eu-west"}, "sli_value": 0.999, "error_budget_remaining": 0.9, "events": 50,
     "burn_rates": {"5m": 0.1}, "alerts": []}]}]}


def test_slo_frame_compares_objective_and_actual():
    frame = tf.slo_frame(SLOS)
    assert list(frame["group"]) == ["region=us-east", "region=eu-west"]
    assert list(frame["compliant"]) == [False, True] and list(frame["firing"]) == [1, 0]


def test_alerts_carry_burn_numbers_and_absolute_runbook_links():
    frame = tf.alerts_frame(firing_from_slos(SLOS), "http://collector:8080/")
    assert frame.loc[0, "runbook"] == "http://collector:8080/runbooks/slo-burn-latency"
    assert (frame.loc[0, "burn_long"], frame.loc[0, "burn_short"], frame.loc[0, "burn_1h"]) == (15.0, 20.0, 15.0)
    assert frame.loc[0, "group"] == "slo=lat,region=us-east"


def test_burn_frame_has_every_window_and_thresholds_match_the_policy():
    frame = tf.burn_frame(SLOS)
    assert len(frame) == 2 * len(BURN_WINDOWS)
    assert list(frame["window"][:7]) == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    assert frame[(frame["group"] == "region=us-east") & (frame["window"] == "30m")]["burn_rate"].isna().all()
    assert frame[(frame["group"] == "region=us-east") & (frame["window"] == "5m")]["burn_rate"].tolist() == [20.0]
    from slo.alerting import BASE_TIERS

    rules = tf.threshold_frame(SLOS, "lat")
    ours = set(zip(rules["severity"], rules["threshold"]))
    assert ours == {(sev, factor) for sev, _, _, factor in BASE_TIERS}
    assert rules[rules["severity"] == "page"]["window"].tolist() == ["1h", "5m", "6h", "30m"]
    assert rules["rule"].iloc[0] == "page 1h&5m > 14.4x"
    # A 30-day SLO's tier windows are all reported windows: the axis is the burn windows.
    assert tf.window_order(frame, rules) == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    assert tf.thresholds_caption(SLOS, "lat") == (
        "Ticks: page when 1h & 5m exceed 14.4x or 6h & 30m exceed 6x; "
        "ticket when 1d & 2h exceed 3x or 3d & 6h exceed 1x (30d SLO).")


def test_thresholds_are_the_slos_own_tiers_and_skip_a_disabled_one():
    """A 7-day SLO with its page tier disabled: its scaled ticket windows, no page rule, and an axis
    that holds its tier windows between the reported ones."""
    tiers = [
        {**TIERS_30D[0], "enabled": False, "long_window": "14m", "long_window_s": 840, "short_window": "1m",
         "short_window_s": 60},
        {**TIERS_30D[1], "enabled": False, "long_window": "1h24m", "long_window_s": 5040, "short_window": "7m",
         "short_window_s": 420},
        {**TIERS_30D[2], "long_window": "5h36m", "long_window_s": 20160, "short_window": "28m",
         "short_window_s": 1680},
        {**TIERS_30D[3], "long_window": "16h48m", "long_window_s": 60480, "short_window": "1h24m",
         "short_window_s": 5040},
    ]
    slos = {"slos": [{**SLOS["slos"][0], "name": "week", "window": "7d", "alert_tiers": tiers}, SLOS["slos"][0]]}
    rules = tf.threshold_frame(slos, "week")
    assert list(zip(rules["window"], rules["threshold"])) == [("5h36m", 3.0), ("28m", 3.0), ("16h48m", 1.0),
                                                              ("1h24m", 1.0)]
    assert set(rules["severity"]) == {"ticket"}
    burns = tf.burn_frame(slos)
    assert tf.window_order(burns[burns["slo"] == "week"], rules) == [
        "5m", "28m", "30m", "1h", "1h24m", "2h", "5h36m", "6h", "16h48m", "1d", "3d"]
    assert tf.thresholds_caption(slos, "week") == (
        "Ticks: ticket when 5h36m & 28m exceed 3x or 16h48m & 1h24m exceed 1x (7d SLO).")
    assert tf.threshold_frame(slos, "no-such-slo").empty


def test_outcome_rates_and_monthly_run_rate():
    frame = tf.outcome_rates([{"model_version": "v1", "sessions": 200, "decode_error": 16, "partial": 2,
                               "partial_rewrites": 300}], ["model_version"])
    assert frame.loc[0, "decode_error_rate"] == 0.08 and frame.loc[0, "partial_rate"] == 0.01
    assert frame.loc[0, "partial_rewrites_per_session"] == 1.5
    assert tf.monthly_run_rate(10.0, 86400) == 300.0


@pytest.mark.parametrize("text, ok", [("alertname=X, region=us-east", True), ("region", False), ("", False),
                                      ("=x", False), ("slo=~lat.*", True)])
def test_matchers_are_checked_before_posting(text, ok):
    if ok:
        assert tf.parse_matchers(text)
    else:
        with pytest.raises(ValueError, match="matchers:"):
            tf.parse_matchers(text)


def test_verdict_frame_flattens_slices_and_tests():
    verdict = {"decision": "rollback", "metrics": {"slices": {"channel=far_field": {"family": "protected",
        "canary": {"wer": 0.25}, "baseline": {"wer": 0.2},
        "tests": {"wer": {"canary": 0.25, "baseline": 0.2, "effect": 0.25, "low": 0.1, "high": 0.4,
                          "p_value": 0.001, "regression": True}, "latency_p95": None}}}}}
    frame = tf.verdict_frame(verdict)
    assert len(frame) == 1 and bool(frame.loc[0, "regression"]) and frame.loc[0, "low"] == 0.1
    arms = tf.arms_frame(verdict)
    assert list(zip(arms["arm"], arms["wer"])) == [("baseline", 0.2), ("canary", 0.25)]


def test_comparison_puts_versions_side_by_side():
    table = tf.comparison_frame([{"model_version": "a", "wer": 0.1}, {"model_version": "b", "wer": 0.2}],
                                [{"model_version": "a", "final_p95_ms": 900.0}],
                                [{"model_version": "b", "sessions": 7}])
    assert list(table.columns) == ["a", "b"]
    assert table.loc["WER", "b"] == 0.2 and table.loc["final p95 ms", "a"] == 900.0
    assert table.loc["sessions", "b"] == 7


def test_a_slow_section_says_so_and_the_rest_of_the_page_loads():
    from dashboards.loaders import load_model_owner

    def fetch(method, url, token, params, body):
        if "/drift" in url:
            raise console_api.TimedOut("/api/v1/drift did not answer within 60 s")
        if "/cost" in url:
            return 200, [{"sessions": 3}]
        return 200, [{"model_version": "v1", "wer": 0.1}] if "/wer" in url else []

    data = load_model_owner(console_api.ConsoleAPI("http://collector", "t", fetch=fetch), make_view("1h", None, {}, NOW))
    assert data["drift"].error.kind == "timeout" and "did not answer" in data["drift"].error.message
    assert data["wer_by_version"].data == [{"model_version": "v1", "wer": 0.1}]


def test_p_values_read_as_numbers_people_can_compare():
    from dashboards.transforms import findings_frame, fmt_p, tickets_frame

    assert [fmt_p(v) for v in (None, float("nan"), 0.5, 0.0001, 3.2e-42, 0.0)] == \
        ["", "", "0.5000", "0.0001", "3.2e-42", "0.0e+00"]
    frame = findings_frame({"findings": [{"severity": "ticket", "p_adjusted": 1.1e-17}]})
    assert list(frame["p_adjusted"]) == ["1.1e-17"]
    # The team column names where the ticket went, the receiver when no team owns it.
    tickets = tickets_frame([{"team": "", "receiver": "triage", "title": "t"}, {"team": "speech-core", "receiver": "x"}])
    assert list(tickets["team"]) == ["triage", "speech-core"]


def test_executive_incidents_list_wer_drift_and_cost_tickets_beside_slo_alerts():
    from datetime import datetime, timezone

    from dashboards.loaders import ticket_incidents
    from dashboards.transforms import incidents_frame

    since, until = datetime(2026, 11, 20, tzinfo=timezone.utc), datetime(2026, 11, 21, tzinfo=timezone.utc)
    tickets = [
        {"status": "open", "title": "CostRegression: pool=h100", "labels": {"alertname": "CostRegression"},
         "opened_at": "2026-11-20T12:00:00+00:00", "closed_at": None},
        {"status": "closed", "title": "DriftDetected", "labels": {"alertname": "DriftDetected", "channel": "mobile"},
         "opened_at": "2026-11-19T22:00:00+00:00", "closed_at": "2026-11-20T01:00:00+00:00"},
        {"status": "open", "title": "slo ticket", "labels": {"alertname": "SLOErrorBudgetBurn", "slo": "quality"},
         "opened_at": "2026-11-20T03:00:00+00:00", "closed_at": None},  # its alert is listed already
        {"status": "closed", "title": "old", "labels": {"alertname": "WERRegression"},
         "opened_at": "2026-11-18T00:00:00+00:00", "closed_at": "2026-11-19T00:00:00+00:00"},  # before the range
    ]
    rows = incidents_frame(ticket_incidents(tickets, since, until))
    assert list(zip(rows["name"], rows["state"], rows["group"])) == [
        ("DriftDetected", "resolved", "channel=mobile"), ("CostRegression", "firing", "all")]
