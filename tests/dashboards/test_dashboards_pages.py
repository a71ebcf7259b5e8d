"""Each console page under Streamlit's AppTest against a live collector seeded by the simulator:
the numbers shown are the API's, and a page with no data, no API or a bad token says so in one line."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest
from console_pages import metrics, open_page, seeded_page, table, window
from live_collector import free_port
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from dashboards import transforms as tf
from dashboards.loaders import ticket_incidents

PAGES = ("executive", "oncall", "debug", "model_owner", "rollouts")


def vega_chart(at: AppTest, description: str) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The spec and named datasets of the one chart whose description starts with `description`
    (each chart states what it shows there: Vega's ARIA label)."""
    found = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        if str(spec.get("description", "")).startswith(description):
            found.append((spec, {d.name: convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets}))
    assert len(found) == 1, [json.loads(c.proto.spec).get("description") for c in at.get("vega_lite_chart")]
    return found[0]


def layer_data(spec: dict, datasets: dict[str, pd.DataFrame], mark: str) -> pd.DataFrame:
    """The data of the one layer (nested layers included) drawn with `mark` (line, rect, rule...)."""
    found = []

    def walk(node: dict, data: str | None) -> None:
        data = node.get("data", {}).get("name", data)  # a layer without data draws its parent's
        for layer in node.get("layer", []):
            walk(layer, data)
        kind = node.get("mark", {}).get("type") if isinstance(node.get("mark"), dict) else node.get("mark")
        if kind == mark:
            found.append(datasets[data])

    walk(spec, None)
    assert len(found) == 1, (mark, len(found))
    return found[0]


def test_executive_shows_the_apis_numbers(seeded, api_get):
    at = seeded_page(seeded, "executive")
    w = window(seeded)
    totals = api_get("/api/v1/cost", **w)[0]
    wer = api_get("/api/v1/wer", **w)[0]
    shown = metrics(at)
    assert shown["Sessions"] == tf.fmt_int(totals["sessions"])
    assert shown["Corpus WER"] == tf.fmt_pct(wer["wer"])
    assert shown["Audio minutes"] == tf.fmt_int(totals["audio_minutes"])
    assert shown["GPU cost"] == tf.fmt_usd(totals["cost_usd"])
    assert shown["Cost per successful turn"] == tf.fmt_usd(totals["cost_per_successful_turn"], 5)
    assert shown["Cost per audio minute"] == tf.fmt_usd(totals["cost_per_audio_minute"], 5)
    assert shown["Monthly run-rate"] == tf.fmt_usd(totals["cost_usd"] * 30)

    slos = api_get("/api/v1/slos", at=seeded.as_of)
    expected = [(s["name"], g["sli_value"], g["error_budget_remaining"]) for s in slos["slos"] for g in s["groups"]]
    slo_table = table(at, "error_budget_remaining")
    assert list(zip(slo_table["slo"], slo_table["actual"], slo_table["error_budget_remaining"])) == expected
    assert len(expected) >= 3  # every SLO has at least one group with data

    incidents = api_get("/api/v1/alerts", at=seeded.as_of, state="all")["alerts"]
    assert incidents, "the decode-failures scenario fires"
    # Beside the SLO alerts, the router's other tickets (WER, drift, cost) open in the range.
    since, until = (datetime.fromisoformat(w[k].replace("Z", "+00:00")) for k in ("since", "until"))
    filed = ticket_incidents(api_get("/api/v1/tickets", limit=500), since, until)
    assert shown["Incidents"] == tf.fmt_int(len(incidents) + len(filed))
    assert set(table(at, "summary")["name"]) >= {a["name"] for a in incidents} | {f["name"] for f in filed}

    by_version = {r["model_version"]: r for r in api_get("/api/v1/cost", group_by="model_version", **w)}
    cost_table = table(at, "cost_per_successful_turn")
    assert dict(zip(cost_table["model_version"], cost_table["cost_usd"])) == pytest.approx({
        v: r["cost_usd"] for v, r in by_version.items()}, rel=1e-9)  # up to summation order


def test_executive_trend_buckets_match_the_api(seeded, api_get):
    """The trend is the API's corpus WER per sub-window: check the last bucket's figures."""
    from dashboards.api import ConsoleAPI
    from dashboards.loaders import TREND_BUCKETS, load_executive
    from dashboards.timerange import make_view, parse_as_of

    view = make_view("24h", parse_as_of(seeded.as_of), {}, datetime.now().astimezone())
    data = load_executive(ConsoleAPI(seeded.live.url, seeded.live.tokens["read"]), view, trend_dim="channel")
    start, end, rows = data["trend"].data[-1]
    assert len(data["trend"].data) == TREND_BUCKETS and end == view.until
    direct = api_get("/api/v1/wer", group_by="channel,model_version", since=start.isoformat(), until=end.isoformat())
    assert [(r["channel"], r["model_version"], r["wer"]) for r in rows] == [
        (r["channel"], r["model_version"], r["wer"]) for r in direct]
    assert {r["channel"] for r in rows} >= {"far_field", "web"}


def test_oncall_shows_the_apis_numbers(seeded, api_get):
    at = seeded_page(seeded, "oncall")
    w = window(seeded)
    firing = api_get("/api/v1/alerts", at=seeded.as_of, state="firing")["alerts"]
    shown = metrics(at)
    assert shown["Firing pages"] == tf.fmt_int(sum(a["severity"] == "page" for a in firing))
    assert shown["Firing tickets"] == tf.fmt_int(sum(a["severity"] == "ticket" for a in firing))
    assert any(a["severity"] == "page" for a in firing), "8% decode errors for an hour must page"
    alert_table = table(at, "runbook")
    assert sorted(alert_table["summary"]) == sorted(a["summary"] for a in firing)
    assert all(str(u).startswith(seeded.live.url + "/runbooks/") for u in alert_table["runbook"])
    burn_long = {a["summary"]: float(a["annotations"]["burn_long"]) for a in firing}
    assert {s: b for s, b in zip(alert_table["summary"], alert_table["burn_long"])} == burn_long

    latency = api_get("/api/v1/latency", **w)[0]
    for label, key in [("final p50", "final_p50_ms"), ("final p95", "final_p95_ms"), ("final p99", "final_p99_ms"),
                       ("first partial p50", "first_partial_p50_ms"), ("first partial p95", "first_partial_p95_ms"),
                       ("first partial p99", "first_partial_p99_ms")]:
        assert shown[label] == tf.fmt_ms(latency[key]), label
    by_region = api_get("/api/v1/latency", group_by="region", **w)
    lat_table = table(at, "final_p99_ms")
    assert list(zip(lat_table["region"], lat_table["final_p99_ms"])) == [(r["region"], r["final_p99_ms"])
                                                                          for r in by_region]


def test_oncall_burn_chart_draws_the_slos_own_thresholds(seeded, api_get):
    """The 7-day SLO's chart: its bars are the API's burn rates and its ticks the API's alert tiers
    for that SLO (14m & 1m above 14.4x...), not the 30-day tiers."""
    slos = api_get("/api/v1/slos", at=seeded.as_of)
    week = next(s for s in slos["slos"] if s["window"] == "7d")
    at = seeded_page(seeded, "oncall")
    at.selectbox(key="burn_group").set_value(f"{week['name']} · all").run()
    assert not at.exception, [e.value for e in at.exception]
    spec, datasets = vega_chart(at, "Burn rate per window now")
    bars, ticks = (datasets[layer["data"]["name"]] for layer in spec["layer"])
    assert list(bars["window"]) == [w["window"] for w in week["burn_windows"]]
    assert [None if pd.isna(b) else b for b in bars["burn_rate"]] == [
        week["groups"][0]["burn_rates"][w["window"]] for w in week["burn_windows"]]
    assert spec["layer"][1]["encoding"]["x"]["sort"] == ["1m", "5m", "7m", "14m", "28m", "30m", "1h", "1h24m", "2h",
                                                        "5h36m", "6h", "16h48m", "1d", "3d"]
    expected = [(t["severity"], w, t["factor"]) for t in week["alert_tiers"]
                for w in (t["long_window"], t["short_window"])]
    assert list(zip(ticks["severity"], ticks["window"], ticks["threshold"])) == expected
    assert ("page", "14m", 14.4) in expected and ("page", "1h", 14.4) not in expected
    assert any(c.value.startswith("Ticks: page when 14m & 1m exceed 14.4x") for c in at.caption), \
        [c.value for c in at.caption]


def test_debug_session_waterfall_diff_and_tokens(seeded, api_get):
    at = seeded_page(seeded, "debug", session_id=seeded.debug_session, compare_versions=True)
    session = api_get(f"/api/v1/sessions/{seeded.debug_session}")
    sample = session["samples"][0]
    shown = metrics(at)
    assert shown["Substitutions"] == tf.fmt_int(sample["substitutions"])
    assert shown["Deletions"] == tf.fmt_int(sample["deletions"])
    assert shown["Insertions"] == tf.fmt_int(sample["insertions"])
    assert shown["WER"] == tf.fmt_pct(sample["wer"])
    assert shown["Final latency"] == tf.fmt_ms(session["final_latency_ms"])
    diff = next(m.value for m in at.markdown if "asr-" in m.value)
    # The highlighted diff agrees with the collector's own scoring of this sample.
    assert diff.count('class="asr-sub"') == sample["substitutions"] > 0
    assert diff.count('class="asr-del"') == sample["deletions"]
    assert diff.count('class="asr-ins"') == sample["insertions"]
    headings = [h.value for h in at.subheader]
    assert "Trace waterfall" in headings and "Token confidence" in headings
    assert session["stages"], "the OTLP trace's stages were stored"
    assert not any("No trace stages" in i.value for i in at.info)

    w = window(seeded)
    comparison = table(at, api_get("/api/v1/wer", group_by="model_version", **w)[0]["model_version"])
    for row in api_get("/api/v1/wer", group_by="model_version", **w):
        assert comparison.loc["WER", row["model_version"]] == row["wer"]
    recent = table(at, "debug")
    assert list(recent["session_id"]) == [s["session_id"] for s in api_get("/api/v1/sessions", limit=50, **w)]


def test_model_owner_shows_the_apis_numbers(seeded, api_get):
    at = seeded_page(seeded, "model_owner")
    w = window(seeded)
    by_version = api_get("/api/v1/wer", group_by="model_version", **w)
    wer_table = table(at, "ref_words")
    assert list(zip(wer_table["model_version"], wer_table["wer"])) == [(r["model_version"], r["wer"])
                                                                        for r in by_version]
    drift = api_get("/api/v1/drift", at=seeded.as_of)
    assert metrics(at)["Findings"] == tf.fmt_int(len(drift["findings"]))
    assert metrics(at)["Tests run"] == tf.fmt_int(drift["tests_run"])
    if drift["label_free"]:
        lf = table(at, "estimated_wer")
        assert list(lf["model_version"]) == [e["model_version"] for e in drift["label_free"]]
        # A withheld estimate shows its reason (a warning and the table's column), never a number.
        assert [r if isinstance(r, str) else None for r in lf["withheld_reason"]] == \
            [e["withheld_reason"] for e in drift["label_free"]]
        warned = [w.value for w in at.warning]
        assert all(line in warned for line in tf.withheld_label_free(drift))


def test_rollouts_shows_the_verdict(seeded, api_get):
    at = seeded_page(seeded, "rollouts", rollout_name=seeded.rollout)
    verdict = api_get(f"/api/v1/rollouts/{seeded.rollout}/verdict", at=seeded.as_of)
    decisions = [box.value for box in (*at.success, *at.warning, *at.error, *at.info) if box.value.startswith("Decision")]
    assert decisions == [f"Decision: {verdict['decision'].upper()}"]  # once, not twice
    assert "Decision" not in metrics(at)
    shown = "\n".join(m.value for m in at.markdown)
    why, waiting = (shown.split("**Not enough data yet**") + [""])[:2]
    for reason in verdict["reasons"]:
        # A regression is listed under "Why", an insufficient-data line under "Not enough data yet".
        assert f"- {reason}" in (waiting if reason.startswith("insufficient data") else why), reason
    tests = table(at, "regression")
    expected = tf.verdict_frame(verdict)
    assert list(zip(tests["slice"], tests["metric"], tests["canary"])) == list(
        zip(expected["slice"], expected["metric"], expected["canary"]))
    assert "channel=far_field" in set(tests["slice"])


def test_admin_form_needs_an_admin_token(seeded, api_get):
    at = seeded_page(seeded, "rollouts", rollout_name=seeded.rollout)
    at.text_input(key="admin_token").set_value(seeded.live.tokens["read"])
    form_inputs = [t for t in at.text_input if t.label in ("Matchers", "Comment (why)")]
    form_inputs[0].set_value("alertname=SLOErrorBudgetBurn, region=us-east")
    form_inputs[1].set_value("console test")
    at.button[0].click().run()  # "Create silence"
    assert not at.exception
    assert any("lacks the 'admin' scope" in e.value for e in at.error), [e.value for e in at.error]
    at.text_input(key="admin_token").set_value(seeded.live.tokens["admin"])
    at.button[0].click().run()
    assert any(s.value.startswith("Silence ") for s in at.success), [e.value for e in at.error]
    created = [s for s in api_get("/api/v1/silences") if s["comment"] == "console test"]
    assert len(created) == 1 and created[0]["status"]["state"] == "active"

    reason = next(t for t in at.text_input if t.label == "Reason")
    reason.set_value("console test rollback")
    next(b for b in at.button if b.label == "Roll back now").click().run()
    assert not at.exception
    said = [w.value for w in at.warning] + [s.value for s in at.success]
    assert any(seeded.rollout in line for line in said), (said, [e.value for e in at.error])
    # The manual rollback ran the actuators and the audit log says who and why.
    assert api_get(f"/api/v1/rollouts/{seeded.rollout}")["state"] == "rolled_back"
    audit = api_get("/api/v1/audit", action="rollout.rollback")
    assert any(e["target"] == seeded.rollout and "console test rollback" in e["reason"] for e in audit), audit


def _one_line(at: AppTest, contains: str) -> None:
    shown = [e.value for e in at.error] + [w.value for w in at.warning]
    assert len(shown) == 1, shown
    assert contains in shown[0] and "\n" not in shown[0] and "Traceback" not in shown[0]
    assert not at.dataframe and not at.metric


@pytest.mark.parametrize("page", PAGES)
def test_empty_store_is_one_line(empty_live, page):
    _one_line(open_page(empty_live.url, empty_live.tokens["read"], page), "the store is empty")


@pytest.mark.parametrize("page", PAGES)
def test_api_down_is_one_line(page):
    _one_line(open_page(f"http://127.0.0.1:{free_port()}", "whatever", page), "unreachable")


@pytest.mark.parametrize("page", PAGES)
def test_expired_token_is_one_line(seeded, page):
    at = open_page(seeded.live.url, "read-token-that-expired", page, as_of=seeded.as_of)
    _one_line(at, "expired or invalid")
    assert "read-token-that-expired" not in " ".join(e.value for e in at.error)


def test_oncall_time_series_open_on_the_burning_group_and_are_the_apis(seeded, api_get):
    """Issue #22 item 1: the burn chart opens on the group burning fastest now, its lines are the
    API's series for it, its shading the page episode, and the burn-down ends at /slos' budget left."""
    slos = api_get("/api/v1/slos", at=seeded.as_of)
    burning = max(((s["name"], g) for s in slos["slos"] for g in s["groups"]
                   if g["burn_rates"].get("1h") is not None), key=lambda sg: sg[1]["burn_rates"]["1h"])
    at = seeded_page(seeded, "oncall")
    label = f"{burning[0]} · {tf.slice_label(burning[1]['group'])}"
    assert at.selectbox(key="burn_group").value == label
    series = api_get(f"/api/v1/slos/{burning[0]}/series", **window(seeded), step="15m",
                     group=",".join(f"{k}={v}" for k, v in burning[1]["group"].items()))
    spec, datasets = vega_chart(at, "Burn rate of " + label)
    lines = layer_data(spec, datasets, "line")
    (points,) = [g["points"] for g in series["groups"]]
    want = [(p["t"], w, p["burn_rates"][w]) for p in points for w in p["burn_rates"]]
    got = [(t.isoformat(), w, None if pd.isna(b) else b) for t, w, b in zip(
        pd.to_datetime(lines["t"], utc=True), lines["window"], lines["burn_rate"])]
    assert got == want
    # The page is shaded from where the API has it start: its recorded episodes' starts (clipped
    # to the range), else the points where the engine computes it paging after not paging.
    rects = layer_data(spec, datasets, "rect")
    shaded = sorted(pd.to_datetime(rects[rects["severity"] == "page"]["start"], utc=True))
    since = pd.Timestamp(series["since"]).tz_convert("UTC")
    recorded = [max(pd.Timestamp(e["starts_at"]).tz_convert("UTC"), since)
                for e in series["episodes"] if e["severity"] == "page"]
    computed = [pd.Timestamp(p["t"]).tz_convert("UTC") for i, p in enumerate(points)
                if p["firing"] == "page" and (i == 0 or points[i - 1]["firing"] != "page")]
    # A run still paging at the range's end starts where the page began, as the alerts table says
    # (the engine's starts_at), not at the first chart step after it.
    began = [pd.Timestamp(a["starts_at"]).tz_convert("UTC") for a in burning[1]["alerts"] if a["severity"] == "page"]
    if computed and points[-1]["firing"] == "page" and began:
        assert computed[-1] - pd.Timedelta(minutes=15) < min(began) <= computed[-1]
        computed[-1] = max(min(began), since)
    assert shaded and shaded == sorted(recorded or computed), (shaded, series["episodes"])
    budget_spec, budget_data = vega_chart(at, "Error budget left for " + label)
    budget = layer_data(budget_spec, budget_data, "line")["error_budget_remaining"]
    assert budget.iloc[-1] == burning[1]["error_budget_remaining"]
    # The decode-failures scenario spends the burning group's budget: the burn-down crosses zero.
    assert budget.iloc[0] > 0 > budget.iloc[-1], (budget.iloc[0], budget.iloc[-1])
    # High-WER sessions: newest first.
    high = table(at, "wer")
    assert list(high["ts"]) == sorted(high["ts"], reverse=True)


def test_executive_cost_and_wer_over_time_are_the_apis_with_whole_legends(seeded, api_get):
    at = seeded_page(seeded, "executive")
    # Leadership's charts are coarser than on-call's: at most 24 points over the range (1h for 24h).
    w = {**window(seeded), "step": "1h", "group_by": "model_version"}
    spec, datasets = vega_chart(at, "GPU cost per 1h by model version")
    cost = layer_data(spec, datasets, "line")
    api_cost = api_get("/api/v1/cost", **w)
    # Costs equal up to float summation order: compaction may regroup the rollup rows summed
    # between the page's answer and this one, so the last bits can differ.
    drawn = dict(zip(zip(pd.to_datetime(cost["t"], utc=True), cost["model_version"]), cost["cost_usd"]))
    want = {(pd.Timestamp(r["t"]).tz_convert("UTC"), r["model_version"]): r["cost_usd"] for r in api_cost}
    assert sorted(drawn) == sorted(want) and len(drawn) == len(cost)
    assert [drawn[k] for k in sorted(want)] == pytest.approx([want[k] for k in sorted(want)], rel=1e-9)
    spec, datasets = vega_chart(at, "Corpus WER per model version")
    wer = layer_data(spec, datasets, "line")
    versions = {r["model_version"] for r in api_get("/api/v1/wer", **w)}
    assert set(wer["model_version"]) == versions and len(versions) >= 2  # baseline and canary apart
    legends = [layer["encoding"]["color"]["legend"] for layer in [spec, *spec.get("layer", [])]
               if "color" in layer.get("encoding", {})]
    assert legends and all(g["orient"] == "bottom" and g["labelLimit"] == 0 for g in legends)
    assert vega_chart(at, "Error budget left for ")  # the burn-down is drawn


def test_oncall_draws_load_beside_delay_from_the_throughput_api(seeded, api_get):
    """Issue #21 item 2: sessions per second and mean queue time per pool over time, and load per
    node, are /api/v1/throughput's figures."""
    at = seeded_page(seeded, "oncall")
    series = api_get("/api/v1/throughput", group_by="pool", step="15m", **window(seeded))
    assert {r["pool"] for r in series} >= {"a100", "l4-batch"}
    for description, column in (("Sessions per second per pool", "sessions_per_s"),
                                 ("Mean queue time per pool", "queue_ms_mean")):
        spec, datasets = vega_chart(at, description)
        drawn = layer_data(spec, datasets, "line")
        got = sorted((t.isoformat(), p, v) for t, p, v in zip(pd.to_datetime(drawn["t"], utc=True), drawn["pool"],
                                                                 drawn[column]))
        want = sorted((pd.Timestamp(r["t"]).tz_convert("UTC").isoformat(), r["pool"], r[column]) for r in series
                      if r["sessions"] and r[column] is not None)
        assert got == want, description
    by_node = api_get("/api/v1/throughput", group_by="node,pool", **window(seeded))
    shown = table(at, "concurrent_streams_max")
    assert [(n, s, None if pd.isna(m) else m) for n, s, m in zip(
        shown["node"], shown["sessions"], shown["concurrent_streams_max"])] == [
        (r["node"], r["sessions"], r["concurrent_streams_max"]) for r in by_node]
    # The paid API's sessions name no node: they are the `unknown` row, with no load reported.
    assert {r["node"] for r in by_node} >= {"a100-0", "l4-batch-0", "unknown"}
