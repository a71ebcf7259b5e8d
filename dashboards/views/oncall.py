"""On-call: firing alerts, burn rates over time against the paging thresholds with the alert
episodes shaded, the error budget's burn-down, latency and failures over time, rollbacks and
silences (also drawn as markers on every time axis)."""

import altair as alt
import streamlit as st

from dashboards import loaders, sample_captions, timecharts, ui
from dashboards import series_frames as sf
from dashboards import transforms as tf

# Shown first and pinned, so that they stay in view however far the table scrolls.
ALERT_LEAD_COLUMNS = ("severity", "name", "runbook")

data = ui.load("On-call", loaders.load_oncall, latency_dim=st.session_state.get("latency_dim", "region"))
client = ui.api()

st.subheader("Firing alerts")
if ui.available(data["alerts"], "Alerts"):
    alerts = tf.alerts_frame(data["alerts"].data, client.base_url)
    pages = int((alerts["severity"] == "page").sum())
    row = st.columns(3)
    row[0].metric("Firing pages", tf.fmt_int(pages))
    row[1].metric("Firing tickets", tf.fmt_int(int((alerts["severity"] == "ticket").sum())))
    row[2].metric("Sessions in range", tf.fmt_int(data.totals["sessions"]))
    if alerts.empty:
        st.success("Nothing firing.")
    else:
        # The runbook link right after the alert's name, pinned with it: at the end of this wide
        # table it showed only on very wide screens (issue #22).
        order = [*ALERT_LEAD_COLUMNS, *(c for c in alerts.columns if c not in ALERT_LEAD_COLUMNS)]
        st.dataframe(alerts, hide_index=True, key="alert_table", column_order=order, column_config={
            "severity": st.column_config.TextColumn(pinned=True),
            "name": st.column_config.TextColumn(pinned=True),
            "runbook": st.column_config.LinkColumn("runbook", display_text="runbook", pinned=True),
            "burn_long": st.column_config.NumberColumn(format="%.1fx"),
            "burn_short": st.column_config.NumberColumn(format="%.1fx"),
            "burn_1h": st.column_config.NumberColumn(format="%.1fx"),
            "budget_left": st.column_config.NumberColumn(format="%.3f"),
        })

# Markers (rollout registrations, rollbacks, silences) on every time axis of the page.
marks = sf.annotations_frame(data["annotations"].data, data.view.since, data.view.until) if data["annotations"].ok else None

st.subheader("Burn rate over time")
if ui.available(data["slos"], "Burn rates"):
    burns = tf.burn_frame(data["slos"].data)
    if note := sample_captions.sli_source_caption(data["slos"].data):
        st.caption(note)
    if burns.empty:
        st.info("No SLOs are configured on this collector.")
    else:
        # Hottest first: the group burning fastest over 1h is what on-call wants to see, so it is
        # the default choice.
        choices = sf.group_choices(data["slos"].data)
        chosen = st.selectbox("SLO and group", list(choices), key="burn_group")
        slo_name, labels = choices[chosen]
        series = loaders.burn_series(client, data.view, slo_name, labels)
        if ui.available(series, "Burn rate over time"):
            firing = sf.group_alerts(data["slos"].data, slo_name, labels)  # their starts, as the table shows
            episodes = sf.episodes_caption(series.data, firing)
            st.altair_chart(timecharts.burn_chart(
                sf.burn_series_frame(series.data), sf.tier_rules_frame(series.data),
                sf.episodes_frame(series.data, firing),
                marks, f"Burn rate of {chosen} per alert window. {episodes}"), width="stretch", key="burn_series")
            st.caption(episodes)
            st.markdown("**Error budget left over the SLO window**")
            ui.burndown(series.data, chosen, marks, data.view.at)
        st.markdown("**Burn rate per window, now**")
        picked = burns[(burns["slo"] + " · " + burns["group"]) == chosen]
        # The thresholds are this SLO's own tiers from the API (scaled to its window by the engine).
        slo_name = picked["slo"].iloc[0]
        rules = tf.threshold_frame(data["slos"].data, slo_name)
        order = tf.window_order(picked, rules)
        bars = alt.Chart(picked).mark_bar(color="#2563eb").encode(
            x=alt.X("window:N", sort=order, title="window", axis=alt.Axis(labelAngle=0, labelLimit=0)),
            y=alt.Y("burn_rate:Q", title="burn rate (x budget)"),
            tooltip=["window", alt.Tooltip("burn_rate:Q", format=".2f")])
        ticks = alt.Chart(rules).mark_tick(thickness=3, size=40).encode(
            x=alt.X("window:N", sort=order), y="threshold:Q",
            color=alt.Color("severity:N", scale=alt.Scale(domain=["page", "ticket"], range=["#dc2626", "#f59e0b"])),
            tooltip=["rule"])
        st.altair_chart((bars + ticks).properties(description=f"Burn rate per window now, {chosen}."),
                        width="stretch", key="burn_now")
        st.caption(tf.thresholds_caption(data["slos"].data, slo_name))

st.subheader("Latency")
if ui.available(data["latency"], "Latency") and data["latency"].data:
    lat = data["latency"].data[0]
    # Two rows of three: six tiles in one row cut "first partial p99" short on a laptop screen.
    for keys in ([("final p50", "final_p50_ms"), ("final p95", "final_p95_ms"), ("final p99", "final_p99_ms")],
                 [("first partial p50", "first_partial_p50_ms"), ("first partial p95", "first_partial_p95_ms"),
                  ("first partial p99", "first_partial_p99_ms")]):
        for column, (label, key) in zip(st.columns(3), keys):
            column.metric(label, tf.fmt_ms(lat.get(key)))
if ui.available(data["latency_series"], "Latency over time"):
    lat_series = sf.latency_series_frame(data["latency_series"].data)
    if not lat_series.empty:
        st.altair_chart(timecharts.lines_chart(lat_series, "ms", "quantile", "final latency (ms)", marks,
                                               "Final latency p50, p95 and p99 over time.", ",.0f", "final latency"),
                        width="stretch", key="latency_series")
st.subheader("Load and delay")
if ui.available(data["throughput_series"], "Load over time"):
    load = sf.throughput_series_frame(data["throughput_series"].data)
    if load.empty:
        st.info("No session in this range names its node or pool load.")
    else:
        left, right = st.columns(2)
        left.altair_chart(timecharts.lines_chart(load, "sessions_per_s", "pool", "sessions per second", marks,
                                                 "Sessions per second per pool over time.", ",.2f", "pool"),
                          width="stretch", key="throughput_series")
        queue = load.dropna(subset=["queue_ms_mean"])
        right.altair_chart(timecharts.lines_chart(queue, "queue_ms_mean", "pool", "mean queue time (ms)", marks,
                                                  "Mean queue time per pool over time: a queue that grows with "
                                                  "load is saturation.", ",.0f", "pool"),
                           width="stretch", key="queue_series")
if set(data.view.filters) - {"pool"}:
    st.caption("Load is per node and pool only: these charts and the table below are not narrowed by the "
               "other slice filters.")
if ui.available(data["throughput_by_node"], "Load by node") and data["throughput_by_node"].data:
    st.dataframe(tf.frame(data["throughput_by_node"].data, list(tf.THROUGHPUT_COLUMNS)), hide_index=True,
                 key="throughput_table")
latency_dim = st.radio("by", ["region", "channel", "model_version", "pool"], horizontal=True, key="latency_dim")
if ui.available(data["latency_by"], "Latency by slice"):
    st.dataframe(tf.frame(data["latency_by"].data, [latency_dim, *tf.LATENCY_COLUMNS]), hide_index=True,
                 key="latency_table")

st.subheader("Decode failures and partials")
if ui.available(data["outcome_series"], "Decode failures over time"):
    outcome_series = sf.outcome_series_frame(data["outcome_series"].data)
    if not outcome_series.empty:
        st.altair_chart(timecharts.lines_chart(outcome_series, "rate", "outcome", "share of sessions", marks,
                                               "Decode failures and partial transcripts as a share of sessions "
                                               "over time.", ".2%", "outcome"), width="stretch", key="outcome_series")
if ui.available(data["outcomes"], "Decode failures"):
    st.dataframe(tf.outcome_rates(data["outcomes"].data, ["model_version"]), hide_index=True, key="outcome_table",
                 column_config={c: st.column_config.NumberColumn(format="%.4f")
                                for c in ("decode_error_rate", "partial_rate", "timeout_rate", "dropped_rate")})

st.subheader("Recent high-WER sessions")
if ui.available(data["high_wer"], "High-WER sessions"):
    # Newest first: on-call reads down from what just happened.
    newest = sorted(data["high_wer"].data, key=lambda r: str(r.get("ts") or ""), reverse=True)
    rows = tf.frame(newest, ["session_id", "ts", "wer", "model_version", "channel", "region"])
    rows["debug"] = [ui.debug_link(s) for s in rows["session_id"]]
    st.dataframe(rows, hide_index=True, key="high_wer_table",
                 column_config={"debug": st.column_config.LinkColumn("debug", display_text="open")})

left, right = st.columns(2)
with left:
    st.subheader("Recent rollbacks")
    if ui.available(data["audit"], "Rollbacks"):
        rollbacks = tf.rollback_frame(data["audit"].data)
        if rollbacks.empty:
            st.caption("None in this range.")
        else:
            st.dataframe(rollbacks, hide_index=True, key="rollback_table")
    elif data["rollouts"].ok:
        rolled = [r for r in data["rollouts"].data if r.get("state") == "rolled_back"]
        st.dataframe(tf.frame(rolled, ["name", "canary_version", "baseline_version", "updated_at"]), hide_index=True)
with right:
    st.subheader("Silences")
    if ui.available(data["silences"], "Silences"):
        silences = tf.silences_frame(data["silences"].data)
        active = silences[silences["state"] != "expired"]
        if active.empty:
            st.caption("None active.")
        else:
            st.dataframe(active, hide_index=True, key="silence_table")
