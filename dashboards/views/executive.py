"""Executive: SLA compliance and the error budget's burn-down, WER and cost over time (markers
for rollouts, rollbacks and silences on every time axis), volume, incidents this period."""

import altair as alt
import streamlit as st

from dashboards import loaders, timecharts, ui
from dashboards import series_frames as sf
from dashboards import transforms as tf

data = ui.load("Executive", loaders.load_executive, trend_dim=st.session_state.get("trend_dim", "channel"))

marks = sf.annotations_frame(data["annotations"].data, data.view.since, data.view.until) if data["annotations"].ok else None
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
            y=alt.Y("slo_group:N", title=None, axis=alt.Axis(labelLimit=0)),
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

        st.markdown("**Error budget burn-down**")
        choices = sf.group_choices(data["slos"].data)
        chosen = st.selectbox("SLO and group", list(choices), key="budget_group")
        series = loaders.burn_series(ui.api(), data.view, *choices[chosen])
        if ui.available(series, "Error budget over time"):
            ui.burndown(series.data, chosen, marks, data.view.at)

st.subheader("WER over time by model version")
if ui.available(data["wer_series"], "WER over time"):
    wer_series = sf.by_group_series_frame(data["wer_series"].data, "model_version", "wer")
    if wer_series.empty:
        st.info("No labeled utterances in this range.")
    else:
        st.altair_chart(timecharts.lines_chart(wer_series, "wer", "model_version", "corpus WER", marks,
                                               "Corpus WER per model version over time.", ".1%", "model version"),
                        width="stretch", key="wer_series")
trend_dim = st.radio("by slice", ["channel", "tenant", "region"], horizontal=True, key="trend_dim")
trend = tf.trend_frame(data["trend"].data, [trend_dim, "model_version"])
if trend.empty:
    st.info("No labeled utterances in this range.")
else:
    line = alt.Chart(trend).mark_line(point=True).encode(
        x=alt.X("bucket:T", title=None, axis=alt.Axis(labelLimit=0)),
        y=alt.Y("wer:Q", title="corpus WER", axis=alt.Axis(format="%")),
        color=alt.Color("series:N", title=f"{trend_dim} / model",
                        legend=alt.Legend(orient="bottom", labelLimit=0, titleLimit=0, columns=2)),
        tooltip=["series", "bucket", alt.Tooltip("wer:Q", format=".2%"), "utterances"])
    rules = timecharts.markers(marks)  # the same markers as every other time axis
    st.altair_chart((line + rules if rules is not None else line).resolve_scale(color="independent").properties(
        description=f"Corpus WER by {trend_dim} and model version over time."), width="stretch")

st.subheader("Cost over time")
if ui.available(data["cost_series"], "Cost over time"):
    cost_series = sf.by_group_series_frame(data["cost_series"].data, "model_version", "cost_usd")
    if not cost_series.empty:
        st.altair_chart(timecharts.lines_chart(cost_series, "cost_usd", "model_version", "GPU cost (USD) per step",
                                               marks, f"GPU cost per {data.view.trend_step} by model version over time.",
                                               "$,.2f", "model version"), width="stretch", key="cost_series")
if ui.available(data["cost_drivers"], "Cost drivers over time"):
    drivers = sf.driver_series_frame(data["cost_drivers"].data)
    if not drivers.empty:
        st.caption("What drives the cost, per step: a spike in one of these explains a spike above.")
        for column, (name, part) in zip(st.columns(3), drivers.groupby("driver", sort=False)):
            with column:
                st.altair_chart(timecharts.lines_chart(part, "value", "driver", name, marks,
                                                       f"{name} over time.", ",.3f", "driver"),
                                width="stretch", key=f"driver_{name}")

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
