"""Executive: SLA compliance, WER trend, cost and volume, incidents this period."""

import altair as alt
import streamlit as st

from dashboards import loaders, ui
from dashboards import transforms as tf

data = ui.load("Executive", loaders.load_executive, trend_dim=st.session_state.get("trend_dim", "channel"))

t = data.totals
wer = data["wer"].data[0]["wer"] if data["wer"].ok and data["wer"].data else None
row = st.columns(4)
row[0].metric("Sessions", tf.fmt_int(t["sessions"]))
row[1].metric("Corpus WER", tf.fmt_pct(wer))
row[2].metric("Audio minutes", tf.fmt_int(t["audio_minutes"]))
row[3].metric("Successful turns", tf.fmt_int(t["successful_turns"]))
row = st.columns(4)
row[0].metric("GPU cost", tf.fmt_usd(t["cost_usd"]))
row[1].metric("Monthly run-rate", tf.fmt_usd(tf.monthly_run_rate(t["cost_usd"], data.view.span.total_seconds())))
row[2].metric("Cost per successful turn", tf.fmt_usd(t["cost_per_successful_turn"], 5))
row[3].metric("Cost per audio minute", tf.fmt_usd(t["cost_per_audio_minute"], 5))

st.subheader("SLA compliance")
if ui.available(data["slos"], "SLOs"):
    slos = tf.slo_frame(data["slos"].data)
    if slos.empty:
        st.info("No SLOs are configured on this collector.")
    else:
        # Overspent budgets go left of zero (clipped at -100%) so they stay visible in red.
        slos["budget_left"] = slos["error_budget_remaining"].clip(lower=-1, upper=1)
        chart = alt.Chart(slos).mark_bar().encode(
            x=alt.X("budget_left:Q", title="error budget remaining", scale=alt.Scale(domain=[-1, 1]),
                    axis=alt.Axis(format="%")),
            y=alt.Y("slo_group:N", title=None, axis=alt.Axis(labelLimit=420)),
            color=alt.Color("compliant:N", scale=alt.Scale(domain=[True, False], range=["#16a34a", "#dc2626"])),
            tooltip=["slo", "group", "objective", "actual", "error_budget_remaining"],
        ).transform_calculate(slo_group="datum.slo + ' · ' + datum.group")
        st.altair_chart(chart, width="stretch")
        st.dataframe(slos.drop(columns=["budget_left"]), hide_index=True, key="slo_table", column_config={
            "objective": st.column_config.NumberColumn(format="%.4f"),
            "actual": st.column_config.NumberColumn(format="%.5f"),
            "error_budget_remaining": st.column_config.ProgressColumn("budget left", min_value=0, max_value=1,
                                                                      format="percent"),
        })

st.subheader("WER trend by model version")
trend_dim = st.radio("by", ["channel", "tenant", "region"], horizontal=True, key="trend_dim")
trend = tf.trend_frame(data["trend"].data, [trend_dim, "model_version"])
if trend.empty:
    st.info("No labeled utterances in this range.")
else:
    line = alt.Chart(trend).mark_line(point=True).encode(
        x=alt.X("bucket:T", title=None), y=alt.Y("wer:Q", title="corpus WER", axis=alt.Axis(format="%")),
        color=alt.Color("series:N", title=f"{trend_dim} / model"),
        tooltip=["series", "bucket", alt.Tooltip("wer:Q", format=".2%"), "utterances"])
    st.altair_chart(line, width="stretch")

st.subheader("Cost by model version")
if ui.available(data["cost_by_version"], "Cost"):
    st.dataframe(tf.frame(data["cost_by_version"].data, ["model_version", *tf.COST_COLUMNS]), hide_index=True,
                 key="cost_table")

st.subheader("Incidents this period")
if ui.available(data["incidents"], "Incidents"):
    incidents = tf.incidents_frame(data["incidents"].data)
    st.metric("Incidents", tf.fmt_int(len(incidents)))
    if not incidents.empty:
        st.dataframe(incidents, hide_index=True, key="incident_table")
